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
flags.DEFINE_string('groove_dir', None,
                    'Folder of the Groove MIDI Dataset (the one holding info.csv), for --reference_split.')
flags.DEFINE_string('run_dir', None,
                    'Training run directory (newest intact checkpoint in run_dir/train), a checkpoint '
                    'prefix or a folder of Magenta checkpoints: score the MIDI (--midi_dir, else the '
                    'reference set) under this model. --config picks the config of Magenta checkpoints.')
flags.DEFINE_string('bundle_file', None, 'A .mag bundle to score the MIDI with, instead of --run_dir.')
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


def _reference_paths():
  """(paths, label, credit) of the reference set, or (None, None, None)."""
  if FLAGS.reference_dir and FLAGS.reference_split:
    raise DrumsRnnError('give either --reference_dir or --reference_split, not both')
  if FLAGS.reference_split:
    paths = groove.split_files(FLAGS.groove_dir, FLAGS.reference_split)
    return paths, f'groove {FLAGS.reference_split}', groove.CREDIT
  if FLAGS.groove_dir:
    raise DrumsRnnError('--groove_dir needs --reference_split (train, validation or test)')
  if FLAGS.reference_dir:
    paths = midi.list_midi_files(FLAGS.reference_dir)
    return paths, os.path.basename(os.path.normpath(FLAGS.reference_dir)), None
  return None, None, None


def _load_model():
  """The model of --run_dir / --bundle_file (config and --hparams overrides as objects)."""
  if FLAGS.run_dir and FLAGS.bundle_file:
    raise DrumsRnnError('give exactly one of --run_dir and --bundle_file to score with a model')
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel
  config = shared_flags.config() if shared_flags.given('config') else None
  overrides = shared_flags.hparams_overrides()
  return loading.load_model(FLAGS.run_dir or FLAGS.bundle_file, config=config, hparams=overrides)


def main(argv):
  del argv
  common.import_tensorflow()
  from drums_rnn.measure import comparison as evaluation  # pylint: disable=import-outside-toplevel
  from drums_rnn.measure import patterns  # pylint: disable=import-outside-toplevel

  if FLAGS.generator_id or FLAGS.generator_description:
    logging.info('--generator_id/--generator_description only name bundles saved by '
                 'drums_rnn_generate --save_generator_bundle; ignored here')
  use_model = bool(FLAGS.run_dir or FLAGS.bundle_file)
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

  # --midi_dir may be the --shuffled_output_dir this run writes: list it afterwards.
  writes_midi_dir = bool(FLAGS.midi_dir and FLAGS.shuffled_output_dir and os.path.abspath(
      FLAGS.midi_dir) == os.path.abspath(FLAGS.shuffled_output_dir))
  midi_paths = (midi.list_midi_files(FLAGS.midi_dir)
                if FLAGS.midi_dir and not writes_midi_dir else None)
  midi_label = os.path.basename(os.path.normpath(FLAGS.midi_dir)) if FLAGS.midi_dir else None

  ref_patterns = None
  if ref_paths is not None and (FLAGS.midi_dir or FLAGS.shuffled_output_dir):
    ref_patterns = patterns.load_patterns(ref_paths, f'reference ({ref_label})', max_bars=FLAGS.max_bars)

  if FLAGS.shuffled_output_dir:
    shuffled = patterns.shuffle_patterns(ref_patterns, 0 if FLAGS.seed is None else FLAGS.seed)
    patterns.write_patterns_midi(shuffled, FLAGS.shuffled_output_dir, FLAGS.qpm, prefix='shuffled',
                                 credit=credit)
    print(f'wrote {len(shuffled)} shuffled-steps drum tracks to {FLAGS.shuffled_output_dir}')
    if writes_midi_dir:
      midi_paths = midi.list_midi_files(FLAGS.midi_dir)

  comparison = None
  if midi_paths is not None and ref_patterns is not None:
    evaluated = patterns.load_patterns(midi_paths, f'evaluated ({midi_label})', max_bars=FLAGS.max_bars)
    comparison = evaluation.compare_pattern_sets(ref_patterns, evaluated, ref_label, midi_label)

  likelihood = None
  if use_model:
    loaded = _load_model()
    paths, label = (midi_paths, midi_label) if midi_paths is not None else (ref_paths, ref_label)
    tracks = evaluation.extract_model_tracks(paths, loaded.config, label)
    likelihood = evaluation.model_likelihood(loaded.model, loaded.config, tracks, label, FLAGS.batch_size)

  if comparison is not None or likelihood is not None:
    print(evaluation.format_table(comparison, likelihood, credit), end='')
    if FLAGS.output_csv:
      evaluation.write_csv(FLAGS.output_csv, comparison, likelihood, credit)
    if FLAGS.output_json:
      evaluation.write_json(FLAGS.output_json, comparison, likelihood, credit)
  if FLAGS.plot_dir:
    evaluation.write_distance_plots(FLAGS.plot_dir, comparison)
  return 0


def console_main():
  common.run(main, __name__)


if __name__ == '__main__':
  console_main()
