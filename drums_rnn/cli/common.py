"""What every command shares: quiet start-up, clear errors, log levels.

`run(main)` is the entry point used by every console script. A
:class:`~drums_rnn.errors.DrumsRnnError` (or a bad flag) ends the program
with one line on stderr and exit code 2 instead of a traceback.
"""

import contextlib
import os
import re
import sys
import threading
import types
import warnings

from absl import app
from absl import flags
from absl import logging

from drums_rnn.errors import DrumsRnnError

# TensorFlow's C++ start-up chatter (e.g. "failed call to cuInit" on every
# CPU-only machine) is noise to users; errors reach them as exceptions anyway.
# Set TF_CPP_MIN_LOG_LEVEL yourself (0 shows everything) to see it.
_SHOW_TF_INFO = os.environ.get('TF_CPP_MIN_LOG_LEVEL', '3') == '0'
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
# note-seq imports pydub, which warns about a missing ffmpeg that drums never need.
warnings.filterwarnings('ignore', message="Couldn't find ffmpeg", category=RuntimeWarning)


def _skip_unused_heavy_imports():
  """Halves a command's start-up CPU time by not importing what it never uses.

  * TensorFlow imports all of Keras (and scikit-learn through it) at start-up,
    only to register Keras optimizers for SavedModel loading; blocking that
    one import makes TF skip it (it catches the ImportError).
  * note-seq imports its notebook helpers (bokeh plotting) on import; a stub
    module stands in for them (their two functions are never called here).
  Only done when nothing has imported those packages yet.
  """
  if 'keras' not in sys.modules:
    sys.modules.setdefault('keras.src.optimizers', None)
  if 'note_seq' not in sys.modules:
    stub = types.ModuleType('note_seq.notebook_utils')

    def unavailable(*unused_args, **unused_kwargs):
      raise RuntimeError('note_seq notebook helpers are not loaded by the drums_rnn commands')

    stub.play_sequence = stub.plot_sequence = unavailable
    sys.modules.setdefault('note_seq.notebook_utils', stub)


_skip_unused_heavy_imports()

# Lines TensorFlow's native libraries print while loading, before any logging
# is set up, which TF_CPP_MIN_LOG_LEVEL does not reach: absl's "All log
# messages before absl::InitializeLog()" notice and INFO lines such as
# "Could not find cuda drivers on your machine, GPU will not be used".
_NATIVE_NOISE = re.compile(rb'^(WARNING: All log messages before absl::InitializeLog\(\)|I\d{4} )')


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
  if 'tensorflow' in sys.modules or _SHOW_TF_INFO:
    import tensorflow  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
    return
  with _filtered_stderr(_NATIVE_NOISE):
    import tensorflow  # noqa: F401,F811  pylint: disable=g-import-not-at-top,unused-import

EXIT_USER_ERROR = 2


def set_log_level(level_name):
  """Applies Magenta's `--log` flag (DEBUG, INFO, WARN, ERROR, FATAL)."""
  name = (level_name or 'INFO').upper()
  if name == 'WARNING':
    name = 'WARN'
  if name not in ('DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'):
    raise DrumsRnnError(f'--log must be one of DEBUG, INFO, WARN, ERROR, FATAL, got {level_name!r}')
  logging.set_verbosity(getattr(logging, name))


def fail(message):
  """Prints `error: message` and exits with the user-error code."""
  sys.stderr.write(f'error: {message}\n')
  sys.stderr.flush()
  sys.exit(EXIT_USER_ERROR)


def run(main):
  """Runs an absl `main(argv)` turning user errors into one clear line."""
  def wrapped(argv):
    try:
      return main(argv)
    except DrumsRnnError as e:
      fail(str(e))
    except KeyboardInterrupt:
      sys.stderr.write('interrupted\n')
      sys.exit(130)

  try:
    app.run(wrapped, flags_parser=_parse_flags)
  except SystemExit:
    raise


def _parse_flags(argv):
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    fail(f'{e}\nRun with --helpfull to see the flags.')
