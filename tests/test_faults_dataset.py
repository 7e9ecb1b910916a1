"""Faults of the dataset tools, run through the real console commands (issue 10).

Each test runs `.venv/bin/convert_dir_to_note_sequences` or
`.venv/bin/drums_rnn_create_dataset` in a subprocess (with a timeout) and
checks what a user sees and what is left on disk: the exit code, exactly one
`error:` line and no traceback, earlier outputs byte for byte as they were,
and no temporary file anywhere under tmp_path.

"Earlier outputs" are files of marker bytes at the output names: the
commands never read their outputs, so any bytes show whether a failed run
replaced them.
"""

import contextlib
import os
import signal
import struct
import subprocess
import sys
import time

import pytest

from drums_rnn import midi
from tests import helpers

BIN = os.path.dirname(sys.executable)
CONVERT = os.path.join(BIN, 'convert_dir_to_note_sequences')
CREATE = os.path.join(BIN, 'drums_rnn_create_dataset')
OUTPUTS = ('training_drum_tracks.tfrecord', 'eval_drum_tracks.tfrecord')
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')


def _drum_midi(bars, qpm):
  steps = list(range(bars * 16))
  pitches = [(36, 42, 38, 42)[s % 4] for s in steps]
  return midi.midi_bytes(midi.drum_sequence(steps, pitches, 4, qpm=qpm))


def write_midi_folder(path, count, distinct=8):
  """`count` drum MIDI files (copies of `distinct` ones: cheap to write, each a real file)."""
  path.mkdir(parents=True, exist_ok=True)
  data = [_drum_midi(12 + i, 100 + i) for i in range(distinct)]
  for i in range(count):
    (path / f'{i:03d}.mid').write_bytes(data[i % distinct])
  return path


@pytest.fixture(scope='module')
def many_midi(tmp_path_factory):
  """A folder that takes the commands a few seconds: time to send a signal mid-run."""
  return write_midi_folder(tmp_path_factory.mktemp('many') / 'midi', 600)


@pytest.fixture
def few_midi(tmp_path):
  return write_midi_folder(tmp_path / 'few', 3)


def run(command, *args, timeout=120):
  return subprocess.run([command, *args], capture_output=True, text=True, env=ENV,
                        timeout=timeout, check=False)


def temporaries(root):
  return [os.path.join(d, n) for d, _, names in os.walk(root) for n in names
          if n.endswith('.tmp')]


def assert_one_error(code, stderr, returncode, *needles):
  errors = [line for line in stderr.splitlines() if line.startswith('error:')]
  assert returncode == code, stderr
  assert len(errors) == 1, stderr
  for needle in needles:
    assert needle in errors[0], stderr
  assert 'Traceback' not in stderr, stderr


def previous_outputs(paths):
  """Marker bytes at each output path; returns what to compare against later."""
  for path in paths:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'a previous run wrote this: ' + path.name.encode())
  return {path: path.read_bytes() for path in paths}


def unchanged(before):
  return all(path.read_bytes() == data for path, data in before.items())


def command_for(name, midi_dir, out):
  """(command, args, output paths) of one of the two commands."""
  if name == 'convert':
    return CONVERT, [f'--input_dir={midi_dir}', f'--output_file={out / "notes.tfrecord"}'], \
        [out / 'notes.tfrecord']
  return CREATE, [f'--input={midi_dir}', f'--output_dir={out}', '--config=one_drum'], \
      [out / name for name in OUTPUTS]


