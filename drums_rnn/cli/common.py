"""What every command shares: quiet TensorFlow, clear errors, log levels.

`run(main)` is the entry point used by every console script. A
:class:`~drums_rnn.errors.DrumsRnnError` (or a bad flag) ends the program
with one line on stderr and exit code 2 instead of a traceback.
"""

import os
import sys
import warnings

# TensorFlow's C++ start-up chatter (e.g. "failed call to cuInit" on every
# CPU-only machine) is noise to users; errors reach them as exceptions anyway.
# Set TF_CPP_MIN_LOG_LEVEL yourself to see it.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
# note-seq imports pydub, which warns about a missing ffmpeg that drums never need.
warnings.filterwarnings('ignore', message="Couldn't find ffmpeg", category=RuntimeWarning)

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from drums_rnn.errors import DrumsRnnError  # noqa: E402

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
