"""Rebuilds the shipped humanizer, `drums_rnn/models/humanizer.mag`, end to end.

Recipe:
  1. Groove MIDI Dataset (info.csv: train / validation / test) -> humanizer
     windows of 4 bars every 2 bars (`humanizer_data.create_dataset`; files in
     other meters than 4/4 are skipped and counted).
  2. One `training.train` call with `--config=humanizer` on `train`: every
     `--eval_every` steps it evaluates on `validation` (dropout off), keeps the
     best checkpoint in `<work_dir>/run/train/best`, and stops after
     `--patience` evaluations without improvement, at `--max_steps`, or after
     `--max_hours`.
  3. Loads the best checkpoint (`loading.load_model(kind='humanizer')`) and
     scores it on the test windows.
  4. Writes it as a `.mag` bundle whose description credits the data, and its
     figures as JSON beside it. The whole-performance evaluation against the
     baselines is `drums_rnn_humanize --evaluate` (the README's table).

Run it again with the same flags to resume; a run that already stopped goes
straight to steps 3-4. The Groove MIDI Dataset is by Gillick et al. (2019),
Magenta, CC BY 4.0.

Usage (from the repository root, after scripts/install.sh):
  .venv/bin/python scripts/train_humanizer.py --groove_dir=../shared/data/groove \
      --work_dir=/tmp/drums_rnn_humanizer
"""

import json
import os
import sys

from absl import flags
from absl import logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from drums_rnn import configs  # noqa: E402
from drums_rnn import files  # noqa: E402
from drums_rnn import kinds  # noqa: E402
from drums_rnn.data import groove  # noqa: E402
from drums_rnn.humanizer import data as humanizer_data  # noqa: E402
from drums_rnn.cli import common  # noqa: E402
from drums_rnn.errors import DrumsRnnError  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CREDIT = groove.MODEL_CREDIT

FLAGS = flags.FLAGS
flags.DEFINE_string('groove_dir', os.path.join(REPO_ROOT, '..', 'shared', 'data', 'groove'),
                    'Folder of the Groove MIDI Dataset (the one holding info.csv).')
flags.DEFINE_string('work_dir', '/tmp/drums_rnn_humanizer', 'Scratch folder: datasets and the run.')
flags.DEFINE_string('output', os.path.join(REPO_ROOT, 'drums_rnn', 'models', 'humanizer.mag'),
                    'Where the bundle is written (figures go to the same name with .json).')
flags.DEFINE_string('hparams', '', 'humanizer hparams (defaults: configs.py).')
flags.DEFINE_integer('eval_every', 400, 'Training steps between validation evaluations.')
flags.DEFINE_integer('patience', 5, 'Evaluations without improvement before stopping.')
flags.DEFINE_integer('max_steps', 20000, 'Upper bound on training steps.')
flags.DEFINE_float('max_hours', 1.0, 'Upper bound on training wall time.')
flags.DEFINE_integer('seed', 1, 'Seed for initialisation, dropout and shuffling.')


def _datasets(config, hparams, groove_dir, work_dir):
  """The window file of each split (windows as the hparams say), made once and kept for later runs."""
  out = os.path.join(work_dir, 'data')
  paths = {s: os.path.join(out, humanizer_data.output_name(s)) for s in humanizer_data.SPLITS}
  if not all(os.path.isfile(p) for p in paths.values()):
    for line in kinds.create_dataset(config, groove_dir, out, hparams=hparams).lines():
      logging.info('%s', line)
  return paths


def _figures(metrics):
  return {k.replace('metrics/', ''): round(float(v), 4) for k, v in metrics.items()}


def main(argv):
  del argv
  config = configs.get_config('humanizer')
  overrides = configs.parse_hparams(FLAGS.hparams, config.hparams())
  data = _datasets(config, config.hparams(overrides), FLAGS.groove_dir, FLAGS.work_dir)
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel
  from drums_rnn.training import loop  # pylint: disable=import-outside-toplevel
  from drums_rnn.training.evaluator import Evaluator  # pylint: disable=import-outside-toplevel

  task = kinds.task_for(config)
  result = loop.train(
      task, os.path.join(FLAGS.work_dir, 'run'), data['train'], overrides,
      num_training_steps=FLAGS.max_steps, summary_frequency=100, num_checkpoints=2, seed=FLAGS.seed,
      validation_file=data['validation'], validate_every=FLAGS.eval_every, patience=FLAGS.patience,
      max_hours=FLAGS.max_hours)
  if result.stopped_by:
    code, line = result.signal_exit()
    common.fail(line, code)
  if not result.best_checkpoint:
    raise DrumsRnnError('no validation happened, so there is no best checkpoint: check --max_steps '
                        '/ --max_hours / --eval_every')
  history = result.history
  best = min(history, key=lambda h: h['validation']['loss'])
  loaded = loading.load_model(os.path.dirname(result.best_checkpoint), kind='humanizer')
  test = Evaluator(task, loaded.hparams, [data['test']], model=loaded.model).evaluate_model()
  description = (f'drums_rnn default humanizer. {CREDIT} Best validation loss at step '
                 f'{best["step"]}.')
  loading.save_bundle(FLAGS.output, loaded.config, loaded.hparams, loaded.model, description=description)
  figures = {
      'config': config.name, 'hparams': dict(loaded.hparams), 'best_step': best['step'],
      'steps_trained': result.final_step,
      'train_and_validate_seconds': round(sum(h['seconds'] for h in history)),
      'validation': _figures(best['validation']), 'test_windows': _figures(test), 'credit': CREDIT,
      'bundle_bytes': os.path.getsize(FLAGS.output), 'parameters': loaded.model.num_parameters(),
  }
  files.write_text_atomic(os.path.splitext(FLAGS.output)[0] + '.json',
                          json.dumps(figures, indent=1, sort_keys=True))
  logging.info('Wrote %s and its figures: %s', FLAGS.output, json.dumps(figures))
  return 0


if __name__ == '__main__':
  common.run(main, __name__)
