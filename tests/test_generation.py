"""Generation library: primers, the batched sampler and beam search, NoteSequence/MIDI output."""

import os
import re

import note_seq
import numpy as np
import pretty_midi
import pytest
import tensorflow as tf

from drums_rnn import configs
from drums_rnn.language_model import generation
from drums_rnn import midi
from drums_rnn.language_model import primers
from drums_rnn.errors import DrumsRnnError
from drums_rnn.language_model.model import DrumsRnnModel
from tests.helpers import drum_sequence

KIT = configs.get_config('drum_kit')
ONE = configs.get_config('one_drum')


@pytest.fixture(scope='module')
def kit_sampler():
  """A small drum_kit model with sharp (non-uniform) random weights, and its sampler."""
  model = DrumsRnnModel(KIT.encoding.input_size, KIT.encoding.num_classes, [24, 16], attn_length=4, seed=1)
  model.set_weights({k: v * 4 for k, v in model.get_weights().items()})
  return model, generation.BatchedSampler(model, KIT.encoding)


def _track_log_likelihood(model, encoding, classes, temperature):
  """Sum of log p(class_t | classes_<t) over positions 1.. by a full-sequence run."""
  logits, _ = model(encoding.inputs_from_classes(np.asarray(classes))[None])
  logp = tf.nn.log_softmax(logits[0] / temperature).numpy()
  return float(sum(logp[t - 1, c] for t, c in enumerate(classes) if t > 0))


# --- primers ----------------------------------------------------------------


def test_parse_primer_drums():
  events = primers.parse_primer_drums('[(36, 42), (), (42,), ()]')
  assert events == [frozenset({36, 42}), frozenset(), frozenset({42}), frozenset()]  # trailing () counts
  assert primers.parse_primer_drums('[(36,)]') == [frozenset({36})]


@pytest.mark.parametrize('text', ['[(36,', '36', '[]', '[("a",)]', '[(36.0,)]', 'import os', '{1: 2}'])
def test_parse_primer_drums_malformed(text):
  with pytest.raises(DrumsRnnError, match=re.escape('e.g. "[(36, 42), (), (42,)]"')):
    primers.parse_primer_drums(text)


@pytest.mark.parametrize('text', ['[(128,)]', '[(36,), (-1,)]'])
def test_parse_primer_drums_pitch_range(text):
  with pytest.raises(DrumsRnnError, match='outside the MIDI range 0..127'):
    primers.parse_primer_drums(text)


def _write_midi(sequence, path):
  note_seq.sequence_proto_to_midi_file(sequence, str(path))
  return str(path)


def test_primer_midi_starts_at_the_bar_and_keeps_raw_pitches(tmp_path):
  # First onset in bar 2 (step 20): the primer starts at step 16 with 4 silent steps.
  seq = drum_sequence([(20, 36), (20, 42), (22, 100), (25, 38)], qpm=90.0)
  events, qpm = primers.primer_from_midi(_write_midi(seq, tmp_path / 'p.mid'), 4)
  assert qpm == pytest.approx(90.0, rel=1e-5)
  assert len(events) == 10
  assert events[4] == {36, 42} and events[6] == {100} and events[9] == {38}
  assert all(not events[i] for i in (0, 1, 2, 3, 5, 7, 8))


def test_primer_midi_uses_drum_notes_and_falls_back_to_all_notes(tmp_path):
  seq = drum_sequence([(0, 36), (2, 38)])
  seq.notes.add(pitch=60, velocity=80, start_time=0.5, end_time=0.6, is_drum=False, instrument=0)
  events, _ = primers.primer_from_midi(_write_midi(seq, tmp_path / 'mixed.mid'), 4)
  assert events == [{36}, set(), {38}]  # the piano note is ignored
  melodic = drum_sequence([(0, 60), (1, 62)], is_drum=False)
  for note in melodic.notes:
    note.instrument = 0
  events, _ = primers.primer_from_midi(_write_midi(melodic, tmp_path / 'piano.mid'), 4)
  assert events == [{60}, {62}]


