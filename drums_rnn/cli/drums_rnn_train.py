"""drums_rnn_train: train a model of any config on its SequenceExamples, or evaluate it (--eval).

Magenta's flags and defaults. Training writes checkpoints, summaries and the
run's settings to `<run_dir>/train` and resumes from the newest intact
checkpoint there; `--num_training_steps` is an absolute step. With
`--validation_file`, the model is scored on it every `--validate_every`
steps (dropout off), the best checkpoint is kept in `<run_dir>/train/best`
and `--patience` validations without improvement stop the run.

With `--eval` the command waits for each new checkpoint in `<run_dir>/train`
(the run directory must exist), evaluates it on the whole
`--sequence_example_file` (dropout off) and writes summaries to
`<run_dir>/eval`, logging a line now and then while it waits; it stops after
`--eval_timeout_secs` without a new checkpoint, and fails if it evaluated
none.

Only one trainer may write a run directory: a second one refuses at once,
naming the pid of the first. The eval job may run beside it.

Several machines: when TF_CONFIG (TensorFlow's standard variable) names a
cluster, every task runs this same command, only TF_CONFIG's "task"
differing, and they train together under MultiWorkerMirroredStrategy
(`batch_size` stays the global batch). Only the chief writes the run
directory; a task that dies or stops answering stops the others within
about 10 s with one `error:` line (exit 2); the same command on every task
resumes from the chief's latest checkpoint (README: "Training on several
machines"). `--eval` ignores TF_CONFIG.

Exit codes: 0 when training reached its end (`--num_training_steps`,
`--patience` or `--max_hours`); 2 with one `error:` line for bad flags or
data, a damaged dataset (the file and record are named), checkpoints that
cannot be restored or saved (e.g. a full disk: the last good checkpoint stays
listed); 130 after Ctrl-C (SIGINT) and 143 after SIGTERM: training saves a
checkpoint first and says where, and the same command resumes from it. A
second signal stops at once.

Example:
  drums_rnn_train --config=drum_kit --run_dir=/tmp/drums_rnn/logdir/run1 \\
    --sequence_example_file=/tmp/drums_rnn/sequence_examples/training_drum_tracks.tfrecord \\
    --hparams="batch_size=64,rnn_layer_sizes=[64,64]" --num_training_steps=20000
"""

from absl import flags
from absl import logging

from drums_rnn.cli import common
from drums_rnn.cli import flags as shared_flags
from drums_rnn.errors import DrumsRnnError

FLAGS = flags.FLAGS

shared_flags.define_config_flags()
shared_flags.define_log_flag()
shared_flags.define_seed_flag('Random seed for initialisation, dropout and shuffling.')
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
flags.DEFINE_integer('eval_timeout_secs', 300,
                     'With --eval: stop after this many seconds without a new checkpoint.')
flags.DEFINE_integer('eval_interval_secs', 60,
                     'With --eval: minimum seconds between two evaluations.')
flags.DEFINE_boolean('bucket_by_length', True,
                     'Batch tracks of similar length together so less padding is computed '
                     '(--nobucket_by_length pads random batches to their longest track, like Magenta).')
flags.DEFINE_boolean('balance_tokens', False,
                     'With --bucket_by_length: batch more of the shorter tracks (512 of one '
                     'length band, 64 of the longest), so every batch holds about the same '
                     'number of steps and short tracks do not get as many updates as long ones.')
flags.DEFINE_string('validation_file', '', 'Path (glob) of SequenceExample files to validate on '
                    'while training (dropout off); the best checkpoint is kept in run_dir/train/best.')
flags.DEFINE_integer('validate_every', 200, 'With --validation_file: steps between validations.')
flags.DEFINE_integer('patience', 0, 'With --validation_file: stop after this many validations '
                     'without a lower loss (0 = never stop early).')
flags.DEFINE_float('max_hours', 0.0, 'Stop training after this many hours (0 = no limit).')


def main(argv):
  del argv
  config = shared_flags.config()
  overrides = shared_flags.hparams_overrides()
  common.import_tensorflow()
  if FLAGS.generator_id or FLAGS.generator_description:
    logging.info('--generator_id/--generator_description do not affect training; pass them to '
                 'drums_rnn_generate --save_generator_bundle to name a bundle.')
  from drums_rnn import kinds  # pylint: disable=import-outside-toplevel
  task = kinds.task_for(config)
  if FLAGS.eval:
    from drums_rnn.training import eval_job  # pylint: disable=import-outside-toplevel  (heavy: TF)
    results = eval_job.evaluate_repeatedly(
        task, FLAGS.run_dir, FLAGS.sequence_example_file, overrides,
        num_eval_examples=FLAGS.num_eval_examples, timeout_secs=FLAGS.eval_timeout_secs,
        interval_secs=FLAGS.eval_interval_secs)
    if not results:
      raise DrumsRnnError(f'nothing was evaluated: no intact checkpoint appeared in '
                          f'{FLAGS.run_dir}/train within --eval_timeout_secs='
                          f'{FLAGS.eval_timeout_secs}')
    return 0
  from drums_rnn.training import loop  # pylint: disable=import-outside-toplevel  (heavy: TF)
  result = loop.train(
      task, FLAGS.run_dir, FLAGS.sequence_example_file, overrides,
      num_training_steps=FLAGS.num_training_steps, summary_frequency=FLAGS.summary_frequency,
      num_checkpoints=FLAGS.num_checkpoints, seed=FLAGS.seed,
      bucket_by_length=FLAGS.bucket_by_length, balance_tokens=FLAGS.balance_tokens,
      validation_file=FLAGS.validation_file or None,
      validate_every=FLAGS.validate_every, patience=FLAGS.patience, max_hours=FLAGS.max_hours)
  if result.stopped_by:  # a checkpoint was saved: 130 after SIGINT, 143 after SIGTERM
    code, line = result.signal_exit()
    common.fail(line, code)
  return 0


def console_main():
  common.run(main, __name__)


if __name__ == '__main__':
  console_main()
