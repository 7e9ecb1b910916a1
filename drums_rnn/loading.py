"""THE way models go in and out of files: :func:`load_model` over every place a model can live,
:func:`save_bundle` to a `.mag`.

:func:`load_model` takes `source`, one of

* a drums_rnn run directory (or its ``train/`` folder): the config and hparams
  saved by training (``drums_rnn_config.json``) and the newest checkpoint that
  reads back whole; a damaged one (a bad ``.index``, a truncated ``.data``) is
  skipped with a warning naming it (:func:`drums_rnn.training.checkpoints.newest_intact`);
* one of our checkpoint prefixes (``.../train/model.ckpt-1000``), settings read
  from beside it;
* a Magenta TF1 training checkpoint (a ``model.ckpt-N`` prefix or V1 file, or
  a folder of them: its ``train/`` folder first), whose variables are mapped
  by name (:mod:`drums_rnn.language_model.magenta_names`); it stores no config,
  so `config` picks one (default drum_kit);
* a ``.mag`` bundle, ours or Magenta's (:mod:`drums_rnn.bundle`);
* None: the shipped model of the kind asked for.

Each caller says which kind of model it needs (``kind='drums_rnn'`` or
``'humanizer'``); a model of another kind is one clear error. What differs
between kinds is asked of the model's family (:mod:`drums_rnn.kinds`).

`config` (a config object) and `hparams` (a dict or HParams of overrides,
only the names to change) are objects; the commands turn their flags into
them. Run directories record their own hparams, so overrides are ignored
there (with a warning); they adjust bundles and Magenta checkpoints (e.g.
``attn_length``, which no variable records). What was loaded is logged.
"""

import dataclasses
import os
from typing import Any, Optional

import tensorflow as tf
from absl import logging

from drums_rnn import bundle as bundle_lib
from drums_rnn import configs
from drums_rnn import files
from drums_rnn import kinds
from drums_rnn.errors import DrumsRnnError
from drums_rnn.nn import weights
from drums_rnn.training import checkpoints
from drums_rnn.training import run_dir as run_dir_lib

# The config of a Magenta training checkpoint when none is given (it records none).
DEFAULT_MAGENTA_CONFIG = 'drum_kit'


@dataclasses.dataclass(frozen=True)
class LoadedModel:
  """A model ready to generate or score, and where it came from.

  Attributes:
    config: its config.
    hparams: the HParams it was built with.
    model: the network (weights loaded).
    source: the file the weights came from (a checkpoint prefix or a bundle).
    origin: 'run_dir', 'checkpoint' (ours), 'magenta_checkpoint' or 'bundle'.
    bundle: the GeneratorBundle proto for a bundle, else None.
  """
  config: Any
  hparams: configs.HParams
  model: Any
  source: str
  origin: str
  bundle: Optional[Any] = None


def load_model(source=None, config=None, hparams=None, kind='drums_rnn') -> LoadedModel:
  """Loads the model at `source` (see the module docstring).

  Args:
    kind: the kind of model the caller needs ('drums_rnn' or 'humanizer'), or None for
      whatever the source holds (None as the source is then the shipped Drums RNN).

  Raises:
    DrumsRnnError: `source` does not exist, holds no (intact) checkpoint,
      is not a bundle, is a model of another kind, or does not fit the
      config / hparams.
  """
  wanted = kinds.family(kind) if kind else None
  overrides = dict(hparams or {})
  if source is None:
    default = kinds.family(kind or 'drums_rnn').default_model
    if not os.path.isfile(default):
      raise DrumsRnnError('no model given (a run directory, a checkpoint or a .mag bundle), and the '
                          f'shipped model {default} is missing')
    logging.info('using the shipped model %s', default)
    source = default
  if os.path.isdir(source):
    if run_dir_lib.settings_path(source):
      loaded = _from_run_dir(source)
    else:
      loaded = _from_magenta_checkpoint(*_newest_magenta_checkpoint(source), config, overrides)
  elif os.path.isfile(source + '.index') or (os.path.isfile(source) and not source.endswith('.mag')
                                              and not _looks_like_bundle(source)):
    loaded = _from_checkpoint(source, config, overrides)
  elif os.path.isfile(source):
    loaded = _from_bundle(source, overrides)
  else:
    raise DrumsRnnError(f'model {source!r} does not exist (give a run directory, a checkpoint prefix '
                        'such as model.ckpt-1000, or a .mag bundle)')
  found = kinds.family(loaded.config)
  if wanted is not None and found is not wanted:
    raise DrumsRnnError(f'{source!r} is {found.what}, not {wanted.what}')
  if loaded.origin != 'magenta_checkpoint':
    if config is not None and config.name != loaded.config.name:
      logging.warning('config %s ignored: %s is a %s model', config.name, source, loaded.config.name)
    if overrides and loaded.origin != 'bundle':
      logging.warning('hparams overrides ignored: a drums_rnn run records the hparams it was trained with')
  logging.info('loaded %s model from %s (%s): %s', loaded.config.name, loaded.source,
               loaded.origin.replace('_', ' '), found.model_summary(loaded.hparams, loaded.model))
  return loaded


