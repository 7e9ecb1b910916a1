"""NoteSequences in, SequenceExample TFRecords out: Magenta's dataset step.

`create_dataset` reads NoteSequences (a TFRecord written by
`convert_dir_to_note_sequences`, or MIDI files read directly), sends each one
to the training or eval set, cuts drum tracks out of it
(:mod:`drums_rnn.extraction`), encodes them (:mod:`drums_rnn.encoding`) and
writes ``training_drum_tracks.tfrecord`` and ``eval_drum_tracks.tfrecord``
with Magenta's SequenceExample layout, so Magenta's trainer and ours read
either's files.

Where it differs from Magenta, on purpose:

* the train/eval choice is a hash of (seed, sequence id), not an unseeded
  ``random.random()``: reruns give the same split, whatever the order of the
  input or the number of workers;
* no TensorFlow needed: SequenceExample bytes are built directly
  (:func:`serialize_sequence_example`, byte-identical to protobuf's
  deterministic serialisation) and TFRecords are framed and checked by
  :mod:`drums_rnn.tfrecord` (importing TF costs more CPU than the CRCs of
  the Groove dataset); if the caller has loaded TF already, its C++ record
  writer is used instead (same bytes, less CPU);
* work is spread over processes: workers encode and frame whole records,
  the parent writes them in input order;
* pieces with negative times are dropped and counted instead of aborting.
"""

import collections
import dataclasses
import hashlib
import multiprocessing
import os
import struct
import sys
import time
from typing import Dict, Iterator, List, Optional

import numpy as np
from absl import logging
from google.protobuf import message as protobuf_message
from google.protobuf import unknown_fields
from note_seq import midi_io
from note_seq.protobuf import music_pb2

from drums_rnn import configs
from drums_rnn import extraction
from drums_rnn import files
from drums_rnn import tfrecord
from drums_rnn.errors import DrumsRnnError

TRAINING_FILE = 'training_drum_tracks.tfrecord'
EVAL_FILE = 'eval_drum_tracks.tfrecord'
SPLITS = ('training', 'eval')

MIDI_EXTENSIONS = ('.mid', '.midi')
MUSICXML_EXTENSIONS = ('.xml', '.mxl')
ABC_EXTENSIONS = ('.abc',)
MUSIC_EXTENSIONS = MIDI_EXTENSIONS + MUSICXML_EXTENSIONS + ABC_EXTENSIONS


# --- SequenceExample bytes -------------------------------------------------------

def _varint(value: int) -> bytes:
  out = bytearray()
  while True:
    byte = value & 0x7F
    value >>= 7
    if value:
      out.append(byte | 0x80)
    else:
      out.append(byte)
      return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
  """A length-delimited protobuf field (wire type 2)."""
  return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _head(number: int, length: int) -> bytes:
  """Tag and length of a length-delimited protobuf field (wire type 2)."""
  return _varint(number << 3 | 2) + _varint(length)


_LABEL_TABLES: Dict[int, tuple] = {}


def _label_table(num_values):
  """For labels 0..num_values-1: padded bytes of one labels step, and their lengths.

  One step is FeatureList.feature (1) { Feature.int64_list (3) {
  Int64List.value (1, packed) { varint } } }.
  """
  cached = _LABEL_TABLES.get(num_values)
  if cached is None:
    rows = []
    for value in range(num_values):
      packed = _field(1, _varint(value))
      rows.append(_field(1, _field(3, packed)))
    width = max(len(r) for r in rows)
    table = np.zeros((num_values, width), dtype=np.uint8)
    for i, r in enumerate(rows):
      table[i, :len(r)] = np.frombuffer(r, dtype=np.uint8)
    cached = (table, np.array([len(r) for r in rows], dtype=np.int64))
    _LABEL_TABLES[num_values] = cached
  return cached


def _labels_bytes(labels: np.ndarray) -> bytes:
  top = int(labels.max()) + 1 if labels.size else 1
  if top <= 4096 and (labels.size == 0 or labels.min() >= 0):
    table, lengths = _label_table(max(top, 512))
    rows = table[labels]
    mask = np.arange(table.shape[1])[None, :] < lengths[labels][:, None]
    return rows[mask].tobytes()
  return b''.join(_field(1, _field(3, _field(1, _varint(int(v))))) for v in labels)


