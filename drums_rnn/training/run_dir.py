"""The layout of a training run directory and the settings saved in it.

Magenta's layout: ``<run_dir>/train`` holds the checkpoints (and training
summaries), ``<run_dir>/eval`` the evaluation summaries. We add one file
beside the checkpoints, ``drums_rnn_config.json``, holding the config name and
the full hparams used for training, so generation and evaluation rebuild the
same network without the user repeating ``--hparams``; and ``.lock``, the
advisory lock of the one trainer allowed to write the directory
(:class:`drums_rnn.files.RunLock`).

The checkpoints themselves are :mod:`drums_rnn.training.checkpoints`'.
"""

import json
import os

from drums_rnn import configs
from drums_rnn import files
from drums_rnn.errors import DrumsRnnError

SETTINGS_FILE = 'drums_rnn_config.json'


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
