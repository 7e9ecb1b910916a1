"""Regenerating chosen voices over fixed ones: the masked sampler, regenerate_voices, the generate flag."""

import os

import numpy as np
import pytest

from drums_rnn import configs
from drums_rnn import encoding
from drums_rnn.language_model import generation
from drums_rnn import midi
from drums_rnn.language_model import primers
from drums_rnn.errors import DrumsRnnError
from drums_rnn.language_model.model import DrumsRnnModel
from tests import helpers

KIT = configs.get_config('drum_kit')
HATS = ('closed_hihat', 'open_hihat', 'ride')
HAT_BITS = 0b100001100
KEEP_BITS = (KIT.encoding.num_classes - 1) & ~HAT_BITS


@pytest.fixture(scope='module')
def kit():
  """A small drum_kit model with sharp random weights, and its sampler."""
  model = DrumsRnnModel(KIT.encoding.input_size, KIT.encoding.num_classes, [24, 16], attn_length=4, seed=3)
  model.set_weights({k: v * 4 for k, v in model.get_weights().items()})
  return model, generation.BatchedSampler(model, KIT.encoding)


def groove(steps=32):
  """Kick and snare (with a 40 snare to check pitches are kept), hats, a cowbell outside the kit."""
  events = []
  for i in range(steps):
    hits = {42} if i % 2 == 0 else set()
    if i % 8 == 0:
      hits.add(36)
    if i % 8 == 4:
      hits.add(40 if i % 16 == 12 else 38)
    if i == 5:
      hits.add(56)  # cowbell: outside the nine drum types
    events.append(frozenset(hits))
  return events


def _masked_log_likelihood(model, classes, primer_steps, fixed, fixed_mask):
  """log p of a track under the masked, renormalised distributions, by one full-sequence run."""
  logits, _ = model(KIT.encoding.inputs_from_classes(np.asarray(classes))[None])
  logits = logits[0].numpy().astype(np.float64)
  total = 0.0
  ids = np.arange(KIT.encoding.num_classes)
  for t in range(1, len(classes)):
    row = logits[t - 1]
    if t >= primer_steps:
      row = np.where((ids & fixed_mask) == (fixed[t] & fixed_mask), row, -np.inf)
    logp = row - np.logaddexp.reduce(row)
    assert np.isclose(np.exp(logp).sum(), 1.0)  # renormalised over the allowed classes
    total += logp[classes[t]]
  return total


def test_fixed_voices_are_kept_and_regenerated_ones_vary(kit):
  model, sampler = kit
  events = groove()
  tracks, scores = generation.regenerate_voices(model, KIT, events, HATS, primer_steps=4, num_outputs=4,
                                                seed=7, sampler=sampler)
  given = KIT.encoding.classes_from_events(events)
  for track, score in zip(tracks, scores):
    assert len(track) == len(events) and track[:4] == events[:4]
    classes = KIT.encoding.classes_from_events(track)
    assert np.array_equal(classes & KEEP_BITS, given & KEEP_BITS)
    # The kept voices keep their exact pitches (the 40 snare, the cowbell outside the kit).
    bits = KIT.encoding.pitch_bits
    for new, old in zip(track[4:], events[4:]):
      assert {p for p in new if not bits[p] & HAT_BITS} == {p for p in old if not bits[p] & HAT_BITS}
    assert np.isclose(score, _masked_log_likelihood(model, classes, 4, given, KEEP_BITS), atol=1e-3)
  hats = {tuple(KIT.encoding.classes_from_events(t) & HAT_BITS) for t in tracks}
  assert len(hats) > 1  # outputs differ
  again, _ = generation.regenerate_voices(model, KIT, events, HATS, primer_steps=4, num_outputs=4, seed=7,
                                          sampler=sampler)
  assert again == tracks
  other, _ = generation.regenerate_voices(model, KIT, events, HATS, primer_steps=4, num_outputs=4, seed=8,
                                          sampler=sampler)
  assert other != tracks