def test_primer_midi_errors(tmp_path):
  bad = tmp_path / 'bad.mid'
  bad.write_bytes(b'not midi')
  with pytest.raises(DrumsRnnError, match='cannot read primer MIDI'):
    primers.primer_from_midi(str(bad), 4)
  with pytest.raises(DrumsRnnError, match='cannot read primer MIDI'):
    primers.primer_from_midi(str(tmp_path / 'missing.mid'), 4)


def test_resolve_primer_defaults_and_qpm(tmp_path, caplog):
  events, qpm = primers.resolve_primer(KIT)
  assert events == [{36}] and qpm == 120.0
  events, qpm = primers.resolve_primer(KIT, primer_drums='[(38,), ()]', qpm=100)
  assert events == [{38}, set()] and qpm == 100.0
  path = _write_midi(drum_sequence([(0, 36)], qpm=75.0), tmp_path / 'slow.mid')
  events, qpm = primers.resolve_primer(KIT, primer_midi=path, qpm=140)
  assert qpm == pytest.approx(75.0, rel=1e-5)  # the primer MIDI's tempo wins
  with pytest.raises(DrumsRnnError, match='both as drums'):
    primers.resolve_primer(KIT, primer_drums='[(38,)]', primer_midi=path)


def test_check_generation_args():
  ok = dict(primer_length=3, num_outputs=1, num_steps=4, temperature=1.0, beam_size=1, branch_factor=1,
            steps_per_iteration=1)
  generation.check_generation_args(**ok)
  for bad, match in [(dict(primer_length=4), 'num_steps'), (dict(primer_length=5), 'num_steps'),
                     (dict(temperature=0.0), 'temperature'), (dict(temperature=-1.0), 'temperature'),
                     (dict(num_outputs=0), 'num_outputs'), (dict(beam_size=0), 'beam_size')]:
    with pytest.raises(DrumsRnnError, match=match):
      generation.check_generation_args(**dict(ok, **bad))


# --- sampler ------------------------------------------------------------------


def test_in_graph_inputs_equal_the_encoding(kit_sampler):
  model, sampler = kit_sampler
  classes = np.array([5, 0, 511, 3, 1, 0, 7, 9], np.int32)
  (got,) = sampler._inputs(tf.constant(classes), tf.range(70, 78), [sampler._control_table(None, 1)]).numpy()
  np.testing.assert_array_equal(got, KIT.encoding.inputs_from_classes(classes, start_position=70))


@pytest.mark.parametrize('beam', [dict(), dict(beam_size=3, branch_factor=2, steps_per_iteration=4)])
def test_output_n_does_not_depend_on_num_outputs(kit_sampler, beam):
  _, sampler = kit_sampler
  many, many_ll = sampler.sample([1, 0, 4], 5, 30, 1.0, seed=11, **beam)
  few, few_ll = sampler.sample([1, 0, 4], 2, 30, 1.0, seed=11, **beam)
  np.testing.assert_array_equal(few, many[:2])
  np.testing.assert_allclose(few_ll, many_ll[:2], rtol=1e-5)
  other, _ = sampler.sample([1, 0, 4], 2, 30, 1.0, seed=12, **beam)
  assert not np.array_equal(other, few)
  assert not np.array_equal(many[0], many[1])


@pytest.mark.parametrize('beam', [dict(), dict(beam_size=3, branch_factor=2, steps_per_iteration=4),
                                  dict(beam_size=2, branch_factor=3, steps_per_iteration=1)])
def test_scores_are_the_tracks_log_likelihood(kit_sampler, beam):
  """The returned score equals the model's likelihood of the returned track (primer included),
  so beam reselection gathered states, history and scores consistently."""
  model, sampler = kit_sampler
  primer = [1, 0, 4, 0]
  classes, scores = sampler.sample(primer, 3, 23, 0.8, seed=5, **beam)
  assert classes.shape == (3, 23)
  for row, score in zip(classes, scores):
    expected = _track_log_likelihood(model, KIT.encoding, primer + list(row), 0.8)
    assert score == pytest.approx(expected, rel=1e-4, abs=1e-3)


