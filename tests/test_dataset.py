"""create_dataset: Magenta's SequenceExample files, reproducible splits, clear errors.

The compatibility test builds the expected examples the way Magenta does:
note-seq's splitter and quantizer, note-seq's DrumTrack extraction loop,
note-seq's own per-step encoder-decoder, and a tf.train.SequenceExample laid
out like pipelines_common.make_sequence_example; ours must equal them.
"""

import os
import random

import numpy as np
import pytest
import tensorflow as tf

import note_seq
from note_seq import sequences_lib

from drums_rnn import configs
from drums_rnn.data import dataset
from drums_rnn.data import note_sequences
from drums_rnn.data import sequence_example
from drums_rnn.data import tfrecord
from drums_rnn.errors import DrumsRnnError
from tests import helpers
from tests import test_encoding
from tests import test_extraction

KIT = configs.get_config('drum_kit')
ONE = configs.get_config('one_drum')


def magenta_sequence_example(inputs, labels):
  """pipelines_common.make_sequence_example, restated."""
  input_features = [tf.train.Feature(float_list=tf.train.FloatList(value=row)) for row in inputs]
  label_features = [tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))
                    for label in labels]
  feature_list = {'inputs': tf.train.FeatureList(feature=input_features),
                  'labels': tf.train.FeatureList(feature=label_features)}
  return tf.train.SequenceExample(feature_lists=tf.train.FeatureLists(feature_list=feature_list))


def beat_sequences(n, bars=(9, 12, 40, 3)):
  seqs = []
  for i in range(n):
    seq = helpers.drum_sequence(helpers.basic_beat(bars[i % len(bars)]), seq_id=f'/id/test/{i}')
    seq.filename = f'beat{i}.mid'
    seqs.append(seq)
  return seqs


def write_note_sequences(path, sequences):
  with tfrecord.open_writer(str(path)) as writer:
    for seq in sequences:
      writer.write(seq.SerializeToString())
  return str(path)


def read_examples(path):
  return [tf.train.SequenceExample.FromString(r)
          for r in tf.data.TFRecordDataset(str(path)).as_numpy_iterator()]


def read_records(path):
  return list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())


# --- TFRecord framing without TF ----------------------------------------------------------

def test_framing_equals_tensorflows_writer(tmp_path):
  rng = np.random.default_rng(0)
  sizes = [0, 1, 3, 7, 255, 256, 257, 1000, 4095, 4096, 4097, 16383, 16384, 16385, 65537,
           (1 << 20) + 13]
  payloads = [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for n in sizes]
  payloads.append(bytes(5000))  # all zeros
  payloads.append(b'\xff' * 70000)
  with tf.io.TFRecordWriter(str(tmp_path / 'tf.tfrecord')) as writer:
    for p in payloads:
      writer.write(p)
  assert b''.join(tfrecord.frame(p) for p in payloads) == (tmp_path / 'tf.tfrecord').read_bytes()
  with open(tmp_path / 'tf.tfrecord', 'rb') as f:
    assert list(tfrecord.read_records(f)) == payloads


def test_crc32c_known_values():
  # RFC 3720 (iSCSI) test vectors.
  assert tfrecord.crc32c(bytes(32)) == 0x8A9136AA
  assert tfrecord.crc32c(b'\xff' * 32) == 0x62A8AB43
  assert tfrecord.crc32c(bytes(range(32))) == 0x46DD794E
  assert tfrecord.crc32c(b'123456789') == 0xE3069283


def test_our_files_read_by_tensorflow(tmp_path):
  records = [bytes([i]) * (i * 997) for i in range(20)]
  with tfrecord.open_writer(str(tmp_path / 'ours.tfrecord')) as writer:
    for r in records:
      writer.write(r)
  assert read_records(tmp_path / 'ours.tfrecord') == records
  with tf.io.TFRecordWriter(str(tmp_path / 'tf.tfrecord')) as writer:
    for r in records:
      writer.write(r)
  assert (tmp_path / 'tf.tfrecord').read_bytes() == (tmp_path / 'ours.tfrecord').read_bytes()
  assert sorted(os.listdir(tmp_path)) == ['ours.tfrecord', 'tf.tfrecord']  # no temporary left


