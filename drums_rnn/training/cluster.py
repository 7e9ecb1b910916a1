"""The cluster of a multi-worker training run: TF_CONFIG and the rendezvous (no TensorFlow).

``TF_CONFIG`` is TensorFlow's standard variable: ``{"cluster": {"worker":
["host1:2222", "host2:2222"]}, "task": {"type": "worker", "index": 0}}`` on
every task, only ``task`` differing. :func:`cluster_from_environment` reads
and checks it (one clear error for a malformed one, or for jobs training
does not run: parameter servers, an evaluator); the chief is the ``chief``
task, or worker 0 when the cluster has none, as TensorFlow counts.

:func:`rendezvous` waits for every task to start before TensorFlow does:
TensorFlow waits for the cluster in native code that holds the interpreter,
for an hour or for ever, and cannot say which task is missing. Here each task
listens on its own port and says hello to every other until it has reached
and heard all of them (checking on the way that all were given the same
cluster); then it closes the port and TensorFlow takes it over. After
`timeout_secs` it gives up with an error naming the missing tasks.

Pure Python on purpose: it runs before TensorFlow may run anything in the
process, and its tests need no TensorFlow.
"""

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import re
import socket
import time

from absl import logging

from drums_rnn.errors import DrumsRnnError

CLUSTER_JOBS = ('chief', 'worker')
STARTUP_TIMEOUT_SECS = 300
_ADDRESS = re.compile(r'^(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):\d{1,5}$')


@dataclasses.dataclass(frozen=True)
class Cluster:
  """The cluster TF_CONFIG names and this process's task in it."""
  jobs: dict  # job name -> tuple of 'host:port' addresses
  task_type: str
  task_index: int

  @property
  def num_workers(self):
    return sum(len(addresses) for addresses in self.jobs.values())

  @property
  def is_chief(self):
    if 'chief' in self.jobs:
      return self.task_type == 'chief'
    return self.task_index == 0

  def task_name(self, job=None, index=None):
    """'worker 1 (host:port)': how messages name a task (default: this one)."""
    job = self.task_type if job is None else job
    index = self.task_index if index is None else int(index)
    addresses = self.jobs.get(job, ())
    where = f' ({addresses[index]})' if index < len(addresses) else ''
    return f'{job} {index}{where}'


def _tf_config_error(problem):
  return DrumsRnnError(f'TF_CONFIG {problem}; it should look like '
                       '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
                       '"task": {"type": "worker", "index": 0}}')


def cluster_from_environment(environ=None):
  """The :class:`Cluster` of ``TF_CONFIG``, or None for a one-process run.

  None when TF_CONFIG is unset or empty, or names one task only.

  Raises:
    DrumsRnnError: TF_CONFIG is malformed or asks for something training
      does not do (parameter servers, an evaluator task).
  """
  text = (os.environ if environ is None else environ).get('TF_CONFIG', '').strip()
  if not text:
    return None
  try:
    config = json.loads(text)
  except ValueError as e:
    raise _tf_config_error(f'is not valid JSON ({e})') from None
  if not isinstance(config, dict) or not isinstance(config.get('cluster', {}), dict):
    raise _tf_config_error('is not a JSON object with a "cluster" object')
  jobs = {}
  for job, addresses in config.get('cluster', {}).items():
    if job not in CLUSTER_JOBS:
      raise _tf_config_error(f'names a {job!r} job: drums_rnn_train trains with '
                             "MultiWorkerMirroredStrategy, whose jobs are 'chief' and 'worker' "
                             '(evaluate with a separate drums_rnn_train --eval, without TF_CONFIG)')
    if (not isinstance(addresses, list) or
        not all(isinstance(a, str) and _ADDRESS.match(a) for a in addresses)):
      raise _tf_config_error(f'job {job!r} must be a list of "host:port" addresses, '
                             f'got {addresses!r}')
    jobs[job] = tuple(addresses)
  if len(jobs.get('chief', ())) > 1:
    raise _tf_config_error('names more than one chief')
  task = config.get('task')
  if sum(len(a) for a in jobs.values()) <= 1 and not task:
    return None
  if not isinstance(task, dict) or 'type' not in task:
    raise _tf_config_error('has no "task": {"type": ..., "index": ...} saying which task this is')
  task_type, index = task.get('type'), task.get('index', 0)
  if task_type not in jobs:
    raise _tf_config_error(f'task type {task_type!r} is not a job of its cluster '
                           f'({", ".join(sorted(jobs)) or "empty"})')
  if not isinstance(index, int) or not 0 <= index < len(jobs[task_type]):
    raise _tf_config_error(f'task index {index!r} is outside job {task_type!r}, which has '
                           f'{len(jobs[task_type])} task(s)')
  cluster = Cluster(jobs, task_type, index)
  return cluster if cluster.num_workers > 1 else None


