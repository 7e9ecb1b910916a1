"""The SequenceExample of one drum track: Magenta's layout, built as bytes without TF.

The one SequenceExample builder of the package. Layout
(``pipelines_common.make_sequence_example``): no context; feature_lists
``inputs``: one Feature per step with a float_list of input_size floats;
``labels``: one Feature per step with an int64_list holding one value.

Contract: :func:`serialize_sequence_example` returns exactly the bytes of
``tf.train.SequenceExample(...).SerializeToString(deterministic=True)`` for
the same example (map keys in sorted order), so Magenta's trainer and ours
read the files either writes; :func:`encode_track` is the same for one drum
track and a config. The tests check both against protobuf and against an
independent note-seq pipeline.

The per-step records are laid out with numpy and joined once: a Groove
dataset is millions of steps, and building protos step by step would cost
more than everything else in ``create_dataset``.
"""

from typing import Dict

import numpy as np


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
  """The bytes of Magenta's SequenceExample for one track (see the module docstring).

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


def encode_track(track, config, controls=None) -> bytes:
  """The serialized SequenceExample of one drum track (extraction.DrumTrack) for `config`
  (with controls: the track's [3, steps] control values)."""
  inputs, labels = config.encoding.encode(track.classes, controls)
  return serialize_sequence_example(inputs, labels)
