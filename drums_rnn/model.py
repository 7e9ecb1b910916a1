"""The Drums RNN network: an LSTM stack with attention, in plain TF ops.

This is Magenta's `events_rnn_graph.make_rnn_cell` network rebuilt as a
`tf.Module` (see the spec's "Model" section and reference 2.1-2.7):

* a stack of BasicLSTMCell layers (forget bias 1.0 added at run time, one
  kernel over ``[input, h]`` with gates in the order i, j, f, o);
* when ``attn_length > 0`` Magenta's AttentionCellWrapper around the first
  layer (``attention_layout='first_layer'``, the current code) or around the
  whole stack (``'whole_stack'``, the layout of the 2016 pretrained
  `drum_kit_rnn.mag`, reference 2.6);
* optional residual connections (ResidualWrapper, plus an
  InputProjectionWrapper on layer 0 and wherever the size changes);
* output dropout on every layer while training;
* a linear layer to the class logits (``fully_connected``).

Variables are stored in Magenta's layout under Magenta's checkpoint names
(``rnn/multi_rnn_cell/cell_0/...``), created with no enclosing name scope, so
that building the model inside a TF1 ``tf.Graph`` gives variable ops named
exactly like Magenta's and a checkpoint Magenta can read. The maths uses only
matmul / sigmoid / tanh / softmax, so it runs eagerly, in `tf.function` and in
TF1 graphs alike.

Two ways to run it:

* :meth:`DrumsRnnModel.step` - one time step with an explicit state (used by
  generation). It follows Magenta's formulas literally.
* :meth:`DrumsRnnModel.__call__` - a whole ``[B, T, input_size]`` batch (used
  by training and evaluation). It computes the same function faster: each
  layer runs over all time steps before the next one starts, so the input
  half of every LSTM matmul is one big matmul per layer; only the recurrent
  half runs inside the time loop. For the attention layer the input
  projection is folded into the LSTM kernel (``W_in[:x] @ K[:x]``) and the
  1x1 "convolution" of the attention window is computed once per written
  slot and carried in the state instead of once per step for all slots.
  Training is dominated by backpropagation through the time loops, so each
  layer's loop has a hand-written gradient (`_attention_loop`, `_lstm_loop`)
  that keeps only per-step vectors and runs far fewer ops per step than TF's
  automatic while-loop gradient (set ``model.fused_gradient = False`` for
  the autodiff version; the tests check both agree). Inputs may also be
  given as :class:`CompactInputs` (one-hot index + extras).

State: a tuple of float32 ``[B, n]`` tensors in Magenta's flattened order
(reference 2.5: per layer ``c, h``; the attention layer adds ``a`` and the
window ``H`` after its LSTM's ``c, h``), followed by one internal cache, the
window's attention features ``F = H @ attn_w`` (``[B, attn_length *
attn_size]``). A state without the cache (e.g. Magenta's own
``initial_state``) is accepted: the cache is then recomputed from ``H``.
"""

import collections

import numpy as np
import tensorflow as tf
from absl import logging

from drums_rnn.errors import DrumsRnnError

FORGET_BIAS = 1.0
ATTENTION_LAYOUTS = ('first_layer', 'whole_stack')

class CompactInputs(collections.namedtuple('CompactInputs', ['classes', 'extras'])):
  """Model inputs whose leading part is one-hot, given by the hot index.

  `classes` [B, T] int32 is the index of the 1.0 in the first
  `input_size - extras_width` columns (-1 for an all-zero row, e.g. padding);
  `extras` [B, T, extras_width] float32 holds the remaining columns (drum_kit's
  binary counters; width 0 for one_drum). The first layer then gathers kernel
  rows instead of multiplying by a mostly-zero matrix: for drum_kit that
  removes a [B*T, 518] x [518, 1024] matmul (and its gradient) per batch.
  `DrumsRnnModel.__call__` accepts it wherever it accepts dense inputs.
  """

  def to_dense(self, input_size):
    extras = tf.convert_to_tensor(self.extras, tf.float32)
    one_hot = tf.one_hot(self.classes, input_size - extras.shape[-1], dtype=tf.float32)
    return tf.concat([one_hot, extras], -1)


_Layer = collections.namedtuple(
    '_Layer', ['index', 'size', 'input_size', 'prefix', 'projection', 'residual', 'attention'])


def _glorot(rng, shape):
  """Glorot (Xavier) uniform values as TF's initializer computes the fans."""
  if len(shape) == 1:
    fan_in = fan_out = shape[0]
  else:
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
  limit = np.sqrt(6.0 / (fan_in + fan_out))
  return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def _lstm(z, c):
  """BasicLSTMCell maths from the gate pre-activations z = [x, h] @ K + b."""
  i, j, f, o = tf.split(z, 4, axis=1)
  new_c = c * tf.sigmoid(f + FORGET_BIAS) + tf.sigmoid(i) * tf.tanh(j)
  new_h = tf.tanh(new_c) * tf.sigmoid(o)
  return new_c, new_h


