"""Training on several machines: real drums_rnn_train worker processes on 127.0.0.1.

Each cluster test starts two workers with their own TF_CONFIG, exactly as the
README's "Training on several machines" section tells users to on two hosts
(the same flags; here both hosts are 127.0.0.1 with free ports). Every
process runs under a timeout and is killed if it outlives it; temporary
folders of the workers go to the test's tmp_path (TMPDIR).
"""

import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from drums_rnn.training import cluster as cluster_lib
from drums_rnn import configs
from drums_rnn.data import sequence_example
from drums_rnn.data import tfrecord
from drums_rnn.errors import DrumsRnnError

# The README's flags, with a tiny model. Dropout off: a replica's dropout mask
# cannot equal the one-process mask, and the test compares weights exactly.
HPARAMS = 'batch_size=4,rnn_layer_sizes=[8],attn_length=2,dropout_keep_prob=1.0'
TIMEOUT_SECS = 120  # per cluster run; a healthy one takes 15-30 s on 2 cores


def _train_command():
  script = shutil.which('drums_rnn_train', path=os.path.dirname(sys.executable))
  return [script] if script else [sys.executable, '-m', 'drums_rnn.cli.drums_rnn_train']


def _free_ports(n):
  socks = [socket.socket() for _ in range(n)]
  try:
    for sock in socks:
      sock.bind(('127.0.0.1', 0))
    return [sock.getsockname()[1] for sock in socks]
  finally:
    for sock in socks:
      sock.close()


def _tf_config(ports, index):
  return json.dumps({'cluster': {'worker': [f'127.0.0.1:{p}' for p in ports]},
                     'task': {'type': 'worker', 'index': index}})


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
  """Eight drum_kit tracks of 16-44 steps (one length band: bucketing cuts full batches)."""
  config = configs.get_config('drum_kit')
  rng = np.random.default_rng(0)
  path = str(tmp_path_factory.mktemp('data') / 'training_drum_tracks.tfrecord')
  with tfrecord.open_writer(path) as writer:
    for n in range(8):
      classes = rng.integers(0, config.encoding.num_classes, 16 + 4 * n)
      writer.write(sequence_example.serialize_sequence_example(*config.encoding.encode(classes)))
  return path


def _flags(run_dir, data, steps):
  """The README's command (training and validation files are one file here)."""
  return ['--config=drum_kit', f'--run_dir={run_dir}', f'--sequence_example_file={data}',
          f'--validation_file={data}', '--validate_every=2', f'--hparams={HPARAMS}',
          f'--num_training_steps={steps}', '--seed=1', '--summary_frequency=1']


class Worker:
  """One drums_rnn_train process; its output goes to files (no pipe to fill)."""

  def __init__(self, tmp_path, name, args, tf_config=None):
    self.log = tmp_path / f'{name}.log'
    temp = tmp_path / f'{name}.tmp'
    temp.mkdir()
    self.temp = str(temp)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='', TMPDIR=self.temp)
    env.pop('TF_CONFIG', None)
    if tf_config:
      env['TF_CONFIG'] = tf_config
    with open(self.log, 'w') as out:
      self.proc = subprocess.Popen(_train_command() + args, stdout=out, stderr=subprocess.STDOUT,
                                   env=env)

  def wait(self, deadline):
    try:
      return self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
      self.proc.kill()
      self.proc.wait()
      return 'timed out'

  def output(self):
    return self.log.read_text()

  def errors(self):
    return [l for l in self.output().splitlines() if l.startswith('error:')]


def _cluster(tmp_path, name, args, n=2):
  ports = _free_ports(n)
  return [Worker(tmp_path, f'{name}{i}', args, _tf_config(ports, i)) for i in range(n)], ports


def _finish(workers, timeout=TIMEOUT_SECS):
  deadline = time.monotonic() + timeout
  codes = [w.wait(deadline) for w in workers]
  for w, code in zip(workers, codes):
    assert code == 0, w.output()[-3000:]


def _checkpoint_values(prefix):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  reader = tf.train.load_checkpoint(prefix)
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
          if not name.startswith(('save_counter', '_CHECKPOINTABLE_OBJECT_GRAPH'))}


# --- TF_CONFIG and the rendezvous (no TensorFlow) --------------------------------------


