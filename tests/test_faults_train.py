"""Faults in drums_rnn_train (training and --eval), through the real console command.

Each case runs `.venv/bin/drums_rnn_train` in a subprocess under a timeout
and checks what a user sees: the exit code, exactly one `error:` line, no
traceback, and that nothing half-written is left (no `*.tmp`, no `*_temp`
checkpoint folder, the last good checkpoint still listed in the
`checkpoint` index). The full-disk case mounts a small tmpfs when the tests
run as root and mounting works (CI), and skips with the reason elsewhere.
Models and datasets are tiny (one 8-unit layer, attention 2, 8 short tracks).
"""

import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from drums_rnn import configs
from drums_rnn import kinds
from drums_rnn.training import loop as training
from tests import helpers
from tests.test_training import PATTERN
from tests.test_training import overrides
from tests.test_training import write_examples

TIMEOUT = 120
HPARAMS = 'batch_size=2,rnn_layer_sizes=[8],attn_length=2'
DRUM_KIT = configs.get_config('drum_kit')


def _command():
  exe = os.path.join(os.path.dirname(sys.executable), 'drums_rnn_train')
  return [exe] if os.path.exists(exe) else [sys.executable, '-m', 'drums_rnn.cli.drums_rnn_train']


def _env():
  return dict(os.environ, CUDA_VISIBLE_DEVICES='')


def _train(*args):
  return subprocess.run(_command() + list(args), capture_output=True, text=True, timeout=TIMEOUT,
                        env=_env())


