"""Reading Magenta SequenceExample TFRecords into padded batches (tf.data).

Layout (Magenta's `make_sequence_example`): feature list
``inputs`` = one float_list of `input_size` floats per step, ``labels`` = one
int64_list with one value per step; no context features.

Batches are ``(inputs [B, T, input_size] float32, labels [B, T] int64,
lengths [B] int32)``, zero-padded. T is rounded up to a multiple of
`length_multiple` so that a compiled train step sees only a handful of
distinct shapes (at most 512 / 64 = 8 for drum tracks) and never retraces
once they have been seen. Padded steps have length-mask 0 and are ignored by
the loss and metrics.

With `num_one_hot` (the config's num_classes) the inputs come as
:class:`~drums_rnn.nn.inputs.CompactInputs` -- the index of the one-hot part plus
the remaining features -- which the model consumes with a gather instead of a
large matmul; records whose first `num_one_hot` values are not one-hot stop
the pipeline with an InvalidArgumentError naming the problem.

Training batches are shuffled (a 500-record buffer, like Magenta's shuffle
queue), repeat forever and drop the final partial batch (Magenta's
``allow_smaller_final_batch=False``). By default they are also bucketed by
length: shuffled records wait in one bucket per `length_multiple` band of
lengths and a batch is cut when a bucket holds `batch_size` of them, so a
batch is padded to its own band instead of to the longest track that happened
to be drawn (on Groove's drum_kit windows this computes 1.19x fewer padded
steps per batch; the maths of a step is unchanged). A batch's loss is the mean
over its steps, so a batch of short tracks weighs as much as one of long
tracks: harmless when lengths are alike (drum_kit's tracks are 7-32 bars), not
when hundreds of one-bar fill snippets sit beside 32-bar performances
(drum_kit_control: 48% of the records, 4.5% of the steps, would get half the
updates). With `balance_tokens` a band of shorter tracks batches more of them
(`batch_size` x bands / its band: 512 one-band tracks, 64 eight-band ones), so
every batch holds about the same number of steps and each track weighs by its
steps, as in random batches, without their padding. Evaluation batches read every record
once in file order and keep the last partial batch.
"""

import contextlib
import glob
import os

import tensorflow as tf

from drums_rnn import errors
from drums_rnn.data import tfrecord
from drums_rnn.errors import ArgumentError
from drums_rnn.errors import DrumsRnnError
from drums_rnn.nn.inputs import CompactInputs
from drums_rnn.nn.inputs import compact_inputs

DEFAULT_LENGTH_MULTIPLE = 64
SHUFFLE_BUFFER = 500


def list_files(pattern, argument='sequence_example_file'):
  """Files matching a glob (or a comma-separated list of globs), sorted.

  `argument` names the pattern in messages (the caller's argument).

  Raises:
    DrumsRnnError: nothing matches, or a pattern names a folder.
  """
  if not pattern:
    raise ArgumentError('{%s} is required' % argument, argument)
  paths = []
  for part in str(pattern).split(','):
    part = os.path.expanduser(part.strip())
    if not part:
      continue
    if os.path.isdir(part):
      raise DrumsRnnError(f'{part!r} is a directory: give a TFRecord file or a glob '
                          f'(e.g. {os.path.join(part, "*.tfrecord")!r})')
    paths.extend(sorted(glob.glob(part)))
  paths = [p for p in paths if os.path.isfile(p)]
  if not paths:
    raise ArgumentError(f'no files match {{{argument}}}={pattern!r}', argument)
  return paths


def _first_record(paths):
  """(path, first record) of the first non-empty file; the framing of every file is checked."""
  found = None, None
  for path in paths:
    if os.path.getsize(path) == 0:
      continue
    tfrecord.scan(path)
    if found[1] is None:
      found = path, tfrecord.first_record(path)
  return found


