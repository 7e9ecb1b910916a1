"""What a training run writes: checkpoints (saved safely), summaries, the best checkpoint.

Contract of :class:`Checkpoints` (``tf.train.CheckpointManager`` with the
faults handled): a save either completes -- the files written, then the
``checkpoint`` index updated, then old ones rotated out -- or fails with one
DrumsRnnError naming the cause (no space left on device, permission denied)
and the last good checkpoint, which stays listed in the index; what the
failed save had begun (TensorFlow's ``<prefix>_temp`` shard folder, a partial
``.index`` / ``.data``, a ``checkpoint.tmp*`` index temporary) is removed.
The same clean-up runs at the start of every run
(:func:`remove_leftovers`) for what a killed run left; it is safe because
the caller holds the run's lock.

Contract of :class:`Summaries`: scalar summaries under Magenta's tags, each
batch of them flushed at once, so a full disk is one DrumsRnnError there
(the empty events file it began is removed) instead of a traceback.

Contract of :class:`Validation` (early stopping with patience): each
validation scores the live model on the validation set with dropout off
(the one :class:`~drums_rnn.training.evaluator.Evaluator`) and appends an entry
``{step, seconds, train, validation}`` to ``train/best/history.json``; a loss
lower than every earlier one saves the weights to ``train/best/`` (one
checkpoint, with the run's settings file beside it, so
``loading.load_model(train/best)`` loads it). ``patience`` validations in a
row without a lower loss stop the run. A resumed run continues the same
history: the regular checkpoint of a validated step is saved before its
entry, so a run killed in between validates that step again, and one killed
between the entry and the best save re-saves the best from the restored
weights.
"""

import errno
import glob
import json
import os
import re
import shutil
import time

import tensorflow as tf
from absl import logging

from drums_rnn.language_model import magenta_names as checkpoints
from drums_rnn import files
from drums_rnn.training import run_dir as run_dir_lib
from drums_rnn.errors import DrumsRnnError

CHECKPOINT_PREFIX = 'model.ckpt'
BEST_DIR = 'best'
HISTORY_FILE = 'history.json'
_LEFTOVER = re.compile(r'^(model\.ckpt-\d+_temp|checkpoint\.tmp[0-9a-f]+)$')
# errno causes TensorFlow reports only inside its message text.
_CAUSES = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EISDIR, errno.ENOTDIR,
           errno.ENOENT)


def remove_leftovers(directory):
  """Removes what an interrupted or failed save left in `directory` (see above)."""
  try:
    names = os.listdir(directory)
  except OSError:
    return
  for name in names:
    if _LEFTOVER.match(name):
      path = os.path.join(directory, name)
      if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
      else:
        try:
          os.remove(path)
        except OSError:
          pass


def error_cause(error):
  """'no space left on device' etc. for a TensorFlow or OS error."""
  if isinstance(error, OSError):
    return files.describe_os_error(error)
  text = str(getattr(error, 'message', '') or error)
  for code in _CAUSES:
    if os.strerror(code) in text:
      return files.describe_os_error(OSError(code, os.strerror(code)))
  lines = [line for line in text.splitlines() if line.strip()]
  return lines[0] if lines else type(error).__name__


def step_of(prefix):
  """The global step in a checkpoint prefix `.../model.ckpt-<step>`."""
  return int(prefix.rsplit('-', 1)[1])


class Checkpoints:
  """Saves a tf.train.Checkpoint in `directory` (see the module docstring).

  Args:
    checkpoint: the tf.train.Checkpoint.
    directory: where the checkpoints go.
    max_to_keep: how many to keep (0 = all).
    last_good: the checkpoint restored at the start, if any.
    keep_checkpoint_every_n_hours: also keep one checkpoint per this many hours.
  """

  def __init__(self, checkpoint, directory, max_to_keep, last_good=None,
               keep_checkpoint_every_n_hours=None):
    self.directory = directory
    self.manager = tf.train.CheckpointManager(
        checkpoint, directory, max_to_keep=max_to_keep or None,
        keep_checkpoint_every_n_hours=keep_checkpoint_every_n_hours,
        checkpoint_name=CHECKPOINT_PREFIX)
    self.last_good = last_good
    self._saved_step = step_of(last_good) if last_good else None

  def save(self, step):
    """Saves at `step` (once per step); returns the prefix written."""
    if self._saved_step == step:
      return self.last_good
    prefix = os.path.join(self.directory, f'{CHECKPOINT_PREFIX}-{step}')
    try:
      with checkpoints.quiet_tf_logging():  # TF logs a 'Sharding callback' line per save
        path = self.manager.save(checkpoint_number=step)
    except BaseException as e:  # a signal during a save too: never leave half a checkpoint
      if not self._listed_as_latest(prefix):
        for partial in glob.glob(glob.escape(prefix) + '.*'):
          try:
            os.remove(partial)
          except OSError:
            pass
      remove_leftovers(self.directory)
      if isinstance(e, (tf.errors.OpError, OSError)):
        raise DrumsRnnError(f'cannot save checkpoint {prefix!r}: {error_cause(e)}; the last good '
                            f'checkpoint is {self.last_good or "none"}') from None
      raise
    self.last_good, self._saved_step = path, step
    return path

  def _listed_as_latest(self, prefix):
    """True when the index already lists `prefix` (only the rotation was cut short)."""
    try:
      state = tf.train.get_checkpoint_state(self.directory)
    except (tf.errors.OpError, ValueError):
      return False
    if state is None:
      return False
    latest = state.model_checkpoint_path
    latest = latest if os.path.isabs(latest) else os.path.join(self.directory, latest)
    return os.path.normpath(latest) == os.path.normpath(prefix)


