"""Rebuilds the shipped magenta.js model, `drums_rnn/models/drum_kit_magentajs/`, end to end.

magenta.js runs Drums RNN models without attention exactly (drums_rnn.language_model.magentajs),
so the browser-ready model is the default model's recipe with attn_length=0:

  1. scripts/train_default_model.py with --hparams=batch_size=64,
     rnn_layer_sizes=[128,128],attn_length=0,dropout_keep_prob=0.7 (the Groove
     train split, validation every 200 steps, early stopping, at most
     --max_hours), writing the bundle --bundle_file and its figures beside it
     (test perplexity on the recipe's windows). Run again, it resumes: a run
     stopped by early stopping or --max_steps goes straight to the bundle, one
     stopped by --max_hours trains up to --max_hours more; --notrain skips
     this step and uses the --bundle_file it wrote.
  2. For this model and the shipped attention model (drums_rnn/models/drum_kit.mag),
     as scripts/evaluate_default_model.sh does: 100 generated tracks
     (128 steps, primer one kick, seed 1) compared with the Groove test split
     on their first 8 bars, and the test split's perplexity under Magenta's
     extraction (drums_rnn_evaluate).
  3. Exports the bundle into --output_dir (drums_rnn_export_magentajs's
     library call), with figures.json (the figures of 1 and 2, both models side
     by side) and a README.md crediting the data, in the same all-or-nothing
     write (an earlier export there is replaced), and writes the same model
     as --output_bundle for drums_rnn_generate and drums_rnn_studio.

The Groove MIDI Dataset is by Gillick et al. (2019), Magenta, CC BY 4.0.

Usage (from the repository root, after scripts/install.sh):
  .venv/bin/python scripts/train_magentajs_model.py --groove_dir=../shared/data/groove \
      --work_dir=/tmp/drums_rnn_browser
"""

import json
import os
import shutil
import subprocess
import sys

from absl import flags
from absl import logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from drums_rnn.language_model import magentajs  # noqa: E402
from drums_rnn.cli import common  # noqa: E402
from drums_rnn.errors import DrumsRnnError  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HPARAMS = 'batch_size=64,rnn_layer_sizes=[128,128],attn_length=0,dropout_keep_prob=0.7'
SHIPPED = os.path.join(REPO_ROOT, 'drums_rnn', 'models', 'drum_kit.mag')
CREDIT = ('Trained on the Groove MIDI Dataset (Gillick et al. 2019, "Learning to Groove with Inverse '
          'Sequence Transformations", Magenta; CC BY 4.0, https://magenta.tensorflow.org/datasets/groove).')
PRIMER = '[(36,)]'

FLAGS = flags.FLAGS
flags.DEFINE_string('groove_dir', os.path.join(REPO_ROOT, '..', 'shared', 'data', 'groove'),
                    'Folder of the Groove MIDI Dataset (the one holding info.csv).')
flags.DEFINE_string('work_dir', '/tmp/drums_rnn_browser', 'Scratch folder: datasets, the run, evaluations.')
flags.DEFINE_string('bundle_file', None, 'Where the trained bundle goes (figures beside it as .json); '
                    'default: <work_dir>/drum_kit_browser.mag.')
flags.DEFINE_string('output_dir', os.path.join(REPO_ROOT, 'drums_rnn', 'models', 'drum_kit_magentajs'),
                    'The magenta.js folder to write (an earlier export there is replaced).')
flags.DEFINE_string('output_bundle', os.path.join(REPO_ROOT, 'drums_rnn', 'models', 'drum_kit_magentajs.mag'),
                    'The same model as a .mag bundle (for drums_rnn_generate and drums_rnn_studio), '
                    'described as the magenta.js model; empty: none.')
flags.DEFINE_string('hparams', HPARAMS, 'drum_kit hparams of the model (attn_length must stay 0).')
flags.DEFINE_boolean('train', True, 'Run step 1; --notrain uses the --bundle_file step 1 already wrote.')
flags.DEFINE_float('max_hours', 1.5, 'Upper bound on training wall time (step 1).')
flags.DEFINE_integer('max_steps', 20000, 'Upper bound on training steps (step 1).')
flags.DEFINE_integer('eval_every', 200, 'Training steps between validation evaluations (step 1).')


def _bin(name):
  """A command of this environment (the venv's bin folder beside the interpreter)."""
  path = os.path.join(os.path.dirname(sys.executable), name)
  return path if os.path.exists(path) else name


