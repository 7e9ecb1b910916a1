"""NoteSequence -> drum tracks, by the rules of Magenta's drum pipeline.

Magenta turns each NoteSequence into training tracks in three stages:

1. split at every time-signature or tempo change
   (``sequences_lib.split_note_sequence_on_time_changes``);
2. quantize each piece to the config's steps per quarter
   (``sequences_lib.quantize_note_sequence``; a piece it rejects is dropped
   and counted);
3. cut drum tracks out of the quantized piece (``drum_pipelines
   .extract_drum_tracks`` with min_bars=7, max_steps_truncate=512,
   gap_bars=1.0).

Stages 1 and 2 can run through note-seq itself (:func:`quantize_pieces`,
``use_note_seq=True``) or, by default, on arrays (:func:`drum_onset_pieces`):
note-seq deep-copies the proto twice per piece and that was two thirds of
the time per sequence; the array version applies the same rules with the
same float arithmetic and is tested equal to it. Stage 3 is done here with
arrays: the drum onsets of a piece are sorted once, the silences long enough
to end a track are found with one ``np.diff``, and each track is a slice
turned into class indices by :meth:`DrumEncoding.classes_from_onsets`. The
rules are note-seq's ``DrumTrack.from_quantized_sequence`` loop, step for
step:

* only ``is_drum`` notes with non-zero velocity count, from all instruments;
* a track starts at the bar (counted from the search start) holding its first
  onset, and ends before an onset that follows at least ``gap_bars`` bars of
  empty steps; its length runs to its last onset (no padding);
* the next search starts at the first bar line at or after the track's end;
* tracks shorter than ``min_bars`` bars are dropped; longer than
  ``max_steps`` steps are truncated (the rest is lost) -- or, with
  ``split_long_tracks``, cut on bar lines into windows of at most
  ``max_steps`` steps, dropping a tail shorter than ``min_bars``.

Every dropped piece or track is counted in :class:`ExtractionStats` under
Magenta's statistic names, plus a few of ours (no drum notes, negative time,
windows).
"""

import collections
import dataclasses
from typing import Dict, List, Optional

import numpy as np
from note_seq import sequences_lib

from drums_rnn import encoding as encoding_lib

MIN_BARS = 7
MAX_STEPS = 512
GAP_BARS = 1.0

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


@dataclasses.dataclass
class DrumTrack:
  """One extracted drum track.

  Attributes:
    classes: int64 [length], the class index of every step.
    start_step: the quantized step (in its piece) of the track's first step.
    steps_per_bar: bar length in steps.
    steps_per_quarter: the quantization grid.
    onset_steps: int64, step (relative to start_step) of each drum onset kept.
    onset_pitches: int64, raw MIDI pitch of each onset (parallel to onset_steps).
  """
  classes: np.ndarray
  start_step: int
  steps_per_bar: int
  steps_per_quarter: int
  onset_steps: np.ndarray
  onset_pitches: np.ndarray

  def __len__(self):
    return int(self.classes.shape[0])

  @property
  def end_step(self):
    return self.start_step + len(self)

  def events(self) -> List[frozenset]:
    """The track as note-seq's events: one frozenset of raw pitches per step."""
    events = [set() for _ in range(len(self))]
    for step, pitch in zip(self.onset_steps.tolist(), self.onset_pitches.tolist()):
      events[step].add(pitch)
    return [frozenset(e) for e in events]


def _note_arrays(quantized, ignore_is_drum=False):
  """(steps, pitches) of the drum onsets that count: is_drum (unless ignored), velocity != 0."""
  notes = quantized.notes
  n = len(notes)
  keep = np.fromiter(((ignore_is_drum or x.is_drum) and x.velocity != 0 for x in notes),
                     dtype=bool, count=n)
  steps = np.fromiter((x.quantized_start_step for x in notes), dtype=np.int64, count=n)[keep]
  pitches = np.fromiter((x.pitch for x in notes), dtype=np.int64, count=n)[keep]
  return steps, pitches


