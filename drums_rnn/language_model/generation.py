"""Drum track generation: a batched compiled sampler, beam search, MIDI out.

Magenta generates one output after another, with one session call and one
numpy draw per step. Here every output (and every beam) is a row of ONE
batch, and the whole step loop runs inside ONE compiled `tf.function`: the
state is carried in the graph, the next input vector (one-hot plus binary
counters) is built in the graph, and each step draws from softmax(logits /
temperature) with stateless random numbers (Gumbel-max, see `_sample_rows`).

Reproducibility: step k draws with the stateless seed (seed, k); row r of
the batch reads a fixed slice of that random stream, and output n (1-based)
always occupies rows (n-1)*K .. n*K-1 (K = beam_size * branch_factor), so
output n is the same whether 1 or 10 outputs are asked for.

Beam search follows Magenta's `beam_search` (magenta.common): K rows per
output; the first iteration extends by (G - 1) % steps_per_iteration + 1
steps (G = steps to generate), later ones by steps_per_iteration; before
each later iteration the beam_size most likely rows of each output are kept
and each is copied branch_factor times (states gathered by row index in the
graph); all steps are sampled, and the most likely row of each output wins.

Regenerating voices (:func:`regenerate_voices`) uses the same loop with a
mask: voices held fixed restrict each step's softmax to the classes that
agree with the given pattern on them, renormalised, so only the chosen
voices are new.

Output: Magenta's file names (`<YYYY-MM-DD_HHMMSS>_<n>.mid`) written through
:mod:`drums_rnn.midi` without ever replacing a file (a name taken, e.g. by
another run in the same second, gets a `-2` suffix); a failure (a full disk)
removes what the run wrote. Primers are :mod:`drums_rnn.language_model.primers`; the model
comes from :func:`drums_rnn.loading.load_model`.
"""

import os
import time

import numpy as np
import tensorflow as tf
from absl import logging

from drums_rnn import controls as controls_lib
from drums_rnn import files
from drums_rnn import midi
from drums_rnn.encoding import DRUM_VOICE_NAMES
from drums_rnn.errors import ArgumentError
from drums_rnn.errors import DrumsRnnError

DEFAULT_VELOCITY = midi.DEFAULT_VELOCITY


# --------------------------------------------------------------------------
# The batched sampler