def test_tf_config_names_the_cluster_and_the_chief():
  env = lambda config: {'TF_CONFIG': json.dumps(config)}
  assert cluster_lib.cluster_from_environment({}) is None
  assert cluster_lib.cluster_from_environment({'TF_CONFIG': ' '}) is None
  one = {'cluster': {'worker': ['127.0.0.1:1']}, 'task': {'type': 'worker', 'index': 0}}
  assert cluster_lib.cluster_from_environment(env(one)) is None  # one task: one process

  two = {'cluster': {'worker': ['127.0.0.1:1', '127.0.0.1:2']},
         'task': {'type': 'worker', 'index': 1}}
  cluster = cluster_lib.cluster_from_environment(env(two))
  assert (cluster.num_workers, cluster.is_chief) == (2, False)
  assert cluster.task_name() == 'worker 1 (127.0.0.1:2)'
  two['task']['index'] = 0
  assert cluster_lib.cluster_from_environment(env(two)).is_chief  # worker 0 without a chief job

  with_chief = {'cluster': {'chief': ['127.0.0.1:1'], 'worker': ['127.0.0.1:2']},
                'task': {'type': 'worker', 'index': 0}}
  assert not cluster_lib.cluster_from_environment(env(with_chief)).is_chief
  with_chief['task'] = {'type': 'chief', 'index': 0}
  assert cluster_lib.cluster_from_environment(env(with_chief)).is_chief


@pytest.mark.parametrize('text, message', [
    ('{"cluster": ', 'TF_CONFIG is not valid JSON'),
    ('{"cluster": {"worker": ["h:1", "h:2"], "ps": ["h:3"]}, "task": {"type": "worker"}}',
     "TF_CONFIG names a 'ps' job"),
    ('{"cluster": {"worker": ["h:1", "h2"]}, "task": {"type": "worker", "index": 0}}',
     'must be a list of "host:port" addresses'),
    ('{"cluster": {"worker": ["h:1", "h:2"]}}', 'TF_CONFIG has no "task"'),
    ('{"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 2}}',
     "task index 2 is outside job 'worker', which has 2 task(s)"),
    ('{"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "evaluator", "index": 0}}',
     "task type 'evaluator' is not a job of its cluster"),
])
def test_bad_tf_config_is_one_clear_error(text, message):
  with pytest.raises(DrumsRnnError, match=re.escape(message)):
    cluster_lib.cluster_from_environment({'TF_CONFIG': text})


def test_rendezvous_names_the_task_that_never_started():
  ports = _free_ports(2)
  cluster = cluster_lib.cluster_from_environment({'TF_CONFIG': _tf_config(ports, 0)})
  start = time.monotonic()
  with pytest.raises(DrumsRnnError, match=re.escape(
      f'the training cluster did not form within 1 s: worker 1 (127.0.0.1:{ports[1]}) did not '
      'start drums_rnn_train')):
    cluster_lib.rendezvous(cluster, timeout_secs=1)
  assert time.monotonic() - start < 10


def test_rendezvous_refuses_a_task_given_another_cluster():
  ports = _free_ports(2)
  mine = cluster_lib.cluster_from_environment({'TF_CONFIG': _tf_config(ports, 0)})

  def other_task():  # worker 1's hello, with the fingerprint of another cluster
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
      try:
        with socket.create_connection(('127.0.0.1', ports[0]), timeout=1) as sock:
          sock.sendall(b'drums_rnn 123abc worker 1\n')
          return
      except OSError:
        time.sleep(0.05)

  thread = threading.Thread(target=other_task, daemon=True)
  thread.start()
  with pytest.raises(DrumsRnnError, match=re.escape(
      f'worker 1 (127.0.0.1:{ports[1]}) was started with another TF_CONFIG cluster than worker 0 '
      f'(127.0.0.1:{ports[0]}): every task needs the same "cluster"')):
    cluster_lib.rendezvous(mine, timeout_secs=5)
  thread.join(5)


# --- real clusters ----------------------------------------------------------------------


