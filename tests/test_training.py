"""Training and evaluation on small SequenceExample files (tiny models, few steps)."""

import glob
import json
import logging
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from drums_rnn import configs
from drums_rnn import kinds
from drums_rnn import loading
from drums_rnn.data import sequence_example
from drums_rnn.data import tfrecord
from drums_rnn.errors import DrumsRnnError
from drums_rnn.language_model import task as drums_task
from drums_rnn.measure import scoring
from drums_rnn.training import eval_job
from drums_rnn.training import input_pipeline
from drums_rnn.training import loop as training
from drums_rnn.training import run_dir as run_dir_lib
from drums_rnn.training import trainer as trainer_lib
from drums_rnn.training.evaluator import Evaluator
from tests import helpers

DRUM_KIT = configs.get_config('drum_kit')
KIT_TASK = kinds.task_for(DRUM_KIT)
TINY = 'batch_size=4,rnn_layer_sizes=[16],attn_length=4,dropout_keep_prob=1.0,learning_rate=0.01'


def overrides(text, config=DRUM_KIT):
  """A --hparams string as the overrides mapping the library takes."""
  return configs.parse_hparams(text, config.hparams())


def write_records(path, records):
  with tfrecord.open_writer(path) as writer:
    for record in records:
      writer.write(record)
  return path


def write_examples(path, config, class_tracks):
  return write_records(path, [sequence_example.serialize_sequence_example(
      *config.encoding.encode(np.asarray(classes))) for classes in class_tracks])


def groove_tracks(config, split, limit, max_tracks):
  """Class tracks of real Groove performances (extraction if available)."""
  import note_seq
  from drums_rnn.data import extraction
  tracks = []
  for path in helpers.groove_files(split=split, beat_type='beat'):
    sequence = note_seq.midi_file_to_note_sequence(path)
    for track in extraction.extract_drum_tracks(sequence, config):
      tracks.append(track.classes[:limit])
    if len(tracks) >= max_tracks:
      break
  return tracks[:max_tracks]


@pytest.fixture(scope='module')
def groove_data(tmp_path_factory):
  helpers.require_groove()
  config = configs.get_config('drum_kit')
  folder = tmp_path_factory.mktemp('groove')
  train = write_examples(str(folder / 'training_drum_tracks.tfrecord'), config,
                         groove_tracks(config, 'train', 128, 16))
  eval_tracks = groove_tracks(config, 'validation', 128, 6)
  evalf = write_examples(str(folder / 'eval_drum_tracks.tfrecord'), config, eval_tracks)
  return train, evalf, eval_tracks


@pytest.fixture()
def synthetic_data(tmp_path):
  """A repeating beat in 9-class codes (kick+hat, hat, snare+hat, hat)."""
  config = configs.get_config('drum_kit')
  pattern = [5, 4, 6, 4, 0, 4, 6, 4]
  tracks = [np.array((pattern * 8)[:n]) for n in (40, 33, 21, 50, 37, 29)]
  return write_examples(str(tmp_path / 'train.tfrecord'), config, tracks)


def test_input_pipeline_pads_and_masks(synthetic_data):
  config = configs.get_config('drum_kit')
  batches = list(input_pipeline.eval_dataset([synthetic_data], 518, 4, length_multiple=16))
  assert [b[0].shape[0] for b in batches] == [4, 2]  # last partial batch kept
  inputs, labels, lengths = batches[0]
  assert inputs.shape == (4, 64, 518) and labels.shape == (4, 64)
  assert lengths.numpy().tolist() == [39, 32, 20, 49]
  expected_inputs, expected_labels = config.encoding.encode(np.array(([5, 4, 6, 4, 0, 4, 6, 4] * 8)[:40]))
  np.testing.assert_array_equal(inputs[0, :39].numpy(), expected_inputs)
  np.testing.assert_array_equal(labels[0, :39].numpy(), expected_labels)
  assert not inputs[0, 39:].numpy().any()
  train_batch = next(iter(input_pipeline.training_dataset([synthetic_data], 518, 4, seed=1)))
  assert train_batch[0].shape[0] == 4 and train_batch[0].shape[1] % 64 == 0


