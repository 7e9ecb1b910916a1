"""Drum-track extraction follows Magenta's DrumsExtractor / note-seq's DrumTrack rules.

Three kinds of evidence:
* the cases of Magenta's drum_pipelines_test and note-seq's drums_lib_test,
  rebuilt here as hand-made NoteSequences;
* equality with a reference extractor built from note-seq's own
  ``DrumTrack.from_quantized_sequence`` loop, on random and Groove sequences;
* equality of the array split+quantize path with sequences_lib's protos,
  on fuzzed sequences full of tempo/meter changes and odd times.
"""

import collections

import numpy as np
import pytest

import note_seq
from note_seq import sequences_lib
from note_seq.protobuf import music_pb2

from drums_rnn import configs
from drums_rnn import encoding
from drums_rnn.data import extraction
from drums_rnn.data import quantization
from tests import helpers

KIT = configs.get_config('drum_kit')
ONE = configs.get_config('one_drum')


def seq_with_notes(notes, qpm=60.0, numerator=4, denominator=4, is_drum=True):
  """A NoteSequence with (pitch, velocity, start, end) notes, like note-seq's add_track_to_sequence."""
  seq = music_pb2.NoteSequence()
  seq.tempos.add(qpm=qpm)
  seq.time_signatures.add(numerator=numerator, denominator=denominator)
  add_notes(seq, notes, is_drum=is_drum)
  return seq


def add_notes(seq, notes, instrument=0, is_drum=True):
  for pitch, velocity, start, end in notes:
    seq.notes.add(pitch=pitch, velocity=velocity, start_time=start, end_time=end,
                  instrument=instrument, is_drum=is_drum)
    seq.total_time = max(seq.total_time, end)


def events_of(tracks):
  return [t.events() for t in tracks]


def quantized(seq, spq=1):
  return sequences_lib.quantize_note_sequence(seq, steps_per_quarter=spq)


D = lambda *p: frozenset(p)  # noqa: E731
_ = frozenset()


# --- Magenta's drum_pipelines_test, rebuilt ------------------------------------------

def test_only_drum_notes_count_and_velocity_1_counts():
  seq = seq_with_notes([(12, 100, 2, 4), (11, 1, 6, 7), (12, 1, 6, 8)])
  add_notes(seq, [(12, 127, 2, 4), (14, 50, 6, 8)], instrument=1, is_drum=False)
  tracks = extraction.extract_from_quantized(quantized(seq), min_bars=1, gap_bars=1)
  assert events_of(tracks) == [[_, _, D(12), _, _, _, D(11, 12)]]
  assert tracks[0].steps_per_bar == 4 and tracks[0].start_step == 0


def test_simultaneous_pitches_of_several_instruments_merge():
  seq = seq_with_notes([(12, 100, 2, 4), (11, 1, 6, 7)])
  add_notes(seq, [(12, 127, 2, 4), (14, 50, 6, 9)], instrument=1)
  tracks = extraction.extract_from_quantized(quantized(seq), min_bars=1, gap_bars=1)
  assert events_of(tracks) == [[_, _, D(12), _, _, _, D(11, 14)]]


def test_gap_splits_two_tracks():
  seq = seq_with_notes([(12, 100, 2, 4), (11, 1, 6, 11)])
  add_notes(seq, [(12, 127, 2, 4), (14, 50, 6, 8), (50, 100, 33, 37), (52, 100, 37, 38)],
            instrument=1)
  tracks = extraction.extract_from_quantized(quantized(seq), min_bars=1, gap_bars=2)
  assert events_of(tracks) == [[_, _, D(12), _, _, _, D(11, 14)],
                               [_, D(50), _, _, _, D(52)]]
  assert [t.start_step for t in tracks] == [0, 32]


def test_too_short():
  stats = extraction.ExtractionStats()
  seq = seq_with_notes([(12, 127, 3, 4), (14, 50, 6, 7)])
  assert extraction.extract_from_quantized(quantized(seq), min_bars=2, gap_bars=1,
                                           stats=stats) == []
  assert stats['drum_tracks_discarded_too_short'] == 1
  seq = seq_with_notes([(12, 127, 3, 4), (14, 50, 7, 8)])
  tracks = extraction.extract_from_quantized(quantized(seq), min_bars=2, gap_bars=1)
  assert events_of(tracks) == [[_, _, _, D(12), _, _, _, D(14)]]


