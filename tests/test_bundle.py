"""Bundles and Magenta checkpoints: layouts, names, round trips, Magenta's graph semantics, loading.

The Magenta-layout references are built by TF's own tf.compat.v1 cells in a
subprocess (tests/magenta_graph_fixtures.py); our model must give the same
next-step probabilities from their checkpoints.
"""

import os

import numpy as np
import pytest
import tensorflow as tf
from note_seq.protobuf import generator_pb2

from drums_rnn import bundle
from drums_rnn.language_model import magenta_names as checkpoints
from drums_rnn import configs
from drums_rnn import loading
from drums_rnn.errors import DrumsRnnError
from drums_rnn.language_model.model import DrumsRnnModel
from drums_rnn.language_model import bundle as drums_bundle
from drums_rnn.nn import weights as weights_lib
from tests.magenta_graph_fixtures import build_magenta_fixtures

SIZES = (8, 6, 5)


@pytest.fixture(scope='module')
def magenta(tmp_path_factory):
  """Three Magenta-layout drum bundles, built in one subprocess."""
  root = tmp_path_factory.mktemp('magenta')
  kit = dict(input_size=518, num_classes=512, rnn_layer_sizes=SIZES, attn_length=3,
             generator_id='drum_kit', num_steps=5)
  specs = [
      dict(kit, out_dir=str(root / 'first'), layout='first_layer', seed=1),
      dict(kit, out_dir=str(root / 'whole'), layout='whole_stack', seed=2,
           projection_scope='attention_output_projection'),
      dict(out_dir=str(root / 'one'), input_size=2, num_classes=2, rnn_layer_sizes=(7, 5), attn_length=0,
           generator_id='one_drum', seed=3),
  ]
  first, whole, one = build_magenta_fixtures(specs)
  return {'first_layer': first, 'whole_stack': whole, 'one_drum': one}


def _probs(model, inputs, temperature=1.0):
  logits, _ = model(inputs)
  return tf.nn.softmax(logits / temperature).numpy()


def _step_probs(model, inputs):
  """Next-step probabilities one step at a time (the generation path)."""
  state = model.zero_state(inputs.shape[0])
  out = []
  for t in range(inputs.shape[1]):
    logits, state = model.step(inputs[:, t], state)
    out.append(tf.nn.softmax(logits).numpy())
  return np.stack(out, axis=1)


@pytest.mark.parametrize('layout', ['first_layer', 'whole_stack'])
def test_magenta_bundle_matches_tf1_graph(magenta, layout):
  fx = magenta[layout]
  loaded = loading.load_model(fx['bundle'])
  config, hparams, model = loaded.config, loaded.hparams, loaded.model
  assert config.name == 'drum_kit' and loaded.origin == 'bundle'
  assert model.attention_layout == layout
  assert hparams['rnn_layer_sizes'] == list(SIZES)
  assert hparams['attn_length'] == 3  # from the metagraph's state shapes, not the default 32
  assert fx['softmax'].std() > 1e-4  # not a uniform distribution
  np.testing.assert_allclose(_probs(model, fx['inputs']), fx['softmax'], atol=1e-5)
  np.testing.assert_allclose(_probs(model, fx['inputs'], 0.7), fx['softmax_t'], atol=1e-5)
  np.testing.assert_allclose(_step_probs(model, fx['inputs']), fx['softmax'], atol=1e-5)


def test_magenta_one_drum_bundle(magenta):
  fx = magenta['one_drum']
  loaded = loading.load_model(fx['bundle'])
  config, hparams, model = loaded.config, loaded.hparams, loaded.model
  assert config.name == 'one_drum'
  assert hparams['attn_length'] == 0 and hparams['rnn_layer_sizes'] == [7, 5]
  np.testing.assert_allclose(_probs(model, fx['inputs']), fx['softmax'], atol=1e-5)


