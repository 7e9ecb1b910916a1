"""Log-likelihood of drum tracks under a model: the one scorer of the package.

A track of N steps is scored the way Magenta scores it: encode it with the
config's encoding, run the model over the whole track from the zero state
(dropout off), and add log softmax[label] over its N - 1 predicted steps.
Tracks are sorted by length and run in padded batches through one compiled
function per model; the model is causal, so padding at the end of a track
does not change its earlier outputs, and padded steps are masked out.
Training's validation, `drums_rnn_evaluate` and the tests all use it.

:func:`model_likelihood` reports it for a set of tracks (mean log-likelihood
per predicted step, perplexity, accuracy), on the tracks Magenta's drum
track extraction cuts from MIDI files (:func:`extract_model_tracks`), so it
scores exactly what a model is trained on.
"""

import dataclasses
import math
import time
import weakref

import numpy as np
import tensorflow as tf
from absl import logging

from drums_rnn import midi
from drums_rnn import progress
from drums_rnn.errors import ArgumentError
from drums_rnn.errors import DrumsRnnError

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


def track_log_likelihoods(model, drum_encoding, tracks, batch_size=32, controls=None):
  """Per track: (sum of log p(label), number of predicted steps, correct argmaxes).

  Args:
    model: a DrumsRnnModel.
    drum_encoding: its config's DrumEncoding.
    tracks: list of int arrays of class indices, each at least 2 steps.
    batch_size: tracks per compiled call.
    controls: with a controlled encoding, each track's [3, steps] control
      values (:mod:`drums_rnn.controls`); None = every control disabled.
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
    encoded = [drum_encoding.encode(tracks[i], None if controls is None else controls[i])
               for i in batch]
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


@dataclasses.dataclass
class Likelihood:
  """How well a model predicts a set of drum tracks.

  Attributes:
    label: what was scored.
    num_tracks: drum tracks scored.
    num_steps: predicted steps (a track of N steps predicts N - 1).
    mean_log_likelihood: mean over all predicted steps of log p(label), nats.
    perplexity: exp(-mean_log_likelihood).
    accuracy: fraction of steps whose most likely class is the label.
    nonfinite_tracks: tracks left out because their score was not finite.
  """
  label: str
  num_tracks: int
  num_steps: int
  mean_log_likelihood: float
  perplexity: float
  accuracy: float
  nonfinite_tracks: int = 0


def extract_model_tracks(paths, config, what='MIDI files'):
  """Class-index drum tracks of MIDI files, exactly as the model's dataset sees them.

  Each file is read with note-seq and cut into drum tracks by Magenta's rules
  (:func:`drums_rnn.data.extraction.extract_drum_tracks`: split at time changes,
  quantize at the config's steps per quarter, tracks of at least 7 bars, ends
  at 1-bar silences, truncated to 512 steps). Unreadable files are skipped
  with a warning.
  """
  from drums_rnn.data import extraction  # pylint: disable=import-outside-toplevel
  stats = extraction.ExtractionStats()
  tracks = []
  report = progress.Progress(len(paths), 'MIDI files read')
  for done, path in enumerate(paths):
    report.update(done)
    try:
      sequence = midi.read_midi(path)
    except DrumsRnnError as e:
      logging.warning('skipping: %s', e)
      continue
    tracks += [t.classes for t in extraction.extract_drum_tracks(sequence, config, stats=stats)]
  logging.info('%s: %d drum tracks from %d files (%s)', what, len(tracks), len(paths),
               ', '.join(f'{k}: {v}' for k, v in extraction.format_stats(stats).items()))
  tracks = [np.asarray(t, np.int64) for t in tracks if len(t) >= 2]
  if not tracks:
    raise DrumsRnnError(f'{what}: no drum tracks (Magenta extraction: at least 7 bars) in '
                        f'{len(paths)} MIDI file(s)')
  return tracks


def model_likelihood(model, config, tracks, label='tracks', batch_size=32, controls=None):
  """Mean log-likelihood per predicted step and perplexity of `tracks`.

  A track whose score is not finite (the model's activations overflowed,
  e.g. an untrained attention model on a long track) is left out of the
  means, counted in `nonfinite_tracks` and warned about.
  """
  if batch_size < 1:
    raise ArgumentError(f'{{batch_size}} must be positive, got {batch_size}', 'batch_size')
  start = time.time()
  sums, counts, correct = track_log_likelihoods(model, config.encoding, tracks, batch_size, controls)
  elapsed = time.time() - start
  logging.info('scored %d steps of %d tracks in %.1f s (%.0f steps/s)', int(counts.sum()), len(tracks),
               elapsed, counts.sum() / max(elapsed, 1e-9))
  finite = np.isfinite(sums)
  if not finite.all():
    logging.warning('%s: %d of %d tracks gave a non-finite log-likelihood (the model\'s outputs '
                    'overflowed); they are left out', label, int((~finite).sum()), len(tracks))
  total = int(counts[finite].sum())
  if total == 0:
    raise DrumsRnnError(f'{label}: no predicted steps with a finite log-likelihood to score')
  mean = float(sums[finite].sum() / total)
  perplexity = math.exp(-mean) if -mean < 700 else float('inf')
  return Likelihood(label, int(finite.sum()), total, mean, perplexity,
                    float(correct[finite].sum() / total), int((~finite).sum()))
