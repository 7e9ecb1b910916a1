"""THE way to load a model: one function over every place a Drums RNN can live.

:func:`load_model` takes `source`, one of

* a drums_rnn run directory (or its ``train/`` folder): the config and hparams
  saved by training (``drums_rnn_config.json``) and the newest checkpoint that
  reads back whole; a damaged one (a bad ``.index``, a truncated ``.data``) is
  skipped with a warning naming it (:func:`drums_rnn.training.run_dir.restore_newest_intact`);
* one of our checkpoint prefixes (``.../train/model.ckpt-1000``), settings read
  from beside it;
* a Magenta TF1 training checkpoint (a ``model.ckpt-N`` prefix or V1 file, or
  a folder of them: its ``train/`` folder first), whose variables are mapped
  by name (:mod:`drums_rnn.language_model.magenta_names`); it stores no config, so `config`
  picks one (default drum_kit);
* a ``.mag`` bundle, ours or Magenta's, in either attention layout
  (:mod:`drums_rnn.bundle`);
* None: the shipped model :data:`DEFAULT_BUNDLE`.

The same function loads the humanizer (``kind='humanizer'``: its run
directories, checkpoints and bundles; None is the shipped
:data:`DEFAULT_HUMANIZER`). Each caller says which kind it needs, and a model
of the other kind is one clear error.

`config` (a DrumsRnnConfig) and `hparams` (a dict or HParams of overrides,
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
from drums_rnn.language_model import magenta_names as checkpoints
from drums_rnn import configs
from drums_rnn.training import run_dir as run_dir_lib
from drums_rnn.errors import DrumsRnnError

# The shipped default model, used when no source is given.
DEFAULT_BUNDLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'models', 'drum_kit.mag')
DEFAULT_MAGENTA_CONFIG = 'drum_kit'
DEFAULT_HUMANIZER = os.path.join(os.path.dirname(DEFAULT_BUNDLE), 'humanizer.mag')
_KIND_NAMES = {'drums_rnn': 'a Drums RNN model', 'humanizer': 'a humanizer'}


@dataclasses.dataclass(frozen=True)
class LoadedModel:
  """A model ready to generate or score, and where it came from.

  Attributes:
    config: its DrumsRnnConfig.
    hparams: the HParams it was built with.
    model: the DrumsRnnModel (weights loaded).
    source: the file the weights came from (a checkpoint prefix or a bundle).
    kind: 'run_dir', 'checkpoint' (ours), 'magenta_checkpoint' or 'bundle'.
    bundle: the GeneratorBundle proto for a bundle, else None.
  """
  config: configs.DrumsRnnConfig
  hparams: configs.HParams
  model: Any
  source: str
  kind: str
  bundle: Optional[Any] = None


def load_model(source=None, config=None, hparams=None, kind='drums_rnn') -> LoadedModel:
  """Loads the model at `source` (see the module docstring).

  Args:
    kind: 'drums_rnn' or 'humanizer', the kind of model the caller needs.

  Raises:
    DrumsRnnError: `source` does not exist, holds no (intact) checkpoint,
      is not a bundle, is a model of the other kind, or does not fit the
      config / hparams.
  """
  overrides = dict(hparams or {})
  if source is None:
    default = DEFAULT_BUNDLE if kind == 'drums_rnn' else DEFAULT_HUMANIZER  # read now: tests move them
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
  if loaded.config.kind != kind:
    raise DrumsRnnError(f'{source!r} is {_KIND_NAMES[loaded.config.kind]}, not {_KIND_NAMES[kind]}')
  if loaded.config.kind == 'humanizer':
    logging.info('loaded the humanizer from %s (%s): layers %s', loaded.source,
                 loaded.kind.replace('_', ' '), loaded.hparams['rnn_layer_sizes'])
    return loaded
  if loaded.kind != 'magenta_checkpoint':
    if config is not None and config.name != loaded.config.name:
      logging.warning('config %s ignored: %s is a %s model', config.name, source, loaded.config.name)
    if overrides and loaded.kind != 'bundle':
      logging.warning('hparams overrides ignored: a drums_rnn run records the hparams it was trained with')
  hp = loaded.hparams
  logging.info('loaded %s model from %s (%s): layers %s, attn_length %d, attention layout %s',
               loaded.config.name, loaded.source, loaded.kind.replace('_', ' '), hp['rnn_layer_sizes'],
               hp.get('attn_length', 0), loaded.model.attention_layout)
  return loaded


def _looks_like_bundle(path):
  """A plain file that is not a .mag by name: a bundle if it parses as one."""
  try:
    bundle_lib.read_bundle(path)
  except DrumsRnnError:
    return False
  return True


# --- our run directories and checkpoints --------------------------------------


def _build(config, hparams):
  if config.kind == 'humanizer':
    from drums_rnn.humanizer.model import HumanizerModel  # pylint: disable=import-outside-toplevel
    return HumanizerModel.from_hparams(hparams)
  from drums_rnn.language_model.model import DrumsRnnModel  # pylint: disable=import-outside-toplevel
  return DrumsRnnModel.from_config(config, hparams)


def _from_run_dir(path):
  """The newest intact checkpoint beside the run's settings."""
  settings = run_dir_lib.settings_path(path)
  directory = os.path.dirname(settings)
  name, hparams = run_dir_lib.load_settings(directory)
  config = configs.get_config(name)
  model = _build(config, hparams)
  prefix = run_dir_lib.restore_newest_intact(tf.train.Checkpoint(model=model), directory, partial=True)
  if prefix is None:
    raise DrumsRnnError(f'no checkpoint in {directory!r}: has training saved one yet?')
  return LoadedModel(config, hparams, model, prefix, 'run_dir')


