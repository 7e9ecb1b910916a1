"""Checking what the studio page sends: one clear message per bad value.

The page is not the only client (curl, scripts, a stale tab after a server
upgrade), so every field of every request body is checked here before it
reaches the model: a wrong value answers HTTP 400 with a message naming the
field and what it should be, never a traceback or a 500. JSON's own loose
spots are closed too: `true` is not an integer here (Python's bool is an
int), NaN and Infinity (which Python's json module accepts) fail every range
check, and floats are not accepted where an integer is meant.

Grids are lists of steps, each a list of 9 ints 0/1 in the order of
`encoding.DRUM_VOICE_NAMES`; a grid has 16 steps per bar and 1..MAX_BARS
bars. The control fields of a model with controls (`controls`: "style",
"density", "fills") are checked against the model's own vocabulary and
bins, and refused, naming them, by a model without controls.
"""

import base64
import binascii
import json
import math
import os
import re

import numpy as np

from drums_rnn import controls as controls_lib
from drums_rnn.humanizer import performance
from drums_rnn.encoding import DRUM_VOICE_NAMES

STEPS_PER_BAR = performance.STEPS_PER_BAR  # 4/4 in 16ths, as the humanizer and the MIDI written
MAX_BARS = 8
NUM_VOICES = len(DRUM_VOICE_NAMES)
MAX_SEED = 2 ** 63 - 1  # the sampler uses 63 bits of the seed
MIN_QPM, MAX_QPM = 20.0, 300.0
MAX_TEMPERATURE = 5.0
MAX_CONTROL_STRENGTH = 10.0
MAX_SWING = 0.5
MAX_CLIP_BYTES = 512 * 1024  # a MIDI clip dropped on the page
MAX_BODY_BYTES = 1024 * 1024  # every request fits: the largest, a clip, is at most ~700 KiB
MAX_JSON_DEPTH = 8  # the deepest a request needs is 3 (an object of lists of lists)
_MISSING = object()


class RequestError(Exception):
  """A bad request: the message is what the client is told (HTTP 400)."""


class BodyTooLarge(RequestError):
  """A request body over MAX_BODY_BYTES (HTTP 413)."""


def body_of(request):
  """The JSON object of a Flask request, or RequestError: malformed, nested too deeply, not an object.

  (The content type and the size are checked before, by `guard`.)
  """
  raw = _read_at_most(request.stream, MAX_BODY_BYTES + 1)  # a chunked body has no Content-Length
  if len(raw) > MAX_BODY_BYTES:
    raise BodyTooLarge(f'the request body is over {MAX_BODY_BYTES} bytes: the studio takes at most '
                       f'{MAX_BODY_BYTES} ({MAX_BODY_BYTES / 2 ** 20:g} MiB)')
  if json_depth(raw) > MAX_JSON_DEPTH:
    raise RequestError(f'the request body is JSON nested deeper than {MAX_JSON_DEPTH} levels: '
                       'the studio\'s requests are an object of lists of lists')
  try:
    data = json.loads(raw)
  except RecursionError:
    raise RequestError('the request body is JSON nested too deeply') from None
  except (ValueError, UnicodeDecodeError) as e:
    raise RequestError(f'the request body must be JSON (an object such as {{"grid": [...]}}): {e}'[:300]) from None
  if not isinstance(data, dict):
    raise RequestError(f'the request body must be a JSON object, got {type(data).__name__}')
  return data


def _read_at_most(stream, limit):
  parts, total = [], 0
  while total < limit:
    chunk = stream.read(limit - total)
    if not chunk:
      break
    parts.append(chunk)
    total += len(chunk)
  return b''.join(parts)


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def json_depth(raw):
  """How deeply brackets nest in JSON text (strings skipped), in one vectorised pass."""
  brackets = np.frombuffer(_JSON_STRING.sub(b'""', raw), np.uint8)
  steps = (np.isin(brackets, (91, 123)).astype(np.int32) - np.isin(brackets, (93, 125)))
  return int(np.cumsum(steps).max()) if steps.size else 0


def _get(body, name, default):
  value = body.get(name, _MISSING)
  if value is _MISSING or value is None:
    if default is _MISSING:
      raise RequestError(f'missing field "{name}"')
    return default
  return value