def serialize_sequence_example(inputs: np.ndarray, labels: np.ndarray) -> bytes:
  """The bytes of Magenta's SequenceExample for one track, built without TF.

  Layout (``pipelines_common.make_sequence_example``): no context;
  feature_lists ``inputs``: one Feature per step with a float_list of
  input_size floats; ``labels``: one Feature per step with an int64_list
  holding one value. The bytes equal ``SerializeToString(deterministic=True)``
  of the equivalent ``tf.train.SequenceExample`` (map keys in sorted order).
  The per-step records are laid out with numpy and joined once.

  Args:
    inputs: [steps, input_size] float array.
    labels: [steps] int array (non-negative).
  """
  inputs = np.ascontiguousarray(inputs, dtype='<f4')
  labels = np.asarray(labels, dtype=np.int64)
  steps, size = inputs.shape
  if labels.shape != (steps,):
    raise ValueError(f'labels shape {labels.shape} does not match {steps} input steps')
  # One step: FeatureList.feature (1) { Feature.float_list (2) { FloatList.value (1), packed } }.
  float_list_len = 4 * size
  float_list_head = _head(1, float_list_len)
  feature_len = len(float_list_head) + float_list_len
  feature_head = _head(2, feature_len)
  head = np.frombuffer(_head(1, len(feature_head) + feature_len) + feature_head + float_list_head,
                       dtype=np.uint8)
  body = np.empty((steps, head.size + float_list_len), dtype=np.uint8)
  body[:, :head.size] = head
  body[:, head.size:] = inputs.view(np.uint8).reshape(steps, float_list_len)
  inputs_list = body.data  # no copy
  labels_list = _labels_bytes(labels)
  # FeatureLists.feature_list map entries {key (1), value (2)}, keys sorted.
  inputs_entry_head = _field(1, b'inputs') + _head(2, body.nbytes)
  labels_entry_head = _field(1, b'labels') + _head(2, len(labels_list))
  inputs_entry_len = len(inputs_entry_head) + body.nbytes
  labels_entry_len = len(labels_entry_head) + len(labels_list)
  inputs_entry = _head(1, inputs_entry_len) + inputs_entry_head
  labels_entry = _head(1, labels_entry_len) + labels_entry_head
  feature_lists_len = (len(_head(1, inputs_entry_len)) + inputs_entry_len +
                       len(_head(1, labels_entry_len)) + labels_entry_len)
  return b''.join([_head(2, feature_lists_len), inputs_entry, inputs_list, labels_entry,
                   labels_list])


