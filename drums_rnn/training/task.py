"""What the training engine needs to know of a model family: its task.

:func:`drums_rnn.training.loop.train` and
:func:`drums_rnn.training.eval_job.evaluate_repeatedly` are one loop for every
model family (the run-directory lock, resume, periodic and signal
checkpoints, validation with patience, summaries, progress lines), as
Magenta's ``events_rnn_train.run_training(build_graph_fn, ...)`` is one loop
for every events RNN. They are handed a :class:`Task`, bound to one config,
and never import a family: the family's task says how its dataset files are
checked and batched, how its network is built, what its loss and metric sums
are and how its figures are worded. :func:`drums_rnn.kinds.task_for` gives
the task of a config.

Contract of :meth:`Task.batch_sums`: SUMS over the real (unpadded) steps of a
batch, float32 scalars (or vectors) that are combined across batches and
replicas by adding; ``xent`` (summed loss) and ``steps`` (what it was summed
over) are always present, ``xent / steps`` is the loss that training
minimises, and :meth:`Task.metrics_from_sums` turns totals into summary
values with a ``loss`` entry.
"""

import abc


class Task(abc.ABC):
  """One model family's part of training and evaluation, for one config.

  Args:
    config: the config whose datasets and networks this task trains.
  """

  def __init__(self, config):
    self.config = config

  # --- data ------------------------------------------------------------------------------

  @abc.abstractmethod
  def check_files(self, paths):
    """Refuses files that are damaged or were made for another config (DrumsRnnError)."""

  @abc.abstractmethod
  def training_dataset(self, paths, hparams, seed, bucket_by_length, balance_tokens=False):
    """Endless shuffled ``(inputs, labels, lengths)`` batches of `paths`."""

  @abc.abstractmethod
  def eval_dataset(self, paths, batch_size, num_examples=0):
    """Every record of `paths` once (the first `num_examples` when > 0), last batch partial."""

  # --- the network -----------------------------------------------------------------------

  @abc.abstractmethod
  def build_model(self, hparams, seed=None):
    """A new network for `hparams` (weights seeded by `seed`)."""

  @abc.abstractmethod
  def input_spec(self, model):
    """The tf.TensorSpec (structure) of the inputs the compiled train step takes."""

  def model_inputs(self, inputs):
    """`inputs` in the form of :meth:`input_spec` (e.g. dense arrays from a test)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    return tf.convert_to_tensor(inputs, tf.float32)

  @abc.abstractmethod
  def batch_sums(self, model, inputs, labels, lengths, training):
    """The metric sums of one batch (see the module docstring)."""

  # --- figures ---------------------------------------------------------------------------

  @abc.abstractmethod
  def metrics_from_sums(self, sums):
    """Summary values (TensorBoard tags -> floats) of summed batch figures."""

  @abc.abstractmethod
  def progress_line(self, metrics):
    """The figures of a training progress line."""

  @abc.abstractmethod
  def evaluation_line(self, metrics):
    """The figures of an evaluation line (the eval job, validation)."""