def _host_port(address):
  host, port = address.rsplit(':', 1)
  return host.strip('[]'), int(port)


def _listen(address, task_name):
  """A listening socket on this task's port (the host of its address if it can)."""
  host, port = _host_port(address)
  for bind_host in (host, ''):
    sock = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
      sock.bind((bind_host, port))
      sock.listen(64)
      return sock
    except OSError as e:
      sock.close()
      if e.errno == errno.EADDRNOTAVAIL and bind_host:
        continue  # the name is not one of this host's interfaces: listen on all, as TF does
      hint = ''
      if e.errno == errno.EADDRINUSE:
        hint = ' (is an earlier drums_rnn_train still running?)'
      raise DrumsRnnError(f'cannot listen on {address}, the address of {task_name} in TF_CONFIG: '
                          f'{e.strerror or e}{hint}') from None
  raise AssertionError('unreachable')


def _say_hello(address, hello):
  try:
    with socket.create_connection(_host_port(address), timeout=1.0) as sock:
      sock.sendall(hello)
    return True
  except OSError:
    return False


def _hear(listener, cluster, token, heard, seconds):
  """Accepts hellos for `seconds`; adds the (job, index) of each sender to `heard`."""
  listener.settimeout(seconds)
  while True:
    try:
      conn, _ = listener.accept()
    except socket.timeout:
      return
    with conn:
      conn.settimeout(2.0)
      data = b''
      with contextlib.suppress(OSError):
        while b'\n' not in data and len(data) < 256:
          chunk = conn.recv(256)
          if not chunk:
            break
          data += chunk
    words = data.decode('ascii', 'replace').split()
    if len(words) != 4 or words[0] != 'drums_rnn' or not words[3].isdigit():
      continue  # not a task of ours (e.g. TensorFlow's own early connection)
    peer = cluster.task_name(words[2], words[3])
    if words[1] != token:
      raise DrumsRnnError(f'{peer} was started with another TF_CONFIG cluster than '
                          f'{cluster.task_name()}: every task needs the same "cluster", only '
                          '"task" differs')
    if (words[2], int(words[3])) == (cluster.task_type, cluster.task_index):
      raise DrumsRnnError(f'two tasks were started as {peer}: give each its own TF_CONFIG "task"')
    heard.add((words[2], int(words[3])))


def rendezvous(cluster, timeout_secs=STARTUP_TIMEOUT_SECS):
  """Waits until every task of `cluster` has started and heard this one.

  Each task listens on its own port and says hello to every other until it
  has reached all of them and heard from all of them; then TensorFlow takes
  the ports over. Checks on the way that the tasks share one cluster.

  Raises:
    DrumsRnnError: a task did not start within `timeout_secs` (named), or the
      tasks disagree on the cluster, or this task's port is taken.
  """
  mine = (cluster.task_type, cluster.task_index)
  peers = {(job, i): address for job, addresses in sorted(cluster.jobs.items())
           for i, address in enumerate(addresses) if (job, i) != mine}
  token = f'{fingerprint(json.dumps(cluster.jobs, sort_keys=True)):x}'
  hello = f'drums_rnn {token} {cluster.task_type} {cluster.task_index}\n'.encode('ascii')
  reached, heard = set(), set()
  start = last_note = time.monotonic()
  logging.info('TF_CONFIG: %d-task cluster %s; this is %s%s. Waiting for the other tasks to start '
               '(at most %d s).', cluster.num_workers, json.dumps(cluster.jobs),
               cluster.task_name(), ', the chief' if cluster.is_chief else '', timeout_secs)
  address = cluster.jobs[cluster.task_type][cluster.task_index]
  with _listen(address, cluster.task_name()) as listener:
    while not (reached.issuperset(peers) and heard.issuperset(peers)):
      missing = ', '.join(cluster.task_name(*task) for task in peers
                          if task not in reached or task not in heard)
      now = time.monotonic()
      if now - start > timeout_secs:
        raise DrumsRnnError(f'the training cluster did not form within {timeout_secs} s: '
                            f'{missing} did not start drums_rnn_train with its TF_CONFIG '
                            f'(this is {cluster.task_name()})')
      if now - last_note > 30:
        logging.info('Still waiting for %s.', missing)
        last_note = now
      for task, address in peers.items():
        if task not in reached and _say_hello(address, hello):
          reached.add(task)
      _hear(listener, cluster, token, heard, 0.3)


def fingerprint(text):
  """A 56-bit number standing for `text` (equal texts, equal numbers)."""
  return int.from_bytes(hashlib.sha256(text.encode('utf-8')).digest()[:7], 'big')


