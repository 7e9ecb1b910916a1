"""Per-bar control labels of a drum track: its style, which bars are fills, how dense each bar is.

The ``drum_kit_control`` config conditions the Drums RNN on three controls
per bar, any of which may be disabled:

* **style**, one of :data:`STYLES` for the whole track. For the Groove MIDI
  Dataset (Gillick et al. 2019, Magenta; CC BY 4.0) it comes from info.csv's
  style column, mapped by :func:`groove_style`; for the user's own folders
  from a CSV of ``path,style`` rows (:func:`read_style_csv`,
  :func:`style_of`). A track without a known style has it disabled (None).
* **fill**: whether the bar is a fill, from the shipped detector
  (:mod:`drums_rnn.measure.fill_detector`).
* **density**: the bar's hits, its struck (step, drum type) cells
  (:func:`drums_rnn.measure.bars.hits_per_bar`), in one of
  :data:`NUM_DENSITY_BINS` bins (:func:`density_bins`).

:func:`count_labels` counts the bars of each label, for the dataset command
to report.
"""

import collections
import csv
import dataclasses
import os
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np
from absl import logging

from drums_rnn import controls
from drums_rnn.data import dataset
from drums_rnn.data import groove
from drums_rnn.measure import patterns
from drums_rnn.measure import bars
from drums_rnn.measure import fill_detector
from drums_rnn.errors import ArgumentError
from drums_rnn.errors import DrumsRnnError

# The vocabulary and bin edges of drum_kit_control (drums_rnn.controls, where their measurement is
# described); hits are whole numbers, so the quintile bins hold 16%, 22%, 18%, 21% and 23% of the
# Groove train split's 17,418 4/4 bars.
SPEC = controls.ControlSpec()
STYLES = SPEC.styles
DENSITY_BIN_EDGES = SPEC.density_edges
DENSITY_QUANTILES = (0.2, 0.4, 0.6, 0.8)
NUM_DENSITY_BINS = SPEC.num_density_bins


def groove_style(style: str) -> str:
  """The vocabulary style of a Groove info.csv style: its genre before '/', else 'other'.

  'funk/groove1' -> 'funk', 'latin/brazilian-samba' -> 'latin', 'neworleans/funk' ->
  'neworleans', 'afrocuban/bembe' -> 'afrocuban', 'hiphop' -> 'hiphop'; 'soul/motown',
  'punk', 'country', 'dance/disco', ... -> 'other'.
  """
  genre = style.strip().lower().split('/')[0]
  return genre if genre in STYLES else 'other'


def density_bins(hits) -> np.ndarray:
  """int64 array: the density bin (0 .. NUM_DENSITY_BINS - 1) of each count of hits a bar."""
  return SPEC.density_bin(hits)


@dataclasses.dataclass(frozen=True)
class TrackLabels:
  """The controls of each bar of one track.

  Attributes:
    style: the track's style (one of STYLES), or None when disabled.
    density: [bars] int64 hits a bar.
    density_bin: [bars] int64 bin of `density`.
    fill: [bars] bool, whether the bar is a fill.
  """
  style: Optional[str]
  density: np.ndarray
  density_bin: np.ndarray
  fill: np.ndarray

  @property
  def num_bars(self) -> int:
    return int(self.density.shape[0])


def bar_classes(pattern) -> np.ndarray:
  """The class indices of a track in 16-step bars: a DrumPattern in 4/4, or classes as they are.

  Raises a DrumsRnnError for a DrumPattern in another meter: the controls
  are measured on 4/4 bars of 16 steps.
  """
  if isinstance(pattern, patterns.DrumPattern):
    if pattern.steps_per_bar != bars.STEPS_PER_BAR or pattern.steps_per_beat != bars.STEPS_PER_BEAT:
      raise DrumsRnnError(
          f'control labels need 4/4 bars of {bars.STEPS_PER_BAR} steps; {pattern.source or "the track"} '
          f'is in {pattern.numerator}/{pattern.denominator} at {pattern.steps_per_quarter} steps a quarter')
    return pattern.classes
  return np.asarray(pattern)


