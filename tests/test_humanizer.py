"""The humanizer: grid reading, dataset, training, humanizing notes, loading, and the command's errors."""

import os

import numpy as np
import pytest

from drums_rnn import configs
from drums_rnn import encoding
from drums_rnn.humanizer import data as humanizer_data
from drums_rnn import midi
from drums_rnn.humanizer import performance
from drums_rnn.language_model import family as drums_family
from tests import helpers

TINY = {'rnn_layer_sizes': [16], 'batch_size': 8, 'velocity_bins': 16, 'offset_bins': 16,
        'dropout_keep_prob': 1.0}


def played_sequence(bars=4, qpm=96.0, seed=0):
  """A 'played' drum track: velocities and small timing offsets, one note per cell."""
  rng = np.random.default_rng(seed)
  seq = helpers.drum_sequence(helpers.basic_beat(bars), qpm=qpm)
  step = 60.0 / qpm / 4
  for note in seq.notes:
    shift = rng.uniform(-0.3, 0.3) * step
    note.start_time = max(note.start_time + shift, 0.0)
    note.end_time = note.start_time + step
    note.velocity = int(rng.integers(20, 127))
  return seq


def test_midi_round_trip_within_one_tick(tmp_path):
  seq = played_sequence()
  path = midi.write_midi(str(tmp_path / 'played.mid'), seq)
  read = midi.read_midi(path)
  perf, counts = performance.read_performance(read)
  assert counts == {'notes': len(seq.notes), 'mapped': len(seq.notes), 'unmapped': 0, 'merged': 0}
  back = midi.read_midi(midi.write_midi(str(tmp_path / 'back.mid'), performance.performance_sequence(perf)))
  tick = 60.0 / perf.qpm / midi.TICKS_PER_QUARTER
  original = sorted((n.start_time, n.pitch, n.velocity) for n in read.notes)
  rebuilt = sorted((n.start_time, n.pitch, n.velocity) for n in back.notes)
  assert len(original) == len(rebuilt)
  for (t0, p0, v0), (t1, p1, v1) in zip(original, rebuilt):
    assert (p0, v0) == (p1, v1)
    assert abs(t0 - t1) <= tick + 1e-9


def test_loudest_of_two_hits_in_one_cell_is_kept():
  seq = helpers.drum_sequence([(0, 38), (4, 36)])
  seq.notes.add(pitch=40, velocity=127, start_time=0.01, end_time=0.1, is_drum=True, instrument=9)
  seq.notes[0].velocity = 30
  seq.notes.add(pitch=60, velocity=90, start_time=0.0, end_time=0.1, is_drum=False)
  perf, counts = performance.read_performance(seq)
  assert counts['merged'] == 1 and counts['unmapped'] == 1
  assert perf.velocities[0, 1] == 127 and perf.offsets[0, 1] > 0
  assert perf.velocities[4, 0] == 100 and perf.num_steps == 16


def test_tempo_changes_are_followed():
  tempo = performance.TempoMap([0.0, 2.0], [120.0, 60.0])
  assert np.allclose(tempo.to_quarters([1.0, 2.0, 3.0]), [2.0, 4.0, 5.0])
  assert np.allclose(tempo.to_seconds(tempo.to_quarters([0.3, 2.5, 7.0])), [0.3, 2.5, 7.0])


