"""convert_dir_to_note_sequences: a directory of MIDI (MusicXML, ABC) files -> one TFRecord.

Magenta's flags (`--input_dir`, `--output_file`, `--recursive`, `--log`) and
naming: each NoteSequence gets collection_name = basename of input_dir,
filename = path relative to input_dir, id =
``/id/<midi|musicxml|abc>/<collection>/<sha1 of filename>``. Each real file
is read once (symbolic links are followed, loops are not); unreadable files
and broken links are skipped with one warning each and counted. The output
replaces an earlier file only when the run succeeds. Exit codes: 0 done,
2 error (one `error:` line), 130 SIGINT, 143 SIGTERM.
"""

from absl import flags

from drums_rnn.cli import common
from drums_rnn.cli import flags as shared_flags

FLAGS = flags.FLAGS

# This command's own flags (Magenta's names); only their shape resembles other
# commands' flag lists. The shared --log comes from cli/flags.
flags.DEFINE_string('input_dir', None,
                    'Directory of MIDI (.mid, .midi), MusicXML (.xml, .mxl) or ABC (.abc) files.')
flags.DEFINE_string('output_file', None,
                    'TFRecord file to write the NoteSequences to (overwritten; parent '
                    'directories are created).')
flags.DEFINE_bool('recursive', False, 'Also convert files in sub-directories of input_dir.')
shared_flags.define_log_flag()


def main(argv):
  del argv
  from drums_rnn.data import note_sequences  # pylint: disable=g-import-not-at-top  (after set-up)
  from drums_rnn.errors import DrumsRnnError  # pylint: disable=g-import-not-at-top
  if not FLAGS.input_dir:
    raise DrumsRnnError('--input_dir is required')
  if not FLAGS.output_file:
    raise DrumsRnnError('--output_file is required')
  converted, skipped, unknown = note_sequences.convert_directory(
      FLAGS.input_dir, FLAGS.output_file, FLAGS.recursive)
  print(f'Converted {converted} NoteSequences to {FLAGS.output_file}; skipped {skipped} '
        f'unreadable files and {unknown} files of other types.', flush=True)
  return 0


def console_main():
  common.run(main, __name__)


if __name__ == '__main__':
  console_main()