def extract_from_quantized(quantized, encoding=encoding_lib.DRUM_KIT, min_bars=MIN_BARS,
                           max_steps=MAX_STEPS, gap_bars=GAP_BARS, split_long_tracks=False,
                           stats: Optional[ExtractionStats] = None,
                           ignore_is_drum=False) -> List[DrumTrack]:
  """Drum tracks of one quantized NoteSequence (Magenta's extract_drum_tracks).

  Args:
    quantized: a NoteSequence quantized relative to tempo (steps per quarter).
    encoding: the DrumEncoding giving each step's class.
    min_bars: shorter tracks are dropped.
    max_steps: longer tracks are truncated to this many steps (None: no limit).
    gap_bars: this many bars of silence end a track.
    split_long_tracks: cut long tracks into bar-aligned windows of at most
      max_steps instead of truncating them.
    stats: an ExtractionStats to add counts to.
    ignore_is_drum: count every note as a drum (Magenta's primer MIDI
      extraction uses this with min_bars=0, gap_bars=inf, max_steps=None).
  Returns:
    The kept tracks, in time order.
  """
  steps, pitches = _note_arrays(quantized, ignore_is_drum)
  return extract_from_onsets(
      steps, pitches, sequences_lib.steps_per_bar_in_quantized_sequence(quantized),
      quantized.quantization_info.steps_per_quarter, encoding, min_bars=min_bars,
      max_steps=max_steps, gap_bars=gap_bars, split_long_tracks=split_long_tracks, stats=stats)


