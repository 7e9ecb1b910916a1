"""Rebuilds a shipped Drums RNN model end to end: `drums_rnn/models/drum_kit.mag` (the default) or,
with `--config=drum_kit_control --output=drums_rnn/models/drum_kit_control.mag`, the controlled one.

Recipe:
  1. Groove MIDI Dataset splits (info.csv: train / validation / test) ->
     SequenceExamples of the config, with long performances cut into
     bar-aligned windows of at most 512 steps (`split_long_tracks`) so no
     drumming is thrown away. For drum_kit_control every track is labelled
     (style from info.csv, written as a style CSV; fills by the shipped
     detector; density), each control of a track disabled with probability
     `--control_dropout`, and the short fill files join (its config keeps
     tracks of two steps or more); the test split is also written with every control given
     (`test_true`) and with every control disabled (`test_disabled`).
  2. One `training.train` call on `train`: every `--eval_every` steps it
     evaluates on `validation` (dropout off) and keeps the best checkpoint in
     `<work_dir>/run/train/best`; it stops after `--patience` evaluations
     without improvement, at `--max_steps`, or after `--max_hours`. For
     drum_kit_control, `--init_from` starts from a trained drum_kit bundle
     (the control inputs start at zero, so it begins playing as the plain
     model does), `--freeze_copied` then trains only the added control weights,
     and `--balance_tokens` batches about equal steps (the fill
     snippets weigh by their steps); the shipped model used all three
     (README, "Grooves on request", says what each gave).
  3. Loads the best checkpoint (`loading.load_model`) and evaluates it on `test`.
  4. Writes it as a Magenta-compatible `.mag` bundle whose description
     credits the data, and its figures as JSON beside it.

Run it again with the same flags to resume: the datasets are kept, training
continues from the newest checkpoint with its validation history, and a run
that already stopped goes straight to steps 3-4. Ctrl-C / SIGTERM save a
checkpoint and exit 130 / 143.

The Groove MIDI Dataset is by Gillick et al. (2019), Magenta, CC BY 4.0.

Usage (from the repository root, after scripts/install.sh):
  .venv/bin/python scripts/train_default_model.py \
      --groove_dir=../shared/data/groove --work_dir=/tmp/drums_rnn_default
  .venv/bin/python scripts/train_default_model.py --config=drum_kit_control \
      --control_dropout=0.5 --init_from=drums_rnn/models/drum_kit.mag --freeze_copied \
      --balance_tokens --hparams='batch_size=64,rnn_layer_sizes=[128,128],attn_length=16,dropout_keep_prob=0.7,learning_rate=0.003' \
      --patience=4 --max_hours=1.0 --groove_dir=../shared/data/groove \
      --work_dir=/tmp/drums_rnn_control --output=drums_rnn/models/drum_kit_control.mag
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
from drums_rnn.cli import common  # noqa: E402
from drums_rnn.errors import DrumsRnnError  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CREDIT = groove.MODEL_CREDIT

FLAGS = flags.FLAGS
flags.DEFINE_string('groove_dir', os.path.join(REPO_ROOT, '..', 'shared', 'data', 'groove'),
                    'Folder of the Groove MIDI Dataset (the one holding info.csv).')
flags.DEFINE_string('work_dir', '/tmp/drums_rnn_default', 'Scratch folder: datasets and the run.')
flags.DEFINE_string('output', os.path.join(REPO_ROOT, 'drums_rnn', 'models', 'drum_kit.mag'),
                    'Where the bundle is written (figures go to the same name with .json).')
flags.DEFINE_string('hparams', 'batch_size=64,rnn_layer_sizes=[128,128],attn_length=16,'
                    'dropout_keep_prob=0.7', 'drum_kit hparams for the default model.')
flags.DEFINE_integer('eval_every', 200, 'Training steps between validation evaluations.')
flags.DEFINE_integer('patience', 4, 'Evaluations without improvement before stopping.')
flags.DEFINE_integer('max_steps', 20000, 'Upper bound on training steps.')
flags.DEFINE_float('max_hours', 1.5, 'Upper bound on training wall time.')
flags.DEFINE_integer('seed', 1, 'Seed for initialisation, dropout and shuffling.')
flags.DEFINE_string('config', 'drum_kit', 'The Drums RNN config: drum_kit or drum_kit_control.')
flags.DEFINE_boolean('bucket_by_length', True, 'Batch tracks of similar length together.')
flags.DEFINE_boolean('balance_tokens', False, 'With --bucket_by_length: batches of about equal steps. '
                     'For drum_kit_control: otherwise its hundreds of one-bar fill snippets fill half '
                     'the batches, each weighing as much in a step as a batch of 32-bar performances.')
flags.DEFINE_string('init_from', '', 'drum_kit_control: start from this trained drum_kit bundle '
                    '(e.g. drums_rnn/models/drum_kit.mag, of the same size); the control inputs start '
                    'at zero (language_model/warm_start.py). Empty: from random weights.')
flags.DEFINE_boolean('freeze_copied', False, 'With --init_from: keep every weight copied from it '
                     'fixed and train only the added control weights, so the plain model\'s drumming '
                     'stays as it was and the controls learn as biases on its first layer\'s inputs.')
flags.DEFINE_float('control_dropout', 0.25, 'drum_kit_control: the chance that a control of a training '
                   'or validation track is disabled.')


def _split_dir(groove_dir, work_dir, split):
  """A symlink farm work_dir/midi/<split>/ of the split's Groove files (names keep their folders)."""
  split_dir = files.ensure_dir(os.path.join(work_dir, 'midi', split))
  for path in groove.split_files(groove_dir, split):
    link = os.path.join(split_dir, os.path.relpath(path, groove_dir).replace(os.sep, '__'))
    if not os.path.lexists(link):
      os.symlink(os.path.abspath(path), link)
  return split_dir


