"""Pictures of drum tracks and of metric distributions, as PNG files.

`plot_drum_track` draws a drum-machine style piano roll: one row per drum
class (bass drum at the bottom, cymbals at the top), one column per step,
bar lines dark, beat lines light, and the primer region shaded so a
generated continuation can be told from its prompt at a glance. Given a
humanized track's velocities and offsets, each hit's bar grows and darkens
with its velocity (accents tall and strong, ghost notes short and pale) and
sits shifted from its step by its timing offset (a thin tick marks the grid).

Figures are built with matplotlib's object API on an Agg canvas (no pyplot,
no global backend switch, no display needed) and written atomically.
"""

import os

import numpy as np
from matplotlib import colors as mcolors
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from drums_rnn import files
from drums_rnn import encoding

# One colour per drum class, grouped: kick, snare, hats, toms, cymbals.
_CLASS_COLOURS = ('#d62728', '#1f77b4', '#2ca02c', '#98df8a', '#9467bd', '#b07cc6',
                  '#c5b0d5', '#ff7f0e', '#ffbb78')


def write_beside(midi_paths, draw):
  """Writes `<name>.png` beside each MIDI file by `draw(midi_path, png_path)`; returns the PNGs.

  All or nothing: if one picture fails, the ones already written are removed.
  """
  pngs = []
  try:
    for path in midi_paths:
      png = os.path.splitext(path)[0] + '.png'
      draw(path, png)
      pngs.append(png)
  except BaseException:
    files.remove_all(pngs)
    raise
  return pngs


def _save(fig, path, dpi):
  FigureCanvasAgg(fig)
  with files.atomic_output(path) as tmp:
    fig.savefig(tmp, format='png', dpi=dpi)
  return path


def plot_drum_track(pattern, path, steps_per_bar=16, steps_per_beat=4, primer_steps=0,
                    title=None, dpi=100, num_drum_types=9, velocities=None, offsets=None):
  """Writes a PNG piano roll of a drum track.

  Args:
    pattern: class indices [steps] or a [steps, drum types] hit grid.
    path: the PNG to write (atomically; its folder is created).
    steps_per_bar: steps in a bar (16 = 4/4 at 4 steps per quarter).
    steps_per_beat: steps in a beat (lighter grid lines).
    primer_steps: the first steps that were given, not generated; shaded.
    title: text above the grid (defaults to the length in steps and bars).
    dpi: resolution; the width grows with the track length.
    num_drum_types: drum types of class indices: 9 (drum_kit) or 1
      (one_drum, steps_per_bar=8 and steps_per_beat=2 at its 2 steps per
      quarter); ignored for a hit grid.
  Returns:
    `path`.
  """
  pattern = np.asarray(pattern)
  grid = (encoding.classes_to_hits(pattern, num_drum_types) if pattern.ndim == 1
          else encoding.as_hit_grid(pattern))
  steps, num_classes = grid.shape
  names = encoding.DRUM_CLASS_NAMES[:num_classes] if num_classes > 1 else ('drum',)
  width = float(np.clip(2.0 + 0.09 * max(steps, 16), 6.0, 36.0))
  fig = Figure(figsize=(width, 0.32 * num_classes + 1.3))
  ax = fig.add_axes([1.1 / width, 0.38 / (0.32 * num_classes + 1.3),
                     1 - 1.35 / width, 1 - 0.8 / (0.32 * num_classes + 1.3)])

  if primer_steps > 0:
    ax.axvspan(0, min(primer_steps, steps), color='#e8e8e8', zorder=0, lw=0)
    ax.text(0.3, num_classes - 0.02, f'primer ({primer_steps} step{"s" if primer_steps > 1 else ""})',
            ha='left', va='bottom', fontsize=8, color='#666666')
  # Beat and bar lines.
  for x in range(0, steps + 1):
    if x % steps_per_bar == 0:
      ax.axvline(x, color='#444444', lw=1.0, zorder=1)
    elif steps_per_beat and x % steps_per_beat == 0:
      ax.axvline(x, color='#bbbbbb', lw=0.6, zorder=1)
  for y in range(num_classes + 1):
    ax.axhline(y, color='#eeeeee', lw=0.5, zorder=1)
  # Hits: one broken_barh call per drum class.
  velocities = None if velocities is None else np.asarray(velocities, np.float64)
  offsets = np.zeros(grid.shape) if offsets is None else np.asarray(offsets, np.float64)
  for row in range(num_classes):
    hit_steps = np.nonzero(grid[:, row])[0]
    if not hit_steps.size:
      continue
    colour = _CLASS_COLOURS[row % len(_CLASS_COLOURS)] if num_classes > 1 else '#333333'
    if velocities is None:
      ax.broken_barh([(s + 0.08, 0.84) for s in hit_steps], (row + 0.12, 0.76),
                     facecolors=colour, edgecolors='none', zorder=2)
      continue
    level = np.clip(velocities[hit_steps, row] / 127.0, 0.0, 1.0)
    shades = [mcolors.to_rgba(colour, 0.25 + 0.75 * v) for v in level]
    for s, v, off, shade in zip(hit_steps, level, offsets[hit_steps, row], shades):
      ax.add_patch(_bar(s + off + 0.12, row + 0.1, 0.76, 0.08 + 0.72 * v, shade))
    ax.vlines(hit_steps + 0.5, row + 0.04, row + 0.1, colors='#777777', lw=0.6, zorder=3)

  ax.set_xlim(0, steps)
  ax.set_ylim(0, num_classes + (0.35 if primer_steps > 0 else 0))
  ax.set_yticks(np.arange(num_classes) + 0.5)
  ax.set_yticklabels(names, fontsize=8)
  bar_ticks = np.arange(0, steps, steps_per_bar)
  ax.set_xticks(bar_ticks + 0.5 * min(steps_per_bar, steps))
  ax.set_xticklabels([str(i + 1) for i in range(len(bar_ticks))], fontsize=8)
  ax.tick_params(axis='both', length=0)
  ax.set_xlabel('bar', fontsize=8)
  for spine in ax.spines.values():
    spine.set_visible(False)
  if title is None:
    title = f'{steps} steps ({steps / steps_per_bar:g} bars)'
  ax.set_title(title, fontsize=9, loc='left')
  return _save(fig, path, dpi)


def _bar(x, y, width, height, colour):
  return Rectangle((x, y), width, height, facecolor=colour, edgecolor='none', zorder=2)


def plot_curves(curves, path, title, xlabel, ylabel, dpi=100):
  """Writes a PNG of line curves; `curves` are (label, xs, ys, colour, line style) tuples."""
  fig = Figure(figsize=(6.0, 3.4))
  ax = fig.add_subplot(1, 1, 1)
  for label, xs, ys, colour, style in curves:
    ax.plot(xs, ys, color=colour, ls=style, lw=1.5, label=label)
  if curves:
    ax.legend(fontsize=7, frameon=False)
  ax.set_xlabel(xlabel, fontsize=8)
  ax.set_ylabel(ylabel, fontsize=8)
  ax.tick_params(labelsize=7)
  ax.set_title(title, fontsize=9)
  fig.tight_layout()
  return _save(fig, path, dpi)
