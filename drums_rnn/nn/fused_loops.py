"""The model's time loops, with backpropagation through time written out.

Contract. `lstm_layer` and `attention_layer` run one layer of the network
over a whole time-major sequence (``[T, B, ...]``), given the input half of
its gate pre-activations for every step. With ``fused=False`` each is a plain
`tf.while_loop` that TensorFlow differentiates; with ``fused=True`` (what
``DrumsRnnModel(fused_gradient=True)`` uses) each computes the very same
forward values with the very same ops, under a `tf.custom_gradient` whose
backward pass is written out below. Both give the same gradients up to
float32 round-off; ``test_hand_written_gradients_equal_autodiff`` in
tests/test_model.py checks every weight, the initial state and the inputs.

What the forward pass saves: per step only vectors, stacked ``[T, B, .]``:
the gate pre-activations z_t, the cell c_t and output h_t, and for the
attention layer also the attention read a_t, its weights alpha_t ``[B, L]``,
the query projection y_t and the layer output o_t. The ``[L, B, A]``
activations ``tanh(F + y)`` of each step are not kept: the backward loop
rebuilds them from the time-major history of the window (the initial window
followed by the outputs), one tanh per step.

Why: TF's gradient of a while loop pushes every intermediate of every step
onto stacks and runs a long tail of small shape/broadcast ops per step.
Writing the backward loop out, with each weight gradient as one matmul over
all ``T * B`` rows after the loop, measured ~1.45x less CPU per drum_kit
train step than autodiff.

`attend`, `lstm_cell` and `time_loop` are also the one-step maths and the
loop the model uses elsewhere (generation's `step`, the whole_stack layout).
"""

import collections

import tensorflow as tf

FORGET_BIAS = 1.0


class AttentionWeights(collections.namedtuple(
    'AttentionWeights', ['q_kernel', 'q_bias', 'v', 'out_kernel', 'out_bias', 'attn_w'])):
  """An AttentionCellWrapper's weights: query projection ``attention/kernel``
  [Q, A] and ``bias``, score vector ``attn_v`` [A], ``attn_output_projection``
  [n + A, A] and bias, and the 1x1 convolution ``attn_w`` reshaped to [A, A]."""


def lstm_cell(z, c):
  """BasicLSTMCell from the gate pre-activations z = [x, h] @ K + b (order i, j, f, o)."""
  i, j, f, o = tf.split(z, 4, axis=1)
  new_c = c * tf.sigmoid(f + FORGET_BIAS) + tf.sigmoid(i) * tf.tanh(j)
  new_h = tf.tanh(new_c) * tf.sigmoid(o)
  return new_c, new_h


def attend(query, cell_output, window, features, w):
  """One read of Magenta's AttentionCellWrapper (TF1's contrib AttentionCellWrapper, steps 3-8 of its call).

  query [B, Q]: the new LSTM state(s); cell_output [B, n]; window [B, L, A]:
  the last L outputs H; features [B, L, A]: their keys F = H @ attn_w; w: an
  `AttentionWeights`. Returns ((output, attns, new window, new features),
  (y, alpha)); y [B, A] and alpha [B, L] are what the fused backward reads.
  """
  y = tf.matmul(query, w.q_kernel) + w.q_bias
  # Batched matrix-vector products instead of broadcast-multiply-and-sum:
  # fewer ops per step and no [B, L, A] product kept for the gradient.
  scores = tf.linalg.matvec(tf.tanh(features + y[:, None, :]), w.v)          # [B, L]
  alpha = tf.nn.softmax(scores, axis=1)
  attns = tf.linalg.matvec(window, alpha, transpose_a=True)                  # [B, A]
  output = tf.matmul(tf.concat([cell_output, attns], 1), w.out_kernel) + w.out_bias
  # The window drops its oldest row; the new output's key is computed once here.
  window = tf.concat([window[:, 1:], output[:, None, :]], 1)
  features = tf.concat([features[:, 1:], tf.matmul(output, w.attn_w)[:, None, :]], 1)
  return (output, attns, window, features), (y, alpha)


