"""Validation while training, with patience: the best checkpoint kept, early stopping.

Contract of :class:`Validation`: each validation scores the live model on
the validation set with dropout off (the one
:class:`~drums_rnn.training.evaluator.Evaluator`) and appends an entry
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

import json
import os
import time

import tensorflow as tf
from absl import logging

from drums_rnn import files
from drums_rnn.errors import DrumsRnnError
from drums_rnn.training import checkpoints
from drums_rnn.training import run_dir as run_dir_lib

BEST_DIR = 'best'
HISTORY_FILE = 'history.json'


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
    found = checkpoints.checkpoints_newest_first(self.directory)
    return found[0] if found else None

  def resume(self, step):
    """Repairs what a run killed at `step` left undone (see the module docstring)."""
    best = self.best()
    kept = self.best_checkpoint()
    if best is not None and best['step'] == step and (kept is None or checkpoints.step_of(kept) != step):
      logging.info('Saving the best checkpoint of step %d, which the last run did not finish.', step)
      self._save_best(step)
    if self.due(step) and (not self.history or self.history[-1]['step'] != step):
      self.run(step, {})

  def _save_best(self, step):
    if self._best is None:
      files.ensure_dir(self.directory)
      checkpoints.remove_leftovers(self.directory)
      self._best = checkpoints.Checkpoints(self._checkpoint, self.directory, max_to_keep=1)
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
    logging.info('Validation at step %d: %s (%s)', step, self.evaluator.task.evaluation_line(metrics), note)
    return entry