def make_sequence_example(inputs, labels):
  """Magenta's ``make_sequence_example``: a ``tf.train.SequenceExample`` (imports TF)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.train.SequenceExample.FromString(serialize_sequence_example(inputs, labels))


def encode_track(track: extraction.DrumTrack, config) -> bytes:
  """The serialized SequenceExample of one drum track for `config`."""
  inputs, labels = config.encoding.encode(track.classes)
  return serialize_sequence_example(inputs, labels)


# --- TFRecord framing --------------------------------------------------------------

def scan_tfrecord(path) -> int:
  """Counts the records of a TFRecord file by its headers, checking the framing.

  Reads only the 12-byte record headers (length + its CRC), so it is fast;
  the payload CRCs are checked later, when the records are read.

  Raises:
    DrumsRnnError: missing, empty, truncated or not a TFRecord file.
  """
  if not os.path.exists(path):
    raise DrumsRnnError(f'input {path!r} does not exist')
  size = os.path.getsize(path)
  if size == 0:
    raise DrumsRnnError(f'input {path!r} is empty: expected a TFRecord file of NoteSequences '
                        '(see convert_dir_to_note_sequences)')
  count, position = 0, 0
  with open(path, 'rb') as f:
    while position < size:
      header = f.read(12)
      if len(header) < 12:
        raise DrumsRnnError(f'input {path!r} is truncated or corrupt (record {count} header '
                            f'cut short at byte {position})')
      length, crc = struct.unpack('<QI', header)
      if tfrecord.masked_crc32c(header[:8]) != crc:
        what = 'is not a TFRecord file' if count == 0 else f'is corrupt at record {count}'
        raise DrumsRnnError(f'input {path!r} {what} (bad record header at byte {position})')
      position += 12 + length + 4
      if position > size:
        raise DrumsRnnError(f'input {path!r} is truncated (record {count} runs past the end '
                            'of the file)')
      f.seek(position)
      count += 1
  return count


def read_first_record(path) -> bytes:
  """The payload of the first record (framing only; call scan_tfrecord first)."""
  with open(path, 'rb') as f:
    length, _ = struct.unpack('<QI', f.read(12))
    return f.read(length)


def iter_tfrecord(path, check_data=True) -> Iterator:
  """Yields the records of a TFRecord file, checking every CRC (no TensorFlow).

  check_data=False yields (record, stored CRC) pairs for the caller to check
  (tfrecord.check_record); the framing is still checked here.
  """
  try:
    with open(path, 'rb') as f:
      yield from tfrecord.read_records(f, check_data=check_data)
  except tfrecord.CorruptRecordError as e:
    raise DrumsRnnError(f'input {path!r} is corrupt at record {e.index}: {e.what}') from None
  except OSError as e:
    raise DrumsRnnError(f'cannot read {path!r}: {e.strerror or e}') from None


class TFRecordWriter:
  """Writes records to a TFRecord file.

  Framing comes from :mod:`drums_rnn.tfrecord` (numpy CRC, no TensorFlow),
  or, with ``use_tf=True``, from TensorFlow's C++ writer: ten times less CPU
  for the CRCs, worth it when the process has imported TensorFlow anyway.
  The bytes written are the same.
  """

  def __init__(self, path, use_tf=False):
    self._tf_writer = self._file = None
    try:
      if use_tf:
        import tensorflow as tf  # pylint: disable=g-import-not-at-top
        self._tf_writer = tf.io.TFRecordWriter(path)
      else:
        self._file = open(path, 'wb')
    except Exception as e:  # pylint: disable=broad-except
      raise DrumsRnnError(f'cannot write {path!r}: {getattr(e, "strerror", None) or e}') from None
    self.count = 0

  def write(self, record: bytes):
    """Frames and writes one record."""
    if self._tf_writer is not None:
      self._tf_writer.write(record)
      self.count += 1
    else:
      self.write_framed(tfrecord.frame(record))

  def write_framed(self, framed: bytes):
    """Writes a record already framed by tfrecord.frame (e.g. in a worker)."""
    try:
      self._file.write(framed)
    except OSError as e:
      raise DrumsRnnError(f'cannot write {self._file.name!r}: {e.strerror or e}') from None
    self.count += 1

  def close(self):
    if self._tf_writer is not None:
      self._tf_writer.close()
    else:
      self._file.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


# --- NoteSequence input ----------------------------------------------------------

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


def list_music_files(input_dir, recursive=False, extensions=MUSIC_EXTENSIONS):
  """(full path, path relative to input_dir) of music files, in Magenta's walk order.

  Like convert_dir_to_note_sequences: the files of a directory first, then
  (when `recursive`) its sub-directories; listings are sorted so the order is
  the same on every machine. Files of other types are returned with
  ``skipped=True`` as a third element so callers can warn about them.
  """
  result = []

  def walk(sub_dir):
    directory = os.path.join(input_dir, sub_dir)
    try:
      names = sorted(os.listdir(directory))
    except OSError as e:
      raise DrumsRnnError(f'cannot list {directory!r}: {e.strerror or e}') from None
    sub_dirs = []
    for name in names:
      full = os.path.join(directory, name)
      rel = os.path.join(sub_dir, name)
      if name.lower().endswith(extensions) and os.path.isfile(full):
        result.append((full, rel, False))
      elif os.path.isdir(full):
        if recursive:
          sub_dirs.append(rel)
      else:
        result.append((full, rel, True))
    for rel in sub_dirs:
      walk(rel)

  walk('')
  return result


def convert_file(input_dir, full_path, rel_path) -> List:
  """NoteSequences of one music file, named like convert_dir_to_note_sequences.

  collection_name = basename of input_dir, filename = path relative to it,
  id = note_sequence_id(...). MIDI via note-seq's midi_io, MusicXML via its
  musicxml_reader, ABC via its abc_parser (one sequence per tune).

  Raises:
    DrumsRnnError: the file cannot be read or parsed.
  """
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
  except Exception as e:  # pylint: disable=broad-except
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

  Unreadable files are skipped with one warning each; files of other types
  get Magenta's "Unable to find a converter" warning.

  Returns:
    (sequences written, files skipped as unreadable, files of other types).
  Raises:
    DrumsRnnError: bad directory, unwritable output, or nothing converted.
  """
  input_dir = os.path.expanduser(input_dir)
  if not os.path.isdir(input_dir):
    raise DrumsRnnError(f'--input_dir {input_dir!r} is not a directory')
  music_files = list_music_files(input_dir, recursive=recursive)
  converted = skipped = unknown = 0
  with files.atomic_output(os.path.expanduser(output_file)) as tmp:
    with TFRecordWriter(tmp) as writer:
      for full, rel, no_converter in music_files:
        if no_converter:
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
      raise DrumsRnnError(
          f'no file converted under {input_dir!r} ({skipped} unreadable, {unknown} of other '
          'types' + ('' if recursive else '; use --recursive to include sub-directories') + ')')
  return converted, skipped, unknown


