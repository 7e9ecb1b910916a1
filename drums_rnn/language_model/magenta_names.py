"""Checkpoints under Magenta's variable names: read, write, and a model from their weights.

Magenta's checkpoints (its training ``model.ckpt-N``, V2, and the V1 single
file inside every ``.mag`` bundle) hold TF1 variables named like
``rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel``. Our TF2 run directories
hold object checkpoints instead (see :mod:`drums_rnn.training.run_dir`); this module is
about the named kind, which is how models travel between the two worlds.

* Names: old spellings are mapped onto current ones (``attention_output_projection``,
  ``weights``/``biases``, ``Linear/Matrix``, CamelCase scopes), training
  bookkeeping (``global_step``, Adam slots) is dropped, and the attention
  layout is told from the names: current Magenta wraps only the first layer
  (``first_layer``), the 2016 pretrained bundle the whole stack (``whole_stack``).
* Shapes give the layer sizes. The attention length is in no variable: it
  comes from our saved hparams, else from the caller (a bundle's metagraph),
  else the config default (with a warning).
* Reading and writing such files is :mod:`drums_rnn.nn.weights`.
"""

import re

import numpy as np
from absl import logging

from drums_rnn import configs
from drums_rnn.errors import DrumsRnnError

# Checkpoint entries that are not model weights (training bookkeeping).
_NON_MODEL = re.compile(r'(^|/)(global_step|beta[12]_power|Adam(_\d+)?|Momentum|'
                        r'ExponentialMovingAverage)(/|$)')

# Old CamelCase (pre TF 1.0) scope names -> current ones.
_SCOPE_ALIASES = {
    'RNN': 'rnn', 'MultiRNNCell': 'multi_rnn_cell', 'BasicLSTMCell': 'basic_lstm_cell',
    'LSTMCell': 'basic_lstm_cell', 'AttentionCellWrapper': 'attention_cell_wrapper',
    'Attention': 'attention', 'AttnW': 'attn_w', 'AttnV': 'attn_v',
    'AttnOutputProjection': 'attn_output_projection',
    'attention_output_projection': 'attn_output_projection',
    'FullyConnected': 'fully_connected', 'InputProjectionWrapper': 'input_projection_wrapper',
}
_KERNEL_NAMES = ('kernel', 'weights', 'Matrix', 'W')
_BIAS_NAMES = ('bias', 'biases', 'Bias', 'b')


# --------------------------------------------------------------------------
# Names and layouts


def normalize_name(name):
  """A spelling-independent key for a Magenta variable name.

  Maps old scope spellings to current ones, `Linear/Matrix` / `weights` /
  `kernel` to `kernel`, `Linear/Bias` / `biases` / `bias` to `bias`, and
  `CellN` to `cell_N`.
  """
  parts = []
  for part in name.split('/'):
    part = _SCOPE_ALIASES.get(part, part)
    m = re.fullmatch(r'Cell(\d+)', part)
    if m:
      part = f'cell_{m.group(1)}'
    parts.append(part)
  if len(parts) >= 2 and parts[-2] == 'Linear':  # TF < 1.0: <scope>/Linear/Matrix
    del parts[-2]
  if parts[-1] in _KERNEL_NAMES:
    parts[-1] = 'kernel'
  elif parts[-1] in _BIAS_NAMES:
    parts[-1] = 'bias'
  return '/'.join(parts)


def model_weights_only(weights):
  """Drops optimizer slots, global_step and other non-model entries."""
  return {k: v for k, v in weights.items() if not _NON_MODEL.search(k)}


def detect_layout(names):
  """('first_layer' | 'whole_stack', has_attention) from variable names."""
  keys = [normalize_name(n) for n in names]
  if any(k.startswith('rnn/attention_cell_wrapper/') for k in keys):
    return 'whole_stack', True
  if any('/attention_cell_wrapper/' in k for k in keys):
    return 'first_layer', True
  return 'first_layer', False


