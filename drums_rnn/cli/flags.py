"""Flags shared by the commands, defined once (as Magenta's drums_rnn_config_flags).

Each command calls the `define_*` functions for the flags it takes, so a
flag has one name, one default and one help text everywhere:

* :func:`define_config_flags`: ``--config``, ``--generator_id``,
  ``--generator_description``, ``--hparams`` (Magenta's config flags, taken by
  create_dataset, train, generate and evaluate);
* :func:`define_log_flag`: ``--log``;
* :func:`define_seed_flag`: ``--seed``;
* :func:`define_model_flags`: ``--bundle_file``, ``--run_dir``,
  ``--checkpoint_file`` (the model to use), read by :func:`model_source`
  (drums_rnn_generate and drums_rnn_evaluate have rules of their own: one
  can also write a bundle, the other scores only when a model is named).

The command line speaks strings; the library takes objects. :func:`config`
and :func:`hparams` turn the flag values into a ``DrumsRnnConfig`` and an
``HParams`` (checked: unknown names, wrong types and out-of-range values are
errors naming the key).
"""

from absl import flags

from drums_rnn import configs
from drums_rnn.errors import DrumsRnnError

FLAGS = flags.FLAGS


def define_config_flags():
  flags.DEFINE_string('config', 'drum_kit', 'Which config to use: drum_kit or one_drum (Magenta\'s), '
                      'drum_kit_control (drum_kit with per-bar style, fill and density controls), or '
                      'humanizer (for drums_rnn_create_dataset and drums_rnn_train). Run directories and '
                      'bundles record their own; for them this is only checked.')
  flags.DEFINE_string('generator_id', None, 'A unique ID for the generator, overriding the default '
                      '(the config name); names bundles saved by drums_rnn_generate '
                      '--save_generator_bundle (Magenta then cannot load them; drums_rnn can).')
  flags.DEFINE_string('generator_description', None, 'A description of the generator, overriding '
                      'the config\'s; stored in saved bundles.')
  flags.DEFINE_string('hparams', '', 'Comma-separated name=value hyperparameters, e.g. '
                      '"batch_size=64,rnn_layer_sizes=[64,64]". Run directories and our bundles '
                      'record their own.')


def define_log_flag():
  flags.DEFINE_string('log', 'INFO', 'The threshold for what messages will be logged: DEBUG, INFO, '
                      'WARN, ERROR, or FATAL.')


def define_seed_flag(help_text):
  flags.DEFINE_integer('seed', None, help_text)


MODEL_FLAGS = ('bundle_file', 'run_dir', 'checkpoint_file')


def define_model_flags(what, shipped_default=True):
  """The flags naming the `what` (e.g. 'drum_kit model') to load; none given = the shipped one
  (with `shipped_default`; else no model)."""
  default = ' (default: the shipped one)' if shipped_default else ''
  flags.DEFINE_string('bundle_file', None, f'A .mag bundle of the {what}{default}.')
  flags.DEFINE_string('run_dir', None, f'A training run directory of the {what}; its newest intact '
                      'checkpoint in run_dir/train is used.')
  flags.DEFINE_string('checkpoint_file', None, f'A checkpoint of the {what}.')


def model_source():
  """The path the model flags name (None: the shipped model); at most one of them may be given."""
  named = [name for name in MODEL_FLAGS if FLAGS[name].value]
  if len(named) > 1:
    raise DrumsRnnError(f'give at most one of --{", --".join(named)}')
  return FLAGS[named[0]].value if named else None


def config():
  """The DrumsRnnConfig named by --config."""
  return configs.get_config(FLAGS.config)


def hparams(for_config=None):
  """--hparams applied to the defaults of `for_config` (default: --config's)."""
  return (for_config or config()).hparams(FLAGS.hparams)


def hparams_overrides():
  """Only the hparams named by --hparams, checked against --config's defaults.

  For models that record their own hparams (bundles, Magenta checkpoints):
  these adjust them, the model fills in the rest.
  """
  return configs.parse_hparams(FLAGS.hparams, config().hparams())


def given(name):
  """True when the flag was given on the command line."""
  return name in FLAGS and FLAGS[name].present