def test_writers_publish_together_or_not_at_all(tmp_path):
  a, b = str(tmp_path / 'a.tfrecord'), str(tmp_path / 'b.tfrecord')
  with tfrecord.open_writers([a, b]) as (wa, wb):
    wa.write(b'old a')
    wb.write(b'old b')
  before = {a: open(a, 'rb').read(), b: open(b, 'rb').read()}
  with pytest.raises(RuntimeError):
    with tfrecord.open_writers([a, b]) as (wa, wb):
      wa.write(b'new a')
      wb.write(b'new b')
      assert len(os.listdir(tmp_path)) == 4  # two finished files, two temporaries
      raise RuntimeError('the run failed')
  assert {a: open(a, 'rb').read(), b: open(b, 'rb').read()} == before
  assert sorted(os.listdir(tmp_path)) == ['a.tfrecord', 'b.tfrecord']


def test_reading_names_the_file_and_the_record(tmp_path):
  src = write_note_sequences(tmp_path / 'in.tfrecord', beat_sequences(3))
  data = bytearray(open(src, 'rb').read())
  data[-30] ^= 0xFF
  (tmp_path / 'bad.tfrecord').write_bytes(bytes(data))
  with pytest.raises(DrumsRnnError, match=r"bad\.tfrecord' is corrupt at record 2"):
    list(tfrecord.iter_records(str(tmp_path / 'bad.tfrecord')))
  assert tfrecord.scan(str(tmp_path / 'bad.tfrecord')) == 3  # the framing is intact
  assert tfrecord.first_record(src) == beat_sequences(1)[0].SerializeToString()


# --- SequenceExample bytes ----------------------------------------------------------------

@pytest.mark.parametrize('steps,size,top', [(1, 2, 2), (5, 518, 512), (200, 518, 512),
                                            (0, 518, 512), (3, 20000, 1 << 40)])
def test_serialized_bytes_equal_protobuf(steps, size, top):
  rng = np.random.default_rng(steps)
  inputs = rng.choice([0.0, 1.0, -1.0, 0.25], size=(steps, size)).astype(np.float32)
  labels = rng.integers(0, top, size=steps)
  ours = sequence_example.serialize_sequence_example(inputs, labels)
  expected = magenta_sequence_example(inputs.tolist(), labels.tolist())
  assert ours == expected.SerializeToString(deterministic=True)
  assert tf.train.SequenceExample.FromString(ours) == expected


def test_parse_with_magentas_reader_spec():
  classes = KIT.encoding.classes_from_events([{36}, set(), {42, 38}, {100}, {49}])
  inputs, labels = KIT.encoding.encode(classes)
  data = sequence_example.serialize_sequence_example(inputs, labels)
  _, parsed = tf.io.parse_single_sequence_example(data, sequence_features={
      'inputs': tf.io.FixedLenSequenceFeature([518], tf.float32),
      'labels': tf.io.FixedLenSequenceFeature([], tf.int64)})
  np.testing.assert_array_equal(parsed['inputs'].numpy(), inputs)
  np.testing.assert_array_equal(parsed['labels'].numpy(), labels)


# --- compatibility with a note-seq built pipeline ------------------------------------------

def note_seq_pipeline(sequence, config):
  """Magenta's dataset pipeline for one NoteSequence, built from note-seq's pieces."""
  encoder = (test_encoding.note_seq_drum_kit() if config is KIT
             else test_encoding.note_seq_one_drum())
  examples = []
  for piece in sequences_lib.split_note_sequence_on_time_changes(sequence):
    try:
      quantized = sequences_lib.quantize_note_sequence(piece, config.steps_per_quarter)
    except (sequences_lib.MultipleTimeSignatureError, sequences_lib.MultipleTempoError,
            sequences_lib.BadTimeSignatureError):
      continue
    for track in test_extraction.reference_tracks(quantized) or []:
      inputs, labels = encoder.encode(track)
      examples.append(magenta_sequence_example(inputs, labels))
  return examples


