"""drums_rnn_export_magentajs against the real @magenta/music (issue 20).

Small random models (every weight random, biases included, so a weight put
in the wrong place changes the drums) are exported through the command and
continued by magenta.js's own MusicRNN in Node (tests/js/continue_magentajs.js,
the version pinned in package-lock.json, installed by `npm ci`): its notes and
per-step probabilities must equal our greedy continuation. Models that
magenta.js would run differently are refused: one `error:` line, exit 2, no
folder. The Node part skips with the reason where node or
node_modules/@magenta/music is missing (CI installs both).
"""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from drums_rnn import configs
from drums_rnn import loading
from drums_rnn.language_model import magentajs
from drums_rnn.training import run_dir as run_dir_lib
from drums_rnn.errors import DrumsRnnError
from drums_rnn.language_model.model import DrumsRnnModel
from drums_rnn.language_model import family as drums_family
from drums_rnn.humanizer import family as humanizer_family
from tests import helpers

NODE_SCRIPT = os.path.join(helpers.REPO_ROOT, 'tests', 'js', 'continue_magentajs.js')
MAGENTA_PACKAGE = os.path.join(helpers.REPO_ROOT, 'node_modules', '@magenta', 'music')
STEPS = 32
TOLERANCE = 1e-4
# name -> (config, layer sizes, weight scale): drum_kit with 1, 2 and 3 layers, and one_drum.
MODELS = {'kit1': ('drum_kit', [40], 0.5), 'kit2': ('drum_kit', [32, 24], 0.5),
          'kit3': ('drum_kit', [24, 32, 16], 0.7), 'one': ('one_drum', [24, 16], 1.0)}
# Primers with at most one pitch per drum type per step (magenta.js sums a step's notes), and
# the pitches whose drum type magenta.js's default table has differently (22, 26, 43, 52).
KIT_PRIMER = [(36, 42), (), (42,), (22,), (38, 26), (), (43, 42), (), (36, 52), (44,), (38, 42), (),
              (45, 51), (), (40, 46), (49,)]
ONE_DRUM_PRIMER = [(36,), (), (38,), (), (36,), (42,), (38,), ()]


def _save(directory, name, config_name, sizes, scale=0.5, seed=0, layout='first_layer', **hparams):
  config = configs.get_config(config_name)
  hp = config.hparams({'rnn_layer_sizes': sizes, 'attn_length': 0, **hparams})
  model = DrumsRnnModel.from_config(config, hp, attention_layout=layout)
  rng = np.random.default_rng(seed)
  model.set_weights({k: rng.normal(0.0, scale, v.shape).astype(np.float32)
                             for k, v in model.get_weights().items()})
  return loading.save_bundle(os.path.join(directory, f'{name}.mag'), config, hp, model, 'test model')


def _save_run_dir(directory, config_name, sizes, scale, seed):
  """A run directory as training leaves it (settings and one checkpoint): the --run_dir path."""
  config = configs.get_config(config_name)
  hp = config.hparams({'rnn_layer_sizes': sizes, 'attn_length': 0})
  model = DrumsRnnModel.from_config(config, hp)
  rng = np.random.default_rng(seed)
  model.set_weights({k: rng.normal(0.0, scale, v.shape).astype(np.float32)
                             for k, v in model.get_weights().items()})
  train = run_dir_lib.train_dir(directory)
  run_dir_lib.save_settings(train, config_name, hp)
  tf.train.CheckpointManager(tf.train.Checkpoint(model=model), train, 1, checkpoint_name='model.ckpt').save(1)
  return directory


def _cli(cases):
  return helpers.run_cli_cases('drums_rnn.cli.drums_rnn_export_magentajs', cases)


def _assert_one_error(result, *phrases):
  assert result['code'] == 2, result
  errors = [line for line in result['stderr'].splitlines() if line.startswith('error: ')]
  assert len(errors) == 1 and result['stderr'].strip().splitlines()[-1] == errors[0], result['stderr'][-2000:]
  assert 'Traceback' not in result['stderr']
  for phrase in phrases:
    assert phrase in errors[0], errors[0]
  return errors[0]


def _leftovers(directory):
  return sorted(name for name in os.listdir(directory) if name.startswith('.'))


