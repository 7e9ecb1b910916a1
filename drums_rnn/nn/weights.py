"""Named weights in TF1 checkpoint files: the form Magenta's checkpoints and every `.mag` bundle hold.

Our TF2 run directories hold object checkpoints (``model/...`` keys, see
:mod:`drums_rnn.training.checkpoints`); models travel to and from Magenta,
and inside bundles, as plain name -> array maps in TF1 checkpoints, which
accept any names (e.g. ``rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel``).
Writing uses TF1 ``Saver`` (V1 single file or V2 prefix) with TF's V1
deprecation banner silenced (:func:`quiet_tf_logging`).
"""

import contextlib
import logging as std_logging

import numpy as np
import tensorflow as tf

from drums_rnn.errors import DrumsRnnError
from drums_rnn.errors import first_line


@contextlib.contextmanager
def quiet_tf_logging():
  """Raises TF's Python logger to ERROR for the block.

  A V1 ``Saver.save`` logs a 6-line "V1 checkpoint format has been
  deprecated" banner each time; bundles must be V1 (Magenta reads them), so
  the banner tells the user nothing.
  """
  logger = tf.get_logger()
  level = logger.level
  logger.setLevel(std_logging.ERROR)
  try:
    yield
  finally:
    logger.setLevel(level)


def read_checkpoint(path):
  """name -> np.ndarray for every tensor in a V1 or V2 checkpoint (damage is an error)."""
  try:
    reader = tf.compat.v1.train.NewCheckpointReader(path)
    shapes = reader.get_variable_to_shape_map()
    return {name: reader.get_tensor(name) for name in shapes}
  except (tf.errors.OpError, ValueError, IndexError) as e:  # IndexError: a truncated .data file
    raise DrumsRnnError(f'cannot read checkpoint {path!r}: {first_line(e)}') from None


def write_checkpoint(weights, path, version=1):
  """Writes name -> array as a TF1 checkpoint (V1 single file or V2 prefix); returns the path.

  Any names may be used (e.g. Magenta's), which object-based TF2
  checkpoints do not allow.
  """
  with tf.Graph().as_default() as graph:
    feeds, assigns, var_list = {}, [], {}
    for name, value in weights.items():
      value = np.asarray(value)
      var = tf.compat.v1.Variable(tf.zeros(value.shape, value.dtype), name=name, use_resource=False)
      ph = tf.compat.v1.placeholder(var.dtype.base_dtype, value.shape)
      assigns.append(var.assign(ph))
      feeds[ph] = value
      var_list[name] = var
    write_version = (tf.compat.v1.train.SaverDef.V1 if version == 1 else tf.compat.v1.train.SaverDef.V2)
    saver = tf.compat.v1.train.Saver(var_list, sharded=False, write_version=write_version)
    with tf.compat.v1.Session(graph=graph) as sess, quiet_tf_logging():
      sess.run(assigns, feeds)
      return saver.save(sess, path, write_meta_graph=False, write_state=False)


def is_object_checkpoint(path):
  """True for a TF2 object checkpoint (ours: the object graph is stored), False for named weights."""
  try:
    names = tf.compat.v1.train.NewCheckpointReader(path).get_variable_to_shape_map()
  except (tf.errors.OpError, ValueError, IndexError):
    return False
  return '_CHECKPOINTABLE_OBJECT_GRAPH' in names
