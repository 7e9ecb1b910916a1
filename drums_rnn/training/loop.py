"""Training (Magenta's `drums_rnn_train`, TF2 style): `train`, the loop over a run directory.

:func:`train` follows Magenta's `events_rnn_train.run_training` and tf-slim's
`create_train_op`: masked softmax cross-entropy averaged over the real
(unpadded) steps of a batch, Adam with a constant learning rate, every
gradient tensor clipped separately to `clip_norm` (`tf.clip_by_norm`; 0 = no
clipping, as tf-slim), a checkpoint every 60 s and at the end keeping
`num_checkpoints`, and `num_training_steps` as an ABSOLUTE global step
(resuming does not add steps). What differs, and why:

* checkpoints are TF2 object checkpoints (`model.ckpt-<step>.index/.data`)
  holding the model, the Adam slots and the step, so a run resumes exactly;
  Magenta-format checkpoints and bundles are written by the bundle code from
  the model's Magenta-layout weights;
* the config name and the full hparams are saved beside the checkpoints
  (`run_dir.save_settings`) once the first step has run, and reused: hparams
  given again must agree;
* with `validation_file`, the model is scored on it every `validate_every`
  steps with dropout off (:class:`drums_rnn.training.validation.Validation`: the
  best checkpoint is kept in `train/best/`, and `patience` evaluations
  without improvement stop the run), so the default-model recipe is one call.

Faults (contract): one trainer per run directory (:class:`files.RunLock`
held for the whole run; a second one refuses at once naming the first's
pid); arguments and hparams are checked before anything is written; a
damaged latest checkpoint falls back to the newest intact one with a warning
(:func:`checkpoints.restore_newest_intact`); a checkpoint save that fails (a full
disk) ends with one error and leaves the last good checkpoint listed and no
partial files (:class:`drums_rnn.training.checkpoints.Checkpoints`); a damaged
record is named by file and record; SIGINT / SIGTERM save a checkpoint and
return with `TrainResult.stopped_by` set (a second signal stops at once);
a NaN loss stops with a clear error instead of a NanTensorHook traceback.

Several machines: when TF_CONFIG names a cluster, every task runs this same
function under MultiWorkerMirroredStrategy (:mod:`drums_rnn.training.distributed`).
The strategy is made first, before TensorFlow runs anything; the workers then
agree on their settings and seed, only the chief writes the run directory
(the others write a temporary folder of their own), the chief's restored
checkpoint is broadcast to all, and every stop decision is taken together
at the same step (a signal or the time limit on any task; early stopping as
the chief's validation history says). A lost task ends the others with one
error and nothing saved (the chief's last checkpoint stands).

The model, its optimizer and the compiled step (and how it is distributed
over devices) are :class:`drums_rnn.training.trainer.Trainer`'s.
"""

import dataclasses
import json
import math
import os
import signal
import time
from typing import List

from absl import logging

from drums_rnn import files
from drums_rnn.errors import ArgumentError
from drums_rnn.errors import DrumsRnnError
from drums_rnn.errors import Terminated
from drums_rnn.training import checkpoints
from drums_rnn.training import distributed
from drums_rnn.training import input_pipeline
from drums_rnn.training import run_dir as run_dir_lib
from drums_rnn.training import summaries
from drums_rnn.training import validation as validation_lib
from drums_rnn.training.evaluator import Evaluator
from drums_rnn.training.evaluator import ratio
from drums_rnn.training.trainer import Trainer

CHECKPOINT_INTERVAL_SECS = 60


# --- settings -------------------------------------------------------------------------


def resolve_settings(run_dir, config, hparams=None):
  """Config and hparams for a run, reconciled with what the run saved.

  Args:
    run_dir: the run directory (it need not exist).
    config: the DrumsRnnConfig asked for.
    hparams: overrides, a mapping of hparam names to values (only those to
      change); their types and ranges are checked here.

  A fresh run uses the config defaults updated by `hparams`. A run with
  saved settings reuses them; a different config, or an hparam given with a
  value other than the saved one, is an error showing both.

  Returns:
    (config, HParams, resumed).
  """
  overrides = dict(hparams or {})
  fresh = config.hparams(overrides)
  train_path = run_dir_lib.train_dir(run_dir)
  if not os.path.isfile(os.path.join(train_path, run_dir_lib.SETTINGS_FILE)):
    return config, fresh, False
  saved_name, saved = run_dir_lib.load_settings(train_path)
  if saved_name != config.name:
    raise ArgumentError(f'{train_path} was trained with {{config}}={saved_name}, '
                        f'not {{config}}={config.name}', 'config')
  conflicts = [f'{k}: saved {saved.get(k)!r}, given {fresh[k]!r}' for k in sorted(overrides)
               if saved.get(k) != fresh[k]]
  if conflicts:
    raise ArgumentError(f'{{hparams}} contradict the hparams saved in {train_path} '
                        f'({"; ".join(conflicts)}); use a new {{run_dir}} or drop them', 'hparams',
                        'run_dir')
  return config, saved, True


