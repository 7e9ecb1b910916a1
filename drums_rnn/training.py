"""Training and evaluation loops (Magenta's `drums_rnn_train`, TF2 style).

Training (:func:`train`) follows Magenta's `events_rnn_train.run_training`
and tf-slim's `create_train_op`: masked softmax cross-entropy averaged over
the real (unpadded) steps of a batch, Adam with a constant learning rate,
every gradient tensor clipped separately to `clip_norm` (`tf.clip_by_norm`),
a checkpoint every 60 s and at the end keeping `num_checkpoints`, and
`num_training_steps` as an ABSOLUTE global step (resuming does not add
steps). What differs, and why:

* checkpoints are TF2 object checkpoints (`model.ckpt-<step>.index/.data`)
  holding the model, the Adam slots and the step, so a run resumes exactly;
  Magenta-format V1 checkpoints and bundles are written by the bundle code
  from the model's Magenta-layout weights;
* the config name and the full hparams are saved beside the checkpoints
  (`run_dir.save_settings`) and reused: hparams given again must agree;
* SIGINT / SIGTERM save a checkpoint before exiting; a NaN loss stops the
  run with a clear error instead of a NanTensorHook traceback.

Evaluation (:func:`evaluate_repeatedly`) waits for every new checkpoint in
`run_dir/train` and evaluates the whole eval set (the last partial batch
counts). **Dropout is OFF in evaluation**: Magenta builds its eval graph with
the training keep probability (so its eval loss is noisy and pessimistic);
we report the loss of the model as it is used for generation.

Distribution: the step runs under a `tf.distribute` strategy -- the default
(one device) strategy normally, `MirroredStrategy` when several GPUs are
visible. Each replica takes every n-th track of the batch; the per-replica
step returns gradient and metric *sums*, which are summed across replicas and
applied once, so the result equals the one-device step on the whole batch
(tested with two logical CPU devices standing in for two GPUs).
Multi-worker training would use `tf.distribute.MultiWorkerMirroredStrategy`
the same way (set `TF_CONFIG` on every worker, let only the chief write
checkpoints and summaries); it is not wired to a flag because a model of this
size trains comfortably on one machine.
"""

import contextlib
import dataclasses
import math
import os
import signal
import time

import numpy as np
import tensorflow as tf
from absl import logging

from drums_rnn import configs
from drums_rnn import input_pipeline
from drums_rnn import files
from drums_rnn import run_dir as run_dir_lib
from drums_rnn.errors import DrumsRnnError
from drums_rnn.model import CompactInputs
from drums_rnn.model import DrumsRnnModel

CHECKPOINT_PREFIX = 'model.ckpt'
CHECKPOINT_INTERVAL_SECS = 60

# Summary tags, as Magenta names them.
TRAIN_TAGS = ('loss', 'metrics/perplexity', 'metrics/accuracy', 'metrics/event_accuracy',
              'metrics/no_event_accuracy', 'metrics/loss_per_step', 'metrics/perplexity_per_step')


class Adam(tf.Module):
  """TF1 `AdamOptimizer` maths (beta1 0.9, beta2 0.999, epsilon 1e-8).

  Written out (a dozen lines) rather than taken from Keras so its state is
  plain tf.Variables in the checkpoint and it runs unchanged under any
  distribution strategy and in TF1 graphs.
  """

  def __init__(self, variables, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8):
    super().__init__(name=None)
    self.learning_rate = float(learning_rate)
    self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
    self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name='adam_iterations')
    self.m = [tf.Variable(tf.zeros_like(v), trainable=False, name='adam_m') for v in variables]
    self.v = [tf.Variable(tf.zeros_like(v), trainable=False, name='adam_v') for v in variables]

  def apply(self, grads, variables):
    t = tf.cast(self.iterations.assign_add(1), tf.float32)
    lr = self.learning_rate * tf.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)
    for g, var, m, v in zip(grads, variables, self.m, self.v):
      m.assign(self.beta1 * m + (1.0 - self.beta1) * g)
      v.assign(self.beta2 * v + (1.0 - self.beta2) * tf.square(g))
      var.assign_sub(lr * m / (tf.sqrt(v) + self.epsilon))


