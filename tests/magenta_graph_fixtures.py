"""Magenta-layout TF1 graphs and checkpoints, built by TensorFlow's own cells.

The compatibility tests need checkpoints that look exactly like the ones
Magenta writes, and the probabilities Magenta's graph computes from them.
Magenta itself is not installed here, so this module rebuilds its generate
graph with ``tf.compat.v1`` RNN cells (``BasicLSTMCell``, ``MultiRNNCell``,
``dynamic_rnn``) and a small TF1 attention wrapper written to the maths and
variable names of the reference (sections 2.3, 2.5, 2.6).

Legacy cells need Keras 2 (``tf-keras`` with ``TF_USE_LEGACY_KERAS=1``), an
environment-wide switch, so the graph is built in a SUBPROCESS running this
file as a script; the test process keeps TF2/Keras 3 untouched.

Two layouts:
  * ``first_layer`` (Magenta since 2017): attention wraps only layer 0,
    ``rnn/multi_rnn_cell/cell_0/attention_cell_wrapper/...``.
  * ``whole_stack`` (the 2016 pretrained bundle): attention wraps the whole
    ``MultiRNNCell``, ``rnn/attention_cell_wrapper/multi_rnn_cell/...``, with
    a configurable projection scope name (``attn_output_projection`` or
    ``attention_output_projection``).
"""

import json
import os
import subprocess
import sys

import numpy as np

# The softmax is computed for this many random one-hot-ish input steps.
DEFAULT_STEPS = 6