def test_magenta_v2_training_checkpoint_by_name(magenta, tmp_path):
  """A model.ckpt-N with Adam slots and global_step loads by name; --hparams gives attn_length."""
  fx = magenta['first_layer']
  weights = weights_lib.read_checkpoint(fx['checkpoint'])
  extra = {'global_step': np.int64(7), 'beta1_power': np.float32(0.9), 'beta2_power': np.float32(0.99)}
  for name, value in weights.items():
    extra[name + '/Adam'] = np.zeros_like(value)
    extra[name + '/Adam_1'] = np.zeros_like(value)
  prefix = weights_lib.write_checkpoint(dict(weights, **extra), str(tmp_path / 'model.ckpt-7'), version=2)
  assert os.path.isfile(prefix + '.index')
  assert not weights_lib.is_object_checkpoint(prefix)
  assert checkpoints.has_magenta_names(weights_lib.read_checkpoint(prefix))
  # attn_length is in no variable: without a metagraph the config default is used ...
  loaded = loading.load_model(prefix, config=configs.get_config('drum_kit'))
  assert loaded.hparams['attn_length'] == 32 and loaded.origin == 'magenta_checkpoint'
  # ... and a config without attention cannot guess one.
  with pytest.raises(DrumsRnnError, match='attn_length'):
    loading.load_model(prefix, config=configs.get_config('one_drum'))
  loaded = loading.load_model(prefix, config=configs.get_config('drum_kit'), hparams={'attn_length': 3})
  assert loaded.hparams['attn_length'] == 3
  np.testing.assert_allclose(_probs(loaded.model, fx['inputs']), fx['softmax'], atol=1e-5)
  # The folder of a Magenta run (train/ searched first) loads the same checkpoint.
  run = tmp_path / 'magenta_run'
  (run / 'train').mkdir(parents=True)
  for name in os.listdir(tmp_path):
    if name.startswith('model.ckpt-7'):
      os.rename(tmp_path / name, run / 'train' / name)
  (run / 'train' / 'model.ckpt-9.index').write_bytes(b'damaged')  # a newer, damaged one is skipped
  from_dir = loading.load_model(str(run), hparams={'attn_length': 3})
  assert from_dir.source == str(run / 'train' / 'model.ckpt-7')
  np.testing.assert_allclose(_probs(from_dir.model, fx['inputs']), fx['softmax'], atol=1e-5)
  (run / 'train' / 'model.ckpt-7.index').write_bytes(b'damaged too')
  with pytest.raises(DrumsRnnError, match='no intact checkpoint'):
    loading.load_model(str(run), hparams={'attn_length': 3})


def test_old_variable_spellings_are_mapped(magenta, tmp_path):
  fx = magenta['whole_stack']
  weights = weights_lib.read_checkpoint(fx['checkpoint'])
  old = {}
  for name, value in weights.items():
    name = name.replace('fully_connected/weights', 'fully_connected/Linear/Matrix')
    name = name.replace('fully_connected/biases', 'fully_connected/Linear/Bias')
    name = name.replace('basic_lstm_cell/kernel', 'basic_lstm_cell/weights')
    name = name.replace('basic_lstm_cell/bias', 'basic_lstm_cell/biases')
    old[name] = value
  assert set(old) != set(weights)
  hparams, model = checkpoints.model_from_weights(configs.get_config('drum_kit'), old,
                                                  overrides={'attn_length': 3})
  assert model.attention_layout == 'whole_stack'
  np.testing.assert_allclose(_probs(model, fx['inputs']), fx['softmax'], atol=1e-5)


def test_normalize_name():
  n = checkpoints.normalize_name
  assert n('rnn/attention_cell_wrapper/attention_output_projection/kernel') == \
      n('rnn/attention_cell_wrapper/attn_output_projection/kernel')
  assert n('RNN/MultiRNNCell/Cell0/BasicLSTMCell/Linear/Matrix') == 'rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel'
  assert n('fully_connected/weights') == n('fully_connected/kernel')
  assert n('fully_connected/biases') == n('fully_connected/bias')


def _random_model(config, hparams, layout='first_layer', seed=0):
  model = DrumsRnnModel.from_config(config, hparams, attention_layout=layout)
  rng = np.random.default_rng(seed)
  model.set_weights({k: rng.uniform(-0.5, 0.5, v.shape).astype(np.float32)
                             for k, v in model.get_weights().items()})
  return model


@pytest.mark.parametrize('layout', ['first_layer', 'whole_stack'])
def test_our_bundle_round_trip(tmp_path, layout):
  config = configs.get_config('drum_kit')
  hparams = config.hparams('rnn_layer_sizes=[6,5],attn_length=2')
  model = _random_model(config, hparams, layout)
  path = str(tmp_path / 'ours.mag')
  loading.save_bundle(path, config, hparams, model, description='my grooves')
  result = loading.load_model(path)
  loaded_hparams, loaded, proto = result.hparams, result.model, result.bundle
  assert proto.generator_details.id == 'drum_kit'
  assert proto.generator_details.description == config.description
  assert bundle.user_description(proto) == 'my grooves'
  assert loaded_hparams['rnn_layer_sizes'] == [6, 5] and loaded_hparams['attn_length'] == 2
  assert loaded.attention_layout == layout
  for name, value in model.get_weights().items():
    np.testing.assert_array_equal(loaded.get_weights()[name], value)
  assert not [f for f in os.listdir(tmp_path) if f != 'ours.mag']  # no temp files left


