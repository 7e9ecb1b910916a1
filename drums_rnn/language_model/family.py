"""The Drums RNN as a model family (configs `one_drum` and `drum_kit`): what the registry hands out.

:mod:`drums_rnn.kinds` maps a config to this object; every command and the
loader reach the Drums RNN's model, task, dataset and bundle format through
it, so nothing outside this folder asks which kind of model it holds.
"""

import os

from drums_rnn.errors import DrumsRnnError


DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'models',
                             'drum_kit.mag')


class DrumsRnnFamily:
  """The Drums RNN family (see :class:`drums_rnn.kinds.ModelFamily` for the protocol)."""

  kind = 'drums_rnn'
  what = 'a Drums RNN model'

  @property
  def default_model(self):
    return DEFAULT_MODEL

  def task(self, config):
    from drums_rnn.language_model import task  # pylint: disable=import-outside-toplevel  (TF)
    return task.DrumsRnnTask(config)

  def build_model(self, config, hparams, seed=None):
    from drums_rnn.language_model.model import DrumsRnnModel  # pylint: disable=import-outside-toplevel
    return DrumsRnnModel.from_config(config, hparams, seed=seed)

  def dataset_options(self, config):
    """create_dataset options beyond eval_ratio and hparams (which Magenta checks and ignores)."""
    options = ('seed', 'num_workers', 'split_long_tracks')
    return options + ('style_csv', 'control_dropout') if config.encoding.controls else options

  def create_dataset(self, config, input_path, output_dir, hparams=None, eval_ratio=0.1,
                     style_csv=None, control_dropout=0.5, **options):
    """Magenta's dataset (:func:`drums_rnn.data.dataset.create_dataset`); `hparams` are not used.

    A config with controls labels every track (:class:`drums_rnn.measure.labels.TrackControls`):
    styles from the Groove MIDI Dataset's info.csv when `input_path` is its folder, and from
    `style_csv` (``path,style`` rows) for any files; each control of a track is disabled with
    probability `control_dropout`, so the model learns to play with any subset of them.
    """
    del hparams
    from drums_rnn.data import dataset  # pylint: disable=import-outside-toplevel
    track_controls = None
    if config.encoding.controls is not None:
      from drums_rnn.measure import labels  # pylint: disable=import-outside-toplevel
      styles = {}
      if os.path.isfile(os.path.join(input_path, 'info.csv')):
        styles.update(labels.groove_styles(input_path))
      if style_csv:
        styles.update(labels.read_style_csv(style_csv))
      track_controls = labels.TrackControls(config.encoding.controls, styles, options.get('seed', 0),
                                            control_dropout)
    return dataset.create_dataset(config, input_path, output_dir, eval_ratio=eval_ratio,
                                  track_controls=track_controls, **options)

  def model_from_weights(self, config, weights, overrides, source):
    """A Magenta training checkpoint's named weights (read from `source`) -> (HParams, model)."""
    from drums_rnn.language_model import magenta_names  # pylint: disable=import-outside-toplevel
    from drums_rnn.training import run_dir  # pylint: disable=import-outside-toplevel
    if not magenta_names.has_magenta_names(weights):
      raise DrumsRnnError(f'{source!r} holds no Magenta-named variables and no drums_rnn settings '
                          f'({run_dir.SETTINGS_FILE}) are beside it')
    return magenta_names.model_from_weights(config, weights, None, overrides)

  def model_from_bundle(self, config, proto, path, overrides):
    """A `.mag` bundle (ours or Magenta's, either attention layout) -> (HParams, model)."""
    from drums_rnn import bundle  # pylint: disable=import-outside-toplevel
    from drums_rnn.language_model import bundle as graph  # pylint: disable=import-outside-toplevel
    from drums_rnn.language_model import magenta_names  # pylint: disable=import-outside-toplevel

    def attn_length_of(layout, sizes):
      return graph.metagraph_attn_length(proto.metagraph_file, layout, sizes)

    return magenta_names.model_from_weights(config, bundle.bundle_weights(proto, path),
                                            bundle.bundle_hparams(proto), overrides, attn_length_of)

  def make_bundle(self, config, hparams, model, description=None, generator_id=None,
                  generator_description=None):
    """A Magenta-readable GeneratorBundle (weights + TF1 generate graph)."""
    from drums_rnn.language_model import bundle  # pylint: disable=import-outside-toplevel
    return bundle.make_bundle(config, hparams, model.get_weights(), model.attention_layout,
                              description, generator_id, generator_description)

  def model_summary(self, hparams, model):
    """What a log line says of a loaded model."""
    return (f'layers {hparams["rnn_layer_sizes"]}, attn_length {hparams.get("attn_length", 0)}, '
            f'attention layout {model.attention_layout}')


FAMILY = DrumsRnnFamily()
