"""Objective features of drum patterns, and how two sets of patterns compare.

A pattern is a boolean hit grid ``[steps, 9]``: row t, column i is True when
drum class i (bit i of the drum_kit class index: bass drum, snare, closed
hi-hat, open hi-hat, low tom, mid tom, high tom, crash, ride) is struck at
step t. At 4 steps per quarter a 4/4 bar is 16 steps. Every feature below is
a plain function of the grid and the meter (`steps_per_bar`,
`steps_per_beat`); features that work bar by bar first pad a trailing
partial bar with empty steps.

The set comparison follows Yang & Lerch, "On the evaluation of generative
models in music" (Neural Computing and Applications, 2020): for each
feature, the distribution of pairwise distances inside the reference set
(intra-set) is compared with the distribution of distances between the
reference and the evaluated set (inter-set), each smoothed by a Gaussian
kernel density estimate. A generated set that resembles the reference gives
an inter-set curve that overlaps the reference's intra-set curve (overlap
area near 1, KL divergence near 0).
"""

import dataclasses
import functools
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np
from scipy import signal
from scipy import spatial
from scipy import stats

from drums_rnn import encoding

NUM_DRUM_CLASSES = encoding.DRUM_KIT.num_drum_types
DRUM_CLASS_NAMES = encoding.DRUM_CLASS_NAMES

# Drum groups for the density features, as class (bit) indices.
DRUM_GROUPS = {
    'kick': (0,),
    'snare': (1,),
    'hihat': (2, 3),
    'toms': (4, 5, 6),
    'cymbals': (7, 8),
}