@contextlib.contextmanager
def started(command, args):
  """A running command, killed at the end of the block if it is still running."""
  # SIGINT as a terminal sends it: the child must not inherit an ignored SIGINT.
  proc = subprocess.Popen([command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=ENV, start_new_session=True,  # a group of its own
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
  try:
    yield proc
  finally:
    if proc.poll() is None:
      proc.kill()  # its pool workers end when their pipes close
      proc.communicate()


def wait_for_temporary(proc, folder, timeout=60):
  """Waits until the run has a temporary output file open in `folder`."""
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if temporaries(folder):
      return
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.02)
  pytest.fail('no temporary output file appeared')


def children(pid):
  try:
    with open(f'/proc/{pid}/task/{pid}/children', encoding='ascii') as f:
      return [int(p) for p in f.read().split()]
  except OSError:
    return []


def alive(pid):
  try:
    with open(f'/proc/{pid}/stat', encoding='ascii') as f:
      return f.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
  except OSError:
    return False


# --- data loss ---------------------------------------------------------------------


def test_failed_create_dataset_keeps_the_previous_dataset(tmp_path):
  out = tmp_path / 'out'
  before = previous_outputs([out / name for name in OUTPUTS])
  piano = helpers.drum_sequence(helpers.basic_beat(10), is_drum=False)
  midi.write_midi(str(tmp_path / 'piano.mid'), piano)
  result = run(CREATE, f'--input={tmp_path / "piano.mid"}', f'--output_dir={out}')
  assert_one_error(2, result.stderr, result.returncode, 'no drum tracks written', 'channel 10')
  assert unchanged(before)
  assert not temporaries(tmp_path)


SIGNAL_CASES = [
    (name, signum, code, word, False) for name in ('convert', 'create')
    for signum, code, word in ((signal.SIGTERM, 143, 'terminated'),
                               (signal.SIGINT, 130, 'interrupted'))
] + [('create', signal.SIGINT, 130, 'interrupted', True)]  # Ctrl-C: the workers get it too


@pytest.mark.parametrize('name,signum,code,word,to_group', SIGNAL_CASES, ids=[
    f'{c[0]}-{c[1].name}' + ('-to-group' if c[4] else '') for c in SIGNAL_CASES])
def test_signal_mid_run(tmp_path, many_midi, name, signum, code, word, to_group):
  command, args, outputs = command_for(name, many_midi, tmp_path / 'out')
  before = previous_outputs(outputs)
  with started(command, args) as proc:
    wait_for_temporary(proc, tmp_path / 'out')
    workers = children(proc.pid)
    assert proc.poll() is None
    if to_group:
      os.killpg(proc.pid, signum)
    else:
      proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
  assert_one_error(code, stderr, proc.returncode, word)
  assert unchanged(before)
  assert not temporaries(tmp_path)
  deadline = time.monotonic() + 10
  while any(alive(p) for p in workers) and time.monotonic() < deadline:
    time.sleep(0.05)
  assert not any(alive(p) for p in workers)


@pytest.mark.parametrize('name', ['convert', 'create'])
def test_leftovers_of_a_killed_run_are_removed_by_the_next(tmp_path, many_midi, few_midi, name):
  command, args, outputs = command_for(name, many_midi, tmp_path / 'out')
  with started(command, args) as proc:
    wait_for_temporary(proc, tmp_path / 'out')
    proc.kill()  # SIGKILL: no clean-up is possible
    proc.communicate(timeout=60)
  leftovers = temporaries(tmp_path)
  assert leftovers
  command, args, outputs = command_for(name, few_midi, tmp_path / 'out')
  result = run(command, *args)
  assert result.returncode == 0, result.stderr
  assert not temporaries(tmp_path)
  assert all(path.exists() for path in outputs) and outputs[0].stat().st_size > 0


# --- folder walks ------------------------------------------------------------------


@pytest.mark.parametrize('name', ['convert', 'create'])
def test_links_to_parent_folders_do_not_repeat_files(tmp_path, name):
  root = write_midi_folder(tmp_path / 'kit', 2)
  (root / 'sub').mkdir()
  os.rename(root / '001.mid', root / 'sub' / '001.mid')
  os.symlink('..', root / 'sub' / 'up')
  os.symlink(str(root), root / 'sub' / 'top')
  command, args, _ = command_for(name, root, tmp_path / 'out')
  result = run(command, *args, '--recursive' if name == 'convert' else '--eval_ratio=0',
               timeout=60)
  assert result.returncode == 0, result.stderr
  if name == 'convert':
    assert 'Converted 2 NoteSequences' in result.stdout
  else:
    assert 'Read 2 NoteSequences' in result.stdout and 'Wrote 2 drum tracks' in result.stdout


@pytest.mark.parametrize('name', ['convert', 'create'])
def test_dangling_link_is_reported_as_such(tmp_path, name):
  root = write_midi_folder(tmp_path / 'kit', 2)
  os.symlink('gone.mid', root / 'lost.mid')
  command, args, _ = command_for(name, root, tmp_path / 'out')
  result = run(command, *args, timeout=60)
  assert result.returncode == 0, result.stderr
  assert 'broken symbolic link' in result.stderr and 'lost.mid' in result.stderr
  assert 'converter' not in result.stderr and 'Traceback' not in result.stderr
  if name == 'convert':
    assert 'skipped 1 unreadable files' in result.stdout


# --- unwritable outputs ------------------------------------------------------------


def _unwritable(kind, tmp_path, few_midi):
  if kind == 'output_file_is_a_folder':
    (tmp_path / 'folder').mkdir()
    path = str(tmp_path / 'folder')
    return CONVERT, [f'--input_dir={few_midi}', f'--output_file={path}'], path, 'directory'
  if kind == 'output_file_under_proc':
    path = '/proc/drums_rnn_fault_test.tfrecord'
    return CONVERT, [f'--input_dir={few_midi}', f'--output_file={path}'], path, ''
  path = '/sys/drums_rnn_fault_test'
  return CREATE, [f'--input={few_midi}', f'--output_dir={path}'], path, ''


@pytest.mark.parametrize('kind', ['output_file_is_a_folder', 'output_file_under_proc',
                                  'output_dir_under_sys'])
def test_unwritable_output(tmp_path, few_midi, kind):
  command, args, path, cause = _unwritable(kind, tmp_path, few_midi)
  result = run(command, *args, timeout=60)
  assert_one_error(2, result.stderr, result.returncode, repr(path), cause)
  assert not os.path.exists(path) or os.path.isdir(path)
  assert not temporaries(tmp_path)


@pytest.fixture
def full_disk(tmp_path):
  """A 200 KiB tmpfs under tmp_path (root only), unmounted afterwards."""
  with helpers.small_tmpfs(tmp_path / 'full', '200k') as (path, _):
    yield path


@pytest.mark.parametrize('name', ['convert', 'create'])
def test_full_disk(tmp_path, full_disk, name):
  midi_dir = write_midi_folder(tmp_path / 'midi', 100)  # ~500 KB of output
  command, args, outputs = command_for(name, midi_dir, full_disk / 'out')
  before = previous_outputs(outputs)
  result = run(command, *args, timeout=60)
  assert_one_error(2, result.stderr, result.returncode, str(full_disk / 'out'),
                   'no space left on device')
  assert unchanged(before)
  assert not temporaries(tmp_path)


# --- damaged input, stray arguments ------------------------------------------------


def _record_offsets(data):
  offsets, position = [], 0
  while position < len(data):
    offsets.append(position)
    position += 12 + struct.unpack('<Q', data[position:position + 8])[0] + 4
  return offsets


@pytest.mark.parametrize('where,record', [('payload', 1), ('header', 2)])
def test_tfrecord_damaged_after_its_first_record(tmp_path, few_midi, where, record):
  notes = tmp_path / 'notes.tfrecord'
  result = run(CONVERT, f'--input_dir={few_midi}', f'--output_file={notes}')
  assert result.returncode == 0, result.stderr
  data = bytearray(notes.read_bytes())
  offset = _record_offsets(data)[record]
  data[offset + (20 if where == 'payload' else 2)] ^= 0xFF
  notes.write_bytes(bytes(data))
  out = tmp_path / 'out'
  before = previous_outputs([out / name for name in OUTPUTS])
  result = run(CREATE, f'--input={notes}', f'--output_dir={out}', timeout=60)
  assert_one_error(2, result.stderr, result.returncode, repr(str(notes)),
                   f'corrupt at record {record}')
  assert unchanged(before)
  assert not temporaries(tmp_path)


@pytest.mark.parametrize('name', ['convert', 'create'])
def test_stray_positional_arguments(tmp_path, few_midi, name):
  command, args, outputs = command_for(name, few_midi, tmp_path / 'out')
  result = run(command, *args, 'stray', timeout=60)
  assert_one_error(2, result.stderr, result.returncode, 'unexpected arguments: stray')
  assert not any(path.exists() for path in outputs)
