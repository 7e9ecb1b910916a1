"""Drum patterns for measuring: MIDI files read onto a step grid, cropped, shuffled, written.

Reading is deliberately minimal, so short generated outputs count too: the
drum (`is_drum`) notes of each file, split where tempo or time signature
changes, quantized on the config's step grid, from the bar of the first onset
to the end of the bar of the last onset (no gap splitting, no minimum or
maximum length). The model's likelihood instead uses Magenta's extraction
(:func:`drums_rnn.measure.comparison.extract_model_tracks`).

:func:`shuffle_patterns` permutes the steps of each pattern (seeded): it keeps
each track's drum histogram and densities but destroys its rhythm, a trivial
generator to compare a model against; :func:`write_patterns_midi` writes such
patterns as MIDI with :mod:`drums_rnn.midi`.
"""

import contextlib
import dataclasses
import os
from typing import List, Sequence

import numpy as np
from absl import logging

from drums_rnn import encoding as encoding_lib
from drums_rnn import files
from drums_rnn import midi
from drums_rnn import progress
from drums_rnn.errors import ArgumentError
from drums_rnn.errors import DrumsRnnError


@dataclasses.dataclass
class DrumPattern:
  """One drum track on a step grid.

  Attributes:
    classes: int64 [steps] drum class index per step (bit i = drum type i).
    numerator, denominator: its time signature.
    steps_per_quarter: the grid (4 = 16th notes).
    source: where it came from (a file path, `#k` for the k-th piece).
  """
  classes: np.ndarray
  numerator: int = 4
  denominator: int = 4
  steps_per_quarter: int = 4
  source: str = ''

  @property
  def steps_per_bar(self) -> int:
    return int(round(self.steps_per_quarter * 4 * self.numerator / self.denominator))

  @property
  def steps_per_beat(self) -> int:
    """A quarter for x/4; three 8ths in compound meters (6/8, 9/8, 12/8)."""
    beat = self.steps_per_quarter * 4 / self.denominator
    if self.denominator >= 8 and self.numerator % 3 == 0 and self.numerator > 3:
      beat *= 3
    return max(int(round(beat)), 1)


def _pieces(path, steps_per_quarter):
  """Quantized NoteSequences of one MIDI file (split at time changes)."""
  from note_seq import sequences_lib  # pylint: disable=import-outside-toplevel
  sequence = midi.read_midi(path)
  pieces = []
  for piece in sequences_lib.split_note_sequence_on_time_changes(sequence):
    try:
      pieces.append(sequences_lib.quantize_note_sequence(piece, steps_per_quarter))
    except Exception as e:  # pylint: disable=broad-except  (e.g. negative times, bad tempo)
      logging.warning('skipping a piece of %s: %s', path, e)
  return pieces


