"""Starting a Drums RNN with wider inputs from a trained one: drum_kit -> drum_kit_control.

drum_kit_control's inputs are drum_kit's (512 one-hot events + 6 counter
bits) with the control columns appended, so every weight of a drum_kit model
of the same size has a place in it. Trained from scratch on balanced batches,
the controlled model was still on the plateau that predicts "no hit" after
950 steps (34 minutes on 2 CPU cores, measured); started from the shipped plain
model, it already plays and only has to learn what the controls mean.

The widened model computes exactly the plain model's function at first:

* a weight of the same shape is copied;
* in a weight that meets the inputs (Magenta's layout: the first layer's
  input projection ``[inputs | attention, inputs]``, its bias, and the first
  LSTM's kernel ``[projected inputs | h, 4 x units]``) the plain indices keep
  their places below the plain input size and move up by the added width
  above it;
* the added rows (the controls, and the added projected inputs as the LSTM
  reads them) start at zero, so the controls change nothing until training
  moves them; the added columns keep the fresh model's random values, so
  gradients reach the added rows.

:func:`copied_entries` names the entries that came from the plain model, so a
run can keep them fixed and train only what was added (the recipe's
``--freeze_copied``): the plain model's drumming then stays exactly as it
was -- validation cannot drift away from it by over-fitting the same beats
again -- and the controls learn as biases on the first layer's inputs.
"""

import numpy as np

from drums_rnn.errors import DrumsRnnError


def widen_into(source, target):
  """Sets `target`'s weights (a fresh LanguageModel) from trained `source`.

  Raises:
    DrumsRnnError: the models differ in anything but appended input columns
      (sizes, attention, classes, layout).
  """
  extra = target.input_size - source.input_size
  same = ('num_classes', 'rnn_layer_sizes', 'attn_length', 'residual_connections', 'attention_layout')
  differences = [f'{name} {getattr(source, name)} vs {getattr(target, name)}' for name in same
                 if getattr(source, name) != getattr(target, name)]
  if extra < 0:
    differences.append(f'input_size {source.input_size} vs {target.input_size} (must not shrink)')
  if target.attention_layout != 'first_layer':
    differences.append(f'attention_layout {target.attention_layout} (only first_layer is widened)')
  if differences:
    raise DrumsRnnError('cannot start this model from the given one: ' + '; '.join(differences))
  plain, fresh = source.get_weights(), target.get_weights()
  target.set_weights({name: _widen(name, plain[name], value, source.input_size, extra)[0]
                      for name, value in fresh.items()})


def copied_entries(source, target):
  """{weight name: bool array of its shape}: True where `widen_into` puts a weight of `source`.

  Only shapes are read, so a resumed run gets the same answer as the run that
  was warm-started.
  """
  extra = target.input_size - source.input_size
  plain, fresh = source.get_weights(), target.get_weights()
  return {name: _widen(name, plain[name], value, source.input_size, extra)[1]
          for name, value in fresh.items()}


def _widen(name, plain, fresh, plain_inputs, extra):
  """One weight: (`plain` placed into a copy of `fresh`, where it went) (see the module docstring)."""
  if plain.shape == fresh.shape:
    return plain, np.ones(plain.shape, bool)
  places = []
  for axis, (old, new) in enumerate(zip(plain.shape, fresh.shape)):
    if new - old not in (0, extra):
      raise DrumsRnnError(f'{name}: shape {plain.shape} does not widen to {fresh.shape} by {extra} inputs')
    index = np.arange(old)
    if new != old:
      index = np.where(index < plain_inputs, index, index + extra)
    places.append(index)
  widened = fresh.copy()
  if widened.ndim == 2 and widened.shape[0] != plain.shape[0]:
    widened[plain_inputs:plain_inputs + extra, :] = 0.0  # added input rows: no effect at first
  widened[np.ix_(*places)] = plain
  copied = np.zeros(widened.shape, bool)
  copied[np.ix_(*places)] = True
  return widened, copied
