"""The evaluation job (`drums_rnn_train --eval`): score each new checkpoint of a run.

Contract of :func:`evaluate_repeatedly`:

* the run directory must exist (a mistyped one is an error at once, never
  created); its ``train/`` folder may appear later, as the job is often
  started before training;
* every new checkpoint listed in ``run_dir/train/checkpoint`` is evaluated
  on the whole eval set with dropout off
  (the one :class:`drums_rnn.training.evaluator.Evaluator`), at most one evaluation per
  `interval_secs`; the summaries go to ``run_dir/eval`` under Magenta's tags;
* a checkpoint that cannot be restored (damaged, or deleted by training's
  rotation before it was read) is skipped with a warning; damaged eval
  records end the job with one error naming the file and the record;
* while waiting it logs a line every `log_every_secs`; it returns after
  `timeout_secs` without a new checkpoint (or after `max_evaluations`) with
  the list of (step, metrics) it evaluated, which is empty when it
  evaluated nothing (the command turns that into an error);
* it never writes ``run_dir/train`` and takes no lock: it may run beside
  the trainer.
"""

import os
import time

import tensorflow as tf
from absl import logging

from drums_rnn import files
from drums_rnn.errors import DrumsRnnError
from drums_rnn.training import input_pipeline
from drums_rnn.training import loop
from drums_rnn.training import run_dir as run_dir_lib
from drums_rnn.training import summaries as summaries_lib
from drums_rnn.training.evaluator import Evaluator

LOG_EVERY_SECS = 60
_POLL_SECS = 1.0


def _latest(train_path):
  try:
    return tf.train.latest_checkpoint(train_path)
  except (tf.errors.OpError, ValueError):  # a `checkpoint` index being replaced or damaged
    return None


def new_checkpoints(train_path, interval_secs, timeout_secs, log_every_secs=LOG_EVERY_SECS):
  """Yields each new latest checkpoint of `train_path` (tf.train.checkpoints_iterator's
  rules), logging now and then while it waits; ends after `timeout_secs` without one."""
  last, last_yield = None, None
  waiting_since = last_log = time.monotonic()
  while True:
    prefix = _latest(train_path)
    now = time.monotonic()
    if prefix and prefix != last:
      if last_yield is not None and now - last_yield < interval_secs:
        time.sleep(min(_POLL_SECS, interval_secs - (now - last_yield)))
        continue
      last, last_yield = prefix, now
      yield prefix
      waiting_since = last_log = time.monotonic()
      continue
    if now - last_log >= log_every_secs:
      logging.info('Waiting for a new checkpoint in %s (%d s so far, giving up after %d s).',
                   train_path, now - waiting_since, timeout_secs)
      last_log = now
    if now - waiting_since >= timeout_secs:
      return
    time.sleep(max(0.0, min(_POLL_SECS, log_every_secs, timeout_secs - (now - waiting_since))))


def evaluate_repeatedly(task, run_dir, sequence_example_file, hparams=None, num_eval_examples=0,
                        timeout_secs=300, interval_secs=60, max_evaluations=None,
                        log_every_secs=LOG_EVERY_SECS):
  """Evaluates each new checkpoint of run_dir/train; writes run_dir/eval.

  Args:
    task: the :class:`~drums_rnn.training.task.Task` of the config the run
      must have been trained with (:func:`drums_rnn.kinds.task_for`).
    run_dir: an existing run directory.
    sequence_example_file: glob of the eval SequenceExample TFRecords.
    hparams: hparam overrides (a mapping of names to values) that must agree
      with the run's saved ones; the saved ones are used.
    num_eval_examples: evaluate only the first this many records (0 = all).
    timeout_secs: stop after this long without a new checkpoint.
    interval_secs: minimum seconds between two evaluations.
    max_evaluations: stop after this many (None = no limit).
    log_every_secs: seconds between "waiting" lines.

  Returns:
    the list of (step, metrics dict) evaluated, in order.
  """
  if num_eval_examples < 0:
    raise DrumsRnnError(f'num_eval_examples must be >= 0 (0 = all), got {num_eval_examples}')
  if timeout_secs < 0 or interval_secs < 0:
    raise DrumsRnnError('eval timeout and interval must be >= 0 seconds')
  if not os.path.isdir(run_dir):
    raise DrumsRnnError(f'run directory {run_dir!r} does not exist: start drums_rnn_train with this '
                        'run directory, or check the path')
  paths = input_pipeline.list_files(sequence_example_file)
  task.check_files(paths)
  train_path = run_dir_lib.train_dir(run_dir)
  eval_path = files.ensure_dir(run_dir_lib.eval_dir(run_dir))
  summaries = summaries_lib.Summaries(eval_path)
  logging.info('Evaluating checkpoints of %s on %s; summaries go to %s',
               train_path, ', '.join(paths), eval_path)
  results = []
  evaluator = None
  for checkpoint_path in new_checkpoints(train_path, interval_secs, timeout_secs, log_every_secs):
    if evaluator is None:
      # Settings are read once the first checkpoint exists: training writes
      # them, and an eval job is often started before training.
      _, hp, _ = loop.resolve_settings(run_dir, task.config, hparams)
      evaluator = Evaluator(task, hp, paths, num_eval_examples)
    try:
      step = evaluator.restore(checkpoint_path)
    except DrumsRnnError as e:
      logging.warning('skipped %s: %s', checkpoint_path, e)
      continue
    metrics = evaluator.evaluate_model()
    summaries.write(metrics, step)
    logging.info('Eval of %s: step %d, %s', os.path.basename(checkpoint_path), step,
                 task.evaluation_line(metrics))
    results.append((step, metrics))
    if max_evaluations and len(results) >= max_evaluations:
      break
  else:
    logging.info('No new checkpoint in %s for %d s: evaluation finished.', train_path, timeout_secs)
  return results
