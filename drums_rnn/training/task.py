"""What training and the eval job need to know of one kind of model: its task.

:func:`drums_rnn.training.loop.train` and :func:`drums_rnn.training.eval_job.evaluate_repeatedly`
are one loop for every config: the run-directory lock, resume, periodic and
signal checkpoints, validation with patience, summaries and progress lines.
What differs between a Drums RNN and the humanizer is gathered here, as a
:class:`Task`: how its dataset files are checked and batched, its trainer
(network + loss), its evaluator and the words of its progress lines.
:func:`task_for` picks the task of a config by its ``kind``.
"""


class Task:
  """The Drums RNN task (configs one_drum and drum_kit); the humanizer's subclasses it."""

  def check_files(self, config, paths):
    """Refuses files that are damaged or were made for another config (DrumsRnnError)."""
    from drums_rnn.training import input_pipeline  # pylint: disable=import-outside-toplevel  (TF)
    input_pipeline.check_files(paths, config.encoding.input_size, config.encoding.num_classes)

  def training_dataset(self, config, paths, hparams, seed, bucket_by_length):
    """Endless shuffled (inputs, labels, lengths) batches."""
    from drums_rnn.training import input_pipeline  # pylint: disable=import-outside-toplevel
    return input_pipeline.training_dataset(
        paths, config.encoding.input_size, hparams.batch_size, seed=seed,
        num_one_hot=config.encoding.num_classes, bucket_by_length=bucket_by_length)

  def trainer(self, config, hparams, seed, strategy, jit_compile):
    from drums_rnn.training.trainer import Trainer  # pylint: disable=import-outside-toplevel
    return Trainer(config, hparams, seed=seed, strategy=strategy, jit_compile=jit_compile)

  def evaluator(self, config, hparams, paths, num_eval_examples=0, model=None):
    from drums_rnn.training import evaluator as train_metrics  # pylint: disable=import-outside-toplevel
    return train_metrics.Evaluator(config, hparams, paths, num_eval_examples, model=model)

  def metrics_from_sums(self, sums):
    from drums_rnn.training import evaluator as train_metrics  # pylint: disable=import-outside-toplevel
    return train_metrics.metrics_from_sums(sums)

  def progress(self, metrics):
    """The figures of a training progress line."""
    return (f'loss {metrics["loss"]:.4f}, perplexity {metrics["metrics/perplexity"]:.3f}, '
            f'accuracy {metrics["metrics/accuracy"]:.4f}')

  def describe(self, metrics):
    """The figures of an evaluation line."""
    from drums_rnn.training import evaluator as train_metrics  # pylint: disable=import-outside-toplevel
    return train_metrics.describe(metrics)


DRUMS_RNN = Task()


def task_for(config) -> Task:
  """The task of a config (by its `kind`)."""
  if getattr(config, 'kind', 'drums_rnn') == 'humanizer':
    from drums_rnn.humanizer import task as humanizer_training  # pylint: disable=import-outside-toplevel
    return humanizer_training.HUMANIZER
  return DRUMS_RNN
