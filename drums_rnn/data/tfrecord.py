"""TFRecord files without TensorFlow: framing, the masked CRC-32C, reading and writing.

A TFRecord file is a sequence of records, each::

    uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)

(little-endian; mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8). Importing
TensorFlow only to frame records costs seconds per command, more than
creating a whole Groove dataset, so the dataset tools frame and check records
here; the bytes are the same as TensorFlow's writer makes.

Contract:

* :func:`frame` / :func:`read_records` are the format (no file names, no
  user-facing errors: :class:`CorruptRecordError` carries the record number);
* :func:`scan`, :func:`first_record` and :func:`iter_records` read a file and
  turn every problem into one :class:`~drums_rnn.errors.DrumsRnnError` naming
  the file and the record;
* :func:`open_writers` / :func:`open_writer` write files through the safe
  writer (:mod:`drums_rnn.files`): records go to hidden temporary files that
  are flushed, fsync'ed and closed (a full disk is reported, never lost) and
  only renamed into place when the block ends without error -- all of them
  together, so a failed run leaves every previous file exactly as it was.

CRC-32C (Castagnoli) comes from google-crc32c, Google's C implementation
(hardware instructions where the CPU has them): about 40x faster than the
numpy version this module used to carry, and one piece of hand-made code less.
"""

import contextlib
import os
import struct
from typing import BinaryIO, Iterator, List

import google_crc32c

from drums_rnn import files
from drums_rnn.errors import DrumsRnnError

_MASK_DELTA = 0xA282EAD8


def crc32c(data) -> int:
  """CRC-32C (Castagnoli) of `data` (bytes-like), by the google-crc32c C library."""
  return google_crc32c.value(bytes(data) if not isinstance(data, bytes) else data)


def masked_crc32c(data) -> int:
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
  """One TFRecord record (header, data, footer) holding `data`."""
  header = struct.pack('<Q', len(data))
  return b''.join([header, struct.pack('<I', masked_crc32c(header)), data,
                   struct.pack('<I', masked_crc32c(data))])


class CorruptRecordError(Exception):
  """A record whose framing or CRC is wrong; `index` is the record number."""

  def __init__(self, index, what):
    super().__init__(f'record {index}: {what}')
    self.index, self.what = index, what


def read_records(f: BinaryIO, check_data=True) -> Iterator:
  """Yields the payloads of the TFRecord stream `f`, checking every CRC.

  With check_data=False it yields (payload, stored masked CRC) pairs and
  leaves the payload check to the caller (e.g. to a worker process, with
  :func:`check_record`); framing is always checked.
  """
  index = 0
  while True:
    header = f.read(12)
    if not header:
      return
    if len(header) < 12:
      raise CorruptRecordError(index, 'header cut short (truncated file)')
    length, length_crc = struct.unpack('<QI', header)
    if masked_crc32c(header[:8]) != length_crc:
      raise CorruptRecordError(index, 'bad length checksum (not a TFRecord file, or corrupt)')
    data = f.read(length)
    footer = f.read(4)
    if len(data) < length or len(footer) < 4:
      raise CorruptRecordError(index, 'runs past the end of the file (truncated file)')
    data_crc = struct.unpack('<I', footer)[0]
    if check_data:
      check_record(data, data_crc, index)
      yield data
    else:
      yield data, data_crc
    index += 1


def check_record(data, data_crc, index=0):
  """Raises CorruptRecordError unless `data` has the stored masked CRC."""
  if masked_crc32c(data) != data_crc:
    raise CorruptRecordError(index, 'bad data checksum (corrupt)')


# --- reading files -----------------------------------------------------------------


