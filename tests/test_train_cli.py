"""drums_rnn_train as a user runs it: a subprocess, exit codes, one-line errors."""

import os
import subprocess
import sys

import numpy as np

from drums_rnn import configs
from tests.test_training import write_examples


def run_cli(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')
  return subprocess.run([sys.executable, '-m', 'drums_rnn.cli.drums_rnn_train', *args],
                        capture_output=True, text=True, env=env, timeout=300)


def _write(path, config_name='drum_kit', num=4):
  config = configs.get_config(config_name)
  pattern = [5, 4, 6, 4] if config.encoding.num_classes > 8 else [1, 0, 1, 1]
  return write_examples(path, config, [np.array(pattern * (4 + n)) for n in range(num)])


def _error_lines(proc):
  return [l for l in proc.stderr.splitlines() if l.startswith('error:')]


def test_train_then_eval(tmp_path):
  data = _write(str(tmp_path / 'training_drum_tracks.tfrecord'))
  run = str(tmp_path / 'run')
  proc = run_cli('--config=drum_kit', f'--run_dir={run}', f'--sequence_example_file={data}',
                 '--hparams=batch_size=2,rnn_layer_sizes=[8],attn_length=2', '--num_training_steps=3',
                 '--summary_frequency=1', '--seed=1')
  assert proc.returncode == 0, proc.stderr
  assert 'Step 3: loss' in proc.stderr
  assert os.path.isfile(os.path.join(run, 'train', 'model.ckpt-3.index'))
  assert os.path.isfile(os.path.join(run, 'train', 'drums_rnn_config.json'))
  proc = run_cli(f'--run_dir={run}', f'--sequence_example_file={data}', '--eval',
                 '--eval_timeout_secs=1', '--eval_interval_secs=0')
  assert proc.returncode == 0, proc.stderr
  assert 'Eval of model.ckpt-3: step 3' in proc.stderr
  assert any(f.startswith('events.out.tfevents') for f in os.listdir(os.path.join(run, 'eval')))


def test_bad_inputs_exit_2_with_one_line(tmp_path):
  data = _write(str(tmp_path / 'one_drum.tfrecord'), 'one_drum')
  proc = run_cli(f'--run_dir={tmp_path}/run', f'--sequence_example_file={data}',
                 '--num_training_steps=1')
  assert proc.returncode == 2
  assert _error_lines(proc) == [
      f"error: '{data}' has input vectors of size 2, but the config expects 518: "
      'was the dataset made with another --config?']
  assert 'Traceback' not in proc.stderr

  proc = run_cli(f'--run_dir={tmp_path}/run', f'--sequence_example_file={tmp_path}/missing*',
                 '--hparams=batch_size=2,nonsense=3')
  assert proc.returncode == 2
  assert len(_error_lines(proc)) == 1 and "unknown hparam 'nonsense'" in proc.stderr
  assert 'Traceback' not in proc.stderr
