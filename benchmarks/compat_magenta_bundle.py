"""Bundles both ways with Magenta itself (needs the peer install, ~/.magenta-peer/venv).

Not a test (Magenta is never a dependency): a compatibility check to run by
hand. Steps:
  1. a tiny drum dataset (hand-made grooves) -> Magenta's
     drums_rnn_create_dataset -> Magenta's drums_rnn_train for a few steps
     with small hparams;
  2. Magenta's drums_rnn_generate --save_generator_bundle -> magenta.mag;
  3. we load magenta.mag (and Magenta's V2 training checkpoint) and compare
     our next-step probabilities with Magenta's own graph (its bundled
     metagraph, run by the peer's Python) on the same inputs;
  4. we save the model as ours.mag; Magenta's drums_rnn_generate must run on
     it and write MIDI, and its graph's probabilities must equal ours.
Prints one PASS/FAIL line per check; exit code 1 if any fails.

Usage: python benchmarks/compat_magenta_bundle.py [--keep]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from drums_rnn import configs  # noqa: E402
from drums_rnn import loading  # noqa: E402
from tests.helpers import basic_beat, drum_sequence  # noqa: E402

PEER_BIN = os.path.expanduser('~/.magenta-peer/venv/bin')
HPARAMS = 'batch_size=4,rnn_layer_sizes=[32,24],attn_length=8'

# Runs inside the peer's Python: Magenta's own way of using a bundle's graph.
PEER_SOFTMAX = r'''
import json, os, sys, tempfile
import numpy as np
import tensorflow.compat.v1 as tf
from note_seq.protobuf import generator_pb2
tf.disable_eager_execution()
bundle_path, inputs_path, out_path = sys.argv[1:4]
b = generator_pb2.GeneratorBundle()
b.ParseFromString(open(bundle_path, 'rb').read())
tmp = tempfile.mkdtemp()
ckpt = os.path.join(tmp, 'model.ckpt')
open(ckpt, 'wb').write(b.checkpoint_file[0])
open(ckpt + '.meta', 'wb').write(b.metagraph_file)
x = np.load(inputs_path)
with tf.Session() as sess:
  saver = tf.train.import_meta_graph(ckpt + '.meta')
  saver.restore(sess, ckpt)
  g = sess.graph
  inputs = g.get_collection('inputs')[0]
  feed = {inputs: x, g.get_collection('temperature')[0]: 1.0}
  out = sess.run(g.get_collection('softmax')[0], feed)
np.save(out_path, out)
'''


def _run(cmd, **kw):
  proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
  if proc.returncode != 0:
    raise RuntimeError(f'{" ".join(cmd[:2])} failed:\n{proc.stderr[-3000:]}')
  return proc


def _dataset(tmp):
  path = os.path.join(tmp, 'notes.tfrecord')
  rng = np.random.default_rng(0)
  with tf.io.TFRecordWriter(path) as writer:
    for i in range(12):
      hits = basic_beat(8) + [(int(s), int(p)) for s, p in zip(rng.integers(0, 128, 20),
                                                               rng.choice([46, 49, 51, 45, 48, 50], 20))]
      writer.write(drum_sequence(hits, seq_id=f'groove{i}').SerializeToString())
  return path


def _ours_softmax(model, inputs):
  logits, _ = model(inputs)
  return tf.nn.softmax(logits).numpy()


def _peer_softmax(tmp, mag, inputs):
  inputs_path, out_path = os.path.join(tmp, 'inputs.npy'), os.path.join(tmp, 'peer_softmax.npy')
  np.save(inputs_path, inputs)
  script = os.path.join(tmp, 'peer_softmax.py')
  with open(script, 'w') as f:
    f.write(PEER_SOFTMAX)
  _run([os.path.join(PEER_BIN, 'python'), script, mag, inputs_path, out_path])
  return np.load(out_path)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--keep', action='store_true', help='keep the temporary folder')
  args = parser.parse_args()
  if not os.path.exists(os.path.join(PEER_BIN, 'drums_rnn_generate')):
    print(f'Magenta peer not installed in {PEER_BIN}: nothing to check')
    return 0
  tmp = tempfile.mkdtemp(prefix='compat_magenta_')
  results = []

  def check(name, ok, detail=''):
    results.append(ok)
    print(f'{"PASS" if ok else "FAIL"} {name} {detail}')

  try:
    notes = _dataset(tmp)
    data_dir, run = os.path.join(tmp, 'data'), os.path.join(tmp, 'run')
    _run([os.path.join(PEER_BIN, 'drums_rnn_create_dataset'), '--config=drum_kit', f'--input={notes}',
          f'--output_dir={data_dir}', '--eval_ratio=0'])
    _run([os.path.join(PEER_BIN, 'drums_rnn_train'), '--config=drum_kit', f'--run_dir={run}',
          f'--sequence_example_file={data_dir}/training_drum_tracks.tfrecord', f'--hparams={HPARAMS}',
          '--num_training_steps=3'], timeout=900)
    magenta_mag = os.path.join(tmp, 'magenta.mag')
    _run([os.path.join(PEER_BIN, 'drums_rnn_generate'), '--config=drum_kit', f'--run_dir={run}',
          f'--hparams={HPARAMS}', '--save_generator_bundle', f'--bundle_file={magenta_mag}'])
    print('Magenta bundle variables:')
    loaded = loading.load_model(magenta_mag)
    config, hparams, model = loaded.config, loaded.hparams, loaded.model
    for name, shape in sorted(model.magenta_variable_shapes().items()):
      print(f'  {name} {list(shape)}')
    check('load Magenta bundle', hparams['rnn_layer_sizes'] == [32, 24] and hparams['attn_length'] == 8,
          json.dumps({k: hparams[k] for k in ('rnn_layer_sizes', 'attn_length')}))

    classes = np.random.default_rng(1).choice([0, 1, 4, 5, 2, 0, 0], size=24)
    inputs = config.encoding.inputs_from_classes(classes)[None]
    theirs = _peer_softmax(tmp, magenta_mag, inputs)
    ours = _ours_softmax(model, inputs)
    diff = float(np.abs(theirs - ours).max())
    check('our probabilities == Magenta graph (its bundle)', diff < 1e-5, f'max abs diff {diff:.2e}')

    ckpt = tf.train.latest_checkpoint(os.path.join(run, 'train'))
    from_ckpt = loading.load_model(ckpt, config=configs.get_config('drum_kit'), hparams={'attn_length': 8})
    model2 = from_ckpt.model
    diff = float(np.abs(_ours_softmax(model2, inputs) - theirs).max())
    check('Magenta V2 training checkpoint by name', diff < 1e-5, f'{os.path.basename(ckpt)}, max abs diff {diff:.2e}')

    ours_mag = os.path.join(tmp, 'ours.mag')
    loading.save_bundle(ours_mag, config, hparams, model, description='re-saved by drums_rnn')
    diff = float(np.abs(_peer_softmax(tmp, ours_mag, inputs) - ours).max())
    check('Magenta graph on OUR bundle == ours', diff < 1e-5, f'max abs diff {diff:.2e}')
    out = os.path.join(tmp, 'magenta_out')
    proc = subprocess.run([os.path.join(PEER_BIN, 'drums_rnn_generate'), f'--bundle_file={ours_mag}',
                           f'--output_dir={out}', '--num_outputs=3', '--num_steps=64',
                           '--primer_drums=[(36,)]'], capture_output=True, text=True)
    written = sorted(os.listdir(out)) if os.path.isdir(out) else []
    check("Magenta's drums_rnn_generate on our bundle", proc.returncode == 0 and len(written) == 3,
          ' '.join(written) or proc.stderr[-1500:])
    ours_out = os.path.join(tmp, 'ours_out')
    exe = os.path.join(os.path.dirname(sys.executable), 'drums_rnn_generate')
    proc = subprocess.run([exe, f'--bundle_file={magenta_mag}', f'--output_dir={ours_out}', '--num_outputs=3',
                           '--num_steps=64'], capture_output=True, text=True)
    written = sorted(os.listdir(ours_out)) if os.path.isdir(ours_out) else []
    check("our drums_rnn_generate on Magenta's bundle", proc.returncode == 0 and len(written) == 3,
          ' '.join(written) or proc.stderr[-1500:])
  finally:
    if args.keep:
      print('kept', tmp)
    else:
      shutil.rmtree(tmp, ignore_errors=True)
  print('all passed' if all(results) else 'SOME CHECKS FAILED')
  return 0 if all(results) else 1


if __name__ == '__main__':
  sys.exit(main())
