"""drums_rnn: Magenta's Drums RNN (LSTM + attention over drum events), rebuilt on TensorFlow 2.

The public API is importable from here; each name is imported on first use,
so ``import drums_rnn`` imports no TensorFlow and changes nothing in the
process (the commands set the process up with :func:`configure_process`).
Modules below the package may move; these names stay. docs/design.md maps
the folders in the order the data flows through them.

Configs and training::

    config = drums_rnn.get_config('drum_kit')
    drums_rnn.create_dataset(config, 'midi/', 'data/')
    drums_rnn.train(drums_rnn.task_for(config), 'run/', 'data/training_drum_tracks.tfrecord',
                    {'batch_size': 64}, num_training_steps=1000)

Models, generation, humanizing, measuring::

    loaded = drums_rnn.load_model('run/')              # or a .mag, a checkpoint, None = shipped
    drums_rnn.generate_to_midi(loaded.config, loaded.model, 'out/', [frozenset({36})])
    humanizer = drums_rnn.load_humanizer()
"""

import importlib

__version__ = '0.1.0'

# Public name -> (module, attribute).
_API = {
    # set-up and errors
    'configure_process': ('drums_rnn.runtime', 'configure_process'),
    'DrumsRnnError': ('drums_rnn.errors', 'DrumsRnnError'),
    'ArgumentError': ('drums_rnn.errors', 'ArgumentError'),
    # configs and the registry of model kinds
    'get_config': ('drums_rnn.configs', 'get_config'),
    'task_for': ('drums_rnn.kinds', 'task_for'),
    'create_dataset': ('drums_rnn.kinds', 'create_dataset'),
    # training
    'train': ('drums_rnn.training.loop', 'train'),
    'evaluate_repeatedly': ('drums_rnn.training.eval_job', 'evaluate_repeatedly'),
    # models in and out of files
    'load_model': ('drums_rnn.loading', 'load_model'),
    'save_bundle': ('drums_rnn.loading', 'save_bundle'),
    # generation
    'generate_tracks': ('drums_rnn.language_model.generation', 'generate_tracks'),
    'generate_to_midi': ('drums_rnn.language_model.generation', 'generate_to_midi'),
    'regenerate_voices': ('drums_rnn.language_model.generation', 'regenerate_voices'),
    # the humanizer
    'load_humanizer': ('drums_rnn.loading', 'load_humanizer'),
    'humanize_sequence': ('drums_rnn.humanizer.humanize', 'humanize_sequence'),
    'humanize_files': ('drums_rnn.humanizer.humanize', 'humanize_files'),
    'evaluate_humanizer': ('drums_rnn.humanizer.evaluation', 'evaluate'),
    # measuring
    'read_drum_patterns': ('drums_rnn.measure.patterns', 'read_drum_patterns'),
    'compare_pattern_sets': ('drums_rnn.measure.comparison', 'compare_pattern_sets'),
    'track_log_likelihoods': ('drums_rnn.measure.scoring', 'track_log_likelihoods'),
    'model_likelihood': ('drums_rnn.measure.scoring', 'model_likelihood'),
    'evaluate': ('drums_rnn.measure.report', 'evaluate'),
    'evaluate_controls': ('drums_rnn.language_model.control_evaluation', 'evaluate_controls'),
    # magenta.js
    'export_magentajs': ('drums_rnn.language_model.magentajs', 'export_model'),
}

__all__ = sorted(_API)


def __getattr__(name):
  """Imports a public name on first use (PEP 562)."""
  try:
    module, attribute = _API[name]
  except KeyError:
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}') from None
  value = getattr(importlib.import_module(module), attribute)
  globals()[name] = value
  return value


def __dir__():
  return sorted(set(globals()) | set(_API))