def check_style(style: Optional[str]) -> Optional[str]:
  """`style` if it is None or in STYLES, else a DrumsRnnError that lists the vocabulary."""
  if style is not None and style not in STYLES:
    raise DrumsRnnError(f'unknown style {style!r}: choose one of {", ".join(STYLES)}')
  return style


def label_track(pattern, style: Optional[str] = None, detector=None) -> TrackLabels:
  """The controls of every bar of `pattern` (a 4/4 DrumPattern, or class indices in 16-step bars).

  Args:
    style: the track's style (None = disabled).
    detector: a FillDetector; by default the one shipped in the package.
  """
  classes = bar_classes(pattern)
  detector = detector or fill_detector.load()
  density = bars.hits_per_bar(classes)
  return TrackLabels(check_style(style), density, density_bins(density), detector.label_bars(classes))


# --- styles of files ------------------------------------------------------------


def _path_key(path) -> str:
  """A file's key in a style map: its real path (links resolved), so a link farm finds its styles."""
  return os.path.normcase(os.path.realpath(path))


def groove_styles(groove_dir) -> Dict[str, str]:
  """{absolute MIDI path: vocabulary style} of every file in Groove's info.csv."""
  return {_path_key(row['midi_filename']): groove_style(row.get('style', ''))
          for row in groove.read_info(groove_dir)}


def read_style_csv(path) -> Dict[str, Optional[str]]:
  """{absolute path: style or None} from a CSV of `path,style` rows.

  A path names a MIDI file or a folder (whose files all get that style);
  relative paths are taken from the CSV's own folder. A header row
  `path,style` and blank lines are skipped. A style outside STYLES (case and
  spaces aside) is disabled (None), with one warning listing them.
  """
  base = os.path.dirname(os.path.abspath(path))
  styles, unknown = {}, set()
  try:
    with open(path, newline='', encoding='utf-8') as f:
      for line_number, row in enumerate(csv.reader(f), 1):
        if not row or not ''.join(row).strip():
          continue
        if len(row) != 2:
          raise DrumsRnnError(f'{path}, line {line_number}: expected 2 fields (path,style), got {len(row)}')
        name, style = row[0].strip(), row[1].strip().lower()
        if line_number == 1 and (name.lower(), style) == ('path', 'style'):
          continue
        if style not in STYLES:
          unknown.add(style)
          style = None
        styles[_path_key(os.path.join(base, name))] = style
  except OSError as e:
    raise DrumsRnnError(f'cannot read the style CSV {path!r}: {e.strerror or e}') from None
  except (csv.Error, UnicodeDecodeError) as e:
    raise DrumsRnnError(f'cannot read the style CSV {path!r}: {e}') from None
  if unknown:
    logging.warning('%s: styles %s are not in the vocabulary (%s); those tracks have style disabled',
                    path, ', '.join(sorted(repr(s) for s in unknown)), ', '.join(STYLES))
  return styles


def style_of(path, styles: Dict[str, Optional[str]]) -> Optional[str]:
  """The style of the file `path` in `styles` (from `read_style_csv` or `groove_styles`).

  The file's own row wins, else the nearest folder above it that has one;
  None (disabled) when neither is listed.
  """
  key = _path_key(path)
  while True:
    if key in styles:
      return styles[key]
    parent = os.path.dirname(key)
    if parent == key:
      return None
    key = parent


# --- Groove tracks ---------------------------------------------------------------


@dataclasses.dataclass
class GrooveTrack:
  """One 4/4 drum track of the Groove MIDI Dataset with what info.csv says about it.

  Attributes:
    pattern: the DrumPattern read from the MIDI file.
    style: its vocabulary style (`groove_style` of info.csv's style).
    beat_type: info.csv's beat_type, 'beat' (a performance) or 'fill' (a short fill snippet).
  """
  pattern: patterns.DrumPattern
  style: str
  beat_type: str