@pytest.fixture(scope='module')
def work(tmp_path_factory):
  """Sources (bundles, one run dir) and the command's results: the exports, then the refusals."""
  root = str(tmp_path_factory.mktemp('magentajs'))
  sources = os.path.join(root, 'sources')
  out = os.path.join(root, 'out')
  os.makedirs(sources)
  paths = {}
  for seed, (name, (config_name, sizes, scale)) in enumerate(MODELS.items()):
    if name == 'kit2':  # through --run_dir (the others through --bundle_file)
      paths[name] = _save_run_dir(os.path.join(sources, 'run'), config_name, sizes, scale, seed)
    else:
      paths[name] = _save(sources, name, config_name, sizes, scale, seed)
  paths['attention'] = _save(sources, 'attention', 'drum_kit', [8, 8], attn_length=4)
  paths['whole_stack'] = _save(sources, 'whole_stack', 'drum_kit', [8, 8, 8], attn_length=4,
                               layout='whole_stack')
  paths['residual'] = _save(sources, 'residual', 'drum_kit', [8, 8], residual_connections=True)
  flag = {name: ('--run_dir=' if name == 'kit2' else '--bundle_file=') + path for name, path in paths.items()}
  cases = {name: [flag[name], f'--output_dir={out}/{name}'] for name in MODELS}
  cases.update({
      'shipped': [f'--bundle_file={drums_family.DEFAULT_MODEL}', f'--output_dir={out}/shipped'],
      'default': [f'--output_dir={out}/default'],
      'attention': [flag['attention'], f'--output_dir={out}/attention'],
      'whole_stack': [flag['whole_stack'], f'--output_dir={out}/whole_stack'],
      'residual': [flag['residual'], f'--output_dir={out}/residual'],
      'humanizer': [f'--bundle_file={humanizer_family.DEFAULT_MODEL}', f'--output_dir={out}/humanizer'],
      'again': [flag['kit1'], f'--output_dir={out}/replace_me'],
      'overwrite': [flag['kit3'], f'--output_dir={out}/replace_me', '--overwrite'],
      'not_an_export': [flag['kit1'], f'--output_dir={sources}', '--overwrite'],
      'no_output': [flag['kit1']],
      'two_models': [flag['kit1'], flag['kit2'], f'--output_dir={out}/two'],
  })
  magentajs.export_model(loading.load_model(paths['kit1']), os.path.join(out, 'replace_me'))
  results = dict(zip(cases, _cli(list(cases.values()))))
  return {'root': root, 'out': out, 'sources': sources, 'paths': paths, 'results': results}


# --- our side ----------------------------------------------------------------------


def _greedy(model, encoding, primer_events, steps):
  """Our greedy continuation: the primer in one call, then argmax step by step (as the sampler steps).

  Returns (classes [steps], probabilities [steps, num_classes]): what magenta.js's
  continueSequenceAndReturnProbabilities gives without a temperature.
  """
  classes = encoding.classes_from_events(primer_events)
  logits, state = model(encoding.inputs_from_classes(classes)[None], model.zero_state(1))
  logits = logits[:, -1]
  chosen, probs = [], []
  for k in range(steps):
    p = tf.nn.softmax(logits[0]).numpy()
    probs.append(p)
    chosen.append(int(np.argmax(p)))
    x = encoding.inputs_from_classes(np.array([chosen[-1]]), start_position=len(primer_events) + k)
    logits, state = model.step(x, state)
  return np.array(chosen), np.array(probs)


def _from_export(folder):
  """Our model with the weights of a magenta.js export (magentajs.read_export)."""
  config_name, weights = magentajs.read_export(folder)
  config = configs.get_config(config_name)
  sizes = [weights[f'{magentajs.LSTM_FORMAT.format(i)}bias'].shape[0] // 4
           for i in range(sum(name.endswith('basic_lstm_cell/bias') for name in weights))]
  hparams = config.hparams({'rnn_layer_sizes': sizes, 'attn_length': 0})
  model = DrumsRnnModel.from_config(config, hparams)
  model.set_weights(weights)
  return loading.LoadedModel(config, hparams, model, folder, 'magentajs')


def _notes_of(encoding, classes):
  return sorted((pitch, step, step + 1) for step, pitches in enumerate(encoding.classes_to_events(classes))
                for pitch in pitches)