def build_magenta_fixtures(specs, timeout=300):
  """Builds several Magenta-layout graphs in ONE subprocess (one TF import).

  Each spec is a dict of :func:`build_magenta_fixture` keyword arguments
  (``out_dir`` required). Returns the list of artefact dicts, in order.
  """
  payload = []
  for spec in specs:
    args = dict(_DEFAULTS)
    args.update(spec)
    args['out_dir'] = os.path.abspath(args['out_dir'])
    args['rnn_layer_sizes'] = [int(n) for n in args['rnn_layer_sizes']]
    os.makedirs(args['out_dir'], exist_ok=True)
    payload.append(args)
  env = dict(os.environ)
  env['TF_USE_LEGACY_KERAS'] = '1'
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  env['CUDA_VISIBLE_DEVICES'] = env.get('CUDA_VISIBLE_DEVICES', '')
  proc = subprocess.run([sys.executable, os.path.abspath(__file__), json.dumps(payload)],
                        env=env, capture_output=True, text=True, timeout=timeout)
  if proc.returncode != 0:
    raise RuntimeError(f'fixture subprocess failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
  return [_load_artefacts(args['out_dir']) for args in payload]


_DEFAULTS = dict(layout='first_layer', rnn_layer_sizes=(8, 8), attn_length=3, input_size=12,
                 num_classes=8, projection_scope='attn_output_projection', batch_size=2,
                 num_steps=DEFAULT_STEPS, seed=0, generator_id=None)


def build_magenta_fixture(out_dir, **kwargs):
  """Builds one Magenta-layout graph in a subprocess; returns its artefacts.

  Writes into `out_dir`: `model.ckpt` (single-file V1 checkpoint with only
  the model variables, like a Magenta bundle), `model.ckpt.meta` (the
  generate metagraph with Magenta's collections), `data.npz` (`inputs`
  [batch, T, input_size], `softmax` [batch, T, num_classes] at temperature
  1, `softmax_t` at temperature 0.7) and, when `generator_id` is given,
  `bundle.mag` (a GeneratorBundle like Magenta's create_bundle_file).
  Keyword arguments: layout ('first_layer'/'whole_stack'), rnn_layer_sizes,
  attn_length (0 = none), input_size, num_classes, projection_scope,
  batch_size, num_steps, seed, generator_id.

  Returns:
    dict with keys checkpoint, metagraph, bundle (or None), inputs, softmax,
    softmax_t, variables (name -> shape).
  """
  return build_magenta_fixtures([dict(kwargs, out_dir=out_dir)])[0]


def _load_artefacts(out_dir):
  data = np.load(os.path.join(out_dir, 'data.npz'))
  with open(os.path.join(out_dir, 'variables.json')) as f:
    variables = json.load(f)
  bundle = os.path.join(out_dir, 'bundle.mag')
  return dict(checkpoint=os.path.join(out_dir, 'model.ckpt'),
              metagraph=os.path.join(out_dir, 'model.ckpt.meta'),
              bundle=bundle if os.path.exists(bundle) else None,
              inputs=data['inputs'], softmax=data['softmax'], softmax_t=data['softmax_t'],
              variables={k: tuple(v) for k, v in variables.items()})


# --------------------------------------------------------------------------
# Everything below runs only in the subprocess (legacy Keras 2 cells).


def _make_attention_wrapper_class(tf, projection_scope):
  """A TF1 RNNCell with the AttentionCellWrapper maths and variable names.

  The class is named AttentionCellWrapper so that TF1's automatic layer
  scope is `attention_cell_wrapper`, as in Magenta.
  """
  v1 = tf.compat.v1

  def linear(args, output_size):
    # Like TF1's _Linear: one kernel over the concatenated args, zero-init
    # bias, variables `kernel`/`bias` in the current variable scope.
    x = tf.concat(args, 1) if isinstance(args, (list, tuple)) else args
    kernel = v1.get_variable('kernel', [x.shape[1], output_size])
    bias = v1.get_variable('bias', [output_size], initializer=v1.zeros_initializer())
    return tf.matmul(x, kernel) + bias

  class AttentionCellWrapper(v1.nn.rnn_cell.RNNCell):

    def __init__(self, cell, attn_length):
      super().__init__()
      self._cell = cell
      self._attn_length = attn_length
      self._attn_size = cell.output_size

    @property
    def state_size(self):
      return (self._cell.state_size, self._attn_size, self._attn_size * self._attn_length)

    @property
    def output_size(self):
      return self._attn_size

    def call(self, inputs, state):
      cell_state, attns, attn_states = state
      length, size = self._attn_length, self._attn_size
      attn_states = tf.reshape(attn_states, [-1, length, size])
      x = linear([inputs, attns], inputs.shape[1])
      cell_output, new_cell_state = self._cell(x, cell_state)
      query = tf.concat(tf.nest.flatten(new_cell_state), 1)
      with v1.variable_scope('attention'):
        k = v1.get_variable('attn_w', [1, 1, size, size])
        v = v1.get_variable('attn_v', [size])
        hidden = tf.reshape(attn_states, [-1, length, 1, size])
        features = tf.nn.conv2d(hidden, k, [1, 1, 1, 1], 'SAME')
        y = tf.reshape(linear(query, size), [-1, 1, 1, size])
        scores = tf.reduce_sum(v * tf.tanh(features + y), [2, 3])
        weights = tf.nn.softmax(scores)
        new_attns = tf.reshape(tf.reduce_sum(tf.reshape(weights, [-1, length, 1, 1]) * hidden, [1, 2]),
                               [-1, size])
        kept = attn_states[:, 1:, :]
      with v1.variable_scope(projection_scope):
        output = linear([cell_output, new_attns], size)
      new_attn_states = tf.reshape(tf.concat([kept, output[:, None, :]], 1), [-1, length * size])
      return output, (new_cell_state, new_attns, new_attn_states)

  return AttentionCellWrapper


def _build_and_save(args):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from note_seq.protobuf import generator_pb2  # pylint: disable=g-import-not-at-top
  v1 = tf.compat.v1
  rng = np.random.RandomState(args['seed'])
  sizes = args['rnn_layer_sizes']
  batch, input_size, num_classes = args['batch_size'], args['input_size'], args['num_classes']
  wrapper_cls = _make_attention_wrapper_class(tf, args['projection_scope'])

  graph = tf.Graph()
  with graph.as_default():
    inputs = v1.placeholder(tf.float32, [batch, None, input_size])
    temperature = v1.placeholder(tf.float32, [])
    lstms = [v1.nn.rnn_cell.BasicLSTMCell(n) for n in sizes]
    attn = args['attn_length']
    if attn and args['layout'] == 'first_layer':
      lstms[0] = wrapper_cls(lstms[0], attn)
      cell = v1.nn.rnn_cell.MultiRNNCell(lstms)
    elif attn:
      cell = wrapper_cls(v1.nn.rnn_cell.MultiRNNCell(lstms), attn)
    else:
      cell = v1.nn.rnn_cell.MultiRNNCell(lstms)
    initial_state = cell.zero_state(batch, tf.float32)
    outputs, final_state = v1.nn.dynamic_rnn(cell, inputs, initial_state=initial_state)
    flat = tf.reshape(outputs, [-1, outputs.shape[-1]])
    with v1.variable_scope('fully_connected'):
      weights = v1.get_variable('weights', [flat.shape[1], num_classes])
      biases = v1.get_variable('biases', [num_classes], initializer=v1.zeros_initializer())
    logits = tf.matmul(flat, weights) + biases
    softmax = tf.reshape(tf.nn.softmax(logits / temperature), [batch, -1, num_classes])
    v1.add_to_collection('inputs', inputs)
    v1.add_to_collection('temperature', temperature)
    v1.add_to_collection('softmax', softmax)
    for s in tf.nest.flatten(initial_state):
      v1.add_to_collection('initial_state', s)
    for s in tf.nest.flatten(final_state):
      v1.add_to_collection('final_state', s)
    variables = v1.global_variables()
    # Random (not zero) values everywhere so every weight matters.
    assigns = [v.assign(rng.uniform(-0.4, 0.4, v.shape.as_list()).astype(np.float32)) for v in variables]
    saver = v1.train.Saver(variables, sharded=False, write_version=v1.train.SaverDef.V1)
    x = np.zeros((batch, args['num_steps'], input_size), np.float32)
    hot = rng.randint(0, input_size, size=(batch, args['num_steps']))
    x[np.arange(batch)[:, None], np.arange(args['num_steps'])[None, :], hot] = 1.0
    x += rng.uniform(-0.2, 0.2, x.shape).astype(np.float32)
    with v1.Session() as sess:
      sess.run(assigns)
      p1 = sess.run(softmax, {inputs: x, temperature: 1.0})
      p2 = sess.run(softmax, {inputs: x, temperature: 0.7})
      ckpt = os.path.join(args['out_dir'], 'model.ckpt')
      saver.save(sess, ckpt, write_meta_graph=False)
      saver.export_meta_graph(ckpt + '.meta')
    names = {v.op.name: v.shape.as_list() for v in variables}

  np.savez(os.path.join(args['out_dir'], 'data.npz'), inputs=x, softmax=p1, softmax_t=p2)
  with open(os.path.join(args['out_dir'], 'variables.json'), 'w') as f:
    json.dump(names, f)
  if args.get('generator_id'):
    bundle = generator_pb2.GeneratorBundle()
    bundle.generator_details.id = args['generator_id']
    bundle.generator_details.description = 'fixture built with tf.compat.v1 cells'
    with open(ckpt, 'rb') as f:
      bundle.checkpoint_file.append(f.read())
    with open(ckpt + '.meta', 'rb') as f:
      bundle.metagraph_file = f.read()
    with open(os.path.join(args['out_dir'], 'bundle.mag'), 'wb') as f:
      f.write(bundle.SerializeToString())


if __name__ == '__main__':
  for spec in json.loads(sys.argv[1]):
    _build_and_save(spec)
