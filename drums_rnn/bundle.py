"""The `.mag` generator bundle format, as Magenta writes and reads it.

A bundle is a serialized note-seq ``GeneratorBundle``: the generator id
(``one_drum`` / ``drum_kit``), descriptions, the bytes of ONE single-file
(V1) TF checkpoint holding the model variables under Magenta's names, and a
TF1 ``MetaGraphDef`` of the generate graph, whose collections (``inputs``,
``temperature``, ``softmax``, ``initial_state``, ``final_state``) are what
Magenta's own ``drums_rnn_generate`` drives.

Writing (:func:`save_bundle`): the model is rebuilt inside a ``tf.Graph``
(its variables then carry Magenta's names), the generate graph is exported
as a metagraph and the weights are saved with a V1 ``Saver``, as Magenta's
``create_bundle_file`` does. Our hparams go into
``bundle_details.description`` as one marked JSON line, which Magenta never
reads. The file is written with the safe writer, opened before the export
starts, so an unwritable place fails at once.

Reading: :func:`read_bundle` parses and checks the proto,
:func:`bundle_weights` gives its checkpoint's named weights and
:func:`metagraph_attn_length` the attention length from the graph's state
shapes (no variable records it). Building the model from them is
:func:`drums_rnn.language_model.magenta_names.model_from_weights`, called by
:func:`drums_rnn.loading.load_model`.
"""

import json
import os
import tempfile

import numpy as np
import tensorflow as tf
from absl import logging
from google.protobuf import message as pb_message
from note_seq.protobuf import generator_pb2

from drums_rnn.language_model import magenta_names as checkpoints
from drums_rnn import errors
from drums_rnn import files
from drums_rnn.errors import DrumsRnnError

BUNDLE_IDS = ('one_drum', 'drum_kit', 'humanizer')
# Marks our hparams line inside bundle_details.description.
HPARAMS_MARKER = 'drums_rnn hparams: '
METAGRAPH_BATCH_SIZE = 1


# --------------------------------------------------------------------------
# The TF1 generate graph


def _graph_model(config, hparams, attention_layout):
  from drums_rnn.language_model.model import DrumsRnnModel  # pylint: disable=import-outside-toplevel
  return DrumsRnnModel.from_config(config, checkpoints.generate_hparams(hparams),
                                   attention_layout=attention_layout)


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
      with tf.compat.v1.Session(graph=graph) as sess, checkpoints.quiet_tf_logging():
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


def metagraph_attn_length(metagraph_bytes, layout, rnn_layer_sizes):
  """attn_length from the window width in a bundle metagraph's state, or None."""
  attn_size = rnn_layer_sizes[-1] if layout == 'whole_stack' else rnn_layer_sizes[0]
  if not metagraph_bytes or not attn_size:
    return None
  try:
    meta = tf.compat.v1.MetaGraphDef()
    meta.ParseFromString(metagraph_bytes)
    with tf.Graph().as_default() as graph:
      tf.compat.v1.train.import_meta_graph(meta, clear_devices=True)
      states = graph.get_collection('initial_state')
      widths = [s.shape.as_list()[-1] for s in states]
  except Exception as e:  # pylint: disable=broad-except  (any malformed graph: fall back to the default)
    logging.info('cannot read the state shapes from the bundle metagraph: %s', errors.first_line(e))
    return None
  index = 3 if layout == 'first_layer' else 2 * len(rnn_layer_sizes) + 1
  if index >= len(widths) or widths[index] is None or widths[index] % attn_size:
    return None
  return widths[index] // attn_size


# --------------------------------------------------------------------------
# The GeneratorBundle proto


def read_bundle(path):
  """Parses a `.mag` file; clear errors for missing or non-bundle files."""
  try:
    with open(path, 'rb') as f:
      data = f.read()
  except OSError as e:
    raise DrumsRnnError(f'cannot read bundle {path!r}: {files.describe_os_error(e)}') from None
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
  with a custom generator id, the config recorded in our hparams line."""
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


def bundle_weights(bundle, path='bundle'):
  """name -> array of the V1 checkpoint inside a bundle (`path` names it in errors)."""
  with tempfile.TemporaryDirectory(prefix='drums_rnn_bundle_') as tmp:
    ckpt = os.path.join(tmp, 'model.ckpt')
    with open(ckpt, 'wb') as f:
      f.write(bundle.checkpoint_file[0])
    try:
      return checkpoints.read_checkpoint(ckpt)
    except DrumsRnnError:
      raise DrumsRnnError(f'bundle {path!r} does not hold a readable checkpoint') from None


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


def make_humanizer_bundle(config, hparams, weights, description=None):
  """A GeneratorBundle of the humanizer: the same container as a drum model's.

  Its id is ``humanizer``, its weights a V1 checkpoint under the names of
  :class:`drums_rnn.humanizer.model.HumanizerModel` and its hparams the
  marked line; there is no generate graph (Magenta has no humanizer to run
  one), so Magenta's tools list such a bundle but cannot generate from it.
  """
  with tempfile.TemporaryDirectory(prefix='drums_rnn_bundle_') as tmp:
    ckpt = checkpoints.write_checkpoint(weights, os.path.join(tmp, 'humanizer.ckpt'), version=1)
    with open(ckpt, 'rb') as f:
      ckpt_bytes = f.read()
  bundle = generator_pb2.GeneratorBundle()
  bundle.generator_details.id = config.name
  bundle.generator_details.description = config.description
  hp = dict(hparams, config=config.name)
  lines = [description] if description else []
  lines.append(HPARAMS_MARKER + json.dumps(hp, sort_keys=True))
  bundle.bundle_details.description = '\n'.join(lines)
  bundle.checkpoint_file.append(ckpt_bytes)
  return bundle


def save_bundle(path, config, hparams, model, description=None, generator_id=None,
                generator_description=None):
  """Writes `model` as a `.mag` at `path` (atomically; Magenta-readable for the drum configs); returns `path`."""
  if not description:
    logging.warning('no bundle description given; the bundle has only the generator description')
  with files.open_atomic(path, 'wb') as f:  # opened first: an unwritable place fails before the export
    if config.kind == 'humanizer':
      bundle = make_humanizer_bundle(config, hparams, model.get_weights(), description)
    else:
      bundle = make_bundle(config, hparams, model.get_magenta_weights(), model.attention_layout,
                           description, generator_id, generator_description)
    f.write(bundle.SerializeToString())
  logging.info('wrote generator bundle %s (%d bytes of checkpoint)', path, len(bundle.checkpoint_file[0]))
  return path
