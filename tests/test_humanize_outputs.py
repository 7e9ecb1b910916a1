"""Humanized outputs: drums_rnn_generate --humanize and the velocity-and-timing pictures."""

import os

import numpy as np

from drums_rnn import configs
from drums_rnn.language_model import generation
from drums_rnn import loading
from drums_rnn.humanizer import humanize
from drums_rnn import midi
from drums_rnn.humanizer import performance
from drums_rnn import plotting
from drums_rnn.language_model.model import DrumsRnnModel
from tests.test_humanizer import _tiny_loaded
from tests.test_plotting import png_size

KIT = configs.get_config('drum_kit')
PRIMER = [frozenset({36, 42}), frozenset(), frozenset({42}), frozenset()]


def _generate(tmp_path, name, humanizer, seed=3, plot=False, level=None):
  model = DrumsRnnModel(KIT.encoding.input_size, KIT.encoding.num_classes, [16], attn_length=0, seed=1)
  return generation.generate_to_midi(KIT, model, str(tmp_path / name), PRIMER, num_outputs=2, num_steps=64,
                                     qpm=110.0, seed=seed, plot=plot, timestamp='t', humanizer=humanizer,
                                     humanize_level=level)


def test_generate_humanized_keeps_the_grid_and_is_seeded(tmp_path):
  humanizer = humanize.Humanizer(_tiny_loaded(seed=6))
  plain = _generate(tmp_path, 'plain', None)
  human = _generate(tmp_path, 'human', humanizer, plot=True)
  again = _generate(tmp_path, 'again', humanizer)
  step = 60.0 / 110.0 / 4
  for p, h, a in zip(plain, human, again):
    flat, shaped = midi.read_midi(p), midi.read_midi(h)
    assert open(h, 'rb').read() == open(a, 'rb').read()  # output n is the same for the same seed
    assert {n.velocity for n in flat.notes} == {100}
    assert len({n.velocity for n in shaped.notes}) > 3
    before = sorted((round(n.start_time / step), n.pitch) for n in flat.notes)
    after = sorted((round(n.start_time / step), n.pitch) for n in shaped.notes)
    assert before == after  # same hits, same pitches, each within half a step of its grid step
    assert os.path.isfile(os.path.splitext(h)[0] + '.png')
  other = _generate(tmp_path, 'other', humanizer, seed=4)
  assert open(other[0], 'rb').read() != open(human[0], 'rb').read()
  shipped = loading.load_humanizer()  # the trained one follows the level it is given
  loud = _generate(tmp_path, 'loud', shipped, level=115)
  soft = _generate(tmp_path, 'soft', shipped, level=30)
  mean = lambda path: np.mean([n.velocity for n in midi.read_midi(path).notes])  # noqa: E731
  assert mean(loud[0]) > mean(soft[0]) + 15


def test_velocity_and_timing_pictures(tmp_path):
  perf = performance.Performance(np.zeros((32, 9), np.int64), np.zeros((32, 9), np.float32))
  perf.velocities[0::2, 2] = np.tile([120, 20], 8)
  perf.offsets[0::2, 2] = 0.3
  flat = plotting.plot_drum_track(perf.hits, str(tmp_path / 'flat.png'))
  shaped = plotting.plot_drum_track(perf.hits, str(tmp_path / 'shaped.png'), velocities=perf.velocities,
                                    offsets=perf.offsets)
  assert png_size(flat) == png_size(shaped)
  assert open(flat, 'rb').read() != open(shaped, 'rb').read()
  path = midi.write_midi(str(tmp_path / 'played.mid'), performance.performance_sequence(perf))
  assert humanize.write_plots([path], primer_steps=4) == [str(tmp_path / 'played.png')]
