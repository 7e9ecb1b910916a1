"""The one Evaluator: a whole dataset scored by one compiled function, for any model family.

It scores every record of a SequenceExample set once, with dropout OFF
(the model as it is used for generation), either the weights of a
checkpoint (the ``--eval`` job, :mod:`drums_rnn.training.eval_job`) or a
live model (training's validation, :mod:`drums_rnn.training.validation`).
What is summed and how totals become figures is the task's
(:meth:`~drums_rnn.training.task.Task.batch_sums`,
:meth:`~drums_rnn.training.task.Task.metrics_from_sums`): sums are added in
float64 across batches, so the last partial batch counts exactly.
"""

import numpy as np
import tensorflow as tf

from drums_rnn.errors import DrumsRnnError
from drums_rnn.training import input_pipeline
from drums_rnn.training import checkpoints


def ratio(a, b):
  """a / b as a float, NaN when b is 0 (a metric with nothing to count)."""
  return float(a) / float(b) if float(b) else float('nan')


class Evaluator:
  """Scores a whole eval set (every record once) with one compiled function.

  Args:
    task: the model family's :class:`~drums_rnn.training.task.Task`.
    hparams: the network's HParams.
    paths: the SequenceExample TFRecord files.
    num_eval_examples: only the first this many records (0 = all).
    batch_size: default hparams.batch_size.
    model: score this live model (training's validation); by default the
      Evaluator builds its own and :meth:`evaluate` restores checkpoints into it.
  """

  def __init__(self, task, hparams, paths, num_eval_examples=0, batch_size=None, model=None):
    self.task = task
    self.paths = list(paths)
    self.model = model if model is not None else task.build_model(hparams)
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='global_step')
    self.checkpoint = tf.train.Checkpoint(model=self.model, step=self.step)
    self.dataset = task.eval_dataset(self.paths, batch_size or hparams.batch_size, num_eval_examples)
    scored = self.model

    @tf.function(reduce_retracing=True)
    def batch_sums(inputs, labels, lengths):
      return task.batch_sums(scored, inputs, labels, lengths, training=False)

    self._batch_sums = batch_sums

  def evaluate_model(self):
    """The metrics dict of the model's current weights on the whole set."""
    totals = None
    with input_pipeline.reading(self.paths):
      for inputs, labels, lengths in self.dataset:
        sums = self._batch_sums(inputs, labels, lengths)
        sums = {k: v.numpy().astype(np.float64) for k, v in sums.items()}
        totals = sums if totals is None else {k: totals[k] + sums[k] for k in totals}
    if totals is None or not totals['steps']:
      raise DrumsRnnError(f'{", ".join(self.paths)}: the eval set has no steps to evaluate')
    return self.task.metrics_from_sums(totals)

  def restore(self, checkpoint_path):
    """Loads a training checkpoint's model weights; returns its step (DrumsRnnError if damaged)."""
    checkpoints.restore(self.checkpoint, checkpoint_path, partial=True)
    return int(self.step)

  def evaluate(self, checkpoint_path):
    """(step, metrics dict) of one checkpoint."""
    return self.restore(checkpoint_path), self.evaluate_model()
