"""Rebuilds the two shipped label models of the drum_kit_control config and prints their figures.

Recipe (deterministic: fixed seed, L-BFGS fits):
  1. Reads the 4/4 tracks of the Groove MIDI Dataset's train, validation and
     test splits (info.csv; other meters are skipped and counted).
  2. Measures the quintiles of hits a bar over the train split and checks
     them against `drums_rnn.measure.labels.DENSITY_BIN_EDGES`.
  3. Fill detector (`drums_rnn.measure.fill_detector`): fitted on the train
     split's beat and fill bars, threshold chosen on the validation split,
     figures on the test split -> drums_rnn/models/fill_detector.json.
  4. Style classifier (`drums_rnn.measure.style_classifier`): fitted on the
     train split's 2-bar windows of beat files in five styles, figures on the
     validation and test windows -> drums_rnn/models/style_classifier.json.
  5. Prints the figures, and the control labels of the train split as
     `drums_rnn.measure.labels.count_labels` counts them.

Fitting needs scikit-learn (requirements.txt); using the JSON files needs
numpy only. The Groove MIDI Dataset is by Gillick et al. (2019), Magenta,
CC BY 4.0.

Usage (from the repository root, after scripts/install.sh):
  .venv/bin/python scripts/train_control_labels.py --groove_dir=../shared/data/groove
"""

import json
import os
import sys

import numpy as np
from absl import flags
from absl import logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from drums_rnn.data import groove  # noqa: E402
from drums_rnn.cli import common  # noqa: E402
from drums_rnn.measure import bars  # noqa: E402
from drums_rnn.measure import fill_detector  # noqa: E402
from drums_rnn.measure import labels  # noqa: E402
from drums_rnn.measure import style_classifier  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CREDIT = f'Trained on the {groove.CREDIT}'

FLAGS = flags.FLAGS
flags.DEFINE_string('groove_dir', os.path.join(REPO_ROOT, '..', 'shared', 'data', 'groove'),
                    'Folder of the Groove MIDI Dataset (the one holding info.csv).')
flags.DEFINE_string('fill_detector_output', fill_detector.DEFAULT_PATH,
                    'Where the fill detector is written (JSON).')
flags.DEFINE_string('style_classifier_output', style_classifier.DEFAULT_PATH,
                    'Where the style classifier is written (JSON).')
flags.DEFINE_integer('seed', 0, 'Seed of the perceptron\'s initial weights.')


def _read_splits(groove_dir):
  tracks = {}
  for split in groove.SPLITS:
    tracks[split], skipped = labels.read_groove_tracks(groove_dir, split)
    reasons = ', '.join(f'{count} {reason}' for reason, count in skipped.items() if count)
    logging.info('%s: %d tracks in 4/4%s', split, len(tracks[split]),
                 f' (skipped: {reasons})' if reasons else '')
  return tracks


def _density_check(train_tracks):
  """The measured quintile edges of hits a bar, and the share of train bars in each shipped bin."""
  hits = np.concatenate([bars.hits_per_bar(t.pattern.classes) for t in train_tracks])
  measured = [float(q) for q in np.quantile(hits, labels.DENSITY_QUANTILES)]
  shares = np.bincount(labels.density_bins(hits), minlength=labels.NUM_DENSITY_BINS) / hits.size
  if tuple(measured) != labels.DENSITY_BIN_EDGES:
    logging.warning('the train split\'s quintiles of hits a bar are %s, not labels.DENSITY_BIN_EDGES %s',
                    measured, labels.DENSITY_BIN_EDGES)
  return {'bars': int(hits.size), 'quintile_edges': measured, 'shipped_edges': list(labels.DENSITY_BIN_EDGES),
          'share_of_bars_per_bin': [round(float(s), 4) for s in shares]}


def _fill_data(tracks):
  """Counts of the detector's training bars and their toms a bar."""
  features, is_fill = fill_detector.training_examples(tracks)
  toms = features[:, bars.BAR_FEATURE_NAMES.index('toms')]
  return {'fill_bars': int(is_fill.sum()), 'beat_bars': int((is_fill == 0).sum()),
          'toms_per_fill_bar': round(float(toms[is_fill == 1].mean()), 2),
          'toms_per_beat_bar': round(float(toms[is_fill == 0].mean()), 2)}


def _train_fill_detector(tracks, seed):
  detector = fill_detector.fit(tracks['train'], tracks['validation'], seed)
  figures = {
      'model': 'drums_rnn fill detector: is this 16-step 4/4 bar a fill?',
      'credit': CREDIT,
      'recipe': f'scripts/train_control_labels.py --seed={seed}',
      'fill_bars_rule': ('every bar of a Groove fill file except a landing bar (all its hits in its first '
                         'beat) or an empty one; every bar of a beat file is a beat bar'),
      'features': 'drums_rnn.measure.bars.bar_features of the bar alone',
      'hidden_units': list(fill_detector.HIDDEN_UNITS),
      'regularisation': fill_detector.REGULARISATION,
      'threshold_rule': ('the fill probability threshold (in steps of 0.01) with the best balanced accuracy '
                         'on the validation bars'),
      'data': {split: _fill_data(tracks[split]) for split in groove.SPLITS},
      'validation': fill_detector.evaluate(detector, tracks['validation']),
      'test': fill_detector.evaluate(detector, tracks['test']),
  }
  detector = fill_detector.FillDetector(detector.classifier, detector.threshold, figures)
  fill_detector.save(detector, FLAGS.fill_detector_output)
  return detector


def _train_style_classifier(tracks, seed):
  classifier = style_classifier.fit(tracks['train'], seed)
  train_windows = style_classifier.training_examples(tracks['train'], window_hop=1)[1]
  figures = {
      'model': 'drums_rnn style classifier: rock, latin, funk, jazz or hiphop, from a 2-bar window',
      'credit': CREDIT,
      'recipe': f'scripts/train_control_labels.py --seed={seed}',
      'windows': ('two 16-step 4/4 bars of a Groove beat file; figures on bars 0-1, 2-3, ...; '
                  'training also on bars 1-2, 3-4, ...'),
      'regularisation': style_classifier.REGULARISATION,
      'train_windows': {s: int(np.sum(train_windows == i)) for i, s in enumerate(style_classifier.STYLES)},
      'validation': style_classifier.evaluate(classifier, tracks['validation']),
      'test': style_classifier.evaluate(classifier, tracks['test']),
  }
  classifier = style_classifier.StyleClassifier(classifier.classifier, figures)
  style_classifier.save(classifier, FLAGS.style_classifier_output)
  return classifier


def main(argv):
  del argv
  tracks = _read_splits(FLAGS.groove_dir)
  density = _density_check(tracks['train'])
  print('density, train split:', json.dumps(density))
  detector = _train_fill_detector(tracks, FLAGS.seed)
  print(f'fill detector -> {FLAGS.fill_detector_output}: threshold {detector.threshold}')
  for part in ('data', 'validation', 'test'):
    print(f'  {part}:', json.dumps(detector.figures[part]))
  classifier = _train_style_classifier(tracks, FLAGS.seed)
  print(f'style classifier -> {FLAGS.style_classifier_output}')
  for part in ('train_windows', 'validation', 'test'):
    print(f'  {part}:', json.dumps(classifier.figures[part]))
  counts = labels.count_labels(
      labels.label_track(t.pattern, t.style, detector) for t in tracks['train'])
  print('control labels of the train split:')
  for line in labels.count_lines(counts):
    print(' ', line)
  return 0


if __name__ == '__main__':
  common.run(main, __name__)
