"""Drum-grid PNGs and distance-distribution PNGs are valid images of sensible size."""

import os
import struct

import numpy as np

from drums_rnn import encoding
from drums_rnn.measure import features as metrics
from drums_rnn import plotting
from drums_rnn.measure import comparison as comparison_lib
from tests.helpers import basic_beat

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def png_size(path):
  with open(path, 'rb') as f:
    header = f.read(24)
  assert header[:8] == PNG_SIGNATURE, 'not a PNG file'
  assert header[12:16] == b'IHDR'
  return struct.unpack('>II', header[16:24])


def beat_classes(bars):
  hits = basic_beat(bars)
  return encoding.DRUM_KIT.classes_from_onsets([h[0] for h in hits], [h[1] for h in hits], 16 * bars)


def test_plot_drum_track_writes_png(tmp_path):
  path = str(tmp_path / 'sub' / 'track.png')
  assert plotting.plot_drum_track(beat_classes(4), path, primer_steps=16, title='beat') == path
  width, height = png_size(path)
  assert 500 <= width <= 4000
  assert 200 <= height <= 800
  # Only the PNG is left in the folder (written under a temp name, then renamed).
  assert os.listdir(tmp_path / 'sub') == ['track.png']


def test_longer_tracks_get_wider_pictures(tmp_path):
  short = png_size(plotting.plot_drum_track(beat_classes(2), str(tmp_path / 'a.png')))
  long = png_size(plotting.plot_drum_track(beat_classes(16), str(tmp_path / 'b.png')))
  assert long[0] > short[0]
  assert long[1] == short[1]


def test_plot_accepts_hit_grids_and_empty_tracks(tmp_path):
  grid = np.zeros((32, 9), bool)
  width, height = png_size(plotting.plot_drum_track(grid, str(tmp_path / 'empty.png')))
  assert width > 0 and height > 0
  one_drum = np.zeros((16, 1), bool)
  one_drum[::4] = True
  one_grid = png_size(plotting.plot_drum_track(one_drum, str(tmp_path / 'one.png'), steps_per_bar=8))
  # one_drum class indices (0/1) draw the same single-row picture.
  one_classes = png_size(plotting.plot_drum_track(one_drum[:, 0].astype(int), str(tmp_path / 'one2.png'),
                                                  steps_per_bar=8, num_drum_types=1))
  assert one_classes == one_grid
  assert one_grid[1] < height


def test_plot_distance_distributions(tmp_path):
  rng = np.random.default_rng(0)
  a = [metrics.compute_features(rng.random((32, 9)) < 0.2) for _ in range(6)]
  b = [metrics.compute_features(rng.random((32, 9)) < 0.4) for _ in range(6)]
  comparison = metrics.compare_sets(a, b)['density_kick']
  path = comparison_lib.plot_distance_distributions(comparison, str(tmp_path / 'kick.png'), 'real', 'fake')
  width, height = png_size(path)
  assert (width, height) == (600, 340)
  # Degenerate distances (all zero) still plot.
  same = [metrics.compute_features(np.eye(9, dtype=bool))] * 3
  png_size(comparison_lib.plot_distance_distributions(metrics.compare_sets(same, same)['symmetry'],
                                                      str(tmp_path / 'same.png')))
