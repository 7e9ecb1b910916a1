"""Per-bar features, control labels, the fill detector and the style classifier (drums_rnn.data, .measure).

Hand-built patterns check what each feature and label means; the shipped
JSON models are checked for loading, determinism and plain cases (a tom
fill is a fill, a rock beat is not); the Groove-backed test checks their
figures on the Groove MIDI Dataset's (Gillick et al. 2019, Magenta; CC BY
4.0) test split.
"""

import json
import logging
import subprocess
import sys

import numpy as np
import pytest

from drums_rnn import encoding
from drums_rnn import midi
from drums_rnn.measure import patterns
from drums_rnn.measure import bars
from drums_rnn.measure import fill_detector
from drums_rnn.measure import labels
from drums_rnn.errors import DrumsRnnError
from drums_rnn.measure import frozen_classifier
from drums_rnn.measure import style_classifier
from tests import helpers

KICK, SNARE, HAT, LOW_TOM, MID_TOM, HIGH_TOM, CRASH = 36, 38, 42, 45, 48, 50, 49


def classes_of(hits, bars_count):
  """drum_kit class indices of (step, pitch) hits over `bars_count` 16-step bars."""
  steps, pitches = zip(*hits) if hits else ((), ())
  return encoding.DRUM_KIT.classes_from_onsets(steps, pitches, bars_count * 16)


def tom_fill(bar):
  """(step, pitch) hits of a fill bar: kick and hat on one, snare, then down the toms."""
  fill = [(0, KICK), (0, HAT), (3, SNARE), (4, SNARE), (6, SNARE), (7, SNARE), (8, HIGH_TOM),
          (10, HIGH_TOM), (11, MID_TOM), (12, MID_TOM), (14, LOW_TOM), (15, LOW_TOM)]
  return [(bar * 16 + step, pitch) for step, pitch in fill]


def groove_with_fills(bars_count=8):
  """A rock beat whose every 4th bar is a tom fill."""
  hits = []
  for bar in range(bars_count):
    if bar % 4 == 3:
      hits += tom_fill(bar)
    else:
      hits += [(bar * 16 + step, pitch) for step, pitch in helpers.basic_beat(1)]
  return classes_of(hits, bars_count)


# --- bar features ------------------------------------------------------------------


def feature(values, name):
  return values[:, bars.BAR_FEATURE_NAMES.index(name)]


def test_bar_features_of_a_rock_beat():
  classes = classes_of(helpers.basic_beat(2), 2)
  values = bars.bar_features(classes)
  assert values.shape == (2, len(bars.BAR_FEATURE_NAMES))
  np.testing.assert_array_equal(feature(values, 'hits'), [12, 12])  # 8 hats, 2 kicks, 2 snares
  np.testing.assert_array_equal(feature(values, 'hits_closed_hihat'), [8, 8])
  np.testing.assert_array_equal(feature(values, 'onsets'), [8, 8])
  np.testing.assert_array_equal(feature(values, 'toms'), [0, 0])
  np.testing.assert_array_equal(feature(values, 'last_beat_share'), [3 / 12, 3 / 12])
  np.testing.assert_array_equal(feature(values, 'longest_fill_run'), [1, 1])
  np.testing.assert_array_equal(feature(values, 'syncopation'), [0, 0])
  np.testing.assert_array_equal(feature(values, 'symmetry'), [1, 1])
  np.testing.assert_array_equal(bars.neighbour_change(classes), [[np.nan, 0.0], [0.0, np.nan]])


def test_a_tom_fill_shows_in_its_bar_and_breaks_the_groove():
  classes = groove_with_fills(4)
  values = bars.bar_features(classes)
  np.testing.assert_array_equal(feature(values, 'toms'), [0, 0, 0, 6])
  np.testing.assert_array_equal(feature(values, 'longest_fill_run'), [1, 1, 1, 3])  # steps 6-8, 10-12
  assert feature(values, 'centre')[3] > feature(values, 'centre')[2]
  assert feature(values, 'symmetry')[3] == 0 < feature(values, 'symmetry')[2]
  change = bars.neighbour_change(classes)
  assert change[2, 0] == 0.0 and change[3, 0] > 0.5 and change[2, 1] == change[3, 0]