class DrumsRnnModel(tf.Module):
  """LSTM stack with optional attention and residual connections.

  Args:
    input_size: width of one input vector (518 for drum_kit, 2 for one_drum).
    num_classes: number of output classes (512 / 2).
    rnn_layer_sizes: list of LSTM sizes.
    attn_length: attention window length; 0 disables attention.
    residual_connections: Magenta's residual wrappers (first_layer only).
    dropout_keep_prob: output keep probability of each layer when training.
    attention_layout: 'first_layer' (Magenta since 2017) or 'whole_stack'
      (the 2016 pretrained bundle).
    seed: seeds the initial weights (Glorot uniform kernels, zero biases).
  """

  def __init__(self, input_size, num_classes, rnn_layer_sizes, attn_length=0,
               residual_connections=False, dropout_keep_prob=1.0,
               attention_layout='first_layer', seed=None):
    super().__init__(name=None)
    if attention_layout not in ATTENTION_LAYOUTS:
      raise DrumsRnnError(f'unknown attention_layout {attention_layout!r}: '
                          f'choose one of {", ".join(ATTENTION_LAYOUTS)}')
    rnn_layer_sizes = [int(s) for s in rnn_layer_sizes]
    if not rnn_layer_sizes or min(rnn_layer_sizes) <= 0:
      raise DrumsRnnError(f'rnn_layer_sizes must be positive integers, got {rnn_layer_sizes}')
    if attn_length < 0:
      raise DrumsRnnError(f'attn_length must be >= 0, got {attn_length}')
    if not 0.0 < dropout_keep_prob <= 1.0:
      raise DrumsRnnError(f'dropout_keep_prob must be in (0, 1], got {dropout_keep_prob}')
    if attention_layout == 'whole_stack' and residual_connections:
      raise DrumsRnnError('residual_connections are not supported with the whole_stack attention layout')
    self.input_size = int(input_size)
    self.num_classes = int(num_classes)
    self.rnn_layer_sizes = rnn_layer_sizes
    self.attn_length = int(attn_length)
    self.residual_connections = bool(residual_connections)
    self.dropout_keep_prob = float(dropout_keep_prob)
    self.attention_layout = attention_layout
    self.whole_stack = bool(self.attn_length) and attention_layout == 'whole_stack'
    # Whole sequences use hand-written gradients (`_attention_loop`,
    # `_lstm_loop`); False gives plain autodiff loops (the tests' reference).
    self.fused_gradient = True

    self._layers = self._plan_layers()
    self._shapes = self._plan_shapes()
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in self._shapes.items():
      is_bias = name.endswith('/bias') or name.endswith('/biases')
      weights[name] = tf.Variable(
          np.zeros(shape, np.float32) if is_bias else _glorot(rng, shape), name=name)
    # A plain dict of variables; tf.Module tracks it for checkpoints.
    self.weights = weights

  @classmethod
  def from_config(cls, config, hparams, attention_layout='first_layer', seed=None):
    """Builds the model for a `configs.DrumsRnnConfig` and its HParams."""
    if hparams.get('use_cudnn'):
      logging.warning('cuDNN LSTM no longer supported. Using regular LSTM.')
    return cls(input_size=config.encoding.input_size,
               num_classes=config.encoding.num_classes,
               rnn_layer_sizes=hparams['rnn_layer_sizes'],
               attn_length=hparams.get('attn_length', 0),
               residual_connections=hparams.get('residual_connections', False),
               dropout_keep_prob=hparams.get('dropout_keep_prob', 1.0),
               attention_layout=attention_layout,
               seed=seed)

  # --- structure -----------------------------------------------------------

  def _plan_layers(self):
    layers = []
    prev = self.input_size
    if self.whole_stack:
      base = 'rnn/attention_cell_wrapper/multi_rnn_cell'
    else:
      base = 'rnn/multi_rnn_cell'
    for i, size in enumerate(self.rnn_layer_sizes):
      prefix = f'{base}/cell_{i}/'
      projection = self.residual_connections and (i == 0 or size != self.rnn_layer_sizes[i - 1])
      if projection:
        prefix += 'input_projection_wrapper/'
      attention = bool(self.attn_length) and i == 0 and not self.whole_stack
      if attention:
        prefix += 'attention_cell_wrapper/'
      layers.append(_Layer(i, size, size if projection else prev, prefix, projection,
                           self.residual_connections, attention))
      prev = size
    return layers

  def _plan_shapes(self):
    """Magenta variable name -> shape, in Magenta's creation order."""
    shapes = collections.OrderedDict()
    if self.whole_stack:
      top = self.rnn_layer_sizes[-1]
      attn = 'rnn/attention_cell_wrapper/'
      shapes[attn + 'kernel'] = (self.input_size + top, self.input_size)
      shapes[attn + 'bias'] = (self.input_size,)
    for layer in self._layers:
      p = layer.prefix
      in_width = layer.input_size
      if layer.projection:
        proj = p[:-len('attention_cell_wrapper/')] if layer.attention else p
        shapes[proj + 'kernel'] = (self.input_size if layer.index == 0 else
                                   self.rnn_layer_sizes[layer.index - 1], layer.size)
        shapes[proj + 'bias'] = (layer.size,)
      if layer.attention:
        shapes[p + 'kernel'] = (in_width + layer.size, in_width)
        shapes[p + 'bias'] = (in_width,)
      if self.whole_stack and layer.index == 0:
        in_width = self.input_size
      shapes[p + 'basic_lstm_cell/kernel'] = (in_width + layer.size, 4 * layer.size)
      shapes[p + 'basic_lstm_cell/bias'] = (4 * layer.size,)
      if layer.attention:
        self._add_attention_shapes(shapes, p, layer.size, 2 * layer.size)
    if self.whole_stack:
      top = self.rnn_layer_sizes[-1]
      self._add_attention_shapes(shapes, 'rnn/attention_cell_wrapper/', top,
                                 2 * sum(self.rnn_layer_sizes))
    shapes['fully_connected/weights'] = (self.rnn_layer_sizes[-1], self.num_classes)
    shapes['fully_connected/biases'] = (self.num_classes,)
    # Magenta's `_plan_shapes` order puts the projection first; keep that.
    return shapes

  @staticmethod
  def _add_attention_shapes(shapes, p, size, query_size):
    shapes[p + 'attention/attn_w'] = (1, 1, size, size)
    shapes[p + 'attention/attn_v'] = (size,)
    shapes[p + 'attention/kernel'] = (query_size, size)
    shapes[p + 'attention/bias'] = (size,)
    shapes[p + 'attn_output_projection/kernel'] = (2 * size, size)
    shapes[p + 'attn_output_projection/bias'] = (size,)

  def _w(self, name):
    return self.weights[name]

  def _attn_prefix(self):
    if self.whole_stack:
      return 'rnn/attention_cell_wrapper/'
    return self._layers[0].prefix

  @property
  def attn_size(self):
    """Width of the attention vectors (0 without attention)."""
    if not self.attn_length:
      return 0
    return self.rnn_layer_sizes[-1] if self.whole_stack else self.rnn_layer_sizes[0]

  # --- Magenta weights -------------------------------------------------------

  def magenta_variable_shapes(self):
    """Magenta checkpoint variable name -> shape tuple."""
    return dict(self._shapes)

  def get_magenta_weights(self):
    """Name -> numpy array, exactly as stored in a Magenta checkpoint."""
    return {name: var.numpy() for name, var in self.weights.items()}

  def set_magenta_weights(self, weights):
    """Assigns a full Magenta-layout weight dict (strict about names/shapes)."""
    expected = self._shapes
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = sorted(f'{n} {tuple(np.shape(weights[n]))} (expected {expected[n]})'
                   for n in set(expected) & set(weights)
                   if tuple(np.shape(weights[n])) != tuple(expected[n]))
    problems = []
    if missing:
      problems.append('missing: ' + ', '.join(missing))
    if unexpected:
      problems.append('unexpected: ' + ', '.join(unexpected))
    if wrong:
      problems.append('wrong shape: ' + ', '.join(wrong))
    if problems:
      raise DrumsRnnError('weights do not fit the model (' + '; '.join(problems) + ')')
    for name, value in weights.items():
      self.weights[name].assign(np.asarray(value, dtype=np.float32))

  def num_parameters(self):
    return int(sum(np.prod(s) for s in self._shapes.values()))

  # --- state -----------------------------------------------------------------

  def state_sizes(self):
    """Widths of the state tensors: Magenta's flattened order, then the cache."""
    sizes = []
    if self.whole_stack:
      for size in self.rnn_layer_sizes:
        sizes += [size, size]
      sizes += [self.attn_size, self.attn_length * self.attn_size]
    else:
      for layer in self._layers:
        sizes += [layer.size, layer.size]
        if layer.attention:
          sizes += [layer.size, self.attn_length * layer.size]
    num_magenta = len(sizes)
    if self.attn_length:
      sizes.append(self.attn_length * self.attn_size)
    return sizes, num_magenta

  def zero_state(self, batch_size):
    """All-zero state (Magenta's initial state, plus the cache)."""
    sizes, _ = self.state_sizes()
    return tuple(tf.zeros([batch_size, n], tf.float32) for n in sizes)

  def _complete_state(self, state):
    """Accepts a state with or without the trailing attention cache."""
    state = tuple(tf.convert_to_tensor(s, tf.float32) for s in state)
    sizes, num_magenta = self.state_sizes()
    if len(state) == len(sizes):
      return state
    if len(state) == num_magenta and self.attn_length:
      window_index = num_magenta - 1 if self.whole_stack else 3
      return state + (self._window_features(state[window_index]),)
    raise DrumsRnnError(f'state has {len(state)} tensors, expected {num_magenta} '
                        f'(or {len(sizes)} with the attention cache)')

  def _window_features(self, window):
    """F = H @ attn_w for a flattened window [B, L*A] -> [B, L*A]."""
    size = self.attn_size
    w = tf.reshape(self._w(self._attn_prefix() + 'attention/attn_w'), [size, size])
    rows = tf.reshape(window, [-1, size])
    return tf.reshape(tf.matmul(rows, w), [-1, self.attn_length * size])

  # --- pieces of the maths ----------------------------------------------------

  def _dropout(self, x, training):
    if training and self.dropout_keep_prob < 1.0:
      return tf.nn.dropout(x, rate=1.0 - self.dropout_keep_prob)
    return x

  def _project(self, layer, x):
    """InputProjectionWrapper (residual layers whose input width differs)."""
    if not layer.projection:
      return x
    p = layer.prefix[:-len('attention_cell_wrapper/')] if layer.attention else layer.prefix
    return tf.matmul(x, self._w(p + 'kernel')) + self._w(p + 'bias')

  def _attend(self, prefix, query, cell_output, window, features):
    """Attention read + output projection + window update (ref 2.3 steps 3-8).

    Args:
      prefix: the attention_cell_wrapper scope.
      query: [B, Q] the concatenated new LSTM state(s).
      cell_output: [B, n] the wrapped cell's output.
      window, features: [B, L, A] stored outputs and their 1x1-conv features.
    Returns:
      (output [B, A], new_attns [B, A], new window, new features), windows [B, L, A].
    """
    y = tf.matmul(query, self._w(prefix + 'attention/kernel')) + self._w(prefix + 'attention/bias')
    v = self._w(prefix + 'attention/attn_v')
    # Batched matrix-vector products instead of broadcast-multiply-and-sum:
    # fewer ops per step and no [B, L, A] product kept for the gradient.
    scores = tf.linalg.matvec(tf.tanh(features + y[:, None, :]), v)   # [B, L]
    alpha = tf.nn.softmax(scores, axis=1)
    new_attns = tf.linalg.matvec(window, alpha, transpose_a=True)     # [B, A]
    out_kernel = self._w(prefix + 'attn_output_projection/kernel')
    output = (tf.matmul(tf.concat([cell_output, new_attns], 1), out_kernel)
              + self._w(prefix + 'attn_output_projection/bias'))
    size = self.attn_size
    attn_w = tf.reshape(self._w(prefix + 'attention/attn_w'), [size, size])
    new_window = tf.concat([window[:, 1:], output[:, None, :]], 1)
    new_features = tf.concat([features[:, 1:], tf.matmul(output, attn_w)[:, None, :]], 1)
    return output, new_attns, new_window, new_features

  def _window3(self, flat):
    return tf.reshape(flat, [-1, self.attn_length, self.attn_size])

  def _flat(self, window):
    return tf.reshape(window, [-1, self.attn_length * self.attn_size])

  # --- one step ----------------------------------------------------------------

  def step(self, x, state, training=False):
    """One time step: x [B, input_size] -> (logits [B, num_classes], new_state)."""
    x = tf.convert_to_tensor(x, tf.float32)
    state = self._complete_state(state)
    if self.whole_stack:
      output, new_state = self._whole_stack_step(x, state, training)
    else:
      output, new_state = self._first_layer_step(x, state, training)
    return self._logits(output), new_state

  def _lstm_step(self, layer, x, c, h):
    z = (tf.matmul(tf.concat([x, h], 1), self._w(layer.prefix + 'basic_lstm_cell/kernel'))
         + self._w(layer.prefix + 'basic_lstm_cell/bias'))
    return _lstm(z, c)

  def _first_layer_step(self, x, state, training):
    new_state = []
    pos = 0
    cache = None
    for layer in self._layers:
      c, h = state[pos], state[pos + 1]
      pos += 2
      inp = self._project(layer, x)
      if layer.attention:
        attns, window = state[pos], self._window3(state[pos + 1])
        features = self._window3(state[-1])
        pos += 2
        p = layer.prefix
        cell_in = tf.matmul(tf.concat([inp, attns], 1), self._w(p + 'kernel')) + self._w(p + 'bias')
        c, h = self._lstm_step(layer, cell_in, c, h)
        out, attns, window, features = self._attend(p, tf.concat([c, h], 1), h, window, features)
        new_state += [c, h, attns, self._flat(window)]
        cache = self._flat(features)
      else:
        c, h = self._lstm_step(layer, inp, c, h)
        out = h
        new_state += [c, h]
      if layer.residual:
        out = out + inp
      x = self._dropout(out, training)
    if cache is not None:
      new_state.append(cache)
    return x, tuple(new_state)

  def _whole_stack_step(self, x, state, training):
    n = len(self._layers)
    attns, window = state[2 * n], self._window3(state[2 * n + 1])
    features = self._window3(state[2 * n + 2])
    p = 'rnn/attention_cell_wrapper/'
    inp = tf.matmul(tf.concat([x, attns], 1), self._w(p + 'kernel')) + self._w(p + 'bias')
    new_state = []
    for layer in self._layers:
      c, h = self._lstm_step(layer, inp, state[2 * layer.index], state[2 * layer.index + 1])
      new_state += [c, h]
      inp = self._dropout(h, training)
    out, attns, window, features = self._attend(p, tf.concat(new_state, 1), inp, window, features)
    new_state += [attns, self._flat(window), self._flat(features)]
    return out, tuple(new_state)

  def _logits(self, outputs):
    return tf.matmul(outputs, self._w('fully_connected/weights')) + self._w('fully_connected/biases')

  # --- whole sequences ------------------------------------------------------------

  def __call__(self, inputs, state=None, training=False):
    """Runs a batch of sequences.

    Args:
      inputs: [B, T, input_size] float32, or :class:`CompactInputs`.
      state: initial state (default zeros).
      training: applies dropout when True.
    Returns:
      (logits [B, T, num_classes], final_state).
    """
    if isinstance(inputs, CompactInputs) and self.whole_stack:
      inputs = inputs.to_dense(self.input_size)
    if isinstance(inputs, CompactInputs):
      classes = tf.convert_to_tensor(inputs.classes, tf.int32)
      batch_size, num_steps = tf.shape(classes)[0], tf.shape(classes)[1]
      xs = CompactInputs(tf.transpose(classes),
                         tf.transpose(tf.convert_to_tensor(inputs.extras, tf.float32), [1, 0, 2]))
    else:
      inputs = tf.convert_to_tensor(inputs, tf.float32)
      batch_size, num_steps = tf.shape(inputs)[0], tf.shape(inputs)[1]
      xs = tf.transpose(inputs, [1, 0, 2])  # time-major [T, B, n]
    state = self.zero_state(batch_size) if state is None else self._complete_state(state)
    if self.whole_stack:
      outputs, final_state = self._scan_steps(xs, state, training)
    else:
      outputs, final_state = self._run_layers(xs, state, training)
    logits = self._logits(tf.reshape(outputs, [-1, outputs.shape[-1]]))
    logits = tf.reshape(logits, [num_steps, batch_size, self.num_classes])
    return tf.transpose(logits, [1, 0, 2]), final_state

  def _scan_steps(self, xs, state, training):
    """Generic time loop over `step` maths (used for the whole_stack layout)."""
    num_steps = tf.shape(xs)[0]
    outputs = tf.TensorArray(tf.float32, size=num_steps)
    xs = _unstack(xs)

    def body(t, outputs, state):
      out, new_state = self._whole_stack_step(xs.read(t), state, training)
      return t + 1, outputs.write(t, out), new_state

    _, outputs, state = tf.while_loop(lambda t, *_: t < num_steps, body, (0, outputs, state),
                                      maximum_iterations=num_steps)
    return outputs.stack(), state

  def _run_layers(self, xs, state, training):
    """Layer by layer over the whole sequence (first_layer layout)."""
    new_state = []
    pos = 0
    cache = None
    for layer in self._layers:
      inp = self._project_seq(layer, xs)
      if layer.attention:
        layer_state = state[pos:pos + 4] + (state[-1],)
        pos += 4
        out, layer_state = self._attention_layer_seq(layer, inp, layer_state)
        new_state += list(layer_state[:4])
        cache = layer_state[4]
      else:
        out, layer_state = self._lstm_layer_seq(layer, inp, state[pos:pos + 2])
        pos += 2
        new_state += list(layer_state)
      if layer.residual:
        out = out + inp
      xs = self._dropout(out, training)
    if cache is not None:
      new_state.append(cache)
    return xs, tuple(new_state)

  def _project_seq(self, layer, xs):
    if not layer.projection:
      return xs
    return _input_matmul(xs, *self._projection_weights(layer))

  def _projection_weights(self, layer):
    p = layer.prefix[:-len('attention_cell_wrapper/')] if layer.attention else layer.prefix
    return self._w(p + 'kernel'), self._w(p + 'bias')

  def _lstm_layer_seq(self, layer, xs, state):
    kernel = self._w(layer.prefix + 'basic_lstm_cell/kernel')
    bias = self._w(layer.prefix + 'basic_lstm_cell/bias')
    n_in = layer.input_size
    gates_x = _unstack(_input_matmul(xs, kernel[:n_in], bias))   # [T, B, 4n]
    recurrent = kernel[n_in:]
    if self.fused_gradient:
      outs, c, h = _lstm_loop(gates_x.stack(), state[0], state[1], recurrent)
      return outs, (c, h)
    num_steps = gates_x.size()
    outputs = tf.TensorArray(tf.float32, size=num_steps)

    def body(t, outputs, c, h):
      c, h = _lstm(gates_x.read(t) + tf.matmul(h, recurrent), c)
      return t + 1, outputs.write(t, h), c, h

    _, outputs, c, h = tf.while_loop(lambda t, *_: t < num_steps, body,
                                     (0, outputs, state[0], state[1]),
                                     maximum_iterations=num_steps)
    return outputs.stack(), (c, h)

  def _attention_layer_seq(self, layer, xs, state):
    """Attention-wrapped LSTM over [T, B, n]; state (c, h, a, H, F)."""
    p = layer.prefix
    n_in = layer.input_size
    in_kernel, in_bias = self._w(p + 'kernel'), self._w(p + 'bias')
    kernel = self._w(p + 'basic_lstm_cell/kernel')
    bias = self._w(p + 'basic_lstm_cell/bias')
    # x' = x W1 + a W2 + b_in; gates = x' K1 + h K2 + b. Fold W into K so the
    # x part is one matmul for all steps and the loop does [a, h] @ M.
    k1 = kernel[:n_in]
    gates_x = _unstack(_input_matmul(xs, tf.matmul(in_kernel[:n_in], k1),
                                    tf.linalg.matvec(k1, in_bias, transpose_a=True) + bias))
    recurrent = tf.concat([tf.matmul(in_kernel[n_in:], k1), kernel[n_in:]], 0)
    c, h, attns, window, features = state
    if self.fused_gradient:
      size = self.attn_size
      outs, c, h, attns, window, features = _attention_loop(
          gates_x.stack(), c, h, attns, self._window3(window), self._window3(features), recurrent,
          self._w(p + 'attention/kernel'), self._w(p + 'attention/bias'),
          self._w(p + 'attention/attn_v'), self._w(p + 'attn_output_projection/kernel'),
          self._w(p + 'attn_output_projection/bias'),
          tf.reshape(self._w(p + 'attention/attn_w'), [size, size]))
      return outs, (c, h, attns, self._flat(window), self._flat(features))
    num_steps = gates_x.size()
    outputs = tf.TensorArray(tf.float32, size=num_steps)

    def body(t, outputs, c, h, attns, window, features):
      z = gates_x.read(t) + tf.matmul(tf.concat([attns, h], 1), recurrent)
      c, h = _lstm(z, c)
      out, attns, window, features = self._attend(p, tf.concat([c, h], 1), h, window, features)
      return t + 1, outputs.write(t, out), c, h, attns, window, features

    loop_vars = (0, outputs, c, h, attns, self._window3(window), self._window3(features))
    _, outputs, c, h, attns, window, features = tf.while_loop(
        lambda t, *_: t < num_steps, body, loop_vars, maximum_iterations=num_steps)
    return outputs.stack(), (c, h, attns, self._flat(window), self._flat(features))


