"""The configurations (the two Drums RNN ones and the humanizer's) and their hyperparameters.

A config bundles what must agree between dataset, model and generator: the
drum encoding (which fixes the input and output sizes), the time grid
(steps per quarter note) and the default hyperparameters. The names, values
and defaults are Magenta's (`magenta/models/drums_rnn/drums_rnn_model.py`),
so files and flags move freely between the two.

Hyperparameters are a plain typed mapping. :func:`parse_hparams` reads
Magenta's `--hparams` syntax (``batch_size=64,rnn_layer_sizes=[64,64]``) and
is strict: an unknown name or a value of the wrong type is an error that
names the key.
"""

import ast
import dataclasses
import json
from typing import Any, Dict, Mapping

from drums_rnn import encoding
from drums_rnn.errors import ArgumentError
from drums_rnn.errors import DrumsRnnError

# Defaults every config starts from (EventSequenceRnnConfig in Magenta).
BASE_HPARAMS: Dict[str, Any] = {
    'batch_size': 64,
    'rnn_layer_sizes': [128, 128],
    'dropout_keep_prob': 1.0,
    'attn_length': 0,
    'clip_norm': 3,
    'learning_rate': 0.001,
    'residual_connections': False,
    'use_cudnn': False,
}


class HParams(dict):
  """A dict of hyperparameters with attribute access (``hparams.batch_size``)."""

  def __getattr__(self, name):
    try:
      return self[name]
    except KeyError:
      raise AttributeError(name) from None

  def copy(self):
    return HParams(json.loads(json.dumps(self)))

  def to_json(self):
    return json.dumps(self, sort_keys=True)


@dataclasses.dataclass(frozen=True)
class DrumsRnnConfig:
  """Everything that defines one Drums RNN variant.

  Attributes:
    name: the generator id, `one_drum` or `drum_kit`.
    description: Magenta's generator description.
    encoding: the :class:`~drums_rnn.encoding.DrumEncoding` (sizes, classes).
    steps_per_quarter: time grid used to quantize MIDI.
    default_hparams: this config's defaults (base defaults overridden).
    min_bars: the shortest drum track its datasets keep, in bars (Magenta's
      7; the controlled config keeps any track of two steps -- an eighth of
      a 16-step bar -- or more, so Groove's one-bar fill files, most of which
      end before their bar does, join its training).
  """
  name: str
  description: str
  encoding: 'encoding.DrumEncoding'
  steps_per_quarter: int
  default_hparams: Mapping[str, Any]
  min_bars: float = 7
  kind = 'drums_rnn'  # its model family in drums_rnn.kinds (a class attribute, not a field)

  def hparams(self, overrides=None):
    """Returns default hparams updated by a `--hparams` string or a dict."""
    result = HParams(json.loads(json.dumps(dict(self.default_hparams))))
    if overrides is None or overrides == '':
      return result
    if isinstance(overrides, str):
      overrides = parse_hparams(overrides, result)
    else:
      overrides = {k: _coerce(k, v, result) for k, v in dict(overrides).items()}
    result.update(overrides)
    check_hparams(result)
    spec = getattr(getattr(self, 'encoding', None), 'controls', None)
    if spec is not None:
      spec.check_record(result, f'the {self.name} hparams')
    return result


@dataclasses.dataclass(frozen=True)
class HumanizerConfig:
  """The humanizer (velocity and timing of every hit; :mod:`drums_rnn.humanizer.model`).

  It trains with the same commands as the Drums RNN configs
  (``drums_rnn_create_dataset`` / ``drums_rnn_train --config=humanizer``) on
  its own datasets (:mod:`drums_rnn.humanizer.data`). Its geometry -- windows
  of ``window_bars`` 4/4 bars every ``hop_bars`` bars -- is in its hparams,
  so it is stored with every model and read back from it.
  """
  name: str
  description: str
  steps_per_quarter: int
  default_hparams: Mapping[str, Any]
  kind = 'humanizer'
  hparams = DrumsRnnConfig.hparams


# Allowed values: (test, what the value must be). clip_norm 0 means no
# clipping, as in Magenta (tf-slim's create_train_op clips only when > 0).
_RANGES = {
    'batch_size': (lambda v: v >= 1, 'at least 1'),
    'learning_rate': (lambda v: v > 0, 'positive'),
    'clip_norm': (lambda v: v >= 0, '>= 0 (0 = no clipping)'),
    'dropout_keep_prob': (lambda v: 0 < v <= 1, 'in (0, 1]'),
    'attn_length': (lambda v: v >= 0, '>= 0 (0 = no attention)'),
    'velocity_bins': (lambda v: 2 <= v <= 127, 'in 2..127'),
    'offset_bins': (lambda v: v >= 2, 'at least 2'),
    'window_bars': (lambda v: v >= 1, 'at least 1'),
    'hop_bars': (lambda v: v >= 1, 'at least 1'),
}


def check_hparams(hparams):
  """Raises DrumsRnnError naming the first hparam whose value is out of range.

  Run whenever hparams are built, so a bad value is refused before a
  command writes anything (e.g. batch_size=0, learning_rate=-1).
  """
  for name, (ok, what) in _RANGES.items():
    if name in hparams and not ok(hparams[name]):
      raise DrumsRnnError(f'hparam {name!r} must be {what}, got {hparams[name]!r}')
  return hparams


