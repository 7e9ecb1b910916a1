"""Exports a Drums RNN as a checkpoint folder that magenta.js's `MusicRNN` runs exactly.

Web pages built on magenta.js (`@magenta/music`) load a Drums RNN with
``new mm.MusicRNN(url)``, where `url` names a folder served over HTTP holding

* ``config.json``: the model spec magenta.js reads (``type: MusicRNN``; a
  ``DrumsOneHotConverter`` whose ``pitchClasses`` are OUR drum table: without
  it magenta.js uses its own default, which puts pitches 22, 26, 43 and 52 in
  other drum types; for drum_kit the 6-bit ``BinaryCounter`` auxiliary input);
* ``weights_manifest.json`` and ``group1-shard*of*.bin``: TensorFlow.js's
  weights format, little-endian float32 in one group, cut into 4 MiB shards.

The weights keep Magenta's names, which are the ones magenta.js looks up:
``rnn/multi_rnn_cell/cell_<i>/basic_lstm_cell/{kernel,bias}`` (one kernel over
``[input, h]``, gates i, j, f, o; magenta.js's ``tf.basicLSTMCell`` adds the
same forget bias 1.0 at run time as our model) and
``fully_connected/{weights,biases}``. Inputs agree too: the one-hot of the
step's class (the sum of 2**type over its notes), then the counters of the
step being predicted (+1 / -1 per bit of position + 1, as our encoding).

Only what magenta.js computes exactly like our model is exported: the two
Drums RNN configs (drum_kit, one_drum) without attention and without residual
connections, any number and size of layers. Everything else is refused with
a :class:`~drums_rnn.errors.DrumsRnnError` saying why and what to do, before
anything is written:

* attention on the first layer (Magenta's layout since 2017, which includes
  the shipped ``drum_kit.mag``): magenta.js implements only the 2016 layout
  (the wrapper around the whole stack);
* the 2016 whole-stack layout as well: magenta.js loads the attention bias
  (``attention/bias``) but never adds it to the attention scores, and reads
  the third layer's output by index, so even a 3-layer model would give other
  drums unless its attention bias were exactly zero;
* residual connections (magenta.js has none), the humanizer and any other
  config.

The folder appears whole or not at all: it is written under a hidden
temporary name beside `output_dir` and renamed into place (a folder killed
half-way is removed by the next write there, `files.remove_stale_temporaries`).
"""

import contextlib
import dataclasses
import json
import os
import shutil
from typing import Dict, List, Optional

import numpy as np

from drums_rnn import files
from drums_rnn.errors import DrumsRnnError

SUPPORTED_CONFIGS = ('drum_kit', 'one_drum')
CONFIG_FILE = 'config.json'
MANIFEST_FILE = 'weights_manifest.json'
SHARD_BYTES = 4 * 1024 * 1024  # TensorFlow.js's converter cuts shards at 4 MiB
MAGENTAJS_VERSION = '1.23.1'   # the @magenta/music release the exports are tested against
LSTM_FORMAT = 'rnn/multi_rnn_cell/cell_{}/basic_lstm_cell/'
SOFTMAX_WEIGHTS = 'fully_connected/weights'
SOFTMAX_BIASES = 'fully_connected/biases'
RETRAIN_REMEDY = ('train a model for magenta.js without it: hparams attn_length=0 (e.g. drums_rnn_train '
                  '--hparams=attn_length=0)')
# A ready export of a Groove model without attention, shipped in the package.
SHIPPED_EXPORT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'models',
                              'drum_kit_magentajs')


class OutputDirTaken(DrumsRnnError):
  """`output_dir` exists and may not be replaced; `reason` says what is there (for the CLI's message)."""

  def __init__(self, output_dir, reason, replaceable):
    self.output_dir = output_dir
    self.reason = reason
    self.replaceable = replaceable
    hint = ' (overwrite=True replaces it)' if replaceable else ''
    super().__init__(f'output_dir {output_dir!r} {reason}{hint}')