class BatchedSampler:
  """Samples all outputs and beams of a model in one compiled loop.

  Args:
    model: a `DrumsRnnModel` (its `__call__` runs the primer, `step` the loop).
    encoding: the config's `DrumEncoding` (classes, input vectors).
  """

  def __init__(self, model, encoding):
    self.model = model
    self.encoding = encoding
    signature = [
        tf.TensorSpec([None], tf.int32),   # primer classes
        tf.TensorSpec([], tf.int32),       # num_outputs
        tf.TensorSpec([], tf.int32),       # steps to generate
        tf.TensorSpec([], tf.float32),     # temperature
        tf.TensorSpec([], tf.int32),       # beam_size
        tf.TensorSpec([], tf.int32),       # branch_factor
        tf.TensorSpec([], tf.int32),       # steps_per_iteration
        tf.TensorSpec([2], tf.int64),      # seed
        tf.TensorSpec([None], tf.int32),   # fixed classes, one per generated step
        tf.TensorSpec([], tf.int32),       # fixed mask (drum-type bits held fixed; 0 = none)
        tf.TensorSpec([None, None], tf.float32),  # control columns of each step (a controlled config)
        tf.TensorSpec([None, None], tf.float32),  # the same with every control disabled
        tf.TensorSpec([], tf.float32),     # control strength
    ]
    self._run = tf.function(lambda *args: self._generate(*args, guided=False), autograph=False,
                            input_signature=signature)
    self._run_guided = tf.function(lambda *args: self._generate(*args, guided=True), autograph=False,
                                   input_signature=signature)

  def sample(self, primer_classes, num_outputs, num_generate, temperature=1.0, beam_size=1,
             branch_factor=1, steps_per_iteration=1, seed=0, fixed_classes=None, fixed_mask=0,
             controls=None, control_strength=controls_lib.DEFAULT_STRENGTH):
    """Returns (classes [num_outputs, num_generate] int, log-likelihoods [num_outputs]).

    Log-likelihoods include the primer's own (as Magenta's beam search does).
    `fixed_mask` (drum-type bits) holds voices fixed: at generated step k only
    classes c with c & fixed_mask == fixed_classes[k] & fixed_mask can be
    drawn (the others' logits are masked, so the softmax renormalises over
    the allowed ones). With fixed_mask 0 nothing changes, bit for bit.
    `controls` ([3, primer + generated steps] values, a controlled config
    only; None = all disabled) are read by each step's input: the controls of
    the step it predicts. `control_strength` s != 1 (classifier-free
    guidance, Ho & Salimans 2022) runs every row twice in the same batch, with
    the controls and with every control disabled, and draws from
    log p(x | disabled) + s * (log p(x | controls) - log p(x | disabled)):
    s > 1 plays the asked controls more clearly than the model alone
    would, s = 0 ignores them. Without controls it changes nothing.
    """
    if not control_strength >= 0:
      raise ArgumentError(f'{{control_strength}} must be >= 0, got {control_strength}',
                          'control_strength')
    if fixed_classes is None:
      fixed_classes = np.zeros(num_generate, np.int32)
    fixed_classes = np.asarray(fixed_classes, np.int32)
    if fixed_classes.shape != (num_generate,):
      raise DrumsRnnError(f'fixed_classes must have one class per generated step ({num_generate}), '
                          f'got shape {fixed_classes.shape}')
    num_steps = len(primer_classes) + num_generate
    table = self._control_table(controls, num_steps)
    guided = controls is not None and control_strength != 1.0
    run = self._run_guided if guided else self._run
    classes, scores = run(
        tf.constant(np.asarray(primer_classes, np.int32)), tf.constant(num_outputs, tf.int32),
        tf.constant(num_generate, tf.int32), tf.constant(temperature, tf.float32),
        tf.constant(beam_size, tf.int32), tf.constant(branch_factor, tf.int32),
        tf.constant(steps_per_iteration, tf.int32),
        tf.constant([seed & 0x7FFFFFFFFFFFFFFF, 0x5EED], tf.int64), tf.constant(fixed_classes),
        tf.constant(fixed_mask, tf.int32), tf.constant(table),
        tf.constant(self._control_table(None, num_steps) if guided else table),
        tf.constant(control_strength, tf.float32))
    return classes.numpy(), scores.numpy()

  def _control_table(self, controls, num_steps):
    """[num_steps + 1, control columns] float32: row p = the columns of step p (the last row is the
    step after the track, read by the input no step predicts from); [1, 0] without controls."""
    spec = self.encoding.controls
    if spec is None:
      if controls is not None:
        raise DrumsRnnError('this model takes no controls (its config has none)')
      return np.zeros((1, 0), np.float32)
    values = controls_lib.disabled(num_steps) if controls is None else np.asarray(controls, np.int64)
    if values.shape != (3, num_steps):
      raise DrumsRnnError(f'controls must be [3, {num_steps}] values (one per step of the track), '
                          f'got shape {values.shape}')
    return spec.columns(np.concatenate([values, controls_lib.disabled(1)], axis=1))

  def _inputs(self, classes, positions, tables):
    """Model inputs [len(tables), N, input_size] for events `classes` at track `positions`, one
    block per control table (the events and counters are built once and shared)."""
    enc = self.encoding
    one_hot = tf.one_hot(classes, enc.num_classes, dtype=tf.float32)
    if not enc.binary_counter_bits:
      return one_hot[None]
    n = tf.cast(positions, tf.int32)[:, None] + 1
    bits = tf.bitwise.bitwise_and(tf.bitwise.right_shift(n, tf.range(enc.binary_counter_bits)[None, :]), 1)
    shared = tf.concat([one_hot, 2.0 * tf.cast(bits, tf.float32) - 1.0], axis=1)
    if enc.controls is None:
      return shared[None]
    # The controls of the step each input predicts.
    return tf.stack([tf.concat([shared, tf.reshape(tf.gather(t, n[:, 0]), [-1, enc.controls.width])], axis=1)
                     for t in tables])

  def _generate(self, primer, num_outputs, num_generate, temperature, beam_size, branch_factor,
                steps_per_iteration, seed, fixed_classes, fixed_mask, table, disabled_table, strength,
                guided):
    model = self.model
    class_ids = tf.range(self.encoding.num_classes, dtype=tf.int32)
    num_primer = tf.shape(primer)[0]
    # Guided: the batch holds every row twice, first with the controls, then with them disabled.
    tables = [table, disabled_table] if guided else [table]
    copies = len(tables)

    def inputs(classes, positions):  # [copies * rows, input_size]
      return tf.reshape(self._inputs(classes, positions, tables), [-1, self.encoding.input_size])

    def logits_of(outputs):
      # free + s * (given - free) on raw logits: each differs from its log-softmax by a constant
      # per row, which neither the draw nor the log-softmax of the scores sees.
      if not guided:
        return outputs
      given, free = tf.split(outputs, 2, axis=0)
      return free + strength * (given - free)

    # 1. The whole primer in one call from the zero state (one row per copy).
    primer_outputs, state = model(self._inputs(primer, tf.range(num_primer), tables), model.zero_state(copies))
    primer_logits = logits_of(primer_outputs)
    primer_logp = tf.nn.log_softmax(primer_logits[0] / temperature)
    primer_ll = tf.reduce_sum(tf.gather(primer_logp[:-1], primer[1:], batch_dims=1))
    # 2. One row per output and beam (per copy).
    width = beam_size * branch_factor
    rows = num_outputs * width
    state = tuple(tf.repeat(s, rows, axis=0) for s in state)
    logits = tf.repeat(primer_logits[:, -1], rows, axis=0)
    scores = tf.fill([rows], primer_ll)
    history = tf.zeros([rows, num_generate], tf.int32)
    first = (num_generate - 1) % steps_per_iteration + 1
    row_ids = tf.range(rows)

    def reselect(state, logits, scores, history):
      # Keep the beam_size best rows of each output, each branch_factor times.
      best = tf.math.top_k(tf.reshape(scores, [num_outputs, width]), k=beam_size).indices
      parents = tf.repeat(best, branch_factor, axis=1) + tf.range(num_outputs)[:, None] * width
      parents = tf.reshape(parents, [-1])
      state_parents = tf.concat([parents + c * rows for c in range(copies)], axis=0)
      return (tuple(tf.gather(s, state_parents) for s in state), tf.gather(logits, parents),
              tf.gather(scores, parents), tf.gather(history, parents))

    def body(k, state, logits, scores, history):
      if_select = tf.logical_and(
          width > 1, tf.logical_and(k >= first, tf.math.floormod(k - first, steps_per_iteration) == 0))
      state, logits, scores, history = tf.cond(
          if_select, lambda: reselect(state, logits, scores, history),
          lambda: (state, logits, scores, history))
      scaled = logits / temperature
      allowed = tf.equal(tf.bitwise.bitwise_and(class_ids, fixed_mask),
                         tf.bitwise.bitwise_and(fixed_classes[k], fixed_mask))
      scaled = tf.where(allowed[None, :], scaled, -np.inf)
      chosen = _sample_rows(scaled, tf.stack([seed[0], seed[1] + tf.cast(k, tf.int64)]))
      scores += tf.gather(tf.nn.log_softmax(scaled), chosen, batch_dims=1)
      history = tf.tensor_scatter_nd_update(
          history, tf.stack([row_ids, tf.fill([rows], k)], axis=1), chosen)
      outputs, state = model.step(inputs(chosen, tf.fill([rows], num_primer + k)), state)
      return k + 1, state, logits_of(outputs), scores, history

    _, state, logits, scores, history = tf.while_loop(
        lambda k, *_: k < num_generate, body, (tf.constant(0), state, logits, scores, history))
    # 3. The most likely row of each output.
    best = tf.argmax(tf.reshape(scores, [num_outputs, width]), axis=1, output_type=tf.int32)
    winners = best + tf.range(num_outputs) * width
    return tf.gather(history, winners), tf.gather(scores, winners)