def unstack(xs):
  """[T, ...] -> TensorArray; reading it in a loop has a cheap gradient
  (slicing a captured tensor instead would add a full-size zero gradient per
  step, quadratic in T)."""
  return tf.TensorArray(xs.dtype, size=tf.shape(xs)[0], element_shape=xs.shape[1:]).unstack(xs)


def time_loop(step, num_steps, carry, num_saved, reverse=False):
  """``carry, values = step(t, carry)`` for t = 0..T-1 (T-1..0 if `reverse`).

  Keeps the first `num_saved` of each step's `values` and returns (the last
  carry, a tuple of those values stacked [T, ...] in time order).
  """

  def body(i, carry, saved):
    t = num_steps - 1 - i if reverse else i
    carry, values = step(t, carry)
    return i + 1, carry, tuple(ta.write(t, v) for ta, v in zip(saved, values))

  saved = tuple(tf.TensorArray(tf.float32, size=num_steps) for _ in range(num_saved))
  _, carry, saved = tf.while_loop(lambda i, *_: i < num_steps, body, (0, carry, saved),
                                  maximum_iterations=num_steps)
  return carry, tuple(ta.stack() for ta in saved)


def _rows(x):
  """[T, B, m] -> [T * B, m]: a sum over steps and batch becomes one matmul."""
  return tf.reshape(x, [-1, x.shape[-1]])


def _zeros_for_none(grads, values):
  """Upstream gradients of unused outputs arrive as None."""
  return tuple(tf.zeros_like(v) if g is None else g for g, v in zip(grads, values))


def _previous(first, history):
  """[first, history[0], ..., history[T-2]]: row t is the value at step t - 1."""
  return tf.concat([first[None], history[:-1]], 0)


# --- plain LSTM layer --------------------------------------------------------------


def lstm_layer(gates_x, c0, h0, recurrent, fused=True):
  """An LSTM layer over a sequence: z_t = gates_x[t] + h_{t-1} @ recurrent.

  gates_x [T, B, 4n]: the input half of the gates, bias included; c0, h0
  [B, n]; recurrent [n, 4n]. Returns (outputs h [T, B, n], c_T, h_T).
  """
  if fused:
    return _fused_lstm(gates_x, c0, h0, recurrent)
  (c, h), (hs,) = _lstm_forward(gates_x, c0, h0, recurrent, num_saved=1)
  return hs, c, h


def _lstm_forward(gates_x, c0, h0, recurrent, num_saved):
  """The loop; saves (h_t, z_t, c_t), the first `num_saved` of them."""
  gx = unstack(gates_x)

  def step(t, carry):
    c, h = carry
    z = gx.read(t) + tf.matmul(h, recurrent)
    c, h = lstm_cell(z, c)
    return (c, h), (h, z, c)

  return time_loop(step, tf.shape(gates_x)[0], (c0, h0), num_saved)


def lstm_cell_backward(g_c, g_h, z, c, c_prev):
  """`lstm_cell` backward for one step: (dL/dz_t, dL/dc_{t-1}).

  g_c, g_h: dL/dc_t and dL/dh_t from every later use (the next step, the
  loss, the final state); z, c, c_prev: z_t, c_t, c_{t-1} as saved.
  """
  zi, zj, zf, zo = tf.split(z, 4, 1)
  # Recompute the gate activations from z (cheaper than saving four of them).
  si, tj, sf, so = tf.sigmoid(zi), tf.tanh(zj), tf.sigmoid(zf + FORGET_BIAS), tf.sigmoid(zo)
  tc = tf.tanh(c)
  # h = tanh(c) * so, so c's total gradient adds g_h * so * tanh'(c),
  # with tanh' = 1 - tanh^2 and sigmoid' = s (1 - s) below.
  g_c = g_c + g_h * so * (1.0 - tf.square(tc))
  # c = c_prev * sf + si * tj:  dc/dzi = tj si', dc/dzj = si tj',
  # dc/dzf = c_prev sf' (the +FORGET_BIAS does not change the derivative);
  # dh/dzo = tanh(c) so'.
  g_z = tf.concat([g_c * tj * si * (1.0 - si), g_c * si * (1.0 - tf.square(tj)),
                   g_c * c_prev * sf * (1.0 - sf), g_h * tc * so * (1.0 - so)], 1)
  # c_prev reaches c only through the forget gate.
  return g_z, g_c * sf