# --- metrics --------------------------------------------------------------------------


def metric_sums(logits, labels, lengths, num_classes=None, no_event_label=0):
  """Sums over the real steps of a batch; combine across batches by adding.

  Returns a dict of float32 scalars: xent (sum of cross-entropy), steps,
  correct, event_steps, event_correct, no_event_steps, no_event_correct; and,
  when num_classes is given, class_steps / class_correct ([num_classes]).
  """
  mask = tf.sequence_mask(lengths, tf.shape(labels)[1], dtype=tf.float32)
  xent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
  correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=labels.dtype), labels), tf.float32)
  correct *= mask
  event = tf.cast(tf.not_equal(labels, no_event_label), tf.float32) * mask
  sums = {
      'xent': tf.reduce_sum(xent * mask),
      'steps': tf.reduce_sum(mask),
      'correct': tf.reduce_sum(correct),
      'event_steps': tf.reduce_sum(event),
      'event_correct': tf.reduce_sum(correct * event),
      'no_event_steps': tf.reduce_sum(mask - event),
      'no_event_correct': tf.reduce_sum(correct * (mask - event)),
  }
  if num_classes:
    one_hot = tf.one_hot(labels, num_classes) * mask[..., None]
    sums['class_steps'] = tf.reduce_sum(one_hot, [0, 1])
    sums['class_correct'] = tf.reduce_sum(one_hot * correct[..., None], [0, 1])
  return sums


def _ratio(a, b):
  return float(a) / float(b) if float(b) else float('nan')


def metrics_from_sums(sums):
  """Magenta's summary values from :func:`metric_sums` totals."""
  loss = _ratio(sums['xent'], sums['steps'])
  result = {
      'loss': loss,
      'metrics/perplexity': math.exp(min(loss, 700.0)),
      'metrics/accuracy': _ratio(sums['correct'], sums['steps']),
      'metrics/event_accuracy': _ratio(sums['event_correct'], sums['event_steps']),
      'metrics/no_event_accuracy': _ratio(sums['no_event_correct'], sums['no_event_steps']),
      # One label per event for drums, so per-step equals per-event (ref 2.8).
      'metrics/loss_per_step': loss,
      'metrics/perplexity_per_step': math.exp(min(loss, 700.0)),
  }
  if 'class_steps' in sums:
    # tf.metrics.mean_per_class_accuracy: mean over ALL classes, absent ones count 0.
    steps = np.asarray(sums['class_steps'], np.float64)
    correct = np.asarray(sums['class_correct'], np.float64)
    per_class = np.divide(correct, steps, out=np.zeros_like(correct), where=steps > 0)
    result['metrics/per_class_accuracy'] = float(per_class.mean())
  return result


def evaluate_log_likelihood(model, examples, batch_size=64):
  """Mean log-likelihood per step of sequences under `model` (dropout off).

  Args:
    model: a DrumsRnnModel.
    examples: a list of tf.train.SequenceExample (or their serialized bytes),
      or one batch `(inputs [B, T, n], labels [B, T])` or
      `(inputs, labels, lengths)` of numpy arrays / tensors.
    batch_size: batch size used for a list of examples.
  Returns:
    float: the sum of log p(label) over all real steps / number of steps.
  """
  if isinstance(examples, tuple):
    inputs, labels = examples[0], examples[1]
    if len(examples) > 2:
      lengths = examples[2]
    else:
      lengths = np.full([np.shape(labels)[0]], np.shape(labels)[1], np.int32)
    batches = [(inputs, labels, lengths)]
  else:
    parse = input_pipeline.parse_fn(model.input_size)
    serialized = [e if isinstance(e, bytes) else e.SerializeToString() for e in examples]
    if not serialized:
      raise DrumsRnnError('no sequences to evaluate')
    dataset = tf.data.Dataset.from_tensor_slices(serialized).map(parse)
    batches = dataset.padded_batch(batch_size, padded_shapes=([None, model.input_size], [None], []))
  xent, steps = 0.0, 0.0
  for inputs, labels, lengths in batches:
    logits, _ = model(inputs)
    sums = metric_sums(logits, tf.cast(labels, tf.int64), tf.cast(lengths, tf.int32))
    xent += float(sums['xent'])
    steps += float(sums['steps'])
  if not steps:
    raise DrumsRnnError('the sequences have no steps to evaluate')
  return -xent / steps


