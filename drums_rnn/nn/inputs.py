"""Compact model inputs: the one-hot part of an input vector given by the index of its hot column.

A drum_kit input vector is 512 one-hot columns (the step's drum class) and a
few more (binary counters, controls). Given as the hot index, the first
layer gathers kernel rows instead of multiplying a mostly-zero matrix, and a
cached training set takes about 14 kB per 512-step track instead of 1 MB.
"""

import collections

import tensorflow as tf


class CompactInputs(collections.namedtuple('CompactInputs', ['classes', 'extras'])):
  """Model inputs whose leading part is one-hot, given by the hot index.

  `classes` [B, T] int32 is the index of the 1.0 in the first
  `input_size - extras_width` columns (-1 for an all-zero row, e.g. padding);
  `extras` [B, T, extras_width] float32 holds the remaining columns (drum_kit's
  binary counters; width 0 for one_drum). The first layer then gathers kernel
  rows instead of multiplying by a mostly-zero matrix.
  `DrumsRnnModel.__call__` accepts it wherever it accepts dense inputs.
  """

  def to_dense(self, input_size):
    extras = tf.convert_to_tensor(self.extras, tf.float32)
    one_hot = tf.one_hot(self.classes, input_size - extras.shape[-1], dtype=tf.float32)
    return tf.concat([one_hot, extras], -1)


NOT_ONE_HOT = 'SequenceExample inputs are not one-hot in their first values'


def compact_inputs(inputs, num_one_hot):
  """Dense [..., n] inputs -> CompactInputs (classes -1 for all-zero rows).

  Raises (when run) InvalidArgumentError if a row's first `num_one_hot`
  values are neither one-hot nor all zero.
  """
  hot = inputs[..., :num_one_hot]
  top = tf.reduce_max(hot, -1)
  ok = (tf.reduce_min(hot, -1) >= 0.0) & (
      ((top == 1.0) & (tf.reduce_sum(hot, -1) == 1.0)) | (top == 0.0))
  check = tf.debugging.Assert(tf.reduce_all(ok), [NOT_ONE_HOT])
  with tf.control_dependencies([check]):
    classes = tf.where(top > 0.0, tf.argmax(hot, -1, output_type=tf.int32), -1)
  return CompactInputs(classes, inputs[..., num_one_hot:])