def _unstack(xs):
  """[T, ...] -> TensorArray; reading it in a loop has a cheap gradient
  (slicing a captured tensor instead would add a full-size zero gradient per
  step, quadratic in T)."""
  return tf.TensorArray(xs.dtype, size=tf.shape(xs)[0], element_shape=xs.shape[1:]).unstack(xs)


def _input_matmul(xs, kernel, bias):
  """xs @ kernel + bias for dense [T, B, n] or CompactInputs xs."""
  if not isinstance(xs, CompactInputs):
    return _time_matmul(xs, kernel, bias)
  extras_width = xs.extras.shape[-1]
  num_hot = kernel.shape[0] - extras_width
  # Row num_hot of the table is zeros: the row of class -1 (padding).
  table = tf.concat([kernel[:num_hot], tf.zeros([1, kernel.shape[1]], kernel.dtype)], 0)
  out = tf.gather(table, tf.where(xs.classes < 0, num_hot, xs.classes)) + bias
  if extras_width:
    out += _time_matmul(xs.extras, kernel[num_hot:], 0.0)
  return out


def _time_matmul(xs, kernel, bias):
  """[T, B, n] @ [n, m] + bias as one matmul."""
  shape = tf.shape(xs)
  flat = tf.reshape(xs, [-1, xs.shape[-1]])
  out = tf.matmul(flat, kernel) + bias
  return tf.reshape(out, [shape[0], shape[1], kernel.shape[-1]])