# --- settings -------------------------------------------------------------------------


def resolve_settings(run_dir, config_name, hparams_string):
  """Config and hparams for a run, reconciled with what the run saved.

  A fresh run uses the config defaults updated by `hparams_string`. A run
  with saved settings reuses them; a different config or an hparam given
  again with a different value is an error showing both.
  """
  config = configs.get_config(config_name)
  overrides = configs.parse_hparams(hparams_string, config.hparams()) if hparams_string else {}
  train_path = run_dir_lib.train_dir(run_dir)
  try:
    saved_name, saved = run_dir_lib.load_settings(train_path)
  except DrumsRnnError:
    if os.path.isfile(os.path.join(train_path, run_dir_lib.SETTINGS_FILE)):
      raise
    return config, config.hparams(overrides), False
  if saved_name != config.name:
    raise DrumsRnnError(f'{train_path} was trained with --config={saved_name}, '
                        f'not --config={config.name}')
  conflicts = [f'{k}: saved {saved[k]!r}, given {v!r}' for k, v in sorted(overrides.items())
               if saved.get(k) != v]
  if conflicts:
    raise DrumsRnnError(f'--hparams contradict the hparams saved in {train_path} '
                        f'({"; ".join(conflicts)}); use a new --run_dir or drop them')
  return config, saved, True


# --- the train step -------------------------------------------------------------------


def pick_strategy():
  """MirroredStrategy over several GPUs, otherwise the default strategy."""
  gpus = tf.config.list_logical_devices('GPU')
  if len(gpus) > 1:
    return tf.distribute.MirroredStrategy()
  return tf.distribute.get_strategy()


class Trainer:
  """The model, its optimizer and one compiled train step.

  Args:
    config: a DrumsRnnConfig.
    hparams: its HParams.
    seed: seeds weight init, dropout and shuffling.
    strategy: a tf.distribute.Strategy (default: :func:`pick_strategy`).
    compiled: False runs the same step eagerly (the benchmark's reference).
    jit_compile: compile the step with XLA.
    compact: feed the model CompactInputs (one-hot part as indices); dense
      inputs given to `train_step` are converted.
  """

  def __init__(self, config, hparams, seed=None, strategy=None, compiled=True, jit_compile=False,
               compact=True):
    self.config = config
    self.compact = compact
    self.hparams = hparams
    self.strategy = strategy or pick_strategy()
    if seed is not None:
      tf.random.set_seed(seed)
    with self.strategy.scope():
      self.model = DrumsRnnModel.from_config(config, hparams, seed=seed)
      self.variables = list(self.model.weights.values())
      self.optimizer = Adam(self.variables, hparams.learning_rate)
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='global_step')
    self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, step=self.step)
    self._train_step = self._make_train_step(compiled, jit_compile)

  def _make_train_step(self, compiled, jit_compile):
    model, strategy = self.model, self.strategy
    clip_norm = float(self.hparams.clip_norm)
    if self.compact:
      extras = model.input_size - self.config.encoding.num_classes
      inputs_spec = CompactInputs(tf.TensorSpec([None, None], tf.int32),
                                  tf.TensorSpec([None, None, extras], tf.float32))
    else:
      inputs_spec = tf.TensorSpec([None, None, model.input_size], tf.float32)
    signature = [inputs_spec,
                 tf.TensorSpec([None, None], tf.int64),
                 tf.TensorSpec([None], tf.int32)]

    def replica_step(inputs, labels, lengths):
      context = tf.distribute.get_replica_context()
      replicas = context.num_replicas_in_sync
      if replicas > 1:
        # Each replica takes every n-th track of the batch: the batch is split,
        # not copied, and any batch size works.
        i = context.replica_id_in_sync_group
        inputs, labels, lengths = tf.nest.map_structure(lambda x: x[i::replicas],
                                                        (inputs, labels, lengths))
      with tf.GradientTape() as tape:
        logits, _ = model(inputs, training=True)
        sums = metric_sums(logits, labels, lengths)
        # Sum, not mean: the sums of all replicas are added, then divided once.
        objective = sums['xent']
      grads = tape.gradient(objective, self.variables)
      return grads, sums

    def step(inputs, labels, lengths):
      grads, sums = strategy.run(replica_step, args=(inputs, labels, lengths))
      grads = [strategy.reduce(tf.distribute.ReduceOp.SUM, g, axis=None) for g in grads]
      sums = {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in sums.items()}
      steps = tf.maximum(sums['steps'], 1.0)
      grads = [tf.clip_by_norm(g / steps, clip_norm) for g in grads]
      self.optimizer.apply(grads, self.variables)
      self.step.assign_add(1)
      return sums

    if not compiled:
      return step
    return tf.function(step, input_signature=signature, jit_compile=jit_compile or None,
                       reduce_retracing=True)

  def train_step(self, inputs, labels, lengths):
    """One optimisation step on a padded batch; returns the batch metric sums."""
    if isinstance(inputs, CompactInputs):
      if not self.compact:
        inputs = inputs.to_dense(self.model.input_size)
    else:
      inputs = tf.convert_to_tensor(inputs, tf.float32)
      if self.compact:
        inputs = input_pipeline.compact_inputs(inputs, self.config.encoding.num_classes)
    return self._train_step(inputs, tf.convert_to_tensor(labels, tf.int64),
                            tf.convert_to_tensor(lengths, tf.int32))


