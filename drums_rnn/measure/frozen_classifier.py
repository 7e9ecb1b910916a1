"""A small classifier fitted once, frozen as JSON numbers and evaluated with numpy alone.

The shipped label models (the fill detector, the style classifier) are fitted
by scikit-learn in ``scripts/train_control_labels.py`` and stored as plain
numbers, so that using them needs no scikit-learn and no TensorFlow, and
gives the same answer on every machine and in every later version.

The model is a multilayer perceptron (no hidden layer = logistic
regression): each feature x becomes log(1 + x) (the features are counts and
shares >= 0, and counts of hits matter in ratios: 2 toms against 0 says more
than 14 against 12), is standardised with the train split's mean and scale,
and passes through dense layers with ReLU between them; the last layer's
outputs are a softmax over the classes. A two-class model has a single
output unit, as scikit-learn stores it: the logistic of the second class.

Fitting weighs every class equally (balanced sample weights), since Groove's
classes are far from even (16 beat bars for every fill bar).
"""

import dataclasses
import json
from typing import Dict, Sequence, Tuple

import numpy as np
from scipy import special

from drums_rnn import files
from drums_rnn.errors import DrumsRnnError


@dataclasses.dataclass(frozen=True)
class FrozenClassifier:
  """Standardise log(1 + features), dense ReLU layers, softmax over `classes`.

  Attributes:
    classes: the class names, in output order.
    feature_names: the name of each input column (checked against the code
      that computes them when loading).
    mean, scale: [features] the train split's mean and standard deviation of
      log(1 + feature).
    layers: (weights [in, out], bias [out]) of each dense layer.
  """
  classes: Tuple[str, ...]
  feature_names: Tuple[str, ...]
  mean: np.ndarray
  scale: np.ndarray
  layers: Tuple[Tuple[np.ndarray, np.ndarray], ...]

  def probabilities(self, features) -> np.ndarray:
    """[n, classes] float64 class probabilities of `features` [n, feature_names]."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[1] != len(self.feature_names):
      raise DrumsRnnError(f'the classifier takes [n, {len(self.feature_names)}] features, '
                          f'got shape {features.shape}')
    values = (np.log1p(features) - self.mean) / self.scale
    for index, (weights, bias) in enumerate(self.layers):
      values = values @ weights + bias
      if index < len(self.layers) - 1:
        values = np.maximum(values, 0.0)
    if values.shape[1] == 1:
      positive = special.expit(values[:, 0])
      return np.stack([1.0 - positive, positive], axis=1)
    return special.softmax(values, axis=1)

  def to_dict(self) -> Dict:
    """The JSON-ready form (lists of floats)."""
    return {
        'classes': list(self.classes),
        'feature_names': list(self.feature_names),
        'feature_transform': 'log1p, then (x - mean) / scale',
        'mean': self.mean.tolist(),
        'scale': self.scale.tolist(),
        'layers': [{'weights': w.tolist(), 'bias': b.tolist()} for w, b in self.layers],
        'activation': 'relu between layers, softmax (or logistic of one unit) at the end',
    }

  @classmethod
  def from_dict(cls, data, source) -> 'FrozenClassifier':
    """The classifier stored by `to_dict`; a DrumsRnnError naming `source` if it is malformed."""
    try:
      classifier = cls(
          classes=tuple(str(c) for c in data['classes']),
          feature_names=tuple(str(n) for n in data['feature_names']),
          mean=np.asarray(data['mean'], np.float64),
          scale=np.asarray(data['scale'], np.float64),
          layers=tuple((np.asarray(layer['weights'], np.float64), np.asarray(layer['bias'], np.float64))
                       for layer in data['layers']))
    except (KeyError, TypeError, ValueError) as e:
      raise DrumsRnnError(f'{source}: not a frozen classifier ({type(e).__name__}: {e})') from None
    classifier.check(source)
    return classifier

  def check(self, source):
    """Raises a DrumsRnnError naming `source` unless the shapes fit together."""
    width = len(self.feature_names)
    shapes_fit = (self.mean.shape == (width,) and self.scale.shape == (width,)
                  and bool(self.layers) and np.all(self.scale > 0))
    for weights, bias in self.layers:
      shapes_fit = shapes_fit and weights.ndim == 2 and weights.shape[0] == width
      shapes_fit = shapes_fit and bias.shape == (weights.shape[1],)
      width = weights.shape[1]
    outputs = 1 if len(self.classes) == 2 else len(self.classes)
    if not (shapes_fit and width == outputs):
      raise DrumsRnnError(f'{source}: the classifier\'s layer shapes do not fit its '
                          f'{len(self.feature_names)} features and {len(self.classes)} classes')


def fit(features, labels, classes: Sequence[str], feature_names: Sequence[str],
        hidden_units: Sequence[int], regularisation: float, seed: int) -> FrozenClassifier:
  """Fits a classifier with scikit-learn (L-BFGS, balanced class weights) and freezes it.

  Args:
    features: [n, feature_names] training features (>= 0).
    labels: [n] int class indices into `classes`; every class must occur.
    hidden_units: sizes of the hidden layers; () fits a logistic regression.
    regularisation: the L2 penalty (scikit-learn's `alpha`; 1 / C for the
      logistic regression).
    seed: the weight initialisation's seed (the fit is deterministic).
  """
  # scikit-learn is needed only here, to fit; using the result needs numpy alone.
  from sklearn import linear_model  # pylint: disable=import-outside-toplevel
  from sklearn import neural_network  # pylint: disable=import-outside-toplevel
  from sklearn.utils import class_weight  # pylint: disable=import-outside-toplevel
  features = np.log1p(np.asarray(features, np.float64))
  labels = np.asarray(labels, np.int64)
  missing = sorted(set(range(len(classes))) - set(labels.tolist()))
  if missing:
    raise DrumsRnnError(f'cannot fit a classifier: no training example of {[classes[i] for i in missing]}')
  mean = features.mean(axis=0)
  scale = features.std(axis=0)
  scale[scale == 0] = 1.0
  standardised = (features - mean) / scale
  weights = class_weight.compute_sample_weight('balanced', labels)
  if hidden_units:
    model = neural_network.MLPClassifier(tuple(hidden_units), alpha=regularisation, solver='lbfgs',
                                         max_iter=3000, random_state=seed)
    model.fit(standardised, labels, sample_weight=weights)
    layers = tuple(zip(model.coefs_, model.intercepts_))
  else:
    model = linear_model.LogisticRegression(C=1.0 / regularisation, max_iter=5000)
    model.fit(standardised, labels, sample_weight=weights)
    layers = ((model.coef_.T.copy(), model.intercept_.copy()),)
  return FrozenClassifier(tuple(classes), tuple(feature_names), mean, scale, layers)


def classification_figures(truth, predicted, classes: Sequence[str]) -> Dict:
  """Accuracy, balanced accuracy, and per class count, recall and precision, rounded to 4 places.

  `truth` and `predicted` are [n] class indices into `classes` (or bools for
  two classes). Balanced accuracy is the mean recall over the classes that
  occur in `truth`; a recall or precision with nothing to divide by is None.
  """
  truth = np.asarray(truth, np.int64)
  predicted = np.asarray(predicted, np.int64)
  figures = {'examples': int(truth.size), 'count': {}, 'recall': {}, 'precision': {}}
  recalls = []
  for index, name in enumerate(classes):
    is_true, is_predicted = truth == index, predicted == index
    hits = int(np.sum(is_true & is_predicted))
    figures['count'][name] = int(is_true.sum())
    figures['recall'][name] = ratio(hits, is_true.sum())
    figures['precision'][name] = ratio(hits, is_predicted.sum())
    if is_true.any():
      recalls.append(hits / is_true.sum())
  figures['accuracy'] = ratio(np.sum(truth == predicted), truth.size)
  figures['balanced_accuracy'] = round(float(np.mean(recalls)), 4) if recalls else None
  return figures


def ratio(count, total):
  """count / total rounded to 4 places; None (JSON null) when total is 0."""
  return round(float(count) / float(total), 4) if total else None


def read_json(path, what) -> Dict:
  """The JSON object in `path`, or a DrumsRnnError saying which file (`what`) is missing or broken."""
  try:
    with open(path, encoding='utf-8') as f:
      data = json.load(f)
  except OSError as e:
    raise files.read_error(path, e) from None
  except ValueError as e:
    raise DrumsRnnError(f'cannot read the {what} {path!r}: not JSON ({e})') from None
  if not isinstance(data, dict):
    raise DrumsRnnError(f'cannot read the {what} {path!r}: not a JSON object')
  return data


def write_json(path, data):
  """Writes `data` as indented JSON with the safe writer; returns `path`."""
  return files.write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True) + '\n')


def load_checked(path, what, feature_names, classes):
  """(FrozenClassifier, the file's other entries) of the JSON at `path`, refused with one
  DrumsRnnError when it was made for other features or classes than this version computes."""
  data = read_json(path, what)
  classifier = FrozenClassifier.from_dict(data.get('classifier', {}), path)
  if classifier.feature_names != tuple(feature_names) or classifier.classes != tuple(classes):
    raise DrumsRnnError(f'{path}: the {what} was made for other features or classes than this '
                        'version computes; rebuild it with scripts/train_control_labels.py')
  return classifier, {k: v for k, v in data.items() if k != 'classifier'}