def test_training_batches_are_bucketed_by_length(synthetic_data):
  # Label lengths 39, 32, 20, 49, 36, 28 fall in the 16-step bands 17-32 (3), 33-48 (2), 49-64 (1).
  bands = lambda n: (n - 1) // 16  # noqa: E731
  dataset = input_pipeline.training_dataset([synthetic_data], 518, 2, seed=3, num_one_hot=512,
                                            length_multiple=16)
  seen = set()
  for inputs, labels, lengths in dataset.take(15):
    lengths = lengths.numpy().tolist()
    assert len({bands(n) for n in lengths}) == 1, lengths  # one band per batch
    assert labels.shape[1] == 16 * (bands(max(lengths)) + 1)  # padded to the band, not to 64
    assert inputs.classes.shape == labels.shape
    seen.update(lengths)
  assert seen == {39, 32, 20, 49, 36, 28}
  unbucketed = input_pipeline.training_dataset([synthetic_data], 518, 2, seed=3, num_one_hot=512,
                                               length_multiple=16, bucket_by_length=False)
  mixed = [b[2].numpy().tolist() for b in unbucketed.take(15)]
  assert any(len({bands(n) for n in lengths}) > 1 for lengths in mixed)
  assert input_pipeline.bucket_boundaries(64) == [65, 129, 193, 257, 321, 385, 449]



def test_balanced_buckets_hold_about_equal_steps(synthetic_data):
  # 16-step bands up to 512: 32 bands; band b (lengths 16b+1..16b+16) batches 2 * 32 // (b + 1).
  assert input_pipeline.bucket_batch_sizes(2, 16) == [2] * 32
  sizes = input_pipeline.bucket_batch_sizes(2, 16, balance_tokens=True)
  assert sizes[:4] == [64, 32, 21, 16] and sizes[-1] == 2
  assert input_pipeline.bucket_batch_sizes(64, 64, balance_tokens=True) == [512, 256, 170, 128, 102,
                                                                            85, 73, 64]
  dataset = input_pipeline.training_dataset([synthetic_data], 518, 2, seed=3, num_one_hot=512,
                                            length_multiple=16, balance_tokens=True)
  for _, labels, lengths in dataset.take(6):
    band = (int(max(lengths)) - 1) // 16
    assert len(lengths) == sizes[band]  # the records of one band, as many as its size says
    assert labels.shape[1] == 16 * (band + 1)
    assert 2 * 512 * 0.5 <= labels.shape[0] * labels.shape[1] <= 2 * 512  # about equal steps

def test_metric_sums_are_masked():
  logits = tf.constant([[[5.0, 0.0], [0.0, 5.0], [9.0, 0.0]]])
  labels = tf.constant([[0, 0, 1]], tf.int64)
  sums = drums_task.metric_sums(logits, labels, tf.constant([2]), num_classes=2)
  metrics = drums_task.metrics_from_sums({k: v.numpy() for k, v in sums.items()})
  xent0 = -math.log(math.exp(5) / (math.exp(5) + 1))
  xent1 = -math.log(1 / (math.exp(5) + 1))
  assert metrics['loss'] == pytest.approx((xent0 + xent1) / 2, rel=1e-5)
  assert metrics['metrics/accuracy'] == 0.5
  assert metrics['metrics/no_event_accuracy'] == 0.5
  assert math.isnan(metrics['metrics/event_accuracy'])
  assert metrics['metrics/per_class_accuracy'] == 0.25  # class 1 absent counts as 0