def _sample_rows(scaled_logits, seed):
  """One class per row of softmax(scaled_logits), reproducible per row.

  Gumbel-max: argmax(logits + Gumbel noise) is an exact draw from the
  softmax. The noise is `stateless_uniform` of the whole [rows, classes]
  block, whose element i depends only on (seed, i), so row r's draw does not
  depend on how many rows follow it. (`stateless_categorical` does not have
  that property: its per-row streams change with the batch size.)
  """
  uniform = tf.random.stateless_uniform(tf.shape(scaled_logits), seed, minval=1e-12, maxval=1.0)
  gumbel = -tf.math.log(-tf.math.log(uniform))
  return tf.argmax(scaled_logits + gumbel, axis=1, output_type=tf.int32)


def generate_tracks(model, config, primer_events, num_outputs=10, num_steps=128, temperature=1.0,
                    beam_size=1, branch_factor=1, steps_per_iteration=1, seed=None, sampler=None,
                    controls=None, control_strength=controls_lib.DEFAULT_STRENGTH):
  """Extends `primer_events` to `num_steps` steps, `num_outputs` times.

  Args:
    model: a DrumsRnnModel.
    config: its DrumsRnnConfig.
    primer_events: list of pitch collections (raw MIDI pitches).
    num_steps: total length including the primer.
    seed: int; None draws one (logged, so a run can be repeated).
    controls: for a controlled config, the [3, num_steps] control values of
      the whole track, primer included (:mod:`drums_rnn.controls`); None =
      every control disabled.
  Returns:
    (list of event lists, each num_steps long with the primer's raw pitches
    followed by decoded generated classes; np.ndarray of log-likelihoods).
  """
  check_generation_args(len(primer_events), num_outputs, num_steps, temperature, beam_size,
                        branch_factor, steps_per_iteration)
  return _sample_tracks(model, config, primer_events, num_outputs, num_steps, temperature, beam_size,
                        branch_factor, steps_per_iteration, seed, sampler, controls, control_strength)