@pytest.mark.parametrize('config', [KIT, ONE], ids=['drum_kit', 'one_drum'])
def test_examples_equal_note_seq_pipeline(tmp_path, config):
  sequences = beat_sequences(4)
  sequences[1].tempos.add(time=10.0, qpm=90.0)  # a tempo change: two pieces
  if helpers.groove_dir():
    for path in helpers.groove_files(split='validation', limit=3):
      sequences.append(note_seq.midi_file_to_note_sequence(path))
  src = write_note_sequences(tmp_path / 'in.tfrecord', sequences)
  summary = dataset.create_dataset(config, src, str(tmp_path / 'out'), eval_ratio=0.0,
                                   num_workers=1)
  ours = read_examples(tmp_path / 'out' / dataset.TRAINING_FILE)
  expected = [e for s in sequences for e in note_seq_pipeline(s, config)]
  assert len(ours) == len(expected) == summary.tracks_written > 0
  for a, b in zip(ours, expected):
    assert a == b
  assert read_records(tmp_path / 'out' / dataset.EVAL_FILE) == []


# --- create_dataset behaviour --------------------------------------------------------------

def test_both_files_summary_and_counts(tmp_path):
  src = write_note_sequences(tmp_path / 'in.tfrecord', beat_sequences(8))
  out = tmp_path / 'new' / 'dir'
  summary = dataset.create_dataset(KIT, src, str(out), eval_ratio=0.5, num_workers=1)
  summary.check()
  assert summary.sequences_read == 8
  train = read_examples(out / dataset.TRAINING_FILE)
  evals = read_examples(out / dataset.EVAL_FILE)
  assert len(train) == summary.tracks['training'] and len(evals) == summary.tracks['eval']
  assert summary.tracks_written == 6  # the 3-bar beats are too short
  c = summary.stats.counts
  assert c['drum_tracks_discarded_too_short'] == 2 and c['drum_tracks_truncated'] == 2
  assert summary.sequences_without_tracks == 2
  text = '\n'.join(summary.lines())
  assert 'Read 8 NoteSequences' in text and 'discarded too short (< 7 bars): 2' in text
  # No temporary files are left behind.
  assert sorted(os.listdir(out)) == sorted([dataset.TRAINING_FILE, dataset.EVAL_FILE])


def test_split_is_seeded_and_independent_of_order_and_workers(tmp_path):
  sequences = beat_sequences(12, bars=(9,))
  a = write_note_sequences(tmp_path / 'a.tfrecord', sequences)
  shuffled = list(sequences)
  random.Random(1).shuffle(shuffled)
  b = write_note_sequences(tmp_path / 'b.tfrecord', shuffled)
  runs = {}
  for name, src, workers, seed in [('a1', a, 1, 0), ('a2', a, 2, 0), ('b1', b, 1, 0),
                                   ('s5', a, 1, 5)]:
    dataset.create_dataset(ONE, src, str(tmp_path / name), eval_ratio=0.5,
                           num_workers=workers, seed=seed)
    runs[name] = {split: read_records(tmp_path / name / f) for split, f in
                  (('training', dataset.TRAINING_FILE), ('eval', dataset.EVAL_FILE))}
  assert runs['a1'] == runs['a2']  # same bytes, same order with 1 or 2 workers
  assert 0 < len(runs['a1']['eval']) < 12
  ids = lambda run, split: sorted(  # noqa: E731
      s.id for s in sequences if dataset.split_of(s, 0, 0.5) == split)
  assert len(ids('a1', 'eval')) == len(runs['b1']['eval']) == len(runs['a1']['eval'])
  assert runs['s5'] != runs['a1']


def test_eval_ratio_extremes(tmp_path):
  src = write_note_sequences(tmp_path / 'in.tfrecord', beat_sequences(4))
  s0 = dataset.create_dataset(KIT, src, str(tmp_path / 'o0'), eval_ratio=0.0, num_workers=1)
  s1 = dataset.create_dataset(KIT, src, str(tmp_path / 'o1'), eval_ratio=1.0, num_workers=1)
  assert s0.tracks['eval'] == 0 and s0.tracks['training'] == 3
  assert s1.tracks['training'] == 0 and s1.tracks['eval'] == 3