@tf.custom_gradient
def _fused_lstm(gates_x, c0, h0, recurrent):
  (c, h), (hs, zs, cs) = _lstm_forward(gates_x, c0, h0, recurrent, num_saved=3)

  def grad(g_hs, g_c, g_h):
    g_hs, g_c, g_h = _zeros_for_none((g_hs, g_c, g_h), (hs, c, h))
    z_ta, c_ta, c_prev_ta, g_hs_ta = (unstack(x) for x in (zs, cs, _previous(c0, cs), g_hs))
    rec_t = tf.transpose(recurrent)

    def back(t, carry):
      # gc, gh: dL/dc_t and dL/dh_t through step t + 1 (or the final state);
      # h_t is also output t, whose upstream gradient is added here.
      gc, gh = carry
      g_z, gc = lstm_cell_backward(gc, gh + g_hs_ta.read(t), z_ta.read(t), c_ta.read(t),
                                   c_prev_ta.read(t))
      # z_t = gates_x[t] + h_{t-1} R: dL/dgates_x[t] = g_z and h_{t-1} gets
      # g_z R^T (its output gradient is added at step t - 1).
      return (gc, tf.matmul(g_z, rec_t)), (g_z,)

    (gc, gh), (g_z,) = time_loop(back, tf.shape(gates_x)[0], (g_c, g_h), 1, reverse=True)
    # dL/dR = sum_t h_{t-1}^T g_z_t, one matmul over all steps.
    d_recurrent = tf.matmul(_rows(_previous(h0, hs)), _rows(g_z), transpose_a=True)
    return g_z, gc, gh, d_recurrent

  return (hs, c, h), grad


# --- attention-wrapped LSTM layer ------------------------------------------------------


def attention_layer(gates_x, c0, h0, attns0, window0, features0, recurrent, weights, fused=True):
  """The attention-wrapped first layer over a sequence.

  Step t (batch implicit; n LSTM size, A attention size, L window length):
    z_t = gates_x[t] + [a_{t-1}, h_{t-1}] @ recurrent     (input projection folded in)
    c_t, h_t = lstm_cell(z_t, c_{t-1})
    y_t = [c_t, h_t] @ q_kernel + q_bias
    alpha_t = softmax_l(v . tanh(F_{t-1}[l] + y_t))       (l = 0..L-1)
    a_t = sum_l alpha_t[l] H_{t-1}[l]
    o_t = [h_t, a_t] @ out_kernel + out_bias
    H_t = [H_{t-1}[1:], o_t];  F_t = [F_{t-1}[1:], o_t @ attn_w]

  gates_x [T, B, 4n]; c0, h0 [B, n]; attns0 [B, A]; window0 = H_{-1} and
  features0 = F_{-1} [B, L, A] (F need not equal H @ attn_w); recurrent
  [A + n, 4n]; weights: `AttentionWeights`. Returns (outputs o [T, B, A],
  c, h, attns, window, features) after the last step.
  """
  if fused:
    return _fused_attention(gates_x, c0, h0, attns0, window0, features0, recurrent, *weights)
  carry, (outs,) = _attention_forward(gates_x, (c0, h0, attns0, window0, features0), recurrent,
                                      weights, num_saved=1)
  return (outs,) + carry


