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
from drums_rnn.language_model import generation
from drums_rnn import loading
from drums_rnn.language_model import primers
from drums_rnn.training import run_dir as run_dir_lib
from drums_rnn.errors import DrumsRnnError
from drums_rnn.language_model.model import DrumsRnnModel
from drums_rnn.language_model import family as drums_family
from drums_rnn.training import checkpoints
from tests import helpers

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
  model.set_weights({k: rng.uniform(-0.6, 0.6, v.shape).astype(np.float32)
                             for k, v in model.get_weights().items()})
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
  assert 'V1 checkpoint format' not in proc.stderr and '****' not in proc.stderr  # no TF banner
  assert sorted(os.listdir(tmp_path)) == ['x.mag']
  assert bundle.read_bundle(mag).generator_details.description == 'Grooves of a test'
  out = str(tmp_path / 'out')
  proc = _generate('--config=drum_kit', f'--bundle_file={mag}', f'--output_dir={out}', '--num_outputs=10',
                   '--num_steps=128', '--primer_drums=[(36,)]')
  assert proc.returncode == 0, proc.stderr[-3000:]
  for seq in _read_outputs(out, 10):
    _check_track(seq)
  # Same --seed, same tracks from the run dir and from its bundle (library calls: no process start-up).
  common = dict(num_outputs=3, num_steps=40, seed=7, temperature=0.9, beam_size=2, branch_factor=2,
                steps_per_iteration=3)
  primer = primers.parse_primer_drums('[(36, 42), (), (42,)]')
  a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
  loaded = loading.load_model(run)
  generation.generate_to_midi(loaded.config, loaded.model, a, primer, **common)
  loaded = loading.load_model(mag)
  generation.generate_to_midi(loaded.config, loaded.model, b, primer, **common)
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
    (dict(primer_drums='[(36,)]', primer_midi='MISSING'), 'both as drums'),
])
def test_generation_errors_leave_no_midi(run, tmp_path, kwargs, message):
  loaded = loading.load_model(run)
  out = tmp_path / 'out'
  kwargs = {k: v.replace('MISSING', str(tmp_path / 'missing.mid')) if isinstance(v, str) else v
            for k, v in kwargs.items()}
  primer_args = {k: kwargs.pop(k) for k in ('primer_drums', 'primer_midi', 'qpm') if k in kwargs}
  with pytest.raises(DrumsRnnError, match=message):
    events, qpm = primers.resolve_primer(loaded.config, **primer_args)
    generation.generate_to_midi(loaded.config, loaded.model, str(out), events, num_outputs=2, qpm=qpm,
                                **kwargs)
  assert not out.exists() or not os.listdir(out)


def test_not_a_bundle_and_empty_run_dir_errors(tmp_path):
  junk = tmp_path / 'junk.mag'
  junk.write_text('hello\n')
  with pytest.raises(DrumsRnnError, match='not a generator bundle'):
    loading.load_model(str(junk))
  (tmp_path / 'empty' / 'train').mkdir(parents=True)
  with pytest.raises(DrumsRnnError, match='no checkpoint'):
    loading.load_model(str(tmp_path / 'empty'))
  run_dir_lib.save_settings(str(tmp_path / 'empty' / 'train'), 'drum_kit',
                            configs.get_config('drum_kit').hparams())
  with pytest.raises(DrumsRnnError, match='no checkpoint'):
    loading.load_model(str(tmp_path / 'empty'))


def _cli_cases(cases):
  return helpers.run_cli_cases('drums_rnn.cli.drums_rnn_generate', cases)


def test_model_flag_rules(run, tmp_path, monkeypatch):
  cases = [([f'--run_dir={run}', '--bundle_file=x.mag'], 'cannot be combined'),
           (['--save_generator_bundle', '--bundle_file=x.mag'], 'needs --run_dir or --checkpoint_file'),
           (['--save_generator_bundle', f'--run_dir={run}'], 'needs --bundle_file'),
           ([f'--run_dir={tmp_path / "nope"}'], 'does not exist')]
  for (_, message), result in zip(cases, _cli_cases([args for args, _ in cases])):
    assert result['code'] == 2, result
    last = result['stderr'].strip().splitlines()[-1]
    assert last.startswith('error: ') and message in last, result['stderr'][-2000:]
    assert 'Traceback' not in result['stderr']
  monkeypatch.setattr(drums_family, 'DEFAULT_MODEL', str(tmp_path / 'models' / 'drum_kit.mag'))
  with pytest.raises(DrumsRnnError, match='no model given'):
    loading.load_model()
  # Once a shipped bundle exists it is used without any model flag.
  from_run = loading.load_model(run)
  assert from_run.origin == 'run_dir'
  os.makedirs(tmp_path / 'models')
  loading.save_bundle(drums_family.DEFAULT_MODEL, from_run.config, from_run.hparams, from_run.model)
  shipped = loading.load_model()
  assert shipped.hparams['rnn_layer_sizes'] == [16, 12] and shipped.source == drums_family.DEFAULT_MODEL
  # Our own TF2 checkpoint by its prefix.
  ckpt = checkpoints.checkpoints_newest_first(run_dir_lib.train_dir(run))[0]
  from_prefix = loading.load_model(ckpt)
  assert from_prefix.origin == 'checkpoint' and from_prefix.source == ckpt
  for name, value in from_run.model.get_weights().items():
    np.testing.assert_array_equal(shipped.model.get_weights()[name], value)
    np.testing.assert_array_equal(from_prefix.model.get_weights()[name], value)


def test_damaged_newest_checkpoint_falls_back_with_a_warning(tmp_path, caplog):
  run = _small_run(tmp_path / 'run', seed=1)
  train = run_dir_lib.train_dir(run)
  model = loading.load_model(run).model
  checkpoint = tf.train.Checkpoint(model=model)
  checkpoint.save_counter.assign(1)
  newest = checkpoint.save(os.path.join(train, 'ckpt'))  # ckpt-2, then damage it
  assert checkpoints.checkpoints_newest_first(train)[0] == newest
  with open(newest + '.data-00000-of-00001', 'r+b') as f:
    f.truncate(100)
  loaded = loading.load_model(run)
  assert loaded.source == os.path.join(train, 'ckpt-1')
  assert any(newest in r.getMessage() and 'damaged' in r.getMessage() for r in caplog.records)
  with open(loaded.source + '.index', 'wb') as f:
    f.write(b'not an index')
  with pytest.raises(DrumsRnnError, match='no intact checkpoint'):
    loading.load_model(run)


def test_plot_writes_a_png_beside_each_midi(run, tmp_path):
  out = str(tmp_path / 'plots')
  loaded = loading.load_model(run)
  paths = generation.generate_to_midi(loaded.config, loaded.model, out,
                                      primers.parse_primer_drums('[(36, 42), (), (42,), ()]'),
                                      num_outputs=2, num_steps=48, seed=3, plot=True)
  names = sorted(os.listdir(out))
  assert names == sorted([os.path.basename(p) for p in paths] +
                         [os.path.basename(p)[:-4] + '.png' for p in paths])
  for p in paths:
    with open(p[:-4] + '.png', 'rb') as f:
      assert f.read(8) == b'\x89PNG\r\n\x1a\n'
