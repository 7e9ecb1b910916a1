"""The humanizer network: a bidirectional LSTM that gives every hit a distribution over velocity and offset.

Input per step: which of the nine drum types are hit, the step's place in the
4/4 bar (one-hot of 16), the tempo and the track's loudness (its mean
velocity, which a flat-velocity track still has); the LSTMs read the window forwards
and backwards, so each hit sees what comes before it and what follows (a
ghost note before a backbeat, the last hi-hat before a crash). Output per
step and drum type: logits over ``velocity_bins`` velocity bins (equal
widths over 1..127) and over ``offset_bins`` timing-offset bins (equal
widths over [-0.5, 0.5) of a step). A categorical per hit, not a mean, so
sampling restores the spread of real playing -- accents, ghost notes, a
drummer's push or lay-back -- which a regression to the mean flattens.

The time loops are :func:`drums_rnn.nn.fused_loops.lstm_layer`, the Drums RNN
layers' own loop with its written-out backward pass; the backward direction
is the same loop over the reversed sequence. Weights live in one
name -> tf.Variable dict (``weights``), which is what checkpoints and the
bundle store.
"""

import numpy as np
import tensorflow as tf

from drums_rnn.errors import DrumsRnnError
from drums_rnn.nn import fused_loops
from drums_rnn.nn import initializers
from drums_rnn.humanizer import data
from drums_rnn.humanizer import performance

NUM_DRUMS = data.NUM_DRUMS
STEPS_PER_BAR = performance.STEPS_PER_BAR
FEATURE_SIZE = NUM_DRUMS + STEPS_PER_BAR + 2
QPM_CENTER, QPM_SCALE = 110.0, 40.0
LEVEL_CENTER, LEVEL_SCALE = 64.0, 32.0


# --- bins ---------------------------------------------------------------------------


def velocity_bins_of(velocities, num_bins):
  """Bin index of MIDI velocities 1..127 (equal-width bins)."""
  v = tf.cast(velocities, tf.float32) - 1.0
  return tf.clip_by_value(tf.cast(tf.floor(v * num_bins / 127.0), tf.int32), 0, num_bins - 1)


def offset_bins_of(offsets, num_bins):
  """Bin index of offsets in [-0.5, 0.5) steps."""
  o = tf.cast(offsets, tf.float32) + 0.5
  return tf.clip_by_value(tf.cast(tf.floor(o * num_bins), tf.int32), 0, num_bins - 1)


def velocity_value(bins, num_bins, fraction=0.5):
  """The velocity `fraction` (0..1) of the way through each bin (numpy, float)."""
  return np.clip(1.0 + (np.asarray(bins) + fraction) * 127.0 / num_bins, 1.0, 127.0)


def offset_value(bins, num_bins, fraction=0.5):
  """The offset `fraction` (0..1) of the way through each bin (numpy, steps)."""
  return np.clip(-0.5 + (np.asarray(bins) + fraction) / num_bins, -0.5, 0.5 - 1e-6)


# --- the network ----------------------------------------------------------------------