# --- the training loop ----------------------------------------------------------------


class _StopSignal:
  """Turns SIGINT/SIGTERM into a flag the loop checks between steps."""

  def __init__(self):
    self.received = None
    self._previous = {}

  def __enter__(self):
    for sig in (signal.SIGINT, signal.SIGTERM):
      try:
        self._previous[sig] = signal.signal(sig, self._handle)
      except ValueError:  # not the main thread: leave signals alone
        pass
    return self

  def _handle(self, signum, frame):
    del frame
    if self.received is not None:  # second signal: give up waiting
      raise KeyboardInterrupt
    self.received = signal.Signals(signum).name

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


@dataclasses.dataclass
class TrainResult:
  """What a training run did."""
  start_step: int
  final_step: int
  last_metrics: dict
  checkpoint: str
  stopped_by: str = ''


@contextlib.contextmanager
def _data_errors():
  """Turns a bad record met while reading batches into a DrumsRnnError."""
  try:
    yield
  except tf.errors.InvalidArgumentError as e:
    lines = [l for l in str(e.message).splitlines() if l.strip()]
    raise DrumsRnnError(f'bad SequenceExample data: {lines[0] if lines else e}') from None


def _format_eta(seconds):
  seconds = int(seconds)
  return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def train(run_dir, sequence_example_file, config_name='drum_kit', hparams='',
          num_training_steps=0, summary_frequency=10, num_checkpoints=10, seed=None,
          checkpoint_interval_secs=CHECKPOINT_INTERVAL_SECS, jit_compile=False,
          bucket_by_length=True):
  """Trains (or resumes training) a model in `run_dir/train`.

  Args:
    run_dir: the run directory; checkpoints and summaries go to run_dir/train.
    sequence_example_file: glob of SequenceExample TFRecords.
    config_name: 'drum_kit' or 'one_drum'.
    hparams: Magenta `--hparams` string (or '').
    num_training_steps: stop at this ABSOLUTE global step; 0 = until stopped.
    summary_frequency: steps between summaries and progress lines.
    num_checkpoints: checkpoints to keep (0 = all).
    seed: seeds init, dropout and shuffling (None = random).
    checkpoint_interval_secs: seconds between periodic checkpoints.
    jit_compile: compile the train step with XLA.
    bucket_by_length: batch tracks of similar length together so less
      padding is computed (`input_pipeline.training_dataset`).

  Returns:
    TrainResult.
  """
  config, hp, resumed = resolve_settings(run_dir, config_name, hparams)
  paths = input_pipeline.list_files(sequence_example_file)
  input_pipeline.check_files(paths, config.encoding.input_size, config.encoding.num_classes)
  train_path = files.ensure_dir(run_dir_lib.train_dir(run_dir))
  if summary_frequency <= 0:
    raise DrumsRnnError(f'--summary_frequency must be positive, got {summary_frequency}')

  trainer = Trainer(config, hp, seed=seed, jit_compile=jit_compile)
  manager = tf.train.CheckpointManager(
      trainer.checkpoint, train_path, max_to_keep=num_checkpoints or None,
      keep_checkpoint_every_n_hours=1, checkpoint_name=CHECKPOINT_PREFIX)
  if manager.latest_checkpoint:
    trainer.checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    logging.info('Resuming from %s (step %d).', manager.latest_checkpoint, int(trainer.step))
  elif resumed:
    logging.info('Settings found in %s but no checkpoint: starting at step 0.', train_path)
  run_dir_lib.save_settings(train_path, config.name, hp)
  logging.info('Training %s %s on %d file(s): %s', config.name, hp.to_json(), len(paths),
               ', '.join(paths))
  logging.info('Checkpoints and summaries go to %s', train_path)

  start_step = int(trainer.step)
  if num_training_steps and start_step >= num_training_steps:
    logging.info('Already at step %d >= --num_training_steps=%d: nothing to do.',
                 start_step, num_training_steps)
    return TrainResult(start_step, start_step, {}, manager.latest_checkpoint or '')

  dataset = input_pipeline.training_dataset(paths, config.encoding.input_size, hp.batch_size,
                                            seed=seed, num_one_hot=config.encoding.num_classes,
                                            bucket_by_length=bucket_by_length)
  writer = tf.summary.create_file_writer(train_path)
  last_save = time.time()
  window_start, window_step = time.time(), start_step
  metrics = {}
  stopped_by = ''
  step = start_step
  with _StopSignal() as stop, writer.as_default(), _data_errors():
    for inputs, labels, lengths in dataset:
      sums = trainer.train_step(inputs, labels, lengths)
      step = int(trainer.step)
      loss = _ratio(sums['xent'], sums['steps'])
      if not math.isfinite(loss):
        raise DrumsRnnError(f'loss is {loss} at step {step}: training diverged (try a lower '
                            'learning_rate or clip_norm); the last good checkpoint is '
                            f'{manager.latest_checkpoint}')
      done = bool(num_training_steps) and step >= num_training_steps
      if step % summary_frequency == 0 or done:
        metrics = metrics_from_sums({k: v.numpy() for k, v in sums.items()})
        now = time.time()
        rate = (step - window_step) / max(now - window_start, 1e-9)
        window_start, window_step = now, step
        for tag, value in metrics.items():
          tf.summary.scalar(tag, value, step=step)
        tf.summary.scalar('global_step/sec', rate, step=step)
        eta = ''
        if num_training_steps:
          eta = f', ETA {_format_eta((num_training_steps - step) / max(rate, 1e-9))}'
        logging.info('Step %d: loss %.4f, perplexity %.3f, accuracy %.4f (%.2f steps/s%s)', step,
                     metrics['loss'], metrics['metrics/perplexity'], metrics['metrics/accuracy'],
                     rate, eta)
      if done or stop.received:
        stopped_by = stop.received or ''
        break
      if time.time() - last_save >= checkpoint_interval_secs:
        path = manager.save(checkpoint_number=step)
        logging.info('Saved checkpoint %s', path)
        last_save = time.time()
    writer.flush()
    path = manager.save(checkpoint_number=step)
  if stopped_by:
    logging.info('Received %s: saved checkpoint %s at step %d and stopped.', stopped_by, path, step)
  else:
    logging.info('Saved checkpoint %s; training stopped at step %d.', path, step)
  return TrainResult(start_step, step, metrics, path, stopped_by)