def bars_of(grid, steps_per_bar):
  """[num_bars, steps_per_bar, drums]: the grid padded to whole bars."""
  grid = encoding.as_hit_grid(grid)
  if grid.shape[0] == 0:
    raise ValueError('a drum pattern needs at least one step')
  num_bars = -(-grid.shape[0] // steps_per_bar)
  padded = np.zeros((num_bars * steps_per_bar, grid.shape[1]), dtype=bool)
  padded[:grid.shape[0]] = grid
  return padded.reshape(num_bars, steps_per_bar, grid.shape[1])


def jaccard(a, b):
  """Jaccard similarity of hit sets along the last two axes; empty vs empty = 1."""
  a = a.reshape(a.shape[0], -1)
  b = b.reshape(b.shape[0], -1)
  union = np.sum(a | b, axis=1)
  inter = np.sum(a & b, axis=1)
  return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


# --- features ---------------------------------------------------------------

def group_density(grid, group, steps_per_bar=16):
  """Hits per bar of one drum group.

  Every struck cell of the group's classes counts once (a step with both a
  closed and an open hi-hat is two hi-hat hits), divided by the number of
  bars (a trailing partial bar counts as a whole bar).

  Args:
    grid: [steps, 9] hit grid (or class indices).
    group: a key of DRUM_GROUPS: kick, snare, hihat (closed + open), toms
      (low + mid + high), cymbals (crash + ride).
    steps_per_bar: steps in one bar (16 for 4/4 at 4 steps per quarter).
  """
  bars = bars_of(grid, steps_per_bar)
  hits = bars[:, :, list(DRUM_GROUPS[group])].sum()
  return float(hits / bars.shape[0])


def class_histogram(grid):
  """[9] fraction of all hits that fall on each drum class (zeros if no hits)."""
  grid = encoding.as_hit_grid(grid)
  counts = grid.sum(axis=0).astype(np.float64)
  total = counts.sum()
  return counts / total if total else counts


def metrical_weights(steps_per_bar=16, steps_per_beat=4):
  """Metrical weight of each step of a bar (0 = downbeat, more negative = weaker).

  Levels, strongest first: the bar; the half bar when a bar has an even
  number (> 2) of beats; the beat; then halvings of the beat while it
  divides evenly (8th, 16th at 4 steps per quarter; a beat divisible by
  three, as in 6/8, is first split in three). A step's weight is
  minus the index of the strongest level whose grid it lies on. For 4/4 at
  16 steps: 0 (bar), -1 (half), -2 (beat), -3 (8th), -4 (16th), the
  Longuet-Higgins & Lee hierarchy.
  """
  levels = [steps_per_bar]
  beats_per_bar = steps_per_bar // steps_per_beat if steps_per_beat else 0
  if steps_per_beat and steps_per_bar % steps_per_beat == 0:
    if beats_per_bar > 2 and beats_per_bar % 2 == 0:
      levels.append(steps_per_bar // 2)
    if steps_per_beat not in levels:
      levels.append(steps_per_beat)
    sub = steps_per_beat
    while sub > 1:  # compound beats split in three first (6/8: 6 -> 2 -> 1)
      sub //= 3 if sub % 3 == 0 else 2 if sub % 2 == 0 else sub
      levels.append(sub)
  if levels[-1] != 1:
    levels.append(1)
  positions = np.arange(steps_per_bar)
  weights = np.full(steps_per_bar, -(len(levels) - 1), dtype=np.int64)
  for index in range(len(levels) - 1, -1, -1):
    weights[positions % levels[index] == 0] = -index
  return weights


@functools.lru_cache(maxsize=None)
def _next_stronger(steps_per_bar, steps_per_beat):
  """Per position in the bar: (distance to the next stronger position, weight gain).

  The bar's own downbeat gets distance 0 (it never syncopates); the next
  bar's downbeat outranks every position of this bar.
  """
  weights = metrical_weights(steps_per_bar, steps_per_beat)
  ext = np.concatenate([weights, weights[:1] + 1])
  distance = np.zeros(steps_per_bar, dtype=np.int64)
  gain = np.zeros(steps_per_bar, dtype=np.int64)
  for p in range(1, steps_per_bar):
    d = next(d for d in range(1, steps_per_bar - p + 1) if ext[p + d] > weights[p])
    distance[p] = d
    gain[p] = min(ext[p + d], 0) - weights[p]
  return distance, gain


def syncopation(grid, steps_per_bar=16, steps_per_beat=4):
  """Longuet-Higgins & Lee syncopation per bar of the pattern's onsets.

  The onsets are the steps where any drum is struck (all drums together,
  as one rhythm); the pattern is treated as a loop. An onset at a step of
  weight w_n (see `metrical_weights`) syncopates when the next step that is
  metrically stronger (weight w_s > w_n) has no onset and no onset happens
  in between, i.e. the note "ties over" a stronger position. It scores
  w_s - w_n. The result is the sum of the scores divided by the number of
  bars. Four on the floor scores 0; a bar of only odd 16ths scores
  1+2+1+3+1+2+1+4 = 15.
  """
  bars = bars_of(grid, steps_per_bar)
  onsets = bars.any(axis=2).reshape(-1)
  distance, gain = _next_stronger(steps_per_bar, steps_per_beat)
  # Onsets counted in (n, n + d] on the looped pattern via a cumulative sum.
  looped = np.concatenate([onsets, onsets[:steps_per_bar]]).astype(np.int64)
  cum = np.concatenate([[0], np.cumsum(looped)])
  steps = np.nonzero(onsets)[0]
  pos = steps % steps_per_bar
  d = distance[pos]
  between = cum[steps + d + 1] - cum[steps + 1]
  score = np.where((d > 0) & (between == 0), gain[pos], 0).sum()
  return float(score / bars.shape[0])


def offbeat_ratio(grid, steps_per_bar=16, steps_per_beat=4):
  """Fraction of onset steps (any drum) on the weakest metrical level.

  At 4 steps per quarter these are the off-beat 16ths (odd steps of the
  bar). 0 when the pattern has no onsets.
  """
  bars = bars_of(grid, steps_per_bar)
  onsets = bars.any(axis=2)
  weights = metrical_weights(steps_per_bar, steps_per_beat)
  count = onsets.sum()
  if not count:
    return 0.0
  return float(onsets[:, weights == weights.min()].sum() / count)


def symmetry(grid, steps_per_bar=16):
  """Mean Jaccard similarity between the first and second half of each bar.

  Each half is the set of struck (step-in-half, drum) cells; the similarity
  is |A and B| / |A or B|, 1 when both halves are empty. With an odd number
  of steps per bar the middle step is left out.
  """
  bars = bars_of(grid, steps_per_bar)
  half = steps_per_bar // 2
  return float(np.mean(jaccard(bars[:, :half], bars[:, steps_per_bar - half:])))


def repetition(grid, steps_per_bar=16):
  """Mean Jaccard similarity between consecutive bars (NaN with one bar).

  Each bar is the set of struck (step-in-bar, drum) cells; two empty bars
  count as identical (1.0). A loop repeated exactly scores 1.0.
  """
  bars = bars_of(grid, steps_per_bar)
  if bars.shape[0] < 2:
    return float('nan')
  return float(np.mean(jaccard(bars[:-1], bars[1:])))


def empty_step_ratio(grid):
  """Fraction of steps on which no drum is struck (steps as given, no padding)."""
  grid = encoding.as_hit_grid(grid)
  if grid.shape[0] == 0:
    raise ValueError('a drum pattern needs at least one step')
  return float(np.mean(~grid.any(axis=1)))


# --- the feature set -------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Feature:
  """One named feature: `fn(grid, steps_per_bar, steps_per_beat)` -> float or [size]."""
  name: str
  fn: Callable
  size: int = 1  # 1 = scalar, else vector length
  labels: Optional[Sequence[str]] = None  # names of a vector's components


def _density_feature(group):
  return Feature(f'density_{group}', lambda grid, spb, beat: group_density(grid, group, spb))


# The features, in table order; each fn takes (grid, steps_per_bar, steps_per_beat).
FEATURES: List[Feature] = [
    *[_density_feature(group) for group in DRUM_GROUPS],
    Feature('class_histogram', lambda grid, spb, beat: class_histogram(grid),
            size=NUM_DRUM_CLASSES, labels=DRUM_CLASS_NAMES),
    Feature('syncopation', syncopation),
    Feature('offbeat_ratio', offbeat_ratio),
    Feature('symmetry', lambda grid, spb, beat: symmetry(grid, spb)),
    Feature('repetition', lambda grid, spb, beat: repetition(grid, spb)),
    Feature('empty_step_ratio', lambda grid, spb, beat: empty_step_ratio(grid)),
]
FEATURE_NAMES = [f.name for f in FEATURES]


def compute_features(pattern, steps_per_bar=16, steps_per_beat=4):
  """All features of one pattern: {name: float or np.ndarray}."""
  grid = encoding.as_hit_grid(pattern)
  result = {}
  for feature in FEATURES:
    value = feature.fn(grid, steps_per_bar, steps_per_beat)
    result[feature.name] = np.asarray(value, np.float64) if feature.size > 1 else float(value)
  return result


def feature_matrix(feature_dicts, name):
  """[n, size] float64 values of feature `name` over a list of feature dicts."""
  return np.array([np.reshape(d[name], -1) for d in feature_dicts], dtype=np.float64).reshape(
      len(feature_dicts), -1)


def set_statistics(feature_dicts):
  """Per-set mean, std and count of every scalar and vector component.

  Returns {row_name: (mean, std, n)}; vector components are named
  `feature/label`; NaN values (e.g. repetition of a one-bar pattern) are left
  out of the mean and std and of n.
  """
  stats_ = {}
  for feature in FEATURES:
    values = feature_matrix(feature_dicts, feature.name) if feature_dicts else np.zeros((0, feature.size))
    names = ([feature.name] if feature.size == 1
             else [f'{feature.name}/{label}' for label in feature.labels])
    for column, row_name in enumerate(names):
      col = values[:, column]
      col = col[np.isfinite(col)]
      stats_[row_name] = (float(col.mean()) if col.size else float('nan'),
                          float(col.std()) if col.size else float('nan'), int(col.size))
  return stats_


# --- set comparison (Yang & Lerch 2020) --------------------------------------

@dataclasses.dataclass
class FeatureComparison:
  """Distance distributions of one feature and how they overlap.

  Attributes:
    name: feature name.
    intra_reference: pairwise distances inside the reference set.
    intra_evaluated: pairwise distances inside the evaluated set.
    inter: distances between every reference and every evaluated pattern.
    overlap: area under min(KDE(intra_reference), KDE(inter)), in [0, 1].
    kl: KL(KDE(intra_reference) || KDE(inter)) in nats, >= 0.
  """
  name: str
  intra_reference: np.ndarray
  intra_evaluated: np.ndarray
  inter: np.ndarray
  overlap: float
  kl: float


def _finite_rows(values):
  return values[np.all(np.isfinite(values), axis=1)]


def pairwise_distances(values_a, values_b=None):
  """Euclidean distances: all pairs i < j inside A, or all A x B pairs."""
  values_a = _finite_rows(np.asarray(values_a, np.float64).reshape(len(values_a), -1))
  if values_b is None:
    if values_a.shape[0] < 2:
      return np.zeros(0)
    return spatial.distance.pdist(values_a)
  values_b = _finite_rows(np.asarray(values_b, np.float64).reshape(len(values_b), -1))
  if values_a.shape[0] == 0 or values_b.shape[0] == 0:
    return np.zeros(0)
  return spatial.distance.cdist(values_a, values_b).reshape(-1)


def bandwidth_floor(*samples):
  """A small kernel width used when a sample has (almost) no spread."""
  values = np.concatenate([s for s in samples if s.size])
  spread = float(values.max() - values.min()) if values.size else 0.0
  return 1e-3 * max(spread, 1e-2)


# Above this many (sample x grid point) kernel evaluations, KDEs are binned.
DIRECT_KDE_LIMIT = 4_000_000


def kde_curve(samples, grid, bandwidth_floor):
  """Gaussian KDE of `samples` evaluated on the evenly spaced `grid`.

  The kernel width is scipy.stats.gaussian_kde's (Scott's rule). A sample
  with (almost) no spread cannot be fitted that way (its covariance is
  singular); its kernels get the width `bandwidth_floor` instead, so
  identical distances become a narrow peak rather than an error.

  Small samples are evaluated exactly. Large ones (the ~400,000 pairwise
  distances of a 900-track set) use linear binning onto the grid and one
  FFT convolution with the kernel, the standard fast KDE: it uses every
  sample and costs O(n + m log m) instead of O(n m).
  """
  samples = np.asarray(samples, np.float64)
  bandwidth = bandwidth_floor
  kde = None
  if samples.size >= 2 and samples.std() > bandwidth_floor:
    kde = stats.gaussian_kde(samples)
    bandwidth = float(np.sqrt(kde.covariance[0, 0]))
    if bandwidth < bandwidth_floor:
      kde, bandwidth = None, bandwidth_floor
  if samples.size * grid.size > DIRECT_KDE_LIMIT and grid.size > 2:
    return _binned_kde(samples, grid, bandwidth)
  if kde is not None:
    return kde(grid)
  values, counts = np.unique(samples, return_counts=True)
  z = (grid[:, None] - values[None, :]) / bandwidth
  pdf = np.exp(-0.5 * z * z) @ (counts / counts.sum())
  return pdf / (bandwidth * np.sqrt(2 * np.pi))


def _binned_kde(samples, grid, bandwidth):
  """Gaussian KDE by linear binning onto an even grid and FFT convolution."""
  m = grid.size
  dx = float(grid[1] - grid[0])
  u = np.clip((samples - grid[0]) / dx, 0.0, m - 1.0)
  left = np.minimum(np.floor(u).astype(np.int64), m - 2)
  frac = u - left
  counts = (np.bincount(left, 1.0 - frac, minlength=m)
            + np.bincount(left + 1, frac, minlength=m))
  half = min(int(np.ceil(6.0 * bandwidth / dx)), m - 1)
  offsets = np.arange(-half, half + 1) * dx / bandwidth
  kernel = np.exp(-0.5 * offsets * offsets)
  pdf = signal.fftconvolve(counts, kernel, mode='same')
  return np.maximum(pdf, 0.0) / (samples.size * bandwidth * np.sqrt(2 * np.pi))


def overlap_and_kl(reference, other, num_points=1024):
  """(overlap area, KL(reference || other)) of two distance samples' KDEs.

  Both curves are evaluated on one even grid spanning both samples plus a
  margin and normalised to integrate to 1 on it. The overlap area is the integral
  of their minimum (1 = identical, 0 = disjoint). For the KL divergence the
  `other` curve is floored at 1e-10 (then renormalised) so that a reference
  mass where `other` has none gives a large finite number, not infinity.
  Returns (nan, nan) when either sample is empty.
  """
  reference = np.asarray(reference, np.float64)
  other = np.asarray(other, np.float64)
  if reference.size == 0 or other.size == 0:
    return float('nan'), float('nan')
  floor = bandwidth_floor(reference, other)
  both = np.concatenate([reference, other])
  margin = 3 * max(both.std(), floor) + 5 * floor
  grid = np.linspace(both.min() - margin, both.max() + margin, num_points)
  p = kde_curve(reference, grid, floor)
  q = kde_curve(other, grid, floor)
  p = p / np.trapezoid(p, grid)
  q = q / np.trapezoid(q, grid)
  overlap = float(np.clip(np.trapezoid(np.minimum(p, q), grid), 0.0, 1.0))
  q_floor = q + 1e-10
  q_floor /= np.trapezoid(q_floor, grid)
  with np.errstate(divide='ignore', invalid='ignore'):
    integrand = np.where(p > 0, p * np.log(p / q_floor), 0.0)
  kl = float(max(np.trapezoid(integrand, grid), 0.0))
  return overlap, kl


def compare_sets(reference: Sequence[Mapping], evaluated: Sequence[Mapping]) -> Dict[str, FeatureComparison]:
  """Compares two lists of feature dicts (from `compute_features`), per feature.

  `reference` plays the role of real data: the overlap and KL are between
  its intra-set distance distribution and the inter-set one.
  """
  result = {}
  for feature in FEATURES:
    a = feature_matrix(reference, feature.name)
    b = feature_matrix(evaluated, feature.name)
    intra_a = pairwise_distances(a)
    intra_b = pairwise_distances(b)
    inter = pairwise_distances(a, b)
    overlap, kl = overlap_and_kl(intra_a, inter)
    result[feature.name] = FeatureComparison(feature.name, intra_a, intra_b, inter, overlap, kl)
  return result
