r"""drums_rnn_evaluate: objective metrics of drum tracks, and model likelihood.

Compare a folder of drum MIDI (e.g. generated) with a reference set (e.g. the
Groove MIDI Dataset's test split):

  drums_rnn_evaluate --midi_dir=/tmp/drums_rnn/generated \
      --groove_dir=/data/groove --reference_split=test \
      --output_csv=/tmp/eval.csv --output_json=/tmp/eval.json --plot_dir=/tmp/eval_plots

prints, per feature (drum densities, class histogram, syncopation, symmetry,
repetition, empty steps), each set's mean +- std and the overlap area / KL
divergence of their distance distributions (Yang & Lerch 2020).

Score MIDI under a trained model (mean log-likelihood per step, perplexity):

  drums_rnn_evaluate --run_dir=/tmp/drums_rnn/logdir/run1 --midi_dir=/tmp/some_midi

Measure whether a drum_kit_control model follows its controls (style, fills,
density) on the Groove test split, beside the same model with them disabled:

  drums_rnn_evaluate --controls --bundle_file=drum_kit_control.mag --groove_dir=/data/groove \
      --output_json=/tmp/controls.json

Write a shuffled-steps baseline of the reference set (a trivial generator)
and, with --midi_dir naming the same folder, compare it with the reference:

  drums_rnn_evaluate --groove_dir=/data/groove --reference_split=test \
      --shuffled_output_dir=/tmp/shuffled --midi_dir=/tmp/shuffled
"""

import os

from absl import flags
from absl import logging

from drums_rnn.data import groove
from drums_rnn import midi
from drums_rnn import controls as controls_lib
from drums_rnn.cli import common
from drums_rnn.cli import flags as shared_flags
from drums_rnn.errors import DrumsRnnError

FLAGS = flags.FLAGS

shared_flags.define_config_flags()
shared_flags.define_log_flag()
shared_flags.define_seed_flag('Random seed of the shuffled-steps baseline (default 0).')
flags.DEFINE_string('midi_dir', None,
                    'Folder of MIDI files to evaluate (searched recursively), e.g. generated drum '
                    'tracks. Compared with the reference set, and/or scored with the model.')
flags.DEFINE_string('reference_dir', None,
                    'Folder of reference MIDI files (real drumming) that --midi_dir is compared with.')
flags.DEFINE_string('reference_split', None,
                    'Use this split (train, validation or test) of the Groove MIDI Dataset in '
                    '--groove_dir as the reference set instead of --reference_dir.')
flags.DEFINE_enum('reference_beat_type', None, ['beat', 'fill'],
                  'With --reference_split: only the Groove files of this beat_type (beat: the '
                  'performances; fill: the short fill snippets, where toms live).')
flags.DEFINE_string('groove_dir', None,
                    'Folder of the Groove MIDI Dataset (the one holding info.csv), for --reference_split.')
shared_flags.define_model_flags('model to score the MIDI with (--config picks the config of Magenta '
                                'checkpoints)', shipped_default=False)
flags.DEFINE_string('output_csv', None, 'Write the results table to this CSV file.')
flags.DEFINE_string('output_json', None, 'Write the results to this JSON file.')
flags.DEFINE_string('plot_dir', None,
                    'Write one PNG per feature of the intra-/inter-set distance distributions here.')
flags.DEFINE_string('shuffled_output_dir', None,
                    'Write a shuffled-steps copy of every reference drum track (a trivial baseline '
                    'generator) as MIDI to this folder.')
flags.DEFINE_integer('max_bars', 0,
                     'Compare only the first max_bars bars of every drum track of both sets (0 = '
                     'whole tracks), e.g. 8 to compare 128-step generated outputs with Groove '
                     'performances on equal lengths.')
flags.DEFINE_float('qpm', 120.0, 'Tempo of the shuffled-steps MIDI files.')
flags.DEFINE_integer('batch_size', 32, 'Drum tracks scored per model batch.')
flags.DEFINE_boolean('controls', False, 'Measure how well a drum_kit_control model (a model flag) '
                     'follows its controls -- style, fills, density -- against the test split of '
                     '--groove_dir, beside the same model with its controls disabled (and its test '
                     'perplexity beside the shipped drum_kit model\'s on the same windows).')
flags.DEFINE_integer('num_outputs', 32, 'With --controls: grooves generated per request.')
flags.DEFINE_float('temperature', 1.0, 'With --controls: sampling temperature.')
flags.DEFINE_float('control_strength', controls_lib.DEFAULT_STRENGTH, 'With --controls: how firmly '
                   'the asked controls are played, as drums_rnn_generate --control_strength (1 = the '
                   'model as trained).')


