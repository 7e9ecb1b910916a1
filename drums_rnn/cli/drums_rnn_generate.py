"""drums_rnn_generate: write new drum tracks as MIDI, or save a model as a `.mag` bundle.

Magenta's flags and defaults. The model comes from `--run_dir` (the newest
intact checkpoint in run_dir/train), `--checkpoint_file` (ours, or a Magenta
training checkpoint) or `--bundle_file` (ours or Magenta's), else the shipped
model; its config and hparams come with it. All outputs are sampled together
in one compiled loop. Output files never replace existing ones.

Examples:
  drums_rnn_generate --config=drum_kit --run_dir=/tmp/drums_rnn/logdir/run1 \\
    --output_dir=/tmp/drums_rnn/generated --num_outputs=10 --num_steps=128 --primer_drums="[(36,)]"
  drums_rnn_generate --bundle_file=drum_kit.mag --output_dir=/tmp/drums_rnn/generated
  drums_rnn_generate --run_dir=/tmp/drums_rnn/logdir/run1 --save_generator_bundle \\
    --bundle_file=/tmp/drum_kit.mag --bundle_description="trained on my grooves"
  drums_rnn_generate --humanize --plot --output_dir=/tmp/drums_rnn/generated
  drums_rnn_generate --primer_midi=groove.mid --regenerate_voices=closed_hihat,open_hihat,ride \\
    --num_outputs=4 --output_dir=/tmp/drums_rnn/new_hats

  drums_rnn_generate --bundle_file=drum_kit_control.mag --style=funk --fill_every=4 --density=3 \\
    --num_steps=128 --output_dir=/tmp/drums_rnn/funk

--humanize, --regenerate_voices and the controls (--style, --fill_bars,
--fill_every, --density; a drum_kit_control model only) are ours, not
Magenta's; without them the outputs are Magenta-compatible as before.
"""

from absl import flags
from absl import logging

from drums_rnn import controls as controls_lib
from drums_rnn.cli import common
from drums_rnn.cli import flags as shared_flags
from drums_rnn.errors import DrumsRnnError

FLAGS = flags.FLAGS

shared_flags.define_config_flags()
shared_flags.define_log_flag()
shared_flags.define_seed_flag('Random seed; output n is the same for a seed whatever --num_outputs.')
shared_flags.define_model_flags('model to generate with (ours or Magenta\'s)')
flags.DEFINE_boolean('save_generator_bundle', False, 'Save the model of --run_dir/--checkpoint_file as '
                     '--bundle_file (the .mag to write) instead of generating.')
flags.DEFINE_string('bundle_description', None, 'Description stored in the saved bundle.')
flags.DEFINE_string('output_dir', '/tmp/drums_rnn/generated', 'Where the MIDI files are written.')
flags.DEFINE_integer('num_outputs', 10, 'Number of drum tracks to generate.')
flags.DEFINE_integer('num_steps', 128, 'Total length of each track in steps, primer included.')
flags.DEFINE_string('primer_drums', '', 'Primer as a Python list of tuples of MIDI pitches, e.g. '
                    '"[(36, 42), (), (42,)]" (one tuple per step, () = silent step).')
flags.DEFINE_string('primer_midi', '', 'Primer MIDI file (its drum notes; its tempo wins over --qpm). '
                    'Not together with --primer_drums.')
flags.DEFINE_float('qpm', None, 'Tempo in quarter notes per minute (default 120, or the primer MIDI\'s).')
flags.DEFINE_float('temperature', 1.0, 'Sampling temperature: > 1 more random, < 1 more conservative.')
flags.DEFINE_integer('beam_size', 1, 'Beam search: sequences kept per output.')
flags.DEFINE_integer('branch_factor', 1, 'Beam search: branches per kept sequence at each iteration.')
flags.DEFINE_integer('steps_per_iteration', 1, 'Beam search: steps sampled per iteration.')
flags.DEFINE_integer('velocity', 100, 'MIDI velocity of the written notes.')
flags.DEFINE_list('regenerate_voices', [], 'Voices to write anew over the others of the primer, e.g. '
                  'closed_hihat,open_hihat,ride (of bass_drum, snare, closed_hihat, open_hihat, low_tom, '
                  'mid_tom, high_tom, crash, ride). The primer (--primer_midi or --primer_drums) is then the '
                  'whole track: its other voices are kept, its first step whole; outputs are as long as it.')
flags.DEFINE_boolean('humanize', False, 'Humanize the outputs with the shipped humanizer (or '
                     '--humanizer_file): every hit gets a velocity and a timing offset. The level is '
                     '--velocity when given, else a typical one.')
flags.DEFINE_string('humanizer_file', None, 'With --humanize: a humanizer .mag, run dir or checkpoint '
                    'instead of the shipped one.')
flags.DEFINE_list('style', None, 'drum_kit_control: the style to play, one of rock, latin, funk, '
                  'jazz, hiphop, afrobeat, neworleans, afrocuban, other (every bar), or one per bar '
                  '(comma-separated). Not given: the style control is disabled.')
flags.DEFINE_list('fill_bars', [], 'drum_kit_control: 1-based bars that are fills, e.g. 4,8 (the '
                  'other bars are then asked not to be fills).')