def test_density_counts_struck_cells_of_drum_types():
  # A kick and a hat at one step are two hits; two snare pitches at one step are one.
  classes = encoding.DRUM_KIT.classes_from_events([{KICK, HAT}, {38, 40}] + [set()] * 14 + [{CRASH}])
  np.testing.assert_array_equal(bars.hits_per_bar(classes), [3, 1])  # the partial 2nd bar is padded
  np.testing.assert_array_equal(bars.hits_per_bar(encoding.classes_to_hits(classes)), [3, 1])  # grid = classes
  assert bars.bar_features(np.zeros(0, np.int64)).shape == (0, len(bars.BAR_FEATURE_NAMES))


def test_an_empty_bar_has_neutral_features():
  values = bars.bar_features(np.zeros(16, np.int64))
  assert feature(values, 'hits')[0] == 0 and feature(values, 'centre')[0] == 0.5
  assert feature(values, 'last_beat_share')[0] == 0 and feature(values, 'symmetry')[0] == 1


# --- labels ------------------------------------------------------------------------


def test_density_bins_follow_the_edges():
  assert labels.DENSITY_BIN_EDGES == (13, 17, 20, 24)
  np.testing.assert_array_equal(labels.density_bins([0, 12, 13, 16, 17, 19, 20, 23, 24, 60]),
                                [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
  assert labels.density_bin_names() == ['< 13', '13-16', '17-19', '20-23', '>= 24']


@pytest.mark.parametrize('groove_value, style', [
    ('rock', 'rock'), ('rock/halftime', 'rock'), ('funk/groove1', 'funk'), ('funk/latin', 'funk'),
    ('latin/brazilian-samba', 'latin'), ('jazz/funk', 'jazz'), ('hiphop', 'hiphop'),
    ('neworleans/funk', 'neworleans'), ('afrobeat', 'afrobeat'), ('afrocuban/bembe', 'afrocuban'),
    ('soul/motown', 'other'), ('punk', 'other'), ('dance/disco', 'other'), ('', 'other')])
def test_groove_styles_map_to_the_vocabulary(groove_value, style):
  assert labels.groove_style(groove_value) == style


def test_user_style_csv_names_files_and_folders(tmp_path, caplog):
  (tmp_path / 'live' / 'set1').mkdir(parents=True)
  (tmp_path / 'styles.csv').write_text(
      'path,style\n'
      'live,Jazz\n'
      'live/set1/samba.mid,latin\n'
      '\n'
      'demo.mid,polka\n'
      f'{tmp_path / "abs.mid"},hiphop\n', encoding='utf-8')
  with caplog.at_level(logging.WARNING):
    styles = labels.read_style_csv(str(tmp_path / 'styles.csv'))
  assert "'polka'" in caplog.text and 'rock, latin' in caplog.text
  assert labels.style_of(str(tmp_path / 'live' / 'set1' / 'samba.mid'), styles) == 'latin'
  assert labels.style_of(str(tmp_path / 'live' / 'set1' / 'other.mid'), styles) == 'jazz'
  assert labels.style_of(str(tmp_path / 'demo.mid'), styles) is None  # unknown style: disabled
  assert labels.style_of(str(tmp_path / 'abs.mid'), styles) == 'hiphop'
  assert labels.style_of(str(tmp_path / 'elsewhere.mid'), styles) is None


def test_a_bad_style_csv_is_one_clear_error(tmp_path):
  (tmp_path / 'bad.csv').write_text('a.mid,rock\nb.mid\n', encoding='utf-8')
  with pytest.raises(DrumsRnnError, match=r'bad.csv, line 2: expected 2 fields'):
    labels.read_style_csv(str(tmp_path / 'bad.csv'))
  with pytest.raises(DrumsRnnError, match='cannot read the style CSV'):
    labels.read_style_csv(str(tmp_path / 'missing.csv'))


def test_label_track_of_a_midi_file(tmp_path):
  classes = groove_with_fills(8)
  path = str(tmp_path / 'groove.mid')
  midi.write_midi_files([patterns.pattern_sequence(patterns.DrumPattern(classes))], [path])
  (pattern,), _ = patterns.read_drum_patterns([path])
  result = labels.label_track(pattern, 'rock')
  assert result.style == 'rock' and result.num_bars == 8
  np.testing.assert_array_equal(result.density, [12] * 8)
  np.testing.assert_array_equal(result.density_bin, [0] * 8)
  np.testing.assert_array_equal(result.fill, [False, False, False, True] * 2)
  assert labels.label_track(classes).style is None  # no style given: disabled
  other = labels.TrackLabels(None, np.array([30, 13]), labels.density_bins([30, 13]), np.array([False, True]))
  counts = labels.count_labels([result, other])
  assert counts['style'] == {**{s: 0 for s in labels.STYLES}, 'rock': 8, 'disabled': 2}
  assert counts['fill'] == {'fill': 3, 'no fill': 7}
  assert counts['density_bin'] == {'0': 8, '1': 1, '2': 0, '3': 0, '4': 1}
  lines = labels.count_lines(counts)
  assert lines[1] == 'fill (bars): fill 3, no fill 7'
  assert lines[2] == ('density bin (bars, hits a bar): 0 [< 13] 8, 1 [13-16] 1, 2 [17-19] 0, 3 [20-23] 0, '
                      '4 [>= 24] 1')


def test_label_track_refuses_other_meters_and_unknown_styles():
  waltz = patterns.DrumPattern(np.zeros(24, np.int64), numerator=3, denominator=4, source='waltz.mid')
  with pytest.raises(DrumsRnnError, match='4/4 bars of 16 steps; waltz.mid is in 3/4'):
    labels.label_track(waltz)
  with pytest.raises(DrumsRnnError, match=r"unknown style 'polka': choose one of rock, latin, funk"):
    labels.label_track(np.zeros(16, np.int64), 'polka')


# --- the frozen classifiers -------------------------------------------------------


@pytest.mark.parametrize('classes', [('a', 'b'), ('a', 'b', 'c')])
@pytest.mark.parametrize('hidden_units', [(), (4,)])  # logistic regression, perceptron
def test_frozen_classifiers_fit_separable_data_and_survive_json(classes, hidden_units):
  rng = np.random.default_rng(0)
  centres = np.array([[0.0, 4.0], [4.0, 0.0], [4.0, 4.0]])[:len(classes)]
  truth = np.repeat(np.arange(len(classes)), 40)
  features = np.abs(centres[truth] + rng.normal(0, 0.3, (truth.size, 2)))
  model = frozen_classifier.fit(features, truth, classes, ('x', 'y'), hidden_units, 1.0, seed=0)
  probabilities = model.probabilities(features)
  assert probabilities.shape == (truth.size, len(classes))
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
  np.testing.assert_array_equal(np.argmax(probabilities, axis=1), truth)
  again = frozen_classifier.FrozenClassifier.from_dict(json.loads(json.dumps(model.to_dict())), 'test')
  np.testing.assert_array_equal(again.probabilities(features), probabilities)


def test_classification_figures():
  figures = frozen_classifier.classification_figures([0, 0, 0, 1], [0, 1, 0, 1], ('beat', 'fill'))
  assert figures['accuracy'] == 0.75 and figures['balanced_accuracy'] == round((2 / 3 + 1) / 2, 4)
  assert figures['recall'] == {'beat': 0.6667, 'fill': 1.0}
  assert figures['precision'] == {'beat': 1.0, 'fill': 0.5}
  assert figures['count'] == {'beat': 3, 'fill': 1}


def test_broken_model_files_are_clear_errors(tmp_path):
  with pytest.raises(DrumsRnnError, match='cannot read'):
    fill_detector.load(str(tmp_path / 'missing.json'))
  (tmp_path / 'text.json').write_text('not json', encoding='utf-8')
  with pytest.raises(DrumsRnnError, match='not JSON'):
    style_classifier.load(str(tmp_path / 'text.json'))
  data = json.loads(open(fill_detector.DEFAULT_PATH, encoding='utf-8').read())
  data['classifier']['mean'] = data['classifier']['mean'][:-1]
  (tmp_path / 'short.json').write_text(json.dumps(data), encoding='utf-8')
  with pytest.raises(DrumsRnnError, match='layer shapes do not fit'):
    fill_detector.load(str(tmp_path / 'short.json'))
  data = json.loads(open(style_classifier.DEFAULT_PATH, encoding='utf-8').read())
  data['classifier']['feature_names'][0] = 'renamed'
  (tmp_path / 'renamed.json').write_text(json.dumps(data), encoding='utf-8')
  with pytest.raises(DrumsRnnError, match='rebuild it with scripts/train_control_labels.py'):
    style_classifier.load(str(tmp_path / 'renamed.json'))


def test_the_shipped_fill_detector_is_deterministic_and_finds_a_tom_fill():
  detector = fill_detector.load()
  assert 0 < detector.threshold < 1 and 'Groove MIDI Dataset' in detector.figures['credit']
  classes = groove_with_fills(8)
  probabilities = detector.fill_probabilities(classes)
  np.testing.assert_array_equal(probabilities, fill_detector.load().fill_probabilities(classes.copy()))
  np.testing.assert_array_equal(detector.label_bars(classes), [False, False, False, True] * 2)
  # The one-bar view: a bar's label does not depend on its neighbours.
  np.testing.assert_array_equal(detector.label_bars(classes[48:64]), [True])


def test_fill_file_bars_leave_out_landing_bars():
  hits = [(12, SNARE), (13, SNARE), (14, LOW_TOM), (15, LOW_TOM)] + tom_fill(1) + [(32, CRASH), (32, KICK)]
  np.testing.assert_array_equal(fill_detector.fill_file_bars(classes_of(hits, 3)), [True, True, False])


def test_the_shipped_style_classifier_is_deterministic():
  classifier = style_classifier.load()
  assert set(style_classifier.STYLES) <= set(labels.STYLES)
  assert 'Groove MIDI Dataset' in classifier.figures['credit']
  classes = groove_with_fills(5)
  features = style_classifier.window_features(classes)
  assert features.shape == (2, len(style_classifier.WINDOW_FEATURE_NAMES))  # the odd 5th bar is left out
  np.testing.assert_array_equal(features[0, -144:].reshape(9, 16)[2], [1, 0] * 8)  # hats on 8ths
  probabilities = classifier.probabilities(classes)
  assert probabilities.shape == (2, 5)
  np.testing.assert_array_equal(probabilities, style_classifier.load().probabilities(classes.copy()))
  assert all(style in style_classifier.STYLES for style in classifier.predict(classes))


def test_labelling_needs_neither_tensorflow_nor_scikit_learn():
  code = ('import sys, numpy as np\n'
          'from drums_rnn.measure import labels\n'
          'from drums_rnn.measure import style_classifier\n'
          'classes = np.tile(np.array([5, 0, 4, 0, 6, 0, 4, 0] * 2), 4)\n'
          'labels.label_track(classes, "rock"); style_classifier.load().predict(classes)\n'
          'print(sorted(m for m in ("tensorflow", "sklearn", "keras") if m in sys.modules))\n')
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120,
                          cwd=helpers.REPO_ROOT, check=False)
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == '[]'


# --- on the Groove MIDI Dataset -----------------------------------------------------


@pytest.mark.groove
def test_shipped_classifiers_on_the_groove_test_split():
  groove_dir = helpers.require_groove()
  tracks, _ = labels.read_groove_tracks(groove_dir, 'test')
  detector = fill_detector.load()
  figures = fill_detector.evaluate(detector, tracks)
  assert figures == detector.figures['test']  # the shipped figures are reproduced
  assert figures['accuracy'] >= 0.88 and figures['balanced_accuracy'] >= 0.85
  assert figures['recall']['fill'] >= 0.8 and figures['beat_file_bars']['rate'] <= 0.12
  classifier = style_classifier.load()
  figures = style_classifier.evaluate(classifier, tracks)
  assert figures == classifier.figures['test']
  assert figures['balanced_accuracy'] >= 0.58
  assert min(figures['recall'].values()) >= 0.2
  counts = labels.count_labels(labels.label_track(t.pattern, t.style, detector) for t in tracks)
  bars_total = sum(counts['fill'].values())
  assert counts['style']['disabled'] == 0 and sum(counts['style'].values()) == bars_total
  assert all(0.1 <= n / bars_total <= 0.3 for n in counts['density_bin'].values())