def test_split_long_tracks_gives_more_examples(tmp_path):
  src = write_note_sequences(tmp_path / 'in.tfrecord', beat_sequences(4))
  plain = dataset.create_dataset(KIT, src, str(tmp_path / 'p'), eval_ratio=0.0,
                                 num_workers=1)
  split = dataset.create_dataset(KIT, src, str(tmp_path / 's'), eval_ratio=0.0,
                                 num_workers=1, split_long_tracks=True)
  # The 40-bar beat: 512 steps + a 127-step (7-bar) window.
  assert split.tracks_written == plain.tracks_written + 1
  lengths = [len(e.feature_lists.feature_list['labels'].feature)
             for e in read_examples(tmp_path / 's' / dataset.TRAINING_FILE)]
  assert lengths == [142, 190, 511, 126]


def test_midi_file_and_directory_input(tmp_path):
  midi_dir = tmp_path / 'midi' / 'sub'
  midi_dir.mkdir(parents=True)
  for i, seq in enumerate(beat_sequences(3)):
    note_seq.sequence_proto_to_midi_file(seq, str(midi_dir / f'{i}.mid'))
  (midi_dir / 'broken.mid').write_bytes(b'MThd\x00\x00\x00\x06\x00\x01')
  (tmp_path / 'midi' / 'notes.txt').write_text('not music')
  summary = dataset.create_dataset(KIT, str(tmp_path / 'midi'), str(tmp_path / 'o'),
                                   num_workers=2)
  assert summary.sequences_read == 3 and summary.files_skipped == 1
  assert summary.tracks_written == 3
  single = dataset.create_dataset(KIT, str(midi_dir / '2.mid'), str(tmp_path / 'o2'),
                                  num_workers=1)
  assert single.tracks_written == 1
  sequences = list(note_sequences.read_note_sequences(str(tmp_path / 'midi')))
  assert [s.filename for s in sequences] == ['sub/0.mid', 'sub/1.mid', 'sub/2.mid']
  assert sequences[0].collection_name == 'midi'
  assert sequences[0].id == note_sequences.note_sequence_id('sub/0.mid', 'midi', 'midi')


def test_folder_walks_visit_each_real_file_once(tmp_path):
  root = tmp_path / 'kit'
  (root / 'sub').mkdir(parents=True)
  for i, seq in enumerate(beat_sequences(2, bars=(9,))):
    note_seq.sequence_proto_to_midi_file(seq, str(root / ('a.mid', 'sub/b.mid')[i]))
  os.symlink('..', root / 'sub' / 'up')       # a link to the parent folder: a loop
  os.symlink(str(root), root / 'sub' / 'top')  # a second one
  os.symlink('b.mid', root / 'sub' / 'same.mid')  # the same file again
  out = tmp_path / 'notes.tfrecord'
  assert note_sequences.convert_directory(str(root), str(out), recursive=True) == (2, 0, 0)
  assert [s.filename for s in note_sequences.read_note_sequences(str(out))] == ['a.mid',
                                                                               'sub/b.mid']
  summary = dataset.create_dataset(KIT, str(root), str(tmp_path / 'o'), num_workers=1)
  assert summary.sequences_read == 2 and summary.tracks_written == 2


def test_broken_link_is_reported_as_one(tmp_path):
  root = tmp_path / 'kit'
  root.mkdir()
  note_seq.sequence_proto_to_midi_file(beat_sequences(1)[0], str(root / 'a.mid'))
  os.symlink('gone.mid', root / 'b.mid')
  os.symlink('gone.txt', root / 'c.txt')
  with pytest.raises(DrumsRnnError, match='broken symbolic link'):
    note_sequences.convert_file(str(root), str(root / 'c.txt'), 'c.txt')
  assert note_sequences.convert_directory(str(root), str(tmp_path / 'n.tfrecord')) == (1, 2, 0)
  summary = dataset.create_dataset(KIT, str(root), str(tmp_path / 'o'), num_workers=1)
  assert summary.files_skipped == 2 and summary.sequences_read == 1
  with pytest.raises(DrumsRnnError, match='broken symbolic link'):
    dataset.create_dataset(KIT, str(root / 'b.mid'), str(tmp_path / 'o'), num_workers=1)


