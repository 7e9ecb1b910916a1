"""The humanizer's dataset: windows of whole 4/4 bars of real drumming, as SequenceExample TFRecords.

Each window is ``window_bars`` bars of a :class:`drums_rnn.humanizer.performance.Performance`
stored in the package's one SequenceExample layout (:mod:`drums_rnn.data.sequence_example`,
no TensorFlow): per step, ``inputs`` holds :data:`INPUT_SIZE` floats

* ``[0:9]`` the hits of the nine drum types (0/1),
* ``[9:18]`` their velocities (1..127, 0 = no hit),
* ``[18:27]`` their timing offsets in steps ([-0.5, 0.5)),
* ``[27]`` the tempo in quarter notes per minute,
* ``[28]`` the performance's loudness: the mean velocity of all its hits
  (what a track whose velocities were flattened still tells; humanizing
  keeps it),

and ``labels`` the step's drum_kit class (bit i = drum type i), so the files
are read by the same tf.data parser as Drums RNN datasets and checked the same
way (a Drums RNN dataset has 518 inputs per step, this one 29: mixing them up
is a clear error). Windows start on bar lines, every ``hop_bars`` bars;
windows without a hit are dropped, a last short window is padded with silent
steps.

Splits: a folder holding the Groove MIDI Dataset's ``info.csv`` is split by
its ``split`` column (train / validation / test); any other MIDI file or
folder by a stable hash of the file path (``eval_ratio`` to validation).
Files whose meter is not 4/4 are skipped and counted; so are unreadable files
and files without drum notes. The summary lists every reason.
"""

import collections
import dataclasses
import hashlib
import os
from typing import Dict, List

import numpy as np
from absl import logging

from drums_rnn import encoding
from drums_rnn import files
from drums_rnn.data import groove
from drums_rnn import midi
from drums_rnn.humanizer import performance as performance_lib
from drums_rnn import progress
from drums_rnn.data import sequence_example
from drums_rnn.data import tfrecord
from drums_rnn.errors import ArgumentError
from drums_rnn.errors import DrumsRnnError

NUM_DRUMS = performance_lib.NUM_DRUMS
HITS = slice(0, NUM_DRUMS)
VELOCITIES = slice(NUM_DRUMS, 2 * NUM_DRUMS)
OFFSETS = slice(2 * NUM_DRUMS, 3 * NUM_DRUMS)
QPM = 3 * NUM_DRUMS
LEVEL = 3 * NUM_DRUMS + 1
INPUT_SIZE = 3 * NUM_DRUMS + 2
SPLITS = groove.SPLITS


def output_name(split):
  return f'humanizer_{split}.tfrecord'


def encode_window(perf: performance_lib.Performance, start, num_steps):
  """(inputs [num_steps, INPUT_SIZE], labels [num_steps]) of steps start.. of `perf` (padded)."""
  inputs = np.zeros((num_steps, INPUT_SIZE), np.float32)
  end = min(start + num_steps, perf.num_steps)
  velocities = perf.velocities[start:end]
  inputs[:end - start, HITS] = velocities > 0
  inputs[:end - start, VELOCITIES] = velocities
  inputs[:end - start, OFFSETS] = perf.offsets[start:end]
  inputs[:, QPM] = perf.qpm
  inputs[:, LEVEL] = loudness(perf)
  labels = encoding.hits_to_classes(inputs[:, HITS] > 0)
  return inputs, labels


def loudness(perf: performance_lib.Performance) -> float:
  """The mean velocity of a performance's hits (64 for one without hits)."""
  velocities = perf.velocities[perf.hits]
  return float(velocities.mean()) if velocities.size else 64.0


def decode_inputs(inputs):
  """The Performance of encoded inputs [T, INPUT_SIZE] (the inverse of :func:`encode_window`)."""
  inputs = np.asarray(inputs, np.float32)
  velocities = np.rint(inputs[:, VELOCITIES]).astype(np.int64) * (inputs[:, HITS] > 0)
  offsets = inputs[:, OFFSETS] * (velocities > 0)
  return performance_lib.Performance(velocities, offsets, float(inputs[0, QPM]) if len(inputs) else 0.0)


def window_starts(perf, window_steps, hop_steps):
  """Bar-line starts of the windows of `perf` that hold at least one hit."""
  hits_per_step = perf.hits.any(axis=1)
  starts = range(0, max(perf.num_steps - window_steps, 0) + 1, hop_steps)
  starts = list(starts)
  if starts and starts[-1] + window_steps < perf.num_steps:
    starts.append(starts[-1] + hop_steps)  # the tail, padded
  return [s for s in starts if hits_per_step[s:s + window_steps].any()]


