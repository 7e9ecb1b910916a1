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

Stages 1 and 2 live in :mod:`drums_rnn.data.quantization` (through note-seq itself
with ``use_note_seq=True``, or by default on arrays, tested equal). Stage 3 is done here with
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

import dataclasses
from typing import List, Optional

import numpy as np
from note_seq import sequences_lib

from drums_rnn import encoding as encoding_lib
from drums_rnn.data.extraction_stats import ExtractionStats  # noqa: F401  (used by callers as extraction.*)
from drums_rnn.data.extraction_stats import PIECE_DROP_REASONS  # noqa: F401
from drums_rnn.data.extraction_stats import format_stats  # noqa: F401
from drums_rnn.data.quantization import drum_onset_pieces
from drums_rnn.data.quantization import quantize_pieces

MIN_BARS = 7
MAX_STEPS = 512
GAP_BARS = 1.0

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
