"""Magenta `.mag` generator bundles and Magenta checkpoints, both ways.

A bundle is a serialized note-seq ``GeneratorBundle``: the generator id
(``one_drum`` / ``drum_kit``), descriptions, the bytes of ONE single-file
(V1) TF checkpoint holding the model variables under Magenta's names, and a
TF1 ``MetaGraphDef`` of the generate graph, whose collections (``inputs``,
``temperature``, ``softmax``, ``initial_state``, ``final_state``) are what
Magenta's own ``drums_rnn_generate`` drives.

Writing: the model is rebuilt inside a ``tf.Graph`` (its variables then carry
Magenta's names), the generate graph is exported as a metagraph and the
weights are saved with a V1 ``Saver``, as Magenta's ``create_bundle_file``
does. Our hparams go into ``bundle_details.description`` as one marked JSON
line, which Magenta never reads.

Reading (our bundles, Magenta's, and Magenta training checkpoints): the
checkpoint's variables are listed by name, the attention layout is detected
from the names (current ``first_layer`` or the 2016 ``whole_stack``), old
spellings are mapped (``attention_output_projection``, ``weights``/``biases``,
``Linear/Matrix``), layer sizes come from the shapes, and the attention
length (not stored in any variable) from our hparams line, else the
metagraph's state shapes, else the config default.
"""

import json
import os
import re
import tempfile

import numpy as np
import tensorflow as tf
from absl import logging
from google.protobuf import message as pb_message
from note_seq.protobuf import generator_pb2

from drums_rnn import configs
from drums_rnn import files
from drums_rnn.errors import DrumsRnnError

BUNDLE_IDS = ('one_drum', 'drum_kit')
# Marks our hparams line inside bundle_details.description.
HPARAMS_MARKER = 'drums_rnn hparams: '
METAGRAPH_BATCH_SIZE = 1

# Checkpoint entries that are not model weights (training bookkeeping).
_NON_MODEL = re.compile(r'(^|/)(global_step|beta[12]_power|Adam(_\d+)?|Momentum|'
                        r'ExponentialMovingAverage)(/|$)')

# Old CamelCase (pre TF 1.0) scope names -> current ones.
_SCOPE_ALIASES = {
    'RNN': 'rnn', 'MultiRNNCell': 'multi_rnn_cell', 'BasicLSTMCell': 'basic_lstm_cell',
    'LSTMCell': 'basic_lstm_cell', 'AttentionCellWrapper': 'attention_cell_wrapper',
    'Attention': 'attention', 'AttnW': 'attn_w', 'AttnV': 'attn_v',
    'AttnOutputProjection': 'attn_output_projection',
    'attention_output_projection': 'attn_output_projection',
    'FullyConnected': 'fully_connected', 'InputProjectionWrapper': 'input_projection_wrapper',
}
_KERNEL_NAMES = ('kernel', 'weights', 'Matrix', 'W')
_BIAS_NAMES = ('bias', 'biases', 'Bias', 'b')


# --------------------------------------------------------------------------
# Names and layouts


def normalize_name(name):
  """A spelling-independent key for a Magenta variable name.

  Maps old scope spellings to current ones, `Linear/Matrix` / `weights` /
  `kernel` to `kernel`, `Linear/Bias` / `biases` / `bias` to `bias`, and
  `CellN` to `cell_N`.
  """
  parts = []
  for part in name.split('/'):
    part = _SCOPE_ALIASES.get(part, part)
    m = re.fullmatch(r'Cell(\d+)', part)
    if m:
      part = f'cell_{m.group(1)}'
    parts.append(part)
  if len(parts) >= 2 and parts[-2] == 'Linear':  # TF < 1.0: <scope>/Linear/Matrix
    del parts[-2]
  if parts[-1] in _KERNEL_NAMES:
    parts[-1] = 'kernel'
  elif parts[-1] in _BIAS_NAMES:
    parts[-1] = 'bias'
  return '/'.join(parts)


def model_weights_only(weights):
  """Drops optimizer slots, global_step and other non-model entries."""
  return {k: v for k, v in weights.items() if not _NON_MODEL.search(k)}