def _train_all(*arg_lists):
  """Runs several commands at once (they are independent); their CompletedProcesses in order."""
  procs = [subprocess.Popen(_command() + [str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env()) for args in arg_lists]
  results = []
  deadline = time.monotonic() + TIMEOUT
  for proc in procs:
    try:
      out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
      if proc.poll() is None:
        proc.kill()
        proc.wait()
    results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
  return results


def _flags(run, data, *extra):
  return [f'--run_dir={run}', f'--sequence_example_file={data}', f'--hparams={HPARAMS}',
          '--seed=1', *extra]


class Trainer:
  """A drums_rnn_train process running in the background; its output goes to a file."""

  def __init__(self, log_path, args):
    self.log_path = log_path
    with open(log_path, 'w') as out:
      self.proc = subprocess.Popen(_command() + list(args), stdout=out, stderr=subprocess.STDOUT,
                                   env=_env())

  def output(self):
    with open(self.log_path) as f:
      return f.read()

  def wait_for(self, text, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while text not in self.output():
      if self.proc.poll() is not None or time.monotonic() > deadline:
        self.kill()
        pytest.fail(f'{text!r} never appeared:\n{self.output()[-3000:]}')
      time.sleep(0.1)

  def wait(self, timeout=TIMEOUT):
    try:
      return self.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
      self.kill()
      pytest.fail(f'drums_rnn_train did not stop:\n{self.output()[-3000:]}')

  def kill(self):
    if self.proc.poll() is None:
      self.proc.kill()
      self.proc.wait()


def _assert_one_error(proc_or_text, message, code=2):
  if isinstance(proc_or_text, subprocess.CompletedProcess):
    assert proc_or_text.returncode == code, proc_or_text.stderr[-3000:]
    text = proc_or_text.stderr
  else:
    text = proc_or_text
  errors = [line for line in text.splitlines() if line.startswith('error: ')]
  assert len(errors) == 1 and message in errors[0], text[-3000:]
  assert 'Traceback' not in text, text[-3000:]
  return errors[0]


def _listing(root):
  return sorted(os.path.relpath(os.path.join(d, n), root)
                for d, dirs, names in os.walk(root) for n in names + dirs)


def _assert_no_half_written(train_dir):
  leftovers = [f for f in _listing(train_dir)
               if f.endswith(('.tmp', '_temp')) or 'checkpoint.tmp' in f]
  assert not leftovers, leftovers


def _listed(train_dir):
  """The checkpoint the `checkpoint` index names (it must exist whole)."""
  prefix = tf.train.latest_checkpoint(train_dir)
  assert prefix and os.path.isfile(prefix + '.index'), _listing(train_dir)
  return os.path.basename(prefix)


@pytest.fixture(scope='module')
def data(tmp_path_factory):
  folder = tmp_path_factory.mktemp('data')
  return write_examples(str(folder / 'train.tfrecord'), DRUM_KIT,
                        [(PATTERN * 8)[:16 + 4 * n] for n in range(8)])


@pytest.fixture(scope='module')
def run_with_two_checkpoints(tmp_path_factory, data):
  """A run dir as training leaves it: settings and model.ckpt-2, model.ckpt-4."""
  run = str(tmp_path_factory.mktemp('base') / 'run')
  for steps in (2, 4):
    training.train(kinds.task_for(DRUM_KIT), run, data, overrides(HPARAMS), num_training_steps=steps,
                   seed=1)
  return run


@pytest.fixture
def run_copy(run_with_two_checkpoints, tmp_path):
  copy = str(tmp_path / 'run')
  shutil.copytree(run_with_two_checkpoints, copy)
  return copy


# --- one writer per run dir, signals ----------------------------------------------


@pytest.mark.parametrize('sig, code', [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_a_checkpoint_and_the_run_resumes(data, tmp_path, sig, code):
  run = tmp_path / 'run'
  first = Trainer(tmp_path / 'first.log', _flags(run, data, '--summary_frequency=1'))
  try:
    first.wait_for('Step 2: loss')
    if sig == signal.SIGINT:
      # A second trainer on the same run dir refuses at once, naming the first.
      second = _train(*_flags(run, data, '--num_training_steps=50'))
      _assert_one_error(second, f'is in use by another training run (pid {first.proc.pid})')
      assert first.proc.poll() is None
    first.proc.send_signal(sig)
    assert first.wait() == code, first.output()[-3000:]
  finally:
    first.kill()
  line = _assert_one_error(first.output(), f'stopped by {signal.Signals(sig).name} at step ')
  step = int(line.split(' at step ')[1].split(':')[0])
  assert f'checkpoint {run}/train/model.ckpt-{step} saved; run the same command to resume' in line
  assert _listed(str(run / 'train')) == f'model.ckpt-{step}'
  _assert_no_half_written(str(run / 'train'))

  again = _train(*_flags(run, data, f'--num_training_steps={step + 2}'))
  assert again.returncode == 0, again.stderr[-3000:]
  assert f'Resuming from {run}/train/model.ckpt-{step} (step {step}).' in again.stderr
  assert _listed(str(run / 'train')) == f'model.ckpt-{step + 2}'


# --- damaged checkpoints ---------------------------------------------------------------


def test_a_damaged_latest_checkpoint_falls_back_then_all_damaged_is_one_error(run_copy, data):
  train_dir = os.path.join(run_copy, 'train')
  with open(os.path.join(train_dir, 'model.ckpt-4.index'), 'wb') as f:
    f.write(b'not an index')
  proc = _train(*_flags(run_copy, data, '--num_training_steps=5'))
  assert proc.returncode == 0, proc.stderr[-3000:]
  warnings = [l for l in proc.stderr.splitlines() if 'model.ckpt-4 is damaged' in l]
  assert len(warnings) == 1, proc.stderr[-3000:]
  assert f'Resuming from {train_dir}/model.ckpt-2 (step 2).' in proc.stderr
  assert _listed(train_dir) == 'model.ckpt-5'

  for name in os.listdir(train_dir):  # now every checkpoint has a truncated .data
    if '.data-' in name:
      path = os.path.join(train_dir, name)
      os.truncate(path, os.path.getsize(path) // 2)
  proc = _train(*_flags(run_copy, data, '--num_training_steps=9'))
  _assert_one_error(proc, f'no intact checkpoint in {train_dir!r} that fits the model')
  _assert_no_half_written(train_dir)


def test_resuming_without_settings_with_hparams_that_do_not_fit_is_one_error(run_copy, data):
  os.remove(os.path.join(run_copy, 'train', 'drums_rnn_config.json'))
  proc = _train(f'--run_dir={run_copy}', f'--sequence_example_file={data}',
                '--hparams=batch_size=2,rnn_layer_sizes=[16],attn_length=2', '--num_training_steps=6')
  _assert_one_error(proc, 'that fits the model')
  assert not os.path.exists(os.path.join(run_copy, 'train', 'drums_rnn_config.json'))


# --- damaged datasets -----------------------------------------------------------------


def _damage(src, dst, index, cut=False):
  """Copies a TFRecord file, flipping a byte inside record `index` (or cutting the file there)."""
  with open(src, 'rb') as f:
    raw = bytearray(f.read())
  position = 0
  for _ in range(index):
    position += 16 + struct.unpack('<Q', raw[position:position + 8])[0]
  middle = position + 12 + struct.unpack('<Q', raw[position:position + 8])[0] // 2
  if cut:
    raw = raw[:middle]
  else:
    raw[middle] ^= 0xFF
  with open(dst, 'wb') as f:
    f.write(bytes(raw))
  return str(dst)


def test_a_damaged_record_is_named_in_training_and_in_eval(data, run_copy, tmp_path):
  bad = _damage(data, tmp_path / 'bad.tfrecord', 3)
  cut = _damage(data, tmp_path / 'cut.tfrecord', 5, cut=True)
  procs = dict(zip(('train', 'cut', 'eval'), _train_all(
      _flags(tmp_path / 'fresh', bad, '--num_training_steps=3'),
      _flags(tmp_path / 'fresh2', cut, '--num_training_steps=3'),
      [f'--run_dir={run_copy}', f'--sequence_example_file={bad}', '--eval',
       '--eval_timeout_secs=5', '--eval_interval_secs=0'])))
  for name in ('train', 'eval'):
    _assert_one_error(procs[name], f"input '{bad}' is corrupt at record 3: bad data checksum")
  _assert_one_error(procs['cut'], f"input '{cut}' is truncated (record 5 runs past the end")
  assert not os.path.exists(tmp_path / 'fresh' / 'train' / 'drums_rnn_config.json')
  assert not os.path.exists(tmp_path / 'fresh2')  # refused before anything was written


# --- full disk ---------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
  """An 8 MiB tmpfs (a tiny run with two checkpoints is 7 MB): (path, fill(leave))."""
  with helpers.small_tmpfs(tmp_path / 'disk', '8m') as disk:
    yield disk


@pytest.mark.parametrize('leave', [24 * 1024, 0])
def test_a_full_disk_is_one_error_and_keeps_the_last_good_checkpoint(
    run_with_two_checkpoints, data, small_disk, leave):
  disk, fill = small_disk
  run = disk / 'run'
  shutil.copytree(run_with_two_checkpoints, run)
  train_dir = str(run / 'train')
  before = _listing(train_dir)
  fill(leave)
  proc = _train(*_flags(run, data, '--num_training_steps=6'))
  if leave:  # room for the summaries, not for a checkpoint
    _assert_one_error(proc, f"cannot save checkpoint '{train_dir}/model.ckpt-6': no space left on "
                            f'device; the last good checkpoint is {train_dir}/model.ckpt-4')
  else:  # no room at all: the first summary fails
    _assert_one_error(proc, f"cannot write summaries in '{train_dir}': no space left on device")
  assert _listed(train_dir) == 'model.ckpt-4'
  _assert_no_half_written(train_dir)
  after = [f for f in _listing(train_dir) if not f.startswith('events.out.tfevents')]
  assert after == [f for f in before if not f.startswith('events.out.tfevents')]
  assert all(os.path.getsize(os.path.join(train_dir, f)) for f in _listing(train_dir)
             if f.startswith('events.out.tfevents'))  # no empty events file either


# --- the eval job, bad flags -------------------------------------------------------


def test_eval_of_a_missing_run_dir_and_an_eval_that_evaluates_nothing(data, tmp_path):
  missing = tmp_path / 'typo'
  empty = tmp_path / 'empty_run'
  empty.mkdir()
  results = _train_all(*([f'--run_dir={run}', f'--sequence_example_file={data}', '--eval',
                          '--eval_timeout_secs=1'] for run in (missing, empty)))
  _assert_one_error(results[0], f"run directory '{missing}' does not exist")
  assert not missing.exists()
  _assert_one_error(results[1],
                    f'nothing was evaluated: no intact checkpoint appeared in {empty}/train')


BAD_FLAGS = [
    (['--hparams=batch_size=0'], "hparam 'batch_size' must be at least 1, got 0"),
    (['--hparams=learning_rate=-1'], "hparam 'learning_rate' must be positive, got -1.0"),
    (['--num_checkpoints=-1'], 'num_checkpoints must be >= 0 (0 = keep all), got -1'),
    (['--summary_frequency=0'], 'summary_frequency must be at least 1, got 0'),
    (['--num_training_steps=-3'], 'num_training_steps must be >= 0 (0 = until stopped), got -3'),
    (['--sequence_example_file={folder}'], 'is a directory: give a TFRecord file or a glob'),
]


def test_bad_flags_write_nothing(data, tmp_path):
  runs = [tmp_path / f'run{i}' for i in range(len(BAD_FLAGS))]
  results = _train_all(*([f'--run_dir={run}', f'--sequence_example_file={data}',
                          *[a.format(folder=os.path.dirname(data)) for a in args]]
                         for run, (args, _) in zip(runs, BAD_FLAGS)))
  for run, proc, (_, message) in zip(runs, results, BAD_FLAGS):
    _assert_one_error(proc, message)
    assert not run.exists()