def load_humanizer(source=None):
  """The :class:`~drums_rnn.humanizer.humanize.Humanizer` of the humanizer at `source` (run dir,
  checkpoint or .mag; None = the shipped one), compiled once."""
  from drums_rnn.humanizer import humanize  # pylint: disable=import-outside-toplevel
  return humanize.Humanizer(load_model(source, kind='humanizer'))


def save_bundle(path, config, hparams, model, description=None, generator_id=None,
                generator_description=None):
  """Writes `model` as a `.mag` at `path` (atomically; Magenta-readable for the drum configs); returns `path`."""
  if not description:
    logging.warning('no bundle description given; the bundle has only the generator description')
  with files.open_atomic(path, 'wb') as f:  # opened first: an unwritable place fails before the export
    bundle = kinds.family(config).make_bundle(config, hparams, model, description, generator_id,
                                              generator_description)
    f.write(bundle.SerializeToString())
  logging.info('wrote generator bundle %s (%d bytes of checkpoint)', path, len(bundle.checkpoint_file[0]))
  return path


def _looks_like_bundle(path):
  """A plain file that is not a .mag by name: a bundle if it parses as one."""
  try:
    bundle_lib.read_bundle(path)
  except DrumsRnnError:
    return False
  return True


# --- our run directories and checkpoints --------------------------------------


def _settings_model(directory):
  """(config, HParams, a new model) of the run whose settings are in `directory`."""
  name, hparams = run_dir_lib.load_settings(directory)
  config = configs.get_config(name)
  return config, hparams, kinds.family(config).build_model(config, hparams)


def _from_run_dir(path):
  """The newest intact checkpoint beside the run's settings."""
  directory = os.path.dirname(run_dir_lib.settings_path(path))
  config, hparams, model = _settings_model(directory)
  prefix = checkpoints.restore_newest_intact(tf.train.Checkpoint(model=model), directory, partial=True)
  if prefix is None:
    raise DrumsRnnError(f'no checkpoint in {directory!r}: has training saved one yet?')
  return LoadedModel(config, hparams, model, prefix, 'run_dir')


def _from_checkpoint(prefix, config, overrides):
  """A checkpoint named by its prefix: ours (settings beside it) or Magenta's (by variable names)."""
  directory = os.path.dirname(os.path.abspath(prefix))
  if not run_dir_lib.settings_path(directory) or not weights.is_object_checkpoint(prefix):
    return _from_magenta_checkpoint(prefix, weights.read_checkpoint(prefix), config, overrides)
  config, hparams, model = _settings_model(directory)
  checkpoints.restore(tf.train.Checkpoint(model=model), prefix, partial=True)
  return LoadedModel(config, hparams, model, prefix, 'checkpoint')


# --- Magenta checkpoints and bundles -------------------------------------------


def _newest_magenta_checkpoint(path):
  """(prefix, weights) of the newest checkpoint in `path/train` (else `path`) that reads back whole."""
  train = run_dir_lib.train_dir(path)
  directory = train if os.path.isdir(train) and checkpoints.checkpoints_newest_first(train) else path
  candidates = checkpoints.checkpoints_newest_first(directory)
  if not candidates:
    try:  # single-file V1 checkpoints have no .index; the `checkpoint` index names them
      v1 = tf.train.latest_checkpoint(directory)
    except (tf.errors.OpError, ValueError):
      v1 = None
    candidates = [v1] if v1 else []
  if not candidates:
    raise DrumsRnnError(f'no checkpoint in {path!r} (nor in its train/ folder), and no '
                        f'{run_dir_lib.SETTINGS_FILE}: is it a training run directory?')
  return checkpoints.newest_intact(candidates, weights.read_checkpoint, directory)


def _from_magenta_checkpoint(prefix, named_weights, config, overrides):
  config = config or configs.get_config(DEFAULT_MAGENTA_CONFIG)
  hp, model = kinds.family(config).model_from_weights(config, named_weights, overrides, prefix)
  return LoadedModel(config, hp, model, prefix, 'magenta_checkpoint')


def _from_bundle(path, overrides):
  proto = bundle_lib.read_bundle(path)
  config = configs.get_config(bundle_lib.bundle_config_name(proto))
  hp, model = kinds.family(config).model_from_bundle(config, proto, path, overrides)
  return LoadedModel(config, hp, model, path, 'bundle', proto)
