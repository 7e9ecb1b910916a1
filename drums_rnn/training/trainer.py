"""The Trainer: a task's network, its optimizer and one compiled train step.

Contract of :meth:`Trainer.train_step`: one optimisation step on a padded
batch ``(inputs, labels, lengths)`` exactly as Magenta's train op (tf-slim
`create_train_op`): the task's summed loss (``xent``) divided by what it was
summed over (``steps``; for the Drums RNN the masked softmax cross-entropy
averaged over the real, unpadded steps), every gradient tensor clipped
separately to `clip_norm` (`tf.clip_by_norm`; 0 = no clipping, as tf-slim
clips only when > 0), then TF1 Adam; it returns the batch's metric sums
(:meth:`drums_rnn.training.task.Task.batch_sums`). `Trainer.checkpoint`
holds the model, the Adam slots and the step, so a run resumes exactly.

Distribution: the step runs under a `tf.distribute` strategy
(:func:`drums_rnn.training.distributed.strategy_from_environment`) -- the default
(one device) strategy normally, `MirroredStrategy` when several GPUs are
visible, `MultiWorkerMirroredStrategy` when TF_CONFIG names a cluster. Each
replica takes every n-th track of the batch (replica ids count across the
whole cluster); the per-replica step returns gradient and metric *sums*,
which are summed across replicas and applied once, so the result equals the
one-device step on the whole batch (tested with two logical CPU devices
standing in for two GPUs, and with two worker processes).
"""

import numpy as np
import tensorflow as tf

from drums_rnn.errors import DrumsRnnError
from drums_rnn.training import distributed


class Adam(tf.Module):
  """TF1 `AdamOptimizer` maths (beta1 0.9, beta2 0.999, epsilon 1e-8).

  Written out (a dozen lines) rather than taken from Keras so its state is
  plain tf.Variables in the checkpoint and it runs unchanged under any
  distribution strategy and in TF1 graphs.
  """

  def __init__(self, variables, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8):
    super().__init__(name=None)
    self.learning_rate = float(learning_rate)
    self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
    self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name='adam_iterations')
    self.m = [tf.Variable(tf.zeros_like(v), trainable=False, name='adam_m') for v in variables]
    self.v = [tf.Variable(tf.zeros_like(v), trainable=False, name='adam_v') for v in variables]

  def apply(self, grads, variables):
    t = tf.cast(self.iterations.assign_add(1), tf.float32)
    lr = self.learning_rate * tf.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)
    for g, var, m, v in zip(grads, variables, self.m, self.v):
      m.assign(self.beta1 * m + (1.0 - self.beta1) * g)
      v.assign(self.beta2 * v + (1.0 - self.beta2) * tf.square(g))
      var.assign_sub(lr * m / (tf.sqrt(v) + self.epsilon))


class Trainer:
  """The model, its optimizer and one compiled train step.

  Args:
    task: the model family's :class:`~drums_rnn.training.task.Task` (network, loss).
    hparams: its HParams.
    seed: seeds weight init, dropout and shuffling.
    strategy: a tf.distribute.Strategy (default:
      :func:`drums_rnn.training.distributed.strategy_from_environment`).
    compiled: False runs the same step eagerly (the benchmark's reference).
    jit_compile: compile the step with XLA.
    frozen: None, or {weight name: bool array of its shape}: entries that
      training leaves as they are (their gradients are zeroed, so Adam never
      moves them); weights not named train as usual.
  """

  def __init__(self, task, hparams, seed=None, strategy=None, compiled=True, jit_compile=False,
               frozen=None):
    self.task = task
    self.config = task.config
    self.hparams = hparams
    self.strategy = strategy or distributed.strategy_from_environment()
    if seed is not None:
      tf.random.set_seed(seed)
    with self.strategy.scope():
      self.model = task.build_model(hparams, seed)
      self.variables = list(self.model.weights.values())
      self._trainable_masks = _trainable_masks(self.model.weights, frozen or {})
      self.optimizer = Adam(self.variables, hparams.learning_rate)
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='global_step')
    self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, step=self.step)
    self._train_step = self._make_train_step(compiled, jit_compile)

  def _make_train_step(self, compiled, jit_compile):
    model, strategy, task = self.model, self.strategy, self.task
    clip_norm = float(self.hparams.clip_norm)
    signature = [task.input_spec(model),
                 tf.TensorSpec([None, None], tf.int64),
                 tf.TensorSpec([None], tf.int32)]

    def replica_step(inputs, labels, lengths):
      context = tf.distribute.get_replica_context()
      replicas = context.num_replicas_in_sync
      if replicas > 1:
        # Each replica takes every n-th track of the batch: the batch is split,
        # not copied, and any batch size works.
        i = context.replica_id_in_sync_group
        inputs, labels, lengths = tf.nest.map_structure(lambda x: x[i::replicas],
                                                        (inputs, labels, lengths))
      with tf.GradientTape() as tape:
        sums = task.batch_sums(model, inputs, labels, lengths, training=True)
        # Sum, not mean: the sums of all replicas are added, then divided once.
        objective = sums['xent']
      grads = tape.gradient(objective, self.variables)
      return grads, sums

    def step(inputs, labels, lengths):
      grads, sums = strategy.run(replica_step, args=(inputs, labels, lengths))
      grads = [strategy.reduce(tf.distribute.ReduceOp.SUM, g, axis=None) for g in grads]
      sums = {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in sums.items()}
      steps = tf.maximum(sums['steps'], 1.0)
      grads = [g / steps for g in grads]
      grads = [g if mask is None else g * mask for g, mask in zip(grads, self._trainable_masks)]
      if clip_norm > 0:  # tf-slim clips only when clip_norm > 0
        grads = [tf.clip_by_norm(g, clip_norm) for g in grads]
      self.optimizer.apply(grads, self.variables)
      self.step.assign_add(1)
      return sums

    if not compiled:
      return step
    return tf.function(step, input_signature=signature, jit_compile=jit_compile or None,
                       reduce_retracing=True)

  def state_variables(self):
    """Every variable of `checkpoint`: the model, Adam's state and the step."""
    return (self.variables + [self.optimizer.iterations] + self.optimizer.m + self.optimizer.v +
            [self.step])

  def current_step(self):
    """The global step as an int (`int()` of a distributed variable fails)."""
    return int(self.step.numpy())

  def train_step(self, inputs, labels, lengths):
    """One optimisation step on a padded batch; returns the batch metric sums."""
    return self._train_step(self.task.model_inputs(inputs), tf.convert_to_tensor(labels, tf.int64),
                            tf.convert_to_tensor(lengths, tf.int32))


def _trainable_masks(weights, frozen):
  """Per variable: None (all of it trains) or a 0/1 float constant, 0 where `frozen` says so."""
  unknown = sorted(set(frozen) - set(weights))
  if unknown:
    raise DrumsRnnError('frozen names weights the model does not have: ' + ', '.join(unknown))
  masks = []
  for name, var in weights.items():
    mask = frozen.get(name)
    if mask is not None and tuple(np.shape(mask)) != tuple(var.shape):
      raise DrumsRnnError(f'frozen mask of {name} has shape {np.shape(mask)}, the weight {tuple(var.shape)}')
    if mask is None or not np.any(mask):
      masks.append(None)
      continue
    masks.append(tf.constant(np.where(mask, 0.0, 1.0), var.dtype))
  return masks
