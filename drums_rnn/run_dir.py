"""The layout of a training run directory, and loading a trained model from it.

Magenta's layout: ``<run_dir>/train`` holds the checkpoints (and training
summaries), ``<run_dir>/eval`` the evaluation summaries. We add one file
beside the checkpoints, ``drums_rnn_config.json``, holding the config name and
the full hparams used for training, so generation and evaluation rebuild the
same network without the user repeating ``--hparams``.

Checkpoints are TF2 object checkpoints (``ckpt-<n>.index`` / ``.data``) of a
``tf.train.Checkpoint(model=..., optimizer=..., step=...)``; only the
``model`` part is needed to generate or evaluate.
"""

import json
import os

import tensorflow as tf

from drums_rnn import configs
from drums_rnn import io_utils
from drums_rnn.errors import DrumsRnnError

SETTINGS_FILE = 'drums_rnn_config.json'


def train_dir(run_dir):
  return os.path.join(run_dir, 'train')


def eval_dir(run_dir):
  return os.path.join(run_dir, 'eval')


def save_settings(train_dir_path, config_name, hparams):
  """Writes the config name and the full hparams beside the checkpoints."""
  io_utils.ensure_dir(train_dir_path)
  text = json.dumps({'config': config_name, 'hparams': dict(hparams)}, indent=2, sort_keys=True)
  io_utils.write_bytes_atomic(os.path.join(train_dir_path, SETTINGS_FILE), (text + '\n').encode())


def _settings_path(path):
  for candidate in (os.path.join(path, SETTINGS_FILE),
                    os.path.join(train_dir(path), SETTINGS_FILE)):
    if os.path.isfile(candidate):
      return candidate
  return None


def load_settings(run_dir_or_train_dir):
  """Returns (config_name, HParams) saved by training in this run."""
  path = _settings_path(run_dir_or_train_dir)
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


def latest_checkpoint(run_dir):
  """Path prefix of the newest checkpoint in `run_dir/train` (or `run_dir`)."""
  for directory in (train_dir(run_dir), run_dir):
    if os.path.isdir(directory):
      path = tf.train.latest_checkpoint(directory)
      if path:
        return path
  raise DrumsRnnError(f'no checkpoint in {train_dir(run_dir)!r}')


def restore_model_weights(model, checkpoint_path):
  """Restores only the model's variables from a training checkpoint."""
  try:
    status = tf.train.Checkpoint(model=model).restore(checkpoint_path)
    status.expect_partial()
    status.assert_existing_objects_matched()
  except (tf.errors.OpError, ValueError, AssertionError) as e:
    first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise DrumsRnnError(f'cannot restore the model from {checkpoint_path!r} '
                        f'(does it match the config and hparams?): {first_line}') from None
  return checkpoint_path


def load_model(run_dir_or_checkpoint, attention_layout='first_layer'):
  """(config, hparams, model) from a run dir, a train dir or a checkpoint prefix."""
  # Imported here: model imports TF ops only, run_dir stays light to import.
  from drums_rnn.model import DrumsRnnModel

  path = run_dir_or_checkpoint
  if os.path.isdir(path):
    checkpoint = latest_checkpoint(path)
    settings_dir = path
  elif os.path.isfile(path + '.index'):
    checkpoint = path
    settings_dir = os.path.dirname(os.path.abspath(path))
  else:
    raise DrumsRnnError(f'{path!r} is neither a run directory nor a checkpoint')
  name, hparams = load_settings(settings_dir)
  config = configs.get_config(name)
  model = DrumsRnnModel.from_config(config, hparams, attention_layout=attention_layout)
  restore_model_weights(model, checkpoint)
  return config, hparams, model
