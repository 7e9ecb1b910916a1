"""Humanizing drums: every hit gets a velocity and a timing offset from the humanizer's distributions.

:class:`Humanizer` runs the trained network (:mod:`drums_rnn.humanizer.model`)
on the hits of a track and draws, for each hit, a velocity and an offset from
its two categoricals (or takes their most likely values). A track of any
length is cut into the windows the network was trained on (4 bars every 2
bars for the shipped one; read from the model's hparams), all run in ONE batched call of a compiled function; each step takes
its values from the window it sits most centrally in, so every hit has close
to two bars of context on both sides.

`strength` (0..1) scales the deviations: velocities move from the track's
loudness (its mean velocity) towards the sampled ones, offsets from the
note's own timing towards the sampled ones; at 0 a track keeps its timing
and every hit gets the mean velocity. `temperature` sharpens (< 1) or widens
(> 1) both distributions. A seed fixes every draw (numpy's generator).

:func:`humanize_sequence` works on notes, not on the grid: every note keeps
its pitch, its length and its grid step, and moves by its cell's offset;
notes outside the nine drum types pass through unchanged and are counted.
:func:`humanize_files` does this for a MIDI file or folder and writes the
results with the one MIDI writer (never replacing a file).
"""

import dataclasses
import os
from typing import List

import numpy as np
import tensorflow as tf
from absl import logging

from drums_rnn import files
from drums_rnn.humanizer import data
from drums_rnn.humanizer import model as humanizer_model
from drums_rnn import midi
from drums_rnn.humanizer import performance as performance_lib
from drums_rnn.errors import ArgumentError
from drums_rnn.errors import DrumsRnnError

# The mean velocity of the Groove train split's hits: the loudness of a track
# that does not say (e.g. a generated one).
DEFAULT_LEVEL = 70.0
MODES = ('sample', 'most_likely', 'median')


