"""drum_kit_control: per-bar controls in the encoding, the dataset, the sampler and the commands."""

import os

import numpy as np
import pytest
import tensorflow as tf

from drums_rnn import configs
from drums_rnn import controls
from drums_rnn import kinds
from drums_rnn import loading
from drums_rnn import midi
from drums_rnn.data import tfrecord
from drums_rnn.errors import ArgumentError
from drums_rnn.errors import DrumsRnnError
from drums_rnn.language_model import control_evaluation
from drums_rnn.language_model import generation
from drums_rnn.language_model.model import DrumsRnnModel
from drums_rnn.measure import scoring
from tests import helpers

CONTROL = configs.get_config('drum_kit_control')
SPEC = CONTROL.encoding.controls
KIT = configs.get_config('drum_kit')
FLAG = lambda name: f'--{name}'  # noqa: E731


def tiny_model(seed=1):
  hparams = CONTROL.hparams({'rnn_layer_sizes': [16], 'attn_length': 4})
  model = DrumsRnnModel.from_config(CONTROL, hparams, seed=seed)
  rng = np.random.default_rng(seed)
  model.set_weights({k: rng.uniform(-0.5, 0.5, v.shape).astype(np.float32)
                     for k, v in model.get_weights().items()})
  return hparams, model


# --- the spec and the encoding -------------------------------------------------------------


def test_columns_one_hot_each_control_with_its_disabled_bit():
  values = np.array([[2, controls.DISABLED], [1, 0], [controls.DISABLED, 4]])
  columns = SPEC.columns(values)
  styles, fill, density = len(SPEC.styles), 2, SPEC.num_density_bins + 1
  assert columns.shape == (2, styles + 1 + fill + density) == (2, SPEC.width)
  first, second = columns
  assert first[2] == 1 and first[:styles + 1].sum() == 1  # funk (index 2)
  assert second[styles] == 1 and second[:styles].sum() == 0  # style disabled
  assert first[styles + 1:styles + 3].tolist() == [1, 0] and second[styles + 1:styles + 3].tolist() == [0, 0]
  assert first[-1] == 1 and first[-density:-1].sum() == 0  # density disabled
  assert second[-density + 4] == 1 and second[-1] == 0
  with pytest.raises(ArgumentError, match='outside 0..4'):
    SPEC.columns([[0], [0], [5]])
  with pytest.raises(ArgumentError, match='neither 0 nor 1'):
    SPEC.columns([[0], [2], [0]])


def test_the_input_of_a_step_holds_the_controls_of_the_next():
  classes = np.array([1, 0, 5, 0] * 9)
  values = controls.per_step(36, 16, style=3, fill=[0, 1, 0], density=[1, 2, 3])
  inputs, labels = CONTROL.encoding.encode(classes, values)
  assert inputs.shape == (35, 536) and labels.tolist() == classes[1:].tolist()
  np.testing.assert_array_equal(inputs[:, -SPEC.width:], SPEC.columns(values[:, 1:]))
  plain_inputs, _ = KIT.encoding.encode(classes)
  np.testing.assert_array_equal(inputs[:, :518], plain_inputs)  # drum_kit's part unchanged
  disabled_inputs, _ = CONTROL.encoding.encode(classes)
  np.testing.assert_array_equal(disabled_inputs[:, -SPEC.width:], SPEC.columns(controls.disabled(35)))