def test_too_long_is_truncated():
  stats = extraction.ExtractionStats()
  seq = seq_with_notes([(12, 127, 2, 4), (14, 50, 6, 15), (14, 50, 10, 15), (16, 100, 14, 19)])
  tracks = extraction.extract_from_quantized(quantized(seq), min_bars=1, max_steps=14,
                                             gap_bars=1, stats=stats)
  assert events_of(tracks) == [[_, _, D(12), _, _, _, D(14), _, _, _, D(14), _, _, _]]
  assert stats['drum_tracks_truncated'] == 1
  assert stats.lengths_in_bars == {3: 1}


def test_late_start_aligns_to_the_bar_of_the_first_note():
  seq = seq_with_notes([(12, 100, 102, 103), (13, 100, 104, 106)])
  tracks = extraction.extract_from_quantized(quantized(seq), min_bars=1, gap_bars=1)
  assert events_of(tracks) == [[_, _, D(12), _, D(13)]]
  assert tracks[0].start_step == 100


def test_zero_velocity_and_non_drum_only():
  stats = extraction.ExtractionStats()
  seq = seq_with_notes([(36, 0, 0, 1)])
  add_notes(seq, [(36, 100, 1, 2)], is_drum=False)
  assert extraction.extract_from_quantized(quantized(seq), stats=stats) == []
  assert stats['sequences_without_drum_notes'] == 1


def test_ignore_is_drum_like_magentas_primer_extraction():
  # Magenta's primer: every note counts, one track from the first note's bar to the last note.
  seq = seq_with_notes([(60, 100, 5, 6)], is_drum=False)
  add_notes(seq, [(36, 100, 30, 31)], is_drum=True)
  q = quantized(seq)
  tracks = extraction.extract_from_quantized(q, min_bars=0, max_steps=None,
                                             gap_bars=float('inf'), ignore_is_drum=True)
  assert [t.start_step for t in tracks] == [4] and len(tracks[0]) == 27
  assert tracks[0].events()[1] == D(60) and tracks[0].events()[26] == D(36)
  track = note_seq.DrumTrack()
  track.from_quantized_sequence(q, gap_bars=float('inf'), ignore_is_drum=True)
  assert list(track) == tracks[0].events()


# --- note-seq's drums_lib_test from_quantized_sequence cases --------------------------

def test_seven_eight_meter():
  # 7/8 at 1 step per quarter is 3.5 steps per bar: not a whole number.
  stats = extraction.ExtractionStats()
  seq = seq_with_notes([(36, 100, 0, 1)], numerator=7, denominator=8)
  assert extraction.extract_from_quantized(quantized(seq), min_bars=1, stats=stats) == []
  assert stats['non_integer_steps_per_bar'] == 1
  # At 4 steps per quarter 7/8 has 14 steps per bar; at 12, 42.
  q = quantized(seq_with_notes([(36, 100, 0, 1), (38, 100, 3, 4)], numerator=7, denominator=8), 4)
  tracks = extraction.extract_from_quantized(q, min_bars=0)
  assert tracks[0].steps_per_bar == 14 and len(tracks[0]) == 13
  q = quantized(seq_with_notes([(36, 100, 0, 1)], numerator=7, denominator=8), 12)
  assert extraction.extract_from_quantized(q, min_bars=0)[0].steps_per_bar == 42


def test_leading_empty_steps_from_the_bar_start():
  # 4/4 at 4 spq and 60 qpm: one step = 0.25 s. First onset at step 6 -> track starts at 0.
  seq = seq_with_notes([(36, 100, 1.5, 1.75), (38, 100, 2.0, 2.25)])
  tracks = extraction.extract_from_quantized(quantized(seq, 4), min_bars=0)
  assert tracks[0].start_step == 0 and len(tracks[0]) == 9
  assert tracks[0].events()[6] == D(36) and tracks[0].events()[8] == D(38)


# --- equality with note-seq's DrumTrack loop ------------------------------------------

def reference_tracks(quantized_seq, min_bars=7, max_steps=512, gap_bars=1.0):
  """Magenta's extract_drum_tracks loop, written with note-seq's DrumTrack."""
  tracks, search = [], 0
  spb = sequences_lib.steps_per_bar_in_quantized_sequence(quantized_seq)
  if spb % 1:
    return None
  while True:
    track = note_seq.DrumTrack()
    track.from_quantized_sequence(quantized_seq, search_start_step=search, gap_bars=gap_bars)
    search = track.end_step + (search - track.end_step) % int(spb)
    if not track:
      return tracks
    if len(track) < track.steps_per_bar * min_bars:
      continue
    if max_steps and len(track) > max_steps:
      track.set_length(max_steps)
    tracks.append(track)