def test_read_note_sequences_from_tfrecord(tmp_path):
  src = write_note_sequences(tmp_path / 'in.tfrecord', beat_sequences(3))
  ids = [s.id for s in note_sequences.read_note_sequences(src)]
  assert ids == [f'/id/test/{i}' for i in range(3)]
  assert tfrecord.scan(src) == 3


def test_zero_tracks_is_an_error_that_keeps_the_previous_dataset(tmp_path):
  seq = helpers.drum_sequence(helpers.basic_beat(10), is_drum=False)
  src = write_note_sequences(tmp_path / 'in.tfrecord', [seq])
  with pytest.raises(dataset.EmptyDatasetError) as raised:
    dataset.create_dataset(KIT, src, str(tmp_path / 'o'), num_workers=1)
  summary = raised.value.summary
  assert summary.tracks_written == 0
  # Nothing is published by a run that wrote no track.
  assert not os.path.exists(tmp_path / 'o' / dataset.TRAINING_FILE)
  assert not os.path.exists(tmp_path / 'o' / dataset.EVAL_FILE)
  message = summary.empty_message()
  assert 'no drum notes' in message and 'channel 10' in message
  assert str(raised.value) == message
  # A good dataset already there stays exactly as it was.
  good = write_note_sequences(tmp_path / 'good.tfrecord', beat_sequences(2))
  dataset.create_dataset(KIT, good, str(tmp_path / 'o'), eval_ratio=0.5, num_workers=1)
  before = {n: (tmp_path / 'o' / n).read_bytes() for n in os.listdir(tmp_path / 'o')}
  with pytest.raises(dataset.EmptyDatasetError):
    dataset.create_dataset(KIT, src, str(tmp_path / 'o'), num_workers=2)
  assert {n: (tmp_path / 'o' / n).read_bytes() for n in os.listdir(tmp_path / 'o')} == before


# --- bad input -------------------------------------------------------------------------------

def test_missing_input(tmp_path):
  with pytest.raises(DrumsRnnError, match='does not exist'):
    dataset.create_dataset(KIT, str(tmp_path / 'nope.tfrecord'), str(tmp_path / 'o'))


def test_empty_tfrecord(tmp_path):
  (tmp_path / 'empty.tfrecord').write_bytes(b'')
  with pytest.raises(DrumsRnnError, match='is empty'):
    dataset.create_dataset(KIT, str(tmp_path / 'empty.tfrecord'), str(tmp_path / 'o'))


def test_not_a_tfrecord(tmp_path):
  (tmp_path / 'text.tfrecord').write_text('hello, these are not records\n' * 3)
  with pytest.raises(DrumsRnnError, match='not a TFRecord file'):
    dataset.create_dataset(KIT, str(tmp_path / 'text.tfrecord'), str(tmp_path / 'o'))


def test_truncated_tfrecord(tmp_path):
  src = write_note_sequences(tmp_path / 'in.tfrecord', beat_sequences(3))
  data = open(src, 'rb').read()
  (tmp_path / 'cut.tfrecord').write_bytes(data[:-50])
  with pytest.raises(DrumsRnnError, match='truncated'):
    dataset.create_dataset(KIT, str(tmp_path / 'cut.tfrecord'), str(tmp_path / 'o'))


def test_corrupt_payload_is_caught_and_outputs_untouched(tmp_path):
  src = write_note_sequences(tmp_path / 'in.tfrecord', beat_sequences(3))
  data = bytearray(open(src, 'rb').read())
  data[-30] ^= 0xFF  # inside the last record's payload: only its CRC notices
  (tmp_path / 'bad.tfrecord').write_bytes(bytes(data))
  with pytest.raises(DrumsRnnError, match='corrupt at record 2: bad data checksum'):
    dataset.create_dataset(KIT, str(tmp_path / 'bad.tfrecord'), str(tmp_path / 'o'),
                           num_workers=1)
  assert os.listdir(tmp_path / 'o') == []


