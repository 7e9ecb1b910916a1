"""Log-likelihood of drum tracks under a model: the one scorer of the package.

A track of N steps is scored the way Magenta scores it: encode it with the
config's encoding, run the model over the whole track from the zero state
(dropout off), and add log softmax[label] over its N - 1 predicted steps.
Tracks are sorted by length and run in padded batches through one compiled
function per model; the model is causal, so padding at the end of a track
does not change its earlier outputs, and padded steps are masked out.
Training's validation, `drums_rnn_evaluate` and the tests all use it.
"""

import weakref

import numpy as np
import tensorflow as tf

# One compiled scoring function per model, reused across calls.
_SCORERS = weakref.WeakKeyDictionary()


def _scorer(model, input_size):
  """A tf.function (inputs [B, T, n], labels [B, T]) -> (log p(label), correct)."""
  scorer = _SCORERS.get(model)
  if scorer is not None:
    return scorer
  model_ref = weakref.ref(model)  # the cache must not keep the model alive

  @tf.function(input_signature=[tf.TensorSpec([None, None, input_size], tf.float32),
                                tf.TensorSpec([None, None], tf.int64)])
  def score(inputs, labels):
    logits, _ = model_ref()(inputs, training=False)
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    picked = tf.gather(log_probs, labels, batch_dims=2)
    correct = tf.cast(tf.equal(tf.argmax(logits, axis=-1), labels), tf.float32)
    return picked, correct

  _SCORERS[model] = score
  return score


def track_log_likelihoods(model, drum_encoding, tracks, batch_size=32):
  """Per track: (sum of log p(label), number of predicted steps, correct argmaxes).

  Args:
    model: a DrumsRnnModel.
    drum_encoding: its config's DrumEncoding.
    tracks: list of int arrays of class indices, each at least 2 steps.
    batch_size: tracks per compiled call.
  Returns:
    three arrays [len(tracks)] in the order of `tracks`.
  """
  score = _scorer(model, drum_encoding.input_size)
  order = np.argsort([t.shape[0] for t in tracks], kind='stable')
  sums = np.zeros(len(tracks))
  counts = np.zeros(len(tracks), np.int64)
  correct = np.zeros(len(tracks))
  for start in range(0, len(order), batch_size):
    batch = order[start:start + batch_size]
    encoded = [drum_encoding.encode(tracks[i]) for i in batch]
    length = max(e[1].shape[0] for e in encoded)
    inputs = np.zeros((len(batch), length, drum_encoding.input_size), np.float32)
    labels = np.zeros((len(batch), length), np.int64)
    mask = np.zeros((len(batch), length), bool)
    for row, (x, y) in enumerate(encoded):
      inputs[row, :y.shape[0]] = x
      labels[row, :y.shape[0]] = y
      mask[row, :y.shape[0]] = True
    picked, hit = score(tf.constant(inputs), tf.constant(labels))
    sums[batch] = np.where(mask, picked.numpy(), 0.0).sum(axis=1)
    counts[batch] = mask.sum(axis=1)
    correct[batch] = np.where(mask, hit.numpy(), 0.0).sum(axis=1)
  return sums, counts, correct