def assert_same_tracks(quantized_seq, enc=encoding.DRUM_KIT, **kwargs):
  expected = reference_tracks(quantized_seq, **kwargs)
  got = extraction.extract_from_quantized(quantized_seq, enc, **kwargs)
  if expected is None:
    assert got == []
    return 0
  assert [list(t) for t in expected] == events_of(got)
  assert [t.start_step for t in expected] == [t.start_step for t in got]
  for t, g in zip(expected, got):
    np.testing.assert_array_equal(enc.classes_from_events(list(t)), g.classes)
  return len(got)


def random_drum_sequence(rng, spq):
  """Drum hits in bursts with silences of random length, some unmapped/zero-velocity/non-drum."""
  seq = music_pb2.NoteSequence()
  seq.tempos.add(qpm=float(rng.choice([60.0, 97.0, 120.0])))
  num, den = [(4, 4), (3, 4), (6, 8), (7, 8), (5, 4)][rng.integers(5)]
  seq.time_signatures.add(numerator=num, denominator=den)
  step_s = 60.0 / seq.tempos[0].qpm / spq
  step = int(rng.integers(0, 40))
  for _ in range(int(rng.integers(0, 400))):
    step += int(rng.choice([1, 1, 2, 3, 5, 8, 14, 16, 17, 30, 64]) if rng.random() < 0.97 else 200)
    t = step * step_s + rng.normal(0, step_s / 6)
    seq.notes.add(pitch=int(rng.integers(20, 100)), velocity=int(rng.choice([0, 1, 80, 127])),
                  start_time=max(t, 0.0), end_time=max(t, 0.0) + step_s,
                  is_drum=bool(rng.random() < 0.95), instrument=int(rng.integers(3)))
  seq.total_time = max([n.end_time for n in seq.notes], default=0.0)
  return seq


@pytest.mark.parametrize('spq', [1, 2, 4])
def test_random_sequences_equal_note_seq(spq):
  rng = np.random.default_rng(spq)
  total = 0
  for _ in range(15):
    q = quantized(random_drum_sequence(rng, spq), spq)
    total += assert_same_tracks(q, min_bars=2, max_steps=64)
    total += assert_same_tracks(q, min_bars=7, max_steps=512)
    total += assert_same_tracks(q, min_bars=1, max_steps=None, gap_bars=2.0)
  assert total > 10


@pytest.mark.groove
@pytest.mark.parametrize('config', [KIT, ONE], ids=['drum_kit', 'one_drum'])
def test_groove_equals_note_seq(config):
  count = 0
  for path in helpers.groove_files(split='validation', limit=6):
    sequence = note_seq.midi_file_to_note_sequence(path)
    for q in quantization.quantize_pieces(sequence, config.steps_per_quarter):
      count += assert_same_tracks(q, config.encoding)
  assert count > 0


# --- array split+quantize == sequences_lib ---------------------------------------------

def note_seq_pieces(sequence, spq):
  """(pieces as comparable tuples, counts) through sequences_lib's protos."""
  stats = extraction.ExtractionStats()
  pieces = []
  for q in quantization.quantize_pieces(sequence, spq, stats):
    onsets = sorted((n.quantized_start_step, n.pitch) for n in q.notes
                    if n.is_drum and n.velocity != 0)
    pieces.append((sequences_lib.steps_per_bar_in_quantized_sequence(q), onsets))
  return pieces, stats.counts


def array_pieces(sequence, spq):
  stats = extraction.ExtractionStats()
  pieces = [(p.steps_per_bar, sorted(zip(p.steps.tolist(), p.pitches.tolist())))
            for p in quantization.drum_onset_pieces(sequence, spq, stats)]
  return pieces, stats.counts