def test_beam_search_finds_likelier_tracks(kit_sampler):
  _, sampler = kit_sampler
  _, plain = sampler.sample([1], 8, 16, 1.0, seed=3)
  _, beam = sampler.sample([1], 8, 16, 1.0, seed=3, beam_size=1, branch_factor=8)
  assert beam.mean() > plain.mean() + 1.0


def test_one_beam_iteration_is_best_of_independent_samples(kit_sampler):
  """steps_per_iteration = steps to generate: one iteration, no reselection, so the beam of
  output 1 holds exactly the first K plain samples (same rows, same random numbers)."""
  _, sampler = kit_sampler
  plain, plain_ll = sampler.sample([1, 0], 6, 12, 1.0, seed=9)
  best, best_ll = sampler.sample([1, 0], 1, 12, 1.0, seed=9, beam_size=1, branch_factor=6,
                                 steps_per_iteration=12)
  np.testing.assert_array_equal(best[0], plain[np.argmax(plain_ll)])
  assert best_ll[0] == pytest.approx(plain_ll.max(), rel=1e-5)
  # With more iterations the beam is re-ranked along the way and (here) ends elsewhere.
  other, _ = sampler.sample([1, 0], 1, 12, 1.0, seed=9, beam_size=1, branch_factor=6,
                            steps_per_iteration=1)
  assert not np.array_equal(other[0], best[0])


def test_sampling_follows_the_softmax():
  """Gumbel-max draws with the softmax's frequencies (and temperature)."""
  logits = tf.constant([[0.0, 1.0, 2.0, -1.0]] * 20000)
  for temperature in (1.0, 0.5):
    drawn = generation._sample_rows(logits / temperature, tf.constant([1, 2], tf.int64)).numpy()
    freq = np.bincount(drawn, minlength=4) / len(drawn)
    np.testing.assert_allclose(freq, tf.nn.softmax(logits[0] / temperature).numpy(), atol=0.015)


def test_generate_to_midi_checks_its_arguments_once(kit_sampler, tmp_path, monkeypatch):
  model, _ = kit_sampler
  calls = []
  real = generation.check_generation_args
  monkeypatch.setattr(generation, 'check_generation_args', lambda *a, **k: calls.append(a) or real(*a, **k))
  paths = generation.generate_to_midi(KIT, model, str(tmp_path), [frozenset({36})], num_outputs=2,
                                      num_steps=8, seed=1, timestamp='t')
  assert len(calls) == 1 and [os.path.basename(p) for p in paths] == ['t_1.mid', 't_2.mid']


def test_generate_tracks_one_drum():
  model = DrumsRnnModel(ONE.encoding.input_size, ONE.encoding.num_classes, [8], seed=2)
  primer = [frozenset({36}), frozenset(), frozenset({42})]
  tracks, scores = generation.generate_tracks(model, ONE, primer, num_outputs=2, num_steps=10, seed=1)
  assert len(tracks) == 2 and all(len(t) == 10 for t in tracks)
  assert all(t[:3] == primer for t in tracks)  # raw primer pitches kept
  assert all(step in (frozenset(), frozenset({39})) for t in tracks for step in t[3:])
  assert np.all(scores < 0)


# --- NoteSequence and MIDI ------------------------------------------------------


def test_track_to_sequence():
  events = [frozenset({36, 42}), frozenset(), frozenset({100}), frozenset()]
  seq = midi.events_to_sequence(events, 4, qpm=120.0, velocity=90)
  assert seq.ticks_per_quarter == 220 and seq.tempos[0].qpm == 120.0
  notes = sorted((n.start_time, n.pitch) for n in seq.notes)
  assert notes == [(0.0, 36), (0.0, 42), (0.25, 100)]
  assert all(n.is_drum and n.instrument == 9 and n.velocity == 90 for n in seq.notes)
  assert all(n.end_time - n.start_time == pytest.approx(0.125) for n in seq.notes)
  assert seq.total_time == pytest.approx(0.375)