def test_all_voices_fixed_reproduces_the_track_with_probability_one(kit):
  model, sampler = kit
  given = KIT.encoding.classes_from_events(groove())
  primer_only = sampler.sample(given[:1], 1, 0)[1][0]
  classes, scores = sampler.sample(given[:1], 2, len(given) - 1, seed=1, fixed_classes=given[1:],
                                   fixed_mask=KIT.encoding.num_classes - 1)
  assert np.array_equal(classes[0], given[1:]) and np.array_equal(classes[1], given[1:])
  assert np.allclose(scores, primer_only, atol=1e-5)  # every step had one allowed class: log 1 = 0


def test_no_fixed_voices_is_the_plain_sampler_bit_for_bit(kit):
  _, sampler = kit
  primer = KIT.encoding.classes_from_events(groove(8))
  plain = sampler.sample(primer, 3, 24, 0.9, beam_size=2, branch_factor=2, steps_per_iteration=4, seed=5)
  masked = sampler.sample(primer, 3, 24, 0.9, beam_size=2, branch_factor=2, steps_per_iteration=4, seed=5,
                          fixed_classes=np.arange(24) * 37 % 512, fixed_mask=0)
  assert np.array_equal(plain[0], masked[0]) and np.array_equal(plain[1], masked[1])
  before = sampler._run.experimental_get_tracing_count()  # pylint: disable=protected-access
  generation.regenerate_voices(sampler.model, KIT, groove(40), ['snare'], primer_steps=3, sampler=sampler,
                               seed=1)
  assert sampler._run.experimental_get_tracing_count() == before  # pylint: disable=protected-access


def test_bad_requests_are_clear(kit):
  model, sampler = kit
  with pytest.raises(DrumsRnnError, match="unknown voice 'cowbell': choose from bass_drum, snare"):
    generation.regenerate_voices(model, KIT, groove(), ['snare', 'cowbell'], sampler=sampler)
  with pytest.raises(DrumsRnnError, match='no voices to regenerate'):
    generation.regenerate_voices(model, KIT, groove(), [], sampler=sampler)
  with pytest.raises(DrumsRnnError, match='the primer must be 1 to 31 steps'):
    generation.regenerate_voices(model, KIT, groove(), ['snare'], primer_steps=32, sampler=sampler)
  one = configs.get_config('one_drum')
  with pytest.raises(DrumsRnnError, match='needs a drum_kit model'):
    generation.regenerate_voices(model, one, groove(), ['snare'])
  assert generation.voice_mask('ride') == 1 << encoding.DRUM_VOICE_NAMES.index('ride')


def test_generate_command_regenerates_voices_of_a_midi(tmp_path):
  path = midi.write_midi(str(tmp_path / 'groove.mid'), midi.events_to_sequence(groove(), 4, 100.0))
  out = tmp_path / 'out'
  base = ['--output_dir=' + str(out), f'--primer_midi={path}']
  cases = [base + ['--regenerate_voices=closed_hihat,open_hihat,ride', '--num_outputs=2', '--seed=4'],
           base + ['--regenerate_voices=snare,tambourine'],
           ['--output_dir=' + str(out), '--regenerate_voices=snare']]
  results = helpers.run_cli_cases('drums_rnn.cli.drums_rnn_generate', cases)
  assert results[0]['code'] == 0, results[0]['stderr'][-2000:]
  written = sorted(os.listdir(out))
  assert len(written) == 2
  given = KIT.encoding.classes_from_events(groove())
  for name in written:
    events, qpm = primers.primer_from_midi(str(out / name), 4)
    assert abs(qpm - 100.0) < 1e-6
    classes = KIT.encoding.classes_from_events(events + [frozenset()] * (32 - len(events)))
    assert np.array_equal(classes & KEEP_BITS, given & KEEP_BITS)
  for result, message in zip(results[1:], ["unknown voice 'tambourine'", 'needs the track to keep']):
    errors = [l for l in result['stderr'].splitlines() if l.startswith('error:')]
    assert result['code'] == 2 and len(errors) == 1 and message in errors[0], result['stderr'][-2000:]
  assert sorted(os.listdir(out)) == written
