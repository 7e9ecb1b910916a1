"""The model against an independent numpy implementation of Magenta's maths.

The numpy code below follows the spec (reference 2.2-2.3) literally, one
step at a time, reading the weights by their Magenta names; the TF model
computes the same function in a different (folded, layer-by-layer) way.
"""

import numpy as np
import pytest
import tensorflow as tf

from drums_rnn import configs
from drums_rnn.errors import DrumsRnnError
from drums_rnn.language_model.model import DrumsRnnModel

# --- numpy reference ------------------------------------------------------------


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _np_lstm(w, prefix, x, c, h):
  z = np.concatenate([x, h], 1) @ w[prefix + 'basic_lstm_cell/kernel'] + w[prefix + 'basic_lstm_cell/bias']
  n = c.shape[1]
  i, j, f, o = z[:, :n], z[:, n:2 * n], z[:, 2 * n:3 * n], z[:, 3 * n:]
  c = c * _sigmoid(f + 1.0) + _sigmoid(i) * np.tanh(j)
  return c, np.tanh(c) * _sigmoid(o)


def _np_attention_wrapper(w, p, x, attns, window, inner):
  """Magenta's AttentionCellWrapper.call; `inner(x)` -> (out, flat new state)."""
  length, size = window.shape[1], window.shape[2]
  x2 = np.concatenate([x, attns], 1) @ w[p + 'kernel'] + w[p + 'bias']
  out, query = inner(x2)
  k = w[p + 'attention/attn_w'].reshape(size, size)
  hidden = window @ k  # 1x1 conv
  y = query @ w[p + 'attention/kernel'] + w[p + 'attention/bias']
  s = np.sum(w[p + 'attention/attn_v'] * np.tanh(hidden + y[:, None, :]), axis=2)
  a = np.exp(s - s.max(1, keepdims=True))
  a /= a.sum(1, keepdims=True)
  new_attns = np.sum(a[:, :, None] * window, 1)
  output = np.concatenate([out, new_attns], 1) @ w[p + 'attn_output_projection/kernel'] + \
      w[p + 'attn_output_projection/bias']
  new_window = np.concatenate([window[:, 1:], output[:, None]], 1)
  assert new_window.shape[1] == length
  return output, new_attns, new_window


def np_first_layer_step(w, sizes, attn_length, residual, x, state):
  """state: list of per-layer dicts. Returns (logits, new_state)."""
  new_state = []
  for i, size in enumerate(sizes):
    st = state[i]
    prefix = f'rnn/multi_rnn_cell/cell_{i}/'
    inp = x
    if residual and (i == 0 or size != sizes[i - 1]):
      prefix += 'input_projection_wrapper/'
      inp = x @ w[prefix + 'kernel'] + w[prefix + 'bias']
    if attn_length and i == 0:
      p = prefix + 'attention_cell_wrapper/'
      cell = {}

      def inner(x2, st=st, p=p, cell=cell):
        cell['c'], cell['h'] = _np_lstm(w, p, x2, st['c'], st['h'])
        return cell['h'], np.concatenate([cell['c'], cell['h']], 1)

      out, attns, window = _np_attention_wrapper(w, p, inp, st['a'], st['H'], inner)
      new_state.append(dict(c=cell['c'], h=cell['h'], a=attns, H=window))
    else:
      c, h = _np_lstm(w, prefix, inp, st['c'], st['h'])
      out = h
      new_state.append(dict(c=c, h=h))
    if residual:
      out = out + inp
    x = out
  return x @ w['fully_connected/weights'] + w['fully_connected/biases'], new_state


