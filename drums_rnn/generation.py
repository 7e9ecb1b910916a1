"""Drum track generation: primers, a batched compiled sampler, beam search, MIDI out.

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

Beam search follows Magenta's `beam_search` (reference 4.7): K rows per
output; the first iteration extends by (G - 1) % steps_per_iteration + 1
steps (G = steps to generate), later ones by steps_per_iteration; before
each later iteration the beam_size most likely rows of each output are kept
and each is copied branch_factor times (states gathered by row index in the
graph); all steps are sampled, and the most likely row of each output wins.

Primer choices (Magenta's quirks, reference 9.1-9.3, changed on purpose and
documented in docs/generation.md): generation starts right after the
primer's last step; `--primer_drums` is read at the config's own steps per
quarter; a primer MIDI gives its is_drum notes (all notes, with a warning,
when it has none).
"""

import ast
import os
import time

import numpy as np
import tensorflow as tf
from absl import logging
import note_seq
from note_seq import sequences_lib
from note_seq.protobuf import music_pb2

from drums_rnn.errors import DrumsRnnError
from drums_rnn import files

DEFAULT_PRIMER = [(36,)]
DEFAULT_QPM = 120.0
DEFAULT_VELOCITY = 100
DRUM_INSTRUMENT = 9
PRIMER_EXAMPLE = '"[(36, 42), (), (42,)]"'


# --------------------------------------------------------------------------
# Primers


def parse_primer_drums(text):
  """`--primer_drums` ("[(36, 42), (), (42,)]") -> list of pitch frozensets."""
  expected = f'--primer_drums must be a Python list of tuples of MIDI pitches, e.g. {PRIMER_EXAMPLE}'
  try:
    value = ast.literal_eval(text.strip())
  except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
    raise DrumsRnnError(f'{expected}; got {text!r}') from None
  if not isinstance(value, (list, tuple)) or not value:
    raise DrumsRnnError(f'{expected}; got {text!r}')
  events = []
  for step in value:
    if isinstance(step, int) and not isinstance(step, bool):
      step = (step,)
    if not isinstance(step, (list, tuple, set, frozenset)) or not all(
        isinstance(p, int) and not isinstance(p, bool) for p in step):
      raise DrumsRnnError(f'{expected}; got {text!r}')
    bad = [p for p in step if not 0 <= p <= 127]
    if bad:
      raise DrumsRnnError(f'--primer_drums pitch {bad[0]} is outside the MIDI range 0..127')
    events.append(frozenset(step))
  return events