def _is_int(value):
  return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def grid(body, name='grid'):
  """[T, 9] bool from a list of T steps of 9 ints 0/1; T = bars * 16, 1 <= bars <= MAX_BARS."""
  value = _get(body, name, _MISSING)
  if not isinstance(value, list):
    raise RequestError(f'"{name}" must be a list of steps, each a list of {NUM_VOICES} 0/1 values')
  steps = len(value)
  if steps % STEPS_PER_BAR or not 1 <= steps // STEPS_PER_BAR <= MAX_BARS:
    raise RequestError(f'"{name}" must have {STEPS_PER_BAR} steps per bar and 1 to {MAX_BARS} bars '
                       f'({STEPS_PER_BAR} to {STEPS_PER_BAR * MAX_BARS} steps), got {steps} steps')
  for t, step in enumerate(value):
    if not isinstance(step, list) or len(step) != NUM_VOICES:
      raise RequestError(f'"{name}" step {t} must be a list of {NUM_VOICES} 0/1 values (one per voice: '
                         f'{", ".join(DRUM_VOICE_NAMES)})')
    for v in step:
      if not _is_int(v) or v not in (0, 1):
        raise RequestError(f'"{name}" step {t} must hold only 0 or 1, got {v!r}')
  return np.array(value, bool).reshape(steps, NUM_VOICES)


def matrix(body, name, num_steps, low, high, integer):
  """An optional [num_steps, 9] array of numbers in [low, high] (None when absent)."""
  value = body.get(name)
  if value is None:
    return None
  kind = 'ints' if integer else 'numbers'
  if (not isinstance(value, list) or len(value) != num_steps
      or not all(isinstance(s, list) and len(s) == NUM_VOICES for s in value)):
    raise RequestError(f'"{name}" must be {num_steps} steps of {NUM_VOICES} {kind}, like the grid')
  check = _is_int if integer else _is_number
  for t, step in enumerate(value):
    for v in step:
      if not check(v) or not low <= v <= high:
        raise RequestError(f'"{name}" step {t} holds {v!r}: each value must be {kind} in '
                           f'[{low}, {high}]')
  return np.array(value, np.int64 if integer else np.float64)


def number(body, name, default=_MISSING, low=None, high=None, low_open=False):
  """A float field in [low, high] ((low, high] with low_open)."""
  value = _get(body, name, default)
  if not _is_number(value) or not math.isfinite(value):
    raise RequestError(f'"{name}" must be a number, got {value!r}')
  too_low = low is not None and (value <= low if low_open else value < low)
  if too_low or (high is not None and value > high):
    opening = '(' if low_open else '['
    raise RequestError(f'"{name}" must be in {opening}{low}, {high}], got {value!r}')
  return float(value)


def integer(body, name, default=_MISSING, low=None, high=None):
  """An int field in [low, high]."""
  value = _get(body, name, default)
  if not _is_int(value):
    raise RequestError(f'"{name}" must be an integer, got {value!r}')
  if (low is not None and value < low) or (high is not None and value > high):
    raise RequestError(f'"{name}" must be in {low}..{high}, got {value!r}')
  return value


def boolean(body, name, default=False):
  value = _get(body, name, default)
  if not isinstance(value, bool):
    raise RequestError(f'"{name}" must be true or false, got {value!r}')
  return value


def choice(body, name, choices, default=_MISSING):
  """A field that must be one of `choices` (compared with ==, bools never equal to ints)."""
  value = _get(body, name, default)
  if not any(type(value) is type(c) and value == c for c in choices):
    raise RequestError(f'"{name}" must be one of {", ".join(map(str, choices))}, got {value!r}')
  return value


def seed(body):
  """The "seed" field (0..2**63-1); absent or null: a fresh random one, returned to the client."""
  value = body.get('seed')
  if value is None:
    return int.from_bytes(os.urandom(4), 'little')
  return integer(body, 'seed', low=0, high=MAX_SEED)


def temperature(body):
  return number(body, 'temperature', 1.0, 0.0, MAX_TEMPERATURE, low_open=True)


def qpm(body):
  return number(body, 'qpm', 120.0, MIN_QPM, MAX_QPM)


def seed_step(body, num_steps, default=_MISSING):
  """Where generation starts: steps before it are kept (1..num_steps-1)."""
  return integer(body, 'seed_step', default, 1, num_steps - 1)


def voices(body, name='voices', allow_empty=False):
  """Voice names from DRUM_VOICE_NAMES (at least one unless allow_empty), deduplicated in the given order."""
  value = _get(body, name, [] if allow_empty else _MISSING)
  if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
    raise RequestError(f'"{name}" must be a list of voice names: ' + ', '.join(DRUM_VOICE_NAMES))
  if not value and not allow_empty:
    raise RequestError(f'"{name}" is empty: choose at least one of ' + ', '.join(DRUM_VOICE_NAMES))
  unknown = [v for v in value if v not in DRUM_VOICE_NAMES]
  if unknown:
    raise RequestError(f'unknown voice {unknown[0]!r} in "{name}": choose from '
                       + ', '.join(DRUM_VOICE_NAMES))
  return list(dict.fromkeys(value))


def bar_indices(body, name, num_bars):
  """A set of bar indices 0..num_bars-1 (absent: none)."""
  value = _get(body, name, [])
  if not isinstance(value, list) or not all(_is_int(b) and 0 <= b < num_bars for b in value):
    raise RequestError(f'"{name}" must be a list of bar indices in 0..{num_bars - 1}, got {value!r}'[:300])
  return set(value)


