"""Drum performances on a step grid: per step and drum type a hit, its velocity and its timing offset.

The humanizer learns from, and writes, this view of a drum MIDI file. Each
drum note is placed on the 16th-note grid of the file's own tempo map (so
tempo changes are followed, not assumed away): its *step* is the nearest grid
step and its *offset* the signed distance from it in fractions of a step, in
[-0.5, 0.5). Its *drum type* is one of the drum_kit config's nine classes
(:data:`drums_rnn.encoding.DRUM_KIT`); notes of other pitches are "unmapped".

Two levels:

* :class:`NoteCells` keeps every note (its step, drum type, offset, velocity),
  so humanizing can move each original note and keep its own pitch;
* :class:`Performance` is the grid itself, ``velocities[T, 9]`` (0 = no hit)
  and ``offsets[T, 9]``. Where two notes of one drum type fall in one step
  (a flam, a double hit), the grid keeps the LOUDEST (its velocity and its
  offset) and counts the others as ``merged``: the louder hit is the one a
  listener hears as the beat.

Everything is vectorised numpy over the notes of a file.
"""

import dataclasses
from typing import Tuple

import numpy as np

from drums_rnn import encoding as encoding_lib
from drums_rnn import midi

STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 16  # 4/4 at 16th notes: the meter the humanizer is trained on
NUM_DRUMS = encoding_lib.DRUM_KIT.num_drum_types


class TempoMap:
  """Seconds <-> quarter notes under a NoteSequence's tempo changes (piecewise linear)."""

  def __init__(self, times, qpms):
    order = np.argsort(np.asarray(times, np.float64), kind='stable')
    times = np.asarray(times, np.float64)[order]
    qpms = np.asarray(qpms, np.float64)[order]
    if not times.size or times[0] > 0:
      times = np.concatenate([[0.0], times])
      qpms = np.concatenate([[qpms[0] if qpms.size else midi.DEFAULT_QPM], qpms])
    self.times, self.qpms = times, qpms
    # Quarters elapsed at each change.
    self.quarters = np.concatenate([[0.0], np.cumsum(np.diff(times) * qpms[:-1] / 60.0)])

  @classmethod
  def from_sequence(cls, sequence):
    tempos = [(t.time, t.qpm) for t in sequence.tempos if t.qpm > 0]
    if not tempos:
      return cls([0.0], [midi.DEFAULT_QPM])
    return cls([t for t, _ in tempos], [q for _, q in tempos])

  @property
  def first_qpm(self) -> float:
    return float(self.qpms[0])

  def to_quarters(self, seconds):
    seconds = np.asarray(seconds, np.float64)
    i = np.clip(np.searchsorted(self.times, seconds, side='right') - 1, 0, None)
    return self.quarters[i] + (seconds - self.times[i]) * self.qpms[i] / 60.0

  def to_seconds(self, quarters):
    quarters = np.asarray(quarters, np.float64)
    i = np.clip(np.searchsorted(self.quarters, quarters, side='right') - 1, 0, None)
    return self.times[i] + (quarters - self.quarters[i]) * 60.0 / self.qpms[i]


@dataclasses.dataclass
class NoteCells:
  """Every note of a sequence placed on the grid (parallel arrays over the notes).

  Attributes:
    indices: index of each note in `sequence.notes`.
    steps: its nearest grid step.
    drums: its drum type (0..8), -1 for a pitch outside the nine classes or a
      note that is not a drum.
    offsets: signed distance from the step, in steps, in [-0.5, 0.5).
    velocities: its MIDI velocity.
  """
  indices: np.ndarray
  steps: np.ndarray
  drums: np.ndarray
  offsets: np.ndarray
  velocities: np.ndarray

  @property
  def mapped(self) -> np.ndarray:
    return self.drums >= 0


def note_cells(sequence, tempo_map=None, drum_encoding=encoding_lib.DRUM_KIT) -> NoteCells:
  """The grid cell of each note of `sequence` (see :class:`NoteCells`)."""
  tempo_map = tempo_map or TempoMap.from_sequence(sequence)
  notes = sequence.notes
  n = len(notes)
  starts = np.fromiter((x.start_time for x in notes), np.float64, n)
  pitches = np.fromiter((x.pitch for x in notes), np.int64, n)
  is_drum = np.fromiter((x.is_drum for x in notes), bool, n)
  velocities = np.fromiter((x.velocity for x in notes), np.int64, n)
  position = tempo_map.to_quarters(starts) * STEPS_PER_QUARTER
  steps = np.floor(position + 0.5).astype(np.int64)
  offsets = position - steps
  bits = drum_encoding.pitch_bits[np.clip(pitches, 0, encoding_lib.NUM_PITCHES - 1)]
  valid = is_drum & (pitches >= 0) & (pitches < encoding_lib.NUM_PITCHES) & (bits > 0)
  drums = np.where(valid, np.log2(np.maximum(bits, 1)).astype(np.int64), -1)
  return NoteCells(np.arange(n), steps, drums, offsets, velocities)


