"""drums_rnn_create_dataset as a command: summary, both files, one-line errors with exit 2."""

import os
import subprocess
import sys

import note_seq

from drums_rnn.data import dataset
from drums_rnn.data import sequence_example
from drums_rnn.data import tfrecord
from tests import helpers


def run_cli(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  return subprocess.run(
      [sys.executable, '-m', 'drums_rnn.cli.drums_rnn_create_dataset', *args],
      capture_output=True, text=True, env=env, cwd=helpers.REPO_ROOT, timeout=300)


def run_cases(cases):
  """Runs each argument list through console_main in one subprocess (see cli_driver)."""
  return helpers.run_cli_cases('drums_rnn.cli.drums_rnn_create_dataset', cases,
                               TF_CPP_MIN_LOG_LEVEL='3')


def write_records(path, payloads):
  """A TFRecord file written with our own framing (no TensorFlow in this process)."""
  with open(path, 'wb') as f:
    for data in payloads:
      f.write(tfrecord.frame(data))
  return str(path)


def beats(n):
  return [helpers.drum_sequence(helpers.basic_beat(8 + 4 * i), seq_id=f's{i}') for i in range(n)]


def test_creates_both_files_with_summary(tmp_path):
  src = write_records(tmp_path / 'in.tfrecord', [s.SerializeToString() for s in beats(6)])
  out = tmp_path / 'out'
  result = run_cli('--config=one_drum', f'--input={src}', f'--output_dir={out}',
                   '--eval_ratio=0.3', '--num_workers=2', '--seed=3', '--split_long_tracks')
  assert result.returncode == 0, result.stderr
  assert 'Read 6 NoteSequences' in result.stdout
  assert 'Wrote 6 drum tracks' in result.stdout
  assert 'Processed 6/6 inputs' in result.stderr  # the progress line
  for name in (dataset.TRAINING_FILE, dataset.EVAL_FILE):
    assert (out / name).exists()
  counted = tfrecord.scan(str(out / dataset.TRAINING_FILE)) + (
      tfrecord.scan(str(out / dataset.EVAL_FILE))
      if os.path.getsize(out / dataset.EVAL_FILE) else 0)
  assert counted == 6


def _non_drum_midi(path):
  seq = helpers.drum_sequence(helpers.basic_beat(10), is_drum=False)
  note_seq.sequence_proto_to_midi_file(seq, str(path))


def _bad_input(kind, tmp_path):
  """(flags, expected message) for one kind of bad input."""
  out = f'--output_dir={tmp_path / "out"}'
  good = write_records(tmp_path / 'good.tfrecord', [beats(1)[0].SerializeToString()])
  if kind == 'truncated_midi':
    note_seq.sequence_proto_to_midi_file(beats(1)[0], str(tmp_path / 'full.mid'))
    (tmp_path / 'cut.mid').write_bytes((tmp_path / 'full.mid').read_bytes()[:40])
    return [f'--input={tmp_path / "cut.mid"}', out], 'cannot read'
  if kind == 'text_named_mid':
    (tmp_path / 'text.mid').write_text('hello, I am not a MIDI file\n')
    return [f'--input={tmp_path / "text.mid"}', out], 'cannot read'
  if kind == 'empty_tfrecord':
    (tmp_path / 'empty.tfrecord').write_bytes(b'')
    return [f'--input={tmp_path / "empty.tfrecord"}', out], 'is empty'
  if kind == 'wrong_proto':
    import numpy as np  # pylint: disable=g-import-not-at-top
    example = sequence_example.serialize_sequence_example(np.eye(4, 518, dtype=np.float32),
                                                          [1, 2, 3, 4])
    src = write_records(tmp_path / 'se.tfrecord', [example])
    return [f'--input={src}', out], 'is not a NoteSequence'
  if kind == 'unknown_config':
    return ['--config=three_drum', f'--input={good}', out], 'unknown config'
  if kind == 'bad_hparams':
    return ['--hparams=batch_sise=3', f'--input={good}', out], 'batch_sise'
  if kind == 'bad_eval_ratio':
    return ['--eval_ratio=1.5', f'--input={good}', out], 'eval_ratio'
  if kind == 'unwritable_output':
    (tmp_path / 'file').write_text('x')
    return [f'--input={good}', f'--output_dir={tmp_path / "file" / "out"}'], \
        'cannot create directory'
  if kind == 'no_drums':
    _non_drum_midi(tmp_path / 'piano.mid')
    return [f'--input={tmp_path / "piano.mid"}', out], 'channel 10'
  raise ValueError(kind)


BAD_KINDS = ['truncated_midi', 'text_named_mid', 'empty_tfrecord', 'wrong_proto',
             'unknown_config', 'bad_hparams', 'bad_eval_ratio', 'unwritable_output', 'no_drums']


def test_bad_inputs_give_one_error_line_and_exit_2(tmp_path):
  cases, messages = [], []
  for kind in BAD_KINDS:
    (tmp_path / kind).mkdir()
    args, message = _bad_input(kind, tmp_path / kind)
    cases.append(args + ['--num_workers=1'])
    messages.append(message)
  cases.append(['--output_dir=/tmp/unused'])
  messages.append('--input is required')
  results = run_cases(cases)
  assert len(results) == len(cases)
  for kind, message, result in zip(BAD_KINDS + ['missing_flag'], messages, results):
    assert result['code'] == 2, (kind, result)
    last = result['stderr'].strip().splitlines()[-1]
    assert last.startswith('error: ') and message in last, (kind, result['stderr'])
    assert 'Traceback' not in result['stderr'], kind