def _primer_job(name, config):
  events = KIT_PRIMER if config.name == 'drum_kit' else ONE_DRUM_PRIMER
  notes = [{'pitch': p, 'step': s} for s, pitches in enumerate(events) for p in pitches]
  return events, {'model': name, 'steps': STEPS, 'stepsPerQuarter': config.steps_per_quarter,
                  'totalSteps': len(events), 'notes': notes}


def _run_node(root, jobs):
  if not shutil.which('node'):
    pytest.skip('node is not installed: install Node.js 20 and npm, then run `npm ci --ignore-scripts` in the '
                'repository root (scripts/install.sh does)')
  if not os.path.isdir(MAGENTA_PACKAGE):
    pytest.skip(f'{MAGENTA_PACKAGE} is missing: run `npm ci --ignore-scripts` in the repository root '
                '(scripts/install.sh does)')
  spec = os.path.join(root, 'jobs.json')
  with open(spec, 'w', encoding='utf-8') as f:
    json.dump({'root': root, 'jobs': jobs}, f)
  proc = subprocess.run(['node', NODE_SCRIPT, spec], capture_output=True, text=True, timeout=240,
                        cwd=helpers.REPO_ROOT)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout)


# --- the tests ----------------------------------------------------------------------


def test_magentajs_continues_exactly_like_our_model(work):
  root = work['root']
  # One more copy of kit3 cut into small shards: magenta.js joins a weight split across shards.
  loaded = {name: loading.load_model(work['paths'][name]) for name in MODELS}
  sharded = magentajs.export_model(loaded['kit3'], os.path.join(root, 'kit3_sharded'), shard_bytes=40_000)
  assert len([f for f in sharded.files if f.endswith('.bin')]) > 2
  # name -> (the model it holds, its folder under root).
  folders = {'kit1': ('kit1', 'out/kit1'), 'kit2': ('kit2', 'out/kit2'),
             'kit3_sharded': ('kit3', 'kit3_sharded'), 'one': ('one', 'out/one')}
  if os.path.isdir(magentajs.SHIPPED_EXPORT):  # the Groove model shipped for the browser
    shutil.copytree(magentajs.SHIPPED_EXPORT, os.path.join(root, 'shipped_export'))
    loaded['shipped'] = _from_export(magentajs.SHIPPED_EXPORT)
    folders['shipped'] = ('shipped', 'shipped_export')
  names = list(folders)
  jobs, primers = [], {}
  for name, (model_name, folder) in folders.items():
    primers[name], job = _primer_job(folder, loaded[model_name].config)
    jobs.append(job)
  results = dict(zip(names, _run_node(root, jobs)))
  report = {}
  for name in names:
    model = loaded[folders[name][0]]
    encoding = model.config.encoding
    ours, our_probs = _greedy(model.model, encoding, primers[name], STEPS)
    theirs = results[name]
    their_probs = np.array(theirs['probs'])
    assert their_probs.shape == (STEPS, encoding.num_classes), name
    notes = sorted((n['pitch'], n['start'], n['end']) for n in theirs['notes'])
    their_classes = encoding.classes_from_onsets([n[1] for n in notes], [n[0] for n in notes], STEPS)
    # continueSequence returns only the continuation: steps 0..31 after the primer.
    assert theirs['totalSteps'] == STEPS, name
    assert list(their_classes) == list(ours), name
    assert notes == _notes_of(encoding, ours), name
    assert list(their_probs.argmax(axis=1)) == list(ours), name
    report[name] = float(np.abs(their_probs - our_probs).max())
    assert report[name] < TOLERANCE, (name, report[name])
    # A meaningful comparison: the continuation moves (not one class repeated).
    assert len(set(ours)) >= min(3, encoding.num_classes), (name, ours)
  print('max |p_magentajs - p_ours| per model:', json.dumps(report))


