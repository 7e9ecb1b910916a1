"""drums_rnn_generate end to end (console script in a subprocess) and its model/flag errors."""

import os
import re
import subprocess
import sys

import note_seq
import numpy as np
import pytest
import tensorflow as tf

from drums_rnn import bundle
from drums_rnn import configs
from drums_rnn import generation
from drums_rnn import run_dir as run_dir_lib
from drums_rnn.errors import DrumsRnnError
from drums_rnn.model import DrumsRnnModel

NAME = re.compile(r'^\d{4}-\d\d-\d\d_\d{6}_(\d+)\.mid$')


def _generate(*args, timeout=240):
  exe = os.path.join(os.path.dirname(sys.executable), 'drums_rnn_generate')
  cmd = [exe] if os.path.exists(exe) else [sys.executable, '-m', 'drums_rnn.cli.drums_rnn_generate']
  env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
  return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout, env=env)


def _small_run(path, seed=0):
  """A 'trained' run dir as training leaves it: settings + a TF2 checkpoint of a small model."""
  config = configs.get_config('drum_kit')
  hparams = config.hparams('rnn_layer_sizes=[16,12],attn_length=4,batch_size=8')
  model = DrumsRnnModel.from_config(config, hparams)
  rng = np.random.default_rng(seed)
  model.set_magenta_weights({k: rng.uniform(-0.6, 0.6, v.shape).astype(np.float32)
                             for k, v in model.get_magenta_weights().items()})
  train = run_dir_lib.train_dir(str(path))
  run_dir_lib.save_settings(train, 'drum_kit', hparams)
  tf.train.Checkpoint(model=model).save(os.path.join(train, 'ckpt'))
  return str(path)


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  return _small_run(tmp_path_factory.mktemp('run'))


def _read_outputs(directory, expected):
  names = sorted(os.listdir(directory))
  assert len(names) == expected, names
  numbers = [NAME.match(n).group(1) for n in names]
  width = len(str(expected))
  assert numbers == [str(i).zfill(width) for i in range(1, expected + 1)]
  assert len({n.rsplit('_', 1)[0] for n in names}) == 1  # one timestamp per run
  return [note_seq.midi_file_to_note_sequence(os.path.join(directory, n)) for n in names]


def _notes(seq):
  return sorted((round(n.start_time / 0.125), n.pitch) for n in seq.notes)


def _check_track(seq, num_steps=128):
  assert seq.notes and all(n.is_drum and n.velocity == 100 for n in seq.notes)
  assert seq.tempos[0].qpm == pytest.approx(120.0)
  notes = _notes(seq)
  assert notes[0] == (0, 36)  # the primer
  assert max(s for s, _ in notes) < num_steps
  for n in seq.notes:
    assert n.end_time - n.start_time == pytest.approx(0.125, abs=1e-3)
    assert n.pitch in (36, 38, 42, 46, 45, 48, 50, 49, 51)


def test_generate_from_run_dir_verbatim(run, tmp_path):
  out = str(tmp_path / 'out')
  proc = _generate('--config=drum_kit', f'--run_dir={run}', f'--output_dir={out}', '--num_outputs=10',
                   '--num_steps=128', '--primer_drums=[(36,)]')
  assert proc.returncode == 0, proc.stderr[-3000:]
  tracks = _read_outputs(out, 10)
  for seq in tracks:
    _check_track(seq)
  assert len({tuple(_notes(s)) for s in tracks}) == 10
  assert 'log-likelihood' in proc.stderr


def test_bundle_round_trip_verbatim_and_same_tracks_for_a_seed(run, tmp_path):
  mag = str(tmp_path / 'x.mag')
  proc = _generate(f'--run_dir={run}', '--save_generator_bundle', f'--bundle_file={mag}',
                   '--bundle_description=test model', '--generator_description=Grooves of a test')
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert sorted(os.listdir(tmp_path)) == ['x.mag']
  assert bundle.read_bundle(mag).generator_details.description == 'Grooves of a test'
  out = str(tmp_path / 'out')
  proc = _generate('--config=drum_kit', f'--bundle_file={mag}', f'--output_dir={out}', '--num_outputs=10',
                   '--num_steps=128', '--primer_drums=[(36,)]')
  assert proc.returncode == 0, proc.stderr[-3000:]
  for seq in _read_outputs(out, 10):
    _check_track(seq)
  # Same --seed, same tracks from the run dir and from its bundle (library calls: no process start-up).
  common = dict(num_outputs=3, num_steps=40, primer_drums='[(36, 42), (), (42,)]', seed=7,
                temperature=0.9, beam_size=2, branch_factor=2, steps_per_iteration=3)
  a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
  config, _, model = generation.load_generation_model(run_dir=run)
  generation.generate_to_midi(config, model, a, **common)
  config, _, model = generation.load_generation_model(bundle_file=mag)
  generation.generate_to_midi(config, model, b, **common)
  from_run, from_bundle = _read_outputs(a, 3), _read_outputs(b, 3)
  assert [_notes(s) for s in from_run] == [_notes(s) for s in from_bundle]
  assert _notes(from_run[0])[:3] == [(0, 36), (0, 42), (2, 42)]