def _magenta_to_sequence(events, steps_per_quarter, qpm, velocity):
  """What generation wrote before drums_rnn.midi: Magenta's DrumTrack.to_sequence, by hand."""
  from note_seq.protobuf import music_pb2  # pylint: disable=import-outside-toplevel
  sequence = music_pb2.NoteSequence()
  sequence.ticks_per_quarter = note_seq.STANDARD_PPQ
  sequence.tempos.add(qpm=qpm)
  seconds_per_step = 60.0 / qpm / steps_per_quarter
  for step, pitches in enumerate(events):
    for pitch in sorted(pitches):
      sequence.notes.add(pitch=pitch, velocity=velocity, instrument=9, is_drum=True,
                         start_time=step * seconds_per_step, end_time=(step + 1) * seconds_per_step)
  sequence.total_time = max(n.end_time for n in sequence.notes)
  return sequence


@pytest.mark.parametrize('config, qpm, velocity', [(KIT, 120.0, 100), (KIT, 97.5, 64), (ONE, 133.0, 100)])
def test_written_midi_is_byte_identical_to_note_seq(kit_sampler, tmp_path, config, qpm, velocity):
  """The files equal note-seq's own sequence_proto_to_midi_file of Magenta's sequence."""
  model, sampler = kit_sampler
  if config is ONE:
    model = DrumsRnnModel(ONE.encoding.input_size, ONE.encoding.num_classes, [8], seed=2)
    sampler = generation.BatchedSampler(model, ONE.encoding)
  primer = [frozenset({36, 42}), frozenset(), frozenset({46, 45, 49, 50})]
  tracks, _ = generation.generate_tracks(model, config, primer, num_outputs=3, num_steps=40, seed=7,
                                         sampler=sampler)
  paths = generation.write_tracks(tracks, config, str(tmp_path / 'ours'), qpm, velocity, timestamp='t')
  for track, path in zip(tracks, paths):
    reference = str(tmp_path / 'reference.mid')
    note_seq.sequence_proto_to_midi_file(
        _magenta_to_sequence(track, config.steps_per_quarter, qpm, velocity), reference)
    with open(path, 'rb') as ours, open(reference, 'rb') as theirs:
      assert ours.read() == theirs.read()


def test_output_names():
  assert generation.output_names(10, '2026-01-02_030405') == [
      f'2026-01-02_030405_{i:02d}.mid' for i in range(1, 11)]
  assert generation.output_names(3, 'x') == ['x_1.mid', 'x_2.mid', 'x_3.mid']


def test_write_midi_files_on_channel_10(tmp_path):
  tracks = [[frozenset({36}), frozenset({38})]] * 2
  paths = generation.write_tracks(tracks, KIT, str(tmp_path / 'out'), timestamp='t')
  assert [os.path.basename(p) for p in paths] == ['t_1.mid', 't_2.mid']
  midi_file = pretty_midi.PrettyMIDI(paths[0])
  drums = [i for i in midi_file.instruments if i.notes]
  assert len(drums) == 1 and drums[0].is_drum and [n.pitch for n in drums[0].notes] == [36, 38]
  assert sorted(os.listdir(tmp_path / 'out')) == ['t_1.mid', 't_2.mid']


def test_a_second_run_in_the_same_second_keeps_both(tmp_path):
  first = generation.write_tracks([[frozenset({36})]] * 2, KIT, str(tmp_path), timestamp='t')
  before = {p: open(p, 'rb').read() for p in first}
  second = generation.write_tracks([[frozenset({38})]] * 2, KIT, str(tmp_path), timestamp='t')
  assert [os.path.basename(p) for p in second] == ['t_1-2.mid', 't_2-2.mid']
  assert {p: open(p, 'rb').read() for p in first} == before
  assert sorted(os.listdir(tmp_path)) == ['t_1-2.mid', 't_1.mid', 't_2-2.mid', 't_2.mid']


def test_write_midi_files_removes_partial_output(tmp_path, monkeypatch):
  real = midi.midi_bytes
  calls = []

  def flaky(sequence):
    calls.append(sequence)
    if len(calls) == 3:
      raise OSError('disk full')
    return real(sequence)

  monkeypatch.setattr(midi, 'midi_bytes', flaky)
  with pytest.raises(OSError):
    generation.write_tracks([[frozenset({36})]] * 4, KIT, str(tmp_path), timestamp='t')
  assert os.listdir(tmp_path) == []