def test_per_tensor_clipping_and_adam_match_tf1_formulas():
  config = configs.get_config('drum_kit')
  hparams = config.hparams('batch_size=2,rnn_layer_sizes=[8],attn_length=0,dropout_keep_prob=1.0,'
                           'clip_norm=1,learning_rate=0.1')
  trainer = trainer_lib.Trainer(kinds.task_for(config), hparams, seed=0)
  before = [v.numpy().copy() for v in trainer.variables]
  rng = np.random.default_rng(0)
  inputs = config.encoding.inputs_from_classes(rng.integers(0, 512, 6))[None].repeat(2, 0)
  labels = rng.integers(0, 512, (2, 6))
  lengths = np.array([6, 4], np.int32)
  with tf.GradientTape() as tape:
    logits, _ = trainer.model(inputs)
    sums = drums_task.metric_sums(logits, tf.constant(labels), tf.constant(lengths))
    loss = sums['xent'] / sums['steps']
  grads = tape.gradient(loss, trainer.variables)
  trainer.train_step(inputs, labels, lengths)
  for g, old, var in zip(grads, before, trainer.variables):
    g = g.numpy()
    norm = np.sqrt((g ** 2).sum())
    clipped = g * min(1.0, 1.0 / norm) if norm else g
    # First Adam step: m = 0.1 g, v = 0.001 g^2, lr_t = 0.1 * sqrt(0.001) / 0.1.
    m, v = 0.1 * clipped, 0.001 * clipped ** 2
    expected = old - 0.1 * np.sqrt(0.001) / 0.1 * m / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(var.numpy(), expected, atol=1e-5)
  assert int(trainer.step) == 1


