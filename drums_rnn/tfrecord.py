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

CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) is computed on many
lanes at once: the data is cut into K equal blocks, each block's CRC is
computed with numpy over all K lanes together (slicing-by-4: one uint32 word
per lane per step), and the block CRCs are merged pairwise with the CRC's
linearity: crc(A + B) = shift(crc(A), len(B)) ^ crc(B), where shifting by a
fixed number of zero bytes is a linear map applied with four byte tables.
"""

import contextlib
import os
import struct
from typing import BinaryIO, Iterator, List

import numpy as np

from drums_rnn import files
from drums_rnn.errors import DrumsRnnError

_POLY = 0x82F63B78
_MASK_DELTA = 0xA282EAD8


def _byte_table():
  table = np.zeros(256, dtype=np.uint32)
  for n in range(256):
    c = n
    for _ in range(8):
      c = (c >> 1) ^ _POLY if c & 1 else c >> 1
    table[n] = c
  return table


_T0 = _byte_table()
# Slicing-by-4 tables: T[k][i] is the CRC of byte i followed by k zero bytes.
_SLICE = [_T0]
for _ in range(3):
  _SLICE.append((_SLICE[-1] >> np.uint32(8)) ^ _T0[_SLICE[-1] & np.uint32(0xFF)])
_T1, _T2, _T3 = _SLICE[1], _SLICE[2], _SLICE[3]
_T0_LIST = [int(v) for v in _T0]
# The same step with 16-bit indices: half the gathers (tables of 256 KiB each).
_I16 = np.arange(1 << 16, dtype=np.uint32)
_W_LO = _T3[_I16 & np.uint32(0xFF)] ^ _T2[_I16 >> np.uint32(8)]
_W_HI = _T1[_I16 & np.uint32(0xFF)] ^ _T0[_I16 >> np.uint32(8)]
del _I16


def _word_step(x):
  """Register after one more little-endian uint32 word already XORed into x."""
  h = np.ascontiguousarray(x, dtype='<u4').view('<u2').reshape(-1, 2)
  return _W_LO[h[:, 0]] ^ _W_HI[h[:, 1]]


def _apply(tables, x):
  """The linear map given by 4 byte tables, applied to uint32 array x (little-endian)."""
  b = np.ascontiguousarray(x, dtype='<u4').view(np.uint8).reshape(-1, 4)
  return tables[0][b[:, 0]] ^ tables[1][b[:, 1]] ^ tables[2][b[:, 2]] ^ tables[3][b[:, 3]]


def _tables_of(fn):
  """Byte tables of the linear map fn (uint32 array -> uint32 array)."""
  base = np.arange(256, dtype=np.uint32)
  return [fn(base << np.uint32(8 * j)) for j in range(4)]


# _SHIFT[i]: tables of "append 4 * 2**i zero bytes" (a register map).
_SHIFT = [_tables_of(lambda x: _apply((_T3, _T2, _T1, _T0), x))]


def _shift_tables(level):
  while len(_SHIFT) <= level:
    previous = _SHIFT[-1]
    _SHIFT.append([_apply(previous, t) for t in previous])
  return _SHIFT[level]


def _shift(register: int, nbytes: int) -> int:
  """The CRC register after `nbytes` more zero bytes."""
  for _ in range(nbytes % 4):
    register = _T0_LIST[register & 0xFF] ^ (register >> 8)
  words, level = nbytes // 4, 0
  x = np.array([register], dtype=np.uint32)
  while words:
    if words & 1:
      x = _apply(_shift_tables(level), x)
    words >>= 1
    level += 1
  return int(x[0])


def _crc_small(data, register):
  for b in data:
    register = _T0_LIST[(register ^ b) & 0xFF] ^ (register >> 8)
  return register


def crc32c(data) -> int:
  """CRC-32C of `data` (bytes-like)."""
  data = memoryview(data).cast('B')
  size = len(data)
  if size < 256:
    return _crc_small(data, 0xFFFFFFFF) ^ 0xFFFFFFFF
  words = -(-size // 4)
  # Few steps over many lanes: numpy's per-call cost is paid per step.
  lane_words = 16 if words >= 4096 else 4
  lanes = 1 << max(0, (-(-words // lane_words) - 1).bit_length())
  padded = np.zeros(lanes * lane_words * 4, dtype=np.uint8)
  padded[padded.size - size:] = np.frombuffer(data, dtype=np.uint8)  # zeros in front
  block = np.ascontiguousarray(padded.view('<u4').reshape(lanes, lane_words).T)
  # Register 0 through leading zeros stays 0, so every lane starts at 0 and
  # the initial 0xFFFFFFFF is added back at the end by linearity.
  register = np.zeros(lanes, dtype='<u4')
  for j in range(lane_words):
    register = _word_step(register ^ block[j])
  level = (lane_words - 1).bit_length()  # blocks of 4 * lane_words bytes = 4 * 2**level
  while register.size > 1:
    register = _apply(_shift_tables(level), register[0::2]) ^ register[1::2]
    level += 1
  crc = int(register[0]) ^ _shift(0xFFFFFFFF, size)
  return crc ^ 0xFFFFFFFF


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