def _input_items(path):
  """(total, iterator of work items) for a TFRecord, a music file or a directory.

  Everything that can be checked before the real work is checked here, so bad
  input fails fast with one clear error.
  """
  if not path:
    raise DrumsRnnError('--input is required: a TFRecord of NoteSequences, a MIDI file or a '
                        'directory of MIDI files')
  path = os.path.expanduser(path)
  if os.path.isdir(path):
    music_files = [(full, rel) for full, rel, skipped in list_music_files(path, recursive=True)
             if not skipped]
    if not music_files:
      raise DrumsRnnError(f'no MIDI, MusicXML or ABC files found under {path!r}')
    return len(music_files), (('file', (path, full, rel)) for full, rel in music_files)
  if not os.path.exists(path):
    raise DrumsRnnError(f'input {path!r} does not exist')
  if path.lower().endswith(MUSIC_EXTENSIONS):
    sequences = convert_file(os.path.dirname(os.path.abspath(path)), path, os.path.basename(path))
    return len(sequences), (('record', (s.SerializeToString(), path)) for s in sequences)
  total = scan_tfrecord(path)
  parse_note_sequence(read_first_record(path), f'record 0 of {path!r}')
  # Payload CRCs are checked by the workers (see _process).
  return total, (('checked_record', (data, crc, i, path))
                 for i, (data, crc) in enumerate(iter_tfrecord(path, check_data=False)))


def read_note_sequences(path) -> Iterator:
  """Yields the NoteSequences of a TFRecord file, a music file or a directory of them.

  Raises:
    DrumsRnnError: missing, empty or corrupt file, records that are not
      NoteSequences, a single music file that cannot be read. In a directory,
      unreadable files are skipped with a warning.
  """
  _, items = _input_items(path)
  for kind, payload in items:
    if kind != 'file':
      yield parse_note_sequence(*_record_payload(kind, payload))
    else:
      root, full, rel = payload
      try:
        yield from convert_file(root, full, rel)
      except DrumsRnnError as e:
        logging.warning('skipped: %s', e)


# --- the train/eval split ----------------------------------------------------------

def eval_fraction(seed, key) -> float:
  """A number in [0, 1) fixed by (seed, key): a sequence goes to eval when below eval_ratio."""
  digest = hashlib.sha256(f'{seed}\x00{key}'.encode('utf-8')).digest()
  return int.from_bytes(digest[:8], 'big') / 2.0 ** 64


def split_of(sequence, seed, eval_ratio, index=0) -> str:
  """'eval' or 'training' for a NoteSequence, from its id (else filename, else index)."""
  key = sequence.id or sequence.filename or f'#{index}'
  return 'eval' if eval_fraction(seed, key) < eval_ratio else 'training'


