"""drums_rnn_generate: write new drum tracks as MIDI, or save a model as a `.mag` bundle.

Magenta's flags and defaults. The model comes from `--run_dir` (latest
checkpoint in run_dir/train), `--checkpoint_file` (ours, or a Magenta
training checkpoint) or `--bundle_file` (ours or Magenta's); its config and
hparams come with it. All outputs are sampled together in one compiled loop.

Examples:
  drums_rnn_generate --config=drum_kit --run_dir=/tmp/drums_rnn/logdir/run1 \\
    --output_dir=/tmp/drums_rnn/generated --num_outputs=10 --num_steps=128 --primer_drums="[(36,)]"
  drums_rnn_generate --bundle_file=drum_kit.mag --output_dir=/tmp/drums_rnn/generated
  drums_rnn_generate --run_dir=/tmp/drums_rnn/logdir/run1 --save_generator_bundle \\
    --bundle_file=/tmp/drum_kit.mag --bundle_description="trained on my grooves"
"""

from absl import flags

from drums_rnn.cli import common
from drums_rnn.errors import DrumsRnnError

FLAGS = flags.FLAGS

flags.DEFINE_string('config', 'drum_kit', 'Config of a Magenta training checkpoint (one_drum or drum_kit); '
                    'run dirs and bundles carry their own.')
flags.DEFINE_string('hparams', '', 'Comma-separated name=value hparams adjusting a Magenta checkpoint or '
                    'bundle (e.g. "attn_length=16"); run dirs and our bundles carry their own.')
flags.DEFINE_string('run_dir', None, 'Training run directory; the latest checkpoint in run_dir/train is used.')
flags.DEFINE_string('checkpoint_file', None, 'Checkpoint to use (ours, or a Magenta model.ckpt-N).')
flags.DEFINE_string('bundle_file', None, 'A .mag generator bundle to generate from, or to write with '
                    '--save_generator_bundle.')
flags.DEFINE_boolean('save_generator_bundle', False, 'Save the model of --run_dir/--checkpoint_file as '
                     '--bundle_file instead of generating.')
flags.DEFINE_string('bundle_description', None, 'Description stored in the saved bundle.')
flags.DEFINE_string('generator_id', None, 'With --save_generator_bundle: the bundle\'s generator id '
                    'instead of the config name (Magenta then cannot load it; drums_rnn can).')
flags.DEFINE_string('generator_description', None, 'With --save_generator_bundle: the bundle\'s '
                    'generator description instead of the config\'s.')
flags.DEFINE_string('output_dir', '/tmp/drums_rnn/generated', 'Where the MIDI files are written.')
flags.DEFINE_integer('num_outputs', 10, 'Number of drum tracks to generate.')
flags.DEFINE_integer('num_steps', 128, 'Total length of each track in steps, primer included.')
flags.DEFINE_string('primer_drums', '', 'Primer as a Python list of tuples of MIDI pitches, e.g. '
                    '"[(36, 42), (), (42,)]" (one tuple per step, () = silent step).')
flags.DEFINE_string('primer_midi', '', 'Primer MIDI file (its drum notes; its tempo wins over --qpm).')
flags.DEFINE_float('qpm', None, 'Tempo in quarter notes per minute (default 120, or the primer MIDI\'s).')
flags.DEFINE_float('temperature', 1.0, 'Sampling temperature: > 1 more random, < 1 more conservative.')
flags.DEFINE_integer('beam_size', 1, 'Beam search: sequences kept per output.')
flags.DEFINE_integer('branch_factor', 1, 'Beam search: branches per kept sequence at each iteration.')
flags.DEFINE_integer('steps_per_iteration', 1, 'Beam search: steps sampled per iteration.')
flags.DEFINE_string('log', 'INFO', 'Logging level: DEBUG, INFO, WARN, ERROR or FATAL.')
flags.DEFINE_integer('seed', None, 'Random seed; output n is the same for a seed whatever --num_outputs.')
flags.DEFINE_integer('velocity', 100, 'MIDI velocity of the written notes.')
flags.DEFINE_boolean('plot', False, 'Also write a drum-grid PNG beside each MIDI file (primer shaded).')


def main(argv):
  if len(argv) > 1:
    raise DrumsRnnError(f'unexpected arguments: {" ".join(argv[1:])}')
  common.set_log_level(FLAGS.log)
  if FLAGS.save_generator_bundle and not FLAGS.bundle_file:
    raise DrumsRnnError('--save_generator_bundle needs --bundle_file (the .mag to write)')
  if not FLAGS.save_generator_bundle and FLAGS.temperature <= 0:
    raise DrumsRnnError(f'--temperature must be > 0, got {FLAGS.temperature}')
  common.import_tensorflow()
  from drums_rnn import bundle  # pylint: disable=g-import-not-at-top  (heavy: TF)
  from drums_rnn import generation  # pylint: disable=g-import-not-at-top

  config, hparams, model = generation.load_generation_model(
      run_dir=FLAGS.run_dir, checkpoint_file=FLAGS.checkpoint_file,
      bundle_file=None if FLAGS.save_generator_bundle else FLAGS.bundle_file,
      config_name=FLAGS.config if FLAGS['config'].present else None, hparams=FLAGS.hparams,
      saving=FLAGS.save_generator_bundle)
  if FLAGS.save_generator_bundle:
    bundle.save_bundle(FLAGS.bundle_file, config, hparams, model, FLAGS.bundle_description,
                       generator_id=FLAGS.generator_id,
                       generator_description=FLAGS.generator_description)
    return 0
  generation.generate_to_midi(
      config, model, FLAGS.output_dir, num_outputs=FLAGS.num_outputs, num_steps=FLAGS.num_steps,
      primer_drums=FLAGS.primer_drums, primer_midi=FLAGS.primer_midi, qpm=FLAGS.qpm,
      temperature=FLAGS.temperature, beam_size=FLAGS.beam_size, branch_factor=FLAGS.branch_factor,
      steps_per_iteration=FLAGS.steps_per_iteration, seed=FLAGS.seed, velocity=FLAGS.velocity,
      plot=FLAGS.plot)
  return 0


def console_main():
  common.run(main)


if __name__ == '__main__':
  console_main()
