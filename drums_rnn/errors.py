"""One exception type for problems the user can fix.

Library code raises :class:`DrumsRnnError` with a message that names the
problem (the file, the flag, the bad value) and, where useful, what to try.
The command-line wrappers turn it into one line on stderr and exit code 2,
so users never see a traceback for bad input.
"""


def first_line(error):
  """The first line of an exception's message (TensorFlow's run to many lines)."""
  text = str(getattr(error, 'message', None) or error).strip()
  return text.splitlines()[0] if text else type(error).__name__


class DrumsRnnError(Exception):
  """A user-facing error: bad input, bad flags, missing files."""


class Terminated(BaseException):
  """Raised in the main thread when the process receives SIGTERM.

  A BaseException (like KeyboardInterrupt for SIGINT), so that every
  `finally` and the safe writer's clean-up run before the command exits
  with 143 (128 + SIGTERM); library code should not catch it.
  """
