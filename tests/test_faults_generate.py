"""Faults in drums_rnn_generate and drums_rnn_evaluate, through the real console commands.

Each case runs the installed command in a subprocess (with a timeout) and
checks what a user sees: the exit code, exactly one `error:` line, no
traceback, no TensorFlow warning flood, and that nothing half-written is
left (no `*.tmp`, no empty or partial outputs, existing files untouched).
Full disks are a 100 KiB tmpfs, mounted when the tests run as root and the
machine allows it (CI does); elsewhere those cases skip with the reason.
The models are tiny (one 8-unit layer, attention 2) so the file runs in
well under a minute.
"""

import os
import shutil
import subprocess
import sys
import time

import note_seq
import numpy as np
import pytest
import tensorflow as tf

from drums_rnn import configs
from drums_rnn.training import run_dir as run_dir_lib
from drums_rnn.language_model.model import DrumsRnnModel
from tests import helpers

TIMEOUT = 180
GENERATE = ['--num_outputs=3', '--num_steps=32', '--seed=1']


def _command(name, *args, wait=True):
  exe = os.path.join(os.path.dirname(sys.executable), name)
  cmd = [exe] if os.path.exists(exe) else [sys.executable, '-m', f'drums_rnn.cli.{name}']
  env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
  if not wait:
    return subprocess.Popen(cmd + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
  return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=TIMEOUT, env=env)


def _generate(*args, wait=True):
  return _command('drums_rnn_generate', *args, wait=wait)


def _evaluate(*args):
  return _command('drums_rnn_evaluate', *args)


def _assert_one_error(proc, message):
  assert proc.returncode == 2, proc.stderr[-3000:]
  errors = [line for line in proc.stderr.splitlines() if line.startswith('error: ')]
  assert len(errors) == 1 and message in errors[0], proc.stderr[-3000:]
  assert 'Traceback' not in proc.stderr


def _assert_quiet(proc):
  """No traceback and no flood of TensorFlow warnings (one per unrestored value)."""
  assert 'Traceback' not in proc.stderr
  assert 'unrestored' not in proc.stderr and 'could not be found' not in proc.stderr, proc.stderr[-3000:]
  warnings = [line for line in proc.stderr.splitlines() if line.startswith('W')]
  assert len(warnings) <= 3, proc.stderr[-3000:]


def _files(root):
  return sorted(os.path.relpath(os.path.join(d, n), root) for d, _, names in os.walk(root) for n in names)


def _assert_no_temporaries(*roots):
  for root in roots:
    leftovers = [f for f in _files(root) if f.endswith('.tmp')] if os.path.isdir(root) else []
    assert not leftovers, leftovers


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  """A small run dir as training leaves it: settings and two checkpoints (ckpt-1, ckpt-2)."""
  path = str(tmp_path_factory.mktemp('run'))
  config = configs.get_config('drum_kit')
  hparams = config.hparams('rnn_layer_sizes=[8],attn_length=2,batch_size=8')
  train = run_dir_lib.train_dir(path)
  run_dir_lib.save_settings(train, 'drum_kit', hparams)
  for step in (1, 2):
    checkpoint = tf.train.Checkpoint(model=DrumsRnnModel.from_config(config, hparams, seed=step))
    tf.train.CheckpointManager(checkpoint, train, 5, checkpoint_name='model.ckpt').save(step)
  return path


@pytest.fixture
def run_copy(run, tmp_path):
  copy = str(tmp_path / 'run')
  shutil.copytree(run, copy)
  return copy


@pytest.fixture
def small_disk(tmp_path):
  """A 100 KiB tmpfs: (its path, fill(leave) filling it up to `leave` free bytes)."""
  with helpers.small_tmpfs(tmp_path / 'disk', '100k') as disk:
    yield disk


def _reference_midi(directory, count=4):
  directory.mkdir(exist_ok=True)
  for i in range(count):
    note_seq.sequence_proto_to_midi_file(helpers.drum_sequence(helpers.basic_beat(4 + i)),
                                         str(directory / f'r{i}.mid'))
  return str(directory)


# --- full disks ------------------------------------------------------------------


def test_generate_on_a_full_disk_writes_nothing(run, small_disk):
  disk, fill = small_disk
  out = disk / 'out'
  out.mkdir()
  fill(leave=8192)  # room for about two of the ten files
  proc = _generate(f'--run_dir={run}', f'--output_dir={out}', '--num_outputs=10', '--num_steps=64')
  _assert_one_error(proc, 'no space left on device')
  assert _files(out) == []  # no 0-byte files, no half of the set, no temporaries


def test_shuffled_baseline_on_a_full_disk_writes_nothing(tmp_path, small_disk):
  disk, fill = small_disk
  reference = _reference_midi(tmp_path / 'reference')
  out = disk / 'shuffled'
  out.mkdir()
  fill(leave=4096)
  proc = _evaluate(f'--reference_dir={reference}', f'--shuffled_output_dir={out}')
  _assert_one_error(proc, 'no space left on device')
  assert _files(out) == []


# --- two runs, one folder ------------------------------------------------------------


