"""Shared test helpers: hand-built drum NoteSequences and the Groove data location.

The core tests build their MIDI in code. Tests that need the Groove MIDI
Dataset (Gillick et al. 2019, Magenta; CC BY 4.0) find it through
``DRUMS_RNN_GROOVE_DIR`` (default ``../shared/data/groove`` beside the
checkout) and skip with a clear reason when it is absent.
"""

import contextlib
import csv
import errno
import json
import os
import signal
import subprocess
import sys

import pytest
from note_seq.protobuf import music_pb2

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))



def run_cli_cases(module, cases, timeout=300, **env):
  """Each argument list in `cases` through `module`'s console_main, all in one subprocess
  (tests/cli_driver.py: note-seq is imported once). `env`: extra environment variables.

  Returns one {'code', 'stdout', 'stderr'} per case; the driver itself must exit 0.
  """
  proc = subprocess.run([sys.executable, '-m', 'tests.cli_driver', module, json.dumps(cases)],
                        capture_output=True, text=True, cwd=REPO_ROOT, timeout=timeout,
                        env=dict(os.environ, CUDA_VISIBLE_DEVICES='', **env))
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
  assert len(results) == len(cases), proc.stderr[-2000:]
  return results


def default_sigint():
  """For subprocess.Popen(preexec_fn=...): Ctrl-C acts on the child as in a terminal.

  A test runner's worker (pytest-xdist's) may ignore SIGINT, and an ignored
  signal stays ignored in the programs it starts; Python then never raises
  KeyboardInterrupt in them.
  """
  signal.signal(signal.SIGINT, signal.SIG_DFL)


def groove_dir():
  """The Groove MIDI Dataset directory, or None when it is not available."""
  path = os.environ.get('DRUMS_RNN_GROOVE_DIR',
                        os.path.join(REPO_ROOT, '..', 'shared', 'data', 'groove'))
  path = os.path.abspath(path)
  return path if os.path.isfile(os.path.join(path, 'info.csv')) else None


def require_groove():
  """Returns the Groove dir or skips the calling test with the reason."""
  path = groove_dir()
  if path is None:
    pytest.skip('Groove MIDI Dataset not found: set DRUMS_RNN_GROOVE_DIR to its folder '
                '(the one holding info.csv)')
  return path


def groove_files(split=None, limit=None, beat_type=None):
  """Absolute MIDI paths from Groove's info.csv, optionally filtered by split."""
  root = require_groove()
  paths = []
  with open(os.path.join(root, 'info.csv'), newline='') as f:
    for row in csv.DictReader(f):
      if split and row['split'] != split:
        continue
      if beat_type and row['beat_type'] != beat_type:
        continue
      paths.append(os.path.join(root, row['midi_filename']))
  paths.sort()
  return paths[:limit] if limit else paths


def drum_sequence(hits, qpm=120.0, steps_per_quarter=4, numerator=4, denominator=4,
                  velocity=100, is_drum=True, seq_id='test', add_time_signature=True):
  """A NoteSequence from `hits`: a list of (step, pitch) pairs on a step grid.

  Each note lasts one step. Time is derived from `qpm` and `steps_per_quarter`.
  """
  seq = music_pb2.NoteSequence()
  seq.id = seq_id
  seq.ticks_per_quarter = 220
  seq.tempos.add(qpm=qpm, time=0.0)
  if add_time_signature:
    seq.time_signatures.add(numerator=numerator, denominator=denominator, time=0.0)
  step_seconds = 60.0 / qpm / steps_per_quarter
  for step, pitch in hits:
    seq.notes.add(pitch=pitch, velocity=velocity, start_time=step * step_seconds,
                  end_time=(step + 1) * step_seconds, is_drum=is_drum, instrument=9)
  seq.total_time = max((n.end_time for n in seq.notes), default=0.0)
  return seq


def basic_beat(bars, steps_per_bar=16):
  """(step, pitch) hits of a rock beat: kick on 1 and 3, snare on 2 and 4, hats on 8ths."""
  hits = []
  for bar in range(bars):
    base = bar * steps_per_bar
    for s in range(0, steps_per_bar, 2):
      hits.append((base + s, 42))
    hits += [(base, 36), (base + 8, 36), (base + 4, 38), (base + 12, 38)]
  return hits


@contextlib.contextmanager
def small_tmpfs(path, size):
  """Mounts a tmpfs of `size` (e.g. '100k') at the new folder `path`, for full-disk cases.

  Yields (path, fill), where fill(leave) fills the disk up to `leave` free
  bytes. Skips the calling test when not root or mounting fails; unmounts
  lazily afterwards (a command that outlived its test must not make the
  teardown fail).
  """
  if os.geteuid() != 0:
    pytest.skip('full-disk cases need root to mount a small tmpfs')
  os.makedirs(path)
  proc = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(path)],
                        capture_output=True, text=True, timeout=30, check=False)
  if proc.returncode != 0:
    pytest.skip(f'cannot mount a tmpfs here: {proc.stderr.strip() or proc.returncode}')

  def fill(leave):
    filler = os.path.join(path, 'filler')
    with open(filler, 'wb', buffering=0) as f:
      try:
        while True:
          f.write(b'\0' * 4096)
      except OSError as e:
        assert e.errno == errno.ENOSPC
    os.truncate(filler, max(os.path.getsize(filler) - leave, 0))

  try:
    yield path, fill
  finally:
    subprocess.run(['umount', '-l', str(path)], capture_output=True, timeout=30, check=False)