def voice_mask(voices):
  """The drum-type bitmask of voice names (`encoding.DRUM_VOICE_NAMES`); clear errors for others."""
  names = [v.strip() for v in ([voices] if isinstance(voices, str) else voices) if v.strip()]
  if not names:
    raise DrumsRnnError('no voices to regenerate: name at least one of ' + ', '.join(DRUM_VOICE_NAMES))
  mask = 0
  for name in names:
    if name not in DRUM_VOICE_NAMES:
      raise DrumsRnnError(f'unknown voice {name!r}: choose from {", ".join(DRUM_VOICE_NAMES)}')
    mask |= 1 << DRUM_VOICE_NAMES.index(name)
  return mask


def regenerate_voices(model, config, events, voices, primer_steps=1, num_outputs=1, temperature=1.0,
                      seed=None, sampler=None, controls=None,
                      control_strength=controls_lib.DEFAULT_STRENGTH):
  """New parts for `voices` over the other voices of `events`, kept as they are.

  Steps [0, primer_steps) are the primer, kept whole. From there on, each
  step is sampled from the model's distribution restricted to the classes
  that agree with `events` on every voice not in `voices` (see
  `BatchedSampler.sample`'s fixed_mask), so e.g. new hi-hats play over the
  given kick and snare. Kept voices keep their original pitches.

  Args:
    events: the whole track, a list of pitch collections (one per step).
    voices: names from `encoding.DRUM_VOICE_NAMES` (an iterable, or one name).
    controls: [3, len(events)] control values (a controlled config), or None.
  Returns:
    (tracks, log-likelihoods) as `generate_tracks`, each track len(events) long.
  """
  enc = config.encoding
  if enc.num_drum_types != len(DRUM_VOICE_NAMES):
    raise DrumsRnnError(f'regenerating voices needs a drum_kit model (9 drum types); config '
                        f'{config.name} has {enc.num_drum_types}')
  regenerated = voice_mask(voices)
  if not 1 <= primer_steps < len(events):
    raise DrumsRnnError(f'the primer must be 1 to {len(events) - 1} steps of the {len(events)}-step '
                        f'track, got {primer_steps}')
  check_generation_args(primer_steps, num_outputs, len(events), temperature, 1, 1, 1)
  seed = resolve_seed(seed)
  fixed_mask = (enc.num_classes - 1) & ~regenerated
  given = enc.classes_from_events(events)
  sampler = sampler or BatchedSampler(model, enc)
  classes, scores = sampler.sample(given[:primer_steps], num_outputs, len(events) - primer_steps,
                                   temperature, seed=seed, fixed_classes=given[primer_steps:],
                                   fixed_mask=fixed_mask, controls=controls,
                                   control_strength=control_strength)
  bits = enc.pitch_bits
  kept = [frozenset(p for p in e if not (0 <= p < len(bits) and bits[p] & regenerated)) for e in events]
  tracks = []
  for row in classes:
    generated = [kept[primer_steps + k] | enc.class_to_pitches(int(c) & regenerated)
                 for k, c in enumerate(row)]
    tracks.append(list(map(frozenset, events[:primer_steps])) + generated)
  return tracks, scores


