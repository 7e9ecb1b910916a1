"""Per-bar features of a drum pattern: what tells a fill from a beat, and one style from another.

A pattern is a drum track on the 16th-note grid, given as drum_kit class
indices per step (:data:`drums_rnn.encoding.DRUM_KIT`: bit i = drum type i)
or as the equivalent ``[steps, 9]`` bool hit grid
(:func:`drums_rnn.measure.features.hit_grid`). It is cut into bars of
``steps_per_bar`` steps (16 for 4/4); a trailing partial bar is padded with
silent steps, as :mod:`drums_rnn.measure.features` does.

A bar's *hits* (its density) is the number of struck (step, drum type)
cells: a step with a kick and a closed hi-hat is two hits, two pitches of one
drum type at one step (say two crash cymbals) are one. Fills and styles show
in a handful of plain measurements, each a column of :func:`bar_features`:

* hits of each of the nine drum types, all hits, onset steps (steps with any
  hit), and tom hits: fills are played on the toms and snare (Groove's train
  fill bars hold about 4 tom hits, its beat bars about 1);
* where the activity sits in the bar: the share of hits in the last beat and
  the centre of the hits (0 = the downbeat, 1 = the end); fills build
  towards the next downbeat;
* the longest run of consecutive steps struck on the snare or a tom (a roll
  or a run around the kit);
* rhythm, from :mod:`drums_rnn.measure.features`: syncopation, the off-beat share and
  the similarity of the bar's two halves (a groove repeats, a fill runs on).

:func:`neighbour_change` says how much a bar differs from the bars before and
after it: a fill breaks the groove of the bars around it, and a style keeps
or varies its bars. It is kept apart from :func:`bar_features` because it is
undefined at a track's ends (a one-bar snippet has no neighbours).
"""

import numpy as np

from drums_rnn import encoding
from drums_rnn.measure import features as metrics

STEPS_PER_BAR = 16  # 4/4 at four steps a quarter
STEPS_PER_BEAT = 4
NUM_DRUM_TYPES = encoding.DRUM_KIT.num_drum_types
TOMS = metrics.DRUM_GROUPS['toms']
# What a fill is played on: the snare and the three toms.
FILL_DRUMS = metrics.DRUM_GROUPS['snare'] + TOMS

BAR_FEATURE_NAMES = (
    *(f'hits_{name}' for name in encoding.DRUM_VOICE_NAMES),
    'hits',
    'onsets',
    'toms',
    'last_beat_share',
    'centre',
    'longest_fill_run',
    'syncopation',
    'offbeat_ratio',
    'symmetry',
)


def split_bars(pattern, steps_per_bar=STEPS_PER_BAR) -> np.ndarray:
  """[bars, steps_per_bar, 9] bool: the pattern cut into bars (a partial last bar padded).

  A pattern of zero steps has zero bars.
  """
  grid = encoding.as_hit_grid(pattern)
  if grid.shape[0] == 0:
    return np.zeros((0, steps_per_bar, grid.shape[1]), dtype=bool)
  return metrics.bars_of(grid, steps_per_bar)


def hits_per_bar(pattern, steps_per_bar=STEPS_PER_BAR) -> np.ndarray:
  """[bars] int64: the density of each bar, its struck (step, drum type) cells."""
  return split_bars(pattern, steps_per_bar).sum(axis=(1, 2)).astype(np.int64)


def _longest_run(struck) -> np.ndarray:
  """[bars] the longest run of consecutive True steps in each row of `struck` [bars, steps]."""
  run = np.zeros(struck.shape[0], dtype=np.int64)
  longest = np.zeros_like(run)
  for column in struck.T:
    run = np.where(column, run + 1, 0)
    longest = np.maximum(longest, run)
  return longest


def bar_features(pattern, steps_per_bar=STEPS_PER_BAR, steps_per_beat=STEPS_PER_BEAT) -> np.ndarray:
  """[bars, len(BAR_FEATURE_NAMES)] float64: the measurements of each bar, in that order.

  An empty bar has its centre at 0.5, a last-beat share of 0 and the
  symmetry of two empty halves (1).
  """
  bars = split_bars(pattern, steps_per_bar)
  hits_by_drum = bars.sum(axis=1)
  hits = hits_by_drum.sum(axis=1)
  hits_by_step = bars.sum(axis=2)
  has_hits = hits > 0
  safe_hits = np.maximum(hits, 1)
  step_centres = (np.arange(steps_per_bar) + 0.5) / steps_per_bar
  columns = {f'hits_{name}': hits_by_drum[:, i] for i, name in enumerate(encoding.DRUM_VOICE_NAMES)}
  columns.update({
      'hits': hits,
      'onsets': bars.any(axis=2).sum(axis=1),
      'toms': hits_by_drum[:, list(TOMS)].sum(axis=1),
      'last_beat_share': hits_by_step[:, steps_per_bar - steps_per_beat:].sum(axis=1) / safe_hits,
      'centre': np.where(has_hits, hits_by_step @ step_centres / safe_hits, 0.5),
      'longest_fill_run': _longest_run(bars[:, :, list(FILL_DRUMS)].any(axis=2)),
      'syncopation': [metrics.syncopation(bar, steps_per_bar, steps_per_beat) for bar in bars],
      'offbeat_ratio': [metrics.offbeat_ratio(bar, steps_per_bar, steps_per_beat) for bar in bars],
      'symmetry': [metrics.symmetry(bar, steps_per_bar) for bar in bars],
  })
  return np.stack([np.asarray(columns[name], np.float64) for name in BAR_FEATURE_NAMES], axis=1)


def neighbour_change(pattern, steps_per_bar=STEPS_PER_BAR) -> np.ndarray:
  """[bars, 2] float64: how much each bar differs from the previous and the next bar.

  The change is the Jaccard distance between the bars' sets of struck
  (step, drum type) cells: 0 for a repeated bar, 1 for bars with no hit in
  common. NaN where there is no such neighbour (the first bar has no
  previous one, the last no next one).
  """
  bars = split_bars(pattern, steps_per_bar)
  change = np.full((bars.shape[0], 2), np.nan)
  if bars.shape[0] > 1:
    distance = 1.0 - metrics.jaccard(bars[:-1], bars[1:])
    change[1:, 0] = distance
    change[:-1, 1] = distance
  return change
