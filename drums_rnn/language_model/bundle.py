"""A Drums RNN as a Magenta `.mag` bundle: its weights and Magenta's TF1 generate graph.

Writing (:func:`make_bundle`): the model is rebuilt inside a ``tf.Graph``
(its variables then carry Magenta's names), the generate graph is exported
as a metagraph whose collections (``inputs``, ``temperature``, ``softmax``,
``initial_state``, ``final_state``) are what Magenta's own
``drums_rnn_generate`` drives, and the weights are saved with a V1 ``Saver``,
as Magenta's ``create_bundle_file`` does; the container is
:mod:`drums_rnn.bundle`'s.

Reading: :func:`metagraph_attn_length` gives the attention length from the
graph's state shapes (no variable records it); the model is built from the
bundle's named weights by
:func:`drums_rnn.language_model.magenta_names.model_from_weights`.
"""

import os
import tempfile

import numpy as np
import tensorflow as tf
from absl import logging

from drums_rnn import bundle as bundle_lib
from drums_rnn.errors import DrumsRnnError
from drums_rnn.errors import first_line
from drums_rnn.language_model import magenta_names
from drums_rnn.language_model.model import DrumsRnnModel
from drums_rnn.nn import weights as weights_lib

METAGRAPH_BATCH_SIZE = 1


def _graph_model(config, hparams, attention_layout):
  return DrumsRnnModel.from_config(config, magenta_names.generate_hparams(hparams),
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
      with tf.compat.v1.Session(graph=graph) as sess, weights_lib.quiet_tf_logging():
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
    logging.info('cannot read the state shapes from the bundle metagraph: %s', first_line(e))
    return None
  index = 3 if layout == 'first_layer' else 2 * len(rnn_layer_sizes) + 1
  if index >= len(widths) or widths[index] is None or widths[index] % attn_size:
    return None
  return widths[index] // attn_size


def make_bundle(config, hparams, weights, attention_layout='first_layer', description=None,
                generator_id=None, generator_description=None):
  """A GeneratorBundle proto for a model given by its Magenta weights (Magenta-readable)."""
  ckpt_bytes, meta_bytes = export_generate_graph(config, hparams, weights, attention_layout)
  return bundle_lib.new_bundle(config, dict(hparams, attention_layout=attention_layout), ckpt_bytes,
                               description, generator_id, generator_description, meta_bytes)