def test_generator_id_and_description_override(tmp_path):
  config = configs.get_config('one_drum')
  hparams = config.hparams('rnn_layer_sizes=[4],attn_length=0')
  model = _random_model(config, hparams)
  path = str(tmp_path / 'named.mag')
  loading.save_bundle(path, config, hparams, model, description='d', generator_id='my_drums',
                     generator_description='My one-drum model')
  result = loading.load_model(path)
  loaded_config, loaded, proto = result.config, result.model, result.bundle
  assert proto.generator_details.id == 'my_drums'
  assert proto.generator_details.description == 'My one-drum model'
  assert loaded_config.name == 'one_drum'  # read back from our hparams line
  for name, value in model.get_weights().items():
    np.testing.assert_array_equal(loaded.get_weights()[name], value)


def test_our_metagraph_runs_like_magenta(tmp_path):
  """Import our metagraph + V1 checkpoint the way Magenta does and sample from its softmax."""
  config = configs.get_config('drum_kit')
  hparams = config.hparams('rnn_layer_sizes=[6,5],attn_length=2')
  model = _random_model(config, hparams, seed=4)
  proto = drums_bundle.make_bundle(config, hparams, model.get_weights())
  assert len(proto.metagraph_file) < 200_000  # initial values are not stored in the graph
  ckpt = str(tmp_path / 'model.ckpt')
  with open(ckpt, 'wb') as f:
    f.write(proto.checkpoint_file[0])
  with open(ckpt + '.meta', 'wb') as f:
    f.write(proto.metagraph_file)
  inputs = config.encoding.inputs_from_classes(np.array([1, 0, 5, 0, 3]))[None]
  with tf.Graph().as_default() as graph, tf.compat.v1.Session() as sess:
    saver = tf.compat.v1.train.import_meta_graph(ckpt + '.meta')
    saver.restore(sess, ckpt)
    x = graph.get_collection('inputs')[0]
    temperature = graph.get_collection('temperature')[0]
    softmax = graph.get_collection('softmax')[0]
    initial, final = graph.get_collection('initial_state'), graph.get_collection('final_state')
    widths = [s.shape.as_list()[-1] for s in initial]
    state = sess.run(initial)
    # Magenta: the primer's first 3 steps in one call, then one step at a time.
    p1, state = sess.run([softmax, final], {x: inputs[:, :3], temperature: 1.0, tuple(initial): tuple(state)})
    p2, state = sess.run([softmax, final], {x: inputs[:, 3:4], temperature: 1.0, tuple(initial): tuple(state)})
    p3, _ = sess.run([softmax, final], {x: inputs[:, 4:5], temperature: 1.0, tuple(initial): tuple(state)})
  sizes, num_magenta = model.state_sizes()
  assert widths == sizes[:num_magenta] == [6, 6, 6, 12, 5, 5]  # Magenta's flattened order
  got = np.concatenate([p1, p2, p3], axis=1)
  np.testing.assert_allclose(got, _probs(model, inputs), atol=1e-5)


def test_bundle_errors(tmp_path):
  text = tmp_path / 'notes.txt'
  text.write_text('this is not a bundle at all\n' * 10)
  with pytest.raises(DrumsRnnError, match='not a generator bundle'):
    bundle.read_bundle(str(text))
  with pytest.raises(DrumsRnnError, match='cannot read bundle'):
    bundle.read_bundle(str(tmp_path / 'missing.mag'))
  proto = generator_pb2.GeneratorBundle()
  proto.generator_details.id = 'basic_rnn'
  proto.checkpoint_file.append(b'xx')
  wrong = tmp_path / 'melody.mag'
  wrong.write_bytes(proto.SerializeToString())
  with pytest.raises(DrumsRnnError, match="generator id 'basic_rnn'"):
    bundle.read_bundle(str(wrong))
  proto.generator_details.id = 'drum_kit'
  wrong.write_bytes(proto.SerializeToString())
  with pytest.raises(DrumsRnnError, match='readable checkpoint'):
    loading.load_model(str(wrong))