@dataclasses.dataclass(frozen=True)
class Export:
  """What :func:`export_model` wrote.

  Attributes:
    output_dir: the folder (absolute).
    config_name: drum_kit or one_drum.
    rnn_layer_sizes: the LSTM sizes.
    num_parameters: float32 values in the shards.
    files: the names written in `output_dir`, sorted.
    num_bytes: their total size.
  """
  output_dir: str
  config_name: str
  rnn_layer_sizes: List[int]
  num_parameters: int
  files: List[str]
  num_bytes: int


# --- what magenta.js can run ------------------------------------------------------


def check_exportable(loaded):
  """Raises DrumsRnnError unless magenta.js runs `loaded` (a loading.LoadedModel) exactly.

  The message names the reason and the remedy; see the module docstring.
  """
  config = loaded.config
  if config.name not in SUPPORTED_CONFIGS:
    raise DrumsRnnError(f'{loaded.source!r} is a {config.name} model: magenta.js runs only '
                        f'{" or ".join(SUPPORTED_CONFIGS)} models (its MusicRNN has the DrumsOneHotConverter '
                        'and binary counters, no humanizer and no controls); train one of those instead')
  model = loaded.model
  if model.attn_length:
    if model.attention_layout == 'whole_stack':
      why = ('it uses the 2016 attention layout (attn_length={n}, around the whole stack): magenta.js '
             'implements that layout but never adds its attention bias and reads the third layer\'s output '
             'by index, so it would play other drums than this model')
    else:
      why = ('it uses attention on its first LSTM layer (attn_length={n}, Magenta\'s layout since 2017), '
             'which magenta.js does not implement: its MusicRNN knows only the 2016 layout, attention around '
             'the whole stack, a different computation')
    shipped = (f'; or use the shipped export {SHIPPED_EXPORT}'
               if os.path.isfile(os.path.join(SHIPPED_EXPORT, CONFIG_FILE)) else '')
    raise DrumsRnnError(f'cannot export {loaded.source!r} to magenta.js: {why.format(n=model.attn_length)}; '
                        f'{RETRAIN_REMEDY}{shipped}')
  if model.residual_connections:
    raise DrumsRnnError(f'cannot export {loaded.source!r} to magenta.js: it uses residual connections, which '
                        'magenta.js\'s MusicRNN does not have; train a model for magenta.js with hparams '
                        'residual_connections=false (the default)')
  expected = _expected_shapes(config.encoding, model.rnn_layer_sizes)
  weights = model.get_weights()
  found = {name: tuple(np.shape(value)) for name, value in weights.items()}
  if found != expected:
    raise DrumsRnnError(f'cannot export {loaded.source!r} to magenta.js: its weights are not a plain LSTM '
                        f'stack with a softmax layer (expected {expected}, found {found})')


def _expected_shapes(encoding, rnn_layer_sizes):
  """Magenta name -> shape of a plain LSTM stack: exactly what magenta.js reads, nothing else."""
  shapes = {}
  width = encoding.input_size
  for i, size in enumerate(rnn_layer_sizes):
    shapes[LSTM_FORMAT.format(i) + 'kernel'] = (width + size, 4 * size)
    shapes[LSTM_FORMAT.format(i) + 'bias'] = (4 * size,)
    width = size
  shapes[SOFTMAX_WEIGHTS] = (width, encoding.num_classes)
  shapes[SOFTMAX_BIASES] = (encoding.num_classes,)
  return shapes


# --- the files ----------------------------------------------------------------------


