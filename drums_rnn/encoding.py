"""Drum events as class indices, and the model's input vectors, in numpy.

A drum track is a sequence of steps; each step is the set of MIDI drum
pitches struck at it. The model sees each step as one *class*: with D drum
types, bit i of the class index is set when any pitch of drum type i is
struck, so there are 2**D classes (512 for the 9-type kit, 2 for `one_drum`).

Model inputs are the one-hot of the current step's class, followed (for
`drum_kit`) by binary counters of the position being predicted. Labels are
the next step's class. This is exactly what note-seq's
``OneHotEventSequenceEncoderDecoder`` / ``LookbackEventSequenceEncoderDecoder``
over ``MultiDrumOneHotEncoding`` produce, but computed for a whole track with
array operations instead of one Python call per step.
"""

import dataclasses
from typing import Iterable, Optional, Sequence, Tuple

import numpy as np

from drums_rnn import controls as controls_lib

# note-seq's DEFAULT_DRUM_TYPE_PITCHES: bass, snare, closed hi-hat, open
# hi-hat, low tom, mid tom, high tom, crash, ride. The first pitch of each
# list is the one written when a class is decoded back to notes.
DRUM_KIT_PITCHES: Tuple[Tuple[int, ...], ...] = (
    (36, 35),
    (38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85),
    (42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22),
    (46, 67, 72, 74, 79, 81, 26),
    (45, 29, 41, 43, 61, 64, 84),
    (48, 47, 60, 63, 77, 86, 87),
    (50, 30, 62, 76, 83),
    (49, 52, 55, 57, 58),
    (51, 53, 59, 82),
)
DRUM_CLASS_NAMES = ('bass drum', 'snare', 'closed hi-hat', 'open hi-hat', 'low tom',
                    'mid tom', 'high tom', 'crash', 'ride')
# The same nine as flag values and API names (--regenerate_voices, the studio's rows).
DRUM_VOICE_NAMES = ('bass_drum', 'snare', 'closed_hihat', 'open_hihat', 'low_tom', 'mid_tom',
                    'high_tom', 'crash', 'ride')

# one_drum: one drum type holding every pitch; decoding writes 39 (hand clap).
ONE_DRUM_PITCHES: Tuple[Tuple[int, ...], ...] = ((39,) + tuple(range(128)),)

NUM_PITCHES = 128
NUM_KIT_DRUMS = len(DRUM_KIT_PITCHES)


def classes_to_hits(classes, num_drum_types=NUM_KIT_DRUMS) -> np.ndarray:
  """[steps] class indices -> [steps, num_drum_types] bool hit grid (bit i = drum type i)."""
  classes = np.asarray(classes, dtype=np.int64)
  return ((classes[:, None] >> np.arange(num_drum_types)[None, :]) & 1).astype(bool)


def hits_to_classes(hits) -> np.ndarray:
  """[steps, drum types] bool hit grid -> [steps] class indices (the inverse of classes_to_hits)."""
  hits = np.asarray(hits, np.int64)
  return (hits << np.arange(hits.shape[1])).sum(axis=1)


def as_hit_grid(pattern) -> np.ndarray:
  """A hit grid, or a 1-D array of drum_kit class indices made into one (bool)."""
  pattern = np.asarray(pattern)
  if pattern.ndim == 1:
    return classes_to_hits(pattern)
  if pattern.ndim != 2:
    raise ValueError(f'a drum pattern must be [steps] classes or a [steps, drums] grid, '
                     f'got shape {pattern.shape}')
  return pattern.astype(bool)