def window_plan(num_steps, window_steps, hop_steps):
  """(window starts, index of the window each step reads its values from)."""
  starts = list(range(0, max(num_steps - hop_steps, 1), hop_steps)) or [0]
  quarter = (window_steps - hop_steps) // 2
  choice = np.clip((np.arange(num_steps) - quarter) // hop_steps, 0, len(starts) - 1)
  return starts, choice


class Humanizer:
  """A loaded humanizer, its network compiled once (any track length, no retracing).

  Args:
    loaded: a `loading.LoadedModel` of kind humanizer (:func:`drums_rnn.loading.load_humanizer`).
  """

  def __init__(self, loaded):
    self.loaded = loaded
    self.model = loaded.model
    # The windows the model was trained on, as its hparams record them.
    self.window_steps = loaded.hparams['window_bars'] * performance_lib.STEPS_PER_BAR
    self.hop_steps = loaded.hparams['hop_bars'] * performance_lib.STEPS_PER_BAR
    model = self.model
    self._run = tf.function(lambda x: tuple(tf.nn.log_softmax(l) for l in model(x, training=False)),
                            input_signature=[tf.TensorSpec([None, self.window_steps, data.INPUT_SIZE],
                                                           tf.float32)])

  def distributions(self, hits, qpm, level=None):
    """Log-probabilities (velocity [T, 9, Vb], offset [T, 9, Ob]) for each step and drum type."""
    hits = np.asarray(hits, bool)
    if hits.ndim != 2 or hits.shape[1] != data.NUM_DRUMS:
      raise DrumsRnnError(f'hits must be [steps, {data.NUM_DRUMS}], got shape {hits.shape}')
    if not qpm > 0:
      raise DrumsRnnError(f'the tempo must be > 0, got {qpm}')
    num_steps = hits.shape[0]
    window = self.window_steps
    starts, choice = window_plan(num_steps, window, self.hop_steps)
    padded = np.zeros((starts[-1] + window, data.NUM_DRUMS), bool)
    padded[:num_steps] = hits
    batch = np.zeros((len(starts), window, data.INPUT_SIZE), np.float32)
    for i, start in enumerate(starts):
      batch[i, :, data.HITS] = padded[start:start + window]
    batch[..., data.QPM] = qpm
    batch[..., data.LEVEL] = DEFAULT_LEVEL if level is None else level
    vel, off = (x.numpy() for x in self._run(tf.constant(batch)))
    rows = np.asarray(choice)
    cols = np.arange(num_steps) - np.asarray(starts)[rows]
    return vel[rows, cols], off[rows, cols]

  def humanize_hits(self, hits, qpm, level=None, seed=0, temperature=1.0, strength=1.0, mode='sample'):
    """(velocities int [T, 9], offsets float [T, 9] in steps) for bool hits [T, 9].

    Cells without a hit get velocity 0 and offset 0. See the module
    docstring for `level`, `temperature`, `strength` and `mode`.
    """
    if mode not in MODES:
      raise DrumsRnnError(f'unknown humanize mode {mode!r}: choose one of {", ".join(MODES)}')
    if not temperature > 0:
      raise ArgumentError(f'{{temperature}} must be > 0, got {temperature}', 'temperature')
    if not 0 <= strength <= 1:
      raise ArgumentError(f'{{strength}} must be in [0, 1], got {strength}', 'strength')
    hits = np.asarray(hits, bool)
    vel_logp, off_logp = self.distributions(hits, qpm, level)
    rng = np.random.default_rng(seed)
    vel_bins, vel_frac = _choose(vel_logp, temperature, mode, rng)
    off_bins, off_frac = _choose(off_logp, temperature, mode, rng)
    velocities = humanizer_model.velocity_value(vel_bins, self.model.velocity_bins, vel_frac)
    offsets = humanizer_model.offset_value(off_bins, self.model.offset_bins, off_frac)
    centre = DEFAULT_LEVEL if level is None else float(level)
    velocities = centre + strength * (velocities - centre)
    velocities = np.where(hits, np.clip(np.rint(velocities), 1, 127), 0).astype(np.int64)
    offsets = np.where(hits, strength * offsets, 0.0).astype(np.float32)
    return velocities, offsets


  def humanize_tracks(self, tracks, steps_per_quarter, qpm, seed, level=None):
    """Humanized NoteSequences of drum tracks (lists of pitch sets, e.g. generated ones).

    Track n (1-based) is humanized with seed (seed, n), so output n is the
    same whatever the number of tracks; `level` is the loudness (mean
    velocity) to play at, None = :data:`DEFAULT_LEVEL`.
    """
    level = DEFAULT_LEVEL if level is None else level
    sequences = []
    for n, track in enumerate(tracks, start=1):
      plain = midi.events_to_sequence(track, steps_per_quarter, qpm, int(round(level)))
      humanized, _ = humanize_sequence(self, plain, seed=file_seed(seed, n), level=level)
      sequences.append(humanized)
    return sequences

  @staticmethod
  def write_plots(midi_paths, primer_steps=0):
    """Velocity-and-timing pictures beside humanized MIDI files (:func:`write_plots`)."""
    return write_plots(midi_paths, primer_steps)


def _choose(log_probs, temperature, mode, rng):
  """(bin, fraction through the bin) per cell: a draw, the mode or the median."""
  if mode == 'most_likely':
    return np.argmax(log_probs, axis=-1), 0.5
  scaled = log_probs / (temperature if mode == 'sample' else 1.0)
  probs = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
  cdf = np.cumsum(probs, axis=-1)
  cdf /= cdf[..., -1:]
  if mode == 'median':
    return np.argmax(cdf >= 0.5, axis=-1), 0.5
  u = rng.random(cdf.shape[:-1])
  bins = np.minimum((cdf < u[..., None]).sum(axis=-1), cdf.shape[-1] - 1)
  return bins, rng.random(cdf.shape[:-1])


# --- notes and files ----------------------------------------------------------------------


@dataclasses.dataclass
class HumanizeCounts:
  """What humanizing did to the notes of one or more tracks."""
  notes: int = 0
  humanized: int = 0
  passed_through: int = 0  # outside the nine drum types (or not drums): unchanged

  def add(self, other):
    self.notes += other.notes
    self.humanized += other.humanized
    self.passed_through += other.passed_through


def humanize_sequence(humanizer, sequence, seed=0, temperature=1.0, strength=1.0, mode='sample',
                      level=None):
  """(a humanized copy of a NoteSequence, HumanizeCounts); see the module docstring.

  `level` is the loudness to play at (a mean velocity); None takes the
  track's own (right for a played track, not for a flat one at velocity 100).
  """
  tempo_map = performance_lib.TempoMap.from_sequence(sequence)
  cells = performance_lib.note_cells(sequence, tempo_map)
  mapped = cells.mapped
  if not mapped.any():
    raise DrumsRnnError('no drum notes on the nine drum types (bass drum, snare, hi-hats, toms, '
                        'crash, ride) to humanize')
  meter = performance_lib.time_signature(sequence)
  if meter != (4, 4):
    logging.warning('the humanizer learned 4/4; this %d/%d track is read on a 4/4 bar grid', *meter)
  perf, _ = performance_lib.performance_from_cells(cells, tempo_map.first_qpm)
  level = data.loudness(perf) if level is None else float(level)
  velocities, offsets = humanizer.humanize_hits(perf.hits, perf.qpm, level, seed, temperature,
                                                strength, mode)
  steps = np.maximum(cells.steps[mapped], 0)
  drums = cells.drums[mapped]
  # The move in steps, applied as a difference so that a zero move keeps the time exactly.
  old = cells.steps[mapped] + cells.offsets[mapped]
  new = old + offsets[steps, drums] - strength * cells.offsets[mapped]
  spq = performance_lib.STEPS_PER_QUARTER
  original = np.array([n.start_time for n in sequence.notes], np.float64)[cells.indices[mapped]]
  starts = original + (tempo_map.to_seconds(new / spq) - tempo_map.to_seconds(old / spq))
  out = type(sequence)()
  out.CopyFrom(sequence)
  for i, start, velocity in zip(cells.indices[mapped].tolist(), np.maximum(starts, 0.0).tolist(),
                                velocities[steps, drums].tolist()):
    note = out.notes[i]
    length = note.end_time - note.start_time
    note.start_time, note.end_time, note.velocity = start, start + length, int(velocity)
  out.total_time = max([out.total_time] + [n.end_time for n in out.notes])
  counts = HumanizeCounts(len(cells.steps), int(mapped.sum()), int((~mapped).sum()))
  return out, counts


def humanize_files(humanizer, input_path, output_dir, seed=0, temperature=1.0, strength=1.0,
                   mode='sample') -> List[str]:
  """Humanizes a MIDI file, or every MIDI file under a folder, into `output_dir`; returns the paths.

  Files keep their names (and, for a folder, their relative paths); a name
  already taken gets a `-2` suffix. A folder's unreadable files and files
  without drum notes are skipped with a warning; nothing usable, or a single
  input file that cannot be humanized, is an error. All or nothing: on any
  error the files written are removed.
  """
  if os.path.isdir(input_path):
    paths = midi.list_midi_files(input_path)
    names = [os.path.relpath(p, input_path) for p in paths]
  elif os.path.isfile(input_path):
    if not midi.is_midi_file(input_path):
      raise DrumsRnnError(f'{input_path!r} is not a MIDI file (.mid, .midi)')
    paths, names = [input_path], [os.path.basename(input_path)]
  else:
    raise ArgumentError(f'{{input_path}} {input_path!r} does not exist', 'input_path')
  single = len(paths) == 1 and not os.path.isdir(input_path)
  sequences, outputs, total, skipped = [], [], HumanizeCounts(), 0
  for index, (path, name) in enumerate(zip(paths, names)):
    try:
      sequence = midi.read_midi(path)
      humanized, counts = humanize_sequence(humanizer, sequence, file_seed(seed, index), temperature,
                                            strength, mode)
    except DrumsRnnError as e:
      if single:
        raise DrumsRnnError(f'{path}: {e}' if path not in str(e) else str(e)) from None
      logging.warning('skipped %s: %s', path, e)
      skipped += 1
      continue
    total.add(counts)
    sequences.append(humanized)
    outputs.append(os.path.join(output_dir, name))
  if not sequences:
    raise DrumsRnnError(f'none of the {len(paths)} MIDI files under {input_path!r} has drum notes to '
                        'humanize')
  for folder in sorted({os.path.dirname(p) for p in outputs}):
    files.ensure_dir(folder)
  written = midi.write_midi_files(sequences, outputs, overwrite=False)
  logging.info('humanized %d notes in %d files (%d outside the nine drum types passed through '
               'unchanged%s) -> %s', total.humanized, len(written), total.passed_through,
               f'; {skipped} files skipped' if skipped else '', output_dir)
  return written


def write_plots(midi_paths, primer_steps=0):
  """Writes `<name>.png` beside each (humanized) MIDI file: hits by velocity and offset; returns them."""
  from drums_rnn import plotting  # pylint: disable=import-outside-toplevel  (matplotlib: only when asked)

  def draw(path, png):
    perf, _ = performance_lib.read_performance(midi.read_midi(path))
    plotting.plot_drum_track(perf.hits, png, primer_steps=primer_steps, velocities=perf.velocities,
                             offsets=perf.offsets, title=f'{os.path.basename(path)} (humanized)')

  pngs = plotting.write_beside(midi_paths, draw)
  logging.info('Wrote %d PNGs (velocity and timing) beside them', len(pngs))
  return pngs


def file_seed(seed, index):
  """File `index`'s seed: the same whatever other files are humanized with it."""
  return np.random.SeedSequence([seed & 0xFFFFFFFF, index])