def primer_from_midi(path, steps_per_quarter):
  """(events, qpm) of a primer MIDI quantized at `steps_per_quarter`.

  The track runs from the start of the bar holding the first onset to the
  last onset; raw pitches are kept (the model sees their drum classes).
  """
  try:
    sequence = note_seq.midi_file_to_note_sequence(path)
  except (OSError, note_seq.MIDIConversionError, ValueError, EOFError) as e:
    raise DrumsRnnError(f'cannot read primer MIDI {path!r}: {e}') from None
  qpm = sequence.tempos[0].qpm if sequence.tempos else DEFAULT_QPM
  try:
    quantized = sequences_lib.quantize_note_sequence(sequence, steps_per_quarter)
  except (sequences_lib.QuantizationStatusError, sequences_lib.MultipleTimeSignatureError,
          sequences_lib.MultipleTempoError, sequences_lib.BadTimeSignatureError,
          sequences_lib.NegativeTimeError) as e:
    raise DrumsRnnError(f'cannot quantize primer MIDI {path!r}: {type(e).__name__}: {e}') from None
  notes = [n for n in quantized.notes if n.velocity > 0]
  drums = [n for n in notes if n.is_drum]
  if not drums and notes:
    logging.warning('primer MIDI %s has no drum-channel notes; using all its notes as drums', path)
    drums = notes
  if not drums:
    raise DrumsRnnError(f'primer MIDI {path!r} has no notes')
  steps_per_bar = int(sequences_lib.steps_per_bar_in_quantized_sequence(quantized))
  steps = np.array([n.quantized_start_step for n in drums])
  pitches = np.array([n.pitch for n in drums])
  start = (steps.min() // steps_per_bar) * steps_per_bar if steps_per_bar > 0 else steps.min()
  events = [set() for _ in range(steps.max() - start + 1)]
  for s, p in zip(steps - start, pitches):
    events[s].add(int(p))
  return [frozenset(e) for e in events], qpm


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
    self._run = tf.function(self._generate, autograph=False, input_signature=[
        tf.TensorSpec([None], tf.int32),   # primer classes
        tf.TensorSpec([], tf.int32),       # num_outputs
        tf.TensorSpec([], tf.int32),       # steps to generate
        tf.TensorSpec([], tf.float32),     # temperature
        tf.TensorSpec([], tf.int32),       # beam_size
        tf.TensorSpec([], tf.int32),       # branch_factor
        tf.TensorSpec([], tf.int32),       # steps_per_iteration
        tf.TensorSpec([2], tf.int64),      # seed
    ])

  def sample(self, primer_classes, num_outputs, num_generate, temperature=1.0, beam_size=1,
             branch_factor=1, steps_per_iteration=1, seed=0):
    """Returns (classes [num_outputs, num_generate] int, log-likelihoods [num_outputs]).

    Log-likelihoods include the primer's own (as Magenta's beam search does).
    """
    classes, scores = self._run(
        tf.constant(np.asarray(primer_classes, np.int32)), tf.constant(num_outputs, tf.int32),
        tf.constant(num_generate, tf.int32), tf.constant(temperature, tf.float32),
        tf.constant(beam_size, tf.int32), tf.constant(branch_factor, tf.int32),
        tf.constant(steps_per_iteration, tf.int32),
        tf.constant([seed & 0x7FFFFFFFFFFFFFFF, 0x5EED], tf.int64))
    return classes.numpy(), scores.numpy()

  def _inputs(self, classes, positions):
    """Model inputs [N, input_size] for events `classes` at track `positions`."""
    enc = self.encoding
    one_hot = tf.one_hot(classes, enc.num_classes, dtype=tf.float32)
    if not enc.binary_counter_bits:
      return one_hot
    n = tf.cast(positions, tf.int32)[:, None] + 1
    bits = tf.bitwise.bitwise_and(tf.bitwise.right_shift(n, tf.range(enc.binary_counter_bits)[None, :]), 1)
    return tf.concat([one_hot, 2.0 * tf.cast(bits, tf.float32) - 1.0], axis=1)

  def _generate(self, primer, num_outputs, num_generate, temperature, beam_size, branch_factor,
                steps_per_iteration, seed):
    model = self.model
    num_primer = tf.shape(primer)[0]
    # 1. The whole primer in one call from the zero state.
    primer_logits, state = model(self._inputs(primer, tf.range(num_primer))[None], model.zero_state(1))
    primer_logp = tf.nn.log_softmax(primer_logits[0] / temperature)
    primer_ll = tf.reduce_sum(tf.gather(primer_logp[:-1], primer[1:], batch_dims=1))
    # 2. One row per output and beam.
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
      return (tuple(tf.gather(s, parents) for s in state), tf.gather(logits, parents),
              tf.gather(scores, parents), tf.gather(history, parents))

    def body(k, state, logits, scores, history):
      if_select = tf.logical_and(
          width > 1, tf.logical_and(k >= first, tf.math.floormod(k - first, steps_per_iteration) == 0))
      state, logits, scores, history = tf.cond(
          if_select, lambda: reselect(state, logits, scores, history),
          lambda: (state, logits, scores, history))
      scaled = logits / temperature
      chosen = _sample_rows(scaled, tf.stack([seed[0], seed[1] + tf.cast(k, tf.int64)]))
      scores += tf.gather(tf.nn.log_softmax(scaled), chosen, batch_dims=1)
      history = tf.tensor_scatter_nd_update(
          history, tf.stack([row_ids, tf.fill([rows], k)], axis=1), chosen)
      x = self._inputs(chosen, tf.fill([rows], num_primer + k))
      logits, state = model.step(x, state)
      return k + 1, state, logits, scores, history

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
                    beam_size=1, branch_factor=1, steps_per_iteration=1, seed=None, sampler=None):
  """Extends `primer_events` to `num_steps` steps, `num_outputs` times.

  Args:
    model: a DrumsRnnModel.
    config: its DrumsRnnConfig.
    primer_events: list of pitch collections (raw MIDI pitches).
    num_steps: total length including the primer.
    seed: int; None draws one (logged, so a run can be repeated).
  Returns:
    (list of event lists, each num_steps long with the primer's raw pitches
    followed by decoded generated classes; np.ndarray of log-likelihoods).
  """
  check_generation_args(len(primer_events), num_outputs, num_steps, temperature, beam_size,
                        branch_factor, steps_per_iteration)
  if seed is None:
    seed = int.from_bytes(os.urandom(4), 'little')
    logging.info('sampling seed %d (pass --seed=%d to repeat this run)', seed, seed)
  enc = config.encoding
  primer_classes = enc.classes_from_events(primer_events)
  sampler = sampler or BatchedSampler(model, enc)
  start = time.time()
  classes, scores = sampler.sample(primer_classes, num_outputs, num_steps - len(primer_events),
                                   temperature, beam_size, branch_factor, steps_per_iteration, seed)
  elapsed = time.time() - start
  logging.info('generated %d x %d steps in %.2f s (%.0f steps/s)', num_outputs, classes.shape[1], elapsed,
               num_outputs * classes.shape[1] / max(elapsed, 1e-9))
  decode = [enc.class_to_pitches(c) for c in range(enc.num_classes)]
  tracks = [list(map(frozenset, primer_events)) + [decode[c] for c in row] for row in classes]
  return tracks, scores


