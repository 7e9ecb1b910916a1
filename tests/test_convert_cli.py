"""convert_dir_to_note_sequences as a command: flags, summary line, exit codes."""

import os
import subprocess
import sys

import note_seq

from drums_rnn.data import note_sequences
from tests import helpers


def run_cli(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  return subprocess.run(
      [sys.executable, '-m', 'drums_rnn.cli.convert_dir_to_note_sequences', *args],
      capture_output=True, text=True, env=env, cwd=helpers.REPO_ROOT, timeout=300)


def make_tree(root):
  (root / 'sub').mkdir(parents=True)
  for i, name in enumerate(['a.mid', 'sub/b.midi']):
    seq = helpers.drum_sequence(helpers.basic_beat(2 + i))
    note_seq.sequence_proto_to_midi_file(seq, str(root / name))
  (root / 'sub' / 'truncated.mid').write_bytes(
      (root / 'a.mid').read_bytes()[:30])
  (root / 'notes.txt').write_text('not music')


def test_converts_recursively_with_summary(tmp_path):
  make_tree(tmp_path / 'kit')
  out = tmp_path / 'out' / 'kit.tfrecord'
  result = run_cli(f'--input_dir={tmp_path / "kit"}', f'--output_file={out}', '--recursive')
  assert result.returncode == 0, result.stderr
  assert ('Converted 2 NoteSequences to %s; skipped 1 unreadable files and 1 files of other '
          'types.' % out) in result.stdout
  assert result.stderr.count('truncated.mid') == 1
  sequences = list(note_sequences.read_note_sequences(str(out)))
  assert [s.filename for s in sequences] == ['a.mid', 'sub/b.midi']
  assert all(s.collection_name == 'kit' and s.id.startswith('/id/midi/kit/') for s in sequences)


def test_errors_exit_2_with_one_line(tmp_path):
  make_tree(tmp_path / 'kit')
  os.remove(tmp_path / 'kit' / 'sub' / 'b.midi')
  cases = [
      # Only truncated.mid is left in sub/: nothing converts.
      [f'--input_dir={tmp_path / "kit" / "sub"}', f'--output_file={tmp_path / "y.tfrecord"}'],
      [f'--output_file={tmp_path / "x.tfrecord"}'],
      [f'--input_dir={tmp_path / "nowhere"}', f'--output_file={tmp_path / "x.tfrecord"}'],
  ]
  expected = ['error: no file converted', 'error: --input_dir is required', 'is not a directory']
  results = helpers.run_cli_cases('drums_rnn.cli.convert_dir_to_note_sequences', cases,
                                  TF_CPP_MIN_LOG_LEVEL='3')
  for message, r in zip(expected, results):
    assert r['code'] == 2, r
    last = r['stderr'].strip().splitlines()[-1]
    assert last.startswith('error: ') and message in last, r['stderr']
    assert 'Traceback' not in r['stderr']
  assert not (tmp_path / 'y.tfrecord').exists()