def detect_layout(names):
  """('first_layer' | 'whole_stack', has_attention) from variable names."""
  keys = [normalize_name(n) for n in names]
  if any(k.startswith('rnn/attention_cell_wrapper/') for k in keys):
    return 'whole_stack', True
  if any('/attention_cell_wrapper/' in k for k in keys):
    return 'first_layer', True
  return 'first_layer', False


def infer_layer_sizes(weights):
  """rnn_layer_sizes from the LSTM bias shapes ([4 * size] per cell)."""
  sizes = {}
  for name, value in weights.items():
    m = re.search(r'/cell_(\d+)/(?:.*/)?basic_lstm_cell/bias$', normalize_name(name))
    if m:
      sizes[int(m.group(1))] = int(np.shape(value)[0]) // 4
  if not sizes or sorted(sizes) != list(range(len(sizes))):
    raise DrumsRnnError('cannot find the LSTM layers (rnn/.../cell_N/basic_lstm_cell/bias) in the checkpoint; '
                        f'variables: {", ".join(sorted(weights))}')
  return [sizes[i] for i in range(len(sizes))]


def match_weights(model, weights):
  """Maps checkpoint names onto the model's Magenta names (spelling-tolerant).

  Raises:
    DrumsRnnError listing what the model needs but the checkpoint lacks, and
    what the checkpoint holds that the model does not use.
  """
  by_key = {}
  for name, value in weights.items():
    by_key.setdefault(normalize_name(name), (name, value))
  mapped, missing = {}, []
  used = set()
  for name in model.magenta_variable_shapes():
    hit = by_key.get(normalize_name(name))
    if hit is None:
      missing.append(name)
    else:
      mapped[name] = hit[1]
      used.add(hit[0])
  unused = sorted(set(weights) - used)
  if missing or unused:
    parts = []
    if missing:
      parts.append('missing ' + ', '.join(missing))
    if unused:
      parts.append('not used by the model ' + ', '.join(unused))
    raise DrumsRnnError('checkpoint does not fit the model (' + '; '.join(parts) +
                        '): check --config/--hparams (e.g. rnn_layer_sizes, attn_length, residual_connections)')
  return mapped


# --------------------------------------------------------------------------
# Checkpoints


def read_checkpoint(path):
  """name -> np.ndarray for every tensor in a V1 or V2 checkpoint."""
  try:
    reader = tf.compat.v1.train.NewCheckpointReader(path)
    shapes = reader.get_variable_to_shape_map()
    return {name: reader.get_tensor(name) for name in shapes}
  except (tf.errors.OpError, ValueError) as e:
    raise DrumsRnnError(f'cannot read checkpoint {path!r}: {_first_line(e)}') from None


def is_magenta_checkpoint(path):
  """True when the checkpoint stores Magenta-named variables (not a TF2 object graph)."""
  try:
    names = tf.compat.v1.train.NewCheckpointReader(path).get_variable_to_shape_map()
  except (tf.errors.OpError, ValueError):
    return False
  return any(normalize_name(n).startswith(('rnn/', 'fully_connected/')) for n in names)


def resolve_checkpoint_path(path):
  """Accepts a checkpoint prefix, a V1 file, or a directory (latest inside)."""
  if os.path.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if not latest:
      raise DrumsRnnError(f'no checkpoint in directory {path!r}')
    return latest
  if os.path.isfile(path) or os.path.isfile(path + '.index'):
    return path
  raise DrumsRnnError(f'checkpoint {path!r} not found (give the prefix, e.g. model.ckpt-1000)')


def write_checkpoint(weights, path, version=1):
  """Writes name -> array as a TF1 checkpoint (V1 single file or V2 prefix).

  Any names may be used (e.g. Magenta's), which object-based TF2
  checkpoints do not allow.
  """
  with tf.Graph().as_default() as graph:
    feeds, assigns, var_list = {}, [], {}
    for name, value in weights.items():
      value = np.asarray(value)
      var = tf.compat.v1.Variable(tf.zeros(value.shape, value.dtype), name=name, use_resource=False)
      ph = tf.compat.v1.placeholder(var.dtype.base_dtype, value.shape)
      assigns.append(var.assign(ph))
      feeds[ph] = value
      var_list[name] = var
    write_version = (tf.compat.v1.train.SaverDef.V1 if version == 1 else tf.compat.v1.train.SaverDef.V2)
    saver = tf.compat.v1.train.Saver(var_list, sharded=False, write_version=write_version)
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(assigns, feeds)
      return saver.save(sess, path, write_meta_graph=False, write_state=False)