# --- evaluation -------------------------------------------------------------------------


class Evaluator:
  """Evaluates checkpoints on a whole eval set with one compiled function."""

  def __init__(self, config, hparams, paths, num_eval_examples=0, batch_size=None):
    self.config = config
    self.model = DrumsRnnModel.from_config(config, hparams)
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='global_step')
    self.checkpoint = tf.train.Checkpoint(model=self.model, step=self.step)
    self.dataset = input_pipeline.eval_dataset(
        paths, config.encoding.input_size, batch_size or hparams.batch_size, num_eval_examples,
        num_one_hot=config.encoding.num_classes)
    num_classes = config.encoding.num_classes
    no_event = config.encoding.no_event_class
    model = self.model

    @tf.function(reduce_retracing=True)
    def batch_sums(inputs, labels, lengths):
      logits, _ = model(inputs, training=False)
      return metric_sums(logits, labels, lengths, num_classes, no_event)

    self._batch_sums = batch_sums

  def evaluate(self, checkpoint_path):
    """(step, metrics dict) for one checkpoint."""
    status = self.checkpoint.restore(checkpoint_path)
    status.expect_partial()
    status.assert_existing_objects_matched()
    totals = None
    with _data_errors():
      batches = list(self.dataset)
    for inputs, labels, lengths in batches:
      sums = self._batch_sums(inputs, labels, lengths)
      sums = {k: v.numpy().astype(np.float64) for k, v in sums.items()}
      totals = sums if totals is None else {k: totals[k] + sums[k] for k in totals}
    if totals is None or not totals['steps']:
      raise DrumsRnnError('the eval set has no steps to evaluate')
    return int(self.step), metrics_from_sums(totals)