@dataclasses.dataclass(frozen=True)
class DrumEncoding:
  """Maps drum steps to class indices and class indices to model inputs.

  Attributes:
    drum_type_pitches: pitches of each drum type, in bit order.
    binary_counter_bits: number of +/-1 position counters appended to each
      input (6 for drum_kit, 0 for one_drum).
    controls: the :class:`~drums_rnn.controls.ControlSpec` whose columns
      follow the counters (drum_kit_control), or None.
  """
  drum_type_pitches: Tuple[Tuple[int, ...], ...]
  binary_counter_bits: int = 0
  controls: Optional['controls_lib.ControlSpec'] = None

  @property
  def num_drum_types(self) -> int:
    return len(self.drum_type_pitches)

  @property
  def num_classes(self) -> int:
    return 2 ** self.num_drum_types

  @property
  def input_size(self) -> int:
    return self.num_classes + self.binary_counter_bits + (self.controls.width if self.controls else 0)

  @property
  def no_event_class(self) -> int:
    """The class of a silent step (Magenta's default event label)."""
    return 0

  @property
  def decode_pitches(self) -> Tuple[int, ...]:
    """The pitch written for each drum type when decoding."""
    return tuple(p[0] for p in self.drum_type_pitches)

  @property
  def pitch_bits(self) -> np.ndarray:
    """[128] int64: the class bit of each MIDI pitch (0 if unmapped)."""
    return _pitch_bits(self.drum_type_pitches)

  # --- steps -> classes -------------------------------------------------

  def event_to_class(self, pitches: Iterable[int]) -> int:
    """The class index of one step (a collection of MIDI pitches)."""
    bits = self.pitch_bits
    value = 0
    for p in pitches:
      if 0 <= p < NUM_PITCHES:
        value |= int(bits[p])
    return value

  def classes_from_onsets(self, steps: np.ndarray, pitches: np.ndarray, length: int) -> np.ndarray:
    """Class index per step for a track given as parallel onset arrays.

    Args:
      steps: int array, the step (0-based, < length) of each note onset.
      pitches: int array, the MIDI pitch of each onset.
      length: number of steps in the track.
    Returns:
      int64 array [length]; steps with no mapped pitch are class 0.
    """
    steps = np.asarray(steps, dtype=np.int64)
    pitches = np.asarray(pitches, dtype=np.int64)
    classes = np.zeros(length, dtype=np.int64)
    if steps.size:
      valid = (pitches >= 0) & (pitches < NUM_PITCHES)
      np.bitwise_or.at(classes, steps[valid], self.pitch_bits[pitches[valid]])
    return classes

  def classes_from_events(self, events: Sequence[Iterable[int]]) -> np.ndarray:
    """Class index per step for a track given as a list of pitch sets."""
    sizes = [len(e) for e in events]
    steps = np.repeat(np.arange(len(events)), sizes)
    pitches = np.fromiter((p for e in events for p in e), dtype=np.int64, count=sum(sizes))
    return self.classes_from_onsets(steps, pitches, len(events))

  # --- classes -> steps -------------------------------------------------

  def class_to_pitches(self, index: int) -> frozenset:
    """The pitches written for a class (first pitch of each set bit)."""
    return frozenset(p for i, p in enumerate(self.decode_pitches) if (int(index) >> i) & 1)

  def classes_to_events(self, classes: Iterable[int]):
    """Decodes class indices into a list of pitch frozensets."""
    return [self.class_to_pitches(c) for c in classes]

  # --- classes -> model inputs and labels --------------------------------

  def binary_counters(self, positions: np.ndarray) -> np.ndarray:
    """[N, bits] float32 counters for events at `positions` (0-based).

    For position p the counter describes n = p + 1, the index of the step
    being predicted: element i is +1 if bit i of n is set, else -1.
    """
    n = np.asarray(positions, dtype=np.int64)[:, None] + 1
    bits = (n >> np.arange(self.binary_counter_bits, dtype=np.int64)[None, :]) & 1
    return (2.0 * bits - 1.0).astype(np.float32)

  def inputs_from_classes(self, classes: np.ndarray, start_position: int = 0,
                          next_controls=None) -> np.ndarray:
    """[N, input_size] float32 model inputs for the events `classes`.

    `start_position` is the position of classes[0] inside its track (for
    counters when encoding a continuation). With controls, `next_controls`
    are the control values ([3, N] ints) of the steps each input predicts
    (None: all disabled).
    """
    classes = np.asarray(classes, dtype=np.int64)
    n = classes.shape[0]
    inputs = np.zeros((n, self.input_size), dtype=np.float32)
    inputs[np.arange(n), classes] = 1.0
    if self.binary_counter_bits:
      end = self.num_classes + self.binary_counter_bits
      inputs[:, self.num_classes:end] = self.binary_counters(np.arange(n) + start_position)
    if self.controls:
      values = controls_lib.disabled(n) if next_controls is None else next_controls
      inputs[:, self.input_size - self.controls.width:] = self.controls.columns(values)
    return inputs

  def encode(self, classes: np.ndarray, controls=None) -> Tuple[np.ndarray, np.ndarray]:
    """(inputs [N-1, input_size], labels [N-1]) for a track of N steps.

    Input t encodes events[0..t] (and, with controls, the controls of step
    t + 1: `controls` are the track's per-step values, [3, N]); label t is
    the class of events[t + 1].
    """
    classes = np.asarray(classes, dtype=np.int64)
    if classes.shape[0] < 2:
      return (np.zeros((0, self.input_size), np.float32), np.zeros((0,), np.int64))
    following = None if controls is None else np.asarray(controls)[:, 1:]
    return self.inputs_from_classes(classes[:-1], next_controls=following), classes[1:].copy()


_PITCH_BITS_CACHE = {}


def _pitch_bits(drum_type_pitches):
  cached = _PITCH_BITS_CACHE.get(drum_type_pitches)
  if cached is None:
    cached = np.zeros(NUM_PITCHES, dtype=np.int64)
    for index, pitches in enumerate(drum_type_pitches):
      for p in pitches:
        cached[p] = 1 << index
    cached.setflags(write=False)
    _PITCH_BITS_CACHE[drum_type_pitches] = cached
  return cached


DRUM_KIT = DrumEncoding(DRUM_KIT_PITCHES, binary_counter_bits=6)
ONE_DRUM = DrumEncoding(ONE_DRUM_PITCHES, binary_counter_bits=0)
DRUM_KIT_CONTROL = DrumEncoding(DRUM_KIT_PITCHES, binary_counter_bits=6, controls=controls_lib.ControlSpec())