def np_whole_stack_step(w, sizes, x, state):
  p = 'rnn/attention_cell_wrapper/'
  layers = state['layers']
  new_layers = []

  def inner(x2):
    inp = x2
    for i in range(len(sizes)):
      c, h = _np_lstm(w, f'{p}multi_rnn_cell/cell_{i}/', inp, layers[i]['c'], layers[i]['h'])
      new_layers.append(dict(c=c, h=h))
      inp = h
    return inp, np.concatenate([v for d in new_layers for v in (d['c'], d['h'])], 1)

  out, attns, window = _np_attention_wrapper(w, p, x, state['a'], state['H'], inner)
  logits = out @ w['fully_connected/weights'] + w['fully_connected/biases']
  return logits, dict(layers=new_layers, a=attns, H=window)


def np_zero_first_layer(batch, sizes, attn_length):
  state = []
  for i, size in enumerate(sizes):
    d = dict(c=np.zeros((batch, size)), h=np.zeros((batch, size)))
    if attn_length and i == 0:
      d.update(a=np.zeros((batch, size)), H=np.zeros((batch, attn_length, size)))
    state.append(d)
  return state


def np_flat_first_layer(state):
  flat = []
  for d in state:
    flat += [d['c'], d['h']]
    if 'a' in d:
      flat += [d['a'], d['H'].reshape(d['H'].shape[0], -1)]
  return flat


def _random_weights(model, seed=0):
  """Non-trivial weights (biases too) so every term matters."""
  rng = np.random.default_rng(seed)
  return {name: (rng.standard_normal(shape) * 0.3).astype(np.float32)
          for name, shape in model.magenta_variable_shapes().items()}


def _inputs(batch, steps, size, seed=1):
  rng = np.random.default_rng(seed)
  return rng.standard_normal((batch, steps, size)).astype(np.float32)


# --- names, shapes, counts ------------------------------------------------------------

DRUM_KIT_SHAPES = {
    'rnn/multi_rnn_cell/cell_0/attention_cell_wrapper/kernel': (774, 518),
    'rnn/multi_rnn_cell/cell_0/attention_cell_wrapper/bias': (518,),
    'rnn/multi_rnn_cell/cell_0/attention_cell_wrapper/basic_lstm_cell/kernel': (774, 1024),
    'rnn/multi_rnn_cell/cell_0/attention_cell_wrapper/basic_lstm_cell/bias': (1024,),
    'rnn/multi_rnn_cell/cell_0/attention_cell_wrapper/attention/attn_w': (1, 1, 256, 256),
    'rnn/multi_rnn_cell/cell_0/attention_cell_wrapper/attention/attn_v': (256,),
    'rnn/multi_rnn_cell/cell_0/attention_cell_wrapper/attention/kernel': (512, 256),
    'rnn/multi_rnn_cell/cell_0/attention_cell_wrapper/attention/bias': (256,),
    'rnn/multi_rnn_cell/cell_0/attention_cell_wrapper/attn_output_projection/kernel': (512, 256),
    'rnn/multi_rnn_cell/cell_0/attention_cell_wrapper/attn_output_projection/bias': (256,),
    'rnn/multi_rnn_cell/cell_1/basic_lstm_cell/kernel': (512, 1024),
    'rnn/multi_rnn_cell/cell_1/basic_lstm_cell/bias': (1024,),
    'rnn/multi_rnn_cell/cell_2/basic_lstm_cell/kernel': (512, 1024),
    'rnn/multi_rnn_cell/cell_2/basic_lstm_cell/bias': (1024,),
    'fully_connected/weights': (256, 512),
    'fully_connected/biases': (512,),
}

ONE_DRUM_SHAPES = {
    'rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel': (130, 512),
    'rnn/multi_rnn_cell/cell_0/basic_lstm_cell/bias': (512,),
    'rnn/multi_rnn_cell/cell_1/basic_lstm_cell/kernel': (256, 512),
    'rnn/multi_rnn_cell/cell_1/basic_lstm_cell/bias': (512,),
    'fully_connected/weights': (128, 2),
    'fully_connected/biases': (2,),
}


def _default_model(name, **kwargs):
  config = configs.get_config(name)
  return DrumsRnnModel.from_config(config, config.hparams(), **kwargs)


