"""Checkpoints of a training run: saved so that a fault loses nothing, listed, restored.

Checkpoints are TF2 object checkpoints (``model.ckpt-<n>.index`` / ``.data``)
of a ``tf.train.Checkpoint(model=..., optimizer=..., step=...)``; only the
``model`` part is needed to generate or evaluate.

Contract of :class:`Checkpoints` (``tf.train.CheckpointManager`` with the
faults handled): a save either completes -- the files written, then the
``checkpoint`` index updated, then old ones rotated out -- or fails with one
DrumsRnnError naming the cause (no space left on device, permission denied)
and the last good checkpoint, which stays listed in the index; what the
failed save had begun (TensorFlow's ``<prefix>_temp`` shard folder, a partial
``.index`` / ``.data``, a ``checkpoint.tmp*`` index temporary) is removed.
The same clean-up runs at the start of every run
(:func:`remove_leftovers`) for what a killed run left; it is safe because
the caller holds the run's lock.

Contract of :func:`newest_intact` (used by training and by every loader): a
checkpoint can be damaged (a full disk, a copy cut short), so checkpoints
are tried newest first and a damaged one is skipped with a warning naming
it; one bad file never loses a whole run.
"""

import errno
import glob
import os
import re
import shutil

import tensorflow as tf
from absl import logging

from drums_rnn import files
from drums_rnn.errors import DrumsRnnError
from drums_rnn.errors import first_line
from drums_rnn.nn import weights

CHECKPOINT_PREFIX = 'model.ckpt'
_STEP = re.compile(r'-(\d+)$')
_LEFTOVER = re.compile(r'^(model\.ckpt-\d+_temp|checkpoint\.tmp[0-9a-f]+)$')
# errno causes TensorFlow reports only inside its message text.
_CAUSES = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EISDIR, errno.ENOTDIR,
           errno.ENOENT)


def remove_leftovers(directory):
  """Removes what an interrupted or failed save left in `directory` (see above)."""
  try:
    names = os.listdir(directory)
  except OSError:
    return
  for name in names:
    if _LEFTOVER.match(name):
      path = os.path.join(directory, name)
      if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
      else:
        try:
          os.remove(path)
        except OSError:
          pass


def error_cause(error):
  """'no space left on device' etc. for a TensorFlow or OS error."""
  if isinstance(error, OSError):
    return files.describe_os_error(error)
  text = str(getattr(error, 'message', '') or error)
  for code in _CAUSES:
    if os.strerror(code) in text:
      return files.describe_os_error(OSError(code, os.strerror(code)))
  lines = [line for line in text.splitlines() if line.strip()]
  return lines[0] if lines else type(error).__name__


class Checkpoints:
  """Saves a tf.train.Checkpoint in `directory` (see the module docstring).

  Args:
    checkpoint: the tf.train.Checkpoint.
    directory: where the checkpoints go.
    max_to_keep: how many to keep (0 = all).
    last_good: the checkpoint restored at the start, if any.
    keep_checkpoint_every_n_hours: also keep one checkpoint per this many hours.
  """

  def __init__(self, checkpoint, directory, max_to_keep, last_good=None,
               keep_checkpoint_every_n_hours=None):
    self.directory = directory
    self.manager = tf.train.CheckpointManager(
        checkpoint, directory, max_to_keep=max_to_keep or None,
        keep_checkpoint_every_n_hours=keep_checkpoint_every_n_hours,
        checkpoint_name=CHECKPOINT_PREFIX)
    self.last_good = last_good
    self._saved_step = step_of(last_good) if last_good else None

  def save(self, step):
    """Saves at `step` (once per step); returns the prefix written."""
    if self._saved_step == step:
      return self.last_good
    prefix = os.path.join(self.directory, f'{CHECKPOINT_PREFIX}-{step}')
    try:
      with weights.quiet_tf_logging():  # TF logs a 'Sharding callback' line per save
        path = self.manager.save(checkpoint_number=step)
    except BaseException as e:  # a signal during a save too: never leave half a checkpoint
      if not self._listed_as_latest(prefix):
        for partial in glob.glob(glob.escape(prefix) + '.*'):
          try:
            os.remove(partial)
          except OSError:
            pass
      remove_leftovers(self.directory)
      if isinstance(e, (tf.errors.OpError, OSError)):
        raise DrumsRnnError(f'cannot save checkpoint {prefix!r}: {error_cause(e)}; the last good '
                            f'checkpoint is {self.last_good or "none"}') from None
      raise
    self.last_good, self._saved_step = path, step
    return path

  def _listed_as_latest(self, prefix):
    """True when the index already lists `prefix` (only the rotation was cut short)."""
    try:
      state = tf.train.get_checkpoint_state(self.directory)
    except (tf.errors.OpError, ValueError):
      return False
    if state is None:
      return False
    latest = state.model_checkpoint_path
    latest = latest if os.path.isabs(latest) else os.path.join(self.directory, latest)
    return os.path.normpath(latest) == os.path.normpath(prefix)