def test_requests_become_values_with_clear_errors():
  values = controls.requested(SPEC, 128, 16, style='funk', fill_every=4, density=[0, 1, 2, 3, 4, 4, 4, 4])
  assert values[:, ::16].tolist() == [[2] * 8, [0, 0, 0, 1, 0, 0, 0, 1], [0, 1, 2, 3, 4, 4, 4, 4]]
  assert controls.requested(SPEC, 128, 16) is None
  assert controls.requested(SPEC, 40, 16, fill_bars=[3])[1].tolist() == [0] * 32 + [1] * 8
  cases = [(dict(style='polka'), 'unknown --style .polka.: choose one of rock, latin, funk, jazz'),
           (dict(density=5), '--density bin 5 is out of range: the bins are 0..4'),
           (dict(fill_bars=[9]), r'--fill_bars \[9\] past the track.s 8 bars'),
           (dict(density=[1, 2]), '--density gives 2 bars, the track has 8')]
  for kwargs, message in cases:
    with pytest.raises(ArgumentError) as e:
      controls.requested(SPEC, 128, 16, **kwargs)
    assert __import__('re').search(message, e.value.render(FLAG)), e.value
  with pytest.raises(ArgumentError, match='takes no controls'):
    controls.requested(None, 128, 16, style='rock')


def test_the_vocabulary_is_recorded_and_fixed():
  hparams = CONTROL.hparams()
  assert hparams['control_styles'] == list(controls.STYLES)
  assert hparams['density_bin_edges'] == list(controls.DENSITY_BIN_EDGES)
  with pytest.raises(ArgumentError, match='fixed by the config'):
    CONTROL.hparams({'density_bin_edges': [1, 2, 3, 4]})
  with pytest.raises(DrumsRnnError, match='must be a list of names'):
    CONTROL.hparams('control_styles=[1,2]')


# --- the sampler -----------------------------------------------------------------------------


@pytest.fixture(scope='module')
def sampler():
  _, model = tiny_model()
  return model, generation.BatchedSampler(model, CONTROL.encoding)


def test_sampling_follows_the_encoding_of_training(sampler):
  """The sampler's log-likelihood of what it drew equals the teacher-forced score of that track."""
  model, batched = sampler
  values = controls.requested(SPEC, 64, 16, style='jazz', fill_every=2, density=[0, 1, 2, 3])
  tracks, scores = generation.generate_tracks(model, CONTROL, [frozenset({36})], 2, 64, seed=4,
                                              sampler=batched, controls=values, control_strength=1.0)
  classes = [CONTROL.encoding.classes_from_events(t) for t in tracks]
  sums, _, _ = scoring.track_log_likelihoods(model, CONTROL.encoding, classes, controls=[values] * 2)
  np.testing.assert_allclose(sums, scores, rtol=1e-4)
  disabled, _ = generation.generate_tracks(model, CONTROL, [frozenset({36})], 2, 64, seed=4,
                                           sampler=batched)
  assert disabled != tracks  # the controls are read
  one, _ = generation.generate_tracks(model, CONTROL, [frozenset({36})], 1, 64, seed=4,
                                      sampler=batched, controls=values, control_strength=1.0)
  assert one[0] == tracks[0]  # output n does not depend on num_outputs
  assert batched._run.experimental_get_tracing_count() == 1  # pylint: disable=protected-access


def _guided_log_likelihood(model, classes, values, strength):
  """Teacher-forced: sum over steps of log softmax(free + strength * (given - free)) of the step drawn."""
  enc = CONTROL.encoding
  given, labels = enc.encode(classes, values)
  free, _ = enc.encode(classes, controls.disabled(len(classes)))
  logits, _ = model(tf.constant(np.stack([given, free])), model.zero_state(2))
  logp = tf.nn.log_softmax(logits).numpy()
  guided = tf.nn.log_softmax(logp[1] + strength * (logp[0] - logp[1])).numpy()
  return guided[np.arange(len(labels)), labels].sum()