def _style_csv(groove_dir, work_dir):
  """work_dir/styles.csv: each Groove file's style (info.csv's, in the controls' vocabulary)."""
  from drums_rnn.measure import labels  # pylint: disable=import-outside-toplevel
  path = os.path.join(work_dir, 'styles.csv')
  rows = ''.join(f'{name},{style}\n' for name, style in sorted(labels.groove_styles(groove_dir).items()))
  files.write_text_atomic(path, 'path,style\n' + rows)
  return path


def _datasets(config, groove_dir, work_dir):
  """The SequenceExample file of each split (and test variants), made once and kept for later runs."""
  from drums_rnn.data import dataset  # pylint: disable=import-outside-toplevel
  variants = [(split, split, {}) for split in groove.SPLITS]
  if config.encoding.controls:
    style_csv = _style_csv(groove_dir, work_dir)
    variants = ([(split, split, {'style_csv': style_csv, 'control_dropout': FLAGS.control_dropout})
                 for split in groove.SPLITS] +
                [('test_true', 'test', {'style_csv': style_csv, 'control_dropout': 0.0}),
                 ('test_disabled', 'test', {'style_csv': style_csv, 'control_dropout': 1.0})])
  paths = {}
  for name, split, options in variants:
    out = os.path.join(work_dir, 'data', name)
    path = os.path.join(out, dataset.TRAINING_FILE)
    if not os.path.isfile(path):
      summary = kinds.create_dataset(config, _split_dir(groove_dir, work_dir, split), out,
                                     eval_ratio=0.0, seed=0, split_long_tracks=True, **options)
      for line in summary.lines():
        logging.info('[%s] %s', name, line)
    paths[name] = path
  return paths


def _figures(metrics):
  return {k.replace('metrics/', ''): round(float(v), 4) for k, v in metrics.items()
          if k in ('loss', 'metrics/perplexity', 'metrics/accuracy', 'metrics/event_accuracy',
                   'metrics/no_event_accuracy')}


def main(argv):
  del argv
  config = configs.get_config(FLAGS.config)
  overrides = configs.parse_hparams(FLAGS.hparams, config.hparams())
  data = _datasets(config, FLAGS.groove_dir, FLAGS.work_dir)
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel
  from drums_rnn.training import loop  # pylint: disable=import-outside-toplevel
  from drums_rnn.training.evaluator import Evaluator  # pylint: disable=import-outside-toplevel

  task = kinds.task_for(config)
  warm_start, frozen = None, None
  if FLAGS.freeze_copied and not FLAGS.init_from:
    raise DrumsRnnError('--freeze_copied needs --init_from (the weights to keep fixed)')
  if FLAGS.init_from:
    from drums_rnn.language_model import warm_start as warm_start_lib  # pylint: disable=import-outside-toplevel
    source = loading.load_model(FLAGS.init_from).model
    warm_start = lambda model: warm_start_lib.widen_into(source, model)  # noqa: E731
    if FLAGS.freeze_copied:
      fresh = task.build_model(config.hparams(overrides), 0)
      frozen = warm_start_lib.copied_entries(source, fresh)
  result = loop.train(
      task, os.path.join(FLAGS.work_dir, 'run'), data['train'], overrides,
      num_training_steps=FLAGS.max_steps, summary_frequency=50, num_checkpoints=2, seed=FLAGS.seed,
      validation_file=data['validation'], validate_every=FLAGS.eval_every, patience=FLAGS.patience,
      max_hours=FLAGS.max_hours, bucket_by_length=FLAGS.bucket_by_length,
      balance_tokens=FLAGS.balance_tokens, warm_start=warm_start, frozen=frozen)
  if result.stopped_by:
    code, line = result.signal_exit()
    common.fail(line, code)
  if not result.best_checkpoint:
    raise DrumsRnnError('no validation happened, so there is no best checkpoint: check --max_steps '
                        '/ --max_hours / --eval_every')
  history = result.history
  best = min(history, key=lambda h: h['validation']['loss'])
  loaded = loading.load_model(os.path.dirname(result.best_checkpoint))
  tests = {name: _figures(Evaluator(task, loaded.hparams, [path], model=loaded.model).evaluate_model())
           for name, path in data.items() if name.startswith('test')}
  kind = 'default drum_kit' if config.name == 'drum_kit' else config.name
  description = f'drums_rnn {kind} model. {CREDIT} Best validation loss at step {best["step"]}.'
  loading.save_bundle(FLAGS.output, loaded.config, loaded.hparams, loaded.model,
                     description=description)
  figures = {
      'config': config.name, 'hparams': dict(loaded.hparams), 'best_step': best['step'],
      'steps_trained': result.final_step,
      'train_and_validate_seconds': round(sum(h['seconds'] for h in history)),
      'validation': _figures(best['validation']), **tests, 'credit': CREDIT,
      'bundle_bytes': os.path.getsize(FLAGS.output),
      'parameters': int(sum(v.size for v in loaded.model.get_weights().values())),
  }
  files.write_text_atomic(os.path.splitext(FLAGS.output)[0] + '.json',
                          json.dumps(figures, indent=1, sort_keys=True))
  logging.info('Wrote %s and its figures: %s', FLAGS.output, json.dumps(figures))
  return 0


if __name__ == '__main__':
  common.run(main, __name__)