@pytest.mark.parametrize('args, message', [
    (['--primer_drums=[(36,'], 'e.g. "[(36, 42), (), (42,)]"'),
    (['--temperature=0'], 'temperature'),
])
def test_cli_errors_are_one_line_and_leave_no_midi(run, tmp_path, args, message):
  out = tmp_path / 'out'
  proc = _generate(f'--run_dir={run}', f'--output_dir={out}', *args)
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert 'Traceback' not in proc.stderr
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith('error: ') and message in last, last
  assert not out.exists() or not os.listdir(out)


@pytest.mark.parametrize('kwargs, message', [
    (dict(primer_drums='[(36,), (200,)]'), 'outside the MIDI range'),
    (dict(primer_drums='[(36,), (), ()]', num_steps=3), 'num_steps'),
    (dict(primer_drums='[(36,)]', temperature=0.0), 'temperature'),
    (dict(primer_midi='MISSING'), 'cannot read primer MIDI'),
    (dict(qpm=0.0), 'qpm'),
])
def test_generation_errors_leave_no_midi(run, tmp_path, kwargs, message):
  config, _, model = generation.load_generation_model(run_dir=run)
  out = tmp_path / 'out'
  kwargs = {k: v.replace('MISSING', str(tmp_path / 'missing.mid')) if isinstance(v, str) else v
            for k, v in kwargs.items()}
  with pytest.raises(DrumsRnnError, match=message):
    generation.generate_to_midi(config, model, str(out), num_outputs=2, **kwargs)
  assert not out.exists() or not os.listdir(out)


def test_not_a_bundle_and_empty_run_dir_errors(tmp_path):
  junk = tmp_path / 'junk.mag'
  junk.write_text('hello\n')
  with pytest.raises(DrumsRnnError, match='not a generator bundle'):
    generation.load_generation_model(bundle_file=str(junk))
  (tmp_path / 'empty' / 'train').mkdir(parents=True)
  with pytest.raises(DrumsRnnError, match='no checkpoint'):
    generation.load_generation_model(run_dir=str(tmp_path / 'empty'))


def test_model_flag_rules(run, tmp_path, monkeypatch):
  with pytest.raises(DrumsRnnError, match='cannot be combined'):
    generation.load_generation_model(run_dir=run, bundle_file='x.mag')
  with pytest.raises(DrumsRnnError, match='needs --run_dir or --checkpoint_file'):
    generation.load_generation_model(saving=True)
  with pytest.raises(DrumsRnnError, match='does not exist'):
    generation.load_generation_model(run_dir=str(tmp_path / 'nope'))
  monkeypatch.setattr(generation, 'DEFAULT_BUNDLE', str(tmp_path / 'models' / 'drum_kit.mag'))
  with pytest.raises(DrumsRnnError, match='no model given'):
    generation.load_generation_model()
  # Once a shipped bundle exists it is used without any model flag.
  from drums_rnn import bundle  # pylint: disable=g-import-not-at-top
  config, hparams, model = generation.load_generation_model(run_dir=run)
  os.makedirs(tmp_path / 'models')
  bundle.save_bundle(generation.DEFAULT_BUNDLE, config, hparams, model)
  config2, hparams2, model2 = generation.load_generation_model()
  assert hparams2['rnn_layer_sizes'] == [16, 12]
  # Our own TF2 checkpoint via --checkpoint_file.
  ckpt = run_dir_lib.latest_checkpoint(run)
  _, _, model3 = generation.load_generation_model(checkpoint_file=ckpt)
  for name, value in model.get_magenta_weights().items():
    np.testing.assert_array_equal(model2.get_magenta_weights()[name], value)
    np.testing.assert_array_equal(model3.get_magenta_weights()[name], value)


def test_plot_writes_a_png_beside_each_midi(run, tmp_path):
  out = str(tmp_path / 'plots')
  config, _, model = generation.load_generation_model(run_dir=run)
  paths = generation.generate_to_midi(config, model, out, num_outputs=2, num_steps=48,
                                      primer_drums='[(36, 42), (), (42,), ()]', seed=3, plot=True)
  names = sorted(os.listdir(out))
  assert names == sorted([os.path.basename(p) for p in paths] +
                         [os.path.basename(p)[:-4] + '.png' for p in paths])
  for p in paths:
    with open(p[:-4] + '.png', 'rb') as f:
      assert f.read(8) == b'\x89PNG\r\n\x1a\n'
