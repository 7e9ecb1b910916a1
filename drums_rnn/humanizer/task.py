"""The humanizer's training task: what the package's one training loop needs to train it.

The humanizer's :class:`~drums_rnn.training.task.Task`: its datasets are
:mod:`drums_rnn.humanizer.data` SequenceExamples (29 values per step), its
network :class:`~drums_rnn.humanizer.model.HumanizerModel`, its loss the
cross-entropy of the true velocity bin plus that of the true offset bin,
averaged over the hits of a batch (silent cells have nothing to predict).
Progress and evaluation lines also give the mean absolute error of the
distributions' medians -- in MIDI velocity units and in milliseconds at each
window's tempo -- which is what a listener hears and what
:mod:`drums_rnn.humanizer.evaluation` reports on whole performances.

Everything else (lock, resume, checkpoints, validation with patience,
``--eval``, the one evaluator) is the engine's (:mod:`drums_rnn.training`).
"""

import math

import tensorflow as tf

from drums_rnn.humanizer import data
from drums_rnn.humanizer.model import HumanizerModel
from drums_rnn.humanizer.model import offset_bins_of
from drums_rnn.humanizer.model import velocity_bins_of
from drums_rnn.training import input_pipeline
from drums_rnn.training import task


def _median_bins(logits):
  """The bin where each categorical's cumulative probability reaches 1/2."""
  cdf = tf.cumsum(tf.nn.softmax(logits), axis=-1)
  return tf.argmax(tf.cast(cdf >= 0.5, tf.int32), axis=-1, output_type=tf.int32)


def batch_sums(model, inputs, lengths, training):
  """Sums over the hits of a batch (see the module docstring); add them across batches."""
  inputs = tf.convert_to_tensor(inputs, tf.float32)
  vel_logits, off_logits = model(inputs, training=training)
  steps = tf.sequence_mask(lengths, tf.shape(inputs)[1], dtype=tf.float32)
  hits = tf.cast(inputs[..., data.HITS] > 0, tf.float32) * steps[..., None]
  velocities, offsets = inputs[..., data.VELOCITIES], inputs[..., data.OFFSETS]
  vel_bins = velocity_bins_of(tf.maximum(velocities, 1.0), model.velocity_bins)
  off_bins = offset_bins_of(offsets, model.offset_bins)
  vel_xent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=vel_bins, logits=vel_logits)
  off_xent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=off_bins, logits=off_logits)
  vel_median = 1.0 + (tf.cast(_median_bins(vel_logits), tf.float32) + 0.5) * 127.0 / model.velocity_bins
  off_median = -0.5 + (tf.cast(_median_bins(off_logits), tf.float32) + 0.5) / model.offset_bins
  ms_per_step = 15000.0 / tf.maximum(inputs[..., data.QPM:data.QPM + 1], 1.0)
  sums = {
      'velocity_xent': tf.reduce_sum(vel_xent * hits),
      'offset_xent': tf.reduce_sum(off_xent * hits),
      'steps': tf.reduce_sum(hits),
      'velocity_abs_error': tf.reduce_sum(tf.abs(vel_median - velocities) * hits),
      'timing_abs_error_ms': tf.reduce_sum(tf.abs(off_median - offsets) * ms_per_step * hits),
  }
  sums['xent'] = sums['velocity_xent'] + sums['offset_xent']
  return sums


def metrics_from_sums(sums):
  """Summary values (TensorBoard tags) of summed batch figures."""
  hits = float(sums['steps'])

  def per_hit(key):
    return float(sums[key]) / hits if hits else float('nan')

  return {
      'loss': per_hit('xent'),
      'metrics/velocity_loss': per_hit('velocity_xent'),
      'metrics/offset_loss': per_hit('offset_xent'),
      'metrics/velocity_mae': per_hit('velocity_abs_error'),
      'metrics/timing_mae_ms': per_hit('timing_abs_error_ms'),
      'metrics/hits': hits,
  }


class HumanizerTask(task.Task):
  """The humanizer's part of the training loop (see the module docstring)."""

  def check_files(self, paths):
    input_pipeline.check_files(paths, data.INPUT_SIZE, 2 ** data.NUM_DRUMS)

  def training_dataset(self, paths, hparams, seed, bucket_by_length, balance_tokens=False):
    return input_pipeline.training_dataset(paths, data.INPUT_SIZE, hparams.batch_size, seed=seed,
                                           bucket_by_length=bucket_by_length,
                                           balance_tokens=balance_tokens)

  def eval_dataset(self, paths, batch_size, num_examples=0):
    return input_pipeline.eval_dataset(paths, data.INPUT_SIZE, batch_size, num_examples)

  def build_model(self, hparams, seed=None):
    return HumanizerModel.from_config(self.config, hparams, seed=seed)

  def input_spec(self, model):
    return tf.TensorSpec([None, None, model.input_size], tf.float32)

  def batch_sums(self, model, inputs, labels, lengths, training):
    del labels  # the targets are in the inputs' velocity and offset columns
    return batch_sums(model, inputs, lengths, training)

  def metrics_from_sums(self, sums):
    return metrics_from_sums(sums)

  def progress_line(self, metrics):
    loss = metrics['loss']
    return (f'loss {loss:.4f} (velocity {metrics["metrics/velocity_loss"]:.3f}, timing '
            f'{metrics["metrics/offset_loss"]:.3f}), velocity MAE {metrics["metrics/velocity_mae"]:.2f}, '
            f'timing MAE {metrics["metrics/timing_mae_ms"]:.2f} ms' if math.isfinite(loss) else 'no hits')

  def evaluation_line(self, metrics):
    return (f'loss {metrics["loss"]:.4f} (velocity {metrics["metrics/velocity_loss"]:.4f}, timing '
            f'{metrics["metrics/offset_loss"]:.4f}), median velocity MAE '
            f'{metrics["metrics/velocity_mae"]:.2f}, timing MAE {metrics["metrics/timing_mae_ms"]:.2f} ms')