def test_drum_kit_names_shapes_and_parameter_count():
  model = _default_model('drum_kit')
  assert model.magenta_variable_shapes() == DRUM_KIT_SHAPES
  assert model.num_parameters() == 2705706
  assert sum(int(np.prod(v.shape)) for v in model.trainable_variables) == 2705706
  assert sorted(v.name for v in model.trainable_variables) == sorted(n + ':0' for n in DRUM_KIT_SHAPES)
  sizes = [int(s.shape[1]) for s in model.zero_state(2)]
  assert sizes[:8] == [256, 256, 256, 8192, 256, 256, 256, 256]


def test_one_drum_names_and_shapes():
  model = _default_model('one_drum')
  assert model.magenta_variable_shapes() == ONE_DRUM_SHAPES
  assert [int(s.shape[1]) for s in model.zero_state(1)] == [128, 128, 128, 128]


def test_whole_stack_layout_names():
  model = _default_model('drum_kit', attention_layout='whole_stack')
  shapes = model.magenta_variable_shapes()
  assert model.num_parameters() == 2967850
  assert shapes['rnn/attention_cell_wrapper/kernel'] == (774, 518)
  assert shapes['rnn/attention_cell_wrapper/multi_rnn_cell/cell_0/basic_lstm_cell/kernel'] == (774, 1024)
  assert shapes['rnn/attention_cell_wrapper/attention/kernel'] == (1536, 256)
  assert shapes['rnn/attention_cell_wrapper/attn_output_projection/kernel'] == (512, 256)
  sizes = [int(s.shape[1]) for s in model.zero_state(1)]
  assert sizes[:8] == [256] * 6 + [256, 8192]


def test_residual_names_match_magenta():
  # Names and shapes printed by Magenta 2.1.4's make_rnn_cell([64, 128], attn 4, residual).
  model = DrumsRnnModel(518, 512, [64, 128], attn_length=4, residual_connections=True)
  shapes = model.magenta_variable_shapes()
  assert shapes['rnn/multi_rnn_cell/cell_0/input_projection_wrapper/kernel'] == (518, 64)
  assert shapes['rnn/multi_rnn_cell/cell_0/input_projection_wrapper/attention_cell_wrapper/kernel'] == (128, 64)
  assert shapes['rnn/multi_rnn_cell/cell_0/input_projection_wrapper/attention_cell_wrapper/'
                'basic_lstm_cell/kernel'] == (128, 256)
  assert shapes['rnn/multi_rnn_cell/cell_1/input_projection_wrapper/kernel'] == (64, 128)
  assert shapes['rnn/multi_rnn_cell/cell_1/input_projection_wrapper/basic_lstm_cell/kernel'] == (256, 512)
  assert len(shapes) == 16 + 2  # plus fully_connected


# --- maths ----------------------------------------------------------------------------

FIRST_LAYER_CASES = [
    dict(sizes=[16, 12], attn_length=5, residual=False),
    dict(sizes=[16, 16, 8], attn_length=3, residual=True),
    dict(sizes=[10, 10], attn_length=0, residual=False),
]


@pytest.mark.parametrize('case', FIRST_LAYER_CASES)
def test_first_layer_matches_numpy(case):
  input_size, classes, batch, steps = 9, 7, 3, 9
  model = DrumsRnnModel(input_size, classes, case['sizes'], attn_length=case['attn_length'],
                        residual_connections=case['residual'])
  weights = _random_weights(model)
  model.set_weights(weights)
  w = {k: v.astype(np.float64) for k, v in weights.items()}
  x = _inputs(batch, steps, input_size)

  np_state = np_zero_first_layer(batch, case['sizes'], case['attn_length'])
  expected = []
  for t in range(steps):
    logits, np_state = np_first_layer_step(w, case['sizes'], case['attn_length'], case['residual'],
                                           x[:, t].astype(np.float64), np_state)
    expected.append(logits)
  expected = np.stack(expected, 1)
  expected_state = np_flat_first_layer(np_state)

  # Whole sequence in one call.
  logits, state = model(x)
  np.testing.assert_allclose(logits.numpy(), expected, atol=1e-5, rtol=1e-5)
  for got, want in zip(state, expected_state):
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5, rtol=1e-5)

  # One step at a time, including a Magenta-style state without the cache.
  tf_state = model.zero_state(batch)
  _, num_magenta = model.state_sizes()
  for t in range(steps):
    if t == 4:
      tf_state = tf_state[:num_magenta]
    step_logits, tf_state = model.step(x[:, t], tf_state)
    np.testing.assert_allclose(step_logits.numpy(), expected[:, t], atol=1e-5, rtol=1e-5)

  # A sequence continued from a state equals the one-shot run.
  first, mid = model(x[:, :4])
  rest, _ = model(x[:, 4:], mid)
  np.testing.assert_allclose(np.concatenate([first, rest], 1), expected, atol=1e-5, rtol=1e-5)


