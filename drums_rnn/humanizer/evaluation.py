"""How close humanized drums come to real drumming, on the Groove MIDI Dataset's test split.

Each real test performance (4/4; the humanizer's meter) is quantized to its
hits and flattened to its mean velocity; every method then gives each hit a
velocity and a timing offset, compared with what the drummer played:

- flat: every hit at the track's mean velocity, on the grid;
- lookup: the mean velocity and offset of each drum type x 16th position in
  the bar, learned on the train split (the classic table baseline);
- lookup at level: the same table moved to the track's mean velocity (the
  level the humanizer is given too, so the fairest baseline);
- most likely: the humanizer's most likely bin of each distribution;
- median: the median of each distribution (the value that minimises the
  expected absolute error, so the point estimate to read the MAEs by);
- sampled: drawn from the humanizer's distributions (seeded per track).

For scale, the histogram intersections of the real train split's own hits
with the test split's are reported too: how far apart two sets of real
drumming by different drummers are.

Figures: velocity MAE (MIDI units) and timing MAE (ms; an offset of one
16th step is 15000 / qpm ms) over all test hits; how the values' spread
matches the real one, as the histogram intersection (sum of bin-wise
minima of two normalised histograms: 1 = the same distribution) of
velocities per drum group and of offsets; and Yang & Lerch's overlap area
and KL divergence (:mod:`drums_rnn.measure.features`) of four per-track features
(velocity mean and spread, offset mean and spread): real-vs-real pairwise
distances against real-vs-humanized ones.
"""

import dataclasses
import json
from typing import Dict, List

import numpy as np
from absl import logging

from drums_rnn.data import groove
from drums_rnn.humanizer import humanize
from drums_rnn.humanizer import data
from drums_rnn.measure import features as metrics
from drums_rnn import midi
from drums_rnn.humanizer import performance as performance_lib
from drums_rnn.errors import DrumsRnnError

STEPS_PER_BAR = performance_lib.STEPS_PER_BAR
VELOCITY_BINS = np.linspace(1, 128, 17)    # 16 bins over 1..127
OFFSET_BINS = np.linspace(-0.5, 0.5, 21)   # 20 bins over a step
TRACK_FEATURES = ('velocity_mean', 'velocity_std', 'offset_mean', 'offset_std')
METHODS = ('flat', 'lookup', 'lookup at level', 'most likely', 'median', 'sampled')


def read_performances(groove_dir, split, max_files=0) -> List[performance_lib.Performance]:
  """The 4/4 performances with hits of a Groove split (the first `max_files`; 0 = all)."""
  paths = groove.split_files(groove_dir, split)
  if max_files:
    paths = paths[:max_files]
  performances, skipped = [], 0
  for path in paths:
    sequence = midi.read_midi(path)
    if performance_lib.time_signature(sequence) != (4, 4):
      skipped += 1
      continue
    perf, _ = performance_lib.read_performance(sequence)
    if perf.hits.any():
      performances.append(perf)
  if not performances:
    raise DrumsRnnError(f'no 4/4 drum performances in the {split!r} split of {groove_dir!r}')
  logging.info('%s split: %d performances (%d not in 4/4 skipped)', split, len(performances), skipped)
  return performances