def resolve_seed(seed):
  """`seed`, or when None a fresh one, logged so that the run can be repeated."""
  if seed is None:
    seed = int.from_bytes(os.urandom(4), 'little')
    logging.info('sampling seed %d (give the seed %d again to repeat this run)', seed, seed)
  return seed


def _sample_tracks(model, config, primer_events, num_outputs, num_steps, temperature, beam_size,
                   branch_factor, steps_per_iteration, seed, sampler=None, controls=None,
                   control_strength=controls_lib.DEFAULT_STRENGTH):
  """generate_tracks once its arguments are checked."""
  seed = resolve_seed(seed)
  enc = config.encoding
  primer_classes = enc.classes_from_events(primer_events)
  sampler = sampler or BatchedSampler(model, enc)
  start = time.time()
  classes, scores = sampler.sample(primer_classes, num_outputs, num_steps - len(primer_events),
                                   temperature, beam_size, branch_factor, steps_per_iteration, seed,
                                   controls=controls, control_strength=control_strength)
  elapsed = time.time() - start
  logging.info('generated %d x %d steps in %.2f s (%.0f steps/s)', num_outputs, classes.shape[1], elapsed,
               num_outputs * classes.shape[1] / max(elapsed, 1e-9))
  decode = [enc.class_to_pitches(c) for c in range(enc.num_classes)]
  tracks = [list(map(frozenset, primer_events)) + [decode[c] for c in row] for row in classes]
  return tracks, scores


def check_generation_args(primer_length, num_outputs, num_steps, temperature, beam_size,
                          branch_factor, steps_per_iteration, qpm=midi.DEFAULT_QPM,
                          velocity=DEFAULT_VELOCITY):
  """Clear errors for impossible generation settings."""
  if primer_length < 1:
    raise DrumsRnnError('the primer is empty')
  if num_outputs < 1:
    raise ArgumentError(f'{{num_outputs}} must be at least 1, got {num_outputs}', 'num_outputs')
  if primer_length >= num_steps:
    raise ArgumentError(f'the primer is {primer_length} steps long but {{num_steps}} is {num_steps}: '
                        '{num_steps} counts the primer and must be larger', 'num_steps')
  if not temperature > 0:
    raise ArgumentError(f'{{temperature}} must be > 0, got {temperature}', 'temperature')
  for name, value in (('beam_size', beam_size), ('branch_factor', branch_factor),
                      ('steps_per_iteration', steps_per_iteration)):
    if value < 1:
      raise ArgumentError(f'{{{name}}} must be at least 1, got {value}', name)
  if not qpm > 0:
    raise ArgumentError(f'{{qpm}} must be > 0, got {qpm}', 'qpm')
  if not 1 <= velocity <= 127:
    raise ArgumentError(f'{{velocity}} must be in 1..127, got {velocity}', 'velocity')


# --------------------------------------------------------------------------
# MIDI out


def output_names(num_outputs, timestamp=None):
  """Magenta's names: `<YYYY-MM-DD_HHMMSS>_<n>.mid`, n 1-based, zero-padded."""
  stamp = timestamp or time.strftime('%Y-%m-%d_%H%M%S')
  digits = len(str(num_outputs))
  return [f'{stamp}_{str(i + 1).zfill(digits)}.mid' for i in range(num_outputs)]


