"""The `.mag` generator bundle container, as Magenta writes and reads it.

A bundle is a serialized note-seq ``GeneratorBundle``: the generator id (a
config name), descriptions, the bytes of ONE single-file (V1) TF checkpoint
holding the model's named weights and, for the Drums RNN configs, a TF1
``MetaGraphDef`` of the generate graph that Magenta's own
``drums_rnn_generate`` drives (:mod:`drums_rnn.language_model.bundle`).
Our hparams (and the config, for a custom generator id) go into
``bundle_details.description`` as one marked JSON line, which Magenta never
reads.

This module is the container only, the same for every model family:
:func:`new_bundle` fills one, :func:`read_bundle` parses and checks one,
:func:`bundle_config_name`, :func:`bundle_hparams` and
:func:`bundle_weights` read its parts. What a family puts in and how it
builds its network from them is the family's; saving and loading go through
:mod:`drums_rnn.loading`.
"""

import json
import os
import tempfile

from absl import logging
from google.protobuf import message as pb_message
from note_seq.protobuf import generator_pb2

from drums_rnn import configs
from drums_rnn import files
from drums_rnn.errors import DrumsRnnError
from drums_rnn.nn import weights

# The generator ids drums_rnn writes and reads: its config names.
BUNDLE_IDS = tuple(configs.CONFIGS)
# Marks our hparams line inside bundle_details.description.
HPARAMS_MARKER = 'drums_rnn hparams: '


def new_bundle(config, hparams, checkpoint_bytes, description=None, generator_id=None,
               generator_description=None, metagraph_bytes=None):
  """A GeneratorBundle proto of a model of `config` (our hparams line recorded).

  `generator_id` / `generator_description` override the config's details, as
  Magenta's flags of those names do. Magenta looks a bundle's config up by its
  id, so only it reads such a bundle back if the id is a config name; we
  record the config in our hparams line and read it from there.
  """
  bundle = generator_pb2.GeneratorBundle()
  bundle.generator_details.id = generator_id or config.name
  bundle.generator_details.description = generator_description or config.description
  if bundle.generator_details.id not in BUNDLE_IDS:
    logging.warning('generator id %r is not a config name: Magenta\'s drums_rnn_generate will not '
                    'load this bundle (drums_rnn will, as %s)', generator_id, config.name)
  hp = dict(hparams, config=config.name)
  lines = [description] if description else []
  lines.append(HPARAMS_MARKER + json.dumps(hp, sort_keys=True))
  bundle.bundle_details.description = '\n'.join(lines)
  bundle.checkpoint_file.append(checkpoint_bytes)
  if metagraph_bytes is not None:
    bundle.metagraph_file = metagraph_bytes
  return bundle


def checkpoint_bytes(named_weights, name='model.ckpt'):
  """The bytes of a V1 single-file checkpoint of name -> array (what a bundle holds)."""
  with tempfile.TemporaryDirectory(prefix='drums_rnn_bundle_') as tmp:
    path = weights.write_checkpoint(named_weights, os.path.join(tmp, name), version=1)
    with open(path, 'rb') as f:
      return f.read()


def read_bundle(path):
  """Parses a `.mag` file; clear errors for missing or non-bundle files."""
  try:
    with open(path, 'rb') as f:
      data = f.read()
  except OSError as e:
    raise DrumsRnnError(f'cannot read bundle {path!r}: {files.describe_os_error(e)}') from None
  bundle = generator_pb2.GeneratorBundle()
  try:
    bundle.ParseFromString(data)
  except (pb_message.DecodeError, ValueError):
    raise DrumsRnnError(f'{path!r} is not a generator bundle (.mag)') from None
  if not bundle.checkpoint_file or not bundle.generator_details.id:
    raise DrumsRnnError(f'{path!r} is not a generator bundle (.mag): no generator id or checkpoint')
  if bundle_config_name(bundle) not in BUNDLE_IDS:
    raise DrumsRnnError(f'bundle {path!r} has generator id {bundle.generator_details.id!r}; '
                        f'drums_rnn bundles are {" or ".join(BUNDLE_IDS)}')
  return bundle


def bundle_config_name(bundle):
  """The config a bundle was made with: its generator id, or, for a bundle saved
  with a custom generator id, the config recorded in our hparams line."""
  if bundle.generator_details.id in BUNDLE_IDS:
    return bundle.generator_details.id
  return (bundle_hparams(bundle) or {}).get('config', bundle.generator_details.id)


def bundle_hparams(bundle):
  """Our hparams JSON from bundle_details.description, or None (Magenta's bundles)."""
  for line in bundle.bundle_details.description.splitlines():
    if line.startswith(HPARAMS_MARKER):
      try:
        return json.loads(line[len(HPARAMS_MARKER):])
      except ValueError:
        logging.warning('ignoring a malformed hparams line in the bundle description')
  return None


def user_description(bundle):
  """bundle_details.description without our hparams line."""
  lines = [l for l in bundle.bundle_details.description.splitlines() if not l.startswith(HPARAMS_MARKER)]
  return '\n'.join(lines)


def bundle_weights(bundle, path='bundle'):
  """name -> array of the V1 checkpoint inside a bundle (`path` names it in errors)."""
  with tempfile.TemporaryDirectory(prefix='drums_rnn_bundle_') as tmp:
    ckpt = os.path.join(tmp, 'model.ckpt')
    with open(ckpt, 'wb') as f:
      f.write(bundle.checkpoint_file[0])
    try:
      return weights.read_checkpoint(ckpt)
    except DrumsRnnError:
      raise DrumsRnnError(f'bundle {path!r} does not hold a readable checkpoint') from None