def test_runs_in_the_same_second_never_overwrite(run, tmp_path):
  """Names of the coming minute are taken (as another run in the same second would take them);
  then two runs at once: every existing file is kept and each run writes its own three."""
  out = tmp_path / 'out'
  out.mkdir()
  now = time.time()
  taken = set()
  for second in range(-1, 61):
    stamp = time.strftime('%Y-%m-%d_%H%M%S', time.localtime(now + second))
    for n in (1, 2, 3):
      (out / f'{stamp}_{n}.mid').write_bytes(b'keep')
      taken.add(f'{stamp}_{n}.mid')
  procs = [_generate(f'--run_dir={run}', f'--output_dir={out}', *GENERATE[:-1], f'--seed={seed}', wait=False)
           for seed in (1, 2)]
  for proc in procs:
    _, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, stderr[-3000:]
  names = set(os.listdir(out))
  assert taken <= names and all((out / n).read_bytes() == b'keep' for n in taken)
  new = sorted(names - taken)
  assert len(new) == 6 and all(n.endswith(('-2.mid', '-3.mid')) for n in new), new
  assert all(note_seq.midi_file_to_note_sequence(str(out / n)).notes for n in new)


# --- damaged checkpoints ---------------------------------------------------------------


def _damage(prefix, how):
  if how == 'bad index':
    with open(prefix + '.index', 'wb') as f:
      f.write(b'this is not a checkpoint index')
  else:
    data = prefix + '.data-00000-of-00001'
    os.truncate(data, os.path.getsize(data) // 2)


@pytest.mark.parametrize('how', ['bad index', 'truncated data'])
def test_damaged_latest_checkpoint_falls_back_with_a_warning(run_copy, tmp_path, how):
  damaged = os.path.join(run_dir_lib.train_dir(run_copy), 'model.ckpt-2')
  _damage(damaged, how)
  out = tmp_path / 'out'
  proc = _generate(f'--run_dir={run_copy}', f'--output_dir={out}', *GENERATE)
  assert proc.returncode == 0, proc.stderr[-3000:]
  _assert_quiet(proc)
  assert any(damaged in line and 'damaged' in line for line in proc.stderr.splitlines()
             if line.startswith('W')), proc.stderr[-3000:]
  assert 'model.ckpt-1' in proc.stderr and len(os.listdir(out)) == 3


def test_all_checkpoints_damaged_is_one_error(run_copy, tmp_path):
  train = run_dir_lib.train_dir(run_copy)
  _damage(os.path.join(train, 'model.ckpt-2'), 'truncated data')
  _damage(os.path.join(train, 'model.ckpt-1'), 'bad index')
  out = tmp_path / 'out'
  proc = _generate(f'--run_dir={run_copy}', f'--output_dir={out}', *GENERATE)
  _assert_one_error(proc, 'no intact checkpoint')
  _assert_quiet(proc)
  assert not out.exists()


# --- unwritable outputs and bad arguments ----------------------------------------------


@pytest.mark.parametrize('where', ['/proc', 'under a file'])
def test_bundle_file_in_an_unwritable_place(run, tmp_path, where):
  if where == '/proc':
    target, message = '/proc/drums_rnn_test.mag', "cannot write '/proc/drums_rnn_test.mag'"
  else:
    (tmp_path / 'file.txt').write_text('x')
    target, message = str(tmp_path / 'file.txt' / 'x.mag'), 'file.txt'
  proc = _generate(f'--run_dir={run}', '--save_generator_bundle', f'--bundle_file={target}')
  _assert_one_error(proc, message)
  assert 'V1 checkpoint format' not in proc.stderr
  assert not os.path.exists(target)
  _assert_no_temporaries(str(tmp_path))


def test_output_csv_naming_a_folder(tmp_path):
  reference = _reference_midi(tmp_path / 'reference')
  folder = tmp_path / 'results'
  folder.mkdir()
  proc = _evaluate(f'--reference_dir={reference}', f'--midi_dir={reference}', f'--output_csv={folder}')
  _assert_one_error(proc, 'it is a directory')
  assert _files(folder) == []
  _assert_no_temporaries(str(tmp_path))


def test_conflicting_primers_are_an_error(run, tmp_path):
  primer = tmp_path / 'primer.mid'
  note_seq.sequence_proto_to_midi_file(helpers.drum_sequence([(0, 36), (2, 38)]), str(primer))
  out = tmp_path / 'out'
  proc = _generate(f'--run_dir={run}', f'--output_dir={out}', '--primer_drums=[(36,)]',
                   f'--primer_midi={primer}')
  _assert_one_error(proc, '--primer_midi')
  assert not out.exists() or not os.listdir(out)


def test_run_fixture_has_two_distinct_checkpoints(run):
  """The fallback cases above mean something only if ckpt-1 and ckpt-2 differ."""
  reader = [tf.train.load_checkpoint(os.path.join(run_dir_lib.train_dir(run), f'model.ckpt-{s}'))
            for s in (1, 2)]
  name = [n for n in reader[0].get_variable_to_shape_map() if 'kernel' in n][0]
  assert not np.array_equal(reader[0].get_tensor(name), reader[1].get_tensor(name))
