"""Training on several machines (TF_CONFIG) or several local GPUs: the strategy and the chief.

:func:`strategy_from_environment` picks the `tf.distribute` strategy:

* ``TF_CONFIG`` names a cluster of more than one task
  (:mod:`drums_rnn.training.cluster`): ``MultiWorkerMirroredStrategy``, once every
  task has started. Every worker runs the same command on the same files;
  each builds the same global batches (same files, same seed) and its
  replicas take their share of each (the train step's every-n-th-track
  split, replica ids counted across the cluster), so the update equals the
  one-process update on the same batch;
* several local GPUs: ``MirroredStrategy``;
* otherwise the default (one device) strategy, exactly as without this module.

Only the chief writes the run directory (its lock, checkpoints, summaries and
settings). The other workers run the very same code, pointed by
:func:`write_dir` at a temporary folder of their own, removed at the end (as
TensorFlow's multi-worker guide does), so no code path differs between the
chief and the others and no worker file ever lands in the run directory.

What the workers must share, collectives give them: :func:`agree` checks
that every worker was started with the same settings and gives all one
seed; :func:`broadcast_from_chief` gives every worker the chief's restored
checkpoint (the other hosts need not see the run directory), so a restarted
cluster continues at the chief's step; :func:`any_worker` and
:func:`chief_decides` make the loop's stop decisions at the same step on
every worker.

Faults end every surviving task with one ``error:`` line (exit code 2)
within a bounded time: a task that never starts, after the rendezvous'
timeout (naming it); a task that dies or stops answering while training,
within TensorFlow's coordination-service heartbeat timeout (10 s in
TensorFlow 2.21), which aborts the others' collectives; :func:`cluster_errors`
turns that into a message naming the lost task and how to resume.
"""

import contextlib
import random
import re
import shutil
import tempfile

from absl import logging

from drums_rnn.training.cluster import STARTUP_TIMEOUT_SECS
from drums_rnn.training.cluster import cluster_from_environment
from drums_rnn.training.cluster import fingerprint
from drums_rnn.training.cluster import rendezvous
from drums_rnn.errors import DrumsRnnError

_TASK = re.compile(r'/job:(\w+)/(?:replica:\d+/)?task:(\d+)')
_state = {'strategy': None, 'cluster': None}


def current_cluster():
  """The cluster of the strategy this process made, or None (one process)."""
  return _state['cluster']


def is_chief():
  """True unless this process is a non-chief worker of a cluster."""
  cluster = current_cluster()
  return cluster is None or cluster.is_chief


def strategy_from_environment(startup_timeout_secs=STARTUP_TIMEOUT_SECS):
  """The strategy to train with (see the module docstring).

  The multi-worker strategy is made once per process and then reused; it
  must be made before TensorFlow runs anything else in the process, so
  training asks for it first thing.
  """
  if _state['strategy'] is not None:
    return _state['strategy']
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  cluster = cluster_from_environment()
  if cluster is not None:
    _state['strategy'] = _multi_worker_strategy(tf, cluster, startup_timeout_secs)
    _state['cluster'] = cluster
    return _state['strategy']
  if len(tf.config.list_logical_devices('GPU')) > 1:
    return tf.distribute.MirroredStrategy()
  return tf.distribute.get_strategy()


def _multi_worker_strategy(tf, cluster, startup_timeout_secs):
  """MultiWorkerMirroredStrategy, once :func:`drums_rnn.training.cluster.rendezvous` saw every task."""
  rendezvous(cluster, startup_timeout_secs)
  try:
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
  except (RuntimeError, ValueError, tf.errors.OpError) as e:
    text = str(getattr(e, 'message', None) or e).strip().splitlines()
    hint = (' (strategy_from_environment must run before TensorFlow runs anything else in the '
            'process)' if isinstance(e, RuntimeError) else '')
    raise DrumsRnnError(f'cannot start {cluster.task_name()} of the training cluster: '
                        f'{text[0] if text else type(e).__name__}{hint}') from None
  logging.info('The cluster is up: %d replica(s) in sync.', strategy.num_replicas_in_sync)
  return strategy


def _is_multi_worker(strategy):
  return strategy is _state['strategy'] and _state['cluster'] is not None


@contextlib.contextmanager
def write_dir(train_path):
  """Yields the folder this process writes: `train_path`, or a temporary one.

  The chief (and a one-process run) writes `train_path`; another worker gets
  a fresh folder in the system's temporary directory, removed when the block
  ends however it ends.
  """
  cluster = current_cluster()
  if cluster is None or cluster.is_chief:
    yield train_path
    return
  path = tempfile.mkdtemp(prefix=f'drums_rnn_{cluster.task_type}{cluster.task_index}_')
  logging.info('Not the chief: this worker writes to %s (removed at the end); the chief writes %s.',
               path, train_path)
  try:
    yield path
  finally:
    shutil.rmtree(path, ignore_errors=True)