# --- the work of one input ---------------------------------------------------------

@dataclasses.dataclass
class _Job:
  config_name: str
  eval_ratio: float
  seed: int
  split_long_tracks: bool
  frame_records: bool = True  # False: the parent frames them (TensorFlow's writer)


@dataclasses.dataclass
class _Result:
  """What one input item produced (sent back from a worker)."""
  outputs: List  # [(split, [records, framed if job.frame_records], label steps)] per sequence
  stats: extraction.ExtractionStats
  skipped: Optional[str] = None  # why an input file was skipped
  fatal: Optional[str] = None    # an error that must stop the run


_JOB: Optional[_Job] = None


def _init_worker(job):
  global _JOB
  _JOB = job


def _record_payload(kind, payload):
  """(data, where) of a record item, checking its CRC when the reader did not."""
  if kind == 'checked_record':
    data, crc, index, path = payload
    try:
      tfrecord.check_record(data, crc, index)
    except tfrecord.CorruptRecordError as e:
      raise DrumsRnnError(f'input {path!r} is corrupt at record {e.index}: {e.what}') from None
    return data, f'record {index} of {path!r}'
  return payload


def _process(indexed_item):
  """Converts one input item into examples. Runs in a worker process."""
  index, (kind, payload) = indexed_item
  job = _JOB
  config = configs.get_config(job.config_name)
  stats = extraction.ExtractionStats()
  try:
    if kind == 'file':
      sequences = convert_file(*payload)
    else:
      sequences = [parse_note_sequence(*_record_payload(kind, payload))]
  except DrumsRnnError as e:
    if kind != 'file':
      return _Result([], stats, fatal=str(e))
    return _Result([], stats, skipped=str(e))
  outputs = []
  for sequence in sequences:
    split = split_of(sequence, job.seed, job.eval_ratio, index)
    tracks = extraction.extract_drum_tracks(
        sequence, config, split_long_tracks=job.split_long_tracks, stats=stats)
    examples = [encode_track(t, config) for t in tracks]
    if job.frame_records:
      examples = [tfrecord.frame(e) for e in examples]
    outputs.append((split, examples, sum(len(t) - 1 for t in tracks)))
  return _Result(outputs, stats)


# --- summary -----------------------------------------------------------------------

@dataclasses.dataclass
class DatasetSummary:
  """What create_dataset read, wrote and dropped. `check()` proves the counts add up."""
  config: str
  input: str
  output_paths: Dict[str, str]
  files_skipped: int = 0
  sequences: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  tracks: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  steps: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  sequences_without_tracks: int = 0
  stats: extraction.ExtractionStats = dataclasses.field(default_factory=extraction.ExtractionStats)
  seconds: float = 0.0

  @property
  def sequences_read(self):
    return sum(self.sequences.values())

  @property
  def tracks_written(self):
    return sum(self.tracks.values())

  def check(self):
    """Raises AssertionError unless every count adds up."""
    self.stats.check()
    assert self.tracks_written == self.stats['drum_tracks_out']
    assert set(self.sequences) <= set(SPLITS) and set(self.tracks) <= set(SPLITS)

  def lines(self) -> List[str]:
    """The end-of-run report, one fact per line."""
    c = self.stats.counts
    s = lambda split: f'{self.tracks[split]} {split}'  # noqa: E731
    out = [
        f'Read {self.sequences_read} NoteSequences ({self.sequences["training"]} training, '
        f'{self.sequences["eval"]} eval) from {self.input}'
        + (f'; skipped {self.files_skipped} unreadable files' if self.files_skipped else '') + '.',
        f'Wrote {self.tracks_written} drum tracks ({s("training")}, {s("eval")}; '
        f'{self.steps["training"] + self.steps["eval"]} labelled steps) in {self.seconds:.1f} s: '
        f'{self.output_paths["training"]}, {self.output_paths["eval"]}.',
        f'Pieces after time-change splits: {c["pieces"]}; dropped: ' + ', '.join(
            f'{desc} {c[key]}' for key, desc in extraction.PIECE_DROP_REASONS.items()) + '.',
        f'Drum tracks found: {c["drum_tracks_found"]}; discarded too short (< 7 bars): '
        f'{c["drum_tracks_discarded_too_short"]}; truncated to 512 steps: '
        f'{c["drum_tracks_truncated"]}'
        + (f'; split into windows: {c["drum_tracks_split"]} (+{c["drum_track_windows_added"]} '
           f'windows, {c["drum_track_tails_discarded_too_short"]} short tails dropped)'
           if c['drum_tracks_split'] else '') + '.',
        f'NoteSequences that gave no track: {self.sequences_without_tracks}.',
    ]
    histogram = self.stats.histogram()
    if histogram:
      out.append('Track lengths in bars: ' + ', '.join(f'{k}: {v}' for k, v in histogram))
    return out

  def empty_message(self) -> str:
    """Why nothing was written, and what to try."""
    c = self.stats.counts
    reasons = [f'{desc}: {c[key]} pieces' for key, desc in extraction.PIECE_DROP_REASONS.items()
               if c[key]]
    if c['drum_tracks_discarded_too_short']:
      reasons.append(f'too short (< 7 bars): {c["drum_tracks_discarded_too_short"]} tracks')
    if self.files_skipped:
      reasons.append(f'unreadable files: {self.files_skipped}')
    return (f'no drum tracks written from {self.sequences_read} NoteSequences in {self.input} '
            f'({"; ".join(reasons) or "nothing found"}). Drum tracks need notes marked is_drum '
            '(MIDI channel 10) forming at least 7 bars without a whole bar of silence; check '
            'that the drums are on channel 10 and the files are long enough.')


