"""TFRecord files without TensorFlow: framing and the masked CRC-32C, in numpy.

A TFRecord file is a sequence of records, each::

    uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)

(little-endian; mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8). Importing
TensorFlow only to frame records costs seconds per command, more than
creating a whole Groove dataset, so the dataset tools frame and check records
here.

CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) is computed on many
lanes at once: the data is cut into K equal blocks, each block's CRC is
computed with numpy over all K lanes together (slicing-by-4: one uint32 word
per lane per step), and the block CRCs are merged pairwise with the CRC's
linearity: crc(A + B) = shift(crc(A), len(B)) ^ crc(B), where shifting by a
fixed number of zero bytes is a linear map applied with four byte tables.
"""

import struct
from typing import BinaryIO, Iterator

import numpy as np

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
