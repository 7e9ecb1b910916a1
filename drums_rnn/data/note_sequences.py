"""Music files to NoteSequences, named as Magenta's convert_dir_to_note_sequences names them.

Contract:

* :func:`convert_file` turns one MIDI, MusicXML or ABC file into NoteSequences
  with Magenta's naming: collection_name = basename of the input folder,
  filename = path relative to it, id = :func:`note_sequence_id` (ABC tunes:
  one sequence per tune, ``<filename>_<tune number>`` hashed);
* :func:`convert_directory` writes a folder's music files into one TFRecord
  (the convert_dir_to_note_sequences command) through the safe writer;
* :func:`inputs` lists the work of a dataset run for a TFRecord of
  NoteSequences, a single music file or a folder, checking up front all that
  can be checked cheaply; :func:`sequences_of` does one item's work (it runs
  in the dataset's worker processes); :func:`read_note_sequences` yields
  the NoteSequences of any such input.

Folders are walked with :func:`drums_rnn.files.walk_files` (Magenta's order,
each real file once, symlink loops safe). Every problem is one
:class:`~drums_rnn.errors.DrumsRnnError` naming the file: a file that cannot
be read or parsed, a broken symbolic link, a record that is not a
NoteSequence. In a folder such files are skipped with one warning each.
"""

import hashlib
import os
from typing import Iterator, List, Tuple

from absl import logging
from google.protobuf import message as protobuf_message
from google.protobuf import unknown_fields
from note_seq import midi_io
from note_seq.protobuf import music_pb2

from drums_rnn import files
from drums_rnn import midi
from drums_rnn.data import tfrecord
from drums_rnn.errors import ArgumentError
from drums_rnn.errors import DrumsRnnError

MIDI_EXTENSIONS = midi.MIDI_EXTENSIONS
MUSICXML_EXTENSIONS = ('.xml', '.mxl')
ABC_EXTENSIONS = ('.abc',)
MUSIC_EXTENSIONS = MIDI_EXTENSIONS + MUSICXML_EXTENSIONS + ABC_EXTENSIONS


def parse_note_sequence(data: bytes, where: str):
  """Parses one record as a NoteSequence, refusing other protos with a clear error."""
  hint = ('expected NoteSequence records (made by convert_dir_to_note_sequences); '
          'SequenceExample files made by drums_rnn_create_dataset are outputs, not inputs')
  try:
    sequence = music_pb2.NoteSequence.FromString(data)
  except protobuf_message.DecodeError:
    raise DrumsRnnError(f'{where} is not a NoteSequence: {hint}') from None
  if len(unknown_fields.UnknownFieldSet(sequence)) or (
      not sequence.notes and not sequence.tempos and not sequence.time_signatures and
      not sequence.ticks_per_quarter and not sequence.id and
      not sequence.filename.isprintable()):
    raise DrumsRnnError(f'{where} does not look like a NoteSequence: {hint}')
  return sequence


def note_sequence_id(filename, collection_name, source_type):
  """Magenta's id: ``/id/<type>/<collection>/<sha1 of the relative filename>``."""
  digest = hashlib.sha1(filename.encode('utf-8')).hexdigest()
  return f'/id/{source_type.lower()}/{collection_name}/{digest}'


def list_music_files(input_dir, recursive=False) -> List[Tuple[str, str, bool]]:
  """(full path, path relative to input_dir, convertible) of the files, in Magenta's order.

  The files of a folder first, then (when `recursive`) its sub-folders,
  sorted by name, each real file once (files.walk_files). `convertible` is
  False for files of other types; broken symbolic links count as
  convertible, whatever their name, so that convert_file reports them as such.
  """
  return [(full, rel, full.lower().endswith(MUSIC_EXTENSIONS) or not os.path.exists(full))
          for full, rel in files.walk_files(input_dir, recursive)]


def convert_file(input_dir, full_path, rel_path) -> List:
  """NoteSequences of one music file, named like convert_dir_to_note_sequences.

  collection_name = basename of input_dir, filename = path relative to it,
  id = note_sequence_id(...). MIDI via note-seq's midi_io, MusicXML via its
  musicxml_reader, ABC via its abc_parser (one sequence per tune).

  Raises:
    DrumsRnnError: the file cannot be read or parsed, or is a broken link.
  """
  if not os.path.exists(full_path) and os.path.islink(full_path):
    raise DrumsRnnError(f'cannot read {full_path!r}: broken symbolic link (its target '
                        f'{os.readlink(full_path)!r} does not exist)')
  collection = os.path.basename(os.path.normpath(input_dir))
  lower = full_path.lower()
  try:
    if lower.endswith(MIDI_EXTENSIONS):
      with open(full_path, 'rb') as f:
        sequence = midi_io.midi_to_note_sequence(f.read())
      kinds = [('midi', rel_path, sequence)]
    elif lower.endswith(MUSICXML_EXTENSIONS):
      from note_seq import musicxml_reader  # pylint: disable=g-import-not-at-top
      sequence = musicxml_reader.musicxml_file_to_sequence_proto(full_path)
      kinds = [('musicxml', rel_path, sequence)]
    elif lower.endswith(ABC_EXTENSIONS):
      from note_seq import abc_parser  # pylint: disable=g-import-not-at-top
      with open(full_path, 'rb') as f:
        tunes, errors = abc_parser.parse_abc_tunebook(f.read())
      for e in errors:
        logging.warning('could not parse a tune in %s: %s', full_path, e)
      kinds = [('abc', f'{rel_path}_{index}', tune) for index, tune in sorted(tunes.items())]
    else:
      raise DrumsRnnError(f'{full_path!r}: no converter for this file type')
  except DrumsRnnError:
    raise
  except OSError as e:
    raise files.read_error(full_path, e) from None
  except Exception as e:  # pylint: disable=broad-except
    # note-seq's MIDI reader wraps whatever happens in a bare `except:`, so a
    # Ctrl-C or SIGTERM (errors.Terminated) arriving meanwhile comes back as
    # MIDIConversionError: let the signal through instead of skipping a file.
    if e.__context__ is not None and not isinstance(e.__context__, Exception):
      raise e.__context__ from None
    # note-seq raises MIDIConversionError, MusicXMLParseError, ABCParseError,
    # but pretty_midi/mido raise plain exceptions on garbage input.
    raise DrumsRnnError(f'cannot read {full_path!r}: {type(e).__name__}: {e}') from None
  sequences = []
  for source_type, id_name, sequence in kinds:
    sequence.collection_name = collection
    sequence.filename = rel_path
    sequence.id = note_sequence_id(id_name, collection, source_type)
    sequences.append(sequence)
  return sequences