def _with_base(**overrides):
  hparams = dict(BASE_HPARAMS)
  hparams.update(overrides)
  return hparams


# Declarations of the same shape, Magenta's values for its two configs (a table,
# not repeated logic); drum_kit_control is drum_kit with per-bar controls.
CONFIGS: Dict[str, Any] = {
    'one_drum': DrumsRnnConfig(
        name='one_drum',
        description='Drums RNN with 2-state encoding.',
        encoding=encoding.ONE_DRUM,
        steps_per_quarter=2,
        default_hparams=_with_base(
            batch_size=128, rnn_layer_sizes=[128, 128], dropout_keep_prob=0.5,
            clip_norm=5, learning_rate=0.001)),
    'drum_kit': DrumsRnnConfig(
        name='drum_kit',
        description='Drums RNN with multiple drums and binary counters.',
        encoding=encoding.DRUM_KIT,
        steps_per_quarter=4,
        default_hparams=_with_base(
            batch_size=128, rnn_layer_sizes=[256, 256, 256], dropout_keep_prob=0.5,
            attn_length=32, clip_norm=3, learning_rate=0.001)),
    'drum_kit_control': DrumsRnnConfig(
        name='drum_kit_control',
        description='Drums RNN with multiple drums, binary counters and per-bar controls (style, fill, '
                    'density).',
        encoding=encoding.DRUM_KIT_CONTROL,
        steps_per_quarter=4,
        default_hparams=_with_base(
            batch_size=128, rnn_layer_sizes=[256, 256, 256], dropout_keep_prob=0.5,
            attn_length=32, clip_norm=3, learning_rate=0.001,
            **encoding.DRUM_KIT_CONTROL.controls.hparams()),
        min_bars=0.125),
    'humanizer': HumanizerConfig(
        name='humanizer',
        description='Humanizer: a velocity and a timing offset for every drum hit (bidirectional LSTM).',
        steps_per_quarter=4,
        default_hparams={'batch_size': 64, 'rnn_layer_sizes': [128, 128], 'dropout_keep_prob': 0.8,
                         'clip_norm': 3, 'learning_rate': 0.002, 'velocity_bins': 32,
                         'offset_bins': 32, 'window_bars': 4, 'hop_bars': 2}),
}


def get_config(name):
  """Returns the named config or raises a DrumsRnnError listing the choices."""
  try:
    return CONFIGS[name]
  except KeyError:
    raise DrumsRnnError(
        f'unknown config {name!r}: choose one of {", ".join(sorted(CONFIGS))}') from None


def _split_top_level(text):
  """Splits on commas that are not inside brackets."""
  parts, depth, current = [], 0, []
  for ch in text:
    if ch in '[(':
      depth += 1
    elif ch in '])':
      depth -= 1
    if ch == ',' and depth == 0:
      parts.append(''.join(current))
      current = []
    else:
      current.append(ch)
  parts.append(''.join(current))
  return [p.strip() for p in parts if p.strip()]


def _type_name(value):
  if isinstance(value, bool):
    return 'a boolean (true/false)'
  if isinstance(value, int):
    return 'an integer'
  if isinstance(value, float):
    return 'a number'
  if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
    return 'a list of names like [rock,jazz]'
  if isinstance(value, list):
    return 'a list of integers like [64,64]'
  return type(value).__name__


def _coerce(name, value, defaults):
  """Checks `value` against the type of the default for `name`."""
  if name not in defaults:
    raise DrumsRnnError(
        f'unknown hparam {name!r}; known hparams: {", ".join(sorted(defaults))}')
  default = defaults[name]
  bad = DrumsRnnError(f'hparam {name!r} must be {_type_name(default)}, got {value!r}')
  if isinstance(default, bool):
    if isinstance(value, bool):
      return value
    if isinstance(value, str) and value.lower() in ('true', 'false'):
      return value.lower() == 'true'
    raise bad
  if isinstance(default, int):
    if isinstance(value, bool) or not isinstance(value, int):
      raise bad
    return value
  if isinstance(default, float):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise bad
    return float(value)
  if isinstance(default, list) and default and all(isinstance(v, str) for v in default):
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) for v in value):
      raise bad
    return list(value)
  if isinstance(default, list):
    if not isinstance(value, (list, tuple)) or not value or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
      raise bad
    return list(value)
  raise bad


def parse_hparams(text, defaults):
  """Parses Magenta's `name=value,...` syntax against typed `defaults`.

  Returns a dict of the overridden values only. Raises DrumsRnnError naming
  the offending key for unknown names, bad syntax or wrong types.
  """
  result = {}
  for part in _split_top_level(text or ''):
    if '=' not in part:
      raise ArgumentError(f'malformed {{hparams}} entry {part!r}: expected name=value', 'hparams')
    name, raw = (s.strip() for s in part.split('=', 1))
    if name not in defaults:
      raise DrumsRnnError(
          f'unknown hparam {name!r}; known hparams: {", ".join(sorted(defaults))}')
    try:
      value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
      value = raw  # e.g. true/false; _coerce decides.
    result[name] = _coerce(name, value, defaults)
  return result
