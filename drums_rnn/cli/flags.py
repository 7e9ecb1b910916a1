"""Flags shared by the commands, defined once (as Magenta's drums_rnn_config_flags).

Each command calls the `define_*` functions for the flags it takes, so a
flag has one name, one default and one help text everywhere:

* :func:`define_config_flags`: ``--config``, ``--generator_id``,
  ``--generator_description``, ``--hparams`` (Magenta's config flags, taken by
  create_dataset, train, generate and evaluate);
* :func:`define_log_flag`: ``--log``;
* :func:`define_seed_flag`: ``--seed``.

The command line speaks strings; the library takes objects. :func:`config`
and :func:`hparams` turn the flag values into a ``DrumsRnnConfig`` and an
``HParams`` (checked: unknown names, wrong types and out-of-range values are
errors naming the key).
"""

from absl import flags

from drums_rnn import configs

FLAGS = flags.FLAGS


def define_config_flags():
  flags.DEFINE_string('config', 'drum_kit', 'Which config to use: drum_kit or one_drum (humanizer: '
                      'the humanizer, for drums_rnn_create_dataset and drums_rnn_train). Run '
                      'directories and bundles record their own; for them this is only checked.')
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