# --- attention layer with a hand-written gradient ---------------------------------------


def _attention_loop(gates_x, c0, h0, attns0, window0, features0, recurrent, q_kernel, q_bias,
                    v, out_kernel, out_bias, attn_w):
  """The attention layer's time loop with backpropagation written out.

  Same function as the autodiff loop in `_attention_layer_seq`. The
  automatic gradient of a `tf.while_loop` pushes every intermediate of every
  step onto stacks and runs a long tail of small shape/broadcast ops per
  step; here the forward pass keeps only per-step vectors (gates, c, h,
  attention, weights, query projection) and the backward loop recomputes
  the [L, B, A] attention activations from the output history. Weight
  gradients are one matmul each over all steps after the loop.

  Shapes: gates_x [T, B, 4n] (input part of the gates, biases included);
  c0, h0 [B, n]; attns0 [B, A]; window0, features0 [B, L, A]; the rest are
  the layer's weights. Returns (outputs [T, B, A], c, h, attns, window,
  features).
  """

  @tf.custom_gradient
  def run(gates_x, c0, h0, attns0, window0, features0, recurrent, q_kernel, q_bias, v,
          out_kernel, out_bias, attn_w):
    num_steps = tf.shape(gates_x)[0]
    length = window0.shape[1]
    n = c0.shape[-1]
    size = attns0.shape[-1]
    gx = _unstack(gates_x)

    def ta(shape=None):
      return tf.TensorArray(tf.float32, size=num_steps, element_shape=shape)

    def body(t, c, h, attns, window, features, zs, cs, hs, ats, alphas, ys, outs):
      z = gx.read(t) + tf.matmul(tf.concat([attns, h], 1), recurrent)
      c, h = _lstm(z, c)
      y = tf.matmul(tf.concat([c, h], 1), q_kernel) + q_bias
      alpha = tf.nn.softmax(tf.linalg.matvec(tf.tanh(features + y[:, None, :]), v), axis=1)
      attns = tf.linalg.matvec(window, alpha, transpose_a=True)
      out = tf.matmul(tf.concat([h, attns], 1), out_kernel) + out_bias
      window = tf.concat([window[:, 1:], out[:, None, :]], 1)
      features = tf.concat([features[:, 1:], tf.matmul(out, attn_w)[:, None, :]], 1)
      return (t + 1, c, h, attns, window, features, zs.write(t, z), cs.write(t, c),
              hs.write(t, h), ats.write(t, attns), alphas.write(t, alpha), ys.write(t, y),
              outs.write(t, out))

    loop = tf.while_loop(
        lambda t, *_: t < num_steps, body,
        (0, c0, h0, attns0, window0, features0, ta(), ta(), ta(), ta(), ta(), ta(), ta()),
        maximum_iterations=num_steps)
    _, c, h, attns, window, features = loop[:6]
    zs, cs, hs, ats, alphas, ys, outs = (a.stack() for a in loop[6:])

    def grad(g_outs, g_c, g_h, g_attns, g_window, g_features):
      zero = lambda g, like: tf.zeros_like(like) if g is None else g  # noqa: E731
      g_outs, g_c, g_h = zero(g_outs, outs), zero(g_c, c), zero(g_h, h)
      g_attns, g_window, g_features = zero(g_attns, attns), zero(g_window, window), zero(
          g_features, features)
      # Time-major histories: row k of the window at step t is row t + k.
      hist = tf.concat([tf.transpose(window0, [1, 0, 2]), outs], 0)              # [L+T, B, A]
      fhist = tf.concat([tf.transpose(features0, [1, 0, 2]),
                         tf.reshape(tf.matmul(tf.reshape(outs, [-1, size]), attn_w),
                                    tf.shape(outs))], 0)
      c_prev = tf.concat([c0[None], cs[:-1]], 0)
      out_t = tf.transpose(out_kernel)
      q_t = tf.transpose(q_kernel)
      rec_t = tf.transpose(recurrent)
      attn_w_t = tf.transpose(attn_w)
      zs_ta, cs_ta, cp_ta, hs_ta, ats_ta, al_ta, ys_ta, go_ta = (
          _unstack(x) for x in (zs, cs, c_prev, hs, ats, alphas, ys, g_outs))
      zero_row = tf.zeros_like(attns0)[None]

      def back(i, gc, gh, ga, pend_v, pend_k, dv, gzs, gys, gos, keys):
        t = num_steps - 1 - i
        # Gradient of output_t is complete: upstream + its reads as value and key.
        key_row = pend_k[length - 1]
        g_out = go_ta.read(t) + pend_v[length - 1] + tf.matmul(key_row, attn_w_t)
        pend_v = tf.concat([zero_row, pend_v[:-1]], 0)
        pend_k = tf.concat([zero_row, pend_k[:-1]], 0)
        g_ha = tf.matmul(g_out, out_t)
        gh = gh + g_ha[:, :n]
        ga = ga + g_ha[:, n:]
        win = hist[t:t + length]                                                 # [L, B, A]
        alpha = tf.transpose(al_ta.read(t))                                      # [L, B]
        act = tf.tanh(fhist[t:t + length] + ys_ta.read(t)[None])
        g_alpha = tf.reduce_sum(win * ga[None], 2)
        pend_v += alpha[:, :, None] * ga[None]
        g_scores = alpha * (g_alpha - tf.reduce_sum(alpha * g_alpha, 0, keepdims=True))
        dv += tf.einsum('lb,lba->a', g_scores, act)
        g_pre = g_scores[:, :, None] * v * (1.0 - tf.square(act))
        pend_k += g_pre
        g_y = tf.reduce_sum(g_pre, 0)
        g_q = tf.matmul(g_y, q_t)
        gc = gc + g_q[:, :n]
        gh = gh + g_q[:, n:]
        g_z, gc = _lstm_backward(gc, gh, zs_ta.read(t), cs_ta.read(t), cp_ta.read(t))
        g_prev = tf.matmul(g_z, rec_t)
        return (i + 1, gc, g_prev[:, size:], g_prev[:, :size], pend_v, pend_k, dv,
                gzs.write(t, g_z), gys.write(t, g_y), gos.write(t, g_out), keys.write(t, key_row))

      init = (0, g_c, g_h, g_attns, tf.transpose(g_window, [1, 0, 2]),
              tf.transpose(g_features, [1, 0, 2]), tf.zeros_like(v), ta(), ta(), ta(), ta())
      result = tf.while_loop(lambda i, *_: i < num_steps, back, init,
                             maximum_iterations=num_steps)
      _, gc, gh, ga, pend_v, pend_k, dv = result[:7]
      g_z, g_y, g_out, keys = (a.stack() for a in result[7:])

      def flat(x):
        return tf.reshape(x, [-1, x.shape[-1]])

      prev = tf.concat([tf.concat([attns0[None], ats[:-1]], 0),
                        tf.concat([h0[None], hs[:-1]], 0)], 2)
      d_recurrent = tf.matmul(flat(prev), flat(g_z), transpose_a=True)
      d_q_kernel = tf.matmul(flat(tf.concat([cs, hs], 2)), flat(g_y), transpose_a=True)
      d_out_kernel = tf.matmul(flat(tf.concat([hs, ats], 2)), flat(g_out), transpose_a=True)
      d_attn_w = tf.matmul(flat(outs), flat(keys), transpose_a=True)
      return (g_z, gc, gh, ga, tf.transpose(pend_v, [1, 0, 2]), tf.transpose(pend_k, [1, 0, 2]),
              d_recurrent, d_q_kernel, tf.reduce_sum(g_y, [0, 1]), dv, d_out_kernel,
              tf.reduce_sum(g_out, [0, 1]), d_attn_w)

    return (outs, c, h, attns, window, features), grad

  return run(gates_x, c0, h0, attns0, window0, features0, recurrent, q_kernel, q_bias, v,
             out_kernel, out_bias, attn_w)


