"""drums_rnn_train: train a Drums RNN on SequenceExamples, or evaluate it (--eval).

Magenta's flags and defaults. Training writes checkpoints, summaries and the
run's settings to `<run_dir>/train` and resumes from the latest checkpoint
there; `--num_training_steps` is an absolute step. With `--eval` the command
waits for each new checkpoint in `<run_dir>/train`, evaluates it on the whole
`--sequence_example_file` (dropout off) and writes summaries to
`<run_dir>/eval`, stopping after `--eval_timeout_secs` without a new one.

Example:
  drums_rnn_train --config=drum_kit --run_dir=/tmp/drums_rnn/logdir/run1 \\
    --sequence_example_file=/tmp/drums_rnn/sequence_examples/training_drum_tracks.tfrecord \\
    --hparams="batch_size=64,rnn_layer_sizes=[64,64]" --num_training_steps=20000
"""

from absl import flags
from absl import logging

from drums_rnn.cli import common
from drums_rnn.errors import DrumsRnnError

FLAGS = flags.FLAGS

flags.DEFINE_string('config', 'drum_kit', 'Which config to use: one_drum or drum_kit.')
flags.DEFINE_string('hparams', '', 'Comma-separated name=value hyperparameters, e.g. '
                    '"batch_size=64,rnn_layer_sizes=[64,64]".')
flags.DEFINE_string('run_dir', '/tmp/drums_rnn/logdir/run1',
                    'Run directory: checkpoints and summaries in run_dir/train, eval summaries in '
                    'run_dir/eval.')
flags.DEFINE_string('sequence_example_file', '',
                    'Path (glob) of the TFRecord SequenceExample files to train or evaluate on.')
flags.DEFINE_integer('num_training_steps', 0,
                     'Global step to stop training at (absolute; 0 = train until stopped).')
flags.DEFINE_integer('num_eval_examples', 0,
                     'Number of examples to evaluate on (0 = the whole eval file).')
flags.DEFINE_integer('summary_frequency', 10, 'Steps between summaries and progress lines.')
flags.DEFINE_integer('num_checkpoints', 10, 'Number of recent checkpoints to keep (0 = all).')
flags.DEFINE_boolean('eval', False, 'Evaluate checkpoints from run_dir/train instead of training.')
flags.DEFINE_string('log', 'INFO', 'Logging level: DEBUG, INFO, WARN, ERROR or FATAL.')
flags.DEFINE_integer('seed', None, 'Random seed for initialisation, dropout and shuffling.')
flags.DEFINE_integer('eval_timeout_secs', 300,
                     'With --eval: stop after this many seconds without a new checkpoint.')
flags.DEFINE_integer('eval_interval_secs', 60,
                     'With --eval: minimum seconds between two evaluations.')
flags.DEFINE_string('generator_id', None, 'Accepted for Magenta compatibility; it only names saved '
                    'bundles (drums_rnn_generate --save_generator_bundle --generator_id).')
flags.DEFINE_string('generator_description', None, 'Accepted for Magenta compatibility; see '
                    '--generator_id.')
flags.DEFINE_boolean('bucket_by_length', True,
                     'Batch tracks of similar length together so less padding is computed '
                     '(--nobucket_by_length pads random batches to their longest track, like Magenta).')


def main(argv):
  if len(argv) > 1:
    raise DrumsRnnError(f'unexpected arguments: {" ".join(argv[1:])}')
  common.set_log_level(FLAGS.log)
  common.import_tensorflow()
  from drums_rnn import training  # heavy import after flag checks
  if FLAGS.generator_id or FLAGS.generator_description:
    logging.info('--generator_id/--generator_description do not affect training; pass them to '
                 'drums_rnn_generate --save_generator_bundle to name a bundle.')

  if FLAGS.eval:
    training.evaluate_repeatedly(
        FLAGS.run_dir, FLAGS.sequence_example_file, config_name=FLAGS.config,
        hparams=FLAGS.hparams, num_eval_examples=FLAGS.num_eval_examples,
        timeout_secs=FLAGS.eval_timeout_secs, interval_secs=FLAGS.eval_interval_secs)
  else:
    if FLAGS.num_training_steps < 0:
      raise DrumsRnnError('--num_training_steps must be >= 0')
    training.train(
        FLAGS.run_dir, FLAGS.sequence_example_file, config_name=FLAGS.config,
        hparams=FLAGS.hparams, num_training_steps=FLAGS.num_training_steps,
        summary_frequency=FLAGS.summary_frequency, num_checkpoints=FLAGS.num_checkpoints,
        seed=FLAGS.seed, bucket_by_length=FLAGS.bucket_by_length)
  return 0


def console_main():
  common.run(main)


if __name__ == '__main__':
  console_main()
