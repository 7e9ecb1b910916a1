"""The vectorised encoding equals note-seq's own encoder-decoders, value for value.

note-seq builds one Python list per step; `drums_rnn.encoding` builds whole
arrays. These tests run both on the same tracks (random ones with unmapped
pitches, empty steps and lengths 1..600, and real Groove tracks) and demand
identical inputs and labels, plus the spec's worked examples and the strict
hparams parser.
"""

import numpy as np
import pytest

import note_seq
from note_seq import drums_encoder_decoder
from note_seq import encoder_decoder

from drums_rnn import configs
from drums_rnn import encoding
from drums_rnn.errors import DrumsRnnError
from tests import helpers


def note_seq_one_drum():
  """Magenta's one_drum encoder: one class holding 39 then every pitch."""
  return encoder_decoder.OneHotEventSequenceEncoderDecoder(
      drums_encoder_decoder.MultiDrumOneHotEncoding([[39] + list(range(0, 39)) + list(range(39, 128))]))


def note_seq_drum_kit():
  """Magenta's drum_kit encoder: 9 classes, no lookbacks, 6 binary counters."""
  return encoder_decoder.LookbackEventSequenceEncoderDecoder(
      drums_encoder_decoder.MultiDrumOneHotEncoding(), lookback_distances=[], binary_counter_bits=6)


CASES = [(encoding.ONE_DRUM, note_seq_one_drum), (encoding.DRUM_KIT, note_seq_drum_kit)]


def random_events(rng, length):
  """A list of pitch frozensets: ~half empty, pitches anywhere in 0..127."""
  events = []
  for _ in range(length):
    if rng.random() < 0.5:
      events.append(frozenset())
    else:
      events.append(frozenset(int(p) for p in rng.integers(0, 128, size=rng.integers(1, 6))))
  return events


def assert_same_encoding(enc, reference, events):
  ref_inputs, ref_labels = reference.encode(events)
  classes = enc.classes_from_events(events)
  inputs, labels = enc.encode(classes)
  assert inputs.dtype == np.float32 and labels.dtype == np.int64
  assert inputs.shape == (max(len(events) - 1, 0), reference.input_size)
  np.testing.assert_array_equal(inputs, np.asarray(ref_inputs, dtype=np.float32).reshape(inputs.shape))
  np.testing.assert_array_equal(labels, np.asarray(ref_labels, dtype=np.int64))
  # Classes agree with note-seq's per-event encoding too.
  one_hot = reference._one_hot_encoding  # pylint: disable=protected-access
  np.testing.assert_array_equal(classes, [one_hot.encode_event(e) for e in events])


@pytest.mark.parametrize('enc,make_reference', CASES, ids=['one_drum', 'drum_kit'])
def test_sizes_match_note_seq(enc, make_reference):
  reference = make_reference()
  assert enc.input_size == reference.input_size
  assert enc.num_classes == reference.num_classes
  assert enc.no_event_class == reference.default_event_label


@pytest.mark.parametrize('enc,make_reference', CASES, ids=['one_drum', 'drum_kit'])
def test_random_tracks_equal_note_seq(enc, make_reference):
  reference = make_reference()
  rng = np.random.default_rng(1234)
  lengths = [1, 2, 3, 17, 64, 65, 600] + [int(n) for n in rng.integers(1, 601, size=12)]
  for length in lengths:
    assert_same_encoding(enc, reference, random_events(rng, length))


@pytest.mark.parametrize('enc,make_reference', CASES, ids=['one_drum', 'drum_kit'])
def test_all_silent_and_all_unmapped_tracks(enc, make_reference):
  reference = make_reference()
  assert_same_encoding(enc, reference, [frozenset()] * 40)
  assert_same_encoding(enc, reference, [frozenset({0, 127, 23})] * 40)


@pytest.mark.groove
@pytest.mark.parametrize('enc,make_reference', CASES, ids=['one_drum', 'drum_kit'])
def test_groove_tracks_equal_note_seq(enc, make_reference):
  reference = make_reference()
  spq = 2 if enc is encoding.ONE_DRUM else 4
  tracks = 0
  for path in helpers.groove_files(split='validation', limit=4):
    sequence = note_seq.midi_file_to_note_sequence(path)
    for piece in note_seq.sequences_lib.split_note_sequence_on_time_changes(sequence):
      quantized = note_seq.sequences_lib.quantize_note_sequence(piece, spq)
      for track in _extract(quantized):
        assert_same_encoding(enc, reference, list(track))
        tracks += 1
  assert tracks > 0