def fuzz_sequence(rng):
  """Random tempo and meter changes (incl. duplicates, bad meters, events at split times),
  notes with odd times (negative start, end before start, zero length at the end)."""
  seq = music_pb2.NoteSequence()
  total = float(rng.choice([0.0, 3.0, 10.0, 31.7]))
  times = [0.0, 0.0, 1.0, 2.5, 3.0, 4.0, 7.25, 10.0, 12.0, total]
  for _ in range(int(rng.integers(0, 5))):
    num, den = [(4, 4), (3, 4), (6, 8), (4, 4), (3, 3), (0, 4), (5, 16)][rng.integers(7)]
    seq.time_signatures.add(time=float(rng.choice(times)), numerator=num, denominator=den)
  for _ in range(int(rng.integers(0, 5))):
    seq.tempos.add(time=float(rng.choice(times)), qpm=float(rng.choice([120.0, 60.0, 93.5])))
  for _ in range(int(rng.integers(0, 60))):
    start = float(rng.choice([rng.uniform(-0.5, total + 1), rng.choice(times)]))
    end = start + float(rng.choice([0.0, 0.1, 0.5, 3.0, -2.0]))
    seq.notes.add(pitch=int(rng.integers(0, 128)), velocity=int(rng.choice([0, 100])),
                  start_time=start, end_time=end, is_drum=bool(rng.random() < 0.8))
  seq.total_time = total
  return seq


def test_array_pieces_equal_sequences_lib_on_fuzz():
  rng = np.random.default_rng(7)
  reasons = collections.Counter()
  for _ in range(300):
    seq = fuzz_sequence(rng)
    for spq in (2, 4):
      expected = note_seq_pieces(seq, spq)
      assert array_pieces(seq, spq) == expected, seq
      reasons.update(expected[1])
  # The fuzz reaches the drop reasons that survive the time-change split (after
  # it a piece never holds two meters or two tempos, so note-seq's
  # Multiple*Error cannot fire; test_quantize_errors_* cover those rules).
  for key in ('sequences_discarded_because_bad_time_signature',
              'sequences_discarded_because_negative_time'):
    assert reasons[key] > 0, key
  assert reasons['pieces'] > 500


@pytest.mark.groove
def test_array_pieces_equal_sequences_lib_on_groove():
  for path in helpers.groove_files(limit=25):
    sequence = note_seq.midi_file_to_note_sequence(path)
    for spq in (2, 4):
      assert array_pieces(sequence, spq) == note_seq_pieces(sequence, spq)


@pytest.mark.parametrize('time_signatures,tempos,reason', [
    ([(1.0, (3, 4))], [], 'multiple_time_signatures'),
    ([(0.0, (3, 4)), (2.0, (6, 8))], [], 'multiple_time_signatures'),
    ([(0.0, (4, 4)), (2.0, (4, 4))], [], None),
    ([(1.0, (4, 4))], [], None),
    ([(0.0, (3, 3))], [], 'bad_time_signature'),
    ([(0.0, (0, 4))], [], 'bad_time_signature'),
    ([], [(1.0, 90.0)], 'multiple_tempos'),
    ([], [(1.0, 120.0)], None),
    ([], [(0.0, 90.0), (3.0, 91.0)], 'multiple_tempos'),
    ([(1.0, (3, 4))], [(1.0, 90.0)], 'multiple_time_signatures'),
])
def test_quantize_errors_match_note_seq(time_signatures, tempos, reason):
  # Pieces as sequences_lib's splitter never makes them, straight into the quantizer rules.
  expected = None
  seq = music_pb2.NoteSequence()
  for time, (num, den) in time_signatures:
    seq.time_signatures.add(time=time, numerator=num, denominator=den)
  for time, qpm in tempos:
    seq.tempos.add(time=time, qpm=qpm)
  try:
    sequences_lib.quantize_note_sequence(seq, 4)
  except sequences_lib.MultipleTimeSignatureError:
    expected = 'multiple_time_signatures'
  except sequences_lib.BadTimeSignatureError:
    expected = 'bad_time_signature'
  except sequences_lib.MultipleTempoError:
    expected = 'multiple_tempos'
  assert expected == reason
  error, _, _ = quantization._quantize_error(  # pylint: disable=protected-access
      [(t, m) for t, m in time_signatures], [(t, q) for t, q in tempos])
  assert error == (reason and 'sequences_discarded_because_' + reason)