def extract_from_onsets(steps, pitches, steps_per_bar, steps_per_quarter,
                        encoding=encoding_lib.DRUM_KIT, min_bars=MIN_BARS, max_steps=MAX_STEPS,
                        gap_bars=GAP_BARS, split_long_tracks=False,
                        stats: Optional[ExtractionStats] = None) -> List[DrumTrack]:
  """extract_from_quantized on arrays: the quantized steps and pitches of the drum onsets.

  `steps`/`pitches` hold only the notes that count (is_drum, velocity != 0);
  `steps_per_bar` may be a float (a non-integer one drops the piece).
  """
  stats = stats if stats is not None else ExtractionStats()
  counts = stats.counts
  if steps_per_bar % 1 != 0:
    counts['non_integer_steps_per_bar'] += 1
    return []
  spb = int(steps_per_bar)
  spq = int(steps_per_quarter)
  steps = np.asarray(steps, dtype=np.int64)
  pitches = np.asarray(pitches, dtype=np.int64)
  keep = steps >= 0
  steps, pitches = steps[keep], pitches[keep]
  if steps.size == 0:
    counts['sequences_without_drum_notes'] += 1
    return []

  order = np.argsort(steps, kind='stable')
  steps, pitches = steps[order], pitches[order]
  onsets = np.unique(steps)                      # distinct onset steps, ascending
  # Index k ends a track when the silence after onset k is long enough.
  ends = np.flatnonzero(np.diff(onsets) - 1 >= gap_bars * spb)
  min_len = spb * min_bars
  window = (max_steps // spb) * spb if max_steps else 0

  tracks = []
  search = 0
  while True:
    i = int(np.searchsorted(onsets, search, side='left'))
    if i >= onsets.size:
      break
    start = int(onsets[i] - (onsets[i] - search) % spb)
    e = int(np.searchsorted(ends, i, side='left'))
    j = int(ends[e]) if e < ends.size else onsets.size - 1
    length = int(onsets[j]) - start + 1
    end = start + length
    search = end + (search - end) % spb
    counts['drum_tracks_found'] += 1
    if length < min_len:
      counts['drum_tracks_discarded_too_short'] += 1
      continue
    lo = int(np.searchsorted(steps, onsets[i], side='left'))
    hi = int(np.searchsorted(steps, onsets[j], side='right'))
    rel_steps = steps[lo:hi] - start
    track_pitches = pitches[lo:hi]
    classes = encoding.classes_from_onsets(rel_steps, track_pitches, length)

    if max_steps and length > max_steps:
      if split_long_tracks and window >= min_len:
        windows = [(offset, min(window, length - offset)) for offset in range(0, length, window)]
        counts['drum_tracks_split'] += 1
        counts['drum_track_windows_added'] += len(windows) - 1
        if windows[-1][1] < min_len:
          counts['drum_track_tails_discarded_too_short'] += 1
          windows.pop()
      else:
        windows = [(0, max_steps)]
        counts['drum_tracks_truncated'] += 1
    else:
      windows = [(0, length)]

    for offset, size in windows:
      sel = (rel_steps >= offset) & (rel_steps < offset + size)
      tracks.append(DrumTrack(
          classes=classes[offset:offset + size], start_step=start + offset, steps_per_bar=spb,
          steps_per_quarter=spq, onset_steps=rel_steps[sel] - offset,
          onset_pitches=track_pitches[sel]))
      stats.lengths_in_bars[size // spb] += 1
      counts['drum_tracks_out'] += 1
  return tracks


def quantize_pieces(sequence, steps_per_quarter, stats: Optional[ExtractionStats] = None):
  """Splits `sequence` at time changes and quantizes each piece.

  Pieces note-seq refuses to quantize are dropped and counted under Magenta's
  Quantizer statistic names (negative times, which abort Magenta's run, are
  counted as ``sequences_discarded_because_negative_time``).
  """
  stats = stats if stats is not None else ExtractionStats()
  counts = stats.counts
  result = []
  for piece in sequences_lib.split_note_sequence_on_time_changes(sequence):
    counts['pieces'] += 1
    try:
      result.append(sequences_lib.quantize_note_sequence(piece, steps_per_quarter))
    except sequences_lib.MultipleTimeSignatureError:
      counts['sequences_discarded_because_multiple_time_signatures'] += 1
    except sequences_lib.MultipleTempoError:
      counts['sequences_discarded_because_multiple_tempos'] += 1
    except sequences_lib.BadTimeSignatureError:
      counts['sequences_discarded_because_bad_time_signature'] += 1
    except sequences_lib.NegativeTimeError:
      counts['sequences_discarded_because_negative_time'] += 1
  return result


# --- split + quantize on arrays ----------------------------------------------------
#
# sequences_lib's splitter and quantizer deep-copy the NoteSequence proto
# (twice) and walk it note by note; on Groove that was two thirds of the
# per-sequence time. Drum extraction needs only, per piece, the meter, the
# tempo, whether quantization would fail, and the quantized onset steps of
# the drum notes. `drum_onset_pieces` computes exactly those with the same
# float arithmetic and the same rules (tests compare it with sequences_lib).

_DEFAULT_QPM = 120.0


def _split_times(sequence):
  """split_note_sequence_on_time_changes' split times ([] means no pieces)."""
  total = sequence.total_time
  events = [(ts.time, 0, ts.numerator, ts.denominator) for ts in sequence.time_signatures]
  events += [(t.time, 1, t.qpm, 0) for t in sequence.tempos]
  events.sort(key=lambda e: e[0])  # stable: time signatures before tempos at equal times
  numerator, denominator, qpm = 4, 4, _DEFAULT_QPM
  splits = [0.0]
  for time, kind, a, b in events:
    if not time < total:
      continue
    if kind == 0:
      if a == numerator and b == denominator:
        continue
    elif a == qpm:
      continue
    if time > splits[-1]:
      splits.append(time)
    if kind == 0:
      numerator, denominator = a, b
    else:
      qpm = a
  if total > splits[-1]:
    splits.append(total)
  return splits if len(splits) > 1 else []


def _piece_events(events, splits):
  """Which time signatures / tempos each piece holds, in stored order.

  `events`: [(time, value)] of one kind. Mirrors _extract_subsequences: the
  last event at or before a piece's start is copied to its time 0; events
  inside a piece keep their (shifted) time.
  """
  n = len(splits)
  pieces = [[] for _ in range(n - 1)]
  previous = None
  index = -1
  for time, value in sorted(events, key=lambda e: e[0]):
    if time <= splits[0]:
      previous = value
      continue
    while index < n - 1 and time > splits[index + 1]:
      index += 1
      if index == n - 1:
        break
      if previous is not None:
        pieces[index].append((0.0, previous))
    if index == n - 1:
      break
    if time < splits[index + 1]:
      pieces[index].append((time - splits[index], value))
    previous = value
  while index < n - 2:
    index += 1
    if previous is not None:
      pieces[index].append((0.0, previous))
  return pieces


def _is_power_of_2(x):
  return bool(x) and not x & (x - 1)


def _quantize_error(time_signatures, tempos):
  """The statistic quantize_note_sequence's error would count, or None; plus meter and qpm."""
  if time_signatures:
    ordered = sorted(time_signatures, key=lambda e: e[0])
    if ordered[0][0] != 0 and ordered[0][1] != (4, 4):
      return 'sequences_discarded_because_multiple_time_signatures', None, None
    if any(ts[1] != time_signatures[0][1] for ts in ordered[1:]):
      return 'sequences_discarded_because_multiple_time_signatures', None, None
    numerator, denominator = time_signatures[0][1]
  else:
    numerator, denominator = 4, 4
  if not _is_power_of_2(denominator) or numerator == 0:
    return 'sequences_discarded_because_bad_time_signature', None, None
  if tempos:
    ordered = sorted(tempos, key=lambda e: e[0])
    if ordered[0][0] != 0 and ordered[0][1] != _DEFAULT_QPM:
      return 'sequences_discarded_because_multiple_tempos', None, None
    if any(t[1] != tempos[0][1] for t in ordered[1:]):
      return 'sequences_discarded_because_multiple_tempos', None, None
    qpm = tempos[0][1]
  else:
    qpm = _DEFAULT_QPM
  return None, (numerator, denominator), qpm


@dataclasses.dataclass
class OnsetPiece:
  """The drum onsets of one quantized piece: what extract_from_onsets needs."""
  steps: np.ndarray
  pitches: np.ndarray
  steps_per_bar: float
  steps_per_quarter: int


def drum_onset_pieces(sequence, steps_per_quarter,
                      stats: Optional[ExtractionStats] = None) -> List[OnsetPiece]:
  """split_note_sequence_on_time_changes + quantize_note_sequence, on arrays.

  Same pieces, same drops (counted like quantize_pieces), same quantized
  start steps as note-seq, without building the intermediate protos.
  """
  stats = stats if stats is not None else ExtractionStats()
  counts = stats.counts
  splits = _split_times(sequence)
  if not splits:
    return []
  notes = sequence.notes
  n = len(notes)
  start = np.fromiter((x.start_time for x in notes), dtype=np.float64, count=n)
  end = np.fromiter((x.end_time for x in notes), dtype=np.float64, count=n)
  drum = np.fromiter((x.is_drum and x.velocity != 0 for x in notes), dtype=bool, count=n)
  pitch = np.fromiter((x.pitch for x in notes), dtype=np.int64, count=n)
  # Piece of each note by start time; notes before 0 or from the end on are dropped.
  bounds = np.asarray(splits, dtype=np.float64)
  piece = np.searchsorted(bounds[1:], start, side='right')
  piece[start < bounds[0]] = -1
  time_signatures = _piece_events(
      [(ts.time, (ts.numerator, ts.denominator)) for ts in sequence.time_signatures], splits)
  tempos = _piece_events([(t.time, t.qpm) for t in sequence.tempos], splits)
  result = []
  for k in range(len(splits) - 1):
    counts['pieces'] += 1
    error, meter, qpm = _quantize_error(time_signatures[k], tempos[k])
    if error:
      counts[error] += 1
      continue
    mask = piece == k
    steps_per_second = steps_per_quarter * qpm / 60.0
    shifted_start = start[mask] - splits[k]
    shifted_end = np.minimum(end[mask], splits[k + 1]) - splits[k]
    q_start = (shifted_start * steps_per_second + 0.5).astype(np.int64)  # int(): toward zero
    q_end = (shifted_end * steps_per_second + 0.5).astype(np.int64)
    q_end = np.where(q_end == q_start, q_end + 1, q_end)
    if (q_start < 0).any() or (q_end < 0).any():
      counts['sequences_discarded_because_negative_time'] += 1
      continue
    numerator, denominator = meter
    steps_per_bar = steps_per_quarter * ((4.0 / denominator) * numerator)
    keep = drum[mask]
    result.append(OnsetPiece(q_start[keep], pitch[mask][keep], steps_per_bar, steps_per_quarter))
  return result


def extract_drum_tracks(sequence, config, min_bars=MIN_BARS, max_steps=MAX_STEPS,
                        gap_bars=GAP_BARS, split_long_tracks=False,
                        stats: Optional[ExtractionStats] = None,
                        use_note_seq=False) -> List[DrumTrack]:
  """All drum tracks of one NoteSequence for `config` (split, quantize, extract).

  Args:
    sequence: a NoteSequence (not quantized).
    config: a DrumsRnnConfig (gives steps per quarter and the encoding).
    min_bars, max_steps, gap_bars, split_long_tracks: see extract_from_quantized.
    stats: an ExtractionStats to add counts to.
    use_note_seq: split and quantize with note-seq's sequences_lib protos
      (the reference) instead of the array version; same result, slower.
  """
  stats = stats if stats is not None else ExtractionStats()
  options = dict(min_bars=min_bars, max_steps=max_steps, gap_bars=gap_bars,
                 split_long_tracks=split_long_tracks, stats=stats)
  tracks = []
  if use_note_seq:
    for quantized in quantize_pieces(sequence, config.steps_per_quarter, stats):
      tracks.extend(extract_from_quantized(quantized, config.encoding, **options))
  else:
    for piece in drum_onset_pieces(sequence, config.steps_per_quarter, stats):
      tracks.extend(extract_from_onsets(piece.steps, piece.pitches, piece.steps_per_bar,
                                        piece.steps_per_quarter, config.encoding, **options))
  return tracks


def format_stats(stats: ExtractionStats) -> Dict[str, int]:
  """Magenta-style `name: n` counters (non-zero ones), sorted by name."""
  return {k: v for k, v in sorted(stats.counts.items()) if v}
