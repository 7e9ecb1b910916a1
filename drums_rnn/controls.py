"""Controls a musician gives the Drums RNN per bar: a style, whether the bar is a fill, how dense it is.

The ``drum_kit_control`` config reads, beside each step's drum class and its
position counters, the controls of the step it is about to predict --
Magenta's conditioning scheme (performance_rnn's optional conditioning):
each control has its own "disabled" bit, so any subset of them can be given.
The columns appended to an input vector are

* style: a one-hot over :attr:`ControlSpec.styles`, then its disabled bit;
* fill: 1 if the bar is a fill, then its disabled bit;
* density: a one-hot over the density bins (hits a bar, :func:`ControlSpec.density_bin`),
  then its disabled bit;

a disabled control has all its columns 0 but the disabled bit. The values
of a track are given per step as a ``[3, steps]`` int array (style index,
fill 0/1, density bin), :data:`DISABLED` (-1) for a disabled control;
:func:`per_step` spreads per-bar values over steps.

The vocabulary and the bin edges belong to the config; models record them
in their hparams (``control_styles``, ``density_bin_edges``), and a model
whose record differs from the config's is refused when it is loaded.
"""

import dataclasses
from typing import Optional, Sequence, Tuple

import numpy as np

from drums_rnn.errors import ArgumentError

DISABLED = -1
STYLE, FILL, DENSITY = 0, 1, 2
NAMES = ('style', 'fill', 'density')

# Groove's eight largest styles (train split, 4/4) and everything else together.
STYLES = ('rock', 'latin', 'funk', 'jazz', 'hiphop', 'afrobeat', 'neworleans', 'afrocuban', 'other')
# Hits a bar (struck (step, drum type) cells) at which density bins 1..4 start: the quintiles of the
# Groove train split's 4/4 bars (beat and fill files), as scripts/train_control_labels.py measures.
DENSITY_BIN_EDGES = (13, 17, 20, 24)
# How firmly asked controls are played (classifier-free guidance, generation.BatchedSampler.sample):
# 1 is the model as trained, whose controls are only hints against 2 bars of its own history; the
# default was chosen on Groove's validation split for the shipped model (README, "Grooves on request").
DEFAULT_STRENGTH = 5.0


@dataclasses.dataclass(frozen=True)
class ControlSpec:
  """The controls of a config: its style vocabulary and density bin edges."""
  styles: Tuple[str, ...] = STYLES
  density_edges: Tuple[int, ...] = DENSITY_BIN_EDGES

  @property
  def num_density_bins(self) -> int:
    return len(self.density_edges) + 1

  @property
  def width(self) -> int:
    """Columns added to each input vector."""
    return (len(self.styles) + 1) + 2 + (self.num_density_bins + 1)

  def density_bin(self, hits) -> np.ndarray:
    """The density bin (0 .. num_density_bins - 1) of each count of hits a bar."""
    return np.digitize(np.asarray(hits), self.density_edges).astype(np.int64)

  def density_bin_names(self):
    """A readable range of hits a bar for each bin ('< 13', '13-16', ..., '>= 24')."""
    edges = self.density_edges
    return ([f'< {edges[0]}'] + [f'{low}-{high - 1}' for low, high in zip(edges[:-1], edges[1:])]
            + [f'>= {edges[-1]}'])

  def style_index(self, style: Optional[str]) -> int:
    """The index of a style name (None: DISABLED); an unknown name is an ArgumentError."""
    if style is None:
      return DISABLED
    if style not in self.styles:
      raise ArgumentError(f'unknown {{style}} {style!r}: choose one of {", ".join(self.styles)}',
                          'style')
    return self.styles.index(style)

  def columns(self, values) -> np.ndarray:
    """[steps, width] float32 input columns of per-step control values ([3, steps] ints)."""
    values = np.asarray(values, np.int64)
    steps = values.shape[1]
    out = np.zeros((steps, self.width), np.float32)
    rows = np.arange(steps)
    offset = 0
    for which, size in ((STYLE, len(self.styles)), (FILL, None), (DENSITY, self.num_density_bins)):
      v = values[which]
      on = v != DISABLED
      if size is None:  # fill: one value column
        if on.any() and not np.isin(v[on], (0, 1)).all():
          raise ArgumentError('a {fill} value is neither 0 nor 1', 'fill')
        out[on, offset] = v[on]
        out[~on, offset + 1] = 1.0
        offset += 2
        continue
      if on.any() and (v[on].min() < 0 or v[on].max() >= size):
        raise ArgumentError(f'a {{{NAMES[which]}}} value is outside 0..{size - 1}: '
                            f'{sorted(set(v[on].tolist()))}', NAMES[which])
      out[rows[on], offset + v[on]] = 1.0
      out[~on, offset + size] = 1.0
      offset += size + 1
    return out

  def hparams(self):
    """The record a model keeps of these controls (in its hparams)."""
    return {'control_styles': list(self.styles), 'density_bin_edges': list(self.density_edges)}

  def check_record(self, hparams, source='the model'):
    """Refuses hparams whose recorded controls differ from this spec (another vocabulary)."""
    recorded = {k: hparams.get(k) for k in ('control_styles', 'density_bin_edges')}
    if recorded != self.hparams():
      raise ArgumentError(f'{source} record the controls {recorded}, but the config has '
                          f'{self.hparams()}: its vocabulary and bin edges are fixed by the config '
                          'and cannot be changed through {hparams}', 'hparams')