def _extract(quantized):
  """Drum tracks the way Magenta's extractor finds them (note-seq has no extract_drum_tracks)."""
  tracks, search = [], 0
  while True:
    track = note_seq.DrumTrack()
    track.from_quantized_sequence(quantized, search_start_step=search, gap_bars=1.0)
    search = track.end_step + (search - track.end_step) % track.steps_per_bar if track.steps_per_bar else 0
    if not track:
      return tracks
    if len(track) >= 7 * track.steps_per_bar:
      if len(track) > 512:
        track.set_length(512)
      tracks.append(track)


def test_spec_examples():
  kit = encoding.DRUM_KIT
  assert kit.event_to_class({36, 35}) == 1
  assert kit.event_to_class({100}) == 0
  assert kit.event_to_class(set(kit.decode_pitches)) == 511
  assert kit.event_to_class({36, 42}) == 5
  assert kit.decode_pitches == (36, 38, 42, 46, 45, 48, 50, 49, 51)
  assert kit.class_to_pitches(0) == frozenset()
  assert kit.class_to_pitches(7) == frozenset({36, 38, 42})
  np.testing.assert_array_equal(
      kit.binary_counters(np.arange(3)),
      [[1, -1, -1, -1, -1, -1], [-1, 1, -1, -1, -1, -1], [1, 1, -1, -1, -1, -1]])
  assert kit.input_size == 518 and kit.num_classes == 512
  one = encoding.ONE_DRUM
  assert one.input_size == 2 and one.num_classes == 2
  assert one.class_to_pitches(1) == frozenset({39})
  assert all(one.event_to_class({p}) == 1 for p in range(128))
  # A 512-step track gives 511 (input, label) pairs.
  inputs, labels = kit.encode(np.zeros(512, np.int64))
  assert inputs.shape == (511, 518) and labels.shape == (511,)


def test_mapped_pitches_are_magentas():
  mapped = {p for p in range(128) if encoding.DRUM_KIT.pitch_bits[p]}
  assert mapped == {22} | set(range(26, 88))


def test_classes_from_onsets_ignores_out_of_range_pitches():
  classes = encoding.DRUM_KIT.classes_from_onsets([0, 0, 1, 2], [36, 200, -5, 38], 3)
  np.testing.assert_array_equal(classes, [1, 0, 2])


# --- configs -----------------------------------------------------------------

def test_config_hparams_defaults():
  kit = configs.get_config('drum_kit').hparams()
  assert kit.rnn_layer_sizes == [256, 256, 256] and kit.attn_length == 32 and kit.batch_size == 128
  one = configs.get_config('one_drum').hparams()
  assert one.clip_norm == 5 and one.attn_length == 0 and one.rnn_layer_sizes == [128, 128]
  assert configs.get_config('one_drum').steps_per_quarter == 2
  assert configs.get_config('drum_kit').steps_per_quarter == 4


def test_hparams_parsing():
  hp = configs.get_config('drum_kit').hparams('batch_size=64,rnn_layer_sizes=[64,64],use_cudnn=true')
  assert hp.batch_size == 64 and hp.rnn_layer_sizes == [64, 64] and hp.use_cudnn is True
  hp = configs.get_config('drum_kit').hparams('learning_rate=1')
  assert hp.learning_rate == 1.0 and isinstance(hp.learning_rate, float)


@pytest.mark.parametrize('text,key', [
    ('batch_sise=64', 'batch_sise'),
    ('clip_norm=2.5', 'clip_norm'),
    ('attn_length=abc', 'attn_length'),
    ('rnn_layer_sizes=64', 'rnn_layer_sizes'),
    ('residual_connections=3', 'residual_connections'),
])
def test_bad_hparams_name_the_key(text, key):
  with pytest.raises(DrumsRnnError, match=key):
    configs.get_config('drum_kit').hparams(text)


def test_unknown_config():
  with pytest.raises(DrumsRnnError, match='unknown config'):
    configs.get_config('three_drum')