def _piece_pattern(piece, path, steps_per_quarter, drum_encoding):
  """(DrumPattern or None, the reason it was skipped) of one quantized piece."""
  numerator, denominator = 4, 4
  if piece.time_signatures:
    numerator = piece.time_signatures[0].numerator
    denominator = piece.time_signatures[0].denominator
  steps_per_bar = steps_per_quarter * 4 * numerator / denominator
  if steps_per_bar != int(steps_per_bar) or steps_per_bar <= 0:
    return None, 'fractional bar'
  steps_per_bar = int(steps_per_bar)
  notes = [(n.quantized_start_step, n.pitch) for n in piece.notes if n.is_drum]
  if not notes:
    return None, 'no drum notes'
  onset_steps = np.array([s for s, _ in notes], dtype=np.int64)
  pitches = np.array([p for _, p in notes], dtype=np.int64)
  start = (onset_steps.min() // steps_per_bar) * steps_per_bar
  end = -(-(onset_steps.max() + 1) // steps_per_bar) * steps_per_bar
  classes = drum_encoding.classes_from_onsets(onset_steps - start, pitches, int(end - start))
  return DrumPattern(classes, numerator, denominator, steps_per_quarter, path), None


def read_drum_patterns(paths, steps_per_quarter=4, drum_encoding=encoding_lib.DRUM_KIT):
  """Reads MIDI files into DrumPatterns.

  Each file is split at tempo / time-signature changes and quantized; each
  piece with drum notes gives one pattern from the bar of its first drum
  onset to the end of the bar of its last one. Unreadable files and pieces
  whose bar is not a whole number of steps are skipped with a warning.

  Returns:
    (patterns, skipped) where skipped counts the reasons things were left out.
  """
  patterns, skipped = [], {'unreadable file': 0, 'no drum notes': 0, 'fractional bar': 0}
  report = progress.Progress(len(paths), 'MIDI files read')
  for done, path in enumerate(paths):
    report.update(done)
    try:
      pieces = _pieces(path, steps_per_quarter)
    except DrumsRnnError as e:
      logging.warning('%s', e)
      skipped['unreadable file'] += 1
      continue
    for index, piece in enumerate(pieces):
      pattern, reason = _piece_pattern(piece, path if len(pieces) == 1 else f'{path}#{index}',
                                       steps_per_quarter, drum_encoding)
      if pattern is None:
        skipped[reason] += 1
      else:
        patterns.append(pattern)
  return patterns, skipped


def crop_patterns(patterns: Sequence[DrumPattern], max_bars) -> List[DrumPattern]:
  """Each pattern cut to its first `max_bars` bars (0 = unchanged).

  Comparing, say, 8-bar generated outputs with whole recorded performances
  mixes features of very different lengths; cropping the reference to the
  same number of bars compares like with like.
  """
  if max_bars < 0:
    raise ArgumentError(f'{{max_bars}} must be >= 0, got {max_bars}', 'max_bars')
  if not max_bars:
    return list(patterns)
  return [dataclasses.replace(p, classes=p.classes[:max_bars * p.steps_per_bar]) for p in patterns]


def load_patterns(paths, what, steps_per_quarter=4, max_bars=0):
  """`read_drum_patterns` (+ `crop_patterns`) with a clear error when nothing is usable."""
  patterns, skipped = read_drum_patterns(paths, steps_per_quarter)
  patterns = crop_patterns(patterns, max_bars)
  reasons = ', '.join(f'{v} {k}' for k, v in skipped.items() if v)
  logging.info('%s: %d drum patterns from %d MIDI files%s', what, len(patterns), len(paths),
               f' (skipped: {reasons})' if reasons else '')
  if not patterns:
    raise DrumsRnnError(f'{what}: no drum tracks in {len(paths)} MIDI file(s)'
                        + (f' (skipped: {reasons})' if reasons else ''))
  return patterns


def shuffle_patterns(patterns: Sequence[DrumPattern], seed=0) -> List[DrumPattern]:
  """Each pattern with its steps randomly permuted (one seeded generator for all)."""
  if seed < 0:
    raise ArgumentError(f'the shuffling {{seed}} must be >= 0, got {seed}', 'seed')
  rng = np.random.default_rng(seed)
  return [dataclasses.replace(p, classes=p.classes[rng.permutation(p.classes.shape[0])],
                              source=f'shuffled:{p.source}') for p in patterns]


def pattern_sequence(pattern: DrumPattern, qpm=midi.DEFAULT_QPM, drum_encoding=encoding_lib.DRUM_KIT,
                     velocity=midi.DEFAULT_VELOCITY):
  """The drum NoteSequence of a pattern: one-step notes, its meter, its whole length."""
  steps, drums = np.nonzero(encoding_lib.classes_to_hits(pattern.classes, drum_encoding.num_drum_types))
  pitches = np.asarray(drum_encoding.decode_pitches)[drums]
  return midi.drum_sequence(steps, pitches, pattern.steps_per_quarter, qpm, velocity,
                            total_steps=pattern.classes.shape[0],
                            time_signature=(pattern.numerator, pattern.denominator))


def write_patterns_midi(patterns: Sequence[DrumPattern], output_dir, qpm=midi.DEFAULT_QPM,
                        prefix='pattern', credit=None):
  """Writes each pattern as `<output_dir>/<prefix>_<i>.mid`; returns the paths.

  All or nothing: on any error (a full disk) the files written are removed.
  A `credit` (the source data's attribution) is written beside them as
  CREDIT.txt.
  """
  if not qpm > 0:
    raise ArgumentError(f'{{qpm}} must be > 0, got {qpm}', 'qpm')
  files.ensure_dir(output_dir)
  width = len(str(max(len(patterns) - 1, 0)))
  names = [os.path.join(output_dir, f'{prefix}_{i:0{width}d}.mid') for i in range(len(patterns))]
  paths = midi.write_midi_files([pattern_sequence(p, qpm) for p in patterns], names)
  if credit:
    try:
      files.write_text_atomic(os.path.join(output_dir, 'CREDIT.txt'), f'Derived from the {credit}\n')
    except BaseException:
      for path in paths:
        with contextlib.suppress(OSError):
          os.remove(path)
      raise
  logging.info('wrote %d MIDI files to %s', len(paths), output_dir)
  return paths
