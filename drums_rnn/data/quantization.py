"""Stages 1 and 2 of drum extraction: split a NoteSequence at time changes and quantize it.

Two implementations of the same rules (Magenta's
``sequences_lib.split_note_sequence_on_time_changes`` then
``quantize_note_sequence``): :func:`quantize_pieces` runs note-seq itself (the
reference), :func:`drum_onset_pieces` applies the same rules with the same
float arithmetic to arrays of drum onsets (note-seq deep-copies the proto twice
per piece, two thirds of the time per sequence). Tests check they agree. A
piece that cannot be quantized is dropped and counted in
:class:`~drums_rnn.data.extraction_stats.ExtractionStats` under Magenta's names.
"""

import dataclasses
from typing import List, Optional

import numpy as np
from note_seq import sequences_lib

from drums_rnn.data.extraction_stats import ExtractionStats

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
