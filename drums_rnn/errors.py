"""One exception type for problems the user can fix.

Library code raises :class:`DrumsRnnError` with a message that names the
problem (the file, the argument, the bad value) and, where useful, what to
try. The command-line wrappers turn it into one line on stderr and exit code
2, so users never see a traceback for bad input (docs/design.md, "Faults
lose nothing", is the whole contract).

A bad argument value is an :class:`ArgumentError`: the library names the
argument as a library caller knows it (``temperature``), and each front end
renders the name its own user knows: the commands as a flag
(``--temperature``), the studio as a JSON field.
"""

import re


def first_line(error):
  """The first line of an exception's message (TensorFlow's run to many lines)."""
  text = str(getattr(error, 'message', None) or error).strip()
  return text.splitlines()[0] if text else type(error).__name__


class DrumsRnnError(Exception):
  """A user-facing error: bad input, bad flags, missing files."""


class ArgumentError(DrumsRnnError):
  """A DrumsRnnError about the values of named arguments.

  Args:
    template: the message, with each argument's name written ``{name}``
      where it belongs (in an f-string: ``{{name}}``).
    *arguments: the names of the arguments the message speaks of.

  ``str(error)`` names them plainly; :meth:`render` lets a front end name
  them its own way.
  """

  def __init__(self, template, *arguments):
    self.template = template
    self.arguments = tuple(arguments)
    super().__init__(self.render(lambda name: name))

  def render(self, spell):
    """The message with each argument's name replaced by `spell(name)`."""
    if not self.arguments:
      return self.template
    pattern = re.compile('{(' + '|'.join(map(re.escape, self.arguments)) + ')}')
    return pattern.sub(lambda m: spell(m.group(1)), self.template)


class Terminated(BaseException):
  """Raised in the main thread when the process receives SIGTERM.

  A BaseException (like KeyboardInterrupt for SIGINT), so that every
  `finally` and the safe writer's clean-up run before the command exits
  with 143 (128 + SIGTERM); library code should not catch it.
  """