def test_the_exported_files(work):
  out = work['out']
  for name, (config_name, sizes, _) in MODELS.items():
    result = work['results'][name]
    assert result['code'] == 0, result['stderr'][-2000:]
    assert f'wrote the magenta.js checkpoint {os.path.join(out, name)}' in result['stdout']
    config = configs.get_config(config_name)
    folder = os.path.join(out, name)
    with open(os.path.join(folder, magentajs.CONFIG_FILE), encoding='utf-8') as f:
      spec = json.load(f)
    assert spec['type'] == 'MusicRNN' and 'attentionLength' not in spec
    assert spec['dataConverter'] == {'type': 'DrumsOneHotConverter', 'args': {
        'pitchClasses': [list(p) for p in config.encoding.drum_type_pitches]}}
    if config_name == 'drum_kit':
      assert spec['auxInputs'] == [{'type': 'BinaryCounter', 'args': {'numBits': 6}}]
    else:
      assert 'auxInputs' not in spec
    with open(os.path.join(folder, magentajs.MANIFEST_FILE), encoding='utf-8') as f:
      manifest = json.load(f)
    assert len(manifest) == 1 and manifest[0]['paths'] == ['group1-shard1of1.bin']
    entries = manifest[0]['weights']
    assert {e['dtype'] for e in entries} == {'float32'}
    names = [e['name'] for e in entries]
    assert names == [f'rnn/multi_rnn_cell/cell_{i}/basic_lstm_cell/{w}'
                     for i in range(len(sizes)) for w in ('kernel', 'bias')] + [
                         'fully_connected/weights', 'fully_connected/biases']
    data = np.fromfile(os.path.join(folder, 'group1-shard1of1.bin'), dtype='<f4')
    assert data.size == sum(int(np.prod(e['shape'])) for e in entries)
    weights = loading.load_model(work['paths'][name]).model.get_weights()
    read_name, read_weights = magentajs.read_export(folder)
    assert read_name == config_name and list(read_weights) == list(weights)
    for key, value in weights.items():
      np.testing.assert_array_equal(read_weights[key], value)
    offset = 0
    for entry in entries:
      size = int(np.prod(entry['shape']))
      np.testing.assert_array_equal(data[offset:offset + size].reshape(entry['shape']), weights[entry['name']])
      offset += size
    assert sorted(os.listdir(folder)) == ['config.json', 'group1-shard1of1.bin', 'weights_manifest.json']
  assert _leftovers(out) == []


@pytest.mark.parametrize('case, phrases', [
    ('shipped', ['first LSTM layer', 'attn_length=16', '--hparams=attn_length=0']),
    ('default', ['first LSTM layer', 'drum_kit.mag', '--hparams=attn_length=0']),
    ('attention', ['first LSTM layer', 'attn_length=4', '--hparams=attn_length=0']),
    ('whole_stack', ['2016 attention layout', 'attention bias', '--hparams=attn_length=0']),
    ('residual', ['residual connections', 'residual_connections=false']),
    ('humanizer', ['humanizer', 'drum_kit or one_drum']),
])
def test_models_magentajs_would_run_differently_are_refused(work, case, phrases):
  _assert_one_error(work['results'][case], *phrases)
  assert not os.path.lexists(os.path.join(work['out'], case))
  assert _leftovers(work['out']) == []


def test_output_dir_rules(work):
  results, out = work['results'], work['out']
  _assert_one_error(results['again'], 'already holds a magenta.js export', '--overwrite')
  assert results['overwrite']['code'] == 0, results['overwrite']['stderr'][-2000:]
  replaced = loading.load_model(work['paths']['kit3']).model.get_weights()
  with open(os.path.join(out, 'replace_me', magentajs.MANIFEST_FILE), encoding='utf-8') as f:
    names = [entry['name'] for entry in json.load(f)[0]['weights']]
  assert names == list(replaced)  # kit3's three layers replaced kit1's one
  _assert_one_error(results['not_an_export'], 'not empty', 'no magenta.js export')
  assert os.path.isfile(work['paths']['kit1'])  # the folder that is not an export is untouched
  _assert_one_error(results['no_output'], '--output_dir is required')
  _assert_one_error(results['two_models'], 'give at most one of')
  assert _leftovers(out) == []


