"""Rebuilds the shipped default model, `drums_rnn/models/drum_kit.mag`, end to end.

Recipe:
  1. Groove MIDI Dataset splits (info.csv: train / validation / test) ->
     drum_kit SequenceExamples, with long performances cut into bar-aligned
     windows of at most 512 steps (`split_long_tracks`) so no drumming is
     thrown away.
  2. Train on `train` in chunks of `--eval_every` steps; after each chunk
     evaluate on `validation` (dropout off) and keep the best checkpoint;
     stop after `--patience` evaluations without improvement, at
     `--max_steps`, or after `--max_hours`.
  3. Evaluate the best checkpoint on `test`.
  4. Write the best model as a Magenta-compatible `.mag` bundle whose
     description credits the data, and its figures as JSON beside it.

The Groove MIDI Dataset is by Gillick et al. (2019), Magenta, CC BY 4.0.

Usage (from the repository root, after scripts/install.sh):
  .venv/bin/python scripts/train_default_model.py \
      --groove_dir=../shared/data/groove --work_dir=/tmp/drums_rnn_default
"""

import glob
import json
import os
import shutil
import sys
import time

from absl import app
from absl import flags
from absl import logging

from drums_rnn import bundle as bundle_lib
from drums_rnn import configs
from drums_rnn import dataset
from drums_rnn import run_dir as run_dir_lib
from drums_rnn import training
from drums_rnn.model import DrumsRnnModel
from drums_rnn.errors import DrumsRnnError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CREDIT = ('Trained on the Groove MIDI Dataset (Gillick et al. 2019, Magenta; CC BY 4.0, '
          'https://magenta.tensorflow.org/datasets/groove).')

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


def _split_dirs(groove_dir, work_dir):
  """Symlink farms work_dir/midi/<split>/ of Groove's files, one per split."""
  import csv  # pylint: disable=g-import-not-at-top
  info = os.path.join(groove_dir, 'info.csv')
  if not os.path.isfile(info):
    raise DrumsRnnError(f'no info.csv in {groove_dir!r}: pass --groove_dir')
  dirs = {}
  with open(info, newline='') as f:
    for row in csv.DictReader(f):
      split_dir = dirs.setdefault(row['split'], os.path.join(work_dir, 'midi', row['split']))
      link = os.path.join(split_dir, row['midi_filename'].replace('/', '__'))
      os.makedirs(split_dir, exist_ok=True)
      if not os.path.lexists(link):
        os.symlink(os.path.join(os.path.abspath(groove_dir), row['midi_filename']), link)
  return dirs


def _datasets(config, groove_dir, work_dir):
  files = {}
  for split, midi_dir in sorted(_split_dirs(groove_dir, work_dir).items()):
    out = os.path.join(work_dir, 'data', split)
    path = os.path.join(out, dataset.TRAINING_FILE)
    if not os.path.isfile(path):
      summary = dataset.create_dataset(config, midi_dir, out, eval_ratio=0.0, seed=0,
                                       split_long_tracks=True)
      for line in summary.lines():
        logging.info('[%s] %s', split, line)
    files[split] = path
  return files


def _evaluate(config, hparams, path, checkpoint):
  evaluator = training.Evaluator(config, hparams, [path])
  return evaluator.evaluate(checkpoint)[1]


def _copy_checkpoint(checkpoint, dest_dir):
  if os.path.isdir(dest_dir):
    shutil.rmtree(dest_dir)
  os.makedirs(dest_dir)
  prefix = os.path.basename(checkpoint)
  for name in os.listdir(os.path.dirname(checkpoint)):
    if name.startswith(prefix + '.'):
      shutil.copy2(os.path.join(os.path.dirname(checkpoint), name), dest_dir)
  return os.path.join(dest_dir, prefix)


def _figures(metrics):
  return {k.replace('metrics/', ''): round(float(v), 4) for k, v in metrics.items()
          if k in ('loss', 'metrics/perplexity', 'metrics/accuracy', 'metrics/event_accuracy',
                   'metrics/no_event_accuracy')}


def main(argv):
  del argv
  start = time.time()
  config = configs.get_config('drum_kit')
  hparams = config.hparams(FLAGS.hparams)
  files = _datasets(config, FLAGS.groove_dir, FLAGS.work_dir)
  run = os.path.join(FLAGS.work_dir, 'run')
  best_dir = os.path.join(FLAGS.work_dir, 'best')
  history_path = os.path.join(FLAGS.work_dir, 'history.json')
  history = json.load(open(history_path)) if os.path.isfile(history_path) else []
  best = min(history, key=lambda h: h['validation']['loss']) if history else None
  stale = 0
  if best:
    stale = sum(1 for h in history if h['step'] > best['step'])
  step = history[-1]['step'] if history else 0
  while step < FLAGS.max_steps and stale < FLAGS.patience:
    if time.time() - start > FLAGS.max_hours * 3600:
      logging.info('Reached --max_hours=%s.', FLAGS.max_hours)
      break
    chunk_start = time.time()
    result = training.train(run, files['train'], config.name, FLAGS.hparams,
                            num_training_steps=step + FLAGS.eval_every, summary_frequency=50,
                            num_checkpoints=2, seed=FLAGS.seed + step)
    step = result.final_step
    if result.stopped_by:  # Ctrl-C / SIGTERM: training saved a checkpoint; stop here too.
      logging.info('Stopped by %s at step %d; run again to resume.', result.stopped_by, step)
      return 1
    metrics = _evaluate(config, hparams, files['validation'], result.checkpoint)
    entry = {'step': step, 'chunk_s': round(time.time() - chunk_start), 'train': _figures(result.last_metrics),
             'validation': _figures(metrics)}
    history.append(entry)
    logging.info('Validation at step %d: %s', step, entry['validation'])
    if best is None or entry['validation']['loss'] < best['validation']['loss']:
      best, stale = entry, 0
      _copy_checkpoint(result.checkpoint, best_dir)
    else:
      stale += 1
    with open(history_path, 'w') as f:
      json.dump(history, f, indent=1)

  if best is None:
    raise DrumsRnnError('no training happened: check --max_steps / --max_hours')
  indexes = glob.glob(os.path.join(best_dir, '*.index'))
  if len(indexes) != 1:
    raise DrumsRnnError(f'expected one best checkpoint in {best_dir!r}, found {len(indexes)}')
  checkpoint = indexes[0][:-len('.index')]
  test = _figures(_evaluate(config, hparams, files['test'], checkpoint))
  model = DrumsRnnModel.from_config(config, hparams)
  run_dir_lib.restore_model_weights(model, checkpoint)
  description = (f'drums_rnn default drum_kit model. {CREDIT} Best validation loss at step '
                 f'{best["step"]}.')
  bundle_lib.save_bundle(FLAGS.output, config, hparams, model, description=description)
  figures = {
      'config': config.name, 'hparams': dict(hparams), 'best_step': best['step'],
      'steps_trained': step,
      'train_and_validate_seconds': sum(h.get('chunk_s', h.get('elapsed_s', 0)) for h in history),
      'validation': best['validation'], 'test': test, 'credit': CREDIT,
      'bundle_bytes': os.path.getsize(FLAGS.output),
      'parameters': int(sum(v.size for v in model.get_magenta_weights().values())),
  }
  with open(os.path.splitext(FLAGS.output)[0] + '.json', 'w') as f:
    json.dump(figures, f, indent=1, sort_keys=True)
  logging.info('Wrote %s and its figures: %s', FLAGS.output, json.dumps(figures))


if __name__ == '__main__':
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  try:
    app.run(main)
  except DrumsRnnError as e:
    sys.exit(f'error: {e}')