def convert_directory(input_dir, output_file, recursive=False):
  """convert_dir_to_note_sequences: writes input_dir's music files as NoteSequences.

  Unreadable files and broken links are skipped with one warning each; files
  of other types get Magenta's "Unable to find a converter" warning. The
  output appears only when the run succeeds (tfrecord.open_writer).

  Returns:
    (sequences written, files skipped as unreadable, files of other types).
  Raises:
    DrumsRnnError: bad folder, unwritable output, or nothing converted.
  """
  input_dir = os.path.expanduser(input_dir)
  if not os.path.isdir(input_dir):
    raise DrumsRnnError(f'input folder {input_dir!r} is not a directory')
  converted = skipped = unknown = 0
  with tfrecord.open_writer(os.path.expanduser(output_file)) as writer:
    for full, rel, convertible in list_music_files(input_dir, recursive=recursive):
      if not convertible:
        logging.warning('Unable to find a converter for file %s', full)
        unknown += 1
        continue
      try:
        sequences = convert_file(input_dir, full, rel)
      except DrumsRnnError as e:
        logging.warning('skipped: %s', e)
        skipped += 1
        continue
      for sequence in sequences:
        writer.write(sequence.SerializeToString())
        converted += 1
      logging.debug('Converted %s.', full)
    if converted == 0:
      raise ArgumentError(
          f'no file converted under {input_dir!r} ({skipped} unreadable, {unknown} of other '
          'types' + ('' if recursive else '; use {recursive} to include sub-directories') + ')',
          'recursive')
  return converted, skipped, unknown


# --- the inputs of a dataset run ----------------------------------------------------
# An item is ('file', input_dir, full path, relative path) or
# ('record', data, stored CRC, record number, TFRecord path): small and
# picklable, so the parent lists them and the workers do the work.


def inputs(path) -> Tuple[int, Iterator[tuple]]:
  """(number of items, iterator of items) for a TFRecord, a music file or a folder.

  Everything that can be checked before the real work is checked here, so bad
  input fails fast with one clear error.
  """
  path = os.path.expanduser(path)
  if os.path.isdir(path):
    music_files = [(full, rel) for full, rel, convertible in list_music_files(path, True)
                   if convertible]
    if not music_files:
      raise DrumsRnnError(f'no MIDI, MusicXML or ABC files found under {path!r}')
    return len(music_files), (('file', path, full, rel) for full, rel in music_files)
  if path.lower().endswith(MUSIC_EXTENSIONS) and os.path.lexists(path):
    sequences = convert_file(os.path.dirname(os.path.abspath(path)), path, os.path.basename(path))
    return len(sequences), (('sequence', s) for s in sequences)
  total = tfrecord.scan(path)
  parse_note_sequence(tfrecord.first_record(path), f'record 0 of {path!r}')
  # Payload CRCs are checked by sequences_of (in the workers).
  return total, (('record', data, crc, i, path)
                 for i, (data, crc) in enumerate(tfrecord.iter_records(path, check_data=False)))


def sequences_of(item) -> List:
  """The NoteSequences of one item of :func:`inputs`.

  Raises:
    DrumsRnnError: the file cannot be converted, or the record is corrupt or
      not a NoteSequence.
  """
  kind = item[0]
  if kind == 'file':
    return convert_file(*item[1:])
  if kind == 'sequence':
    return [item[1]]
  _, data, crc, index, path = item
  tfrecord.check_file_record(path, data, crc, index)
  return [parse_note_sequence(data, f'record {index} of {path!r}')]


def read_note_sequences(path) -> Iterator:
  """Yields the NoteSequences of a TFRecord file, a music file or a folder of them.

  Raises:
    DrumsRnnError: missing, empty or corrupt file, records that are not
      NoteSequences, a single music file that cannot be read. In a folder,
      unreadable files are skipped with a warning.
  """
  _, items = inputs(path)
  for item in items:
    try:
      yield from sequences_of(item)
    except DrumsRnnError as e:
      if item[0] != 'file':
        raise
      logging.warning('skipped: %s', e)