def _reference_paths():
  """(paths, label, credit) of the reference set, or (None, None, None)."""
  if FLAGS.reference_dir and FLAGS.reference_split:
    raise DrumsRnnError('give either --reference_dir or --reference_split, not both')
  if FLAGS.reference_split:
    paths = groove.split_files(FLAGS.groove_dir, FLAGS.reference_split, FLAGS.reference_beat_type)
    kind = f' {FLAGS.reference_beat_type}s' if FLAGS.reference_beat_type else ''
    return paths, f'groove {FLAGS.reference_split}{kind}', groove.CREDIT
  if FLAGS.reference_beat_type:
    raise DrumsRnnError('--reference_beat_type picks files of --reference_split')
  if FLAGS.groove_dir:
    raise DrumsRnnError('--groove_dir needs --reference_split (train, validation or test)')
  if FLAGS.reference_dir:
    paths = midi.list_midi_files(FLAGS.reference_dir)
    return paths, os.path.basename(os.path.normpath(FLAGS.reference_dir)), None
  return None, None, None


def _load_model():
  """The model the model flags name (config and --hparams overrides as objects), or None."""
  named = [name for name in shared_flags.MODEL_FLAGS if FLAGS[name].value]
  if not named:
    return None
  if len(named) > 1:
    raise DrumsRnnError(f'give exactly one of --{", --".join(named)} to score with a model')
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel
  config = shared_flags.config() if shared_flags.given('config') else None
  return loading.load_model(FLAGS[named[0]].value, config=config,
                            hparams=shared_flags.hparams_overrides())


def main(argv):
  del argv
  common.import_tensorflow()
  from drums_rnn.measure import report  # pylint: disable=import-outside-toplevel

  if FLAGS.generator_id or FLAGS.generator_description:
    logging.info('--generator_id/--generator_description only name bundles saved by '
                 'drums_rnn_generate --save_generator_bundle; ignored here')
  use_model = any(FLAGS[name].value for name in shared_flags.MODEL_FLAGS)
  if FLAGS.controls:
    return _evaluate_controls()
  ref_paths, ref_label, credit = _reference_paths()
  if not (FLAGS.midi_dir or ref_paths):
    raise DrumsRnnError('nothing to evaluate: give --midi_dir and/or a reference set '
                        '(--reference_dir, or --reference_split with --groove_dir)')
  if FLAGS.shuffled_output_dir and ref_paths is None:
    raise DrumsRnnError('--shuffled_output_dir shuffles the reference set: give --reference_dir or '
                        '--reference_split')
  if not (use_model or FLAGS.shuffled_output_dir or (FLAGS.midi_dir and ref_paths)):
    raise DrumsRnnError('nothing to do: compare --midi_dir with a reference set, score MIDI with '
                        '--run_dir/--bundle_file, or write --shuffled_output_dir')
  if FLAGS.plot_dir and not (FLAGS.midi_dir and ref_paths):
    raise DrumsRnnError('--plot_dir draws the set comparison: give --midi_dir and a reference set')
  report.evaluate(
      FLAGS.midi_dir, ref_paths, ref_label, credit, loaded=_load_model(), max_bars=FLAGS.max_bars,
      shuffled_output_dir=FLAGS.shuffled_output_dir, seed=0 if FLAGS.seed is None else FLAGS.seed,
      qpm=FLAGS.qpm, batch_size=FLAGS.batch_size, output_csv=FLAGS.output_csv,
      output_json=FLAGS.output_json, plot_dir=FLAGS.plot_dir)
  return 0


def _evaluate_controls():
  """drums_rnn_evaluate --controls: the control figures as tables (and --output_json)."""
  if not FLAGS.groove_dir:
    raise DrumsRnnError('--controls measures against the Groove MIDI Dataset: give --groove_dir')
  loaded = _load_model()
  if loaded is None:
    raise DrumsRnnError('--controls needs the drum_kit_control model to measure: give --bundle_file, '
                        '--run_dir or --checkpoint_file')
  from drums_rnn.language_model import control_evaluation  # pylint: disable=import-outside-toplevel
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel
  report = control_evaluation.evaluate_controls(
      loaded, FLAGS.groove_dir, FLAGS.num_outputs, 0 if FLAGS.seed is None else FLAGS.seed,
      FLAGS.temperature, FLAGS.output_json, reference=loading.load_model(None),
      control_strength=FLAGS.control_strength)
  print(control_evaluation.format_report(report), end='')
  print(f'\nData: {report["credit"]}')
  return 0


def console_main():
  common.run(main, __name__)


if __name__ == '__main__':
  console_main()