def read_groove_tracks(groove_dir, split) -> Tuple[List[GrooveTrack], Dict[str, int]]:
  """The 4/4 tracks of one Groove split, and counts of what was skipped (other meters, ...)."""
  paths = groove.split_files(groove_dir, split)
  rows = {_path_key(row['midi_filename']): row for row in groove.read_info(groove_dir)}
  read, skipped = patterns.read_drum_patterns(paths)
  skipped['not 4/4'] = 0
  tracks = []
  for pattern in read:
    if (pattern.numerator, pattern.denominator) != (4, 4):
      skipped['not 4/4'] += 1
      continue
    # A file split at a tempo or meter change gives pieces named '<path>#<k>'.
    row = rows.get(_path_key(pattern.source)) or rows[_path_key(pattern.source.rsplit('#', 1)[0])]
    tracks.append(GrooveTrack(pattern, groove_style(row.get('style', '')), row.get('beat_type', '')))
  return tracks, skipped


# --- the controls of a dataset's tracks ------------------------------------------------------


class TrackControls:
  """Per-step control values of the tracks a controlled config's dataset is made of.

  Called in the dataset's worker processes (numpy only) for each extracted
  track: density and fill come from the track's own bars (the shipped fill
  detector), style from `styles` (a map from :func:`groove_styles` /
  :func:`read_style_csv`) by the file the track was read from. So that a
  model learns to play with any subset of controls, each control of a track
  is disabled with probability `disable_probability`, drawn from a hash of
  (seed, track key, control): the same dataset every run, whatever the
  number of workers.

  Args:
    spec: the config's ControlSpec.
    styles: {path key: style or None}; files not in it have style disabled.
    seed: seeds the disabling draws.
    disable_probability: chance that a control of a track is disabled.
  """

  def __init__(self, spec, styles=None, seed=0, disable_probability=0.5):
    if not 0.0 <= disable_probability <= 1.0:
      raise ArgumentError(f'{{control_dropout}} must be in [0, 1], got {disable_probability}',
                          'control_dropout')
    self.spec = spec
    self.styles = dict(styles or {})
    self.seed = seed
    self.disable_probability = float(disable_probability)
    self.detector = fill_detector.load()  # loaded once, before the workers fork

  def __call__(self, classes, source, key):
    steps = len(classes)
    style = style_of(source, self.styles) if source else None
    values = np.stack([
        np.full(steps, self.spec.style_index(style), np.int64),
        np.repeat(self.detector.label_bars(classes).astype(np.int64), bars.STEPS_PER_BAR)[:steps],
        np.repeat(self.spec.density_bin(bars.hits_per_bar(classes)), bars.STEPS_PER_BAR)[:steps]])
    for which in range(len(controls.NAMES)):
      if dataset.eval_fraction(self.seed, f'{key}/{controls.NAMES[which]}') < self.disable_probability:
        values[which] = controls.DISABLED
    return values


# --- counts -----------------------------------------------------------------------


def count_labels(track_labels: Iterable[TrackLabels]) -> Dict[str, Dict[str, int]]:
  """Bars per label of each control: {'style': {...}, 'fill': {...}, 'density_bin': {...}}.

  Style counts are in STYLES order plus 'disabled'; fill counts 'fill' and
  'no fill'; density counts each bin by its number ('0' .. '4').
  """
  style = collections.Counter()
  fill = collections.Counter()
  density = collections.Counter()
  for labels in track_labels:
    style[labels.style or 'disabled'] += labels.num_bars
    fill['fill'] += int(labels.fill.sum())
    fill['no fill'] += int((~labels.fill).sum())
    density.update(str(b) for b in labels.density_bin.tolist())
  return {
      'style': {name: style[name] for name in STYLES + ('disabled',)},
      'fill': {name: fill[name] for name in ('fill', 'no fill')},
      'density_bin': {str(b): density[str(b)] for b in range(NUM_DENSITY_BINS)},
  }


def density_bin_names() -> List[str]:
  """A readable range of hits a bar for each density bin ('< 13', '13-16', ..., '>= 24')."""
  return SPEC.density_bin_names()


def count_lines(counts: Dict[str, Dict[str, int]]) -> List[str]:
  """The counts of `count_labels` as lines of text, one per control."""
  names = density_bin_names()
  return [
      'style (bars): ' + ', '.join(f'{k} {v}' for k, v in counts['style'].items()),
      'fill (bars): ' + ', '.join(f'{k} {v}' for k, v in counts['fill'].items()),
      'density bin (bars, hits a bar): ' + ', '.join(
          f'{k} [{names[int(k)]}] {v}' for k, v in counts['density_bin'].items()),
  ]
