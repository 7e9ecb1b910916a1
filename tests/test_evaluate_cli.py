"""evaluation.py, patterns.py and drums_rnn_evaluate: reading MIDI, tables, likelihood, baseline, errors."""

import csv
import json
import math
import os
import subprocess
import sys

import note_seq
import numpy as np
import pytest
import tensorflow as tf

from drums_rnn import configs
from drums_rnn.measure import comparison as evaluation
from drums_rnn.data import groove
from drums_rnn import loading
from drums_rnn import midi
from drums_rnn.measure import patterns
from drums_rnn.training import run_dir as run_dir_lib
from drums_rnn.measure import scoring
from drums_rnn.errors import DrumsRnnError
from drums_rnn.language_model.model import DrumsRnnModel
from tests import helpers

KIT = configs.get_config('drum_kit')


def write_midi(path, hits, **kwargs):
  note_seq.sequence_proto_to_midi_file(helpers.drum_sequence(hits, **kwargs), str(path))
  return str(path)


def four_on_floor(bars, offset=0):
  return [(offset + s, 36) for s in range(0, 16 * bars, 4)]


def offbeat_hats(bars, offset=0):
  return [(offset + s, 42) for s in range(1, 16 * bars, 2)]


def make_sets(tmp_path):
  """Two folders of 3 small MIDI files each: steady kicks vs off-beat hats."""
  ref, gen = tmp_path / 'real', tmp_path / 'generated'
  ref.mkdir()
  gen.mkdir()
  for i in range(3):
    write_midi(ref / f'r{i}.mid', helpers.basic_beat(8 + i) + four_on_floor(1, offset=16 * (8 + i)))
    write_midi(gen / f'g{i}.mid', offbeat_hats(8 + i))
  return str(ref), str(gen)


