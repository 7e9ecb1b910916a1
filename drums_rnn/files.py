"""Files on disk: the one safe writer, folder walks, and the run-directory lock.

Every output file of every command goes through :func:`atomic_output` (or its
shorthands): it is written under a hidden temporary name in the target
folder, closed and checked, and only then renamed into place. So

* a run that fails or is killed never leaves a half-written file where a
 finished one belongs, and the previous file stays exactly as it was;
* an OSError (no space left, permission denied, a folder where the file
 should be, a read-only place such as /proc or /sys) becomes one
 :class:`~drums_rnn.errors.DrumsRnnError` naming the path and the cause;
* with ``overwrite=False`` a name is claimed with an exclusive link, so a
 run never replaces a file it did not write (two runs in one second).

Temporary names are ``.<name>.<pid>.<random>.tmp``: hidden, never read by a
folder walk, and removed on any error or exception (KeyboardInterrupt and
the commands' SIGTERM exception included). A run killed with SIGKILL cannot
clean up; the next write into the same folder removes temporary files whose
process no longer exists (:func:`remove_stale_temporaries`).

:func:`walk_files` visits each real file under a folder once, following
symlinks but never entering a folder it has already entered (a link to a
parent is not a loop). :class:`RunLock` is the advisory lock that keeps two
trainers out of one run directory; the operating system releases it when
the process dies.
"""

import contextlib
import errno
import fcntl
import os
import re
import secrets
import shutil
from typing import Iterator, Tuple

from drums_rnn.errors import ArgumentError
from drums_rnn.errors import DrumsRnnError

_TEMP_NAME = re.compile(r'^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$')

_CAUSES = {
  errno.ENOSPC: 'no space left on device',
  errno.EDQUOT: 'disk quota exceeded',
  errno.EACCES: 'permission denied',
  errno.EPERM: 'permission denied',
  errno.EROFS: 'read-only file system',
  errno.EISDIR: 'it is a directory',
  errno.ENOTDIR: 'a parent path is not a directory',
  errno.ENOENT: 'no such file or directory',
  errno.EEXIST: 'it already exists',
  errno.ENAMETOOLONG: 'file name too long',
}


def describe_os_error(error: OSError) -> str:
  """A short human cause for an OSError ('no space left on device', ...)."""
  return _CAUSES.get(error.errno) or (error.strerror or str(error)).lower()


def write_error(path, error: OSError) -> DrumsRnnError:
  """The user-facing error for a failed write of `path`."""
  return DrumsRnnError(f'cannot write {path!r}: {describe_os_error(error)}')


def read_error(path, error: OSError) -> DrumsRnnError:
  """The user-facing error for a failed read of `path`."""
  return DrumsRnnError(f'cannot read {path!r}: {describe_os_error(error)}')


def ensure_dir(path):
  """Creates the folder `path` (and its parents) or raises a clear DrumsRnnError."""
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    raise DrumsRnnError(f'cannot create directory {path!r}: {describe_os_error(e)}') from None
  if not os.path.isdir(path):
    raise DrumsRnnError(f'cannot create directory {path!r}: a file of that name exists')
  if not os.access(path, os.W_OK):
    raise DrumsRnnError(f'cannot write in directory {path!r}: permission denied')
  return path


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def remove_all(paths):
  """Removes the files a failed command wrote (all or nothing), ignoring ones already gone."""
  for path in paths:
    try:
      os.remove(path)
    except OSError:
      pass


def remove_stale_temporaries(directory) -> int:
  """Removes temporary files (and folders) of dead processes in `directory`; returns how many."""
  removed = 0
  try:
    names = os.listdir(directory)
  except OSError:
    return 0
  for name in names:
    match = _TEMP_NAME.match(name)
    if match and int(match.group('pid')) != os.getpid() and not _pid_alive(int(match.group('pid'))):
      path = os.path.join(directory, name)
      with contextlib.suppress(OSError):
        if os.path.isdir(path) and not os.path.islink(path):  # a folder written whole (magentajs)
          shutil.rmtree(path)
        else:
          os.remove(path)
        removed += 1
  return removed


def temporary_name(path) -> str:
  """A hidden temporary path next to `path` (see the module docstring)."""
  directory, name = os.path.split(os.path.abspath(path))
  return os.path.join(directory, f'.{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp')


def _publish(tmp, path, overwrite):
  """Renames `tmp` to `path`; without `overwrite`, fails if `path` exists."""
  if overwrite:
    if os.path.isdir(path):
      raise OSError(errno.EISDIR, 'Is a directory', path)
    os.replace(tmp, path)
    return
  os.link(tmp, path)  # atomic and exclusive: EEXIST when the name is taken
  os.remove(tmp)


@contextlib.contextmanager
def atomic_output(path, overwrite=True):
  """Yields a temporary path next to `path`; renames it to `path` on success.

  For writers that take a file name (TensorFlow, matplotlib). The caller
  must have closed its file when the block ends; the result is checked to
  exist. On any exception (or a failed rename) the temporary file is
  removed, `path` is untouched, and OSErrors become one DrumsRnnError.
  """
  directory = os.path.dirname(os.path.abspath(path))
  ensure_dir(directory)
  remove_stale_temporaries(directory)
  if os.path.isdir(path):
    raise DrumsRnnError(f'cannot write {path!r}: it is a directory')
  if not overwrite and os.path.lexists(path):
    raise DrumsRnnError(f'cannot write {path!r}: it already exists')
  tmp = temporary_name(path)
  try:
    try:
      yield tmp
      if not os.path.isfile(tmp):
        raise DrumsRnnError(f'cannot write {path!r}: the writer produced no file')
      umask = os.umask(0)
      os.umask(umask)
      os.chmod(tmp, 0o666 & ~umask)
      _publish(tmp, path, overwrite)
    except OSError as e:
      raise write_error(path, e) from None
  except BaseException:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    raise


