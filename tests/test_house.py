"""House rules that keep the package easy to carry on: the import graph, the layers, the public API.

The layers, bottom up (docs/design.md draws them): the foundations at the
package top and in `nn/` (network pieces); `data/` (no TensorFlow); the training engine
`training/`; `measure/`; the model families `language_model/` and
`humanizer/`; the registry and the loader (`kinds`, `loading`); `studio/`
and `cli/`. A module imports only its own layer and those below it, so the
engine never imports a model family and nothing imports upwards.
"""

import ast
import json
import os
import pkgutil
import subprocess
import sys

import pytest

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


# --- the import graph ---------------------------------------------------------------------

FOUNDATIONS = {'drums_rnn', 'drums_rnn.errors', 'drums_rnn.files', 'drums_rnn.runtime',
               'drums_rnn.progress', 'drums_rnn.configs', 'drums_rnn.encoding', 'drums_rnn.midi',
               'drums_rnn.plotting', 'drums_rnn.bundle', 'drums_rnn.controls'}
# Each layer and the layers it may import (besides itself and the foundations).
LAYERS = {
    'foundations': set(),
    'data': set(),
    'training': {'data'},
    'measure': {'data'},
    'language_model': {'data', 'training', 'measure'},
    'humanizer': {'data', 'training', 'measure'},
    'composition': {'data', 'training', 'measure', 'language_model', 'humanizer'},
    'studio': {'data', 'training', 'measure', 'language_model', 'humanizer', 'composition'},
    'cli': {'data', 'training', 'measure', 'language_model', 'humanizer', 'composition', 'studio'},
}


def _layer(module):
  if module in FOUNDATIONS or module.startswith('drums_rnn.nn'):
    return 'foundations'
  if module in ('drums_rnn.kinds', 'drums_rnn.loading'):
    return 'composition'
  return module.split('.')[1]


def _import_graph():
  """module -> the drums_rnn modules it imports anywhere in its code (lazy imports included)."""
  package = os.path.join(REPO_ROOT, 'drums_rnn')
  modules = {}
  for root, _, names in os.walk(package):
    for name in names:
      if name.endswith('.py'):
        path = os.path.join(root, name)
        dotted = os.path.relpath(path[:-3], REPO_ROOT).replace(os.sep, '.')
        modules[dotted[:-len('.__init__')] if dotted.endswith('.__init__') else dotted] = path
  graph = {}
  for module, path in modules.items():
    with open(path, encoding='utf-8') as f:
      tree = ast.parse(f.read())
    targets = set()
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        targets.update(alias.name for alias in node.names)
      elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        targets.add(node.module)
        targets.update(f'{node.module}.{alias.name}' for alias in node.names)
    graph[module] = {t for t in targets if t in modules and t != module}
  return graph


def test_the_import_graph_has_no_cycle():
  graph = _import_graph()
  state = {}
  cycles = []

  def visit(module, path):
    state[module] = 'open'
    for target in sorted(graph[module]):
      if state.get(target) == 'open':
        cycles.append(path[path.index(target):] + [target] if target in path else [module, target])
      elif target not in state:
        visit(target, path + [target])
    state[module] = 'done'

  for module in sorted(graph):
    if module not in state:
      visit(module, [module])
  assert not cycles


def test_every_module_imports_only_its_layer_and_those_below():
  upward = []
  for module, targets in _import_graph().items():
    layer = _layer(module)
    allowed = LAYERS[layer] | {layer, 'foundations'}
    upward += [f'{module} -> {t}' for t in sorted(targets) if _layer(t) not in allowed]
  assert not upward


def test_the_engine_and_the_data_side_import_no_model_family():
  graph = _import_graph()
  family = ('drums_rnn.language_model', 'drums_rnn.humanizer')
  arrows = [f'{m} -> {t}' for m, targets in graph.items() for t in targets
            if m.startswith(('drums_rnn.training', 'drums_rnn.data')) and t.startswith(family)]
  assert not arrows


def test_the_data_side_imports_no_tensorflow():
  """Creating a dataset costs less CPU than importing TensorFlow: data/ never pulls it in."""
  names = [n for n in _import_graph() if n.startswith('drums_rnn.data')]
  script = f"""
import importlib, sys
for name in {names!r}:
  importlib.import_module(name)
print('tensorflow' in sys.modules)
"""
  out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                       cwd=REPO_ROOT, timeout=300, check=True).stdout
  assert out.strip().splitlines()[-1] == 'False'


# --- the public API -------------------------------------------------------------------------


def test_the_public_api_is_importable_from_the_top_lazily():
  script = """
import json, sys
import drums_rnn
lazy = 'tensorflow' not in sys.modules and 'drums_rnn.training' not in sys.modules
names = sorted(drums_rnn.__all__)
missing = [n for n in names if not callable(getattr(drums_rnn, n, None))]
print(json.dumps({'lazy': lazy, 'missing': missing, 'names': names,
                  'dir': sorted(set(names) - set(dir(drums_rnn)))}))
"""
  out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                       cwd=REPO_ROOT, timeout=300, check=True).stdout
  result = json.loads(out.strip().splitlines()[-1])
  assert result['lazy'] and not result['missing'] and not result['dir']
  # What the README's "Using the library" names.
  assert {'get_config', 'task_for', 'create_dataset', 'train', 'load_model', 'save_bundle',
          'generate_to_midi', 'regenerate_voices', 'load_humanizer', 'humanize_sequence',
          'humanize_files', 'evaluate_humanizer', 'compare_pattern_sets', 'track_log_likelihoods',
          'evaluate', 'configure_process'} <= set(result['names'])


def test_an_unknown_public_name_is_an_attribute_error():
  with pytest.raises(AttributeError, match='no attribute'):
    drums_rnn.no_such_thing  # pylint: disable=pointless-statement
