"""convert_dir_to_note_sequences: a directory of MIDI (MusicXML, ABC) files -> one TFRecord.

Magenta's flags (`--input_dir`, `--output_file`, `--recursive`, `--log`) and
naming: each NoteSequence gets collection_name = basename of input_dir,
filename = path relative to input_dir, id =
``/id/<midi|musicxml|abc>/<collection>/<sha1 of filename>``. Unreadable files
are skipped with one warning each and counted; the file is written under a
temporary name and renamed at the end.
"""

import os

from absl import flags
from absl import logging

from drums_rnn.cli import common

FLAGS = flags.FLAGS

flags.DEFINE_string('input_dir', None,
                    'Directory of MIDI (.mid, .midi), MusicXML (.xml, .mxl) or ABC (.abc) files.')
flags.DEFINE_string('output_file', None,
                    'TFRecord file to write the NoteSequences to (overwritten; parent '
                    'directories are created).')
flags.DEFINE_bool('recursive', False, 'Also convert files in sub-directories of input_dir.')
flags.DEFINE_string('log', 'INFO', 'Log level: DEBUG, INFO, WARN, ERROR or FATAL.')


def convert_directory(input_dir, output_file, recursive=False):
  """Writes the NoteSequences of input_dir's music files to output_file.

  Returns:
    (converted sequences, files skipped, files without a converter).
  Raises:
    DrumsRnnError: bad directory, unwritable output, or nothing converted.
  """
  from drums_rnn import dataset  # pylint: disable=g-import-not-at-top
  from drums_rnn import io_utils  # pylint: disable=g-import-not-at-top
  from drums_rnn.errors import DrumsRnnError  # pylint: disable=g-import-not-at-top
  input_dir = os.path.expanduser(input_dir)
  if not os.path.isdir(input_dir):
    raise DrumsRnnError(f'--input_dir {input_dir!r} is not a directory')
  files = dataset.list_music_files(input_dir, recursive=recursive)
  converted = skipped = unknown = 0
  with io_utils.atomic_output(os.path.expanduser(output_file)) as tmp:
    with dataset.TFRecordWriter(tmp) as writer:
      for full, rel, no_converter in files:
        if no_converter:
          logging.warning('Unable to find a converter for file %s', full)
          unknown += 1
          continue
        try:
          sequences = dataset.convert_file(input_dir, full, rel)
        except DrumsRnnError as e:
          logging.warning('skipped: %s', e)
          skipped += 1
          continue
        for sequence in sequences:
          writer.write(sequence.SerializeToString())
          converted += 1
        logging.debug('Converted %s.', full)
    if converted == 0:
      raise DrumsRnnError(
          f'no file converted under {input_dir!r} ({skipped} unreadable, {unknown} of other '
          'types' + ('' if recursive else '; use --recursive to include sub-directories') + ')')
  return converted, skipped, unknown


def main(argv):
  del argv
  common.set_log_level(FLAGS.log)
  from drums_rnn.errors import DrumsRnnError  # pylint: disable=g-import-not-at-top
  if not FLAGS.input_dir:
    raise DrumsRnnError('--input_dir is required')
  if not FLAGS.output_file:
    raise DrumsRnnError('--output_file is required')
  converted, skipped, unknown = convert_directory(FLAGS.input_dir, FLAGS.output_file,
                                                  FLAGS.recursive)
  line = (f'Converted {converted} NoteSequences to {FLAGS.output_file}; skipped {skipped} '
          f'unreadable files and {unknown} files of other types.')
  logging.info('%s', line)
  print(line, flush=True)
  return 0


def console_main():
  common.run(main)


if __name__ == '__main__':
  console_main()