def check_generation_args(primer_length, num_outputs, num_steps, temperature, beam_size,
                          branch_factor, steps_per_iteration):
  """Clear errors for impossible generation settings."""
  if primer_length < 1:
    raise DrumsRnnError('the primer is empty')
  if num_outputs < 1:
    raise DrumsRnnError(f'--num_outputs must be at least 1, got {num_outputs}')
  if primer_length >= num_steps:
    raise DrumsRnnError(f'the primer is {primer_length} steps long but --num_steps is {num_steps}: '
                        '--num_steps counts the primer and must be larger')
  if not temperature > 0:
    raise DrumsRnnError(f'--temperature must be > 0, got {temperature}')
  for name, value in (('beam_size', beam_size), ('branch_factor', branch_factor),
                      ('steps_per_iteration', steps_per_iteration)):
    if value < 1:
      raise DrumsRnnError(f'--{name} must be at least 1, got {value}')


# --------------------------------------------------------------------------
# NoteSequences and MIDI


def track_to_sequence(events, steps_per_quarter, qpm=DEFAULT_QPM, velocity=DEFAULT_VELOCITY):
  """A drum NoteSequence: each pitch of each step is a one-step note (Magenta's to_sequence)."""
  sequence = music_pb2.NoteSequence()
  sequence.ticks_per_quarter = note_seq.STANDARD_PPQ
  sequence.tempos.add(qpm=qpm)
  seconds_per_step = 60.0 / qpm / steps_per_quarter
  for step, pitches in enumerate(events):
    for pitch in sorted(pitches):
      sequence.notes.add(pitch=pitch, velocity=velocity, instrument=DRUM_INSTRUMENT, is_drum=True,
                         start_time=step * seconds_per_step, end_time=(step + 1) * seconds_per_step)
  if sequence.notes:
    sequence.total_time = max(n.end_time for n in sequence.notes)
  return sequence


def output_names(num_outputs, timestamp=None):
  """Magenta's names: `<YYYY-MM-DD_HHMMSS>_<n>.mid`, n 1-based, zero-padded."""
  stamp = timestamp or time.strftime('%Y-%m-%d_%H%M%S')
  digits = len(str(num_outputs))
  return [f'{stamp}_{str(i + 1).zfill(digits)}.mid' for i in range(num_outputs)]


def write_midi_files(sequences, output_dir, timestamp=None):
  """Writes each sequence atomically; on any error removes what it wrote."""
  files.ensure_dir(output_dir)
  written = []
  try:
    for name, sequence in zip(output_names(len(sequences), timestamp), sequences):
      path = os.path.join(output_dir, name)
      with files.atomic_output(path) as tmp:
        note_seq.sequence_proto_to_midi_file(sequence, tmp)
      written.append(path)
  except BaseException:
    for path in written:
      try:
        os.remove(path)
      except OSError:
        pass
    raise
  return written


# --------------------------------------------------------------------------
# The generate command as a library call


# The shipped default model (used when no model flag is given and it exists).
DEFAULT_BUNDLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'models', 'drum_kit.mag')