def _attention_forward(gates_x, state, recurrent, w, num_saved):
  """The loop; saves (o_t, z_t, c_t, h_t, a_t, alpha_t, y_t), the first `num_saved`."""
  gx = unstack(gates_x)

  def step(t, carry):
    c, h, attns, window, features = carry
    z = gx.read(t) + tf.matmul(tf.concat([attns, h], 1), recurrent)
    c, h = lstm_cell(z, c)
    (out, attns, window, features), (y, alpha) = attend(tf.concat([c, h], 1), h, window, features, w)
    return (c, h, attns, window, features), (out, z, c, h, attns, alpha, y)

  return time_loop(step, tf.shape(gates_x)[0], state, num_saved)


@tf.custom_gradient
def _fused_attention(gates_x, c0, h0, attns0, window0, features0, recurrent, *weights):
  w = AttentionWeights(*weights)
  (c, h, attns, window, features), (outs, zs, cs, hs, ats, alphas, ys) = _attention_forward(
      gates_x, (c0, h0, attns0, window0, features0), recurrent, w, num_saved=7)

  def grad(g_outs, g_c, g_h, g_attns, g_window, g_features):
    g_outs, g_c, g_h, g_attns, g_window, g_features = _zeros_for_none(
        (g_outs, g_c, g_h, g_attns, g_window, g_features), (outs, c, h, attns, window, features))
    num_steps, length = tf.shape(gates_x)[0], window0.shape[1]
    n, size = c0.shape[-1], attns0.shape[-1]
    # Time-major histories of the window and its keys: the window read at
    # step t is H_{t-1} = hist[t:t + L] (window0's rows, then o_0, o_1, ...),
    # its keys F_{t-1} = fhist[t:t + L]. Re-reading them replaces saving an
    # [L, B, A] window and tanh activation per step.
    hist = tf.concat([tf.transpose(window0, [1, 0, 2]), outs], 0)              # [L+T, B, A]
    fhist = tf.concat([tf.transpose(features0, [1, 0, 2]),
                       tf.reshape(tf.matmul(_rows(outs), w.attn_w), tf.shape(outs))], 0)
    out_t, q_t = tf.transpose(w.out_kernel), tf.transpose(w.q_kernel)
    rec_t, attn_w_t = tf.transpose(recurrent), tf.transpose(w.attn_w)
    z_ta, c_ta, c_prev_ta, alpha_ta, y_ta, g_outs_ta = (
        unstack(x) for x in (zs, cs, _previous(c0, cs), alphas, ys, g_outs))
    zero_row = tf.zeros_like(attns0)[None]

    def back(t, carry):
      # On entry: gc, gh, ga = dL/dc_t, dL/dh_t, dL/da_t through step t + 1
      # (or the final state); pend_v[l], pend_k[l] = the gradients gathered so
      # far for row l of H_t and of F_t (each row is read by up to L later
      # steps and by the final state); dv = dL/dv summed over steps > t.
      gc, gh, ga, pend_v, pend_k, dv = carry
      # 1. o_t is the last row of H_t, and o_t @ attn_w the last row of F_t.
      #    No later step reads it any more (reads stop L steps after the
      #    write, and o_t never enters z_{t+1}), so its gradient is complete:
      #    upstream output t + value row + key row @ attn_w^T.
      key_row = pend_k[length - 1]
      g_out = g_outs_ta.read(t) + pend_v[length - 1] + tf.matmul(key_row, attn_w_t)
      # 2. Re-index the pending rows from H_t to H_{t-1}: H_t[l] = H_{t-1}[l + 1],
      #    so every row moves down one; the new row 0 (H_{t-1}[0]) has no
      #    gradient yet, as only step t and earlier read it.
      pend_v = tf.concat([zero_row, pend_v[:-1]], 0)
      pend_k = tf.concat([zero_row, pend_k[:-1]], 0)
      # 3. Output projection o_t = [h_t, a_t] P + b: a_t's gradient is now complete.
      g_ha = tf.matmul(g_out, out_t)
      gh = gh + g_ha[:, :n]
      ga = ga + g_ha[:, n:]
      # 4. Attention read a_t = sum_l alpha[l] H_{t-1}[l] (values):
      #    dL/dalpha[l] = <H_{t-1}[l], ga>, and row l of H_{t-1} gets alpha[l] ga.
      win = hist[t:t + length]                                                 # [L, B, A]
      alpha = tf.transpose(alpha_ta.read(t))                                   # [L, B]
      act = tf.tanh(fhist[t:t + length] + y_ta.read(t)[None])                  # recomputed
      g_alpha = tf.reduce_sum(win * ga[None], 2)
      pend_v += alpha[:, :, None] * ga[None]
      # 5. Softmax over l: ds[l] = alpha[l] (dalpha[l] - sum_k alpha[k] dalpha[k]).
      g_scores = alpha * (g_alpha - tf.reduce_sum(alpha * g_alpha, 0, keepdims=True))
      # 6. Scores s[l] = v . act[l] with act = tanh(F_{t-1}[l] + y_t):
      #    dv += sum_{l,b} ds act; the pre-tanh gradient ds v (1 - act^2) goes
      #    to row l of F_{t-1} (keys) and, summed over l, to y_t.
      dv += tf.einsum('lb,lba->a', g_scores, act)
      g_pre = g_scores[:, :, None] * w.v * (1.0 - tf.square(act))
      pend_k += g_pre
      g_y = tf.reduce_sum(g_pre, 0)
      # 7. Query y_t = [c_t, h_t] Q + q_b.
      g_q = tf.matmul(g_y, q_t)
      gc = gc + g_q[:, :n]
      gh = gh + g_q[:, n:]
      # 8. The LSTM cell, then z_t = gates_x[t] + [a_{t-1}, h_{t-1}] R: the
      #    a_{t-1} and h_{t-1} gradients through z_t start the next carry
      #    (their output-projection and query parts are added at step t - 1).
      g_z, gc = lstm_cell_backward(gc, gh, z_ta.read(t), c_ta.read(t), c_prev_ta.read(t))
      g_prev = tf.matmul(g_z, rec_t)
      return (gc, g_prev[:, size:], g_prev[:, :size], pend_v, pend_k, dv), (g_z, g_y, g_out, key_row)

    init = (g_c, g_h, g_attns, tf.transpose(g_window, [1, 0, 2]),
            tf.transpose(g_features, [1, 0, 2]), tf.zeros_like(w.v))
    (gc, gh, ga, pend_v, pend_k, dv), (g_z, g_y, g_out, keys) = time_loop(
        back, num_steps, init, 4, reverse=True)
    # After step 0 the pending rows are those of H_{-1}, F_{-1}: the initial
    # window's and cache's gradients. The weight gradients are sums over all
    # steps of (step input)^T (step output gradient), one matmul each:
    # R from [a_{t-1}, h_{t-1}] and g_z; Q from [c_t, h_t] and g_y; P from
    # [h_t, a_t] and g_out; attn_w from o_t and its key row's gradient.
    prev = tf.concat([_previous(attns0, ats), _previous(h0, hs)], 2)
    d_recurrent = tf.matmul(_rows(prev), _rows(g_z), transpose_a=True)
    d_q_kernel = tf.matmul(_rows(tf.concat([cs, hs], 2)), _rows(g_y), transpose_a=True)
    d_out_kernel = tf.matmul(_rows(tf.concat([hs, ats], 2)), _rows(g_out), transpose_a=True)
    d_attn_w = tf.matmul(_rows(outs), _rows(keys), transpose_a=True)
    return (g_z, gc, gh, ga, tf.transpose(pend_v, [1, 0, 2]), tf.transpose(pend_k, [1, 0, 2]),
            d_recurrent, d_q_kernel, tf.reduce_sum(g_y, [0, 1]), dv, d_out_kernel,
            tf.reduce_sum(g_out, [0, 1]), d_attn_w)

  return (outs, c, h, attns, window, features), grad