def test_an_export_that_fails_leaves_nothing(work, tmp_path, monkeypatch):
  loaded = loading.load_model(work['paths']['kit1'])
  target = tmp_path / 'export'
  real_rename = os.rename

  def full_disk(src, dst):
    del src, dst
    raise OSError(28, 'No space left on device')

  monkeypatch.setattr(os, 'rename', full_disk)
  with pytest.raises(DrumsRnnError, match='no space left on device'):
    magentajs.export_model(loaded, str(target))
  monkeypatch.setattr(os, 'rename', real_rename)
  assert os.listdir(tmp_path) == []
  # An earlier export survives a failed replacement, and a stale temporary folder is cleaned up.
  magentajs.export_model(loaded, str(target))
  before = sorted(os.listdir(target))
  stale = tmp_path / '.export.999999999.deadbeef.tmp'
  stale.mkdir()
  (stale / 'config.json').write_text('{}')
  calls = []

  def fail_second(src, dst):
    calls.append(dst)
    if len(calls) == 2:
      raise OSError(28, 'No space left on device')
    real_rename(src, dst)

  monkeypatch.setattr(os, 'rename', fail_second)
  with pytest.raises(DrumsRnnError, match='no space left on device'):
    magentajs.export_model(loaded, str(target), overwrite=True)
  monkeypatch.setattr(os, 'rename', real_rename)
  assert sorted(os.listdir(tmp_path)) == ['export'] and sorted(os.listdir(target)) == before


def test_an_export_on_a_full_disk_leaves_nothing(work, tmp_path):
  loaded = loading.load_model(work['paths']['kit3'])  # about 120 KB of weights
  with helpers.small_tmpfs(tmp_path / 'disk', '100k') as (disk, _):
    with pytest.raises(DrumsRnnError, match='no space left on device'):
      magentajs.export_model(loaded, os.path.join(disk, 'export'))
    assert os.listdir(disk) == []


def test_weight_files_cut_shards_anywhere():
  weights = {'a': np.arange(10, dtype=np.float32).reshape(2, 5), 'b': np.ones(3, np.float32)}
  manifest, shards = magentajs.weight_files(weights, shard_bytes=16)
  assert manifest[0]['paths'] == [f'group1-shard{i}of4.bin' for i in range(1, 5)]
  assert manifest[0]['weights'] == [{'name': 'a', 'shape': [2, 5], 'dtype': 'float32'},
                                    {'name': 'b', 'shape': [3], 'dtype': 'float32'}]
  joined = np.frombuffer(b''.join(shards[p] for p in manifest[0]['paths']), '<f4')
  np.testing.assert_array_equal(joined, np.concatenate([np.arange(10), np.ones(3)]))
  with pytest.raises(DrumsRnnError, match='multiple of 4'):
    magentajs.weight_files(weights, shard_bytes=6)


def test_other_configs_are_refused(work):
  """A config magenta.js has no converter for (drum_kit_control, without attention) is refused by name."""
  config = configs.get_config('drum_kit_control')
  hparams = config.hparams({'rnn_layer_sizes': [8], 'attn_length': 0})
  other = loading.LoadedModel(config, hparams, DrumsRnnModel.from_config(config, hparams), 'control.mag',
                              'bundle')
  with pytest.raises(DrumsRnnError, match='drum_kit_control model: magenta.js runs only drum_kit or '
                                          'one_drum models'):
    magentajs.check_exportable(other)
  with pytest.raises(DrumsRnnError, match='drum_kit_control'):
    magentajs.export_model(other, os.path.join(work['root'], 'other'))
  assert not os.path.lexists(os.path.join(work['root'], 'other'))


def test_the_shipped_export_and_its_bundle_are_one_model():
  """drums_rnn/models/drum_kit_magentajs/ (for magenta.js) and drum_kit_magentajs.mag (for the studio)."""
  if not os.path.isdir(magentajs.SHIPPED_EXPORT):
    pytest.skip(f'{magentajs.SHIPPED_EXPORT} is not built (scripts/train_magentajs_model.py)')
  config_name, weights = magentajs.read_export(magentajs.SHIPPED_EXPORT)
  loaded = loading.load_model(magentajs.SHIPPED_EXPORT + '.mag')
  magentajs.check_exportable(loaded)
  assert config_name == loaded.config.name == 'drum_kit'
  bundled = loaded.model.get_weights()
  assert list(weights) == list(bundled)
  for name, value in bundled.items():
    np.testing.assert_array_equal(weights[name], value)
  with open(os.path.join(magentajs.SHIPPED_EXPORT, 'figures.json'), encoding='utf-8') as f:
    figures = json.load(f)
  assert 'Groove MIDI Dataset' in figures['credit'] and 'CC BY 4.0' in figures['credit']
  assert figures['browser_model']['hparams']['attn_length'] == 0