def test_whole_stack_matches_numpy():
  input_size, classes, batch, steps, sizes, length = 9, 7, 2, 8, [12, 10], 4
  model = DrumsRnnModel(input_size, classes, sizes, attn_length=length, attention_layout='whole_stack')
  weights = _random_weights(model, seed=3)
  model.set_weights(weights)
  w = {k: v.astype(np.float64) for k, v in weights.items()}
  x = _inputs(batch, steps, input_size, seed=4)
  state = dict(layers=[dict(c=np.zeros((batch, s)), h=np.zeros((batch, s))) for s in sizes],
               a=np.zeros((batch, sizes[-1])), H=np.zeros((batch, length, sizes[-1])))
  expected = []
  for t in range(steps):
    logits, state = np_whole_stack_step(w, sizes, x[:, t].astype(np.float64), state)
    expected.append(logits)
  expected = np.stack(expected, 1)
  logits, final = model(x)
  np.testing.assert_allclose(logits.numpy(), expected, atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(final[len(sizes) * 2 + 1].numpy(),
                             state['H'].reshape(batch, -1), atol=1e-5, rtol=1e-5)
  step_logits, _ = model.step(x[:, 0], model.zero_state(batch))
  np.testing.assert_allclose(step_logits.numpy(), expected[:, 0], atol=1e-5, rtol=1e-5)


def test_compiled_call_matches_eager_and_dropout_only_in_training():
  model = DrumsRnnModel(9, 7, [8, 8], attn_length=3, dropout_keep_prob=0.5, seed=1)
  x = _inputs(2, 6, 9)
  eager, _ = model(x)
  compiled, _ = tf.function(lambda v: model(v))(tf.constant(x))
  np.testing.assert_allclose(compiled.numpy(), eager.numpy(), atol=1e-5)
  train_a, _ = model(x, training=True)
  assert not np.allclose(train_a.numpy(), eager.numpy())


def test_magenta_weights_round_trip():
  model = _default_model('drum_kit')
  weights = _random_weights(model, seed=5)
  model.set_weights(weights)
  got = model.get_weights()
  assert set(got) == set(weights)
  for name, value in weights.items():
    np.testing.assert_array_equal(got[name], value)
  other = _default_model('drum_kit')
  other.set_weights(got)
  x = _inputs(1, 3, 518)
  np.testing.assert_array_equal(other(x)[0].numpy(), model(x)[0].numpy())


def test_set_weights_is_strict():
  model = DrumsRnnModel(9, 7, [8], attn_length=0)
  weights = model.get_weights()
  bad = dict(weights)
  del bad['fully_connected/biases']
  bad['extra/thing'] = np.zeros(3)
  bad['fully_connected/weights'] = np.zeros((3, 3))
  with pytest.raises(DrumsRnnError) as e:
    model.set_weights(bad)
  message = str(e.value)
  assert 'missing: fully_connected/biases' in message
  assert 'unexpected: extra/thing' in message
  assert 'fully_connected/weights (3, 3) (expected (8, 7))' in message


def test_graph_mode_variable_names_are_magentas():
  with tf.Graph().as_default() as graph:
    model = _default_model('drum_kit')
    inputs = tf.compat.v1.placeholder(tf.float32, [1, None, 518])
    logits, _ = model(inputs)
    assert logits.shape[-1] == 512
    names = {op.name for op in graph.get_operations() if op.type in ('VarHandleOp', 'VariableV2')}
  assert names == set(DRUM_KIT_SHAPES)


def test_initialisation_is_seeded_glorot_with_zero_biases():
  a = DrumsRnnModel(9, 7, [8], seed=3).get_weights()
  b = DrumsRnnModel(9, 7, [8], seed=3).get_weights()
  for name in a:
    np.testing.assert_array_equal(a[name], b[name])
  assert not a['fully_connected/biases'].any()
  kernel = a['rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel']
  limit = np.sqrt(6.0 / (17 + 32))
  assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.5 * limit


def test_bad_arguments():
  with pytest.raises(DrumsRnnError):
    DrumsRnnModel(9, 7, [8], attention_layout='sideways')
  with pytest.raises(DrumsRnnError):
    DrumsRnnModel(9, 7, [8], attn_length=2, residual_connections=True, attention_layout='whole_stack')


@pytest.mark.parametrize('residual', [False, True])
def test_compact_inputs_equal_dense_one_hot(residual):
  from drums_rnn.language_model.model import CompactInputs
  model = DrumsRnnModel(12, 8, [6, 6], attn_length=3, residual_connections=residual, seed=2)
  model.set_weights(_random_weights(model, seed=7))
  rng = np.random.default_rng(0)
  classes = rng.integers(-1, 8, (3, 7)).astype(np.int32)  # -1: an all-zero (padding) row
  extras = rng.standard_normal((3, 7, 4)).astype(np.float32)
  compact = CompactInputs(classes, extras)
  dense = compact.to_dense(12).numpy()
  assert not dense[classes == -1][:, :8].any()
  np.testing.assert_allclose(model(compact)[0].numpy(), model(dense)[0].numpy(), atol=1e-5)
  whole = DrumsRnnModel(12, 8, [6], attn_length=2, attention_layout='whole_stack', seed=2)
  np.testing.assert_allclose(whole(compact)[0].numpy(), whole(dense)[0].numpy(), atol=1e-6)


@pytest.mark.parametrize('residual', [False, True])
def test_hand_written_gradients_equal_autodiff(residual):
  models = {fused: DrumsRnnModel(9, 7, [6, 5], attn_length=3, residual_connections=residual, seed=1,
                                 fused_gradient=fused) for fused in (False, True)}
  for model in models.values():
    model.set_weights(_random_weights(model, seed=11))
  rng = np.random.default_rng(0)
  x = tf.constant(_inputs(2, 7, 9))
  state = tuple(tf.constant(rng.standard_normal(s.shape).astype(np.float32))
                for s in models[True].zero_state(2))
  weights = tf.constant(rng.standard_normal((2, 7, 7)).astype(np.float32))

  def gradients(fused):
    model = models[fused]
    with tf.GradientTape() as tape:
      tape.watch(state)
      tape.watch(x)
      logits, final = model(x, state)
      # Every output matters: logits and each final state tensor.
      loss = tf.reduce_sum(logits * weights) + sum(
          tf.reduce_sum(s) * 0.1 * (i + 1) for i, s in enumerate(final))
    return tape.gradient(loss, list(model.trainable_variables) + list(state) + [x])

  assert [v.name for v in models[False].trainable_variables] == [v.name for v in models[True].trainable_variables]
  for auto, fused in zip(gradients(False), gradients(True)):
    np.testing.assert_allclose(fused.numpy(), auto.numpy(), atol=2e-5, rtol=1e-4)


def test_fused_gradient_is_a_constructor_argument():
  assert DrumsRnnModel(9, 7, [8]).fused_gradient
  assert not _default_model('one_drum', fused_gradient=False).fused_gradient