class HumanizerModel(tf.Module):
  """BiLSTM over the hits of a window -> velocity and offset logits per hit.

  Args:
    rnn_layer_sizes: units of each direction of each bidirectional layer.
    velocity_bins, offset_bins: sizes of the two categoricals.
    dropout_keep_prob: keep probability on each layer's output in training.
    seed: seeds the initial weights.
  """

  def __init__(self, rnn_layer_sizes=(128, 128), velocity_bins=32, offset_bins=32,
               dropout_keep_prob=1.0, seed=None):
    super().__init__(name='humanizer')
    self.rnn_layer_sizes = [int(n) for n in rnn_layer_sizes]
    self.velocity_bins, self.offset_bins = int(velocity_bins), int(offset_bins)
    self.dropout_keep_prob = float(dropout_keep_prob)
    rng = np.random.default_rng(seed)
    shapes = {}
    width = FEATURE_SIZE
    for i, n in enumerate(self.rnn_layer_sizes):
      for direction in ('fw', 'bw'):
        shapes[f'layer_{i}/{direction}/kernel'] = (width + n, 4 * n)
        shapes[f'layer_{i}/{direction}/bias'] = (4 * n,)
      width = 2 * n
    out = NUM_DRUMS * (self.velocity_bins + self.offset_bins)
    shapes['head/kernel'] = (width, out)
    shapes['head/bias'] = (out,)
    self.weights = {name: tf.Variable(initializers.zeros_or_glorot(rng, shape), name=name.replace('/', '_'))
                    for name, shape in shapes.items()}

  @classmethod
  def from_config(cls, config, hparams, seed=None):
    """Builds the network of the humanizer config's HParams (the config fixes nothing more)."""
    del config
    return cls(hparams['rnn_layer_sizes'], hparams['velocity_bins'], hparams['offset_bins'],
               hparams['dropout_keep_prob'], seed)

  @property
  def input_size(self):
    """Values per step of the dataset's inputs (:data:`humanizer_data.INPUT_SIZE`)."""
    return data.INPUT_SIZE

  def num_parameters(self):
    return int(sum(np.prod(v.shape) for v in self.weights.values()))

  def features(self, inputs):
    """[B, T, INPUT_SIZE] dataset inputs -> [B, T, FEATURE_SIZE] network inputs (no targets)."""
    inputs = tf.convert_to_tensor(inputs, tf.float32)
    hits = tf.cast(inputs[..., data.HITS] > 0, tf.float32)
    steps = tf.shape(inputs)[1]
    position = tf.one_hot(tf.range(steps) % STEPS_PER_BAR, STEPS_PER_BAR)
    position = tf.broadcast_to(position[None], [tf.shape(inputs)[0], steps, STEPS_PER_BAR])
    tempo = (inputs[..., data.QPM:data.QPM + 1] - QPM_CENTER) / QPM_SCALE
    level = (inputs[..., data.LEVEL:data.LEVEL + 1] - LEVEL_CENTER) / LEVEL_SCALE
    return tf.concat([hits, position, tempo, level], axis=-1)

  def __call__(self, inputs, training=False):
    """(velocity logits [B, T, 9, Vb], offset logits [B, T, 9, Ob]) of dataset inputs."""
    xs = tf.transpose(self.features(inputs), [1, 0, 2])  # time-major [T, B, F]
    batch = tf.shape(xs)[1]
    for i, n in enumerate(self.rnn_layer_sizes):
      outputs = []
      for direction in ('fw', 'bw'):
        kernel = self.weights[f'layer_{i}/{direction}/kernel']
        bias = self.weights[f'layer_{i}/{direction}/bias']
        width = kernel.shape[0] - n
        gates_x = tf.reshape(tf.matmul(tf.reshape(xs, [-1, width]), kernel[:width]) + bias,
                             [-1, batch, 4 * n])
        zeros = tf.zeros([batch, n])
        if direction == 'bw':
          gates_x = tf.reverse(gates_x, [0])
        hs, _, _ = fused_loops.lstm_layer(gates_x, zeros, zeros, kernel[width:])
        outputs.append(tf.reverse(hs, [0]) if direction == 'bw' else hs)
      xs = tf.concat(outputs, axis=-1)
      if training and self.dropout_keep_prob < 1.0:
        xs = tf.nn.dropout(xs, rate=1.0 - self.dropout_keep_prob)
    steps = tf.shape(xs)[0]
    logits = tf.matmul(tf.reshape(xs, [-1, xs.shape[-1]]), self.weights['head/kernel'])
    logits += self.weights['head/bias']
    logits = tf.transpose(tf.reshape(logits, [steps, batch, NUM_DRUMS, -1]), [1, 0, 2, 3])
    return logits[..., :self.velocity_bins], logits[..., self.velocity_bins:]

  def get_weights(self):
    """name -> numpy array of every weight."""
    return {name: v.numpy() for name, v in self.weights.items()}

  def set_weights(self, weights):
    """Loads name -> array weights (names and shapes must match; DrumsRnnError otherwise)."""
    missing = sorted(set(self.weights) - set(weights))
    if missing:
      raise DrumsRnnError(f'missing humanizer weights: {", ".join(missing)}')
    for name, var in self.weights.items():
      value = np.asarray(weights[name], np.float32)
      if tuple(value.shape) != tuple(var.shape):
        raise DrumsRnnError(f'humanizer weight {name} has shape {value.shape}, expected {var.shape}')
      var.assign(value)

