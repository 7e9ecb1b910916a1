"""The Drums RNN network (Magenta's `events_rnn_graph.make_rnn_cell` and the graph around it).

Layers: BasicLSTMCells (one kernel over ``[input, h]``, gates i, j, f, o,
forget bias 1.0 added at run time); with ``attn_length > 0`` an
AttentionCellWrapper around the first layer (``attention_layout=
'first_layer'``) or around the whole stack (``'whole_stack'``, the 2016
`drum_kit_rnn.mag`); optional residual connections (input projections where
the width changes); output dropout while training; a linear layer to the logits.

Inputs: ``[B, T, input_size]`` float32 or :class:`CompactInputs` for
`__call__` (training, evaluation: layer by layer over all steps, in the
loops of `drums_rnn.nn.fused_loops`); ``[B, input_size]`` for `step`
(generation: Magenta's formulas, one step).

State: a tuple of float32 ``[B, n]`` tensors in Magenta's flattened order
(as Magenta's graph lists its ``initial_state``): per layer ``c, h``, the attention layer adding ``a`` and the
window ``H`` (``[B, attn_length * attn_size]``) after its ``c, h``
('whole_stack': every layer's ``c, h``, then ``a, H``); last, a cache of the
window's keys ``F = H @ attn_w``, recomputed when a state comes without it
(Magenta's ``initial_state``).

Variables: Magenta's checkpoint names and shapes (``rnn/multi_rnn_cell/
cell_0/...``), created with no enclosing name scope, so that in a TF1 graph
the variable ops are named exactly like Magenta's.
"""

import collections

import numpy as np
import tensorflow as tf
from absl import logging

from drums_rnn.nn import fused_loops
from drums_rnn.nn import initializers
from drums_rnn.nn.inputs import CompactInputs
from drums_rnn.errors import DrumsRnnError

FORGET_BIAS = fused_loops.FORGET_BIAS
ATTENTION_LAYOUTS = ('first_layer', 'whole_stack')
WHOLE_STACK_SCOPE = 'rnn/attention_cell_wrapper/'
ATTENTION_SCOPE = 'attention_cell_wrapper/'