@dataclasses.dataclass
class Performance:
  """A drum track on the 16th grid with dynamics.

  Attributes:
    velocities: int64 [T, 9], 1..127 where a drum type is hit, 0 elsewhere.
    offsets: float32 [T, 9], each hit's timing offset in steps ([-0.5, 0.5)).
    qpm: the tempo the grid was read at (the first tempo of the file).
  """
  velocities: np.ndarray
  offsets: np.ndarray
  qpm: float = midi.DEFAULT_QPM

  @property
  def hits(self) -> np.ndarray:
    return self.velocities > 0

  @property
  def num_steps(self) -> int:
    return self.velocities.shape[0]


def performance_from_cells(cells: NoteCells, qpm, num_steps=None) -> Tuple[Performance, int]:
  """(the grid of the mapped notes, how many were merged into a louder one of their cell).

  `num_steps` defaults to the end of the bar of the last note; notes before
  step 0 (played early on the very first beat) are on step 0.
  """
  keep = cells.mapped
  steps = np.maximum(cells.steps[keep], 0)
  drums, offsets, velocities = cells.drums[keep], cells.offsets[keep], cells.velocities[keep]
  if num_steps is None:
    last = int(steps.max()) + 1 if steps.size else 0
    num_steps = -(-last // STEPS_PER_BAR) * STEPS_PER_BAR
  inside = steps < num_steps
  steps, drums, offsets, velocities = steps[inside], drums[inside], offsets[inside], velocities[inside]
  grid_velocities = np.zeros((num_steps, NUM_DRUMS), np.int64)
  grid_offsets = np.zeros((num_steps, NUM_DRUMS), np.float32)
  cell = steps * NUM_DRUMS + drums
  # Loudest last within each cell, then the last of each cell wins.
  order = np.lexsort((velocities, cell))
  cell, velocities, offsets = cell[order], velocities[order], offsets[order]
  last = np.ones(cell.shape, bool)
  last[:-1] = cell[1:] != cell[:-1]
  grid_velocities.reshape(-1)[cell[last]] = np.clip(velocities[last], 1, 127)
  grid_offsets.reshape(-1)[cell[last]] = offsets[last]
  return Performance(grid_velocities, grid_offsets, float(qpm)), int(np.count_nonzero(~last))


def read_performance(sequence) -> Tuple[Performance, dict]:
  """The Performance of a NoteSequence and counts of what its notes became.

  Returns (performance, counts) with counts 'notes', 'mapped', 'unmapped'
  (outside the nine drum types, or not drums) and 'merged'.
  """
  tempo_map = TempoMap.from_sequence(sequence)
  cells = note_cells(sequence, tempo_map)
  performance, merged = performance_from_cells(cells, tempo_map.first_qpm)
  mapped = int(np.count_nonzero(cells.mapped))
  return performance, {'notes': len(cells.steps), 'mapped': mapped,
                       'unmapped': len(cells.steps) - mapped, 'merged': merged}


def time_signature(sequence) -> Tuple[int, int]:
  """The first time signature of a sequence (4/4 when it has none, as MIDI assumes)."""
  if sequence.time_signatures:
    first = min(sequence.time_signatures, key=lambda t: t.time)
    return first.numerator, first.denominator
  return 4, 4


def performance_sequence(performance: Performance, drum_encoding=encoding_lib.DRUM_KIT):
  """The drum NoteSequence of a Performance: each hit at step + offset, its velocity, 4/4."""
  steps, drums = np.nonzero(performance.hits)
  pitches = np.asarray(drum_encoding.decode_pitches)[drums]
  return midi.drum_sequence(steps, pitches, STEPS_PER_QUARTER, performance.qpm,
                            performance.velocities[steps, drums], total_steps=performance.num_steps,
                            time_signature=(4, 4), start_offsets=performance.offsets[steps, drums])