def base64_bytes(body, name, max_bytes):
  """The bytes of a base64 string field (standard alphabet), at most max_bytes once decoded."""
  value = _get(body, name, _MISSING)
  if not isinstance(value, str):
    raise RequestError(f'"{name}" must be a base64 string of the file\'s bytes')
  if len(value) > 4 * (max_bytes // 3 + 1):
    raise RequestError(f'"{name}" is too large: at most {max_bytes // 1024} KiB')
  try:
    data = base64.b64decode(value, validate=True)
  except (binascii.Error, ValueError):
    raise RequestError(f'"{name}" is not valid base64') from None
  if not data:
    raise RequestError(f'"{name}" is empty')
  return data


CONTROL_FIELDS = ('style', 'density', 'fills')


def controls(body, spec, num_bars):
  """The control fields of a generate, regenerate or continue, as per-bar values (None when none is given).

  Args:
    spec: the model's `controls.ControlSpec`, or None for a model without
      controls (then any control field, "control_strength" too, is refused,
      naming it).
    num_bars: the bars of the request's grid.
  Fields (each optional; absent or null: that control is left to the model):
    "style": a name from the model's style vocabulary, for the whole pattern.
    "density": a density bin 0..bins-1 for every bar, or a list of one per
      bar (each a bin, or null for that bar).
    "fills": a list of one true/false per bar: true asks for a fill in that
      bar, false for no fill.
  Returns:
    None, or a [3, num_bars] int array (style index, fill 0/1, density bin;
    `controls.DISABLED` where not asked) in the rows of `controls.STYLE`,
    `FILL`, `DENSITY`.
  """
  given = [name for name in CONTROL_FIELDS if body.get(name) is not None]
  if spec is None and (given or body.get('control_strength') is not None):
    names = ', '.join(f'"{name}"' for name in given + ['control_strength'] if body.get(name) is not None)
    raise RequestError(f'this model takes no controls (its config has none; a drum_kit_control model does): '
                       f'leave out {names}')
  if not given:
    return None
  values = np.full((3, num_bars), controls_lib.DISABLED, np.int64)
  style = body.get('style')
  if style is not None:
    if not isinstance(style, str):
      raise RequestError(f'"style" must be a style name (one of {", ".join(spec.styles)}), got {style!r}'[:300])
    if style not in spec.styles:
      raise RequestError(f'unknown "style" {style[:40]!r}: choose one of {", ".join(spec.styles)} '
                         '(or leave it out: any style)')
    values[controls_lib.STYLE] = spec.styles.index(style)
  density = body.get('density')
  if density is not None:
    values[controls_lib.DENSITY] = _density_bins(density, spec, num_bars)
  fills = body.get('fills')
  if fills is not None:
    values[controls_lib.FILL] = _fill_flags(fills, num_bars)
  return values


def control_strength(body):
  """How firmly a request's controls are played ("control_strength", 0..10; default
  `controls.DEFAULT_STRENGTH`). A model without controls refuses it in `controls`."""
  return number(body, 'control_strength', controls_lib.DEFAULT_STRENGTH, 0.0, MAX_CONTROL_STRENGTH)


def _per_bar_count(name, value, num_bars, what):
  if len(value) > num_bars:
    raise RequestError(f'"{name}" gives {len(value)} bars but the pattern has {num_bars}: {what} for bars '
                       'past the pattern')
  if len(value) < num_bars:
    raise RequestError(f'"{name}" gives {len(value)} bar{"s" if len(value) != 1 else ""} but the pattern has '
                       f'{num_bars}: give one per bar')


def _density_bins(value, spec, num_bars):
  bins = spec.num_density_bins
  ranges = ', '.join(f'{b}: {hits}' for b, hits in enumerate(spec.density_bin_names()))

  def check(v, where):
    if not _is_int(v):
      raise RequestError(f'"density"{where} must be a bin 0..{bins - 1} (hits a bar: {ranges}), got {v!r}'[:300])
    if not 0 <= v < bins:
      raise RequestError(f'"density"{where} bin {v} is out of range: the bins are 0..{bins - 1} (hits a bar: '
                         f'{ranges})')
    return v

  if not isinstance(value, list):
    return check(value, '')
  _per_bar_count('density', value, num_bars, 'densities')
  return [controls_lib.DISABLED if v is None else check(v, f' of bar {b + 1}') for b, v in enumerate(value)]


def _fill_flags(value, num_bars):
  if not isinstance(value, list):
    raise RequestError(f'"fills" must be a list of one true/false per bar ({num_bars} here), got {value!r}'[:300])
  _per_bar_count('fills', value, num_bars, 'fills')
  for b, flag in enumerate(value):
    if not isinstance(flag, bool):
      raise RequestError(f'"fills" bar {b + 1} must be true or false, got {flag!r}'[:300])
  return [int(flag) for flag in value]
