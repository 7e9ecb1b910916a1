"""convert_dir_to_note_sequences: a directory of MIDI (MusicXML, ABC) files -> one TFRecord.

Magenta's flags (`--input_dir`, `--output_file`, `--recursive`, `--log`) and
naming: each NoteSequence gets collection_name = basename of input_dir,
filename = path relative to input_dir, id =
``/id/<midi|musicxml|abc>/<collection>/<sha1 of filename>``. Unreadable files
are skipped with one warning each and counted; the file is written under a
temporary name and renamed at the end.
"""


from absl import flags

from drums_rnn.cli import common

FLAGS = flags.FLAGS

flags.DEFINE_string('input_dir', None,
                    'Directory of MIDI (.mid, .midi), MusicXML (.xml, .mxl) or ABC (.abc) files.')
flags.DEFINE_string('output_file', None,
                    'TFRecord file to write the NoteSequences to (overwritten; parent '
                    'directories are created).')
flags.DEFINE_bool('recursive', False, 'Also convert files in sub-directories of input_dir.')
flags.DEFINE_string('log', 'INFO', 'Log level: DEBUG, INFO, WARN, ERROR or FATAL.')


def main(argv):
  del argv
  common.set_log_level(FLAGS.log)
  from drums_rnn import dataset  # pylint: disable=g-import-not-at-top
  from drums_rnn.errors import DrumsRnnError  # pylint: disable=g-import-not-at-top
  if not FLAGS.input_dir:
    raise DrumsRnnError('--input_dir is required')
  if not FLAGS.output_file:
    raise DrumsRnnError('--output_file is required')
  converted, skipped, unknown = dataset.convert_directory(FLAGS.input_dir, FLAGS.output_file,
                                                          FLAGS.recursive)
  line = (f'Converted {converted} NoteSequences to {FLAGS.output_file}; skipped {skipped} '
          f'unreadable files and {unknown} files of other types.')
  print(line, flush=True)
  return 0


def console_main():
  common.run(main)


if __name__ == '__main__':
  console_main()
