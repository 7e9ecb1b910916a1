"""The registry of model kinds: the one place that knows which model families exist.

Every config names its kind (``config.kind``: ``drums_rnn`` for one_drum and
drum_kit, ``humanizer`` for the humanizer); :func:`family` gives that kind's
family object, and everything that differs between families -- the network,
the training task, the dataset, the bundle -- is asked of it. Nothing else
in the package switches on the kind of a model: a new family is one folder
and one line in :data:`FAMILIES`.

Families are imported on first use (their modules pull in TensorFlow), so
importing this module costs nothing.
"""

import importlib
from typing import Protocol, runtime_checkable

from drums_rnn.errors import ArgumentError
from drums_rnn.errors import DrumsRnnError

# kind -> the module holding its FAMILY object.
FAMILIES = {
    'drums_rnn': 'drums_rnn.language_model.family',
    'humanizer': 'drums_rnn.humanizer.family',
}


@runtime_checkable
class ModelFamily(Protocol):
  """What a model family provides (each family folder's ``family.FAMILY``).

  Attributes:
    kind: its name in :data:`FAMILIES` (a config's ``kind``).
    what: how messages name one of its models ('a humanizer').
    default_model: the path of the model shipped in the package.
  """

  kind: str
  what: str

  @property
  def default_model(self) -> str: ...

  def task(self, config):
    """Its :class:`~drums_rnn.training.task.Task` for `config` (what the engine trains)."""

  def build_model(self, config, hparams, seed=None):
    """A new network: `get_weights()` / `set_weights(named arrays)` (DrumsRnnError when they
    do not fit), `weights` (name -> tf.Variable, what checkpoints hold)."""

  def dataset_options(self, config) -> tuple:
    """The options of :meth:`create_dataset` for `config` beyond `hparams` and `eval_ratio`;
    any other is refused by :func:`create_dataset`."""

  def create_dataset(self, config, input_path, output_dir, hparams=None, eval_ratio=0.1, **options):
    """Writes its SequenceExample TFRecords; returns a summary with `lines()`."""

  def model_from_weights(self, config, weights, overrides, source):
    """(HParams, model) from Magenta-named weights of a TF1 checkpoint (at `source`)."""

  def model_from_bundle(self, config, proto, path, overrides):
    """(HParams, model) from a parsed `.mag` GeneratorBundle."""

  def make_bundle(self, config, hparams, model, description=None, generator_id=None,
                  generator_description=None):
    """A GeneratorBundle proto of `model`."""

  def model_summary(self, hparams, model) -> str:
    """What a log line says of a loaded model."""


def family(config_or_kind) -> ModelFamily:
  """The family of a config (or of a kind's name)."""
  kind = getattr(config_or_kind, 'kind', config_or_kind)
  if kind not in FAMILIES:
    raise DrumsRnnError(f'unknown kind of model {kind!r}: the kinds are {", ".join(FAMILIES)}')
  return importlib.import_module(FAMILIES[kind]).FAMILY


def task_for(config):
  """The training task of `config`: what :func:`drums_rnn.training.loop.train` is handed."""
  return family(config).task(config)


def create_dataset(config, input_path, output_dir, hparams=None, eval_ratio=0.1, **options):
  """Writes the training datasets of `config` from music files (its family's dataset).

  `options` are the config's own (:meth:`ModelFamily.dataset_options`; for
  the Drums RNN configs `seed`, `num_workers`, `split_long_tracks`, and
  `style_csv` with controls); one it does not take is an error naming it
  rather than silently ignored.
  """
  fam = family(config)
  takes = fam.dataset_options(config)
  unknown = sorted(set(options) - set(takes))
  if unknown:
    named = ', '.join('{%s}' % name for name in unknown)
    takes = ', '.join(takes) or 'none'
    raise ArgumentError(f'the {config.name} dataset does not use {named} (its own options: {takes})',
                        *unknown)
  return fam.create_dataset(config, input_path, output_dir, hparams=hparams, eval_ratio=eval_ratio,
                            **options)

