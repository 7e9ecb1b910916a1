"""Which bars of a drum track are fills: a small classifier of one bar, trained on Groove.

A fill is the drummer leaving the groove for a bar (or part of one) to mark
the end of a phrase, mostly on the snare and toms. The detector looks at one
bar alone (its :func:`drums_rnn.measure.bars.bar_features`) and says whether it
is a fill, so it labels every bar of any drum track, the fill-like bars
inside long performances included.

Training data: the Groove MIDI Dataset (Gillick et al. 2019, Magenta; CC BY
4.0), its 4/4 files, ``beat_type`` from info.csv:

* *beat bars*: every bar of a ``beat`` file (long performances). The few
  fills a drummer plays inside them stay labelled "beat", noise the detector
  learns through.
* *fill bars*: Groove's ``fill`` files are short snippets: of its 647 fill
  files, 479 are one bar, 131 two and 37 longer. Looking at them, a fill
  often starts with a pickup at the end of one bar and lands on the next
  downbeat (a crash or a kick), so a two-bar fill file is most often a short
  run-up and the fill, and a longer file ends on a bar that holds nothing but
  that landing hit. Every bar of a fill file counts as a fill bar except
  such a *landing bar*, whose hits all fall in its first beat: it belongs to
  the next phrase, and is left out of training (so is an empty bar).
  :func:`fill_file_bars` is this rule.

What the detector does not use: how a bar differs from its neighbours
(:func:`drums_rnn.measure.bars.neighbour_change`). Groove's fill bars are
isolated snippets, so for them that feature would measure the ends of a
file, not a break in a groove, and a detector trained on it would call the
first or last bar of any track a fill.

The classifier (:mod:`drums_rnn.measure.frozen_classifier`, a perceptron
with one hidden layer of 8 units) is fitted on the train split with every
class weighed equally; the threshold on its fill probability is the one
(in steps of 0.01) with the best balanced accuracy on the validation split;
the figures are measured on the test split. All of it is frozen in
``drums_rnn/models/fill_detector.json`` by ``scripts/train_control_labels.py``
and evaluated here with numpy alone.
"""

import dataclasses
import functools
import os
from typing import Dict, Iterable, Tuple

import numpy as np

from drums_rnn.measure import bars
from drums_rnn.errors import DrumsRnnError
from drums_rnn.measure import frozen_classifier

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            'models', 'fill_detector.json')
CLASSES = ('beat', 'fill')
HIDDEN_UNITS = (8,)
REGULARISATION = 1.0
THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)


def fill_file_bars(pattern) -> np.ndarray:
  """[bars] bool: the bars of a Groove fill file that count as fill bars (see the module doc).

  A bar counts unless all its hits fall in its first beat (a landing bar, or
  an empty one).
  """
  return bars.split_bars(pattern)[:, bars.STEPS_PER_BEAT:].any(axis=(1, 2))


def training_examples(tracks: Iterable) -> Tuple[np.ndarray, np.ndarray]:
  """(features [n, bar features], labels [n]: 1 = fill) of Groove tracks.

  Each track has `.pattern` (a DrumPattern of 16-step bars) and `.beat_type`
  ('beat' or 'fill'); the bars of a beat file are all beat bars, those of a
  fill file the ones `fill_file_bars` keeps.
  """
  features, labels = [], []
  for track in tracks:
    track_features = bars.bar_features(track.pattern.classes)
    if track.beat_type == 'fill':
      track_features = track_features[fill_file_bars(track.pattern.classes)]
    features.append(track_features)
    labels.append(np.full(track_features.shape[0], int(track.beat_type == 'fill')))
  if not features:
    return np.zeros((0, len(bars.BAR_FEATURE_NAMES))), np.zeros(0, np.int64)
  return np.concatenate(features), np.concatenate(labels)