def _graph_model(config, hparams, attention_layout):
  from drums_rnn.model import DrumsRnnModel  # pylint: disable=g-import-not-at-top
  return DrumsRnnModel.from_config(config, _generate_hparams(hparams), attention_layout=attention_layout)


def _generate_hparams(hparams):
  hp = configs.HParams(dict(hparams))
  hp['dropout_keep_prob'] = 1.0
  return hp


def export_generate_graph(config, hparams, weights, attention_layout='first_layer',
                          batch_size=METAGRAPH_BATCH_SIZE):
  """(V1 checkpoint bytes, MetaGraphDef bytes) of Magenta's generate graph.

  The model is rebuilt in a TF1 graph: a `[batch, None, input_size]` inputs
  placeholder, a scalar temperature placeholder, `softmax` = softmax(logits /
  temperature) as `[batch, T, num_classes]`, and the zero / final states in
  Magenta's flattened order (without our internal attention cache, which the
  model recomputes from the window when it is absent).
  """
  with tempfile.TemporaryDirectory(prefix='drums_rnn_bundle_') as tmp:
    graph = tf.Graph()
    with graph.as_default():
      model = _graph_model(config, hparams, attention_layout)
      enc = config.encoding
      inputs = tf.compat.v1.placeholder(tf.float32, [batch_size, None, enc.input_size], name='inputs')
      temperature = tf.compat.v1.placeholder(tf.float32, [], name='temperature')
      _, num_magenta = model.state_sizes()
      initial_state = model.zero_state(batch_size)[:num_magenta]
      logits, final_state = model(inputs, initial_state)
      final_state = final_state[:num_magenta]
      softmax = tf.reshape(tf.nn.softmax(logits / temperature), [batch_size, -1, enc.num_classes],
                           name='softmax')
      for name, value in (('inputs', inputs), ('temperature', temperature), ('softmax', softmax)):
        tf.compat.v1.add_to_collection(name, value)
      for s in initial_state:
        tf.compat.v1.add_to_collection('initial_state', s)
      for s in final_state:
        tf.compat.v1.add_to_collection('final_state', s)
      var_list = {v.name.split(':')[0]: v for v in model.weights.values()}
      if set(var_list) != set(model.magenta_variable_shapes()):
        raise DrumsRnnError('internal: graph variables are not named like Magenta\'s')
      saver = tf.compat.v1.train.Saver(var_list, sharded=False,
                                       write_version=tf.compat.v1.train.SaverDef.V1)
      meta = saver.export_meta_graph(clear_devices=True)
      _zero_initial_values(meta, [v.initial_value.op.name for v in var_list.values()])
      # Loading values through placeholders keeps them out of the graph.
      feeds, assigns = {}, []
      for name, var in var_list.items():
        ph = tf.compat.v1.placeholder(tf.float32, var.shape)
        assigns.append(var.assign(ph))
        feeds[ph] = np.asarray(weights[name], np.float32)
      ckpt = os.path.join(tmp, 'model.ckpt')
      with tf.compat.v1.Session(graph=graph) as sess:
        sess.run(assigns, feeds)
        saver.save(sess, ckpt, write_meta_graph=False, write_state=False)
    with open(ckpt, 'rb') as f:
      ckpt_bytes = f.read()
  return ckpt_bytes, meta.SerializeToString()


def _zero_initial_values(meta, node_names):
  """Shrinks the variables' initial-value constants to all-zero fills.

  The model creates its variables from numpy values, which a graph stores as
  constants as big as the weights. Magenta never runs those initializers (it
  restores the checkpoint), so a TensorProto holding one 0.0 (repeated to
  the shape) keeps the graph valid at a fraction of the size.
  """
  wanted = set(node_names)
  for node in meta.graph_def.node:
    if node.name in wanted and node.op == 'Const':
      tensor = node.attr['value'].tensor
      shape = tf.TensorShape(tensor.tensor_shape)
      replacement = tf.make_tensor_proto(0.0, dtype=tf.float32, shape=[1])
      replacement.tensor_shape.CopyFrom(shape.as_proto())
      tensor.CopyFrom(replacement)


# --------------------------------------------------------------------------
# Bundles