def infer_layer_sizes(weights):
  """rnn_layer_sizes from the LSTM bias shapes ([4 * size] per cell)."""
  sizes = {}
  for name, value in weights.items():
    m = re.search(r'/cell_(\d+)/(?:.*/)?basic_lstm_cell/bias$', normalize_name(name))
    if m:
      sizes[int(m.group(1))] = int(np.shape(value)[0]) // 4
  if not sizes or sorted(sizes) != list(range(len(sizes))):
    raise DrumsRnnError('cannot find the LSTM layers (rnn/.../cell_N/basic_lstm_cell/bias) in the checkpoint; '
                        f'variables: {", ".join(sorted(weights))}')
  return [sizes[i] for i in range(len(sizes))]


def match_weights(model, weights):
  """Maps checkpoint names onto the model's Magenta names (spelling-tolerant).

  Raises:
    DrumsRnnError listing what the model needs but the checkpoint lacks, and
    what the checkpoint holds that the model does not use.
  """
  by_key = {}
  for name, value in weights.items():
    by_key.setdefault(normalize_name(name), (name, value))
  mapped, missing = {}, []
  used = set()
  for name in model.magenta_variable_shapes():
    hit = by_key.get(normalize_name(name))
    if hit is None:
      missing.append(name)
    else:
      mapped[name] = hit[1]
      used.add(hit[0])
  unused = sorted(set(weights) - used)
  if missing or unused:
    parts = []
    if missing:
      parts.append('missing ' + ', '.join(missing))
    if unused:
      parts.append('not used by the model ' + ', '.join(unused))
    raise DrumsRnnError('checkpoint does not fit the model (' + '; '.join(parts) +
                        '): check the config and hparams (e.g. rnn_layer_sizes, attn_length, '
                        'residual_connections)')
  return mapped


def has_magenta_names(names):
  """True for Magenta-named variables (a TF2 object checkpoint has `model/...` keys)."""
  return any(normalize_name(n).startswith(('rnn/', 'fully_connected/')) for n in names)


# --------------------------------------------------------------------------
# A model from named weights


def generate_hparams(hparams):
  """`hparams` with dropout off: the network as used to generate and score."""
  hp = configs.HParams(dict(hparams))
  hp['dropout_keep_prob'] = 1.0
  return hp


def model_from_weights(config, weights, saved_hparams=None, overrides=None, attn_length_of=None):
  """Builds a generation model from Magenta-named weights.

  Args:
    config: the DrumsRnnConfig.
    weights: name -> array (any supported spelling; extra training entries ok).
    saved_hparams: our hparams recorded with the weights (a bundle's hparams
      line, which may also name the attention layout), or None.
    overrides: dict of hparams to change, applied last (e.g. attn_length).
    attn_length_of: optional `f(layout, rnn_layer_sizes) -> int or None`
      giving the attention length from elsewhere (a bundle's metagraph) when
      the saved hparams do not record it.
  Returns:
    (HParams, DrumsRnnModel).
  """
  from drums_rnn.language_model.model import DrumsRnnModel  # pylint: disable=import-outside-toplevel
  weights = model_weights_only(weights)
  layout, has_attention = detect_layout(weights)
  saved = dict(saved_hparams or {})
  layout = saved.pop('attention_layout', layout)
  saved.pop('config', None)
  hp = config.hparams(saved)
  sizes = infer_layer_sizes(weights)
  hp['rnn_layer_sizes'] = sizes
  if not has_attention:
    hp['attn_length'] = 0
  elif not saved.get('attn_length'):
    known = attn_length_of(layout, sizes) if attn_length_of else None
    if known:
      hp['attn_length'] = known
    elif not (overrides or {}).get('attn_length'):
      if not hp['attn_length']:
        raise DrumsRnnError(f'the checkpoint has attention but its attn_length is unknown (the {config.name} '
                            'config has none): give the hparam attn_length=N')
      logging.warning('attn_length not stored in the checkpoint; using the config default %d',
                      hp['attn_length'])
  hp['residual_connections'] = any('input_projection_wrapper' in normalize_name(n) for n in weights) or \
      hp.get('residual_connections', False)
  if overrides:
    hp = config.hparams(dict(hp, **dict(overrides)))
  model = DrumsRnnModel.from_config(config, generate_hparams(hp), attention_layout=layout)
  model.set_weights(match_weights(model, weights))
  return hp, model