def check_files(paths, input_size, num_classes=None):
  """Checks the files are whole TFRecords of SequenceExamples whose inputs have `input_size`.

  The record framing of every file is checked here (headers only, fast),
  so a truncated or damaged file is refused before training starts; a
  damaged payload is found when it is read (:func:`reading`).

  Raises:
    DrumsRnnError: the files are empty, damaged, not SequenceExamples, or
      were made for another config.
  """
  path, record = _first_record(paths)
  if record is None:
    raise DrumsRnnError(f'no SequenceExamples in {", ".join(paths)} (empty file)')
  example = tf.train.SequenceExample()
  try:
    example.ParseFromString(record)
  except Exception:  # noqa: BLE001  (protobuf raises its own DecodeError)
    raise DrumsRnnError(f'{path!r} does not hold tf.train.SequenceExample records') from None
  lists = example.feature_lists.feature_list
  if 'inputs' not in lists or 'labels' not in lists:
    raise DrumsRnnError(f'{path!r}: SequenceExamples lack the "inputs" and "labels" feature lists '
                        '(make them with drums_rnn_create_dataset)')
  steps = lists['inputs'].feature
  if steps:
    width = len(steps[0].float_list.value)
    if width != input_size:
      raise ArgumentError(
          f'{path!r} has input vectors of size {width}, but the config expects {input_size}: '
          'was the dataset made with another {config}?', 'config')
  if num_classes is not None:
    labels = [v for f in lists['labels'].feature for v in f.int64_list.value]
    if labels and (min(labels) < 0 or max(labels) >= num_classes):
      raise ArgumentError(f'{path!r} has labels outside 0..{num_classes - 1}: '
                          'was the dataset made with another {config}?', 'config')


def damaged_record_error(paths, error):
  """The DrumsRnnError for a tf.data DataLossError: the file and record, found by a CRC scan."""
  for path in paths:
    try:
      for _ in tfrecord.iter_records(path):
        pass
    except DrumsRnnError as e:
      return e
  return DrumsRnnError(f'damaged record in {", ".join(paths)}: {errors.first_line(error)}')


@contextlib.contextmanager
def reading(paths):
  """Turns a bad record met while reading batches of `paths` into one DrumsRnnError.

  A damaged record (tf.data's DataLossError) is named by file and record
  number; a record that parses badly (wrong sizes, inputs not one-hot) by
  TensorFlow's first line about it.
  """
  try:
    yield
  except tf.errors.DataLossError as e:
    raise damaged_record_error(paths, e) from None
  except tf.errors.InvalidArgumentError as e:
    raise DrumsRnnError(f'bad SequenceExample data: {errors.first_line(e)}') from None


def parse_fn(input_size):
  """Returns serialized SequenceExample -> (inputs [T, n], labels [T], length)."""
  features = {
      'inputs': tf.io.FixedLenSequenceFeature([input_size], dtype=tf.float32),
      'labels': tf.io.FixedLenSequenceFeature([], dtype=tf.int64),
  }

  def parse(serialized):
    _, sequence = tf.io.parse_single_sequence_example(serialized, sequence_features=features)
    length = tf.shape(sequence['labels'], out_type=tf.int32)[0]
    return sequence['inputs'], sequence['labels'], length

  return parse


def _compact_fn(num_one_hot):
  def compact(inputs, labels, length):
    return compact_inputs(inputs, num_one_hot), labels, length
  return compact


def _pad_time(length_multiple):
  def pad_to(x, target, value=0):
    t = tf.shape(x)[1]
    paddings = [[0, 0], [0, target - t]] + [[0, 0]] * (len(x.shape) - 2)
    return tf.pad(x, paddings, constant_values=value)

  def pad(inputs, labels, lengths):
    t = tf.shape(labels)[1]
    target = tf.maximum((t + length_multiple - 1) // length_multiple * length_multiple,
                        length_multiple)
    if isinstance(inputs, CompactInputs):
      inputs = CompactInputs(pad_to(inputs.classes, target, -1), pad_to(inputs.extras, target))
    else:
      inputs = pad_to(inputs, target)
    return inputs, pad_to(labels, target), lengths
  return pad