# --- the training loop ----------------------------------------------------------------


class _StopSignal:
  """Turns SIGINT/SIGTERM into a flag the loop checks between steps.

  A second signal stops at once (KeyboardInterrupt for SIGINT, Terminated
  for SIGTERM), so a save that hangs can still be interrupted; the
  checkpoint writer removes what it had begun.
  """

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
    if self.received is not None:
      raise KeyboardInterrupt if signum == signal.SIGINT else Terminated()
    self.received = signal.Signals(signum).name

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


@dataclasses.dataclass
class TrainResult:
  """What a training run did.

  Attributes:
    start_step, final_step: global steps at the start and the end.
    last_metrics: the training metrics of the last summarised batch.
    checkpoint: the last checkpoint saved (or restored), '' if none.
    stopped_by: 'SIGINT' or 'SIGTERM' when a signal stopped the run, else ''.
    reason: why it stopped: 'num_training_steps', 'patience', 'max_hours',
      the signal's name, or 'cluster' (a signal stopped another task of the
      cluster, and so this one).
    history: with validation, one dict per evaluation (step, seconds,
      train and validation metrics), the resumed run's earlier ones included.
    best_checkpoint: with validation, the kept best checkpoint ('' if none).

  On a cluster's other workers, `checkpoint` names the chief's checkpoint of
  the same step, and `history` and `best_checkpoint` are empty: they are the
  chief's.
  """
  start_step: int
  final_step: int
  last_metrics: dict
  checkpoint: str
  stopped_by: str = ''
  reason: str = ''
  history: List[dict] = dataclasses.field(default_factory=list)
  best_checkpoint: str = ''

  def signal_exit(self):
    """(exit code 128 + the signal, a line saying where the checkpoint is) after a signal stop."""
    if self.checkpoint and checkpoints.step_of(self.checkpoint) == self.final_step:
      where = f'checkpoint {self.checkpoint} saved; run the same command to resume'
    elif self.checkpoint:  # stopped before a step was trained
      where = f'the latest checkpoint is {self.checkpoint}; run the same command to resume'
    else:
      where = 'no checkpoint saved (no step was trained)'
    return (128 + signal.Signals[self.stopped_by].value,
            f'stopped by {self.stopped_by} at step {self.final_step}: {where}')


def _format_eta(seconds):
  seconds = int(seconds)
  return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def _check_arguments(num_training_steps, summary_frequency, num_checkpoints,
                     checkpoint_interval_secs, validate_every, patience, max_hours):
  for name, value, ok, what in (
      ('num_training_steps', num_training_steps, num_training_steps >= 0, '>= 0 (0 = until stopped)'),
      ('summary_frequency', summary_frequency, summary_frequency >= 1, 'at least 1'),
      ('num_checkpoints', num_checkpoints, num_checkpoints >= 0, '>= 0 (0 = keep all)'),
      ('checkpoint_interval_secs', checkpoint_interval_secs, checkpoint_interval_secs >= 0, '>= 0'),
      ('validate_every', validate_every, validate_every >= 1, 'at least 1'),
      ('patience', patience, patience >= 0, '>= 0 (0 = never stop early)'),
      ('max_hours', max_hours, max_hours >= 0, '>= 0 (0 = no limit)')):
    if not ok:
      raise DrumsRnnError(f'{name} must be {what}, got {value!r}')