def test_dataset_windows_splits_and_drop_report(tmp_path):
  folder = tmp_path / 'midi'
  folder.mkdir()
  for i in range(6):
    midi.write_midi(str(folder / f'beat{i}.mid'), played_sequence(bars=6, seed=i))
  midi.write_midi(str(folder / 'waltz.mid'), helpers.drum_sequence(helpers.basic_beat(2), numerator=3))
  (folder / 'broken.mid').write_bytes(b'not midi')
  summary = humanizer_data.create_dataset(str(folder), str(tmp_path / 'out'), eval_ratio=0.3)
  assert summary.skipped == {'in 3/4, not 4/4': 1, 'unreadable': 1}
  assert summary.files['train'] + summary.files['validation'] == 6
  # 6 bars, windows of 4 every 2: bars 0-3 and 2-5 cover them all.
  assert summary.windows['train'] + summary.windows['validation'] == 12
  perf, _ = performance.read_performance(played_sequence(bars=7))
  assert humanizer_data.window_starts(perf, 64, 32) == [0, 32, 64]  # the last one padded
  from drums_rnn.data import tfrecord  # pylint: disable=import-outside-toplevel
  from tensorflow.core.example import example_pb2  # pylint: disable=import-outside-toplevel
  record = next(iter(tfrecord.iter_records(summary.outputs['train'])))
  example = example_pb2.SequenceExample.FromString(record[0] if isinstance(record, tuple) else record)
  steps = example.feature_lists.feature_list['inputs'].feature
  assert len(steps) == 64 and len(steps[0].float_list.value) == humanizer_data.INPUT_SIZE
  inputs = np.array([f.float_list.value for f in steps])
  decoded = humanizer_data.decode_inputs(inputs)
  assert decoded.hits.sum() == int(inputs[:, humanizer_data.HITS].sum())
  with pytest.raises(Exception, match='no 4/4 drum windows'):
    humanizer_data.create_dataset(str(folder / 'waltz.mid'), str(tmp_path / 'none'))


def _tiny_loaded(seed=0):
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel
  from drums_rnn.humanizer.model import HumanizerModel  # pylint: disable=import-outside-toplevel
  config = configs.get_config('humanizer')
  hp = config.hparams(TINY)
  return loading.LoadedModel(config, hp, HumanizerModel.from_config(config, hp, seed=seed), 'tiny', 'test')


def test_tiny_model_loss_falls(tmp_path):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from drums_rnn import kinds  # pylint: disable=import-outside-toplevel
  from drums_rnn.training.trainer import Trainer  # pylint: disable=import-outside-toplevel
  config = configs.get_config('humanizer')
  trainer = Trainer(kinds.task_for(config), config.hparams(dict(TINY, learning_rate=0.02)), seed=1)
  perf, _ = performance.read_performance(played_sequence(bars=16, seed=3))
  batch = np.stack([humanizer_data.encode_window(perf, s, 64)[0] for s in range(0, 192, 32)])
  lengths = tf.fill([batch.shape[0]], 64)
  labels = tf.zeros(batch.shape[:2], tf.int64)
  losses = []
  for _ in range(40):
    sums = trainer.train_step(batch, labels, lengths)
    losses.append(float(sums['xent']) / float(sums['steps']))
  assert losses[-1] < 0.7 * losses[0], losses[::8]


def test_humanizing_keeps_notes_and_moves_less_than_half_a_step():
  from drums_rnn.humanizer import humanize  # pylint: disable=import-outside-toplevel
  humanizer = humanize.Humanizer(_tiny_loaded())
  seq = helpers.drum_sequence(helpers.basic_beat(40) + [(3, 88)], qpm=100.0)  # 88: outside the nine drum types
  seq.notes.add(pitch=60, velocity=80, start_time=0.5, end_time=0.7, is_drum=False)
  out, counts = humanize.humanize_sequence(humanizer, seq, seed=5)
  assert (counts.notes, counts.passed_through) == (len(seq.notes), 2)
  step = 60.0 / 100.0 / 4
  assert [n.pitch for n in out.notes] == [n.pitch for n in seq.notes]
  moved = np.array([n.start_time - o.start_time for n, o in zip(out.notes, seq.notes)])
  assert np.all(np.abs(moved) < 0.5 * step) and np.any(np.abs(moved) > 1e-4)
  for n, o in zip(out.notes, seq.notes):
    assert n.end_time - n.start_time == pytest.approx(o.end_time - o.start_time)
    if o.pitch in (88, 60):
      assert (n.start_time, n.velocity) == (o.start_time, o.velocity)
  velocities = {n.velocity for n in out.notes if n.pitch == 42}
  assert len(velocities) > 5  # hi-hats are not all equal
  again, _ = humanize.humanize_sequence(humanizer, seq, seed=5)
  assert again.SerializeToString() == out.SerializeToString()
  other, _ = humanize.humanize_sequence(humanizer, seq, seed=6)
  assert other.SerializeToString() != out.SerializeToString()
  flat, _ = humanize.humanize_sequence(humanizer, seq, seed=5, strength=0.0)
  assert [n.start_time for n in flat.notes] == [n.start_time for n in seq.notes]
  mapped = [n.velocity for n, o in zip(flat.notes, seq.notes) if o.pitch not in (88, 60)]
  assert set(mapped) == {100}  # the track's mean velocity