def bucket_boundaries(length_multiple, max_length=512):
  """Bucket edges so each bucket is one band of `length_multiple` lengths.

  Lengths 1..m go to the first bucket, m+1..2m to the second and so on; the
  last bucket takes everything from `max_length - m + 1` up, so longer
  records still train (padded to their own multiple).
  """
  return [k * length_multiple + 1 for k in range(1, max(1, max_length // length_multiple))]


def bucket_batch_sizes(batch_size, length_multiple, balance_tokens=False, max_length=512):
  """Records per batch in each bucket of :func:`bucket_boundaries`: `batch_size`
  everywhere, or with `balance_tokens` inversely to the bucket's band, so that
  every batch holds about `batch_size` x `max_length` steps."""
  bands = len(bucket_boundaries(length_multiple, max_length)) + 1
  if not balance_tokens:
    return [batch_size] * bands
  return [batch_size * bands // (band + 1) for band in range(bands)]


def _batch(dataset, input_size, batch_size, drop_remainder, length_multiple, num_one_hot,
           compacted=None, bucket=False, balance_tokens=False):
  """Pads into batches; `compacted`: the records are already CompactInputs of that width;
  `bucket`: group records of similar length, `balance_tokens`: in batches of
  about equal steps (see the module docstring)."""
  if num_one_hot:
    dataset = dataset.map(_compact_fn(num_one_hot), num_parallel_calls=tf.data.AUTOTUNE)
  num_one_hot = num_one_hot or compacted
  if num_one_hot:
    shapes = (CompactInputs([None], [None, input_size - num_one_hot]), [None], [])
    values = (CompactInputs(tf.constant(-1, tf.int32), 0.0), tf.constant(0, tf.int64), 0)
  else:
    shapes = ([None, input_size], [None], [])
    values = None
  if bucket and length_multiple and length_multiple > 1:
    boundaries = bucket_boundaries(length_multiple)
    dataset = dataset.bucket_by_sequence_length(
        lambda inputs, labels, length: length, boundaries,
        bucket_batch_sizes(batch_size, length_multiple, balance_tokens),
        padded_shapes=shapes, padding_values=values, drop_remainder=drop_remainder)
  else:
    dataset = dataset.padded_batch(batch_size, padded_shapes=shapes, padding_values=values,
                                   drop_remainder=drop_remainder)
  if length_multiple and length_multiple > 1:
    dataset = dataset.map(_pad_time(length_multiple), num_parallel_calls=tf.data.AUTOTUNE)
  return dataset.prefetch(tf.data.AUTOTUNE)


def training_dataset(paths, input_size, batch_size, seed=None, num_one_hot=None,
                     length_multiple=DEFAULT_LENGTH_MULTIPLE, shuffle_buffer=SHUFFLE_BUFFER,
                     bucket_by_length=True, balance_tokens=False):
  """Endless shuffled padded batches for training (bucketed by length unless
  `bucket_by_length` is False; with `balance_tokens`, buckets of shorter
  tracks batch more of them).

  With `num_one_hot`, records are parsed once and kept in memory in compact
  form (about 14 kB per 512-step drum_kit track instead of 1 MB dense), so
  later epochs skip protobuf parsing, which otherwise costs a good part of a
  small model's step on a 2-core machine.
  """
  dataset = tf.data.TFRecordDataset(paths)
  if num_one_hot:
    dataset = dataset.map(parse_fn(input_size), num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.map(_compact_fn(num_one_hot), num_parallel_calls=tf.data.AUTOTUNE).cache()
    dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    return _batch(dataset, input_size, batch_size, True, length_multiple, None, num_one_hot,
                  bucket=bucket_by_length, balance_tokens=balance_tokens)
  dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
  dataset = dataset.map(parse_fn(input_size), num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=seed is not None)
  return _batch(dataset, input_size, batch_size, True, length_multiple, num_one_hot,
                bucket=bucket_by_length, balance_tokens=balance_tokens)


def eval_dataset(paths, input_size, batch_size, num_examples=0, num_one_hot=None,
                 length_multiple=DEFAULT_LENGTH_MULTIPLE):
  """Every record once (or the first `num_examples`), in order, last batch partial."""
  dataset = tf.data.TFRecordDataset(paths)
  if num_examples:
    dataset = dataset.take(num_examples)
  dataset = dataset.map(parse_fn(input_size), num_parallel_calls=tf.data.AUTOTUNE)
  return _batch(dataset, input_size, batch_size, False, length_multiple, num_one_hot)