@dataclasses.dataclass(frozen=True)
class FillDetector:
  """The frozen fill classifier and its threshold.

  Attributes:
    classifier: beat vs fill on one bar's `bars.bar_features`.
    threshold: a bar is a fill when its fill probability is >= this.
    figures: how it was made and how well it does (from the JSON file).
  """
  classifier: frozen_classifier.FrozenClassifier
  threshold: float
  figures: Dict = dataclasses.field(default_factory=dict, compare=False)

  def fill_probabilities(self, pattern) -> np.ndarray:
    """[bars] float64: the fill probability of each 16-step bar of `pattern` (classes or grid)."""
    return self.classifier.probabilities(bars.bar_features(pattern))[:, 1]

  def label_bars(self, pattern) -> np.ndarray:
    """[bars] bool: whether each 16-step bar of `pattern` (classes or grid) is a fill."""
    return self.fill_probabilities(pattern) >= self.threshold

  def to_dict(self) -> Dict:
    return {'classifier': self.classifier.to_dict(), 'threshold': self.threshold, **self.figures}


def fit(train_tracks, validation_tracks, seed=0) -> FillDetector:
  """Fits the classifier on `train_tracks`, picks the threshold on `validation_tracks`."""
  features, labels = training_examples(train_tracks)
  classifier = frozen_classifier.fit(features, labels, CLASSES, bars.BAR_FEATURE_NAMES, HIDDEN_UNITS,
                                     REGULARISATION, seed)
  features, labels = training_examples(validation_tracks)
  probabilities = classifier.probabilities(features)[:, 1]
  scores = [frozen_classifier.classification_figures(labels, probabilities >= t, CLASSES)
            ['balanced_accuracy'] for t in THRESHOLDS]
  return FillDetector(classifier, float(THRESHOLDS[int(np.argmax(scores))]))


def evaluate(detector: FillDetector, tracks) -> Dict:
  """Figures of `detector` on Groove tracks (beat vs fill bars, as in training).

  Accuracy, balanced accuracy, per-class recall and precision over the
  labelled bars, plus how many bars of the beat files (long performances)
  it calls fills, overall and by the bar's place in a 4-bar phrase (counted
  from each track's first bar).
  """
  features, labels = training_examples(tracks)
  figures = frozen_classifier.classification_figures(
      labels, detector.classifier.probabilities(features)[:, 1] >= detector.threshold, CLASSES)
  called = [detector.label_bars(t.pattern.classes) for t in tracks if t.beat_type == 'beat']
  in_phrase = np.concatenate([np.arange(c.size) % 4 for c in called] or [np.zeros(0, np.int64)])
  called = np.concatenate(called or [np.zeros(0, bool)])
  figures['beat_file_bars'] = {
      'bars': int(called.size),
      'called_fill': int(called.sum()),
      'rate': frozen_classifier.ratio(called.sum(), called.size),
      'rate_by_bar_of_4': [frozen_classifier.ratio(called[in_phrase == k].sum(), (in_phrase == k).sum())
                           for k in range(4)],
  }
  return figures


def save(detector: FillDetector, path=DEFAULT_PATH):
  """Writes the detector (and its figures) as JSON; returns the path."""
  return frozen_classifier.write_json(path, detector.to_dict())


@functools.lru_cache(maxsize=4)
def load(path=DEFAULT_PATH) -> FillDetector:
  """The detector stored at `path` (by default the one shipped in the package); cached."""
  classifier, data = frozen_classifier.load_checked(path, 'fill detector', bars.BAR_FEATURE_NAMES,
                                                    CLASSES)
  threshold = data.get('threshold')
  if not isinstance(threshold, (int, float)) or not 0.0 < threshold < 1.0:
    raise DrumsRnnError(f'{path}: the fill detector\'s threshold must be a number in (0, 1), '
                        f'got {threshold!r}')
  figures = {k: v for k, v in data.items() if k != 'threshold'}
  return FillDetector(classifier, float(threshold), figures)
