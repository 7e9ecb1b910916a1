"""language_model/warm_start: a drum_kit model widened into drum_kit_control plays as before."""

import numpy as np
import pytest

from drums_rnn import configs
from drums_rnn import controls
from drums_rnn.errors import DrumsRnnError
from drums_rnn.language_model import warm_start
from drums_rnn.language_model.model import DrumsRnnModel

KIT = configs.get_config('drum_kit')
CONTROL = configs.get_config('drum_kit_control')


def random_model(config, sizes, attn_length, seed):
  model = DrumsRnnModel.from_config(config, config.hparams({'rnn_layer_sizes': sizes,
                                                            'attn_length': attn_length}), seed=seed)
  rng = np.random.default_rng(seed)
  model.set_weights({k: rng.uniform(-0.5, 0.5, v.shape).astype(np.float32)
                     for k, v in model.get_weights().items()})
  return model


@pytest.mark.parametrize('attn_length', [0, 4])
def test_widened_model_plays_as_the_plain_one_whatever_the_controls(attn_length):
  plain = random_model(KIT, [16, 8], attn_length, seed=1)
  widened = random_model(CONTROL, [16, 8], attn_length, seed=2)
  before = widened.get_weights()
  warm_start.widen_into(plain, widened)
  rng = np.random.default_rng(3)
  classes = rng.integers(0, KIT.encoding.num_classes, 40)
  plain_logits, _ = plain(KIT.encoding.inputs_from_classes(classes)[None])
  asked = np.stack([np.full(40, 2), np.arange(40) % 2, np.full(40, 4)])  # funk, fills, densest bin
  for values in (None, asked):
    inputs = CONTROL.encoding.inputs_from_classes(classes, next_controls=values)
    logits, _ = widened(inputs[None])
    np.testing.assert_allclose(logits.numpy(), plain_logits.numpy(), rtol=1e-5, atol=1e-5)
  after = widened.get_weights()
  name = next(n for n in after if n.endswith('cell_0/attention_cell_wrapper/kernel' if attn_length
                                              else 'cell_0/basic_lstm_cell/kernel'))
  added = slice(KIT.encoding.input_size, CONTROL.encoding.input_size)
  assert not after[name][added].any()  # the control rows start at zero ...
  if attn_length:  # ... and the added projected inputs keep the fresh model's values where they may
    bias_free = after[name][:KIT.encoding.input_size, added]
    np.testing.assert_array_equal(bias_free, before[name][:KIT.encoding.input_size, added])
  assert controls.ControlSpec().width == CONTROL.encoding.input_size - KIT.encoding.input_size


def test_models_that_differ_otherwise_are_refused():
  plain = random_model(KIT, [16], 0, seed=1)
  with pytest.raises(DrumsRnnError, match='rnn_layer_sizes'):
    warm_start.widen_into(plain, random_model(CONTROL, [8], 0, seed=1))
  with pytest.raises(DrumsRnnError, match='must not shrink'):
    warm_start.widen_into(random_model(CONTROL, [16], 0, seed=1), plain)


@pytest.mark.parametrize('attn_length', [0, 4])
def test_copied_entries_are_the_plain_model_s_weights_and_only_those(attn_length):
  plain = random_model(KIT, [16, 8], attn_length, seed=1)
  widened = random_model(CONTROL, [16, 8], attn_length, seed=2)
  copied = warm_start.copied_entries(plain, widened)
  warm_start.widen_into(plain, widened)
  source, after = plain.get_weights(), widened.get_weights()
  for name, mask in copied.items():
    assert mask.shape == after[name].shape and mask.sum() == source[name].size, name
    np.testing.assert_array_equal(np.sort(after[name][mask]), np.sort(source[name].ravel()), err_msg=name)
  added = sum(int((~m).sum()) for m in copied.values())
  width = CONTROL.encoding.input_size - KIT.encoding.input_size
  first_lstm_gates = 4 * 16
  # the control rows (and with attention the added projected inputs' rows, columns and biases)
  expected = (width * first_lstm_gates if not attn_length else
              width * (CONTROL.encoding.input_size + 16) + KIT.encoding.input_size * width + width
              + width * first_lstm_gates)
  assert added == expected