def agree(strategy, settings_text, seed):
  """Checks every worker has the same settings; returns the seed they all use.

  Args:
    strategy: the process's strategy (for one process this checks nothing).
    settings_text: what must be equal on every worker (config, hparams,
      steps...), as text.
    seed: this process's --seed, or None: then the chief draws one for all.

  Raises:
    DrumsRnnError: the workers were started with different settings.
  """
  if not _is_multi_worker(strategy):
    return seed
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  mine = tf.constant([[fingerprint(settings_text),
                       random.randrange(2 ** 31) if seed is None else seed]], tf.int64)

  @tf.function
  def gather():
    return strategy.run(lambda: tf.distribute.get_replica_context().all_gather(mine, axis=0))

  with cluster_errors():
    rows = strategy.experimental_local_results(gather())[0].numpy()
  if len(set(rows[:, 0].tolist())) > 1:
    raise DrumsRnnError(f'the workers of the cluster were started with different settings; this is '
                        f'{current_cluster().task_name()} with {settings_text}: start every '
                        'worker with the same command (only TF_CONFIG\'s task differs)')
  shared = int(rows[0, 1])
  if seed is None:
    logging.info('Every worker uses seed %d, drawn by the chief.', shared)
  return shared


def broadcast_from_chief(strategy, variables):
  """Sets `variables` on every worker to the chief's values (after the chief restored)."""
  if not _is_multi_worker(strategy):
    return
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  def chief_values():
    first = tf.equal(tf.distribute.get_replica_context().replica_id_in_sync_group, 0)
    return [tf.where(first, v, tf.zeros_like(v)) for v in variables]

  @tf.function
  def broadcast():
    values = strategy.run(chief_values)
    for variable, value in zip(variables, values):
      variable.assign(strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None))

  with cluster_errors():
    broadcast()


def any_worker(strategy, *flags):
  """For each flag, True on every worker when it is true on any of them.

  The workers must take their decisions together, at the same step: a stop
  signal reaches one task (or each at a different step), a time limit runs
  out on one clock first, and a task that left the loop alone would leave
  the others waiting for it. Call it inside the loop's
  :func:`cluster_errors`, as the train step.
  """
  return _shared_flags(strategy, flags, chief_only=False)


def chief_decides(strategy, flag):
  """The chief's `flag`, on every worker (for decisions only the chief can
  take right: early stopping reads the validation history in its run dir)."""
  return _shared_flags(strategy, (flag,), chief_only=True)[0]


def _shared_flags(strategy, flags, chief_only):
  if not _is_multi_worker(strategy):
    return tuple(bool(f) for f in flags)
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  if 'flags' not in _state:
    def replica_votes(votes, chief_only):
      first = tf.equal(tf.distribute.get_replica_context().replica_id_in_sync_group, 0)
      return tf.where(tf.logical_or(first, tf.logical_not(chief_only)), votes, tf.zeros_like(votes))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.bool)])
    def total(votes, chief_only):
      return strategy.reduce(tf.distribute.ReduceOp.SUM,
                             strategy.run(replica_votes, args=(votes, chief_only)), axis=None)
    _state['flags'] = total
  votes = tf.constant([1.0 if f else 0.0 for f in flags], tf.float32)
  return tuple(bool(v > 0) for v in _state['flags'](votes, tf.constant(chief_only)).numpy())


@contextlib.contextmanager
def cluster_errors(last_step=None):
  """Turns a failure of the cluster (a lost task) into one DrumsRnnError.

  Args:
    last_step: optional callable returning the last step completed, for the
      message. (Not the step variable: a step aborted half-way may have
      counted itself without applying its update, which is also why nothing
      is saved after such a failure.)
  """
  cluster = current_cluster()
  if cluster is None:
    yield
    return
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  try:
    yield
  except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
          tf.errors.CancelledError, tf.errors.FailedPreconditionError) as e:
    raise cluster_failure(cluster, e, last_step() if last_step else None) from None


def cluster_failure(cluster, error, last_step=None):
  """The DrumsRnnError for a collective aborted by `error` (see cluster_errors)."""
  text = str(getattr(error, 'message', None) or error)
  lost = [(job, int(index)) for job, index in _TASK.findall(text)
          if (job, int(index)) != (cluster.task_type, cluster.task_index)]
  who = ' and '.join(dict.fromkeys(cluster.task_name(*task) for task in lost)) or 'a task'
  lines = [l.strip() for l in text.splitlines() if l.strip()]
  causes = [l.split('aborted by:', 1)[1].strip() for l in lines if 'aborted by:' in l]
  detail = (causes or lines or [type(error).__name__])[0]
  when = f' after step {last_step}' if last_step is not None else ''
  return DrumsRnnError(
      f'training cluster failed{when}: {who} stopped responding (TensorFlow: {detail[:200]}); '
      f"{cluster.task_name()} stops too: restart every task with the same command to resume from "
      "the chief's latest checkpoint")
