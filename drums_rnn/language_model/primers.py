"""Primers: the drum steps a generated track continues from.

A primer is a list of steps, each a frozenset of raw MIDI pitches (an empty
set is a silent step). It comes from Magenta's ``--primer_drums`` syntax
(``"[(36, 42), (), (42,)]"``, one tuple per model step), from a MIDI file, or
defaults to one bass drum step.

Our rules differ from Magenta's on purpose (docs/generation.md, reference
9.1-9.3): generation starts right after the primer's last step; a
``--primer_drums`` tuple is one step at the config's own steps per quarter; a
primer MIDI gives its is_drum notes (all notes, with a warning, when it has
none); a primer given both ways is an error. No TensorFlow here.
"""

import ast

import numpy as np
from absl import logging

from drums_rnn import midi
from drums_rnn.errors import ArgumentError
from drums_rnn.errors import DrumsRnnError

DEFAULT_PRIMER = [(36,)]
DEFAULT_QPM = midi.DEFAULT_QPM
PRIMER_EXAMPLE = '"[(36, 42), (), (42,)]"'


def parse_primer_drums(text):
  """`--primer_drums` ("[(36, 42), (), (42,)]") -> list of pitch frozensets."""
  expected = f'{{primer_drums}} must be a Python list of tuples of MIDI pitches, e.g. {PRIMER_EXAMPLE}'
  try:
    value = ast.literal_eval(text.strip())
  except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
    raise ArgumentError(f'{expected}; got {text!r}', 'primer_drums') from None
  if not isinstance(value, (list, tuple)) or not value:
    raise ArgumentError(f'{expected}; got {text!r}', 'primer_drums')
  events = []
  for step in value:
    if isinstance(step, int) and not isinstance(step, bool):
      step = (step,)
    if not isinstance(step, (list, tuple, set, frozenset)) or not all(
        isinstance(p, int) and not isinstance(p, bool) for p in step):
      raise ArgumentError(f'{expected}; got {text!r}', 'primer_drums')
    bad = [p for p in step if not 0 <= p <= 127]
    if bad:
      raise ArgumentError(f'{{primer_drums}} pitch {bad[0]} is outside the MIDI range 0..127',
                          'primer_drums')
    events.append(frozenset(step))
  return events


def primer_from_midi(path, steps_per_quarter):
  """(events, qpm) of a primer MIDI quantized at `steps_per_quarter`.

  The track runs from the start of the bar holding the first onset to the
  last onset; raw pitches are kept (the model sees their drum classes).
  """
  from note_seq import sequences_lib  # pylint: disable=import-outside-toplevel
  sequence = midi.read_midi(path, what='primer MIDI')
  qpm = sequence.tempos[0].qpm if sequence.tempos else DEFAULT_QPM
  try:
    quantized = sequences_lib.quantize_note_sequence(sequence, steps_per_quarter)
  except (sequences_lib.QuantizationStatusError, sequences_lib.MultipleTimeSignatureError,
          sequences_lib.MultipleTempoError, sequences_lib.BadTimeSignatureError,
          sequences_lib.NegativeTimeError) as e:
    raise DrumsRnnError(f'cannot quantize primer MIDI {path!r}: {type(e).__name__}: {e}') from None
  notes = [n for n in quantized.notes if n.velocity > 0]
  drums = [n for n in notes if n.is_drum]
  if not drums and notes:
    logging.warning('primer MIDI %s has no drum-channel notes; using all its notes as drums', path)
    drums = notes
  if not drums:
    raise DrumsRnnError(f'primer MIDI {path!r} has no notes')
  steps_per_bar = int(sequences_lib.steps_per_bar_in_quantized_sequence(quantized))
  steps = np.array([n.quantized_start_step for n in drums])
  pitches = np.array([n.pitch for n in drums])
  start = (steps.min() // steps_per_bar) * steps_per_bar if steps_per_bar > 0 else steps.min()
  events = [set() for _ in range(steps.max() - start + 1)]
  for s, p in zip(steps - start, pitches):
    events[s].add(int(p))
  return [frozenset(e) for e in events], qpm


def resolve_primer(config, primer_drums='', primer_midi='', qpm=None):
  """(primer events, qpm) from Magenta's primer flags, by the rules above.

  `qpm` None means the default (120) or the primer MIDI's tempo, which wins
  over a given `qpm` (with a warning).
  """
  if primer_drums and primer_midi:
    raise ArgumentError('a primer is given both as drums ({primer_drums}) and as a MIDI file '
                        '({primer_midi}): give one of them', 'primer_drums', 'primer_midi')
  if primer_drums:
    events = parse_primer_drums(primer_drums)
  elif primer_midi:
    events, midi_qpm = primer_from_midi(primer_midi, config.steps_per_quarter)
    if qpm is not None and abs(qpm - midi_qpm) > 1e-6:
      logging.warning('qpm %g ignored: the primer MIDI\'s tempo %g is used', qpm, midi_qpm)
    return events, float(midi_qpm)
  else:
    logging.warning('No priming sequence specified. Defaulting to a single bass drum hit.')
    events = [frozenset(p) for p in DEFAULT_PRIMER]
  return events, float(DEFAULT_QPM if qpm is None else qpm)