@contextlib.contextmanager
def open_atomic(path, mode='wb', overwrite=True, encoding=None, newline=None):
  """Yields an open file that becomes `path` once closed without error.

  The file is flushed, fsync'ed and closed inside the block's exit, so a
  full disk is reported here (as one DrumsRnnError) instead of being lost.
  """
  if 'b' not in mode and encoding is None:
    encoding = 'utf-8'
  with atomic_output(path, overwrite) as tmp:
    try:
      f = open(tmp, mode, encoding=encoding, newline=newline)  # pylint: disable=consider-using-with
    except OSError as e:
      raise write_error(path, e) from None
    try:
      yield f
      f.flush()
      os.fsync(f.fileno())
    except OSError as e:
      raise write_error(path, e) from None
    finally:
      try:
        f.close()
      except OSError as e:  # a close that fails (e.g. ENOSPC) must not pass silently
        raise write_error(path, e) from None


def write_bytes_atomic(path, data: bytes, overwrite=True):
  """Writes `data` to `path` with :func:`open_atomic`; returns `path`."""
  with open_atomic(path, 'wb', overwrite) as f:
    f.write(data)
  return path


def write_text_atomic(path, text: str, overwrite=True):
  """Writes `text` (UTF-8) to `path` with :func:`open_atomic`; returns `path`."""
  return write_bytes_atomic(path, text.encode('utf-8'), overwrite)


def write_new_file(path, data: bytes) -> str:
  """Writes `data` under `path`, or `<stem>-2<ext>`, `-3`, ... if that name is taken.

  Never replaces an existing file (two runs writing one folder in the same
  second each keep their own files). Returns the path written.
  """
  stem, ext = os.path.splitext(path)
  candidate, n = path, 1
  while True:
    try:
      return write_bytes_atomic(candidate, data, overwrite=False)
    except DrumsRnnError:
      if not os.path.lexists(candidate):
        raise
      n += 1
      candidate = f'{stem}-{n}{ext}'


# --- folder walks ------------------------------------------------------------------


def walk_files(root, recursive=True) -> Iterator[Tuple[str, str]]:
  """(full path, path relative to root) of every file under `root`, each real file once.

  Magenta's order: the files of a folder (sorted by name) before its
  sub-folders (sorted). Symlinks are followed, but a folder already entered
  (by any path) is not entered again and a file already listed (through
  another link) is not listed again. Hidden temporary files of the safe
  writer are skipped; dangling links are listed (the caller reports them).
  """
  seen_dirs, seen_files = set(), set()

  def identity(path):
    st = os.stat(path)
    return st.st_dev, st.st_ino

  def walk(rel_dir):
    directory = os.path.join(root, rel_dir) if rel_dir else root
    try:
      key = identity(directory)
      names = sorted(os.listdir(directory))
    except OSError as e:
      raise DrumsRnnError(f'cannot list {directory!r}: {describe_os_error(e)}') from None
    if key in seen_dirs:
      return
    seen_dirs.add(key)
    sub_dirs = []
    for name in names:
      if _TEMP_NAME.match(name):
        continue
      full = os.path.join(directory, name)
      rel = os.path.join(rel_dir, name) if rel_dir else name
      if os.path.isdir(full):
        if recursive:
          sub_dirs.append(rel)
        continue
      try:
        file_key = identity(full)
      except OSError:
        yield full, rel  # dangling link or unreadable: let the caller say so
        continue
      if file_key not in seen_files:
        seen_files.add(file_key)
        yield full, rel
    for rel in sub_dirs:
      yield from walk(rel)

  yield from walk('')


# --- one writer per run directory --------------------------------------------------


class RunLock:
  """An advisory exclusive lock on `<directory>/.lock` (fcntl.flock).

  Held for the life of the object (use it as a context manager); the
  operating system drops it when the process exits or dies, so a killed
  trainer never leaves a stale lock. The file records the holder's pid for
  the refusal message.
  """

  def __init__(self, directory, what='training'):
    self.path = os.path.join(directory, '.lock')
    self.what = what
    self._fd = None

  def acquire(self):
    try:
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
      raise DrumsRnnError(f'cannot lock {self.path!r}: {describe_os_error(e)}') from None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      holder = ''
      with contextlib.suppress(OSError, ValueError):
        holder = os.pread(fd, 64, 0).decode().strip()
      os.close(fd)
      if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
        who = f' (pid {holder})' if holder else ''
        raise ArgumentError(
          f'{os.path.dirname(self.path)!r} is in use by another {self.what} run{who}: '
          'wait for it to finish or use another {run_dir}', 'run_dir') from None
      raise DrumsRnnError(f'cannot lock {self.path!r}: {describe_os_error(e)}') from None
    try:
      os.ftruncate(fd, 0)
      os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
    except OSError:  # e.g. a full disk: the lock holds all the same, only the pid is not recorded
      pass
    self._fd = fd
    return self

  def release(self):
    if self._fd is not None:
      with contextlib.suppress(OSError):
        os.ftruncate(self._fd, 0)
      os.close(self._fd)  # closing drops the flock
      self._fd = None

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()