def train(task, run_dir, sequence_example_file, hparams=None, num_training_steps=0,
          summary_frequency=10, num_checkpoints=10, seed=None,
          checkpoint_interval_secs=CHECKPOINT_INTERVAL_SECS, jit_compile=False,
          bucket_by_length=True, validation_file=None, validate_every=200, patience=0,
          max_hours=0.0, balance_tokens=False, warm_start=None, frozen=None):
  """Trains (or resumes training) a model in `run_dir/train`.

  Args:
    task: the model family's :class:`~drums_rnn.training.task.Task` for the
      config to train (:func:`drums_rnn.kinds.task_for`).
    run_dir: the run directory; checkpoints and summaries go to run_dir/train.
    sequence_example_file: glob of SequenceExample TFRecords.
    hparams: overrides of the config's hparams, a mapping of names to values
      (only those to change; a resumed run must agree with its saved ones).
    num_training_steps: stop at this ABSOLUTE global step; 0 = until stopped.
    summary_frequency: steps between summaries and progress lines.
    num_checkpoints: checkpoints to keep (0 = all).
    seed: seeds init, dropout and shuffling (None = random).
    checkpoint_interval_secs: seconds between periodic checkpoints.
    jit_compile: compile the train step with XLA.
    bucket_by_length: batch tracks of similar length together so less
      padding is computed (`input_pipeline.training_dataset`).
    balance_tokens: with bucketing, batch more of the shorter tracks so each
      batch holds about the same number of steps (each track then weighs by
      its steps, as in unbucketed batches).
    warm_start: None, or a callable that sets the fresh model's weights
      (given the model) when the run starts at step 0; a resumed run keeps
      its checkpoint. The family provides it (e.g.
      `language_model.warm_start.widen_into`).
    frozen: None, or {weight name: bool array}: entries training leaves
      unchanged, in a fresh and a resumed run alike (e.g. the weights a warm
      start copied: `language_model.warm_start.copied_entries`).
    validation_file: glob of SequenceExample TFRecords to validate on
      (None = no validation).
    validate_every: steps between validations (and at the last step).
    patience: stop after this many validations without a lower loss
      (0 = never stop early).
    max_hours: stop after this many hours of this call (0 = no limit).

  Returns:
    TrainResult.
  """
  _check_arguments(num_training_steps, summary_frequency, num_checkpoints,
                   checkpoint_interval_secs, validate_every, patience, max_hours)
  started = time.monotonic()
  config, hp, resumed = resolve_settings(run_dir, task.config, hparams)
  paths = input_pipeline.list_files(sequence_example_file)
  validation_paths = (input_pipeline.list_files(validation_file, 'validation_file')
                      if validation_file else [])
  # Before TensorFlow runs anything: with TF_CONFIG, the cluster starts here.
  strategy = distributed.strategy_from_environment()
  for checked in (paths, validation_paths):
    if checked:
      task.check_files(checked)
  if hp.batch_size < strategy.num_replicas_in_sync:
    raise DrumsRnnError(f'batch_size={hp.batch_size} is smaller than the '
                        f'{strategy.num_replicas_in_sync} replicas that share each batch')
  seed = distributed.agree(strategy, json.dumps(
      [config.name, dict(hp), num_training_steps, bucket_by_length, balance_tokens, bool(warm_start),
       bool(frozen), seed, jit_compile, bool(validation_paths), validate_every], sort_keys=True), seed)
  with distributed.write_dir(run_dir_lib.train_dir(run_dir)) as train_path, \
      files.RunLock(files.ensure_dir(train_path)), _StopSignal() as stop:
    with distributed.cluster_errors():
      trainer = Trainer(task, hp, seed=seed, strategy=strategy, jit_compile=jit_compile,
                        frozen=frozen)
    checkpoints.remove_leftovers(train_path)
    restored = checkpoints.restore_newest_intact(trainer.checkpoint, train_path)
    if warm_start and not restored:
      warm_start(trainer.model)
      logging.info('Starting from the given weights (warm start).')
    distributed.broadcast_from_chief(strategy, trainer.state_variables())
    if restored:
      logging.info('Resuming from %s (step %d).', restored, trainer.current_step())
    elif not distributed.is_chief():
      logging.info('Starting at step %d from the chief.', trainer.current_step())
    elif resumed:
      logging.info('Settings found in %s but no checkpoint: starting at step 0.', train_path)
    saver = checkpoints.Checkpoints(trainer.checkpoint, train_path, num_checkpoints, restored,
                                    keep_checkpoint_every_n_hours=1)
    loop = _Loop(task, trainer, saver, stop, num_training_steps, summary_frequency,
                 checkpoint_interval_secs, started + max_hours * 3600 if max_hours else None)
    logging.info('Training %s %s on %d file(s): %s', config.name, hp.to_json(), len(paths),
                 ', '.join(paths))
    logging.info('Checkpoints and summaries go to %s', train_path)
    validation = None
    if validation_paths:
      validation = validation_lib.Validation(
          Evaluator(task, hp, validation_paths, model=trainer.model), trainer, train_path,
          validate_every, patience)
      validation.resume(loop.start_step)
    if not resumed:
      loop.on_first_step = lambda: run_dir_lib.save_settings(train_path, config.name, hp)
    with distributed.cluster_errors(lambda: loop.step):
      reason = loop.finished_before_start(validation)
      if not reason:
        dataset = task.training_dataset(paths, hp, seed, bucket_by_length, balance_tokens)
        with input_pipeline.reading(paths):
          reason = loop.run(dataset, validation)
    result = loop.result(reason, validation)
  if not distributed.is_chief():  # what this worker wrote went with its temporary folder
    if result.checkpoint:
      result.checkpoint = os.path.join(run_dir_lib.train_dir(run_dir),
                                       os.path.basename(result.checkpoint))
    result.history, result.best_checkpoint = [], ''
  return result