MIRRORED_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from drums_rnn import configs, kinds
from drums_rnn.training import trainer as trainer_lib
config = configs.get_config('drum_kit')
hparams = config.hparams('batch_size=5,rnn_layer_sizes=[8,8],attn_length=3,dropout_keep_prob=1.0')
rng = np.random.default_rng(0)
inputs = config.encoding.inputs_from_classes(rng.integers(0, 512, 5 * 24)).reshape(5, 24, -1)
labels = rng.integers(0, 512, (5, 24))
lengths = np.array([24, 20, 17, 9, 24], np.int32)
results = {}
for name, strategy in [('one', tf.distribute.get_strategy()),
                       ('mirrored', tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1']))]:
  trainer = trainer_lib.Trainer(kinds.task_for(config), hparams, seed=3, strategy=strategy)
  sums = trainer.train_step(inputs, labels, lengths)
  results[name] = {'replicas': strategy.num_replicas_in_sync, 'steps': float(sums['steps']),
                   'xent': float(sums['xent']),
                   'weights': {k: v.tolist() for k, v in trainer.model.get_weights().items()}}
json.dump(results, sys.stdout)
"""


def test_mirrored_strategy_splits_the_batch_and_matches_one_device():
  """Two logical CPUs stand in for two GPUs: the batch is split across replicas
  (not copied: the summed step counts would double) and the update equals the
  one-device update."""
  import json
  import subprocess
  import sys
  proc = subprocess.run([sys.executable, '-c', MIRRORED_SCRIPT], capture_output=True, text=True,
                        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads(proc.stdout)
  one, mirrored = results['one'], results['mirrored']
  assert one['replicas'] == 1 and mirrored['replicas'] == 2
  assert one['steps'] == mirrored['steps'] == 24 + 20 + 17 + 9 + 24
  assert abs(one['xent'] - mirrored['xent']) < 1e-3
  for name, value in one['weights'].items():
    np.testing.assert_allclose(mirrored['weights'][name], value, atol=1e-5, err_msg=name)


def mean_log_likelihood(model, tracks):
  """Mean log p(label) per predicted step (the one scorer, dropout off)."""
  sums, counts, _ = scoring.track_log_likelihoods(model, DRUM_KIT.encoding, tracks)
  return sums.sum() / counts.sum()


@pytest.mark.groove
def test_tiny_model_learns_groove_and_resumes(groove_data, tmp_path):
  train_file, eval_file, eval_tracks = groove_data
  run = str(tmp_path / 'run')
  model_before = trainer_lib.Trainer(KIT_TASK, DRUM_KIT.hparams(TINY), seed=3).model
  ll_before = mean_log_likelihood(model_before, eval_tracks)
  assert ll_before == pytest.approx(-math.log(512), abs=0.05)

  first = training.train(KIT_TASK, run, train_file, overrides(TINY), num_training_steps=30,
                         summary_frequency=10, seed=3)
  assert (first.start_step, first.final_step) == (0, 30)
  assert first.checkpoint.endswith('model.ckpt-30')
  assert first.last_metrics['loss'] < 4.5  # from ln(512) = 6.24

  model = loading.load_model(run).model
  ll_after = mean_log_likelihood(model, eval_tracks)
  assert ll_after > ll_before + 1.5  # held-out loss falls

  # Resume: same hparams are fine, the step continues, the optimizer state is restored.
  trainer = trainer_lib.Trainer(KIT_TASK, DRUM_KIT.hparams(TINY))
  trainer.checkpoint.restore(first.checkpoint).assert_consumed()
  assert int(trainer.optimizer.iterations) == 30
  slots = [m.numpy() for m in trainer.optimizer.m]
  assert any(np.abs(s).max() > 0 for s in slots)
  second = training.train(KIT_TASK, run, train_file, overrides('batch_size=4'),
                          num_training_steps=40, summary_frequency=10, seed=3)
  assert (second.start_step, second.final_step) == (30, 40)
  assert second.checkpoint.endswith('model.ckpt-40')
  again = training.train(KIT_TASK, run, train_file, overrides(TINY), num_training_steps=40)
  assert again.final_step == 40  # absolute step: nothing more to do

  with pytest.raises(DrumsRnnError, match=r'batch_size: saved 4, given 8'):
    training.train(KIT_TASK, run, train_file, overrides('batch_size=8'), num_training_steps=50)
  with pytest.raises(DrumsRnnError, match='trained with config=drum_kit'):
    training.train(kinds.task_for(configs.get_config('one_drum')), run, train_file, num_training_steps=50)

  # Summaries carry Magenta's tags.
  tags = set()
  for path in glob.glob(os.path.join(run, 'train', 'events.out.tfevents.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(v.tag for v in event.summary.value)
  assert set(drums_task.TRAIN_TAGS) | {'global_step/sec'} <= tags

  # Evaluation of a fixed checkpoint: same numbers twice, summaries in run/eval.
  results = eval_job.evaluate_repeatedly(KIT_TASK, run, eval_file, timeout_secs=1, interval_secs=0,
                                         max_evaluations=1)
  assert results[0][0] == 40
  hparams = run_dir_lib.load_settings(run)[1]
  evaluator = Evaluator(KIT_TASK, hparams, [eval_file])
  step, metrics = evaluator.evaluate(second.checkpoint)
  assert step == 40
  assert metrics == results[0][1]
  assert 0 < metrics['loss'] < 5.0 and 0 <= metrics['metrics/per_class_accuracy'] <= 1
  eval_tags = set()
  for path in glob.glob(os.path.join(run, 'eval', 'events.out.tfevents.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      eval_tags.update(v.tag for v in event.summary.value)
  assert set(drums_task.TRAIN_TAGS) | {'metrics/per_class_accuracy'} <= eval_tags


def test_eval_waits_and_times_out_without_checkpoints(synthetic_data, tmp_path, caplog):
  run = tmp_path / 'run'
  run.mkdir()  # a run dir that training has not written yet
  caplog.set_level(logging.INFO, logger='absl')
  results = eval_job.evaluate_repeatedly(KIT_TASK, str(run), synthetic_data, timeout_secs=1,
                                         interval_secs=0, log_every_secs=0.3)
  assert results == []
  waiting = [r.getMessage() for r in caplog.records
             if 'Waiting for a new checkpoint' in r.getMessage()]
  assert waiting and f'in {run}/train' in waiting[0]  # it says now and then that it waits
  with pytest.raises(DrumsRnnError, match='does not exist'):
    eval_job.evaluate_repeatedly(KIT_TASK, str(tmp_path / 'typo'), synthetic_data, timeout_secs=1)
  assert not (tmp_path / 'typo').exists()


def test_bad_inputs_raise_clear_errors(synthetic_data, tmp_path):
  run = str(tmp_path / 'run')
  with pytest.raises(DrumsRnnError, match='no files match'):
    training.train(KIT_TASK, run, str(tmp_path / 'nothing*.tfrecord'))
  with pytest.raises(DrumsRnnError, match='is a directory: give a TFRecord file or a glob'):
    training.train(KIT_TASK, run, str(tmp_path))
  empty = write_records(str(tmp_path / 'empty.tfrecord'), [])
  os.mkdir(run)
  with pytest.raises(DrumsRnnError, match='empty file'):
    eval_job.evaluate_repeatedly(KIT_TASK, run, empty, timeout_secs=1)
  with pytest.raises(DrumsRnnError, match='size 518, but the config expects 2'):
    training.train(kinds.task_for(configs.get_config('one_drum')), run, synthetic_data)
  with pytest.raises(DrumsRnnError, match="unknown hparam 'bogus'"):
    training.train(KIT_TASK, run, synthetic_data, {'bogus': 1})
  for arguments, message in (({'num_checkpoints': -1}, 'num_checkpoints must be >= 0'),
                             ({'summary_frequency': 0}, 'summary_frequency must be at least 1'),
                             ({'num_training_steps': -5}, 'num_training_steps must be >= 0')):
    with pytest.raises(DrumsRnnError, match=message):
      training.train(KIT_TASK, run, synthetic_data, **arguments)
  with pytest.raises(DrumsRnnError, match="hparam 'batch_size' must be at least 1"):
    training.train(KIT_TASK, run, synthetic_data, {'batch_size': 0})
  assert os.listdir(run) == []  # nothing written for bad arguments


def _records_of(config, classes, edit=None):
  inputs, labels = config.encoding.encode(np.array(classes))
  if edit:
    edit(inputs)
  return sequence_example.serialize_sequence_example(inputs, labels)


def test_nan_loss_stops_with_a_message(tmp_path):
  def poison(inputs):
    inputs[2, 513] = np.nan  # a corrupt counter poisons the loss
  path = write_records(str(tmp_path / 'nan.tfrecord'),
                       [_records_of(DRUM_KIT, [1, 2, 3, 4, 5, 6], poison)] * 4)
  with pytest.raises(DrumsRnnError, match='loss is nan at step 1: training diverged'):
    training.train(KIT_TASK, str(tmp_path / "run"), path,
                   overrides('batch_size=2,rnn_layer_sizes=[4]'), num_training_steps=5, seed=0)
  # The run never really started: no settings were saved to refuse a corrected command.
  assert not os.path.exists(os.path.join(tmp_path, 'run', 'train', run_dir_lib.SETTINGS_FILE))


def test_inputs_that_are_not_one_hot_are_reported(tmp_path):
  def two_hot(inputs):
    inputs[1, 7] = 1.0  # two hot values
  path = write_records(str(tmp_path / 'bad.tfrecord'),
                       [_records_of(DRUM_KIT, [1, 2, 3, 4, 5, 6], two_hot)] * 2)
  with pytest.raises(DrumsRnnError, match='not one-hot'):
    training.train(KIT_TASK, str(tmp_path / "run"), path,
                   overrides('batch_size=2,rnn_layer_sizes=[4]'), num_training_steps=2)


def test_clip_norm_zero_means_no_clipping():
  """tf-slim's create_train_op clips only when clip_norm > 0: 0 must not zero the update."""
  hparams = DRUM_KIT.hparams('batch_size=2,rnn_layer_sizes=[8],attn_length=0,dropout_keep_prob=1.0,'
                             'clip_norm=0,learning_rate=0.1')
  trainer = trainer_lib.Trainer(KIT_TASK, hparams, seed=0)
  before = [v.numpy().copy() for v in trainer.variables]
  rng = np.random.default_rng(0)
  inputs = DRUM_KIT.encoding.inputs_from_classes(rng.integers(0, 512, 6))[None].repeat(2, 0)
  trainer.train_step(inputs, rng.integers(0, 512, (2, 6)), np.array([6, 4], np.int32))
  moved = [np.abs(v.numpy() - old).max() for v, old in zip(trainer.variables, before)]
  # Adam's first step moves every weight that has a gradient by the learning rate
  # (clipping the gradient to norm 0 would leave every weight where it was).
  assert max(moved) == pytest.approx(0.1, rel=1e-3)


PATTERN = [5, 4, 6, 4, 0, 4, 6, 4]  # kick+hat, hat, snare+hat, hat, rest, ...


def test_validation_keeps_the_best_checkpoint_and_stops_after_patience(tmp_path):
  """Trained on a beat, validated on silence: the validation loss first falls (the model
  learns that rests exist), then rises (it learns that a rest is followed by a hat)."""
  train_file = write_examples(str(tmp_path / 'train.tfrecord'), DRUM_KIT,
                              [(PATTERN * 8)[:n] for n in (40, 33, 21, 50, 37, 29)])
  validation_file = write_examples(str(tmp_path / 'silence.tfrecord'), DRUM_KIT,
                                   [np.zeros(n, int) for n in (30, 20)])
  run = str(tmp_path / 'run')
  hparams = overrides('batch_size=2,rnn_layer_sizes=[8],attn_length=2,dropout_keep_prob=1.0,'
                      'learning_rate=0.01')
  result = training.train(KIT_TASK, run, train_file, hparams, num_training_steps=300,
                          summary_frequency=100, seed=1, validation_file=validation_file,
                          validate_every=5, patience=2)
  losses = [h['validation']['loss'] for h in result.history]
  steps = [h['step'] for h in result.history]
  assert steps == list(range(5, result.final_step + 1, 5))
  best = int(np.argmin(losses))
  assert losses[best] < losses[0]  # the loss fell
  assert result.reason == 'patience' and result.final_step < 300
  assert len(losses) - 1 - best == 2  # stopped after `patience` validations without improvement
  assert all(loss >= losses[best] for loss in losses[best + 1:])
  assert result.best_checkpoint.endswith(os.path.join('best', f'model.ckpt-{steps[best]}'))
  # Only the best is kept, with the run's settings: it loads like a run directory and
  # scores what the history says.
  best_dir = os.path.dirname(result.best_checkpoint)
  assert sorted(glob.glob(os.path.join(best_dir, '*.index'))) == [result.best_checkpoint + '.index']
  loaded = loading.load_model(best_dir)
  assert loaded.source == result.best_checkpoint
  evaluator = Evaluator(KIT_TASK, loaded.hparams, [validation_file])
  step, metrics = evaluator.evaluate(result.best_checkpoint)
  assert step == steps[best] and metrics['loss'] == pytest.approx(losses[best], rel=1e-5)
  with open(os.path.join(best_dir, 'history.json'), encoding='utf-8') as f:
    assert [h['step'] for h in json.load(f)] == steps

  # Resumed with a later target: the history says patience ran out, so nothing more is trained.
  again = training.train(KIT_TASK, run, train_file, None, num_training_steps=400,
                         validation_file=validation_file, validate_every=5, patience=2)
  assert (again.reason, again.start_step, again.final_step) == ('patience', result.final_step,
                                                                 result.final_step)
  assert [h['step'] for h in again.history] == steps


def test_validation_history_continues_when_resumed(tmp_path):
  train_file = write_examples(str(tmp_path / 'train.tfrecord'), DRUM_KIT,
                              [(PATTERN * 8)[:n] for n in (40, 33, 21, 50)])
  run = str(tmp_path / 'run')
  hparams = overrides('batch_size=2,rnn_layer_sizes=[8],attn_length=2')
  first = training.train(KIT_TASK, run, train_file, hparams, num_training_steps=4, seed=1,
                         validation_file=train_file, validate_every=2)
  assert [h['step'] for h in first.history] == [2, 4] and first.reason == 'num_training_steps'
  second = training.train(KIT_TASK, run, train_file, None, num_training_steps=7, seed=1,
                          validation_file=train_file, validate_every=2)
  assert [h['step'] for h in second.history] == [2, 4, 6, 7]  # and at the last step
  losses = [h['validation']['loss'] for h in second.history]
  best_step = second.history[int(np.argmin(losses))]['step']
  assert second.best_checkpoint.endswith(f'model.ckpt-{best_step}')


def test_warm_start_sets_a_fresh_run_and_a_resumed_run_keeps_its_checkpoint(tmp_path):
  path = write_records(str(tmp_path / 'data.tfrecord'),
                       [_records_of(DRUM_KIT, [1, 2, 3, 4, 5, 6])] * 4)
  seen = []

  def start_at_zero(model):
    seen.append(model)
    model.set_weights({k: np.zeros_like(v) for k, v in model.get_weights().items()})

  run = str(tmp_path / 'run')
  hparams = overrides('batch_size=2,rnn_layer_sizes=[4],learning_rate=1e-9')
  result = training.train(KIT_TASK, run, path, hparams, num_training_steps=2, seed=0,
                          warm_start=start_at_zero)
  assert len(seen) == 1
  weights = loading.load_model(run).model.get_weights()
  assert max(abs(v).max() for v in weights.values()) < 1e-6  # a tiny learning rate: the warm start's zeros
  training.train(KIT_TASK, run, path, hparams, num_training_steps=4, seed=0, warm_start=start_at_zero)
  assert len(seen) == 1 and result.checkpoint  # resumed from its checkpoint, not started again


def test_frozen_entries_keep_their_values_in_a_fresh_and_a_resumed_run(tmp_path):
  path = write_records(str(tmp_path / 'data.tfrecord'),
                       [_records_of(DRUM_KIT, [1, 2, 3, 4, 5, 6])] * 4)
  run = str(tmp_path / 'run')
  hparams = overrides('batch_size=2,rnn_layer_sizes=[4],learning_rate=0.1')
  shapes = trainer_lib.Trainer(KIT_TASK, DRUM_KIT.hparams(hparams)).model.get_weights()
  rng = np.random.default_rng(0)
  start = {name: rng.uniform(-0.3, 0.3, value.shape).astype(np.float32) for name, value in shapes.items()}
  frozen = {name: np.arange(value.size).reshape(value.shape) % 2 == 0 for name, value in start.items()}
  frozen['fully_connected/biases'][:] = True
  for steps in (2, 4):  # the second call resumes from the first one's checkpoint
    training.train(KIT_TASK, run, path, hparams, num_training_steps=steps, seed=0, frozen=frozen,
                   warm_start=lambda model: model.set_weights(start))
    trained = loading.load_model(run).model.get_weights()
    for name, value in start.items():
      np.testing.assert_array_equal(trained[name][frozen[name]], value[frozen[name]], err_msg=name)
  moved = [name for name in start if np.any(trained[name][~frozen[name]] != start[name][~frozen[name]])]
  assert len(moved) == len(start) - 1  # every weight with free entries trained


def test_frozen_masks_must_name_the_model_s_weights():
  hparams = DRUM_KIT.hparams(overrides('rnn_layer_sizes=[4]'))
  with pytest.raises(DrumsRnnError, match='does not have: nope'):
    trainer_lib.Trainer(KIT_TASK, hparams, frozen={'nope': np.zeros(3, bool)})
  with pytest.raises(DrumsRnnError, match='frozen mask of fully_connected/biases has shape'):
    trainer_lib.Trainer(KIT_TASK, hparams, frozen={'fully_connected/biases': np.zeros(3, bool)})
