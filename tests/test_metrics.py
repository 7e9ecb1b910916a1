"""Drum pattern features on hand-made patterns, and the Yang & Lerch set comparison."""

import math

import numpy as np
import pytest

from drums_rnn import encoding
from drums_rnn.measure import features as metrics

KICK, SNARE, CLOSED_HAT, OPEN_HAT, LOW_TOM, MID_TOM, HIGH_TOM, CRASH, RIDE = range(9)


def grid_from(hits, steps):
  """[steps, 9] grid from (step, class) pairs."""
  grid = np.zeros((steps, 9), bool)
  for step, drum in hits:
    grid[step, drum] = True
  return grid


def four_on_the_floor(bars=2):
  return grid_from([(s, KICK) for s in range(0, 16 * bars, 4)], 16 * bars)


def only_offbeats(bars=1):
  return grid_from([(s, CLOSED_HAT) for s in range(1, 16 * bars, 2)], 16 * bars)


def test_hit_grid_reads_class_bits():
  # Class 5 = bass drum (bit 0) + closed hi-hat (bit 2); 256 = ride (bit 8).
  grid = encoding.classes_to_hits(np.array([0, 5, 256]))
  assert grid.shape == (3, 9)
  assert not grid[0].any()
  assert list(np.nonzero(grid[1])[0]) == [KICK, CLOSED_HAT]
  assert list(np.nonzero(grid[2])[0]) == [RIDE]
  # Class indices from the encoding give the same grid as the hits.
  classes = encoding.DRUM_KIT.classes_from_events([(36,), (), (38, 42)])
  np.testing.assert_array_equal(encoding.as_hit_grid(classes),
                                grid_from([(0, KICK), (2, SNARE), (2, CLOSED_HAT)], 3))


def test_four_on_the_floor():
  f = metrics.compute_features(four_on_the_floor(bars=2))
  assert f['density_kick'] == 4.0
  assert f['density_snare'] == f['density_hihat'] == f['density_toms'] == f['density_cymbals'] == 0.0
  np.testing.assert_array_equal(f['class_histogram'], np.eye(9)[KICK])
  assert f['syncopation'] == 0.0
  assert f['offbeat_ratio'] == 0.0
  assert f['symmetry'] == 1.0
  assert f['repetition'] == 1.0
  assert f['empty_step_ratio'] == 0.75


def test_empty_pattern():
  f = metrics.compute_features(np.zeros((32, 9), bool))
  for group in metrics.DRUM_GROUPS:
    assert f[f'density_{group}'] == 0.0
  np.testing.assert_array_equal(f['class_histogram'], np.zeros(9))
  assert f['syncopation'] == 0.0
  assert f['offbeat_ratio'] == 0.0
  assert f['symmetry'] == 1.0  # two empty halves are identical
  assert f['repetition'] == 1.0
  assert f['empty_step_ratio'] == 1.0


def test_only_offbeats():
  f = metrics.compute_features(only_offbeats(bars=2))
  assert f['density_hihat'] == 8.0
  assert f['offbeat_ratio'] == 1.0
  # Every odd 16th ties over the next, stronger step: 1+2+1+3+1+2+1+4 per bar.
  assert f['syncopation'] == 15.0
  assert f['empty_step_ratio'] == 0.5
  assert f['repetition'] == 1.0
  assert f['symmetry'] == 1.0


def test_metrical_weights_4_4_and_3_4_and_6_8():
  np.testing.assert_array_equal(metrics.metrical_weights(16, 4),
                                [0, -4, -3, -4, -2, -4, -3, -4, -1, -4, -3, -4, -2, -4, -3, -4])
  np.testing.assert_array_equal(metrics.metrical_weights(12, 4),
                                [0, -3, -2, -3, -1, -3, -2, -3, -1, -3, -2, -3])
  np.testing.assert_array_equal(metrics.metrical_weights(12, 6),  # 6/8: two dotted quarters
                                [0, -3, -2, -3, -2, -3, -1, -3, -2, -3, -2, -3])


def test_syncopation_single_cases():
  # Kick on "4-and" (step 14) then nothing until the next downbeat: the 8th
  # ties over the downbeat (weight 0), score 0 - (-3) = 3; the downbeat itself is on
  # the loop's step 0 -> empty here, so it counts.
  assert metrics.syncopation(grid_from([(14, KICK)], 16)) == 3.0
  # With a hit on the next downbeat (the loop wraps to step 0) there is no syncopation.
  assert metrics.syncopation(grid_from([(0, KICK), (14, KICK)], 16)) == 0.0
  # A snare on step 2 followed by a hit on step 3 does not tie over beat 2 (step 4),
  # and step 3 is followed by a hit on step 4.
  assert metrics.syncopation(grid_from([(0, KICK), (2, SNARE), (3, SNARE), (4, KICK),
                                        (8, KICK), (12, KICK)], 16)) == 0.0
  # Step 3 (a 16th, -4) with beat 2 (step 4, -2) empty: 2.
  assert metrics.syncopation(grid_from([(0, KICK), (3, SNARE), (8, KICK), (12, KICK)], 16)) == 2.0
  # Several drums at one step count as one onset.
  assert metrics.syncopation(grid_from([(14, KICK), (14, CRASH)], 16)) == 3.0