# --- create_dataset ----------------------------------------------------------------

def default_num_workers():
  try:
    return max(1, len(os.sched_getaffinity(0)))
  except AttributeError:
    return max(1, os.cpu_count() or 1)


def _pool(job, num_workers):
  """A process pool whose workers have drums_rnn.dataset loaded and no TensorFlow.

  fork when the parent has not imported TensorFlow (the dataset tools never
  do; a caller may have); otherwise forkserver: a fresh server
  process (never the parent, which holds TensorFlow's threads) preloads this
  module once and forks the workers.
  Workers would also re-import the caller's ``__main__`` (a script that
  imports TensorFlow at the top would load it in every worker); they only run
  this module's functions, so ``__main__`` is hidden while they start.
  """
  methods = multiprocessing.get_all_start_methods()
  if 'fork' in methods and 'tensorflow' not in sys.modules:
    # The usual case (the command line): no TensorFlow in this process, so
    # forking is safe and instant.
    ctx = multiprocessing.get_context('fork')
  elif 'forkserver' in methods:
    ctx = multiprocessing.get_context('forkserver')
    ctx.set_forkserver_preload(['drums_rnn.dataset'])
  else:
    ctx = multiprocessing.get_context('spawn')
  main = sys.modules.get('__main__')
  hidden = {}
  for name in ('__file__', '__spec__'):
    if main is not None and name in vars(main):
      hidden[name] = vars(main)[name]
      setattr(main, name, None)
  try:
    return ctx.Pool(num_workers, initializer=_init_worker, initargs=(job,))
  finally:
    for name, value in hidden.items():
      setattr(main, name, value)


class _Progress:
  """Logs inputs/s (over the last interval) and an ETA every few seconds."""

  def __init__(self, total, every=5.0):
    self.total, self.every = total, every
    self.start = self.last = time.time()
    self.last_done = None

  def update(self, done, tracks, force=False):
    now = time.time()
    if self.last_done is None:  # first result: start measuring from here
      self.last, self.last_done = now, done
      if not force:
        return
    if not force and now - self.last < self.every:
      return
    rate = (done - self.last_done) / max(now - self.last, 1e-9)
    if force:
      rate = done / max(now - self.start, 1e-9)
    eta = (self.total - done) / rate if rate > 0 else float('inf')
    self.last, self.last_done = now, done
    logging.info('Processed %d/%d inputs (%.1f/s, ETA %.0f s); %d drum tracks so far.',
                 done, self.total, rate, eta, tracks)


