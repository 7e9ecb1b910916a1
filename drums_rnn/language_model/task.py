"""The Drums RNN's training task: its batches, loss and metrics, under Magenta's names.

Contract:

* :func:`metric_sums` turns one padded batch's logits into SUMS over its
  real (unpadded) steps; sums of several batches (or of several replicas)
  are combined by adding, so a whole data set is scored exactly, whatever
  the batching (the last partial batch counts).
* :func:`metrics_from_sums` turns totals into Magenta's summary values,
  under Magenta's tags (:data:`TRAIN_TAGS`, plus
  ``metrics/per_class_accuracy`` in evaluation).
* Evaluation (the ``--eval`` job and validation, through the engine's one
  :class:`~drums_rnn.training.evaluator.Evaluator`) runs with dropout OFF.
  Magenta builds its eval graph with the training keep probability, so its
  eval loss is noisy and pessimistic; we report the loss of the model as it
  is used for generation.
* Training batches come as :class:`~drums_rnn.nn.inputs.CompactInputs` (the
  drum class as an index), which the first layer gathers.
"""

import math

import numpy as np
import tensorflow as tf

from drums_rnn.language_model.model import DrumsRnnModel
from drums_rnn.nn.inputs import CompactInputs
from drums_rnn.nn.inputs import compact_inputs
from drums_rnn.training import input_pipeline
from drums_rnn.training import task
from drums_rnn.training.evaluator import ratio

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


def metrics_from_sums(sums):
  """Magenta's summary values from :func:`metric_sums` totals."""
  loss = ratio(sums['xent'], sums['steps'])
  result = {
      'loss': loss,
      'metrics/perplexity': math.exp(min(loss, 700.0)),
      'metrics/accuracy': ratio(sums['correct'], sums['steps']),
      'metrics/event_accuracy': ratio(sums['event_correct'], sums['event_steps']),
      'metrics/no_event_accuracy': ratio(sums['no_event_correct'], sums['no_event_steps']),
      # One label per event for drums, so per-step equals per-event.
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


class DrumsRnnTask(task.Task):
  """The Drums RNN configs' part of the training loop (see the module docstring)."""

  @property
  def _encoding(self):
    return self.config.encoding

  def check_files(self, paths):
    input_pipeline.check_files(paths, self._encoding.input_size, self._encoding.num_classes)

  def training_dataset(self, paths, hparams, seed, bucket_by_length, balance_tokens=False):
    return input_pipeline.training_dataset(
        paths, self._encoding.input_size, hparams.batch_size, seed=seed,
        num_one_hot=self._encoding.num_classes, bucket_by_length=bucket_by_length,
        balance_tokens=balance_tokens)

  def eval_dataset(self, paths, batch_size, num_examples=0):
    return input_pipeline.eval_dataset(paths, self._encoding.input_size, batch_size, num_examples,
                                       num_one_hot=self._encoding.num_classes)

  def build_model(self, hparams, seed=None):
    return DrumsRnnModel.from_config(self.config, hparams, seed=seed)

  def input_spec(self, model):
    extras = model.input_size - self._encoding.num_classes
    return CompactInputs(tf.TensorSpec([None, None], tf.int32),
                         tf.TensorSpec([None, None, extras], tf.float32))

  def model_inputs(self, inputs):
    if isinstance(inputs, CompactInputs):
      return inputs
    return compact_inputs(tf.convert_to_tensor(inputs, tf.float32), self._encoding.num_classes)

  def batch_sums(self, model, inputs, labels, lengths, training):
    """Training: the loss and accuracies; evaluation adds the per-class counts."""
    logits, _ = model(inputs, training=training)
    if training:
      return metric_sums(logits, labels, lengths)
    return metric_sums(logits, labels, lengths, self._encoding.num_classes,
                       self._encoding.no_event_class)

  def metrics_from_sums(self, sums):
    return metrics_from_sums(sums)

  def progress_line(self, metrics):
    return (f'loss {metrics["loss"]:.4f}, perplexity {metrics["metrics/perplexity"]:.3f}, '
            f'accuracy {metrics["metrics/accuracy"]:.4f}')

  def evaluation_line(self, metrics):
    text = (f'loss {metrics["loss"]:.4f}, perplexity {metrics["metrics/perplexity"]:.3f}, '
            f'accuracy {metrics["metrics/accuracy"]:.4f}, event accuracy '
            f'{metrics["metrics/event_accuracy"]:.4f}, no-event accuracy '
            f'{metrics["metrics/no_event_accuracy"]:.4f}')
    if 'metrics/per_class_accuracy' in metrics:
      text += f', per-class accuracy {metrics["metrics/per_class_accuracy"]:.4f}'
    return text
