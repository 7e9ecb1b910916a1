"""Process set-up for the commands: one explicit call, nothing at import time.

`import drums_rnn` (or any of its modules) changes nothing in the process.
The console entry points call :func:`configure_process` once, before they
import TensorFlow or note-seq; a notebook or script that wants the same
behaviour calls it itself, first thing:

    from drums_rnn import runtime
    runtime.configure_process()

What it does, and why:

* ``TF_CPU_ALLOCATOR_USE_BFC=1``: TensorFlow's default CPU allocator hands
  every large tensor back to the OS and faults it in again the next step; a
  drum_kit train step allocates dozens of 100+ MB activations. The BFC
  allocator keeps that memory (the default train step measured 1.3-1.5x
  faster on a 2-core CPU, docs/design.md). TF reads the variable when it
  creates its CPU allocator, at its first op.
* ``TF_CPP_MIN_LOG_LEVEL=3``: hides TensorFlow's native start-up chatter
  ("failed call to cuInit" on every CPU-only machine); errors still reach
  users as exceptions. :func:`import_tensorflow` also filters the lines that
  the variable does not reach.
* note-seq's "Couldn't find ffmpeg" warning (drums never decode audio).
* Two imports that the commands never use are kept out (they halve a
  command's start-up CPU time): TensorFlow's import of all of Keras (only to
  register Keras optimizers for SavedModel loading; TF skips it when the
  import fails) and note-seq's notebook helpers (bokeh), replaced by a stub.

Every variable is set with ``setdefault``: a value the user exported wins
(``TF_CPP_MIN_LOG_LEVEL=0`` shows everything, ``TF_CPU_ALLOCATOR_USE_BFC=0``
opts out of BFC).
"""

import contextlib
import os
import re
import sys
import threading
import types
import warnings

_state = {'configured': False, 'show_native_logs': False}

# Lines TensorFlow's native libraries print while loading, before any logging
# is set up, which TF_CPP_MIN_LOG_LEVEL does not reach: absl's "All log
# messages before absl::InitializeLog()" notice and INFO lines such as
# "Could not find cuda drivers on your machine, GPU will not be used".
_NATIVE_NOISE = re.compile(rb'^(WARNING: All log messages before absl::InitializeLog\(\)|I\d{4} )')


def configure_process():
  """Applies the set-up above once per process (later calls do nothing)."""
  if _state['configured']:
    return
  _state['configured'] = True
  _state['show_native_logs'] = os.environ.get('TF_CPP_MIN_LOG_LEVEL', '3') == '0'
  os.environ.setdefault('TF_CPU_ALLOCATOR_USE_BFC', '1')
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  warnings.filterwarnings('ignore', message="Couldn't find ffmpeg", category=RuntimeWarning)
  if 'keras' not in sys.modules:
    sys.modules.setdefault('keras.src.optimizers', None)
  if 'note_seq' not in sys.modules:
    for name in ('note_seq.notebook_utils', 'note_seq.audio_io'):
      sys.modules.setdefault(name, _unavailable_module(name))


def _unavailable_module(name):
  """A stand-in module whose every attribute raises: note-seq's package import
  binds it, but the drums commands never call into it."""
  stub = types.ModuleType(name)

  def unavailable(*unused_args, **unused_kwargs):
    raise RuntimeError(f'{name} is not loaded by the drums_rnn commands')

  stub.__getattr__ = lambda attr: unavailable
  return stub


@contextlib.contextmanager
def _filtered_stderr(pattern):
  """Passes the process's stderr (fd 2, native code included) through a filter.

  A thread forwards every line that does not match `pattern` as it arrives,
  so nothing else is held back or lost if the process dies meanwhile.
  """
  sys.stderr.flush()
  saved = os.dup(2)
  read_end, write_end = os.pipe()
  os.dup2(write_end, 2)
  os.close(write_end)

  def forward():
    with os.fdopen(read_end, 'rb') as lines:
      for line in lines:
        if not pattern.match(line):
          os.write(saved, line)

  pump = threading.Thread(target=forward, daemon=True)
  pump.start()
  try:
    yield
  finally:
    sys.stderr.flush()
    os.dup2(saved, 2)  # closes the pipe's last write end: the thread sees EOF
    pump.join(timeout=10)
    os.close(saved)


def import_tensorflow():
  """Imports TensorFlow without its native start-up INFO lines (see above)."""
  if 'tensorflow' in sys.modules or _state['show_native_logs'] or not _state['configured']:
    import tensorflow  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    return
  with _filtered_stderr(_NATIVE_NOISE):
    import tensorflow  # noqa: F401,F811  pylint: disable=import-outside-toplevel,unused-import