def test_long_tracks_use_whole_window_batches():
  from drums_rnn.humanizer import humanize  # pylint: disable=import-outside-toplevel
  starts, choice = humanize.window_plan(512, 64, 32)
  assert starts[0] == 0 and starts[-1] + 64 >= 512
  offsets = np.arange(512) - np.asarray(starts)[choice]
  assert offsets.min() >= 0 and offsets.max() < 64
  assert np.all(offsets[64:-64] >= 16) and np.all(offsets[64:-64] < 48)  # central half
  humanizer = humanize.Humanizer(_tiny_loaded())
  hits = encoding.classes_to_hits(np.tile([5, 0, 4, 0, 7, 0, 4, 0], 64))
  tracing = humanizer._run.experimental_get_tracing_count()  # pylint: disable=protected-access
  velocities, offsets_out = humanizer.humanize_hits(hits, 120.0, seed=1)
  humanizer.humanize_hits(hits[:100], 90.0, seed=1)
  assert humanizer._run.experimental_get_tracing_count() == max(tracing, 1)  # pylint: disable=protected-access
  assert np.all((velocities > 0) == hits) and np.all(np.abs(offsets_out) < 0.5)


def test_bundle_round_trip_and_kinds(tmp_path):
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel
  from drums_rnn.errors import DrumsRnnError  # pylint: disable=import-outside-toplevel
  tiny = _tiny_loaded(seed=4)
  path = loading.save_bundle(str(tmp_path / 'h.mag'), tiny.config, tiny.hparams, tiny.model, 'tiny test')
  loaded = loading.load_model(path, kind='humanizer')
  assert loaded.hparams['rnn_layer_sizes'] == [16]
  for name, value in tiny.model.get_weights().items():
    np.testing.assert_array_equal(loaded.model.get_weights()[name], value)
  with pytest.raises(DrumsRnnError, match='is a humanizer, not a Drums RNN model'):
    loading.load_model(path)
  with pytest.raises(DrumsRnnError, match='is a Drums RNN model, not a humanizer'):
    loading.load_model(drums_family.DEFAULT_MODEL, kind="humanizer")


def _run_cli(cases):
  return helpers.run_cli_cases('drums_rnn.cli.drums_rnn_humanize', cases)


def test_command_humanizes_and_fails_cleanly(tmp_path):
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel
  tiny = _tiny_loaded(seed=2)
  mag = loading.save_bundle(str(tmp_path / 'h.mag'), tiny.config, tiny.hparams, tiny.model, 'tiny')
  (tmp_path / 'in').mkdir()
  good = midi.write_midi(str(tmp_path / 'in' / 'groove.mid'), played_sequence(bars=2))
  silent = tmp_path / 'silent.mid'
  midi.write_midi(str(silent), helpers.drum_sequence([(0, 60), (4, 62)], is_drum=False))
  corrupt = tmp_path / 'corrupt.mid'
  corrupt.write_bytes(b'MThd garbage')
  (tmp_path / 'empty').mkdir()
  out = tmp_path / 'out'
  common = [f'--bundle_file={mag}', f'--output_dir={out}']
  results = _run_cli([common + [f'--input={good}', '--seed=3'],
                      common + [f'--input={good}', '--seed=3'],
                      common + [f'--input={silent}'],
                      common + [f'--input={corrupt}'],
                      common + [f'--input={tmp_path / "empty"}'],
                      common + [f'--input={good}', '--strength=2']])
  assert results[0]['code'] == 0, results[0]
  assert results[1]['code'] == 0
  written = sorted(os.listdir(out))
  assert written == ['groove-2.mid', 'groove.mid']  # never replaced
  assert (out / 'groove.mid').read_bytes() == (out / 'groove-2.mid').read_bytes()  # same seed
  for result, message in zip(results[2:], ['no drum notes', 'cannot read', 'no MIDI files',
                                           '--strength must be in']):
    errors = [l for l in result['stderr'].splitlines() if l.startswith('error:')]
    assert result['code'] == 2 and len(errors) == 1 and message in errors[0], result
    assert 'Traceback' not in result['stderr']
  assert sorted(os.listdir(out)) == written  # nothing half-written
  assert not [f for f in os.listdir(out) if f.endswith('.tmp')]