def write_tracks(tracks, config, output_dir, qpm=midi.DEFAULT_QPM, velocity=DEFAULT_VELOCITY,
                 timestamp=None, sequences=None):
  """Writes each track as a drum MIDI file named by `output_names`; returns the paths.

  `sequences` (e.g. humanized ones) replace the plain sequences of `tracks`.
  An existing file is never replaced (its name gets a `-2`, `-3` suffix), and
  on any error the files this call wrote are removed.
  """
  files.ensure_dir(output_dir)
  if sequences is None:
    sequences = [midi.events_to_sequence(t, config.steps_per_quarter, qpm, velocity) for t in tracks]
  paths = [os.path.join(output_dir, name) for name in output_names(len(sequences), timestamp)]
  return midi.write_midi_files(sequences, paths, overwrite=False)


def generate_to_midi(config, model, output_dir, primer_events, num_outputs=10, num_steps=128,
                     qpm=midi.DEFAULT_QPM, temperature=1.0, beam_size=1, branch_factor=1,
                     steps_per_iteration=1, seed=None, velocity=DEFAULT_VELOCITY, plot=False,
                     timestamp=None, voices=None, humanizer=None, humanize_level=None, controls=None,
                     control_strength=controls_lib.DEFAULT_STRENGTH):
  """Generates `num_outputs` tracks from `primer_events` and writes them as MIDI; returns the paths.

  With `voices`, `primer_events` is a whole track whose other voices are
  kept while `voices` are regenerated (`regenerate_voices`, its first step
  the primer; `num_steps` and beam search do not apply). With `humanizer`
  (a :class:`drums_rnn.humanizer.humanize.Humanizer`) every output is
  humanized (its `humanize_tracks`) and pictured by it. With `plot`, a
  drum-grid PNG (primer shaded) is written beside each MIDI file under the
  same name with `.png`. `controls` (a controlled config): the [3, num_steps]
  control values of the whole track (:mod:`drums_rnn.controls`), played
  with `control_strength` (`BatchedSampler.sample`). `timestamp` replaces the current time in the file names.
  """
  if voices:
    num_steps = len(primer_events)
    check_generation_args(1, num_outputs, num_steps, temperature, 1, 1, 1, qpm, velocity)
  else:
    check_generation_args(len(primer_events), num_outputs, num_steps, temperature, beam_size,
                          branch_factor, steps_per_iteration, qpm, velocity)
  seed = resolve_seed(seed)
  files.ensure_dir(output_dir)
  if voices:
    tracks, scores = regenerate_voices(model, config, primer_events, voices, 1, num_outputs,
                                       temperature, seed, controls=controls,
                                       control_strength=control_strength)
  else:
    tracks, scores = _sample_tracks(model, config, primer_events, num_outputs, num_steps, temperature,
                                    beam_size, branch_factor, steps_per_iteration, seed,
                                    controls=controls, control_strength=control_strength)
  for i, score in enumerate(scores):
    logging.info('output %d: log-likelihood %.4f', i + 1, score)
  sequences = None if humanizer is None else humanizer.humanize_tracks(
      tracks, config.steps_per_quarter, qpm, seed, humanize_level)
  paths = write_tracks(tracks, config, output_dir, qpm, velocity, timestamp, sequences)
  logging.info('Wrote %d %sMIDI files to %s', len(paths), 'humanized ' if humanizer else '', output_dir)
  if plot:
    primer_steps = 1 if voices else len(primer_events)
    try:
      if humanizer is None:
        write_plots(config, tracks, paths, primer_steps)
      else:
        humanizer.write_plots(paths, primer_steps)
    except BaseException:
      files.remove_all(paths)  # all or nothing: a failed plot takes its MIDI files with it
      raise
  return paths


def write_plots(config, tracks, midi_paths, primer_steps):
  """Writes `<name>.png` drum grids beside the MIDI files; returns their paths."""
  from drums_rnn import plotting  # pylint: disable=import-outside-toplevel  (matplotlib: only when asked)
  enc = config.encoding
  spq = config.steps_per_quarter
  track_of = dict(zip(midi_paths, tracks))

  def draw(midi_path, png):
    plotting.plot_drum_track(enc.classes_from_events(track_of[midi_path]), png, steps_per_bar=4 * spq,
                             steps_per_beat=spq, primer_steps=primer_steps,
                             title=f'{os.path.basename(midi_path)} ({config.name})',
                             num_drum_types=enc.num_drum_types)

  pngs = plotting.write_beside(midi_paths, draw)
  logging.info('Wrote %d drum-grid PNGs beside them', len(pngs))
  return pngs
