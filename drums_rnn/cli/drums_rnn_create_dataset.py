"""drums_rnn_create_dataset: NoteSequences -> training/eval SequenceExample TFRecords.

Magenta's flags (`--config`, `--input`, `--output_dir`, `--eval_ratio`,
`--hparams`, `--log`) plus `--seed` (the train/eval split is a hash of the
seed and each NoteSequence id, so reruns agree), `--num_workers` and
`--split_long_tracks`. `--input` may also be a MIDI file or a directory of
MIDI files (converted on the fly, ids as convert_dir_to_note_sequences).

`--config=humanizer` makes the humanizer's dataset instead
(:mod:`drums_rnn.humanizer.data`): `--input` is a MIDI file or folder with
dynamics -- a Groove MIDI Dataset folder is split by its info.csv into
humanizer_train / humanizer_validation / humanizer_test.tfrecord, any other
folder by `--eval_ratio` into train / validation; its windows are the hparams
`window_bars` / `hop_bars`. `--seed`, `--num_workers` and
`--split_long_tracks` are options of the Drums RNN datasets: with a config
that does not use one, giving it is an error.

Both output files are replaced only when the run succeeds: a failed run (no
drum track found, bad input, a full disk, Ctrl-C or SIGTERM) leaves the
previous dataset as it was and no temporary file behind. Exit codes: 0 done,
2 error (one `error:` line), 130 SIGINT, 143 SIGTERM.
"""

from absl import flags

from drums_rnn.cli import common
from drums_rnn.cli import flags as shared_flags

FLAGS = flags.FLAGS

shared_flags.define_config_flags()
shared_flags.define_log_flag()
shared_flags.define_seed_flag(
    'Seed of the train/eval split (default 0): a NoteSequence goes to eval when a hash of '
    '(seed, its id) falls below eval_ratio. Same seed, same split, whatever the input order or '
    'the number of workers.')
flags.DEFINE_string('input', None,
                    'TFRecord of NoteSequence protos (from convert_dir_to_note_sequences); a MIDI '
                    'file or a directory of MIDI files also works.')
flags.DEFINE_string('output_dir', None,
                    'Directory for training_drum_tracks.tfrecord and eval_drum_tracks.tfrecord '
                    '(created if missing).')
flags.DEFINE_float('eval_ratio', 0.1,
                   'Fraction of input NoteSequences to put in the eval set (the rest train).')
flags.DEFINE_integer('num_workers', 0, 'Worker processes (0 = one per CPU core).')
flags.DEFINE_string('style_csv', None, 'drum_kit_control: a CSV of path,style rows giving the style '
                    '(rock, latin, funk, jazz, hiphop, afrobeat, neworleans, afrocuban, other) of files '
                    'or folders (relative paths from the CSV\'s folder); a Groove MIDI Dataset folder '
                    'gives its own through info.csv. Files without one have the style disabled.')
flags.DEFINE_float('control_dropout', 0.5, 'drum_kit_control: the chance that a control (style, fill, '
                   'density) of a track is disabled, so the model learns to play with any subset of '
                   'them (a hash of --seed and the track decides).')
flags.DEFINE_bool('split_long_tracks', False,
                  'Cut drum tracks longer than 512 steps into bar-aligned windows of at most 512 '
                  'steps (each at least 7 bars) instead of truncating them.')


# The flags that are options of a config's own dataset, passed on only when given: a config
# whose dataset does not use one refuses it (kinds.create_dataset).
OPTION_FLAGS = ('seed', 'num_workers', 'split_long_tracks', 'style_csv', 'control_dropout')


def main(argv):
  del argv
  from drums_rnn import kinds  # pylint: disable=g-import-not-at-top  (after process set-up)
  from drums_rnn.errors import DrumsRnnError  # pylint: disable=g-import-not-at-top
  if not FLAGS.input:
    raise DrumsRnnError('--input is required: a TFRecord of NoteSequences, a MIDI file or a '
                        'directory of MIDI files')
  if not FLAGS.output_dir:
    raise DrumsRnnError('--output_dir is required')
  config = shared_flags.config()
  hparams = shared_flags.hparams(config)  # checked, as Magenta does
  options = {name: FLAGS[name].value for name in OPTION_FLAGS if shared_flags.given(name)}
  if options.get('num_workers') == 0:
    options['num_workers'] = None  # 0 = one per core
  summary = kinds.create_dataset(config, FLAGS.input, FLAGS.output_dir, hparams=hparams,
                                 eval_ratio=FLAGS.eval_ratio, **options)
  print('\n'.join(summary.lines()), flush=True)
  return 0


def console_main():
  common.run(main, __name__)


if __name__ == '__main__':
  console_main()