class Summaries:
  """Scalar summaries in `directory` (see the module docstring); the file is made at the first write."""

  def __init__(self, directory):
    self.directory = directory
    self._writer = None

  def write(self, metrics, step):
    """Writes each metric as a scalar at `step` and flushes."""
    try:
      if self._writer is None:
        self._writer = tf.summary.create_file_writer(self.directory)
      with self._writer.as_default():
        for tag, value in metrics.items():
          tf.summary.scalar(tag, value, step=step)
      self._writer.flush()
    except tf.errors.OpError as e:
      for path in glob.glob(os.path.join(glob.escape(self.directory),
                                         f'events.out.tfevents.*.{os.getpid()}.*')):
        if os.path.getsize(path) == 0:
          os.remove(path)
      raise DrumsRnnError(f'cannot write summaries in {self.directory!r}: {error_cause(e)}') from None


class Validation:
  """Validation every `every` steps with patience (see the module docstring).

  Args:
    evaluator: a train_metrics.Evaluator over the live model.
    trainer: the trainer.Trainer (its model, step, config and hparams).
    train_path: the run's train/ folder; the best checkpoint goes to its best/.
    every: steps between validations.
    patience: validations without a lower loss before stopping (0 = never stop).
  """

  def __init__(self, evaluator, trainer, train_path, every, patience):
    self.evaluator, self.every, self.patience = evaluator, every, patience
    self.directory = os.path.join(train_path, BEST_DIR)
    self.history_path = os.path.join(self.directory, HISTORY_FILE)
    self._settings = (trainer.config.name, trainer.hparams)
    self._checkpoint = tf.train.Checkpoint(model=trainer.model, step=trainer.step)
    self._best = None
    self._since = time.monotonic()
    self.history = self._load()

  def _load(self):
    if not os.path.isfile(self.history_path):
      return []
    try:
      with open(self.history_path, encoding='utf-8') as f:
        history = json.load(f)
      if not all(isinstance(h['step'], int) and 'loss' in h['validation'] for h in history):
        raise ValueError('unexpected entries')
    except (OSError, ValueError, KeyError, TypeError) as e:
      raise DrumsRnnError(f'cannot read the validation history {self.history_path!r}: {e} '
                          '(remove it to start the history afresh)') from None
    return history

  def best(self):
    """The history entry with the lowest validation loss (the first of equals), or None."""
    best = None
    for entry in self.history:
      if best is None or entry['validation']['loss'] < best['validation']['loss']:
        best = entry
    return best

  def stale(self):
    """Validations since the best one."""
    best = self.best()
    return len(self.history) - 1 - self.history.index(best) if best else 0

  def exhausted(self):
    return bool(self.patience) and self.best() is not None and self.stale() >= self.patience

  def describe_stop(self):
    best = self.best()
    return (f'{self.stale()} validations without a loss below {best["validation"]["loss"]:.4f} '
            f'(step {best["step"]}; patience {self.patience})')

  def due(self, step):
    return step > 0 and step % self.every == 0

  def best_checkpoint(self):
    """The kept best checkpoint's prefix, or None."""
    if not os.path.isdir(self.directory):
      return None
    found = run_dir_lib.checkpoints_newest_first(self.directory)
    return found[0] if found else None

  def resume(self, step):
    """Repairs what a run killed at `step` left undone (see the module docstring)."""
    best = self.best()
    kept = self.best_checkpoint()
    if best is not None and best['step'] == step and (kept is None or step_of(kept) != step):
      logging.info('Saving the best checkpoint of step %d, which the last run did not finish.', step)
      self._save_best(step)
    if self.due(step) and (not self.history or self.history[-1]['step'] != step):
      self.run(step, {})

  def _save_best(self, step):
    if self._best is None:
      files.ensure_dir(self.directory)
      remove_leftovers(self.directory)
      self._best = Checkpoints(self._checkpoint, self.directory, max_to_keep=1)
    run_dir_lib.save_settings(self.directory, *self._settings)
    return self._best.save(step)

  def run(self, step, train_figures):
    """Validates the current weights at `step`; returns the history entry."""
    metrics = self.evaluator.evaluate_model()
    best = self.best()
    improved = best is None or metrics['loss'] < best['validation']['loss']
    now = time.monotonic()
    entry = {'step': step, 'seconds': round(now - self._since, 1), 'train': dict(train_figures),
             'validation': metrics}
    self._since = now
    self.history.append(entry)
    files.ensure_dir(self.directory)
    files.write_text_atomic(self.history_path, json.dumps(self.history, indent=1) + '\n')
    if improved:
      self._save_best(step)
      note = 'the best so far, kept in ' + self.directory
    else:
      note = f'{self.stale()} without improvement on step {self.best()["step"]}'
    logging.info('Validation at step %d: %s (%s)', step, self.evaluator.describe(metrics), note)
    return entry
