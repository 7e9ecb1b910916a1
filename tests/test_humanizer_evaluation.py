"""The humanizer's evaluation against real drumming: baselines, figures, the --evaluate command."""

import json
import os

import numpy as np
import pytest

from drums_rnn.humanizer import evaluation
from drums_rnn import midi
from drums_rnn.humanizer import performance
from tests import helpers
from tests.test_humanizer import _tiny_loaded


def accented_performance(bars=4, seed=0, qpm=100.0):
  """Kick on beats, hats on 8ths: accents on the beat (loud, late), off-beats quiet and early."""
  rng = np.random.default_rng(seed)
  steps = bars * 16
  velocities = np.zeros((steps, 9), np.int64)
  offsets = np.zeros((steps, 9), np.float32)
  for s in range(0, steps, 2):
    on_beat = s % 4 == 0
    velocities[s, 2] = (100 if on_beat else 45) + rng.integers(-4, 5)
    offsets[s, 2] = (0.1 if on_beat else -0.1) + rng.uniform(-0.02, 0.02)
    if on_beat:
      velocities[s, 0] = 90 + rng.integers(-4, 5)
  return performance.Performance(velocities, offsets, qpm)


@pytest.fixture(scope='module')
def groove_dir(tmp_path_factory):
  """A tiny Groove-like folder: the same 4/4 files in train and test, and a 3/4 one."""
  root = tmp_path_factory.mktemp('groove')
  rows = ['drummer,session,id,style,bpm,beat_type,time_signature,midi_filename,audio_filename,duration,split']
  for i in range(3):
    for split in ('train', 'test'):
      name = f'{split}/{i}.mid'
      os.makedirs(root / split, exist_ok=True)
      midi.write_midi(str(root / name), performance.performance_sequence(accented_performance(seed=i)))
      rows.append(f'd{i},s,id,funk,100,beat,4-4,{name},,8.0,{split}')
  midi.write_midi(str(root / 'test' / 'waltz.mid'), helpers.drum_sequence(helpers.basic_beat(2), numerator=3))
  rows.append('d9,s,id,jazz,100,beat,3-4,test/waltz.mid,,8.0,test')
  (root / 'info.csv').write_text('\n'.join(rows) + '\n')
  return str(root)


def test_lookup_table_learns_position_means_and_moves_to_a_level():
  perf = accented_performance()
  lookup = evaluation.LookupBaseline([perf])
  hits = perf.hits
  assert abs(lookup.velocity[0, 2] - perf.velocities[0::16, 2].mean()) < 1e-9
  assert lookup.velocity[0, 2] > 90 and lookup.velocity[2, 2] < 50
  assert abs(lookup.offset[2, 2] + 0.1) < 0.02
  assert lookup.velocity[1, 4] == lookup.velocity[:, 4].mean()  # unseen drum: a default, no nan
  velocities, offsets = lookup.predict(hits)
  assert np.array_equal(velocities > 0, hits) and np.all(offsets[~hits] == 0)
  moved, _ = lookup.predict(hits, level=40.0)
  assert abs(moved[hits].mean() - 40.0) < 0.6
  assert np.all(np.diff(moved[0:4:2, 2]) < 0)  # the accent pattern stays


def test_histogram_intersection():
  a = np.arange(1, 128)
  assert evaluation.histogram_intersection(a, a, evaluation.VELOCITY_BINS) == pytest.approx(1.0)
  assert evaluation.histogram_intersection(np.full(9, 10), np.full(9, 120), evaluation.VELOCITY_BINS) == 0
  assert np.isnan(evaluation.histogram_intersection(a[:0], a, evaluation.VELOCITY_BINS))


def test_evaluate_reports_every_method(groove_dir):
  from drums_rnn.humanizer import humanize  # pylint: disable=import-outside-toplevel
  humanizer = humanize.Humanizer(_tiny_loaded(seed=4))
  result = evaluation.evaluate(humanizer, groove_dir, seed=1)
  assert result.tracks == 3 and result.hits == int(sum(accented_performance(seed=i).hits.sum()
                                                       for i in range(3)))
  assert set(result.mae) == set(evaluation.METHODS)
  # The table knows the accents: far better than flat on these position-bound velocities and offsets.
  assert result.mae['lookup']['velocity'] < 0.3 * result.mae['flat']['velocity']
  assert result.mae['lookup']['timing_ms'] < 0.3 * result.mae['flat']['timing_ms']
  played = np.concatenate([np.abs(p.offsets[p.hits]) for p in map(accented_performance, range(3))])
  tick_ms = 60000.0 / 100.0 / midi.TICKS_PER_QUARTER  # offsets went through MIDI ticks
  assert abs(result.mae['flat']['timing_ms'] - played.mean() * 150.0) < tick_ms
  assert result.train_vs_test['kick'] == pytest.approx(1.0)  # the same files in both splits
  assert np.isnan(result.velocity_intersection['sampled']['toms'])  # no toms: n/a, not a number
  again = evaluation.evaluate(humanizer, groove_dir, seed=1)
  assert again.mae == result.mae  # seeded
  table = result.table_markdown()
  for method in evaluation.METHODS:
    assert f'| {method} |' in table
  assert 'n/a' in table and '3 performances' in table
  assert json.loads(result.to_json())['mae']['flat']['velocity'] == result.mae['flat']['velocity']


def test_evaluate_command(groove_dir, tmp_path):
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel
  tiny = _tiny_loaded(seed=5)
  mag = loading.save_bundle(str(tmp_path / 'h.mag'), tiny.config, tiny.hparams, tiny.model, 'tiny')
  out = tmp_path / 'figures.json'
  cases = [[f'--bundle_file={mag}', '--evaluate', f'--groove_dir={groove_dir}', f'--output_json={out}'],
           [f'--bundle_file={mag}', '--evaluate', f'--groove_dir={tmp_path / "nowhere"}']]
  ok, missing = helpers.run_cli_cases('drums_rnn.cli.drums_rnn_humanize', cases)
  assert ok['code'] == 0, ok['stderr'][-2000:]
  assert '| sampled |' in ok['stdout'] and json.loads(out.read_text())['tracks'] == 3
  errors = [l for l in missing['stderr'].splitlines() if l.startswith('error:')]
  assert missing['code'] == 2 and len(errors) == 1 and 'no info.csv' in errors[0]