def _from_checkpoint(prefix, config, overrides):
  """A checkpoint named by its prefix: ours (settings beside it) or Magenta's (by variable names)."""
  directory = os.path.dirname(os.path.abspath(prefix))
  if not run_dir_lib.settings_path(directory) or checkpoints.is_magenta_checkpoint(prefix):
    return _from_magenta_checkpoint(prefix, checkpoints.read_checkpoint(prefix), config, overrides)
  name, hparams = run_dir_lib.load_settings(directory)
  config = configs.get_config(name)
  model = _build(config, hparams)
  run_dir_lib.restore(tf.train.Checkpoint(model=model), prefix, partial=True)
  return LoadedModel(config, hparams, model, prefix, 'checkpoint')


# --- Magenta checkpoints and bundles -------------------------------------------


def _newest_magenta_checkpoint(path):
  """(prefix, weights) of the newest checkpoint in `path/train` (else `path`) that reads back whole.

  The same fallback as run_dir.restore_newest_intact, for checkpoints read
  by name rather than restored into an object.
  """
  train = run_dir_lib.train_dir(path)
  directory = train if os.path.isdir(train) and run_dir_lib.checkpoints_newest_first(train) else path
  candidates = run_dir_lib.checkpoints_newest_first(directory)
  if not candidates:
    try:  # single-file V1 checkpoints have no .index; the `checkpoint` index names them
      v1 = tf.train.latest_checkpoint(directory)
    except (tf.errors.OpError, ValueError):
      v1 = None
    candidates = [v1] if v1 else []
  if not candidates:
    raise DrumsRnnError(f'no checkpoint in {path!r} (nor in its train/ folder), and no '
                        f'{run_dir_lib.SETTINGS_FILE}: is it a training run directory?')
  damaged = []
  for prefix in candidates:
    try:
      weights = checkpoints.read_checkpoint(prefix)
    except DrumsRnnError as e:
      logging.warning('checkpoint %s is damaged (%s); trying an older one', prefix, str(e).split(': ', 1)[-1])
      damaged.append(os.path.basename(prefix))
      continue
    if damaged:
      logging.warning('using the older checkpoint %s', prefix)
    return prefix, weights
  raise DrumsRnnError(f'no intact checkpoint in {directory!r} (damaged: {", ".join(damaged)})')


def _from_magenta_checkpoint(prefix, weights, config, overrides):
  if not checkpoints.has_magenta_names(weights):
    raise DrumsRnnError(f'{prefix!r} holds no Magenta-named variables and no drums_rnn settings '
                        f'({run_dir_lib.SETTINGS_FILE}) are beside it')
  config = config or configs.get_config(DEFAULT_MAGENTA_CONFIG)
  hp, model = checkpoints.model_from_weights(config, weights, None, overrides)
  return LoadedModel(config, hp, model, prefix, 'magenta_checkpoint')


def _from_bundle(path, overrides):
  proto = bundle_lib.read_bundle(path)
  config = configs.get_config(bundle_lib.bundle_config_name(proto))
  if config.kind == 'humanizer':
    return _humanizer_from_bundle(path, proto, config)

  def attn_length_of(layout, sizes):
    return bundle_lib.metagraph_attn_length(proto.metagraph_file, layout, sizes)

  hp, model = checkpoints.model_from_weights(config, bundle_lib.bundle_weights(proto, path),
                                             bundle_lib.bundle_hparams(proto), overrides, attn_length_of)
  return LoadedModel(config, hp, model, path, 'bundle', proto)


def _humanizer_from_bundle(path, proto, config):
  hparams = config.hparams({k: v for k, v in (bundle_lib.bundle_hparams(proto) or {}).items()
                            if k in config.default_hparams})
  model = _build(config, hparams)
  try:
    model.set_weights(bundle_lib.bundle_weights(proto, path))
  except ValueError as e:
    raise DrumsRnnError(f'bundle {path!r}: {e}') from None
  return LoadedModel(config, hparams, model, path, 'bundle', proto)