def test_wrong_proto_is_detected(tmp_path):
  src = write_note_sequences(tmp_path / 'in.tfrecord', beat_sequences(2))
  dataset.create_dataset(KIT, src, str(tmp_path / 'o'), eval_ratio=0.0, num_workers=1)
  with pytest.raises(DrumsRnnError, match='not a NoteSequence|does not look like a NoteSequence'):
    dataset.create_dataset(KIT, str(tmp_path / 'o' / dataset.TRAINING_FILE),
                           str(tmp_path / 'o2'))
  labels_only = tf.train.SequenceExample()
  labels_only.feature_lists.feature_list['labels'].feature.add().int64_list.value.append(1)
  with tfrecord.open_writer(str(tmp_path / 'se.tfrecord')) as w:
    w.write(labels_only.SerializeToString())
  with pytest.raises(DrumsRnnError, match='NoteSequence'):
    dataset.create_dataset(KIT, str(tmp_path / 'se.tfrecord'), str(tmp_path / 'o3'))


def test_unreadable_single_midi(tmp_path):
  (tmp_path / 'text.mid').write_text('this is not a MIDI file')
  with pytest.raises(DrumsRnnError, match='cannot read'):
    dataset.create_dataset(KIT, str(tmp_path / 'text.mid'), str(tmp_path / 'o'))


def test_unwritable_output_dir(tmp_path):
  src = write_note_sequences(tmp_path / 'in.tfrecord', beat_sequences(1))
  (tmp_path / 'file').write_text('x')
  with pytest.raises(DrumsRnnError, match='cannot create directory'):
    dataset.create_dataset(KIT, src, str(tmp_path / 'file' / 'out'))


# Config names and hparams strings are the command line's: tests/test_create_dataset_cli.py.
@pytest.mark.parametrize('kwargs,match', [
    (dict(eval_ratio=1.5), 'eval_ratio'),
    (dict(num_workers=-2), 'num_workers'),
])
def test_bad_arguments(tmp_path, kwargs, match):
  args = dict(config=KIT, input_path='unused', output_dir=str(tmp_path / 'o'))
  args.update(kwargs)
  with pytest.raises(DrumsRnnError, match=match):
    dataset.create_dataset(**args)


def test_convert_directory_ids_and_skips(tmp_path):
  root = tmp_path / 'coll'
  (root / 'a' / 'b').mkdir(parents=True)
  seqs = beat_sequences(3)
  note_seq.sequence_proto_to_midi_file(seqs[0], str(root / 'top.mid'))
  note_seq.sequence_proto_to_midi_file(seqs[1], str(root / 'a' / 'one.MIDI'))
  note_seq.sequence_proto_to_midi_file(seqs[2], str(root / 'a' / 'b' / 'two.mid'))
  (root / 'a' / 'bad.mid').write_bytes(b'MThd garbage')
  (root / 'readme.txt').write_text('x')
  out = tmp_path / 'deep' / 'notes.tfrecord'
  assert note_sequences.convert_directory(str(root), str(out), recursive=True) == (3, 1, 1)
  got = [note_seq.NoteSequence.FromString(r) for r in read_records(out)]
  assert [s.filename for s in got] == ['top.mid', 'a/one.MIDI', 'a/b/two.mid']
  for s in got:
    assert s.collection_name == 'coll' and s.notes
    assert s.id == note_sequences.note_sequence_id(s.filename, 'coll', 'midi')
  assert got[0].id.startswith('/id/midi/coll/') and len(got[0].id) == len('/id/midi/coll/') + 40
  assert note_sequences.convert_directory(str(root), str(out), recursive=False) == (1, 0, 1)
  with pytest.raises(DrumsRnnError, match='is not a directory'):
    note_sequences.convert_directory(str(root / 'nothing'), str(out))
  (root / 'a' / 'one.MIDI').unlink()
  with pytest.raises(DrumsRnnError, match='no file converted'):
    note_sequences.convert_directory(str(root / 'a'), str(tmp_path / 'none.tfrecord'))
  assert not (tmp_path / 'none.tfrecord').exists()