def load_generation_model(run_dir=None, checkpoint_file=None, bundle_file=None, config_name=None,
                          hparams='', saving=False):
  """(config, hparams, model) from a run dir, a checkpoint or a bundle.

  Config and hparams come from the run's saved settings or the bundle, not
  from the user; `config_name` only picks the config of a Magenta training
  checkpoint (which stores none), and `hparams` may adjust a Magenta model.
  """
  from drums_rnn import bundle as bundle_lib  # pylint: disable=g-import-not-at-top
  from drums_rnn import run_dir as run_dir_lib  # pylint: disable=g-import-not-at-top
  if bundle_file and (run_dir or checkpoint_file) and not saving:
    raise DrumsRnnError('--bundle_file cannot be combined with --run_dir or --checkpoint_file '
                        '(unless --save_generator_bundle is set)')
  if saving and not (run_dir or checkpoint_file):
    raise DrumsRnnError('--save_generator_bundle needs --run_dir or --checkpoint_file (the model to save)')
  if run_dir and checkpoint_file:
    logging.warning('both --run_dir and --checkpoint_file given: using --run_dir')
  if run_dir:
    if not os.path.isdir(run_dir):
      raise DrumsRnnError(f'--run_dir {run_dir!r} does not exist')
    checkpoint = run_dir_lib.latest_checkpoint(run_dir)
    config, hp, model = run_dir_lib.load_model(checkpoint)
  elif checkpoint_file:
    config, hp, model = bundle_lib.load_checkpoint_model(checkpoint_file, config_name or 'drum_kit', hparams)
  else:
    path = bundle_file
    if not path:
      if not os.path.isfile(DEFAULT_BUNDLE):
        raise DrumsRnnError('no model given: pass --run_dir, --checkpoint_file or --bundle_file')
      path = DEFAULT_BUNDLE
      logging.info('using the shipped model %s', path)
    config, hp, model, _ = bundle_lib.load_bundle(path, hparams)
  if config_name and config_name != config.name and not checkpoint_file:
    logging.warning('--config=%s ignored: the model is a %s model', config_name, config.name)
  if hparams and run_dir:
    logging.warning('--hparams ignored: the run directory\'s saved hparams are used')
  return config, hp, model


def resolve_primer(config, primer_drums='', primer_midi='', qpm=None):
  """(primer events, qpm) following our primer rules (docs/generation.md)."""
  if primer_drums:
    if primer_midi:
      logging.warning('both --primer_drums and --primer_midi given: using --primer_drums')
    return parse_primer_drums(primer_drums), float(qpm or DEFAULT_QPM)
  if primer_midi:
    events, midi_qpm = primer_from_midi(primer_midi, config.steps_per_quarter)
    if qpm and abs(qpm - midi_qpm) > 1e-6:
      logging.warning('--qpm=%g ignored: the primer MIDI\'s tempo %g is used', qpm, midi_qpm)
    return events, float(midi_qpm)
  logging.warning('No priming sequence specified. Defaulting to a single bass drum hit.')
  return [frozenset(p) for p in DEFAULT_PRIMER], float(qpm or DEFAULT_QPM)


def generate_to_midi(config, model, output_dir, num_outputs=10, num_steps=128, primer_drums='',
                     primer_midi='', qpm=None, temperature=1.0, beam_size=1, branch_factor=1,
                     steps_per_iteration=1, seed=None, velocity=DEFAULT_VELOCITY, plot=False):
  """Generates `num_outputs` tracks and writes them as MIDI; returns the paths.

  With `plot`, a drum-grid PNG (primer shaded) is written beside each MIDI
  file under the same name with `.png`.
  """
  if qpm is not None and not qpm > 0:
    raise DrumsRnnError(f'--qpm must be > 0, got {qpm}')
  if not 1 <= velocity <= 127:
    raise DrumsRnnError(f'--velocity must be in 1..127, got {velocity}')
  events, qpm = resolve_primer(config, primer_drums, primer_midi, qpm)
  check_generation_args(len(events), num_outputs, num_steps, temperature, beam_size, branch_factor,
                        steps_per_iteration)
  files.ensure_dir(output_dir)
  tracks, scores = generate_tracks(model, config, events, num_outputs, num_steps, temperature,
                                   beam_size, branch_factor, steps_per_iteration, seed)
  for i, score in enumerate(scores):
    logging.info('output %d: log-likelihood %.4f', i + 1, score)
  sequences = [track_to_sequence(t, config.steps_per_quarter, qpm, velocity) for t in tracks]
  paths = write_midi_files(sequences, output_dir)
  logging.info('Wrote %d MIDI files to %s', len(paths), output_dir)
  if plot:
    write_plots(config, tracks, paths, len(events))
  return paths


def write_plots(config, tracks, midi_paths, primer_steps):
  """Writes `<name>.png` drum grids beside the MIDI files; returns their paths."""
  from drums_rnn import plotting  # pylint: disable=g-import-not-at-top  (matplotlib: only when asked)
  enc = config.encoding
  spq = config.steps_per_quarter
  pngs = []
  for track, midi_path in zip(tracks, midi_paths):
    png = os.path.splitext(midi_path)[0] + '.png'
    plotting.plot_drum_track(enc.classes_from_events(track), png, steps_per_bar=4 * spq,
                             steps_per_beat=spq, primer_steps=primer_steps,
                             title=f'{os.path.basename(midi_path)} ({config.name})',
                             num_drum_types=enc.num_drum_types)
    pngs.append(png)
  logging.info('Wrote %d drum-grid PNGs beside them', len(pngs))
  return pngs
