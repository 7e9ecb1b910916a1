"""The layout of a training run directory, its saved settings and its checkpoints.

Magenta's layout: ``<run_dir>/train`` holds the checkpoints (and training
summaries), ``<run_dir>/eval`` the evaluation summaries. We add one file
beside the checkpoints, ``drums_rnn_config.json``, holding the config name and
the full hparams used for training, so generation and evaluation rebuild the
same network without the user repeating ``--hparams``; and ``.lock``, the
advisory lock of the one trainer allowed to write the directory
(:class:`drums_rnn.files.RunLock`).

Checkpoints are TF2 object checkpoints (``model.ckpt-<n>.index`` / ``.data``)
of a ``tf.train.Checkpoint(model=..., optimizer=..., step=...)``; only the
``model`` part is needed to generate or evaluate. A checkpoint can be damaged
(a full disk, a copy cut short): :func:`restore_newest_intact` tries them
newest first and falls back to an older one with a warning naming the
damaged one, so one bad file never loses a whole run.
"""

import glob
import json
import os
import re

from absl import logging

from drums_rnn import configs
from drums_rnn import files
from drums_rnn.errors import DrumsRnnError
from drums_rnn.errors import first_line

SETTINGS_FILE = 'drums_rnn_config.json'
_STEP = re.compile(r'-(\d+)$')


def train_dir(run_dir):
  return os.path.join(run_dir, 'train')


def eval_dir(run_dir):
  return os.path.join(run_dir, 'eval')


def save_settings(train_dir_path, config_name, hparams):
  """Writes the config name and the full hparams beside the checkpoints."""
  files.ensure_dir(train_dir_path)
  text = json.dumps({'config': config_name, 'hparams': dict(hparams)}, indent=2, sort_keys=True)
  files.write_text_atomic(os.path.join(train_dir_path, SETTINGS_FILE), text + '\n')


def settings_path(path):
  """The settings file of a run dir or train dir, or None."""
  for candidate in (os.path.join(path, SETTINGS_FILE),
                    os.path.join(train_dir(path), SETTINGS_FILE)):
    if os.path.isfile(candidate):
      return candidate
  return None


def load_settings(run_dir_or_train_dir):
  """Returns (config_name, HParams) saved by training in this run."""
  path = settings_path(run_dir_or_train_dir)
  if path is None:
    raise DrumsRnnError(f'no {SETTINGS_FILE} in {run_dir_or_train_dir!r} or its train/ folder: '
                        'is this a drums_rnn_train run directory?')
  try:
    with open(path, encoding='utf-8') as f:
      data = json.load(f)
    name, hparams = data['config'], data['hparams']
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise DrumsRnnError(f'cannot read {path!r}: {e}') from None
  config = configs.get_config(name)
  return name, config.hparams(hparams)


def _step_of(prefix):
  match = _STEP.search(prefix)
  return int(match.group(1)) if match else -1


def checkpoints_newest_first(directory):
  """Checkpoint prefixes in `directory`, newest (highest step) first.

  Both those the `checkpoint` index lists and any other `*.index` files
  (the index may be damaged or point at a removed file).
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
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
  return sorted(prefixes, key=lambda p: (_step_of(p), p), reverse=True)


def _read_every_tensor(prefix):
  """Reads each tensor of a checkpoint once (checksums checked): damage shows here.

  A restore that fails half-way leaves TF to log one warning per value it
  did not restore (dozens for a training checkpoint) when the objects are
  dropped; checking the files first keeps a damaged checkpoint to one line.
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  reader = tf.train.load_checkpoint(prefix)
  for name in reader.get_variable_to_shape_map():
    reader.get_tensor(name)


def restore(checkpoint, prefix, partial=False):
  """Restores `checkpoint` (a tf.train.Checkpoint) from `prefix`; raises DrumsRnnError."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
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


def restore_newest_intact(checkpoint, directory, partial=False):
  """Restores the newest checkpoint of `directory` that reads back whole.

  Damaged ones are skipped with a warning naming them. Returns the prefix
  restored, or None when the directory holds no checkpoint at all.

  Raises:
    DrumsRnnError: checkpoints exist but none could be restored (all
      damaged, or made with other hparams).
  """
  failures = []
  for prefix in checkpoints_newest_first(directory):
    try:
      restore(checkpoint, prefix, partial)
    except DrumsRnnError as e:
      logging.warning('checkpoint %s is damaged or does not fit the model (%s); trying an older one',
                      prefix, str(e).split(': ', 1)[-1])
      failures.append(f'{os.path.basename(prefix)}: {str(e).split(": ", 1)[-1]}')
      continue
    if failures:
      logging.warning('restored the older checkpoint %s', prefix)
    return prefix
  if failures:
    raise DrumsRnnError(f'no intact checkpoint in {directory!r} that fits the model '
                        f'({"; ".join(failures[:3])}{"; ..." if len(failures) > 3 else ""}): '
                        'are the files damaged, or were they made with other hparams?')
  return None