# --- listing and restoring ------------------------------------------------------------


def step_of(prefix):
  """The global step in a checkpoint prefix `.../model.ckpt-<step>` (-1 when it has none)."""
  match = _STEP.search(prefix)
  return int(match.group(1)) if match else -1


def checkpoints_newest_first(directory):
  """Checkpoint prefixes in `directory`, newest (highest step) first.

  Both those the `checkpoint` index lists and any other `*.index` files
  (the index may be damaged or point at a removed file).
  """
  prefixes = set()
  try:
    state = tf.train.get_checkpoint_state(directory)
  except (tf.errors.OpError, ValueError):  # a damaged `checkpoint` index file
    state = None
  if state is not None:
    for path in state.all_model_checkpoint_paths:
      path = path if os.path.isabs(path) else os.path.join(directory, path)
      if os.path.isfile(path + '.index'):
        prefixes.add(os.path.normpath(path))
  for index in glob.glob(os.path.join(glob.escape(directory), '*.index')):
    prefixes.add(os.path.normpath(index[:-len('.index')]))
  return sorted(prefixes, key=lambda p: (step_of(p), p), reverse=True)


def _read_every_tensor(prefix):
  """Reads each tensor of a checkpoint once (checksums checked): damage shows here.

  A restore that fails half-way leaves TF to log one warning per value it
  did not restore (dozens for a training checkpoint) when the objects are
  dropped; checking the files first keeps a damaged checkpoint to one line.
  """
  reader = tf.train.load_checkpoint(prefix)
  for name in reader.get_variable_to_shape_map():
    reader.get_tensor(name)


def restore(checkpoint, prefix, partial=False):
  """Restores `checkpoint` (a tf.train.Checkpoint) from `prefix`; raises DrumsRnnError."""
  status = None
  try:
    _read_every_tensor(prefix)
    status = checkpoint.restore(prefix)
    if partial:
      status.expect_partial()
    status.assert_existing_objects_matched()
  # IndexError: TF's reader on a truncated .data file.
  except (tf.errors.OpError, ValueError, AssertionError, IndexError) as e:
    if status is not None:
      status.expect_partial()  # no warning per unrestored value when it is dropped
    raise DrumsRnnError(f'cannot restore {prefix!r}: {first_line(e)}') from None
  return prefix


def newest_intact(prefixes, open_checkpoint, directory):
  """`open_checkpoint(prefix)` of the first of `prefixes` (newest first) that opens.

  A checkpoint whose opening raises DrumsRnnError (damaged, or made for
  another network) is skipped with a warning naming it. Returns
  (prefix, what open_checkpoint returned), or (None, None) when there are no
  prefixes.

  Raises:
    DrumsRnnError: there are checkpoints but none opens.
  """
  failures = []
  for prefix in prefixes:
    try:
      opened = open_checkpoint(prefix)
    except DrumsRnnError as e:
      reason = str(e).split(': ', 1)[-1]
      logging.warning('checkpoint %s is damaged or does not fit the model (%s); trying an older one',
                      prefix, reason)
      failures.append(f'{os.path.basename(prefix)}: {reason}')
      continue
    if failures:
      logging.warning('using the older checkpoint %s', prefix)
    return prefix, opened
  if failures:
    raise DrumsRnnError(f'no intact checkpoint in {directory!r} that fits the model '
                        f'({"; ".join(failures[:3])}{"; ..." if len(failures) > 3 else ""}): '
                        'are the files damaged, or were they made with other hparams?')
  return None, None


def restore_newest_intact(checkpoint, directory, partial=False):
  """Restores the newest checkpoint of `directory` that reads back whole (:func:`newest_intact`).

  Returns the prefix restored, or None when the directory holds no checkpoint.
  """
  prefix, _ = newest_intact(checkpoints_newest_first(directory),
                            lambda p: restore(checkpoint, p, partial), directory)
  return prefix
