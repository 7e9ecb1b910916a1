"""drums_rnn_humanize: give the hits of any drum MIDI a velocity and a human timing offset.

Every note keeps its pitch, its length and its place in the 16th grid; it
gets a velocity and moves by an offset drawn from the humanizer's
distributions (the shipped humanizer, trained on the Groove MIDI Dataset,
unless --bundle_file / --run_dir / --checkpoint_file names another). Notes
outside the nine drum types pass through unchanged and are counted. Output
files keep the input's names and never replace a file.

With --evaluate, measures the humanizer on the Groove MIDI Dataset's test
split instead (each real performance is quantized, its velocities flattened,
then humanized and compared with the real one) against the flat and
lookup-table baselines, and prints the table.

Examples:
  drums_rnn_humanize --input=groove.mid --output_dir=/tmp/humanized --seed=1
  drums_rnn_humanize --input=$HOME/midi --output_dir=/tmp/humanized --strength=0.7 --plot
  drums_rnn_humanize --evaluate --groove_dir=../shared/data/groove --output_json=/tmp/h.json
"""

import os

from absl import flags
from absl import logging

from drums_rnn.cli import common
from drums_rnn.cli import flags as shared_flags
from drums_rnn.errors import DrumsRnnError

FLAGS = flags.FLAGS

shared_flags.define_log_flag()
shared_flags.define_seed_flag('Random seed; the same seed humanizes the same files identically.')
flags.DEFINE_string('input', None, 'A drum MIDI file or a folder of them (searched recursively).')
flags.DEFINE_string('output_dir', '/tmp/drums_rnn/humanized', 'Where the humanized MIDI files go.')
shared_flags.define_model_flags('humanizer')
flags.DEFINE_float('temperature', 1.0, 'Sampling temperature: < 1 closer to the most likely values.')
flags.DEFINE_float('strength', 1.0, 'How far to go, 0..1: 0 keeps the timing and gives every hit the '
                   'mean velocity; 1 uses the sampled velocities and offsets as they are.')
flags.DEFINE_enum('mode', 'sample', ['sample', 'most_likely', 'median'],
                  'sample: draw from the distributions; most_likely / median: their mode / median.')
flags.DEFINE_boolean('plot', False, 'Also write a PNG beside each file: hits shaded by velocity, '
                     'shifted by their offsets.')
flags.DEFINE_boolean('evaluate', False, 'Evaluate on the Groove test split instead of humanizing.')
flags.DEFINE_string('groove_dir', os.environ.get('DRUMS_RNN_GROOVE_DIR', '../shared/data/groove'),
                    'With --evaluate: the Groove MIDI Dataset folder (the one holding info.csv).')
flags.DEFINE_integer('max_files', 0, 'With --evaluate: only the first N test files (0 = all).')
flags.DEFINE_string('output_json', None, 'With --evaluate: also write the figures as JSON.')


def _seed():
  if FLAGS.seed is not None:
    return FLAGS.seed
  seed = int.from_bytes(os.urandom(4), 'little')
  logging.info('humanizing seed %d (pass --seed=%d to repeat this run)', seed, seed)
  return seed


def main(argv):
  del argv
  source = shared_flags.model_source()
  if not FLAGS.evaluate and not FLAGS.input:
    raise DrumsRnnError('--input is required: a drum MIDI file or a folder of them')
  if not FLAGS.temperature > 0:
    raise DrumsRnnError(f'--temperature must be > 0, got {FLAGS.temperature}')
  if not 0 <= FLAGS.strength <= 1:
    raise DrumsRnnError(f'--strength must be in [0, 1], got {FLAGS.strength}')
  common.import_tensorflow()
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel  (heavy: TF)
  from drums_rnn.humanizer import humanize  # pylint: disable=import-outside-toplevel
  humanizer = loading.load_humanizer(source)
  if FLAGS.evaluate:
    from drums_rnn import files  # pylint: disable=import-outside-toplevel
    from drums_rnn.humanizer import evaluation as humanizer_evaluation  # pylint: disable=import-outside-toplevel
    result = humanizer_evaluation.evaluate(humanizer, FLAGS.groove_dir, seed=FLAGS.seed or 0,
                                           max_files=FLAGS.max_files)
    print(result.table_markdown(), flush=True)
    if FLAGS.output_json:
      files.write_text_atomic(FLAGS.output_json, result.to_json())
    return 0
  paths = humanize.humanize_files(humanizer, FLAGS.input, FLAGS.output_dir, seed=_seed(),
                                  temperature=FLAGS.temperature, strength=FLAGS.strength,
                                  mode=FLAGS.mode)
  if FLAGS.plot:
    humanize.write_plots(paths)
  for path in paths:
    print(path)
  return 0


def console_main():
  common.run(main, __name__)


if __name__ == '__main__':
  console_main()