def run_cli(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  return subprocess.run([sys.executable, '-m', 'drums_rnn.cli.drums_rnn_evaluate', *args],
                        capture_output=True, text=True, env=env, cwd=helpers.REPO_ROOT, timeout=300)


# --- reading ------------------------------------------------------------------

def test_read_drum_patterns_is_bar_aligned(tmp_path):
  # First hit on step 21 (bar 2), last on step 40 (bar 3): the pattern spans bars 2-3.
  path = write_midi(tmp_path / 'a.mid', [(21, 36), (24, 38), (24, 42), (40, 49)])
  found, skipped = patterns.read_drum_patterns([path])
  assert sum(skipped.values()) == 0
  (pattern,) = found
  assert pattern.classes.shape == (32,)
  assert pattern.steps_per_bar == 16 and pattern.steps_per_beat == 4
  expected = np.zeros(32, np.int64)
  expected[5], expected[8], expected[24] = 1, 2 | 4, 128
  np.testing.assert_array_equal(pattern.classes, expected)


def test_read_drum_patterns_meter_and_skips(tmp_path):
  waltz = write_midi(tmp_path / 'w.mid', [(0, 36), (12, 36)], numerator=3, denominator=4)
  compound = write_midi(tmp_path / 'c.mid', [(0, 36), (6, 38)], numerator=6, denominator=8)
  no_drums = write_midi(tmp_path / 'n.mid', [(0, 60)], is_drum=False)
  broken = tmp_path / 'broken.mid'
  broken.write_bytes(b'not a midi file')
  found, skipped = patterns.read_drum_patterns([waltz, compound, no_drums, str(broken)])
  assert [(p.steps_per_bar, p.steps_per_beat) for p in found] == [(12, 4), (12, 6)]
  assert skipped['no drum notes'] == 1 and skipped['unreadable file'] == 1
  with pytest.raises(DrumsRnnError, match='no drum tracks'):
    patterns.load_patterns([no_drums], 'test set')


def test_load_model_errors(tmp_path):
  # 'exactly one' of --run_dir and --bundle_file: a flag rule, see test_cli_errors_exit_2_with_one_line.
  with pytest.raises(DrumsRnnError, match='does not exist'):
    loading.load_model(str(tmp_path / 'none.mag'))
  with pytest.raises(DrumsRnnError, match='does not exist'):
    loading.load_model(str(tmp_path / 'missing'))
  with pytest.raises(DrumsRnnError, match='no checkpoint'):
    loading.load_model(str(tmp_path))


def test_crop_patterns_to_first_bars(tmp_path):
  found, _ = patterns.read_drum_patterns([write_midi(tmp_path / 'a.mid', helpers.basic_beat(5))])
  (cropped,) = patterns.crop_patterns(found, 2)
  np.testing.assert_array_equal(cropped.classes, found[0].classes[:32])
  assert patterns.crop_patterns(found, 0)[0].classes.shape == (80,)
  with pytest.raises(DrumsRnnError, match='max_bars'):
    patterns.crop_patterns(found, -1)


def test_list_midi_files_errors(tmp_path):
  with pytest.raises(DrumsRnnError, match='does not exist'):
    midi.list_midi_files(str(tmp_path / 'missing'))
  with pytest.raises(DrumsRnnError, match='no MIDI files'):
    midi.list_midi_files(str(tmp_path))


def test_groove_split_files_errors(tmp_path):
  with pytest.raises(DrumsRnnError, match='info.csv'):
    groove.split_files(str(tmp_path), 'test')
  with pytest.raises(DrumsRnnError, match='unknown Groove split'):
    groove.split_files(str(tmp_path), 'dev')


@pytest.mark.groove
def test_groove_test_split_reads():
  root = helpers.require_groove()
  paths = groove.split_files(root, 'test')
  assert len(paths) == len(helpers.groove_files(split='test'))
  found = patterns.load_patterns(paths[:3], 'groove test')
  assert len(found) >= 3
  assert all(p.steps_per_bar == 16 and p.classes.any() for p in found)


# --- baseline -----------------------------------------------------------------

def test_shuffled_baseline_round_trips_through_midi(tmp_path):
  found, _ = patterns.read_drum_patterns([write_midi(tmp_path / 'a.mid', helpers.basic_beat(4))])
  shuffled = patterns.shuffle_patterns(found, seed=1)
  again = patterns.shuffle_patterns(found, seed=1)
  np.testing.assert_array_equal(shuffled[0].classes, again[0].classes)
  assert not np.array_equal(shuffled[0].classes, found[0].classes)
  np.testing.assert_array_equal(np.sort(shuffled[0].classes), np.sort(found[0].classes))
  paths = patterns.write_patterns_midi(shuffled, str(tmp_path / 'out'), prefix='shuffled',
                                        credit=groove.CREDIT)
  assert [os.path.basename(p) for p in paths] == ['shuffled_0.mid']
  assert 'Gillick' in (tmp_path / 'out' / 'CREDIT.txt').read_text()
  with pytest.raises(DrumsRnnError, match='qpm'):
    patterns.write_patterns_midi(shuffled, str(tmp_path / 'none'), qpm=0.0)
  with pytest.raises(DrumsRnnError, match='seed'):
    patterns.shuffle_patterns(found, seed=-1)
  assert not (tmp_path / 'none').exists()
  assert midi.list_midi_files(str(tmp_path / 'out')) == paths
  (read_back,), _ = patterns.read_drum_patterns(paths)
  # Reading starts at the bar of the first hit and ends with the last hit's bar.
  first_bar = np.nonzero(shuffled[0].classes)[0][0] // 16 * 16
  np.testing.assert_array_equal(read_back.classes,
                                shuffled[0].classes[first_bar:first_bar + len(read_back.classes)])


# --- likelihood ---------------------------------------------------------------

def model_hparams():
  return KIT.hparams('rnn_layer_sizes=[8],attn_length=2')


def tiny_model(seed=0, zero=False):
  model = DrumsRnnModel.from_config(KIT, model_hparams())
  rng = np.random.default_rng(seed)
  for variable in model.weights.values():
    value = np.zeros(variable.shape) if zero else rng.normal(0, 0.3, variable.shape)
    variable.assign(value.astype(np.float32))
  return model


def test_uniform_model_has_perplexity_num_classes():
  tracks = [np.arange(20) % 7, np.arange(9) * 3]
  result = scoring.model_likelihood(tiny_model(zero=True), KIT, tracks)
  assert result.num_tracks == 2 and result.num_steps == 19 + 8
  assert result.mean_log_likelihood == pytest.approx(-math.log(512), abs=1e-5)
  assert result.perplexity == pytest.approx(512, rel=1e-4)


def test_overflowing_tracks_are_left_out_and_counted():
  # A large attention output projection makes the attention window's linear
  # recurrence blow up: a long track overflows, a short one does not.
  model = tiny_model(seed=7)
  name = [n for n in model.weights if n.endswith('attn_output_projection/kernel')][0]
  model.weights[name].assign(model.weights[name] * 0 + 20.0)
  short, long = np.arange(4) % 3, np.arange(200) % 3
  result = scoring.model_likelihood(model, KIT, [short, long])
  assert result.nonfinite_tracks == 1 and result.num_tracks == 1 and result.num_steps == 3
  assert math.isfinite(result.mean_log_likelihood)
  with pytest.raises(DrumsRnnError, match='finite'):
    scoring.model_likelihood(model, KIT, [long])


def test_batched_likelihood_equals_one_track_at_a_time():
  model = tiny_model(seed=3)
  rng = np.random.default_rng(4)
  tracks = [rng.integers(0, 512, n) for n in (5, 17, 2, 11)]
  sums, counts, _ = scoring.track_log_likelihoods(model, KIT.encoding, tracks, batch_size=3)
  for track, total, count in zip(tracks, sums, counts):
    inputs, labels = KIT.encoding.encode(track)
    logits, _ = model(inputs[None], training=False)
    log_probs = tf.nn.log_softmax(logits[0]).numpy()
    assert count == len(track) - 1
    assert total == pytest.approx(log_probs[np.arange(len(labels)), labels].sum(), rel=1e-5)


def test_bundle_and_checkpoint_score_like_the_model(tmp_path):
  model = tiny_model(seed=6)
  tracks = [np.arange(40) % 13, np.arange(30) % 5]
  expected = scoring.model_likelihood(model, KIT, tracks).mean_log_likelihood
  path = loading.save_bundle(str(tmp_path / 'tiny.mag'), KIT, model_hparams(), model, 'test')
  result = loading.load_model(path)
  config, loaded = result.config, result.model
  assert config.name == 'drum_kit'
  assert scoring.model_likelihood(loaded, config, tracks).mean_log_likelihood == pytest.approx(
      expected, rel=1e-5)
  with pytest.raises(DrumsRnnError, match='not a generator bundle'):
    (tmp_path / 'bad.mag').write_bytes(b'junk')
    loading.load_model(str(tmp_path / 'bad.mag'))


def test_extract_model_tracks_uses_magenta_rules(tmp_path):
  long_path = write_midi(tmp_path / 'long.mid', helpers.basic_beat(8))
  short_path = write_midi(tmp_path / 'short.mid', helpers.basic_beat(3))
  tracks = scoring.extract_model_tracks([long_path, short_path], KIT)
  assert len(tracks) == 1  # 3 bars < min_bars 7
  assert tracks[0].shape[0] == 16 * 7 + 15  # ends at its last onset (step 126)
  with pytest.raises(DrumsRnnError, match='no drum tracks'):
    scoring.extract_model_tracks([short_path], KIT)


# --- the command --------------------------------------------------------------

def test_cli_compares_sets_and_scores_a_model(tmp_path):
  ref, gen = make_sets(tmp_path)
  model = tiny_model(seed=5)
  run = tmp_path / 'run'
  run_dir_lib.save_settings(run_dir_lib.train_dir(str(run)), 'drum_kit', model_hparams())
  tf.train.Checkpoint(model=model).save(os.path.join(run_dir_lib.train_dir(str(run)), 'ckpt'))
  out_csv, out_json = tmp_path / 'o' / 'eval.csv', tmp_path / 'o' / 'eval.json'
  shuffled = tmp_path / 'shuffled'
  proc = run_cli(f'--midi_dir={gen}', f'--reference_dir={ref}', f'--run_dir={run}',
                 f'--output_csv={out_csv}', f'--output_json={out_json}',
                 f'--plot_dir={tmp_path / "plots"}', f'--shuffled_output_dir={shuffled}', '--seed=7')
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert sorted(os.listdir(shuffled)) == ['shuffled_0.mid', 'shuffled_1.mid', 'shuffled_2.mid']
  assert 'real (n=3)' in proc.stdout and 'generated (n=3)' in proc.stdout
  assert 'perplexity per step' in proc.stdout
  data = json.loads(out_json.read_text())
  # Reference: a rock beat (2 kicks a bar) for 8, 9, 10 bars plus one bar of 4 kicks.
  expected_kick = np.mean([(2 * (8 + i) + 4) / (9 + i) for i in range(3)])
  assert data['features']['density_kick']['reference_mean'] == pytest.approx(expected_kick)
  assert data['features']['density_kick']['evaluated_mean'] == 0.0
  assert data['features']['offbeat_ratio']['evaluated_mean'] == 1.0
  assert data['features']['density_hihat']['overlap'] < 0.5
  assert data['likelihood']['num_tracks'] == 3 and data['likelihood']['perplexity'] > 1
  # The same likelihood as the library computes directly.
  tracks = scoring.extract_model_tracks(midi.list_midi_files(gen), KIT)
  expected = scoring.model_likelihood(model, KIT, tracks)
  assert data['likelihood']['mean_log_likelihood'] == pytest.approx(expected.mean_log_likelihood, rel=1e-5)
  with open(out_csv, newline='') as f:
    rows = {r['feature']: r for r in csv.DictReader(f)}
  assert float(rows['syncopation']['evaluated_mean']) == 15.0
  assert 'class_histogram/bass drum' in rows and 'model/perplexity' in rows
  assert len(os.listdir(tmp_path / 'plots')) == len(evaluation.metrics.FEATURES)


@pytest.mark.parametrize('args, message', [
    ([], 'nothing to evaluate'),
    (['--midi_dir={tmp}/empty', '--reference_dir={tmp}/real'], 'no MIDI files'),
    (['--midi_dir={tmp}/real', '--run_dir={tmp}/run', '--bundle_file={tmp}/x.mag'], 'exactly one'),
])
def test_cli_errors_exit_2_with_one_line(tmp_path, args, message):
  make_sets(tmp_path)
  (tmp_path / 'empty').mkdir()
  proc = run_cli(*[a.format(tmp=tmp_path) for a in args])
  assert proc.returncode == 2, proc.stderr[-2000:]
  error_lines = [line for line in proc.stderr.splitlines() if line.startswith('error: ')]
  assert len(error_lines) == 1 and message in error_lines[0], proc.stderr[-2000:]
  assert 'Traceback' not in proc.stderr


def test_cli_help_lists_its_flags():
  # Through the console script when installed: there __main__ is a generated wrapper.
  script = os.path.join(os.path.dirname(sys.executable), 'drums_rnn_evaluate')
  if os.path.exists(script):
    proc = subprocess.run([script, '--helpshort'], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  else:
    proc = run_cli('--helpshort')
  # absl's help exits with 1.
  assert 'Traceback' not in proc.stderr
  for flag in ('--midi_dir', '--reference_dir', '--reference_split', '--groove_dir', '--run_dir',
               '--bundle_file', '--output_csv', '--output_json', '--plot_dir', '--shuffled_output_dir',
               '--max_bars'):
    assert flag in proc.stdout + proc.stderr, flag