def _run(args):
  logging.info('running: %s', ' '.join(args))
  proc = subprocess.run(args, cwd=REPO_ROOT, check=False)
  if proc.returncode:
    raise DrumsRnnError(f'{os.path.basename(args[0])} failed with exit code {proc.returncode}')


def _evaluate(name, bundle_path, eval_dir):
  """Pattern features of 100 generated tracks against the Groove test split, and test perplexity."""
  out = os.path.join(eval_dir, name)
  shutil.rmtree(out, ignore_errors=True)
  os.makedirs(out)
  _run([_bin('drums_rnn_generate'), f'--bundle_file={bundle_path}', f'--output_dir={out}/generated',
        '--num_outputs=100', '--num_steps=128', f'--primer_drums={PRIMER}', '--seed=1'])
  _run([_bin('drums_rnn_evaluate'), f'--bundle_file={bundle_path}', f'--groove_dir={FLAGS.groove_dir}',
        '--reference_split=test', f'--midi_dir={out}/generated', '--max_bars=8',
        f'--output_json={out}/generated_vs_test.json'])
  _run([_bin('drums_rnn_evaluate'), f'--bundle_file={bundle_path}', f'--groove_dir={FLAGS.groove_dir}',
        '--reference_split=test', f'--output_json={out}/test_likelihood.json'])
  with open(os.path.join(out, 'generated_vs_test.json'), encoding='utf-8') as f:
    patterns = json.load(f)
  with open(os.path.join(out, 'test_likelihood.json'), encoding='utf-8') as f:
    likelihood = json.load(f)['likelihood']
  features = {}
  for k, v in patterns['features'].items():
    entry = {'mean': v['evaluated_mean'], 'std': v['evaluated_std']} if 'evaluated_mean' in v else {}
    if v.get('overlap') is not None:
      entry.update(overlap=v['overlap'], kl=v['kl'])
    features[k] = entry
  reference = {k: {'mean': v['reference_mean'], 'std': v['reference_std']}
               for k, v in patterns['features'].items() if 'reference_mean' in v}
  test = {k: likelihood[k] for k in ('num_tracks', 'mean_log_likelihood', 'perplexity', 'accuracy')}
  return features, reference, test


def _readme(figures):
  browser, shipped = figures['browser_model'], figures['shipped_attention_model']
  return f"""# drum_kit_magentajs: a Drums RNN for magenta.js

A `drum_kit` Drums RNN without attention (layers {browser['hparams']['rnn_layer_sizes']}, \
{browser['parameters']:,} parameters) as a checkpoint folder for `@magenta/music`'s `MusicRNN`:
serve this folder over HTTP and load it with `new mm.MusicRNN('<its URL>')`, where pages use the
`drum_kit_rnn` checkpoint URL. It continues a primer exactly as drums_rnn does (tested against
@magenta/music {magentajs.MAGENTAJS_VERSION}).

{CREDIT}

Test split perplexity (Magenta's extraction, `drums_rnn_evaluate`): \
{browser['test_magenta_extraction']['perplexity']:.2f} (the shipped attention model: \
{shipped['test_magenta_extraction']['perplexity']:.2f}). Made by `scripts/train_magentajs_model.py`; \
`figures.json` holds all the figures. Built with drums_rnn (Apache 2.0).
""".encode('utf-8')


FEATURE_ROWS = (('density_kick', 'kick hits per bar'), ('density_snare', 'snare hits per bar'),
                ('density_hihat', 'hi-hat hits per bar'), ('density_toms', 'tom hits per bar'),
                ('density_cymbals', 'cymbal hits per bar'), ('class_histogram', 'drum-class histogram'),
                ('syncopation', 'syncopation'), ('offbeat_ratio', 'off-beat ratio'), ('symmetry', 'symmetry'),
                ('repetition', 'repetition between bars'), ('empty_step_ratio', 'empty-step ratio'))


