"""House rules that keep the package easy to carry on (issue "one clear house")."""

import json
import os
import pkgutil
import subprocess
import sys

import drums_rnn

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _modules():
  names = ['drums_rnn']
  for info in pkgutil.walk_packages(drums_rnn.__path__, 'drums_rnn.'):
    # Each command module defines its flags: they are separate programs.
    if not info.name.startswith('drums_rnn.cli.') or info.name in ('drums_rnn.cli.common',
                                                                  'drums_rnn.cli.flags'):
      names.append(info.name)
  return names


def test_importing_any_module_changes_nothing_in_the_process():
  """No environment variables, no sys.modules stubs, no warning filters at import.

  The third-party packages are imported first (TensorFlow sets variables and
  filters of its own), so what is compared is what our modules add.
  """
  script = f"""
import json, os, sys, warnings, importlib
import numpy, scipy, absl.flags, absl.logging, pretty_midi, tensorflow, note_seq, matplotlib.figure
env = dict(os.environ)
filters = list(warnings.filters)
for name in {_modules()!r}:
  importlib.import_module(name)
stubs = [n for n in ('note_seq.notebook_utils', 'note_seq.audio_io', 'keras.src.optimizers')
         if n in sys.modules and getattr(sys.modules[n], '__file__', None) is None]
changed = sorted(k for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k))
print(json.dumps({{'changed': changed, 'stubs': stubs,
                  'filters_added': len(warnings.filters) - len(filters)}}))
"""
  env = {k: v for k, v in os.environ.items()
         if k not in ('TF_CPU_ALLOCATOR_USE_BFC', 'TF_CPP_MIN_LOG_LEVEL')}
  out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, env=env,
                       cwd=REPO_ROOT, timeout=300, check=True).stdout
  result = json.loads(out.strip().splitlines()[-1])
  assert result == {'changed': [], 'stubs': [], 'filters_added': 0}


def test_configure_process_sets_up_once_and_keeps_user_values():
  script = """
import json, os, sys
os.environ['TF_CPP_MIN_LOG_LEVEL'] = '1'
from drums_rnn import runtime
runtime.configure_process()
runtime.configure_process()
print(json.dumps({'bfc': os.environ.get('TF_CPU_ALLOCATOR_USE_BFC'),
                  'log': os.environ.get('TF_CPP_MIN_LOG_LEVEL'),
                  'stub': 'note_seq.notebook_utils' in sys.modules}))
"""
  env = {k: v for k, v in os.environ.items() if k != 'TF_CPU_ALLOCATOR_USE_BFC'}
  out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, env=env,
                       cwd=REPO_ROOT, timeout=120, check=True).stdout
  assert json.loads(out.strip().splitlines()[-1]) == {'bfc': '1', 'log': '1', 'stub': True}


def test_no_module_is_over_450_lines():
  package = os.path.join(REPO_ROOT, 'drums_rnn')
  long = {}
  for root, _, names in os.walk(package):
    for name in names:
      if name.endswith('.py'):
        path = os.path.join(root, name)
        with open(path, encoding='utf-8') as f:
          lines = sum(1 for _ in f)
        if lines > 470:  # "about 450"
          long[os.path.relpath(path, REPO_ROOT)] = lines
  assert not long


def test_importing_the_commands_library_sets_up_nothing():
  """Without third-party packages imported first: no stubs, no allocator or log variables."""
  script = f"""
import json, os, sys, importlib
for name in {_modules()!r}:
  importlib.import_module(name)
stubs = [n for n in ('note_seq.notebook_utils', 'note_seq.audio_io', 'keras.src.optimizers')
         if n in sys.modules and getattr(sys.modules[n], '__file__', None) is None]
print(json.dumps({{'stubs': stubs, 'bfc': os.environ.get('TF_CPU_ALLOCATOR_USE_BFC'),
                  'log': os.environ.get('TF_CPP_MIN_LOG_LEVEL')}}))
"""
  env = {k: v for k, v in os.environ.items()
         if k not in ('TF_CPU_ALLOCATOR_USE_BFC', 'TF_CPP_MIN_LOG_LEVEL')}
  out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, env=env,
                       cwd=REPO_ROOT, timeout=300, check=True).stdout
  assert json.loads(out.strip().splitlines()[-1]) == {'stubs': [], 'bfc': None, 'log': None}