def evaluate_repeatedly(run_dir, sequence_example_file, config_name='drum_kit', hparams='',
                        num_eval_examples=0, timeout_secs=300, interval_secs=60,
                        max_evaluations=None):
  """Evaluates each new checkpoint of run_dir/train; writes run_dir/eval.

  Returns after `timeout_secs` without a new checkpoint (or after
  `max_evaluations`). Returns a list of (step, metrics) evaluated.
  """
  config = configs.get_config(config_name)
  paths = input_pipeline.list_files(sequence_example_file)
  input_pipeline.check_files(paths, config.encoding.input_size, config.encoding.num_classes)
  if num_eval_examples < 0:
    raise DrumsRnnError(f'--num_eval_examples must be >= 0, got {num_eval_examples}')
  train_path = run_dir_lib.train_dir(run_dir)
  eval_path = files.ensure_dir(run_dir_lib.eval_dir(run_dir))
  writer = tf.summary.create_file_writer(eval_path)
  logging.info('Evaluating checkpoints of %s on %s; summaries go to %s',
               train_path, ', '.join(paths), eval_path)
  results = []
  evaluator = None
  for checkpoint_path in tf.train.checkpoints_iterator(
      train_path, min_interval_secs=interval_secs, timeout=timeout_secs):
    if evaluator is None:
      # Settings are read once the first checkpoint exists: training writes
      # them, and an eval job is often started before training.
      config, hp, _ = resolve_settings(run_dir, config_name, hparams)
      evaluator = Evaluator(config, hp, paths, num_eval_examples)
    step, metrics = evaluator.evaluate(checkpoint_path)
    with writer.as_default():
      for tag, value in metrics.items():
        tf.summary.scalar(tag, value, step=step)
    writer.flush()
    logging.info('Eval of %s: step %d, loss %.4f, perplexity %.3f, accuracy %.4f, '
                 'event accuracy %.4f, no-event accuracy %.4f, per-class accuracy %.4f',
                 os.path.basename(checkpoint_path), step, metrics['loss'],
                 metrics['metrics/perplexity'], metrics['metrics/accuracy'],
                 metrics['metrics/event_accuracy'], metrics['metrics/no_event_accuracy'],
                 metrics['metrics/per_class_accuracy'])
    results.append((step, metrics))
    if max_evaluations and len(results) >= max_evaluations:
      break
  else:
    logging.info('No new checkpoint in %s for %d s: evaluation finished.', train_path, timeout_secs)
  return results