def scan(path) -> int:
  """Counts the records of a TFRecord file by their headers, checking the framing.

  Reads only the 12-byte record headers (length + its CRC), so it is fast;
  the payload CRCs are checked when the records are read.

  Raises:
    DrumsRnnError: missing, empty, truncated or not a TFRecord file.
  """
  if not os.path.exists(path):
    what = 'is a broken symbolic link' if os.path.islink(path) else 'does not exist'
    raise DrumsRnnError(f'input {path!r} {what}')
  try:
    size = os.path.getsize(path)
    f = open(path, 'rb')  # pylint: disable=consider-using-with
  except OSError as e:
    raise files.read_error(path, e) from None
  if size == 0:
    f.close()
    raise DrumsRnnError(f'input {path!r} is empty: expected a TFRecord file of NoteSequences '
                        '(see convert_dir_to_note_sequences)')
  count, position = 0, 0
  with f:
    while position < size:
      header = f.read(12)
      if len(header) < 12:
        raise DrumsRnnError(f'input {path!r} is truncated or corrupt (record {count} header '
                            f'cut short at byte {position})')
      length, crc = struct.unpack('<QI', header)
      if masked_crc32c(header[:8]) != crc:
        what = 'is not a TFRecord file' if count == 0 else f'is corrupt at record {count}'
        raise DrumsRnnError(f'input {path!r} {what} (bad record header at byte {position})')
      position += 12 + length + 4
      if position > size:
        raise DrumsRnnError(f'input {path!r} is truncated (record {count} runs past the end '
                            'of the file)')
      f.seek(position)
      count += 1
  return count


def first_record(path) -> bytes:
  """The payload of the first record, CRC checked (call :func:`scan` first)."""
  for record in iter_records(path):
    return record
  raise DrumsRnnError(f'input {path!r} holds no record')


def iter_records(path, check_data=True) -> Iterator:
  """Yields the records of a TFRecord file, checking every CRC.

  check_data=False yields (record, stored CRC) pairs for the caller to check
  with :func:`check_file_record` (e.g. in a worker process); the framing is
  still checked here.

  Raises:
    DrumsRnnError: naming the file and the record number.
  """
  try:
    with open(path, 'rb') as f:
      yield from read_records(f, check_data=check_data)
  except CorruptRecordError as e:
    raise corrupt_error(path, e) from None
  except OSError as e:
    raise files.read_error(path, e) from None


def check_file_record(path, data, data_crc, index):
  """:func:`check_record` for record `index` of file `path`, as a DrumsRnnError."""
  try:
    check_record(data, data_crc, index)
  except CorruptRecordError as e:
    raise corrupt_error(path, e) from None


def corrupt_error(path, error: CorruptRecordError) -> DrumsRnnError:
  return DrumsRnnError(f'input {path!r} is corrupt at record {error.index}: {error.what}')


# --- writing files -----------------------------------------------------------------


class RecordWriter:
  """Appends records to one open temporary file; `path` is the name errors give."""

  def __init__(self, file, path):
    self._file, self.path, self.count = file, path, 0

  def write(self, record: bytes):
    """Frames and writes one record."""
    self.write_framed(frame(record))

  def write_framed(self, framed: bytes):
    """Writes a record already framed by :func:`frame` (e.g. in a worker process)."""
    try:
      self._file.write(framed)
    except OSError as e:
      raise files.write_error(self.path, e) from None
    self.count += 1

  def _finish(self):
    """Flushes, fsyncs and closes, so that a full disk is reported here."""
    try:
      try:
        self._file.flush()
        os.fsync(self._file.fileno())
      finally:
        self._file.close()
    except OSError as e:
      raise files.write_error(self.path, e) from None


def _close_quietly(f):
  with contextlib.suppress(OSError):  # the run failed already: keep its own error
    f.close()


@contextlib.contextmanager
def open_writers(paths) -> Iterator[List[RecordWriter]]:
  """Yields one :class:`RecordWriter` per path; the files appear together at the end.

  Each file is written under a temporary name (:func:`files.atomic_output`).
  When the block ends without error every file is flushed, fsync'ed and
  closed first, and only then are they renamed into place; on any error or
  exception (a signal included) the temporary files are removed and the
  previous files at `paths` are untouched.
  """
  with contextlib.ExitStack() as stack:
    writers = []
    for path in paths:
      tmp = stack.enter_context(files.atomic_output(path))
      try:
        f = open(tmp, 'wb')  # pylint: disable=consider-using-with
      except OSError as e:
        raise files.write_error(path, e) from None
      stack.callback(_close_quietly, f)  # on errors (after success it is closed already)
      writers.append(RecordWriter(f, path))
    yield writers
    for writer in writers:
      writer._finish()  # pylint: disable=protected-access
  # Leaving the stack renames the files (atomic_output), last opened first.


@contextlib.contextmanager
def open_writer(path) -> Iterator[RecordWriter]:
  """:func:`open_writers` for one file."""
  with open_writers([path]) as (writer,):
    yield writer