def magentajs_spec(config, rnn_layer_sizes=None):
  """The `config.json` object for a drum_kit / one_drum model.

  magenta.js reads `type`, `dataConverter` and `auxInputs`; `drumsRnn` is
  for people (magenta.js ignores it): the primer's grid matters for one_drum
  (2 steps per quarter), as magenta.js takes the primer's own quantization.
  """
  encoding = config.encoding
  spec = {
      'type': 'MusicRNN',
      'dataConverter': {
          'type': 'DrumsOneHotConverter',
          'args': {'pitchClasses': [list(pitches) for pitches in encoding.drum_type_pitches]},
      },
  }
  if encoding.binary_counter_bits:
    spec['auxInputs'] = [{'type': 'BinaryCounter', 'args': {'numBits': encoding.binary_counter_bits}}]
  spec['drumsRnn'] = {'config': config.name, 'stepsPerQuarter': config.steps_per_quarter,
                      'exportedFor': f'@magenta/music {MAGENTAJS_VERSION}'}
  if rnn_layer_sizes is not None:
    spec['drumsRnn']['rnnLayerSizes'] = [int(s) for s in rnn_layer_sizes]
  return spec


def weight_files(weights: Dict[str, np.ndarray], shard_bytes=SHARD_BYTES):
  """(manifest, {shard name: bytes}) in TensorFlow.js's weights format.

  One group: the weights in their order as little-endian float32, back to
  back, cut every `shard_bytes` (a weight may span two shards; the loader
  joins a group's shards before slicing it).
  """
  if shard_bytes <= 0 or shard_bytes % 4:
    raise DrumsRnnError(f'shard_bytes must be a positive multiple of 4, got {shard_bytes}')
  entries, chunks = [], []
  for name, value in weights.items():
    array = np.asarray(value, dtype='<f4')
    entries.append({'name': name, 'shape': [int(d) for d in array.shape], 'dtype': 'float32'})
    chunks.append(array.tobytes(order='C'))
  data = b''.join(chunks)
  count = max(1, -(-len(data) // shard_bytes))
  shards = {f'group1-shard{i + 1}of{count}.bin': data[i * shard_bytes:(i + 1) * shard_bytes]
            for i in range(count)}
  manifest = [{'paths': list(shards), 'weights': entries}]
  return manifest, shards


def is_export(path):
  """True when the folder `path` holds a magenta.js MusicRNN checkpoint (a config.json of that type)."""
  try:
    with open(os.path.join(path, CONFIG_FILE), encoding='utf-8') as f:
      spec = json.load(f)
  except (OSError, ValueError):
    return False
  return isinstance(spec, dict) and spec.get('type') == 'MusicRNN' and os.path.isfile(
      os.path.join(path, MANIFEST_FILE))


def read_export(path):
  """(config name, Magenta-named weights) of the export in the folder `path`: the inverse of
  :func:`export_model`, e.g. to run a shipped export with our own model and compare."""
  try:
    with open(os.path.join(path, CONFIG_FILE), encoding='utf-8') as f:
      spec = json.load(f)
    with open(os.path.join(path, MANIFEST_FILE), encoding='utf-8') as f:
      manifest = json.load(f)
    weights = {}
    for group in manifest:
      data = b''
      for name in group['paths']:
        with open(os.path.join(path, name), 'rb') as f:
          data += f.read()
      offset = 0
      for entry in group['weights']:
        if entry.get('dtype') != 'float32' or 'quantization' in entry:
          raise DrumsRnnError(f'{path!r}: weight {entry["name"]!r} is not plain float32')
        size = 4 * int(np.prod(entry['shape'], dtype=np.int64))
        if offset + size > len(data):
          raise DrumsRnnError(f'{path!r}: the shards end inside weight {entry["name"]!r}')
        weights[entry['name']] = np.frombuffer(data[offset:offset + size], '<f4').reshape(entry['shape'])
        offset += size
    return spec['drumsRnn']['config'], weights
  except OSError as e:
    raise files.read_error(path, e) from None
  except (ValueError, KeyError, TypeError) as e:
    raise DrumsRnnError(f'{path!r} is not a drums_rnn magenta.js export: {e!r}') from None


def check_output_dir(output_dir, overwrite=False):
  """Raises OutputDirTaken unless `output_dir` can be written: absent, an empty folder, or
  (with `overwrite`) an earlier export. Never replaces any other folder."""
  path = os.path.abspath(output_dir)
  if not os.path.lexists(path):
    return
  if not os.path.isdir(path):
    raise OutputDirTaken(output_dir, 'exists and is not a folder', replaceable=False)
  try:
    empty = not os.listdir(path)
  except OSError as e:
    raise DrumsRnnError(f'cannot list {output_dir!r}: {files.describe_os_error(e)}') from None
  if empty:
    return
  if not is_export(path):
    raise OutputDirTaken(output_dir, 'is a folder that is not empty and holds no magenta.js export; '
                         'choose a new folder', replaceable=False)
  if not overwrite:
    raise OutputDirTaken(output_dir, 'already holds a magenta.js export', replaceable=True)


def export_model(loaded, output_dir, overwrite=False, extra_files: Optional[Dict[str, bytes]] = None,
                 shard_bytes=SHARD_BYTES) -> Export:
  """Writes `loaded` (a loading.LoadedModel) as a magenta.js checkpoint folder `output_dir`.

  Args:
    overwrite: replace an earlier export in `output_dir` (never another folder).
    extra_files: more files for the folder, name -> bytes (e.g. a README or
      figures), published together with the checkpoint.
  Raises:
    DrumsRnnError: the model does not run exactly in magenta.js
      (:func:`check_exportable`), `output_dir` is taken (OutputDirTaken), or
      writing fails; nothing is left behind.
  """
  check_exportable(loaded)
  check_output_dir(output_dir, overwrite)
  weights = loaded.model.get_weights()
  manifest, shards = weight_files(weights, shard_bytes)
  spec = magentajs_spec(loaded.config, loaded.model.rnn_layer_sizes)
  contents = {CONFIG_FILE: _json_bytes(spec), MANIFEST_FILE: _json_bytes(manifest), **shards}
  for name in extra_files or {}:
    if name in contents or os.path.basename(name) != name or name.startswith('.') or not name:
      raise DrumsRnnError(f'extra file name {name!r} is taken by the checkpoint or is not a plain file name')
  contents.update(extra_files or {})
  _write_folder(output_dir, contents, overwrite)
  path = os.path.abspath(output_dir)
  return Export(path, loaded.config.name, list(loaded.model.rnn_layer_sizes),
                int(sum(np.size(v) for v in weights.values())), sorted(contents),
                sum(len(data) for data in contents.values()))


def _json_bytes(value):
  return (json.dumps(value, indent=1) + '\n').encode('utf-8')


def _write_folder(output_dir, contents: Dict[str, bytes], overwrite):
  """Writes `contents` as the folder `output_dir`, whole or not at all.

  The files go into a hidden temporary folder beside `output_dir` (each
  flushed to disk), which is then renamed into place;
  an earlier export being replaced is first renamed aside and removed last.
  """
  path = os.path.abspath(output_dir)
  parent = files.ensure_dir(os.path.dirname(path))
  files.remove_stale_temporaries(parent)
  tmp = files.temporary_name(path)
  old = None
  try:
    try:
      os.mkdir(tmp)
    except OSError as e:
      raise files.write_error(path, e) from None
    for name, data in contents.items():
      try:
        with open(os.path.join(tmp, name), 'xb') as f:
          f.write(data)
          f.flush()
          os.fsync(f.fileno())  # a full disk is reported here, not lost
      except OSError as e:
        raise files.write_error(os.path.join(path, name), e) from None
    try:
      if os.path.isdir(path) and os.listdir(path):  # an earlier export (check_output_dir allowed it)
        check_output_dir(path, overwrite)
        old = files.temporary_name(path)
        os.rename(path, old)
      os.rename(tmp, path)  # onto nothing, or onto an empty folder
    except OSError as e:
      if old is not None and not os.path.lexists(path):
        with contextlib.suppress(OSError):
          os.rename(old, path)  # put the earlier export back
          old = None
      raise files.write_error(path, e) from None
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  if old is not None:
    shutil.rmtree(old, ignore_errors=True)

