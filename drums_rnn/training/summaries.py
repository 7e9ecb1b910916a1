"""Scalar summaries of a run (TensorBoard), under Magenta's tags.

Contract of :class:`Summaries`: each batch of values is flushed at once, so a
full disk is one DrumsRnnError there (the empty events file it began is
removed) instead of a traceback.
"""

import glob
import os

import tensorflow as tf

from drums_rnn.errors import DrumsRnnError
from drums_rnn.training.checkpoints import error_cause


class Summaries:
  """Scalar summaries in `directory` (see the module docstring); the file is made at the first write."""

  def __init__(self, directory):
    self.directory = directory
    self._writer = None

  def write(self, metrics, step):
    """Writes each metric as a scalar at `step` and flushes."""
    try:
      if self._writer is None:
        self._writer = tf.summary.create_file_writer(self.directory)
      with self._writer.as_default():
        for tag, value in metrics.items():
          tf.summary.scalar(tag, value, step=step)
      self._writer.flush()
    except tf.errors.OpError as e:
      for path in glob.glob(os.path.join(glob.escape(self.directory),
                                         f'events.out.tfevents.*.{os.getpid()}.*')):
        if os.path.getsize(path) == 0:
          os.remove(path)
      raise DrumsRnnError(f'cannot write summaries in {self.directory!r}: {error_cause(e)}') from None
