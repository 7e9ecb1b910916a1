"""What every command shares: process set-up, help, signals and the error path.

`run(main)` is the entry point of every console script:

* :func:`drums_rnn.runtime.configure_process` first (quiet start-up, the BFC
  allocator; see there);
* `--help` shows the command's own docstring and flags;
* stray positional arguments are an error;
* `--log` is applied when the command has it;
* a :class:`~drums_rnn.errors.DrumsRnnError` (or a bad flag) ends the program
  with one `error: ...` line on stderr and exit code 2, never a traceback; an
  :class:`~drums_rnn.errors.ArgumentError` names the arguments as the
  command's flags (``--temperature``);
* Ctrl-C ends it with exit code 130 and SIGTERM with 143 (128 + the signal),
  after every temporary file has been removed (SIGTERM is raised as
  :class:`~drums_rnn.errors.Terminated` so clean-up code runs).
"""

import signal
import sys

from absl import app
from absl import flags
from absl import logging

from drums_rnn import runtime
from drums_rnn.errors import ArgumentError
from drums_rnn.errors import DrumsRnnError
from drums_rnn.errors import Terminated

FLAGS = flags.FLAGS
EXIT_USER_ERROR = 2
EXIT_SIGINT = 128 + signal.SIGINT    # 130
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143

import_tensorflow = runtime.import_tensorflow


def set_log_level(level_name):
  """Applies Magenta's `--log` flag (DEBUG, INFO, WARN, ERROR, FATAL)."""
  name = (level_name or 'INFO').upper()
  if name == 'WARNING':
    name = 'WARN'
  if name not in ('DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'):
    raise DrumsRnnError(f'--log must be one of DEBUG, INFO, WARN, ERROR, FATAL, got {level_name!r}')
  logging.set_verbosity(getattr(logging, name))


# Library arguments whose flag has another name.
FLAG_NAMES = {'input_path': 'input'}


def flag_name(argument):
  """How a command names a library argument: its flag (``--temperature``) where it has one."""
  name = FLAG_NAMES.get(argument, argument)
  return f'--{name}' if name in FLAGS else argument


def fail(message, code=EXIT_USER_ERROR):
  """Prints `error: message` and exits with `code` (default: the user-error code)."""
  sys.stderr.write(f'error: {message}\n')
  sys.stderr.flush()
  sys.exit(code)


def _raise_terminated(signum, frame):
  del signum, frame
  raise Terminated()


def _show_help_for(module_name):
  """Makes `--help` print the command's docstring and flags under a console script.

  absl's help shows the docstring of `__main__` and the flags of the module
  named by sys.argv[0]; for a console script both are the generated wrapper.
  """
  module = sys.modules[module_name]
  main_module = sys.modules.get('__main__')
  if main_module is not None and not main_module.__doc__:
    main_module.__doc__ = module.__doc__
  for name in (module_name, 'drums_rnn.cli.flags'):
    for flag in FLAGS.get_flags_for_module(name):
      FLAGS.register_key_flag_for_module(sys.argv[0], flag)


def run(main, module_name=None):
  """Runs an absl `main(argv)` with the behaviour described above."""
  runtime.configure_process()
  if module_name:
    _show_help_for(module_name)

  def wrapped(argv):
    try:
      if len(argv) > 1:
        raise DrumsRnnError(f'unexpected arguments: {" ".join(argv[1:])} (flags are written '
                            '--name=value)')
      if 'log' in FLAGS:
        set_log_level(FLAGS.log)
      return main(argv)
    except ArgumentError as e:  # the library names arguments; a command names its flags
      fail(e.render(flag_name))
    except DrumsRnnError as e:
      fail(str(e))
    except KeyboardInterrupt:
      fail('interrupted (SIGINT); nothing half-written was left behind', EXIT_SIGINT)
    except Terminated:
      fail('terminated (SIGTERM); nothing half-written was left behind', EXIT_SIGTERM)

  previous = None
  try:
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
  except ValueError:  # not the main thread (e.g. a test driver): leave signals alone
    pass
  try:
    app.run(wrapped, flags_parser=_parse_flags)
  finally:
    if previous is not None:
      signal.signal(signal.SIGTERM, previous)


def _parse_flags(argv):
  try:
    return FLAGS(argv)
  except flags.Error as e:
    fail(f'{e}\nRun with --helpfull to see the flags.')