class LookupBaseline:
  """Mean velocity and offset per drum type x position in the bar (drum means where unseen)."""

  def __init__(self, performances):
    sums = np.zeros((3, STEPS_PER_BAR, data.NUM_DRUMS))
    for perf in performances:
      steps, drums = np.nonzero(perf.hits)
      cells = (steps % STEPS_PER_BAR, drums)
      np.add.at(sums[0], cells, 1.0)
      np.add.at(sums[1], cells, perf.velocities[steps, drums])
      np.add.at(sums[2], cells, perf.offsets[steps, drums])
    counts = sums[0]
    per_drum = sums.sum(axis=1)
    drum_count = np.maximum(per_drum[0], 1.0)
    fallback_velocity = np.where(per_drum[0] > 0, per_drum[1] / drum_count, humanize.DEFAULT_LEVEL)
    fallback_offset = per_drum[2] / drum_count
    seen = counts > 0
    safe = np.maximum(counts, 1.0)
    self.velocity = np.where(seen, sums[1] / safe, fallback_velocity[None, :])
    self.offset = np.where(seen, sums[2] / safe, fallback_offset[None, :])

  def predict(self, hits, level=None):
    """(velocities, offsets) [T, 9] for bool hits; with `level`, velocities moved to that mean."""
    position = np.arange(hits.shape[0]) % STEPS_PER_BAR
    velocities = self.velocity[position]
    if level is not None:
      velocities = velocities + (level - velocities[hits].mean())
    velocities = np.where(hits, np.clip(np.rint(velocities), 1, 127), 0)
    return velocities, np.where(hits, self.offset[position], 0.0)


def histogram_intersection(a, b, bins) -> float:
  """Sum of bin-wise minima of the normalised histograms of `a` and `b` (1 = identical)."""
  ha = np.histogram(a, bins)[0].astype(np.float64)
  hb = np.histogram(b, bins)[0].astype(np.float64)
  if not ha.sum() or not hb.sum():
    return float('nan')
  return float(np.minimum(ha / ha.sum(), hb / hb.sum()).sum())


def group_intersections(velocities, drums, real_velocities, real_drums) -> Dict[str, float]:
  """Velocity histogram intersection per drum group (metrics.DRUM_GROUPS) with the real hits."""
  return {group: histogram_intersection(velocities[np.isin(drums, ids)],
                                        real_velocities[np.isin(real_drums, ids)], VELOCITY_BINS)
          for group, ids in metrics.DRUM_GROUPS.items()}


def track_features(velocities, offsets, hits) -> Dict[str, float]:
  """The per-track features compared with Yang & Lerch's method."""
  v = velocities[hits].astype(np.float64)
  o = offsets[hits].astype(np.float64)
  return {'velocity_mean': v.mean(), 'velocity_std': v.std(), 'offset_mean': o.mean(),
          'offset_std': o.std()}


@dataclasses.dataclass
class EvaluationResult:
  """Every figure of one evaluation (see the module docstring)."""
  tracks: int
  hits: int
  mae: Dict[str, Dict[str, float]]                  # method -> velocity / timing_ms
  velocity_intersection: Dict[str, Dict[str, float]]  # method -> drum group -> value
  offset_intersection: Dict[str, float]
  yang_lerch: Dict[str, Dict[str, Dict[str, float]]]  # method -> feature -> overlap / kl
  seed: int
  train_vs_test: Dict[str, float]  # real train hits vs real test hits: groups and 'offset'

  def table_markdown(self) -> str:
    """The README's tables."""
    groups = list(metrics.DRUM_GROUPS)
    lines = [f'Groove test split: {self.tracks} performances (4/4), {self.hits} hits; seed {self.seed}.',
             '',
             '| method | velocity MAE | timing MAE (ms) | ' + ' | '.join(f'vel. HI {g}' for g in groups)
             + ' | offset HI |',
             '|---|---:|---:|' + '---:|' * (len(groups) + 1)]
    for method in METHODS:
      hi = self.velocity_intersection[method]
      lines.append(f'| {method} | {self.mae[method]["velocity"]:.2f} | {self.mae[method]["timing_ms"]:.2f} | '
                   + ' | '.join(_fmt(hi[g]) for g in groups)
                   + f' | {_fmt(self.offset_intersection[method])} |')
    ref = self.train_vs_test
    lines.append('| *real train split (reference)* | | | ' + ' | '.join(_fmt(ref[g]) for g in groups)
                 + f' | {_fmt(ref["offset"])} |')
    lines += ['', '| method | ' + ' | '.join(f'{f} OA / KL' for f in TRACK_FEATURES) + ' |',
              '|---|' + '---:|' * len(TRACK_FEATURES)]
    for method in METHODS:
      yl = self.yang_lerch[method]
      lines.append(f'| {method} | ' + ' | '.join(f'{_fmt(yl[f]["overlap"])} / {_fmt(yl[f]["kl"])}'
                                                 for f in TRACK_FEATURES) + ' |')
    return '\n'.join(lines)

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True, default=float) + '\n'