def _lstm_backward(g_c, g_h, z, c, c_prev):
  """BasicLSTMCell backward for one step: (grad of z, grad of c_prev)."""
  zi, zj, zf, zo = tf.split(z, 4, 1)
  si, tj, sf, so = tf.sigmoid(zi), tf.tanh(zj), tf.sigmoid(zf + FORGET_BIAS), tf.sigmoid(zo)
  tc = tf.tanh(c)
  g_c = g_c + g_h * so * (1.0 - tf.square(tc))
  g_z = tf.concat([g_c * tj * si * (1.0 - si), g_c * si * (1.0 - tf.square(tj)),
                   g_c * c_prev * sf * (1.0 - sf), g_h * tc * so * (1.0 - so)], 1)
  return g_z, g_c * sf


def _lstm_loop(gates_x, c0, h0, recurrent):
  """A plain LSTM layer's time loop with backpropagation written out.

  gates_x [T, B, 4n] (input part of the gates, bias included), c0/h0 [B, n],
  recurrent [n, 4n]. Returns (outputs [T, B, n], c, h). The forward pass
  keeps only gates and cells; the gradient of `recurrent` is one matmul over
  all steps after the backward loop.
  """

  @tf.custom_gradient
  def run(gates_x, c0, h0, recurrent):
    num_steps = tf.shape(gates_x)[0]
    gx = _unstack(gates_x)

    def ta():
      return tf.TensorArray(tf.float32, size=num_steps)

    def body(t, c, h, zs, cs, hs):
      z = gx.read(t) + tf.matmul(h, recurrent)
      c, h = _lstm(z, c)
      return t + 1, c, h, zs.write(t, z), cs.write(t, c), hs.write(t, h)

    loop = tf.while_loop(lambda t, *_: t < num_steps, body, (0, c0, h0, ta(), ta(), ta()),
                         maximum_iterations=num_steps)
    _, c, h = loop[:3]
    zs, cs, hs = (a.stack() for a in loop[3:])

    def grad(g_hs, g_c, g_h):
      g_hs = tf.zeros_like(hs) if g_hs is None else g_hs
      g_c = tf.zeros_like(c) if g_c is None else g_c
      g_h = tf.zeros_like(h) if g_h is None else g_h
      zs_ta, cs_ta, cp_ta, gh_ta = (
          _unstack(x) for x in (zs, cs, tf.concat([c0[None], cs[:-1]], 0), g_hs))
      rec_t = tf.transpose(recurrent)

      def back(i, gc, gh, gzs):
        t = num_steps - 1 - i
        g_z, gc = _lstm_backward(gc, gh + gh_ta.read(t), zs_ta.read(t), cs_ta.read(t),
                                 cp_ta.read(t))
        return i + 1, gc, tf.matmul(g_z, rec_t), gzs.write(t, g_z)

      _, gc, gh, g_z = tf.while_loop(lambda i, *_: i < num_steps, back, (0, g_c, g_h, ta()),
                                     maximum_iterations=num_steps)
      g_z = g_z.stack()
      prev = tf.concat([h0[None], hs[:-1]], 0)
      n = h0.shape[-1]
      d_recurrent = tf.matmul(tf.reshape(prev, [-1, n]), tf.reshape(g_z, [-1, 4 * n]),
                              transpose_a=True)
      return g_z, gc, gh, d_recurrent

    return (hs, c, h), grad

  return run(gates_x, c0, h0, recurrent)