def test_two_workers_equal_one_process_and_only_the_chief_writes(dataset, tmp_path):
  run, single = tmp_path / 'run', tmp_path / 'single'
  workers, _ = _cluster(tmp_path, 'worker', _flags(run, dataset, 3))
  _finish(workers)
  for worker in workers:
    assert 'The cluster is up: 2 replica(s) in sync.' in worker.output()
    assert 'Step 3: loss' in worker.output(), worker.output()[-2000:]
    assert 'Validation at step 2' in worker.output()
    assert os.listdir(worker.temp) == []  # the non-chief's temporary folder is gone
  # The one-process run of the same command trains on the same global batches.
  reference = Worker(tmp_path, 'single', _flags(single, dataset, 3))
  _finish([reference])
  cluster_values = _checkpoint_values(str(run / 'train' / 'model.ckpt-3'))
  single_values = _checkpoint_values(str(single / 'train' / 'model.ckpt-3'))
  assert sorted(cluster_values) == sorted(single_values)
  moments = [v for name, v in single_values.items() if name.startswith('optimizer/m/')]
  assert moments and all(np.abs(m).max() > 0 for m in moments)  # Adam's state is compared too
  assert single_values['step/.ATTRIBUTES/VARIABLE_VALUE'] == 3
  for name, value in single_values.items():
    np.testing.assert_allclose(cluster_values[name], value, atol=1e-5, err_msg=name)
  # Only the chief's files: exactly what the one process writes (one events file, not two).
  names = lambda d: sorted(re.sub(r'tfevents\..*', 'tfevents', f) for f in os.listdir(d))
  assert names(run / 'train') == names(single / 'train')
  assert names(run / 'train' / 'best') == names(single / 'train' / 'best')
  assert len(glob.glob(str(run / 'train' / 'events.out.tfevents*'))) == 1


def _wait_for(worker, text, deadline):
  while text not in worker.output():
    assert time.monotonic() < deadline and worker.proc.poll() is None, worker.output()[-2000:]
    time.sleep(0.2)


def test_stops_together_resumes_and_a_killed_worker_stops_the_other(dataset, tmp_path):
  run = tmp_path / 'run'
  command = _flags(run, dataset, 100000)
  # SIGTERM to one task stops both at the same step; the chief saves that step.
  workers, _ = _cluster(tmp_path, 'first', command)
  chief, other = workers
  deadline = time.monotonic() + TIMEOUT_SECS
  _wait_for(other, 'Step 2: loss', deadline)
  other.proc.send_signal(signal.SIGTERM)
  assert [w.wait(deadline) for w in workers] == [0, 143], chief.output()[-3000:]
  stopped = re.search(r'A signal stopped another task of the cluster: stopping at step (\d+)\.',
                      chief.output())
  assert stopped, chief.output()[-3000:]
  step = int(stopped.group(1))
  assert other.errors() == [f'error: stopped by SIGTERM at step {step}: checkpoint '
                            f'{run}/train/model.ckpt-{step} saved; run the same command to resume']
  assert os.path.isfile(run / 'train' / f'model.ckpt-{step}.index')

  # The same command again resumes both at the chief's step.
  workers, ports = _cluster(tmp_path, 'again', command)
  chief, victim = workers
  deadline = time.monotonic() + TIMEOUT_SECS
  _wait_for(victim, f'Step {step + 2}: loss', deadline)
  assert re.search(rf'Resuming from \S*model\.ckpt-{step} \(step {step}\)', chief.output())
  assert f'Starting at step {step} from the chief.' in victim.output()
  assert f'Step {step}: loss' not in victim.output()

  # A worker killed outright: the chief stops with one clear error, in bounded time.
  victim.proc.kill()
  victim.proc.wait()
  killed = time.monotonic()
  code = chief.wait(killed + 60)
  waited = time.monotonic() - killed
  assert code == 2, chief.output()[-3000:]
  errors = chief.errors()
  assert len(errors) == 1, chief.output()[-3000:]
  assert errors[0].startswith('error: training cluster failed after step ')
  assert f'worker 1 (127.0.0.1:{ports[1]}) stopped responding' in errors[0]
  assert ("restart every task with the same command to resume from the chief's latest "
          'checkpoint') in errors[0]
  assert 'Traceback' not in chief.output()
  print(f'the chief stopped {waited:.1f} s after worker 1 was killed')
  assert waited < 30, waited
