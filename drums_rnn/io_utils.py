"""Small file helpers shared by every stage.

The one idea here: outputs are written under a temporary name in the same
directory and renamed into place only when complete, so an interrupted or
failed run never leaves a half-written file where a finished one belongs.
"""

import contextlib
import os
import tempfile

from drums_rnn.errors import DrumsRnnError


def ensure_dir(path):
  """Creates `path` (and parents) or raises a clear DrumsRnnError."""
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    raise DrumsRnnError(f'cannot create directory {path!r}: {e.strerror or e}') from None
  if not os.access(path, os.W_OK):
    raise DrumsRnnError(f'directory {path!r} is not writable')
  return path


@contextlib.contextmanager
def atomic_output(path):
  """Yields a temporary path next to `path`; renames it to `path` on success.

  On any exception the temporary file is removed and `path` is untouched.
  """
  directory = os.path.dirname(os.path.abspath(path))
  ensure_dir(directory)
  fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp', dir=directory)
  os.close(fd)
  try:
    yield tmp
    # mkstemp makes the file 0600; give it the mode a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    raise


def write_bytes_atomic(path, data):
  """Writes `data` to `path` atomically."""
  with atomic_output(path) as tmp:
    with open(tmp, 'wb') as f:
      f.write(data)