def test_densities_by_group_and_partial_bars():
  hits = [(0, CLOSED_HAT), (0, OPEN_HAT), (2, LOW_TOM), (3, MID_TOM), (4, HIGH_TOM),
          (5, CRASH), (6, RIDE), (7, SNARE)]
  grid = grid_from(hits, 16)
  assert metrics.group_density(grid, 'hihat') == 2.0
  assert metrics.group_density(grid, 'toms') == 3.0
  assert metrics.group_density(grid, 'cymbals') == 2.0
  # 24 steps = 1.5 bars, padded to 2 bars.
  assert metrics.group_density(grid_from(hits, 24), 'toms') == 1.5
  np.testing.assert_allclose(metrics.class_histogram(grid), [0] + [1 / 8] * 8)


def test_symmetry_and_repetition_values():
  # Bar 1: kick on 0, snare on 8 -> halves {(0, kick)} vs {(0, snare)}: Jaccard 0.
  # Bar 2: kick on 0 and 8 -> identical halves: 1. Mean 0.5.
  grid = grid_from([(0, KICK), (8, SNARE), (16, KICK), (24, KICK)], 32)
  assert metrics.symmetry(grid) == 0.5
  # Consecutive bars: {(0,k),(8,s)} vs {(0,k),(8,k)}: intersection 1, union 3.
  assert metrics.repetition(grid) == pytest.approx(1 / 3)
  assert math.isnan(metrics.repetition(grid_from([(0, KICK)], 16)))


def test_features_accept_class_indices_and_reject_empty():
  classes = np.zeros(32, np.int64)
  classes[::4] = 1
  assert metrics.compute_features(classes)['density_kick'] == 4.0
  with pytest.raises(ValueError):
    metrics.compute_features(np.zeros((0, 9), bool))


def test_set_statistics_skip_nan():
  one_bar = metrics.compute_features(four_on_the_floor(bars=1))
  two_bars = metrics.compute_features(four_on_the_floor(bars=2))
  stats = metrics.set_statistics([one_bar, two_bars])
  assert stats['repetition'] == (1.0, 0.0, 1)
  assert stats['density_kick'] == (4.0, 0.0, 2)
  assert stats['class_histogram/bass drum'] == (1.0, 0.0, 2)


def _random_set(seed, n, density, steps=64):
  rng = np.random.default_rng(seed)
  return [metrics.compute_features(rng.random((steps, 9)) < density) for _ in range(n)]


def test_comparison_identical_sets_overlap_fully():
  a = _random_set(0, 12, 0.2)
  result = metrics.compare_sets(a, a)
  assert set(result) == set(metrics.FEATURE_NAMES)
  for comparison in result.values():
    assert comparison.intra_reference.shape == (66,)  # 12 * 11 / 2 pairs
    assert comparison.inter.shape == (144,)
    assert comparison.overlap > 0.8
    assert 0.0 <= comparison.kl < 0.2


def test_comparison_disjoint_sets_overlap_little():
  sparse = _random_set(1, 12, 0.03)
  dense = _random_set(2, 12, 0.6)
  result = metrics.compare_sets(sparse, dense)
  for name in ('density_kick', 'density_hihat', 'empty_step_ratio'):
    assert result[name].overlap < 0.1, name
    assert result[name].kl > 1.0, name
  for comparison in result.values():
    assert 0.0 <= comparison.overlap <= 1.0
    assert comparison.kl >= 0.0


def test_comparison_degenerate_zero_variance():
  # Every pattern identical: every distance is 0; no crash, full overlap.
  same = [metrics.compute_features(four_on_the_floor())] * 5
  result = metrics.compare_sets(same, same)
  for comparison in result.values():
    assert comparison.overlap == pytest.approx(1.0, abs=1e-6)
    assert comparison.kl == pytest.approx(0.0, abs=1e-6)
  # Identical inside each set but different across: intra = 0, inter = constant > 0.
  other = [metrics.compute_features(only_offbeats(bars=2))] * 5
  result = metrics.compare_sets(same, other)
  assert result['density_kick'].overlap < 1e-3
  assert result['density_kick'].kl > 1.0
  assert math.isfinite(result['density_kick'].kl)


def test_overlap_and_kl_properties():
  rng = np.random.default_rng(3)
  x = rng.normal(0, 1, 400)
  y = rng.normal(0, 1, 400)
  z = rng.normal(4, 1, 400)
  oa_same, kl_same = metrics.overlap_and_kl(x, y)
  oa_far, kl_far = metrics.overlap_and_kl(x, z)
  assert oa_same > 0.9 and kl_same < 0.05
  # Two unit normals 4 apart overlap by 2 * Phi(-2) = 0.0455. Their KL is
  # 4**2 / 2 = 8; the KDE's light sample-bounded tails make it larger still.
  assert oa_far == pytest.approx(0.0455, abs=0.03)
  assert kl_far > 5.0
  assert metrics.overlap_and_kl(np.zeros(0), y) == (pytest.approx(float('nan'), nan_ok=True),
                                                    pytest.approx(float('nan'), nan_ok=True))


def test_binned_kde_matches_scipy_gaussian_kde():
  from scipy import stats  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(5)
  samples = np.abs(rng.normal(0, 2, 5000))  # distances: non-negative, skewed
  grid = np.linspace(-3, samples.max() + 3, 1024)
  exact = stats.gaussian_kde(samples)(grid)
  # 5000 x 1024 is above the direct limit: kde_curve bins.
  assert samples.size * grid.size > metrics.DIRECT_KDE_LIMIT
  binned = metrics.kde_curve(samples, grid, bandwidth_floor=1e-3)
  np.testing.assert_allclose(binned, exact, atol=2e-3 * exact.max())