class _Layer(collections.namedtuple(
    '_Layer', ['index', 'size', 'input_size', 'prefix', 'projection', 'residual', 'attention'])):
  """One layer's plan; `prefix` is the scope of its (attention-wrapped) LSTM."""

  @property
  def projection_prefix(self):
    """Scope of the InputProjectionWrapper's own kernel and bias."""
    return self.prefix[:-len(ATTENTION_SCOPE)] if self.attention else self.prefix


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
    fused_gradient: whole sequences use the hand-written backward passes of
      `drums_rnn.nn.fused_loops`; False gives TF's autodiff of the same loops
      (the tests' reference). Same values either way.
  """

  def __init__(self, input_size, num_classes, rnn_layer_sizes, attn_length=0,
               residual_connections=False, dropout_keep_prob=1.0,
               attention_layout='first_layer', seed=None, fused_gradient=True):
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
    self.fused_gradient = bool(fused_gradient)

    self._layers = self._plan_layers()
    self._shapes = self._plan_shapes()
    rng = np.random.default_rng(seed)
    # A plain dict of variables (zero biases); tf.Module tracks it for checkpoints.
    self.weights = {name: tf.Variable(np.zeros(shape, np.float32) if name.endswith(('/bias', '/biases'))
                                      else initializers.glorot_uniform(rng, shape), name=name)
                    for name, shape in self._shapes.items()}

  @classmethod
  def from_config(cls, config, hparams, attention_layout='first_layer', seed=None,
                  fused_gradient=True):
    """Builds the model for a `configs.DrumsRnnConfig` and its HParams."""
    if hparams.get('use_cudnn'):
      logging.warning('cuDNN LSTM no longer supported. Using regular LSTM.')
    return cls(input_size=config.encoding.input_size, num_classes=config.encoding.num_classes,
               rnn_layer_sizes=hparams['rnn_layer_sizes'], attn_length=hparams.get('attn_length', 0),
               residual_connections=hparams.get('residual_connections', False),
               dropout_keep_prob=hparams.get('dropout_keep_prob', 1.0),
               attention_layout=attention_layout, seed=seed, fused_gradient=fused_gradient)

  # --- structure and Magenta's variables ---------------------------------------

  def _plan_layers(self):
    layers = []
    prev = self.input_size
    base = WHOLE_STACK_SCOPE + 'multi_rnn_cell' if self.whole_stack else 'rnn/multi_rnn_cell'
    for i, size in enumerate(self.rnn_layer_sizes):
      prefix = f'{base}/cell_{i}/'
      projection = self.residual_connections and (i == 0 or size != self.rnn_layer_sizes[i - 1])
      if projection:
        prefix += 'input_projection_wrapper/'
      attention = bool(self.attn_length) and i == 0 and not self.whole_stack
      if attention:
        prefix += ATTENTION_SCOPE
      layers.append(_Layer(i, size, size if projection else prev, prefix, projection,
                           self.residual_connections, attention))
      prev = size
    return layers

  def _plan_shapes(self):
    """Magenta variable name -> shape, in Magenta's creation order."""
    shapes = collections.OrderedDict()
    if self.whole_stack:
      shapes[WHOLE_STACK_SCOPE + 'kernel'] = (self.input_size + self.attn_size, self.input_size)
      shapes[WHOLE_STACK_SCOPE + 'bias'] = (self.input_size,)
    for layer in self._layers:
      p, in_width = layer.prefix, layer.input_size
      if layer.projection:  # Magenta creates the projection first.
        shapes[layer.projection_prefix + 'kernel'] = (
            self.input_size if layer.index == 0 else self.rnn_layer_sizes[layer.index - 1], layer.size)
        shapes[layer.projection_prefix + 'bias'] = (layer.size,)
      if layer.attention:
        shapes[p + 'kernel'] = (in_width + layer.size, in_width)
        shapes[p + 'bias'] = (in_width,)
      shapes[p + 'basic_lstm_cell/kernel'] = (in_width + layer.size, 4 * layer.size)
      shapes[p + 'basic_lstm_cell/bias'] = (4 * layer.size,)
      if layer.attention:
        self._add_attention_shapes(shapes, p, 2 * layer.size)
    if self.whole_stack:
      self._add_attention_shapes(shapes, WHOLE_STACK_SCOPE, 2 * sum(self.rnn_layer_sizes))
    shapes['fully_connected/weights'] = (self.rnn_layer_sizes[-1], self.num_classes)
    shapes['fully_connected/biases'] = (self.num_classes,)
    return shapes

  def _add_attention_shapes(self, shapes, p, query_size):
    size = self.attn_size
    shapes[p + 'attention/attn_w'] = (1, 1, size, size)
    shapes[p + 'attention/attn_v'] = (size,)
    shapes[p + 'attention/kernel'] = (query_size, size)
    shapes[p + 'attention/bias'] = (size,)
    shapes[p + 'attn_output_projection/kernel'] = (2 * size, size)
    shapes[p + 'attn_output_projection/bias'] = (size,)

  @property
  def attn_size(self):
    """Width of the attention vectors (0 without attention)."""
    if not self.attn_length:
      return 0
    return self.rnn_layer_sizes[-1] if self.whole_stack else self.rnn_layer_sizes[0]

  def magenta_variable_shapes(self):
    """Magenta checkpoint variable name -> shape tuple."""
    return dict(self._shapes)

  def get_weights(self):
    """Name -> numpy array, exactly as stored in a Magenta checkpoint."""
    return {name: var.numpy() for name, var in self.weights.items()}

  def set_weights(self, weights):
    """Assigns a full Magenta-layout weight dict (strict about names/shapes)."""
    expected = self._shapes
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = sorted(f'{n} {tuple(np.shape(weights[n]))} (expected {expected[n]})'
                   for n in set(expected) & set(weights)
                   if tuple(np.shape(weights[n])) != tuple(expected[n]))
    problems = [f'{what}: ' + ', '.join(names) for what, names in
                (('missing', missing), ('unexpected', unexpected), ('wrong shape', wrong)) if names]
    if problems:
      raise DrumsRnnError('weights do not fit the model (' + '; '.join(problems) + ')')
    for name, value in weights.items():
      self.weights[name].assign(np.asarray(value, dtype=np.float32))

  def num_parameters(self):
    return int(sum(np.prod(s) for s in self._shapes.values()))

  def _w(self, name):
    return self.weights[name]

  def _lstm_weights(self, layer):
    return self._w(layer.prefix + 'basic_lstm_cell/kernel'), self._w(layer.prefix + 'basic_lstm_cell/bias')

  def _attention_weights(self, p):
    """The `AttentionWeights` of the attention_cell_wrapper scope `p`."""
    size = self.attn_size
    return fused_loops.AttentionWeights(
        self._w(p + 'attention/kernel'), self._w(p + 'attention/bias'), self._w(p + 'attention/attn_v'),
        self._w(p + 'attn_output_projection/kernel'), self._w(p + 'attn_output_projection/bias'),
        tf.reshape(self._w(p + 'attention/attn_w'), [size, size]))

  # --- state -----------------------------------------------------------------

  def state_sizes(self):
    """Widths of the state tensors: Magenta's flattened order, then the cache."""
    sizes = []
    for layer in self._layers:
      sizes += [layer.size, layer.size]
      if layer.attention:
        sizes += [layer.size, self.attn_length * layer.size]
    if self.whole_stack:
      sizes += [self.attn_size, self.attn_length * self.attn_size]
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
      window = state[num_magenta - 1 if self.whole_stack else 3]
      prefix = WHOLE_STACK_SCOPE if self.whole_stack else self._layers[0].prefix
      keys = tf.matmul(tf.reshape(window, [-1, self.attn_size]), self._attention_weights(prefix).attn_w)
      return state + (self._flat(keys),)
    raise DrumsRnnError(f'state has {len(state)} tensors, expected {num_magenta} '
                        f'(or {len(sizes)} with the attention cache)')

  def _window3(self, flat):
    return tf.reshape(flat, [-1, self.attn_length, self.attn_size])

  def _flat(self, window):
    return tf.reshape(window, [-1, self.attn_length * self.attn_size])

  # --- the layer stack, shared by one step and whole sequences ------------------

  def _walk_layers(self, x, state, training, lstm_fn, attention_fn=None):
    """Runs the stack on `x` ([B, n] one step, or [T, B, n] time-major).

    Per layer: the input projection, then ``lstm_fn(layer, inp, (c, h))`` or
    ``attention_fn(layer, inp, (c, h, a, H, F))`` -> (output, new layer
    state), the residual, dropout. `state` is laid out as the model's (each
    layer's c, h [, a, H], the cache F last); the new state is rebuilt the
    same way. Returns (top layer's output, new state).
    """
    new_state, cache, pos = [], [], 0
    for layer in self._layers:
      inp = self._project(layer, x)
      width = 4 if layer.attention else 2
      layer_state = tuple(state[pos:pos + width])
      pos += width
      if layer.attention:
        out, layer_state = attention_fn(layer, inp, layer_state + (state[-1],))
        layer_state, cache = layer_state[:4], [layer_state[4]]
      else:
        out, layer_state = lstm_fn(layer, inp, layer_state)
      new_state += layer_state
      if layer.residual:
        out = out + inp
      x = self._dropout(out, training)
    return x, tuple(new_state + cache)

  def _project(self, layer, x):
    """InputProjectionWrapper (residual layers whose input width differs)."""
    if not layer.projection:
      return x
    p = layer.projection_prefix
    return _input_matmul(x, self._w(p + 'kernel'), self._w(p + 'bias'))

  def _dropout(self, x, training):
    if training and self.dropout_keep_prob < 1.0:
      return tf.nn.dropout(x, rate=1.0 - self.dropout_keep_prob)
    return x

  def _logits(self, outputs):
    return _dense_matmul(outputs, self._w('fully_connected/weights'), self._w('fully_connected/biases'))

  # --- one step ----------------------------------------------------------------

  def step(self, x, state, training=False):
    """One time step: x [B, input_size] -> (logits [B, num_classes], new_state)."""
    x = tf.convert_to_tensor(x, tf.float32)
    state = self._complete_state(state)
    if self.whole_stack:
      output, new_state = self._whole_stack_step(x, state, training)
    else:
      output, new_state = self._walk_layers(x, state, training, self._lstm_step, self._attention_step)
    return self._logits(output), new_state

  def _lstm_step(self, layer, x, state):
    kernel, bias = self._lstm_weights(layer)
    c, h = fused_loops.lstm_cell(tf.matmul(tf.concat([x, state[1]], 1), kernel) + bias, state[0])
    return h, (c, h)

  def _attention_input(self, p, x, attns):
    """The wrapper's input projection [x, a_{t-1}] @ W_in + b_in."""
    return tf.matmul(tf.concat([x, attns], 1), self._w(p + 'kernel')) + self._w(p + 'bias')

  def _attend(self, p, query, cell_output, window, features):
    """`fused_loops.attend` on the flat state: (output, (a, H, F))."""
    (out, attns, window, features), _ = fused_loops.attend(
        query, cell_output, self._window3(window), self._window3(features), self._attention_weights(p))
    return out, (attns, self._flat(window), self._flat(features))

  def _attention_step(self, layer, x, state):
    c, h, attns, window, features = state
    _, (c, h) = self._lstm_step(layer, self._attention_input(layer.prefix, x, attns), (c, h))
    out, attention_state = self._attend(layer.prefix, tf.concat([c, h], 1), h, window, features)
    return out, (c, h) + attention_state

  def _whole_stack_step(self, x, state, training):
    """The whole_stack layout: the attention wrapper around the full stack."""
    num_lstm = 2 * len(self._layers)
    attns, window, features = state[num_lstm:]
    inp = self._attention_input(WHOLE_STACK_SCOPE, x, attns)
    top, lstm_state = self._walk_layers(inp, state[:num_lstm], training, self._lstm_step)
    out, attention_state = self._attend(WHOLE_STACK_SCOPE, tf.concat(lstm_state, 1), top, window, features)
    return out, lstm_state + attention_state

  # --- whole sequences ------------------------------------------------------------

  def __call__(self, inputs, state=None, training=False):
    """inputs [B, T, input_size] float32 or CompactInputs; state (default
    zeros); dropout when `training`. -> (logits [B, T, num_classes], final state)."""
    if isinstance(inputs, CompactInputs) and self.whole_stack:
      inputs = inputs.to_dense(self.input_size)
    if isinstance(inputs, CompactInputs):
      classes = tf.convert_to_tensor(inputs.classes, tf.int32)
      batch_size = tf.shape(classes)[0]
      xs = CompactInputs(tf.transpose(classes),
                         tf.transpose(tf.convert_to_tensor(inputs.extras, tf.float32), [1, 0, 2]))
    else:
      inputs = tf.convert_to_tensor(inputs, tf.float32)
      batch_size = tf.shape(inputs)[0]
      xs = tf.transpose(inputs, [1, 0, 2])  # time-major [T, B, n]
    state = self.zero_state(batch_size) if state is None else self._complete_state(state)
    if self.whole_stack:
      outputs, final_state = self._scan_steps(xs, state, training)
    else:
      outputs, final_state = self._walk_layers(xs, state, training, self._lstm_seq, self._attention_seq)
    return tf.transpose(self._logits(outputs), [1, 0, 2]), final_state

  def _scan_steps(self, xs, state, training):
    """The whole_stack layout: `step`'s maths in a time loop (autodiff)."""
    xs_ta = fused_loops.unstack(xs)

    def step(t, state):
      out, state = self._whole_stack_step(xs_ta.read(t), state, training)
      return state, (out,)

    state, (outputs,) = fused_loops.time_loop(step, tf.shape(xs)[0], state, 1)
    return outputs, state

  def _lstm_seq(self, layer, xs, state):
    # The input half of every step's gate matmul is one matmul for all steps.
    kernel, bias = self._lstm_weights(layer)
    n_in = layer.input_size
    hs, c, h = fused_loops.lstm_layer(_input_matmul(xs, kernel[:n_in], bias), state[0], state[1],
                                      kernel[n_in:], fused=self.fused_gradient)
    return hs, (c, h)

  def _attention_seq(self, layer, xs, state):
    p, n_in = layer.prefix, layer.input_size
    in_kernel, in_bias = self._w(p + 'kernel'), self._w(p + 'bias')
    kernel, bias = self._lstm_weights(layer)
    # x' = x W1 + a W2 + b_in; gates = x' K1 + h K2 + b. Fold W into K so the
    # x part is one matmul for all steps and the loop does [a, h] @ M.
    k1 = kernel[:n_in]
    gates_x = _input_matmul(xs, tf.matmul(in_kernel[:n_in], k1),
                            tf.linalg.matvec(k1, in_bias, transpose_a=True) + bias)
    recurrent = tf.concat([tf.matmul(in_kernel[n_in:], k1), kernel[n_in:]], 0)
    c, h, attns, window, features = state
    outs, c, h, attns, window, features = fused_loops.attention_layer(
        gates_x, c, h, attns, self._window3(window), self._window3(features), recurrent,
        self._attention_weights(p), fused=self.fused_gradient)
    return outs, (c, h, attns, self._flat(window), self._flat(features))


def _input_matmul(xs, kernel, bias):
  """xs @ kernel + bias for dense or CompactInputs xs."""
  if not isinstance(xs, CompactInputs):
    return _dense_matmul(xs, kernel, bias)
  extras_width = xs.extras.shape[-1]
  num_hot = kernel.shape[0] - extras_width
  # Row num_hot of the table is zeros: the row of class -1 (padding).
  table = tf.concat([kernel[:num_hot], tf.zeros([1, kernel.shape[1]], kernel.dtype)], 0)
  out = tf.gather(table, tf.where(xs.classes < 0, num_hot, xs.classes)) + bias
  if extras_width:
    out += _dense_matmul(xs.extras, kernel[num_hot:], 0.0)
  return out


def _dense_matmul(xs, kernel, bias):
  """[B, n] or [T, B, n] @ [n, m] + bias, the latter as one [T * B, n] matmul."""
  if xs.shape.rank == 2:
    return tf.matmul(xs, kernel) + bias
  shape = tf.shape(xs)
  out = tf.matmul(tf.reshape(xs, [-1, xs.shape[-1]]), kernel) + bias
  return tf.reshape(out, [shape[0], shape[1], kernel.shape[-1]])