def test_control_strength_draws_from_the_guided_distribution(sampler):
  """Strength s draws each step from free + s * (given - free); s = 0 is the disabled model's draw."""
  model, batched = sampler
  kick = [frozenset({36})]
  values = controls.requested(SPEC, 48, 16, style='funk', fill_bars=[2], density=[4, 0, 2])
  tracks, scores = generation.generate_tracks(model, CONTROL, kick, 3, 48, seed=5, sampler=batched,
                                              controls=values, control_strength=2.5)
  for track, score in zip(tracks, scores):
    classes = CONTROL.encoding.classes_from_events(track)
    np.testing.assert_allclose(_guided_log_likelihood(model, classes, values, 2.5), score, rtol=1e-4)
  plain, _ = generation.generate_tracks(model, CONTROL, kick, 3, 48, seed=5, sampler=batched,
                                        controls=values, control_strength=1.0)
  assert plain != tracks  # the guidance changes the draws
  for beam in ({}, {'beam_size': 2, 'branch_factor': 2, 'steps_per_iteration': 4}):
    ignored, _ = generation.generate_tracks(model, CONTROL, kick, 3, 48, seed=5, sampler=batched,
                                            controls=values, control_strength=0.0, **beam)
    disabled, _ = generation.generate_tracks(model, CONTROL, kick, 3, 48, seed=5, sampler=batched,
                                             **beam)
    assert ignored == disabled  # the disabled half of the batch is the disabled model, beams too
  assert batched._run_guided.experimental_get_tracing_count() == 1  # pylint: disable=protected-access
  with pytest.raises(ArgumentError, match='control_strength'):
    generation.generate_tracks(model, CONTROL, kick, 1, 48, sampler=batched, controls=values,
                               control_strength=-1.0)


def test_regenerating_voices_takes_controls(sampler):
  model, batched = sampler
  events = [frozenset({36, 42}) if s % 4 == 0 else frozenset() for s in range(32)]
  values = controls.requested(SPEC, 32, 16, style='latin', density=4)
  tracks, _ = generation.regenerate_voices(model, CONTROL, events, ['closed_hihat'], 1, 2, 1.0, 3,
                                           sampler=batched, controls=values)
  assert all(36 in t[s] for t in tracks for s in range(0, 32, 4))  # the kick is kept


def test_a_plain_model_takes_no_controls():
  model = DrumsRnnModel.from_config(KIT, KIT.hparams({'rnn_layer_sizes': [8], 'attn_length': 0}))
  with pytest.raises(DrumsRnnError, match='takes no controls'):
    generation.generate_tracks(model, KIT, [frozenset({36})], 1, 8, seed=1,
                               controls=controls.disabled(8))


# --- the dataset -----------------------------------------------------------------------------


def _fill_bar():
  return [(s, 45) for s in range(0, 16, 2)] + [(s, 48) for s in range(1, 16, 2)]


def test_the_dataset_labels_tracks_keeps_short_ones_and_counts_labels(tmp_path):
  folder = tmp_path / 'midi'
  folder.mkdir()
  midi.write_midi_files([helpers.drum_sequence(helpers.basic_beat(8), seq_id='beat'),
                         helpers.drum_sequence(_fill_bar(), seq_id='fill')],
                        [str(folder / 'rock_beat.mid'), str(folder / 'a_fill.mid')])
  (tmp_path / 'styles.csv').write_text('path,style\nmidi/rock_beat.mid,rock\n')
  summary = kinds.create_dataset(CONTROL, str(folder), str(tmp_path / 'out'), eval_ratio=0.0,
                                 style_csv=str(tmp_path / 'styles.csv'), control_dropout=0.0,
                                 num_workers=1)
  assert summary.tracks_written == 2  # the one-bar fill too (Magenta's rule drops it)
  lines = '\n'.join(summary.lines())
  assert 'Control style (bars): rock 8,' in lines and 'disabled 1.' in lines  # the fill: no style
  assert 'Control fill (bars): no fill 8, fill 1, disabled 0.' in lines
  records = list(tfrecord.iter_records(summary.output_paths['training']))
  assert len(records) == 2
  example = tf.train.SequenceExample.FromString(records[0])
  widths = {len(f.float_list.value) for f in example.feature_lists.feature_list['inputs'].feature}
  assert widths == {536}
  plain = kinds.create_dataset(KIT, str(folder), str(tmp_path / 'plain'), eval_ratio=0.0,
                               num_workers=1)
  assert plain.tracks_written == 1  # the 8-bar beat only