def read_bundle(path):
  """Parses a `.mag` file; clear errors for missing or non-bundle files."""
  try:
    with open(path, 'rb') as f:
      data = f.read()
  except OSError as e:
    raise DrumsRnnError(f'cannot read bundle {path!r}: {e.strerror or e}') from None
  bundle = generator_pb2.GeneratorBundle()
  try:
    bundle.ParseFromString(data)
  except (pb_message.DecodeError, ValueError):
    raise DrumsRnnError(f'{path!r} is not a generator bundle (.mag)') from None
  if not bundle.checkpoint_file or not bundle.generator_details.id:
    raise DrumsRnnError(f'{path!r} is not a generator bundle (.mag): no generator id or checkpoint')
  if bundle_config_name(bundle) not in BUNDLE_IDS:
    raise DrumsRnnError(f'bundle {path!r} has generator id {bundle.generator_details.id!r}; '
                        f'drums_rnn bundles are {" or ".join(BUNDLE_IDS)}')
  return bundle


def bundle_config_name(bundle):
  """The config a bundle was made with: its generator id, or, for a bundle saved
  with a custom `--generator_id`, the config recorded in our hparams line."""
  if bundle.generator_details.id in BUNDLE_IDS:
    return bundle.generator_details.id
  return (bundle_hparams(bundle) or {}).get('config', bundle.generator_details.id)


def bundle_hparams(bundle):
  """Our hparams JSON from bundle_details.description, or None (Magenta's bundles)."""
  for line in bundle.bundle_details.description.splitlines():
    if line.startswith(HPARAMS_MARKER):
      try:
        return json.loads(line[len(HPARAMS_MARKER):])
      except ValueError:
        logging.warning('ignoring a malformed hparams line in the bundle description')
  return None


def user_description(bundle):
  """bundle_details.description without our hparams line."""
  lines = [l for l in bundle.bundle_details.description.splitlines() if not l.startswith(HPARAMS_MARKER)]
  return '\n'.join(lines)


def make_bundle(config, hparams, weights, attention_layout='first_layer', description=None,
                generator_id=None, generator_description=None):
  """A GeneratorBundle proto for a model given by its Magenta weights.

  `generator_id` / `generator_description` override the config's details, as
  Magenta's flags of those names do. Magenta looks a bundle's config up by its
  id, so only it reads such a bundle back if the id is a config name; we
  record the config in our hparams line and read it from there.
  """
  ckpt_bytes, meta_bytes = export_generate_graph(config, hparams, weights, attention_layout)
  bundle = generator_pb2.GeneratorBundle()
  bundle.generator_details.id = generator_id or config.name
  bundle.generator_details.description = generator_description or config.description
  if bundle.generator_details.id not in BUNDLE_IDS:
    logging.warning('generator id %r is not a config name: Magenta\'s drums_rnn_generate will not '
                    'load this bundle (drums_rnn will, as %s)', generator_id, config.name)
  hp = dict(hparams)
  hp['attention_layout'] = attention_layout
  hp['config'] = config.name
  lines = [description] if description else []
  lines.append(HPARAMS_MARKER + json.dumps(hp, sort_keys=True))
  bundle.bundle_details.description = '\n'.join(lines)
  bundle.checkpoint_file.append(ckpt_bytes)
  bundle.metagraph_file = meta_bytes
  return bundle


def save_bundle(path, config, hparams, model, description=None, generator_id=None,
                generator_description=None):
  """Writes `model` as a Magenta-readable `.mag` at `path` (atomically)."""
  if not description:
    logging.warning('no --bundle_description given; the bundle has only the generator description')
  bundle = make_bundle(config, hparams, model.get_magenta_weights(), model.attention_layout, description,
                       generator_id, generator_description)
  files.write_bytes_atomic(path, bundle.SerializeToString())
  logging.info('wrote generator bundle %s (%d bytes of checkpoint)', path, len(bundle.checkpoint_file[0]))
  return path