@dataclasses.dataclass
class HumanizerDatasetSummary:
  """What :func:`create_dataset` read, kept and dropped, and where it wrote."""
  files_read: int = 0
  windows: Dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
  files: Dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
  skipped: Dict[str, int] = dataclasses.field(default_factory=collections.Counter)
  notes: Dict[str, int] = dataclasses.field(default_factory=collections.Counter)
  outputs: Dict[str, str] = dataclasses.field(default_factory=dict)

  def lines(self) -> List[str]:
    out = [f'read {self.files_read} MIDI files']
    for split in SPLITS:
      if split in self.outputs:
        out.append(f'{split}: {self.windows[split]} windows from {self.files[split]} files -> '
                   f'{self.outputs[split]}')
    for reason, count in sorted(self.skipped.items()):
      out.append(f'skipped files: {count} {reason}')
    notes = self.notes
    out.append(f'notes: {notes["notes"]} read, {notes["mapped"]} on the nine drum types, '
               f'{notes["unmapped"]} outside them (left out), {notes["merged"]} merged into a '
               'louder hit of the same drum in the same step')
    return out


def _hash_split(path, eval_ratio):
  digest = hashlib.sha1(os.path.abspath(path).encode('utf-8')).digest()
  return 'validation' if int.from_bytes(digest[:8], 'big') / 2 ** 64 < eval_ratio else 'train'


def list_inputs(input_path, eval_ratio):
  """[(MIDI path, split)] of a Groove folder (info.csv), another MIDI folder, or one MIDI file."""
  if os.path.isdir(input_path) and os.path.isfile(os.path.join(input_path, 'info.csv')):
    rows = groove.read_info(input_path)
    return [(r['midi_filename'], r['split']) for r in rows if r['split'] in SPLITS]
  if os.path.isfile(input_path):
    if not midi.is_midi_file(input_path):
      raise DrumsRnnError(f'{input_path!r} is not a MIDI file (.mid, .midi)')
    return [(input_path, 'train')]
  if not os.path.exists(input_path):
    raise DrumsRnnError(f'input {input_path!r} does not exist')
  return [(p, _hash_split(p, eval_ratio)) for p in midi.list_midi_files(input_path)]


def create_dataset(input_path, output_dir, window_bars=4, hop_bars=2, eval_ratio=0.1):
  """Writes `humanizer_<split>.tfrecord` for each split present; returns the summary.

  All outputs appear together once everything is read (a failure leaves the
  previous files as they were); no window at all is an error.
  """
  if window_bars < 1 or hop_bars < 1:
    raise DrumsRnnError(f'window_bars and hop_bars must be at least 1, got {window_bars}, {hop_bars}')
  if not 0 <= eval_ratio < 1:
    raise ArgumentError(f'{{eval_ratio}} must be in [0, 1), got {eval_ratio}', 'eval_ratio')
  inputs = list_inputs(input_path, eval_ratio)
  window, hop = window_bars * performance_lib.STEPS_PER_BAR, hop_bars * performance_lib.STEPS_PER_BAR
  summary = HumanizerDatasetSummary()
  records = {split: [] for split in SPLITS}
  report = progress.Progress(len(inputs), 'MIDI files read')
  for done, (path, split) in enumerate(inputs):
    report.update(done)
    summary.files_read += 1
    try:
      sequence = midi.read_midi(path)
    except DrumsRnnError as e:
      logging.warning('%s', e)
      summary.skipped['unreadable'] += 1
      continue
    meter = performance_lib.time_signature(sequence)
    if meter != (4, 4):
      summary.skipped[f'in {meter[0]}/{meter[1]}, not 4/4'] += 1
      continue
    perf, counts = performance_lib.read_performance(sequence)
    summary.notes.update(counts)
    starts = window_starts(perf, window, hop)
    if not starts:
      summary.skipped['without drum notes'] += 1
      continue
    summary.files[split] += 1
    records[split].extend(sequence_example.serialize_sequence_example(*encode_window(perf, s, window))
                          for s in starts)
  report.update(len(inputs))
  present = [s for s in SPLITS if records[s]]
  if not present:
    raise DrumsRnnError(f'no 4/4 drum windows in {input_path!r} ({summary.files_read} MIDI files read; '
                        + ', '.join(f'{v} {k}' for k, v in summary.skipped.items()) + ')')
  files.ensure_dir(output_dir)
  paths = [os.path.join(output_dir, output_name(s)) for s in present]
  with tfrecord.open_writers(paths) as writers:
    for split, writer in zip(present, writers):
      for record in records[split]:
        writer.write(record)
      summary.windows[split] = writer.count
  summary.outputs = dict(zip(present, paths))
  return summary
