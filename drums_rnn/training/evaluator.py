"""The metrics of training and evaluation, and the one Evaluator that computes them.

Contract:

* :func:`metric_sums` turns one padded batch's logits into SUMS over its
  real (unpadded) steps; sums of several batches (or of several replicas)
  are combined by adding, so a whole data set is scored exactly, whatever
  the batching (the last partial batch counts).
* :func:`metrics_from_sums` turns totals into Magenta's summary values,
  under Magenta's tags (:data:`TRAIN_TAGS`, plus
  ``metrics/per_class_accuracy`` in evaluation).
* :class:`Evaluator` scores a whole SequenceExample set with dropout OFF,
  either the weights of a checkpoint (the ``--eval`` job) or a live model
  (training's validation), through one compiled function. Magenta builds
  its eval graph with the training keep probability, so its eval loss is
  noisy and pessimistic; we report the loss of the model as it is used for
  generation.
"""

import math

import numpy as np
import tensorflow as tf

from drums_rnn.training import input_pipeline
from drums_rnn.training import run_dir as run_dir_lib
from drums_rnn.errors import DrumsRnnError
from drums_rnn.language_model.model import DrumsRnnModel

# Summary tags, as Magenta names them.
TRAIN_TAGS = ('loss', 'metrics/perplexity', 'metrics/accuracy', 'metrics/event_accuracy',
              'metrics/no_event_accuracy', 'metrics/loss_per_step', 'metrics/perplexity_per_step')


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


def ratio(a, b):
  """a / b as a float, NaN when b is 0 (a metric with nothing to count)."""
  return float(a) / float(b) if float(b) else float('nan')


def metrics_from_sums(sums):
  """Magenta's summary values from :func:`metric_sums` totals."""
  loss = ratio(sums['xent'], sums['steps'])
  result = {
      'loss': loss,
      'metrics/perplexity': math.exp(min(loss, 700.0)),
      'metrics/accuracy': ratio(sums['correct'], sums['steps']),
      'metrics/event_accuracy': ratio(sums['event_correct'], sums['event_steps']),
      'metrics/no_event_accuracy': ratio(sums['no_event_correct'], sums['no_event_steps']),
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


def describe(metrics):
  """The figures of one evaluation, as a log line's tail."""
  text = (f'loss {metrics["loss"]:.4f}, perplexity {metrics["metrics/perplexity"]:.3f}, '
          f'accuracy {metrics["metrics/accuracy"]:.4f}, event accuracy '
          f'{metrics["metrics/event_accuracy"]:.4f}, no-event accuracy '
          f'{metrics["metrics/no_event_accuracy"]:.4f}')
  if 'metrics/per_class_accuracy' in metrics:
    text += f', per-class accuracy {metrics["metrics/per_class_accuracy"]:.4f}'
  return text


class Evaluator:
  """Scores a whole eval set (every record once) with one compiled function.

  Args:
    config, hparams: the network's DrumsRnnConfig and HParams.
    paths: the SequenceExample TFRecord files.
    num_eval_examples: only the first this many records (0 = all).
    batch_size: default hparams.batch_size.
    model: score this live model (training's validation); by default the
      Evaluator builds its own and :meth:`evaluate` restores checkpoints into it.
  """

  def __init__(self, config, hparams, paths, num_eval_examples=0, batch_size=None, model=None):
    self.config = config
    self.paths = list(paths)
    self.model = model if model is not None else DrumsRnnModel.from_config(config, hparams)
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='global_step')
    self.checkpoint = tf.train.Checkpoint(model=self.model, step=self.step)
    self.dataset = input_pipeline.eval_dataset(
        self.paths, config.encoding.input_size, batch_size or hparams.batch_size,
        num_eval_examples, num_one_hot=config.encoding.num_classes)
    num_classes = config.encoding.num_classes
    no_event = config.encoding.no_event_class
    scored = self.model

    @tf.function(reduce_retracing=True)
    def batch_sums(inputs, labels, lengths):
      logits, _ = scored(inputs, training=False)
      return metric_sums(logits, labels, lengths, num_classes, no_event)

    self._batch_sums = batch_sums

  describe = staticmethod(describe)

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
    return metrics_from_sums(totals)

  def restore(self, checkpoint_path):
    """Loads a training checkpoint's model weights; returns its step (DrumsRnnError if damaged)."""
    run_dir_lib.restore(self.checkpoint, checkpoint_path, partial=True)
    return int(self.step)

  def evaluate(self, checkpoint_path):
    """(step, metrics dict) of one checkpoint."""
    return self.restore(checkpoint_path), self.evaluate_model()