def metagraph_attn_length(metagraph_bytes, layout, num_layers, attn_size):
  """attn_length from the window width in the metagraph's state, or None."""
  if not metagraph_bytes or not attn_size:
    return None
  try:
    meta = tf.compat.v1.MetaGraphDef()
    meta.ParseFromString(metagraph_bytes)
    with tf.Graph().as_default() as graph:
      tf.compat.v1.train.import_meta_graph(meta, clear_devices=True)
      states = graph.get_collection('initial_state')
      widths = [s.shape.as_list()[-1] for s in states]
  except Exception as e:  # pylint: disable=broad-except
    logging.info('cannot read the state shapes from the bundle metagraph: %s', _first_line(e))
    return None
  index = 3 if layout == 'first_layer' else 2 * num_layers + 1
  if index >= len(widths) or widths[index] is None or widths[index] % attn_size:
    return None
  return widths[index] // attn_size


def model_from_weights(config, weights, hparams=None, user_hparams='', metagraph=None):
  """Builds a generation model from Magenta-named weights.

  Args:
    config: the DrumsRnnConfig.
    weights: name -> array (any supported spelling; extra training entries ok).
    hparams: saved hparams dict (ours) or None.
    user_hparams: the user's `--hparams` string, applied last.
    metagraph: MetaGraphDef bytes to read attn_length from, if needed.
  Returns:
    (hparams, model).
  """
  from drums_rnn.model import DrumsRnnModel  # pylint: disable=g-import-not-at-top
  weights = model_weights_only(weights)
  layout, has_attention = detect_layout(weights)
  saved = dict(hparams or {})
  layout = saved.pop('attention_layout', layout)
  saved.pop('config', None)
  hp = config.hparams(saved)
  sizes = infer_layer_sizes(weights)
  hp['rnn_layer_sizes'] = sizes
  if not has_attention:
    hp['attn_length'] = 0
  elif not hparams or not hparams.get('attn_length'):
    attn_size = sizes[-1] if layout == 'whole_stack' else sizes[0]
    from_meta = metagraph_attn_length(metagraph, layout, len(sizes), attn_size)
    if from_meta:
      hp['attn_length'] = from_meta
    elif not hp['attn_length']:
      raise DrumsRnnError('the checkpoint has attention but its attn_length is unknown: '
                          'pass --hparams=attn_length=N')
    else:
      logging.warning('attn_length not stored in the checkpoint; using the config default %d',
                      hp['attn_length'])
  hp['residual_connections'] = any('input_projection_wrapper' in normalize_name(n) for n in weights) or \
      hp.get('residual_connections', False)
  if user_hparams:
    hp.update(configs.parse_hparams(user_hparams, hp))
  model = DrumsRnnModel.from_config(config, _generate_hparams(hp), attention_layout=layout)
  model.set_magenta_weights(match_weights(model, weights))
  logging.info('loaded %s model: layers %s, attn_length %d, attention layout %s',
               config.name, hp['rnn_layer_sizes'], hp['attn_length'], layout)
  return hp, model


def load_bundle(path, user_hparams=''):
  """(config, hparams, model, bundle) from a `.mag` file (ours or Magenta's)."""
  bundle = read_bundle(path)
  config = configs.get_config(bundle_config_name(bundle))
  with tempfile.TemporaryDirectory(prefix='drums_rnn_bundle_') as tmp:
    ckpt = os.path.join(tmp, 'model.ckpt')
    with open(ckpt, 'wb') as f:
      f.write(bundle.checkpoint_file[0])
    try:
      weights = read_checkpoint(ckpt)
    except DrumsRnnError:
      raise DrumsRnnError(f'bundle {path!r} does not hold a readable checkpoint') from None
  hp, model = model_from_weights(config, weights, bundle_hparams(bundle), user_hparams,
                                 bundle.metagraph_file)
  return config, hp, model, bundle


def load_checkpoint_model(path, config_name=None, user_hparams=''):
  """(config, hparams, model) from a checkpoint: Magenta's (by name) or ours (TF2)."""
  from drums_rnn import run_dir  # pylint: disable=g-import-not-at-top
  path = resolve_checkpoint_path(path)
  if is_magenta_checkpoint(path):
    config = configs.get_config(config_name or 'drum_kit')
    hp, model = model_from_weights(config, read_checkpoint(path), None, user_hparams)
    return config, hp, model
  config, hp, model = run_dir.load_model(path)
  if user_hparams:
    logging.warning('--hparams ignored: the run directory\'s saved hparams are used')
  return config, hp, model


def _first_line(e):
  text = str(e).strip()
  return text.splitlines()[0] if text else type(e).__name__
