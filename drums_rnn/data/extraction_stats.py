"""What drum-track extraction kept and dropped, counted under Magenta's names.

Shared by the stages of :mod:`drums_rnn.data.quantization` (pieces dropped before
extraction) and :mod:`drums_rnn.data.extraction` (tracks cut, dropped, truncated,
split); `create_dataset` adds the stats of every input and reports them.
"""

import collections
import dataclasses
from typing import Dict

# Magenta's histogram buckets for drum_track_lengths_in_bars at min_bars=7.
LENGTH_BUCKETS = (0, 1, 3, 6, 7, 8, 10, 20, 30, 40, 50, 100, 200, 500)

# Piece-level outcomes that drop a whole piece, with a short description each.
PIECE_DROP_REASONS = collections.OrderedDict([
    ('sequences_discarded_because_multiple_time_signatures', 'multiple time signatures'),
    ('sequences_discarded_because_multiple_tempos', 'multiple tempos'),
    ('sequences_discarded_because_bad_time_signature', 'bad time signature'),
    ('sequences_discarded_because_negative_time', 'negative note times'),
    ('non_integer_steps_per_bar', 'bar not a whole number of steps'),
    ('sequences_without_drum_notes', 'no drum notes (is_drum false / not MIDI channel 10)'),
])


@dataclasses.dataclass
class ExtractionStats:
  """Counters of what extraction kept and dropped; add two with ``+``.

  `counts` uses Magenta's statistic names (without the `DAGPipeline_..._`
  prefix) plus ours:

  * ``pieces``: quantization inputs (time-change pieces);
  * each key of :data:`PIECE_DROP_REASONS`: pieces dropped for that reason;
  * ``drum_tracks_found``: tracks cut out before the length filters;
  * ``drum_tracks_discarded_too_short``, ``drum_tracks_truncated``;
  * ``drum_tracks_split``: long tracks cut into windows (split_long_tracks),
    ``drum_track_windows_added``: windows beyond the first,
    ``drum_track_tails_discarded_too_short``: short last windows dropped;
  * ``drum_tracks_out``: tracks returned.

  `lengths_in_bars` maps a returned track's length in whole bars to a count
  (Magenta's histogram, before bucketing).
  """
  counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  lengths_in_bars: collections.Counter = dataclasses.field(default_factory=collections.Counter)

  def __add__(self, other):
    return ExtractionStats(self.counts + other.counts, self.lengths_in_bars + other.lengths_in_bars)

  def __iadd__(self, other):
    self.counts.update(other.counts)
    self.lengths_in_bars.update(other.lengths_in_bars)
    return self

  def __getitem__(self, name):
    return self.counts[name]

  def check(self):
    """Raises AssertionError if the counters do not add up."""
    c = self.counts
    drops = sum(c[k] for k in PIECE_DROP_REASONS)
    assert drops <= c['pieces'], (drops, c['pieces'])
    assert c['drum_tracks_out'] == (c['drum_tracks_found'] - c['drum_tracks_discarded_too_short']
                                    + c['drum_track_windows_added']
                                    - c['drum_track_tails_discarded_too_short']), dict(c)
    assert sum(self.lengths_in_bars.values()) == c['drum_tracks_out']

  def histogram(self, buckets=LENGTH_BUCKETS):
    """[(label, count)] of Magenta's length buckets that are not empty."""
    edges = list(buckets) + [float('inf')]
    result = []
    for lo, hi in zip(edges[:-1], edges[1:]):
      n = sum(v for k, v in self.lengths_in_bars.items() if lo <= k < hi)
      if n:
        result.append((f'[{lo},{hi})', n))
    return result


def format_stats(stats: ExtractionStats) -> Dict[str, int]:
  """Magenta-style `name: n` counters (non-zero ones), sorted by name."""
  return {k: v for k, v in sorted(stats.counts.items()) if v}