def test_extract_drum_tracks_both_paths_agree():
  rng = np.random.default_rng(3)
  for _ in range(12):
    seq = random_drum_sequence(rng, 4)
    seq.tempos.add(time=seq.total_time / 2, qpm=150.0)
    for config in (KIT, ONE):
      s1, s2 = extraction.ExtractionStats(), extraction.ExtractionStats()
      a = extraction.extract_drum_tracks(seq, config, stats=s1)
      b = extraction.extract_drum_tracks(seq, config, stats=s2, use_note_seq=True)
      assert [t.classes.tolist() for t in a] == [t.classes.tolist() for t in b]
      assert s1 == s2


# --- split_long_tracks ------------------------------------------------------------------

def long_beat(bars, spq=4):
  return helpers.drum_sequence(helpers.basic_beat(bars), steps_per_quarter=spq)


def test_long_track_truncated_by_default():
  stats = extraction.ExtractionStats()
  tracks = extraction.extract_drum_tracks(long_beat(50), KIT, stats=stats)
  assert [len(t) for t in tracks] == [512]
  assert stats['drum_tracks_truncated'] == 1
  stats.check()


def test_split_long_tracks_cuts_bar_aligned_windows():
  # 50 bars of 16 steps: the track runs to the last hit (step 799 - 1 = 798 -> 799 steps).
  stats = extraction.ExtractionStats()
  plain = extraction.extract_drum_tracks(long_beat(50), KIT)[0]
  tracks = extraction.extract_drum_tracks(long_beat(50), KIT, split_long_tracks=True, stats=stats)
  full = len(extraction.extract_drum_tracks(long_beat(50), KIT, max_steps=None)[0])
  assert [len(t) for t in tracks] == [512, full - 512]
  assert [t.start_step for t in tracks] == [0, 512]
  assert all(t.start_step % 16 == 0 for t in tracks)
  np.testing.assert_array_equal(tracks[0].classes, plain.classes)
  whole = extraction.extract_drum_tracks(long_beat(50), KIT, max_steps=None)[0].classes
  np.testing.assert_array_equal(np.concatenate([t.classes for t in tracks]), whole)
  assert stats['drum_tracks_split'] == 1 and stats['drum_track_windows_added'] == 1
  assert stats['drum_tracks_truncated'] == 0
  stats.check()


def test_split_long_tracks_drops_a_short_tail():
  # 35 bars: windows of 32 bars + a 3-bar tail (< 7 bars) that is dropped.
  stats = extraction.ExtractionStats()
  tracks = extraction.extract_drum_tracks(long_beat(35), KIT, split_long_tracks=True, stats=stats)
  assert [len(t) for t in tracks] == [512]
  assert stats['drum_track_tails_discarded_too_short'] == 1
  stats.check()


def test_split_long_tracks_in_three_four():
  # 3/4 at 4 spq: 12 steps per bar, so windows are 42 bars = 504 steps.
  hits = [(s, 36) for s in range(0, 1200, 3)]
  seq = helpers.drum_sequence(hits, numerator=3, denominator=4)
  tracks = extraction.extract_drum_tracks(seq, KIT, split_long_tracks=True)
  assert [t.start_step for t in tracks] == [0, 504, 1008]
  assert [len(t) for t in tracks] == [504, 504, 1198 - 1008]


def test_onsets_follow_windows():
  tracks = extraction.extract_drum_tracks(long_beat(50), KIT, split_long_tracks=True)
  for t in tracks:
    np.testing.assert_array_equal(KIT.encoding.classes_from_events(t.events()), t.classes)


# --- statistics ---------------------------------------------------------------------------

def test_stats_add_up_and_histogram_buckets():
  stats = extraction.ExtractionStats()
  for bars in (3, 7, 9, 12, 40):
    extraction.extract_drum_tracks(long_beat(bars), KIT, stats=stats)
  stats.check()
  c = stats.counts
  assert c['pieces'] == 5 and c['drum_tracks_found'] == 5
  assert c['drum_tracks_discarded_too_short'] == 2  # 3 bars, and 7 bars minus the last rest
  assert dict(stats.histogram()) == {'[8,10)': 1, '[10,20)': 1, '[30,40)': 1}
  both = stats + stats
  assert both['drum_tracks_out'] == 2 * c['drum_tracks_out']


def test_time_change_pieces_are_counted():
  seq = long_beat(10)
  seq.time_signatures.add(time=seq.total_time / 2, numerator=3, denominator=4)
  stats = extraction.ExtractionStats()
  extraction.extract_drum_tracks(seq, KIT, stats=stats)
  assert stats['pieces'] == 2
