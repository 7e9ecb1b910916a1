"""The foundations of `drums_rnn.files` on their own: the safe writer, folder walks, the run lock.

The fault suites (tests/test_faults_*.py) drive the same code through the
commands; these tests pin each promise of the module directly.
"""

import os
import subprocess
import sys

import pytest

from drums_rnn import files
from drums_rnn.errors import ArgumentError
from drums_rnn.errors import DrumsRnnError


def _names(folder):
  return sorted(os.listdir(folder))


# --- the safe writer -------------------------------------------------------------------------


def test_a_file_appears_whole_only_when_the_block_ends(tmp_path):
  path = tmp_path / 'out.txt'
  with files.open_atomic(str(path), 'w') as f:
    f.write('first half ')
    assert not path.exists()  # nothing under the final name yet
    temporaries = [n for n in _names(tmp_path) if n.startswith('.out.txt.')]
    assert len(temporaries) == 1 and temporaries[0].endswith('.tmp')
    f.write('second half')
  assert path.read_text() == 'first half second half'
  assert _names(tmp_path) == ['out.txt']


def test_an_exception_leaves_the_previous_file_and_no_temporary(tmp_path):
  path = tmp_path / 'out.bin'
  files.write_bytes_atomic(str(path), b'old')
  with pytest.raises(RuntimeError):
    with files.open_atomic(str(path)) as f:
      f.write(b'new and half')
      raise RuntimeError('the writer failed')
  assert path.read_bytes() == b'old'
  assert _names(tmp_path) == ['out.bin']


def test_a_keyboard_interrupt_also_cleans_up(tmp_path):
  with pytest.raises(KeyboardInterrupt):
    with files.atomic_output(str(tmp_path / 'x.png')) as tmp:
      with open(tmp, 'wb') as f:
        f.write(b'partial')
      raise KeyboardInterrupt
  assert _names(tmp_path) == []


def test_a_writer_that_writes_nothing_is_an_error(tmp_path):
  with pytest.raises(DrumsRnnError, match='produced no file'):
    with files.atomic_output(str(tmp_path / 'x.png')):
      pass
  assert _names(tmp_path) == []


def test_without_overwrite_an_existing_name_is_never_replaced(tmp_path):
  path = tmp_path / 'a.mid'
  files.write_bytes_atomic(str(path), b'mine')
  with pytest.raises(DrumsRnnError, match='already exists'):
    files.write_bytes_atomic(str(path), b'theirs', overwrite=False)
  assert path.read_bytes() == b'mine'
  second = files.write_new_file(str(path), b'theirs')
  third = files.write_new_file(str(path), b'more')
  assert (second, third) == (str(tmp_path / 'a-2.mid'), str(tmp_path / 'a-3.mid'))
  assert (tmp_path / 'a-2.mid').read_bytes() == b'theirs'


def test_writing_where_a_folder_is_names_the_path_and_the_cause(tmp_path):
  (tmp_path / 'taken').mkdir()
  with pytest.raises(DrumsRnnError, match=r"cannot write .*taken.*: it is a directory"):
    files.write_text_atomic(str(tmp_path / 'taken'), 'x')
  (tmp_path / 'plain').write_text('a file')
  with pytest.raises(DrumsRnnError, match=r"cannot create directory .*plain.*: it already exists"):
    files.write_text_atomic(str(tmp_path / 'plain' / 'inside.txt'), 'x')


def test_temporaries_of_dead_processes_are_removed_by_the_next_write(tmp_path):
  dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True,
                        text=True, check=True).stdout.strip()
  stale = tmp_path / f'.old.mid.{dead}.0123abcd.tmp'
  alive = tmp_path / f'.old.mid.{os.getpid()}.0123abcd.tmp'  # ours: kept
  stale.write_bytes(b'left by a killed run')
  alive.write_bytes(b'being written')
  files.write_text_atomic(str(tmp_path / 'new.txt'), 'x')
  assert not stale.exists() and alive.exists()


def test_os_errors_are_described_in_words():
  assert files.describe_os_error(OSError(28, 'No space left on device')) == 'no space left on device'
  assert files.describe_os_error(PermissionError(13, 'Permission denied')) == 'permission denied'


# --- folder walks ----------------------------------------------------------------------------


def test_walks_list_files_before_folders_each_real_file_once(tmp_path):
  (tmp_path / 'b').mkdir()
  (tmp_path / 'a').mkdir()
  (tmp_path / 'z.mid').write_bytes(b'1')
  (tmp_path / 'a' / 'y.mid').write_bytes(b'2')
  (tmp_path / 'b' / 'x.mid').write_bytes(b'3')
  os.symlink(tmp_path / 'z.mid', tmp_path / 'b' / 'link_to_z.mid')  # the same file again
  os.symlink(tmp_path, tmp_path / 'a' / 'loop')  # a link to a parent: not a loop
  (tmp_path / '.z.mid.1.0123abcd.tmp').write_bytes(b'a temporary')  # never listed
  os.symlink(tmp_path / 'gone.mid', tmp_path / 'b' / 'dangling.mid')
  listed = [rel for _, rel in files.walk_files(str(tmp_path))]
  assert listed == ['z.mid', os.path.join('a', 'y.mid'), os.path.join('b', 'dangling.mid'),
                    os.path.join('b', 'x.mid')]
  assert [rel for _, rel in files.walk_files(str(tmp_path), recursive=False)] == ['z.mid']


def test_a_folder_that_cannot_be_listed_is_one_error(tmp_path):
  with pytest.raises(DrumsRnnError, match='cannot list'):
    list(files.walk_files(str(tmp_path / 'missing')))


# --- the run-directory lock ------------------------------------------------------------------


def test_one_lock_per_run_directory_naming_the_holder(tmp_path):
  with files.RunLock(str(tmp_path)):
    with pytest.raises(ArgumentError, match=f'in use by another training run \\(pid {os.getpid()}\\)') as e:
      files.RunLock(str(tmp_path)).acquire()
    assert e.value.render(lambda name: f'--{name}').endswith('use another --run_dir')
  with files.RunLock(str(tmp_path)):  # released when the first one ended
    pass


def test_the_lock_of_a_killed_process_is_free(tmp_path):
  script = ('import os, sys; from drums_rnn import files; files.RunLock(sys.argv[1]).acquire(); '
            'os.kill(os.getpid(), 9)')
  subprocess.run([sys.executable, '-c', script, str(tmp_path)], check=False,
                 cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  with files.RunLock(str(tmp_path)):
    pass
