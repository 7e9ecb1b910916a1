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
import sys
import time

from absl import flags
from absl import logging

from drums_rnn.cli import common
from drums_rnn.errors import DrumsRnnError

FLAGS = flags.FLAGS

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
                    'Training run directory (latest checkpoint in run_dir/train) or a checkpoint '
                    'prefix: score the MIDI (--midi_dir, else the reference set) under this model.')
flags.DEFINE_string('bundle_file', None, 'A .mag bundle to score the MIDI with, instead of --run_dir.')
flags.DEFINE_string('config', None,
                    'Config (drum_kit or one_drum) of a Magenta checkpoint given as --run_dir; our run '
                    'directories and bundles record their own. Default drum_kit.')
flags.DEFINE_string('hparams', '',
                    'Comma-separated name=value pairs adjusting the hparams of a bundle or of a '
                    'Magenta checkpoint (e.g. its rnn_layer_sizes).')
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
flags.DEFINE_integer('seed', 0, 'Random seed of the shuffled-steps baseline.')
flags.DEFINE_float('qpm', 120.0, 'Tempo of the shuffled-steps MIDI files.')
flags.DEFINE_integer('batch_size', 32, 'Drum tracks scored per model batch.')
flags.DEFINE_string('log', 'INFO',
                    'The threshold for what messages will be logged: DEBUG, INFO, WARN, ERROR, or FATAL.')


def _reference_paths(evaluation):
  """(paths, label, credit) of the reference set, or (None, None, None)."""
  if FLAGS.reference_dir and FLAGS.reference_split:
    raise DrumsRnnError('give either --reference_dir or --reference_split, not both')
  if FLAGS.reference_split:
    paths = evaluation.groove_split_files(FLAGS.groove_dir, FLAGS.reference_split)
    return paths, f'groove {FLAGS.reference_split}', evaluation.GROOVE_CREDIT
  if FLAGS.groove_dir:
    raise DrumsRnnError('--groove_dir needs --reference_split (train, validation or test)')
  if FLAGS.reference_dir:
    paths = evaluation.list_midi_files(FLAGS.reference_dir)
    return paths, os.path.basename(os.path.normpath(FLAGS.reference_dir)), None
  return None, None, None


def main(argv):
  if len(argv) > 1:
    raise DrumsRnnError(f'unexpected arguments: {" ".join(argv[1:])}')
  common.set_log_level(FLAGS.log)
  common.import_tensorflow()
  from drums_rnn import evaluation  # pylint: disable=import-outside-toplevel

  use_model = bool(FLAGS.run_dir or FLAGS.bundle_file)
  ref_paths, ref_label, credit = _reference_paths(evaluation)
  if not (FLAGS.midi_dir or ref_paths):
    raise DrumsRnnError('nothing to evaluate: give --midi_dir and/or a reference set '
                        '(--reference_dir, or --reference_split with --groove_dir)')
  if FLAGS.shuffled_output_dir and ref_paths is None:
    raise DrumsRnnError('--shuffled_output_dir shuffles the reference set: give --reference_dir or '
                        '--reference_split')
  if not (use_model or FLAGS.shuffled_output_dir or (FLAGS.midi_dir and ref_paths)):
    raise DrumsRnnError('nothing to do: compare --midi_dir with a reference set, score MIDI with '
                        '--run_dir/--bundle_file, or write --shuffled_output_dir')
  if FLAGS.batch_size <= 0:
    raise DrumsRnnError(f'--batch_size must be positive, got {FLAGS.batch_size}')

  # --midi_dir may be the --shuffled_output_dir this run writes: list it afterwards.
  writes_midi_dir = bool(FLAGS.midi_dir and FLAGS.shuffled_output_dir and os.path.abspath(
      FLAGS.midi_dir) == os.path.abspath(FLAGS.shuffled_output_dir))
  midi_paths = (evaluation.list_midi_files(FLAGS.midi_dir)
                if FLAGS.midi_dir and not writes_midi_dir else None)
  midi_label = os.path.basename(os.path.normpath(FLAGS.midi_dir)) if FLAGS.midi_dir else None

  ref_patterns = None
  if ref_paths is not None and (FLAGS.midi_dir or FLAGS.shuffled_output_dir):
    ref_patterns = evaluation.load_patterns(ref_paths, f'reference ({ref_label})',
                                            max_bars=FLAGS.max_bars)

  if FLAGS.shuffled_output_dir:
    shuffled = evaluation.shuffle_patterns(ref_patterns, FLAGS.seed)
    evaluation.write_patterns_midi(shuffled, FLAGS.shuffled_output_dir, FLAGS.qpm, prefix='shuffled',
                                   credit=credit)
    print(f'wrote {len(shuffled)} shuffled-steps drum tracks to {FLAGS.shuffled_output_dir}')
    if writes_midi_dir:
      midi_paths = evaluation.list_midi_files(FLAGS.midi_dir)

  comparison = None
  if midi_paths is not None and ref_patterns is not None:
    patterns = evaluation.load_patterns(midi_paths, f'evaluated ({midi_label})',
                                        max_bars=FLAGS.max_bars)
    comparison = evaluation.compare_pattern_sets(ref_patterns, patterns, ref_label, midi_label)

  likelihood = None
  if use_model:
    config, _, model = evaluation.load_model(FLAGS.run_dir, FLAGS.bundle_file, FLAGS.hparams,
                                             FLAGS.config)
    paths, label = (midi_paths, midi_label) if midi_paths is not None else (ref_paths, ref_label)
    tracks = evaluation.extract_model_tracks(paths, config, label)
    start = time.time()
    likelihood = evaluation.model_likelihood(model, config, tracks, label, FLAGS.batch_size)
    elapsed = time.time() - start
    logging.info('scored %d steps of %d tracks in %.1f s (%.0f steps/s)', likelihood.num_steps,
                 likelihood.num_tracks, elapsed, likelihood.num_steps / max(elapsed, 1e-9))

  if comparison is not None or likelihood is not None:
    print(evaluation.format_table(comparison, likelihood, credit), end='')
  if FLAGS.output_csv and (comparison is not None or likelihood is not None):
    evaluation.write_csv(FLAGS.output_csv, comparison, likelihood, credit)
  if FLAGS.output_json and (comparison is not None or likelihood is not None):
    evaluation.write_json(FLAGS.output_json, comparison, likelihood, credit)
  if FLAGS.plot_dir:
    if comparison is None:
      raise DrumsRnnError('--plot_dir draws the set comparison: give --midi_dir and a reference set')
    evaluation.write_distance_plots(FLAGS.plot_dir, comparison)
  return 0


def _show_help_for_this_module():
  """Makes `--help` print this docstring and these flags under a console script.

  absl's help shows the docstring of `__main__` and the flags of the module
  named by sys.argv[0]; for a console script both are the generated wrapper.
  """
  main_module = sys.modules.get('__main__')
  if main_module is not None and not main_module.__doc__:
    main_module.__doc__ = __doc__
  for flag in FLAGS.get_flags_for_module(__name__):
    FLAGS.register_key_flag_for_module(sys.argv[0], flag)


def console_main():
  _show_help_for_this_module()
  common.run(main)


if __name__ == '__main__':
  console_main()
