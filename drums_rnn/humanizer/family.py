"""The humanizer as a model family (config `humanizer`): what the registry hands out.

:mod:`drums_rnn.kinds` maps the humanizer config to this object; the loader
and the commands reach its network, task, dataset and bundle through it.
"""

import os

from drums_rnn.errors import DrumsRnnError

DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'models',
                             'humanizer.mag')


class HumanizerFamily:
  """The humanizer family (see :class:`drums_rnn.kinds.ModelFamily` for the protocol)."""

  kind = 'humanizer'
  what = 'a humanizer'

  @property
  def default_model(self):
    return DEFAULT_MODEL

  def task(self, config):
    from drums_rnn.humanizer import task  # pylint: disable=import-outside-toplevel  (TF)
    return task.HumanizerTask(config)

  def build_model(self, config, hparams, seed=None):
    from drums_rnn.humanizer.model import HumanizerModel  # pylint: disable=import-outside-toplevel
    return HumanizerModel.from_config(config, hparams, seed=seed)

  def dataset_options(self, config):
    del config
    return ()

  def create_dataset(self, config, input_path, output_dir, hparams=None, eval_ratio=0.1):
    """4/4 windows of real drumming (:func:`drums_rnn.humanizer.data.create_dataset`); the window
    and hop are the hparams `window_bars` and `hop_bars`."""
    from drums_rnn.humanizer import data  # pylint: disable=import-outside-toplevel
    hparams = hparams or config.hparams()
    return data.create_dataset(input_path, output_dir, window_bars=hparams['window_bars'],
                               hop_bars=hparams['hop_bars'], eval_ratio=eval_ratio)

  def model_from_weights(self, config, weights, overrides, source):
    raise DrumsRnnError(f'{source!r}: a humanizer is loaded from its run directory, checkpoint or '
                        '.mag bundle, not from Magenta-named weights')

  def model_from_bundle(self, config, proto, path, overrides):
    """Our humanizer `.mag` -> (HParams, model); its hparams line gives the network."""
    from drums_rnn import bundle  # pylint: disable=import-outside-toplevel
    saved = bundle.bundle_hparams(proto) or {}
    hparams = config.hparams({k: v for k, v in saved.items() if k in config.default_hparams})
    model = self.build_model(config, hparams)
    try:
      model.set_weights(bundle.bundle_weights(proto, path))
    except DrumsRnnError as e:
      raise DrumsRnnError(f'bundle {path!r}: {e}') from None
    return hparams, model

  def make_bundle(self, config, hparams, model, description=None, generator_id=None,
                  generator_description=None):
    """The same container as a drum model's, without a generate graph.

    Its id is ``humanizer``, its weights a V1 checkpoint under the names of
    :class:`drums_rnn.humanizer.model.HumanizerModel` and its hparams the
    marked line; Magenta has no humanizer to run, so Magenta's tools list
    such a bundle but cannot generate from it.
    """
    del generator_id, generator_description  # the humanizer keeps its config's id
    from drums_rnn import bundle  # pylint: disable=import-outside-toplevel
    return bundle.new_bundle(config, hparams, bundle.checkpoint_bytes(model.get_weights(),
                                                                      'humanizer.ckpt'), description)

  def model_summary(self, hparams, model):
    del model
    return f'layers {hparams["rnn_layer_sizes"]}'


FAMILY = HumanizerFamily()