def test_dataset_options_a_config_does_not_use_are_refused(tmp_path):
  with pytest.raises(ArgumentError) as e:
    kinds.create_dataset(KIT, str(tmp_path), str(tmp_path / 'out'), style_csv='x.csv')
  assert e.value.render(FLAG).startswith('the drum_kit dataset does not use --style_csv')
  with pytest.raises(ArgumentError, match='control_dropout'):
    kinds.create_dataset(CONTROL, str(tmp_path), str(tmp_path / 'out'), control_dropout=2.0)


# --- bundles and the commands ----------------------------------------------------------------


@pytest.fixture(scope='module')
def control_bundle(tmp_path_factory):
  hparams, model = tiny_model(seed=2)
  path = str(tmp_path_factory.mktemp('bundle') / 'control.mag')
  loading.save_bundle(path, CONTROL, hparams, model, description='tiny controlled model')
  return path


def test_a_controlled_bundle_loads_back_with_its_controls(control_bundle):
  loaded = loading.load_model(control_bundle)
  assert loaded.config.name == 'drum_kit_control' and loaded.model.input_size == 536
  assert loaded.hparams['control_styles'] == list(controls.STYLES)


def test_generate_with_controls_and_one_line_errors(control_bundle, tmp_path):
  out = tmp_path / 'out'
  cases = [
      [f'--bundle_file={control_bundle}', f'--output_dir={out}', '--num_outputs=2', '--num_steps=64',
       '--style=funk', '--fill_every=4', '--density=1,2,3,4', '--seed=3', '--plot'],
      [f'--bundle_file={control_bundle}', f'--output_dir={out}', '--style=polka'],
      [f'--bundle_file={control_bundle}', f'--output_dir={out}', '--num_steps=64', '--density=7'],
      [f'--bundle_file={control_bundle}', f'--output_dir={out}', '--num_steps=64', '--fill_bars=5'],
      [f'--output_dir={out}', '--style=rock'],  # the shipped drum_kit model has no controls
      [f'--output_dir={out}', '--control_strength=2'],
      [f'--bundle_file={control_bundle}', f'--output_dir={out}', '--style=rock', '--control_strength=-1'],
  ]
  results = helpers.run_cli_cases('drums_rnn.cli.drums_rnn_generate', cases, timeout=600)
  assert results[0]['code'] == 0, results[0]['stderr'][-2000:]
  assert sorted(n[-4:] for n in os.listdir(out)) == ['.mid', '.mid', '.png', '.png']
  expected = ["unknown --style 'polka': choose one of rock, latin", '--density bin 7 is out of range',
              "--fill_bars [5] past the track's 4 bars", 'takes no controls',
              '--control_strength needs a model with controls', '--control_strength must be >= 0, got -1.0']
  for result, message in zip(results[1:], expected):
    errors = [l for l in result['stderr'].splitlines() if l.startswith('error:')]
    assert result['code'] == 2 and len(errors) == 1 and message in errors[0], result['stderr'][-800:]
    assert 'Traceback' not in result['stderr']


def test_the_evaluation_refuses_a_plain_model_and_measures_variety():
  plain = loading.LoadedModel(KIT, KIT.hparams(), None, 'x', 'bundle')
  with pytest.raises(ArgumentError, match='no controls to evaluate'):
    control_evaluation.evaluate_controls(plain, '/nowhere')
  same = [np.tile([1, 0, 4, 0], 16)] * 3  # one 2-bar window, repeated
  varied = [np.random.default_rng(i).integers(0, 512, 64) for i in range(3)]
  assert control_evaluation.variety(same) == {'distinct_windows': round(1 / 6, 3),
                                              'mean_jaccard_distance': 0.0}
  assert control_evaluation.variety(varied)['distinct_windows'] == 1.0