def _fmt(value):
  return 'n/a' if value != value else f'{value:.3f}'  # nan: e.g. no hits of a group


def predictions(humanizer, lookup, perf, seed):
  """{method: (velocities, offsets)} for one quantized, flattened performance."""
  hits = perf.hits
  level = data.loudness(perf)
  flat = np.where(hits, int(round(level)), 0)
  return {
      'flat': (flat, np.zeros(hits.shape)),
      'lookup': lookup.predict(hits),
      'lookup at level': lookup.predict(hits, level),
      'most likely': humanizer.humanize_hits(hits, perf.qpm, level, mode='most_likely'),
      'median': humanizer.humanize_hits(hits, perf.qpm, level, mode='median'),
      'sampled': humanizer.humanize_hits(hits, perf.qpm, level, seed=seed),
  }


def hit_values(performances):
  """(velocities, offsets, drum types) of every hit of some performances, concatenated."""
  cells = [np.nonzero(p.hits) for p in performances]
  return (np.concatenate([p.velocities[c] for p, c in zip(performances, cells)]),
          np.concatenate([p.offsets[c] for p, c in zip(performances, cells)]),
          np.concatenate([c[1] for c in cells]))


def evaluate(humanizer, groove_dir, seed=0, max_files=0) -> EvaluationResult:
  """Evaluates `humanizer` (a `humanize.Humanizer`) on the test split of `groove_dir`.

  The lookup table is learned on the train split; `max_files` limits both
  splits' files (0 = all).
  """
  train = read_performances(groove_dir, 'train', max_files)
  lookup = LookupBaseline(train)
  tests = read_performances(groove_dir, 'test', max_files)
  real_v, real_o, real_drum = hit_values(tests)
  real_features = []
  pred = {m: ([], [], []) for m in METHODS}  # velocities, offsets in steps, timing errors in ms
  features = {m: [] for m in METHODS}
  for index, perf in enumerate(tests):
    hits = perf.hits
    steps, drums = np.nonzero(hits)
    real_features.append(track_features(perf.velocities, perf.offsets, hits))
    step_ms = 15000.0 / perf.qpm
    for method, (velocities, offsets) in predictions(humanizer, lookup, perf,
                                                     humanize.file_seed(seed, index)).items():
      pred[method][0].append(velocities[steps, drums])
      pred[method][1].append(offsets[steps, drums])
      pred[method][2].append(np.abs(offsets[steps, drums] - perf.offsets[steps, drums]) * step_ms)
      features[method].append(track_features(velocities, offsets, hits))
  mae, vel_hi, off_hi, yang_lerch = {}, {}, {}, {}
  for method in METHODS:
    v, o, timing = map(np.concatenate, pred[method])
    mae[method] = {'velocity': float(np.abs(v - real_v).mean()), 'timing_ms': float(timing.mean())}
    vel_hi[method] = group_intersections(v, real_drum, real_v, real_drum)
    off_hi[method] = histogram_intersection(o, real_o, OFFSET_BINS)
    yang_lerch[method] = {}
    for name in TRACK_FEATURES:
      real = np.array([[f[name]] for f in real_features])
      made = np.array([[f[name]] for f in features[method]])
      overlap, kl = metrics.overlap_and_kl(metrics.pairwise_distances(real),
                                           metrics.pairwise_distances(real, made))
      yang_lerch[method][name] = {'overlap': overlap, 'kl': kl}
  train_v, train_o, train_drum = hit_values(train)
  reference = group_intersections(train_v, train_drum, real_v, real_drum)
  reference['offset'] = histogram_intersection(train_o, real_o, OFFSET_BINS)
  return EvaluationResult(len(tests), int(real_v.size), mae, vel_hi, off_hi, yang_lerch, int(seed),
                          reference)