class _Loop:
  """The steps of one :func:`train` call: summaries, periodic saves, stops."""

  def __init__(self, task, trainer, saver, stop, num_training_steps, summary_frequency,
               checkpoint_interval_secs, deadline):
    self.task, self.trainer, self.saver, self.stop = task, trainer, saver, stop
    self.num_training_steps = num_training_steps
    self.summary_frequency = summary_frequency
    self.interval = checkpoint_interval_secs
    self.deadline = deadline
    self.start_step = self.step = trainer.current_step()
    self.metrics = {}
    self.on_first_step = None
    self._summaries = summaries.Summaries(saver.directory)

  def finished_before_start(self, validation):
    """The stop reason when there is nothing to train, else ''."""
    if self.num_training_steps and self.start_step >= self.num_training_steps:
      logging.info('Already at step %d >= num_training_steps=%d: nothing to do.',
                   self.start_step, self.num_training_steps)
      return 'num_training_steps'
    if validation is not None and self._stops_early(validation, 'Already stopped early'):
      return 'patience'
    return ''

  def _stops_early(self, validation, what):
    """Whether patience ran out, as the chief's validation history says (logged)."""
    if not distributed.chief_decides(self.trainer.strategy, validation.exhausted()):
      return False
    logging.info('%s: %s', what, validation.describe_stop() if validation.exhausted() else
                 "the chief's validation history ran out of patience")
    return True

  def _summarise(self, sums, window):
    """Metrics of the batch; summaries and a progress line."""
    self.metrics = self.task.metrics_from_sums({k: v.numpy() for k, v in sums.items()})
    now = time.monotonic()
    rate = (self.step - window[1]) / max(now - window[0], 1e-9)
    window[:] = [now, self.step]
    self._summaries.write(dict(self.metrics, **{'global_step/sec': rate}), self.step)
    eta = ''
    if self.num_training_steps:
      eta = f', ETA {_format_eta((self.num_training_steps - self.step) / max(rate, 1e-9))}'
    logging.info('Step %d: %s (%.2f steps/s%s)', self.step, self.task.progress_line(self.metrics), rate, eta)

  def run(self, dataset, validation):
    """Trains until a stop; returns its reason."""
    trainer, stop = self.trainer, self.stop
    last_save = window_start = time.monotonic()
    window = [window_start, self.step]
    batches = iter(dataset)
    while True:
      # Taken together by every task of a cluster (one process: just the flags).
      signalled, out_of_time = distributed.any_worker(
          trainer.strategy, stop.received,
          self.deadline and self.step > self.start_step and time.monotonic() >= self.deadline)
      if signalled:
        if not stop.received:
          logging.info('A signal stopped another task of the cluster: stopping at step %d.',
                       self.step)
        return stop.received or 'cluster'
      if out_of_time:
        logging.info('Reached max_hours at step %d.', self.step)
        return 'max_hours'
      sums = trainer.train_step(*next(batches))
      self.step = trainer.current_step()
      loss = ratio(sums['xent'], sums['steps'])
      if not math.isfinite(loss):
        raise DrumsRnnError(f'loss is {loss} at step {self.step}: training diverged (try a lower '
                            'learning_rate or clip_norm); the last good checkpoint is '
                            f'{self.saver.last_good or "none"}')
      if self.on_first_step:
        self.on_first_step()  # settings are saved once a run really trains
        self.on_first_step = None
      done = bool(self.num_training_steps) and self.step >= self.num_training_steps
      validate = validation is not None and (validation.due(self.step) or done)
      if self.step % self.summary_frequency == 0 or done or validate:
        self._summarise(sums, window)
      if validate:
        self.saver.save(self.step)
        last_save = time.monotonic()
        validation.run(self.step, self.metrics)
        if self._stops_early(validation, 'Stopping early'):
          return 'patience'
      if done:
        return 'num_training_steps'
      if time.monotonic() - last_save >= self.interval and not stop.received:
        logging.info('Saved checkpoint %s', self.saver.save(self.step))
        last_save = time.monotonic()

  def result(self, reason, validation):
    """Saves the final checkpoint; the TrainResult."""
    path = self.saver.last_good
    if self.step > self.start_step:
      path = self.saver.save(self.step)
    stopped_by = self.stop.received or ''
    if stopped_by:
      logging.info('Received %s: saved checkpoint %s at step %d and stopped.', stopped_by,
                   path or '(none: no step was trained)', self.step)
    elif self.step > self.start_step:
      logging.info('Saved checkpoint %s; training stopped at step %d.', path, self.step)
    result = TrainResult(self.start_step, self.step, self.metrics, path or '', stopped_by, reason)
    if validation is not None:
      result.history = list(validation.history)
      result.best_checkpoint = validation.best_checkpoint() or ''
    return result
