"""Which of five styles a 2-bar drum window is: rock, latin, funk, jazz or hip-hop.

It judges whether generated grooves follow the requested style, so it is
trained once, on real drumming only, and frozen: the windows of the Groove
MIDI Dataset's (Gillick et al. 2019, Magenta; CC BY 4.0) train-split beat
files (4/4 performances) whose info.csv style maps to one of the five
(:func:`drums_rnn.measure.labels.groove_style`). Its balanced accuracy on the
test split's windows is the reference a generator is held to (chance is
0.20); the figures are in ``drums_rnn/models/style_classifier.json``.

A window is two consecutive bars of 16 steps; a track gives its windows
bars 0-1, 2-3, ... (a last odd bar is left out). What tells the styles
apart (Groove's styles differ on average in toms 0.3-2.0 a bar, hi-hat
2.8-10.2, ride 0.7-5.0, syncopation 0.15-0.98) and where in the bar each
drum plays (a samba's kick, a swung ride, a half-time snare), so a window's
features are the mean of its two bars' :func:`drums_rnn.measure.bars.bar_features`,
how much the second bar differs from the first, and its hit grid averaged
over the two bars (how often each drum type is struck at each of the 16
steps: 0, 0.5 or 1).

The classifier is a multinomial logistic regression
(:mod:`drums_rnn.measure.frozen_classifier`) with every style weighed
equally, fitted on the train windows that start at every bar (twice the
plain windows); its L2 penalty was chosen on the validation split. A small
perceptron did worse there (0.60-0.65 against 0.69).
"""

import dataclasses
import functools
import os
from typing import Dict, List

import numpy as np

from drums_rnn import encoding
from drums_rnn.measure import bars
from drums_rnn.errors import DrumsRnnError
from drums_rnn.measure import frozen_classifier

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            'models', 'style_classifier.json')
STYLES = ('rock', 'latin', 'funk', 'jazz', 'hiphop')
WINDOW_BARS = 2
HIDDEN_UNITS = ()
# 1 / C of the logistic regression, chosen on the validation split among C = 0.003, 0.01, 0.03
# (balanced accuracy 0.693, 0.688, 0.678 on its windows).
REGULARISATION = 1 / 0.003

WINDOW_FEATURE_NAMES = (
    *bars.BAR_FEATURE_NAMES,
    'bar_change',
    *(f'grid_{voice}_{step}' for voice in encoding.DRUM_VOICE_NAMES for step in range(bars.STEPS_PER_BAR)),
)


def window_features(pattern) -> np.ndarray:
  """[windows, WINDOW_FEATURE_NAMES] float64 of `pattern` (class indices or a grid, 16-step bars)."""
  split = bars.split_bars(pattern)
  count = split.shape[0] // WINDOW_BARS
  if not count:
    return np.zeros((0, len(WINDOW_FEATURE_NAMES)))
  in_windows = split[:count * WINDOW_BARS]
  per_bar = bars.bar_features(in_windows.reshape(-1, split.shape[2]))
  change = bars.neighbour_change(in_windows.reshape(-1, split.shape[2]))[::WINDOW_BARS, 1]
  grid = in_windows.reshape(count, WINDOW_BARS, bars.STEPS_PER_BAR, -1).mean(axis=1)
  return np.concatenate([
      per_bar.reshape(count, WINDOW_BARS, -1).mean(axis=1),
      change[:, None],
      grid.transpose(0, 2, 1).reshape(count, -1),
  ], axis=1)


@dataclasses.dataclass(frozen=True)
class StyleClassifier:
  """The frozen style classifier of 2-bar windows.

  Attributes:
    classifier: STYLES from `window_features`.
    figures: how it was made and how well it does (from the JSON file).
  """
  classifier: frozen_classifier.FrozenClassifier
  figures: Dict = dataclasses.field(default_factory=dict, compare=False)

  def probabilities(self, pattern) -> np.ndarray:
    """[windows, STYLES] float64: each 2-bar window's probability of each style."""
    return self.classifier.probabilities(window_features(pattern))

  def predict(self, pattern) -> List[str]:
    """The most likely style of each 2-bar window of `pattern`."""
    return [STYLES[i] for i in np.argmax(self.probabilities(pattern), axis=1)]

  def to_dict(self) -> Dict:
    return {'classifier': self.classifier.to_dict(), **self.figures}


def training_examples(tracks, window_hop=WINDOW_BARS):
  """(features [n, WINDOW_FEATURE_NAMES], labels [n] into STYLES) of Groove tracks.

  Each track has `.pattern`, `.style` and `.beat_type`; only beat files of
  the five STYLES count. `window_hop` is the number of bars between the
  starts of consecutive windows: 2 takes the plain windows (bars 0-1, 2-3,
  ...), 1 also those in between (bars 1-2, 3-4, ...: twice the training
  windows). The figures use the plain windows.
  """
  if window_hop not in (1, WINDOW_BARS):
    raise DrumsRnnError(f'window_hop must be 1 or {WINDOW_BARS} bars, got {window_hop}')
  features, styles = [], []
  for track in tracks:
    if track.beat_type != 'beat' or track.style not in STYLES:
      continue
    classes = track.pattern.classes
    for start in range(0, WINDOW_BARS, window_hop):
      windows = window_features(classes[start * bars.STEPS_PER_BAR:])
      features.append(windows)
      styles.append(np.full(windows.shape[0], STYLES.index(track.style)))
  if not features:
    return np.zeros((0, len(WINDOW_FEATURE_NAMES))), np.zeros(0, np.int64)
  return np.concatenate(features), np.concatenate(styles)


def fit(train_tracks, seed=0, window_hop=1) -> StyleClassifier:
  """Fits the classifier on the windows of `train_tracks` (see `training_examples`)."""
  features, styles = training_examples(train_tracks, window_hop)
  return StyleClassifier(frozen_classifier.fit(features, styles, STYLES, WINDOW_FEATURE_NAMES,
                                               HIDDEN_UNITS, REGULARISATION, seed))


def evaluate(classifier: StyleClassifier, tracks) -> Dict:
  """Balanced accuracy, accuracy and per-style recall on the windows of Groove tracks."""
  features, styles = training_examples(tracks)
  predicted = np.argmax(classifier.classifier.probabilities(features), axis=1)
  return frozen_classifier.classification_figures(styles, predicted, STYLES)


def save(classifier: StyleClassifier, path=DEFAULT_PATH):
  """Writes the classifier (and its figures) as JSON; returns the path."""
  return frozen_classifier.write_json(path, classifier.to_dict())


@functools.lru_cache(maxsize=4)
def load(path=DEFAULT_PATH) -> StyleClassifier:
  """The classifier stored at `path` (by default the one shipped in the package); cached."""
  classifier, figures = frozen_classifier.load_checked(path, 'style classifier', WINDOW_FEATURE_NAMES,
                                                       STYLES)
  return StyleClassifier(classifier, figures)