def per_step(num_steps, steps_per_bar, style=DISABLED, fill=None, density=None):
  """[3, num_steps] control values from per-track or per-bar requests.

  Args:
    style: a style index for every bar, or one per bar (a sequence), DISABLED to leave it out.
    fill: None (disabled), or a per-bar sequence of 0/1 (1 = a fill bar).
    density: None (disabled), a bin for every bar, or one per bar.
  A per-bar sequence must give every bar the track touches (ArgumentError otherwise).
  """
  num_bars = -(-num_steps // steps_per_bar)
  values = np.full((3, num_bars), DISABLED, np.int64)
  for which, given in ((STYLE, style), (FILL, fill), (DENSITY, density)):
    if given is None:
      continue
    given = np.asarray(given, np.int64)
    if given.ndim == 0:
      values[which] = given
    elif given.shape[0] != num_bars:
      raise ArgumentError(f'{{{NAMES[which]}}} gives {given.shape[0]} bars, the track has '
                          f'{num_bars}', NAMES[which])
    else:
      values[which] = given
  return np.repeat(values, steps_per_bar, axis=1)[:, :num_steps]


def requested(spec: Optional[ControlSpec], num_steps, steps_per_bar, style=None, fill_bars=(),
              fill_every=0, density=None):
  """[3, num_steps] control values from what a musician asks for (None when nothing is asked).

  Args:
    spec: the config's ControlSpec (None: the config takes no controls, and
      asking for any is an ArgumentError).
    style: a style name for every bar, or a sequence of names (one per bar), or None.
    fill_bars: 1-based numbers of the bars that are fills; with `fill_every`
      N also bars N, 2N, ...; giving either enables the fill control (the
      other bars are then asked not to be fills).
    density: a density bin for every bar, or a sequence (one per bar), or None.
  """
  asked = [name for name, value in (('style', style), ('fill_bars', list(fill_bars) or None),
                                    ('fill_every', fill_every or None), ('density', density))
           if value is not None]
  if not asked:
    return None
  if spec is None:
    raise ArgumentError('this model takes no controls (its config has none; train '
                        'drum_kit_control for them): ' + ', '.join('{%s}' % a for a in asked), *asked)
  num_bars = -(-num_steps // steps_per_bar)
  style_values = None
  if style is not None:
    names = [style] if isinstance(style, str) else list(style)
    style_values = [spec.style_index(n) for n in names]
    style_values = style_values[0] if isinstance(style, str) else style_values
  fill_values = None
  if fill_bars or fill_every:
    if fill_every < 0:
      raise ArgumentError(f'{{fill_every}} must be >= 0, got {fill_every}', 'fill_every')
    bars = set(int(b) for b in fill_bars)
    outside = sorted(b for b in bars if not 1 <= b <= num_bars)
    if outside:
      raise ArgumentError(f'{{fill_bars}} {outside} past the track\'s {num_bars} bars '
                          f'({num_steps} steps)', 'fill_bars')
    if fill_every:
      bars.update(range(fill_every, num_bars + 1, fill_every))
    fill_values = [int(b in bars) for b in range(1, num_bars + 1)]
  if density is not None:
    bins = [density] if np.ndim(density) == 0 else list(density)
    bad = [b for b in bins if not 0 <= int(b) < spec.num_density_bins]
    if bad:
      raise ArgumentError(f'{{density}} bin {bad[0]} is out of range: the bins are 0..'
                          f'{spec.num_density_bins - 1} (hits a bar: '
                          f'{", ".join(spec.density_bin_names())})', 'density')
  values = per_step(num_steps, steps_per_bar, DISABLED if style_values is None else style_values,
                    fill_values, density)
  return values


def disabled(num_steps) -> np.ndarray:
  """[3, num_steps] values with every control disabled."""
  return np.full((3, num_steps), DISABLED, np.int64)


def check_values(values: Sequence, spec: ControlSpec):
  """Checks per-step values against `spec` (raises ArgumentError); returns them as int64."""
  spec.columns(values)
  return np.asarray(values, np.int64)