def figures_markdown(figures):
  """The README's tables: both models' figures side by side."""
  browser, shipped = figures['browser_model'], figures['shipped_attention_model']

  def ppl(model, key):
    test = model[key]
    return f"{test['perplexity']:.2f} (accuracy {test['accuracy']:.3f})"

  def mean(stats):
    return f"{stats['mean']:.2f} +- {stats['std']:.2f}" if 'mean' in stats else ''

  def oa(stats):
    return f"{stats['overlap']:.3f} / {stats['kl']:.3f}" if 'overlap' in stats else ''

  lines = ['| | browser model (no attention) | shipped model (attention 16) |', '|---|---|---|',
           f"| layers, parameters | {browser['hparams']['rnn_layer_sizes']}, {browser['parameters']:,} | "
           f"{shipped['hparams']['rnn_layer_sizes']}, {shipped['parameters']:,} |",
           f"| best step / steps trained | {browser['best_step']} / {browser['steps_trained']} | "
           f"{shipped['best_step']} / {shipped['steps_trained']} |",
           f"| test perplexity, recipe windows | {ppl(browser, 'test_recipe_windows')} | "
           f"{ppl(shipped, 'test_recipe_windows')} |",
           f"| test perplexity, Magenta's extraction | {ppl(browser, 'test_magenta_extraction')} | "
           f"{ppl(shipped, 'test_magenta_extraction')} |", '',
           '| feature | Groove test | browser model | OA / KL | shipped model | OA / KL |', '|---|---|---|---|---|---|']
  reference = figures['groove_test_patterns']
  for key, label in FEATURE_ROWS:
    b, a = browser['generated_patterns'].get(key, {}), shipped['generated_patterns'].get(key, {})
    lines.append(f"| {label} | {mean(reference.get(key, {}))} | {mean(b)} | {oa(b)} | {mean(a)} | {oa(a)} |")
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv
  bundle_path = os.path.abspath(FLAGS.bundle_file or os.path.join(FLAGS.work_dir, 'drum_kit_browser.mag'))
  magentajs.check_output_dir(FLAGS.output_dir, overwrite=True)  # refuses any folder but an earlier export
  if not FLAGS.train and not os.path.isfile(bundle_path):
    raise DrumsRnnError(f'--notrain needs the bundle of an earlier training, and {bundle_path} is missing')
  if FLAGS.train:
    _run([sys.executable, os.path.join(REPO_ROOT, 'scripts', 'train_default_model.py'),
          f'--groove_dir={FLAGS.groove_dir}', f'--work_dir={FLAGS.work_dir}', f'--output={bundle_path}',
          f'--hparams={FLAGS.hparams}', f'--max_hours={FLAGS.max_hours}', f'--max_steps={FLAGS.max_steps}',
          f'--eval_every={FLAGS.eval_every}'])
  with open(os.path.splitext(bundle_path)[0] + '.json', encoding='utf-8') as f:
    trained = json.load(f)
  with open(os.path.splitext(SHIPPED)[0] + '.json', encoding='utf-8') as f:
    shipped = json.load(f)
  eval_dir = os.path.join(FLAGS.work_dir, 'eval')
  features, reference, test = _evaluate('browser', bundle_path, eval_dir)
  shipped_features, _, shipped_test = _evaluate('shipped', SHIPPED, eval_dir)
  keep = ('hparams', 'parameters', 'best_step', 'steps_trained', 'train_and_validate_seconds', 'validation')
  figures = {
      'credit': CREDIT,
      'recipe': f'scripts/train_magentajs_model.py (scripts/train_default_model.py --hparams={FLAGS.hparams})',
      'generated': f'100 tracks of 128 steps, primer {PRIMER}, seed 1, first 8 bars compared with the Groove '
                   'test split (overlap / kl: Yang & Lerch 2020, as drums_rnn_evaluate)',
      'browser_model': {**{k: trained[k] for k in keep}, 'test_recipe_windows': trained['test'],
                        'test_magenta_extraction': test, 'generated_patterns': features},
      'shipped_attention_model': {**{k: shipped[k] for k in keep}, 'test_recipe_windows': shipped['test'],
                                  'test_magenta_extraction': shipped_test,
                                  'generated_patterns': shipped_features},
      'groove_test_patterns': reference,
  }
  common.import_tensorflow()

  from drums_rnn import loading  # pylint: disable=import-outside-toplevel
  loaded = loading.load_model(bundle_path)
  magentajs.check_exportable(loaded)  # before anything is written
  if FLAGS.output_bundle:
    loading.save_bundle(FLAGS.output_bundle, loaded.config, loaded.hparams, loaded.model, description=(
        'drums_rnn drum_kit model without attention, also shipped as a magenta.js checkpoint '
        f'(drum_kit_magentajs/). {CREDIT}'))
  result = magentajs.export_model(
      loaded, FLAGS.output_dir, overwrite=True,
      extra_files={'figures.json': (json.dumps(figures, indent=1) + '\n').encode('utf-8'),
                   'README.md': _readme(figures)})
  logging.info('wrote %s: %s', result.output_dir, ', '.join(result.files))
  print(figures_markdown(figures))
  return 0


if __name__ == '__main__':
  common.run(main, __name__)