def create_dataset(config, input_path, output_dir, eval_ratio=0.1, seed=0, num_workers=None,
                   split_long_tracks=False, hparams=None) -> DatasetSummary:
  """Writes training and eval SequenceExample TFRecords for `config`.

  Args:
    config: a DrumsRnnConfig or its name.
    input_path: TFRecord of NoteSequences, a MIDI (MusicXML, ABC) file, or a
      directory searched recursively for them.
    output_dir: gets TRAINING_FILE and EVAL_FILE (both always written, via
      temporary names renamed at the end; the directory is created).
    eval_ratio: fraction of NoteSequences sent to the eval set, in [0, 1].
    seed: selects the split; the same (seed, sequence id) always gives the
      same set, whatever the input order or number of workers.
    num_workers: processes; None = every core; 1 = in this process.
    split_long_tracks: cut tracks longer than 512 steps into bar-aligned
      windows instead of truncating them (issue 5).
    hparams: a `--hparams` string or dict; only checked (the dataset does not
      depend on them), as Magenta does.
  Returns:
    A DatasetSummary (counts add up: see DatasetSummary.check).
  Raises:
    DrumsRnnError: bad arguments, unreadable input, unwritable output.
  """
  if isinstance(config, str):
    config = configs.get_config(config)
  config.hparams(hparams)
  if not 0.0 <= float(eval_ratio) <= 1.0:
    raise DrumsRnnError(f'--eval_ratio must be between 0 and 1, got {eval_ratio}')
  if not output_dir:
    raise DrumsRnnError('--output_dir is required')
  num_workers = default_num_workers() if num_workers in (None, 0) else int(num_workers)
  if num_workers < 1:
    raise DrumsRnnError(f'--num_workers must be at least 1, got {num_workers}')
  output_dir = os.path.expanduser(output_dir)
  files.ensure_dir(output_dir)

  start = time.time()
  total, items = _input_items(input_path)
  paths = {'training': os.path.join(output_dir, TRAINING_FILE),
           'eval': os.path.join(output_dir, EVAL_FILE)}
  summary = DatasetSummary(config=config.name, input=input_path, output_paths=paths)
  # TensorFlow's record writer needs far less CPU than our numpy CRC, but
  # importing it costs more than the CRCs of a typical dataset: use it only if
  # the caller has imported TensorFlow already. Same bytes either way.
  use_tf = 'tensorflow' in sys.modules
  job = _Job(config.name, float(eval_ratio), seed, bool(split_long_tracks),
             frame_records=not use_tf)
  progress = _Progress(total)
  logging.info('Creating %s dataset from %s (%d inputs) with %d worker(s).', config.name,
               input_path, total, num_workers)

  pool = None
  if num_workers == 1:
    _init_worker(job)
    results = map(_process, enumerate(items))
  else:
    pool = _pool(job, min(num_workers, max(total, 1)))
    results = pool.imap(_process, enumerate(items), chunksize=4)
  try:
    with files.atomic_output(paths['training']) as train_tmp, \
        files.atomic_output(paths['eval']) as eval_tmp, \
        TFRecordWriter(train_tmp, use_tf) as train_writer, \
        TFRecordWriter(eval_tmp, use_tf) as eval_writer:
      writers = {'training': train_writer, 'eval': eval_writer}
      for done, result in enumerate(results, 1):
        if result.fatal:
          raise DrumsRnnError(result.fatal)
        if result.skipped:
          summary.files_skipped += 1
          logging.warning('skipped: %s', result.skipped)
        summary.stats += result.stats
        for split, examples, steps in result.outputs:
          summary.sequences[split] += 1
          summary.tracks[split] += len(examples)
          summary.steps[split] += steps
          if not examples:
            summary.sequences_without_tracks += 1
          write = writers[split].write if use_tf else writers[split].write_framed
          for example in examples:
            write(example)
        progress.update(done, summary.tracks_written)
  finally:
    if pool is not None:
      pool.terminate()
      pool.join()
  summary.seconds = time.time() - start
  progress.update(total, summary.tracks_written, force=True)
  summary.check()
  return summary