flags.DEFINE_integer('fill_every', 0, 'drum_kit_control: every n-th bar is a fill (4: bars 4, 8, ...).')
flags.DEFINE_list('density', None, 'drum_kit_control: how busy each bar is, a bin 0 (sparse) to 4 '
                  '(busy) for every bar, or one per bar (comma-separated).')
flags.DEFINE_float('control_strength', controls_lib.DEFAULT_STRENGTH, 'drum_kit_control: how '
                   'firmly the asked controls are played: 1 = the model as trained, higher = clearer '
                   'style, fills and density (classifier-free guidance: each step is computed with '
                   'and without the controls), 0 = ignore them.')
flags.DEFINE_boolean('plot', False, 'Also write a drum-grid PNG beside each MIDI file (primer shaded).')


def model_source():
  """The path of the model the flags name (None: the shipped model); flag rules checked."""
  saving = FLAGS.save_generator_bundle
  if saving and not FLAGS.bundle_file:
    raise DrumsRnnError('--save_generator_bundle needs --bundle_file (the .mag to write)')
  if saving and not (FLAGS.run_dir or FLAGS.checkpoint_file):
    raise DrumsRnnError('--save_generator_bundle needs --run_dir or --checkpoint_file (the model to save)')
  if FLAGS.bundle_file and (FLAGS.run_dir or FLAGS.checkpoint_file) and not saving:
    raise DrumsRnnError('--bundle_file cannot be combined with --run_dir or --checkpoint_file '
                        '(unless --save_generator_bundle is set)')
  if FLAGS.run_dir and FLAGS.checkpoint_file:
    logging.warning('both --run_dir and --checkpoint_file given: using --run_dir')
  if saving:
    return FLAGS.run_dir or FLAGS.checkpoint_file
  return FLAGS.run_dir or FLAGS.checkpoint_file or FLAGS.bundle_file


def _controls(config, num_steps):
  """The per-step controls the control flags ask for (None when none is given)."""
  style = FLAGS.style
  if style is not None:
    style = style[0] if len(style) == 1 else style
  density = FLAGS.density
  try:
    fill_bars = [int(b) for b in FLAGS.fill_bars]
    if density is not None:
      density = int(density[0]) if len(density) == 1 else [int(d) for d in density]
  except ValueError:
    raise DrumsRnnError('--fill_bars and --density take whole numbers (comma-separated)') from None
  return controls_lib.requested(config.encoding.controls, num_steps, 4 * config.steps_per_quarter, style,
                            fill_bars, FLAGS.fill_every, density)


def main(argv):
  del argv
  source = model_source()
  config = shared_flags.config() if shared_flags.given('config') else None
  overrides = shared_flags.hparams_overrides()
  common.import_tensorflow()
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel  (heavy: TF)
  loaded = loading.load_model(source, config=config, hparams=overrides)
  if FLAGS.save_generator_bundle:
    loading.save_bundle(FLAGS.bundle_file, loaded.config, loaded.hparams, loaded.model,
                       FLAGS.bundle_description, generator_id=FLAGS.generator_id,
                       generator_description=FLAGS.generator_description)
    return 0
  from drums_rnn.language_model import generation  # pylint: disable=import-outside-toplevel
  from drums_rnn.language_model import primers  # pylint: disable=import-outside-toplevel
  voices = FLAGS.regenerate_voices
  if voices:
    generation.voice_mask(voices)  # unknown names fail before anything is read
    if not (FLAGS.primer_midi or FLAGS.primer_drums):
      raise DrumsRnnError('--regenerate_voices needs the track to keep: give --primer_midi or --primer_drums')
  events, qpm = primers.resolve_primer(loaded.config, FLAGS.primer_drums, FLAGS.primer_midi, FLAGS.qpm)
  if voices and FLAGS['num_steps'].present and FLAGS.num_steps != len(events):
    logging.warning('--num_steps=%d ignored: regenerated tracks are as long as the primer (%d steps)',
                    FLAGS.num_steps, len(events))
  humanizer = None
  if FLAGS.humanize:
    humanizer = loading.load_humanizer(FLAGS.humanizer_file)
  elif FLAGS.humanizer_file:
    raise DrumsRnnError('--humanizer_file needs --humanize')
  controls = _controls(loaded.config, len(events) if voices else FLAGS.num_steps)
  if FLAGS['control_strength'].present:
    if loaded.config.encoding.controls is None:
      raise DrumsRnnError(f'--control_strength needs a model with controls (a drum_kit_control model); this '
                          f'{loaded.config.name} model has none')
    if controls is None:
      logging.warning('--control_strength changes nothing without a control to play: give --style, '
                      '--fill_bars, --fill_every or --density')
  generation.generate_to_midi(
      loaded.config, loaded.model, FLAGS.output_dir, events, num_outputs=FLAGS.num_outputs,
      num_steps=FLAGS.num_steps, qpm=qpm, temperature=FLAGS.temperature, beam_size=FLAGS.beam_size,
      branch_factor=FLAGS.branch_factor, steps_per_iteration=FLAGS.steps_per_iteration, seed=FLAGS.seed,
      velocity=FLAGS.velocity, plot=FLAGS.plot, voices=voices, humanizer=humanizer,
      humanize_level=FLAGS.velocity if FLAGS['velocity'].present else None, controls=controls,
      control_strength=FLAGS.control_strength)
  return 0


def console_main():
  common.run(main, __name__)


if __name__ == '__main__':
  console_main()
