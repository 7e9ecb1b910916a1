"""Scoring drum tracks: our batched log-likelihood vs Magenta's, same bundle, same tracks.

Side by side in one run: a drum_kit model of Magenta's default size (3x256,
attention 32; random weights scaled down so long tracks stay finite) is
written as a .mag bundle; the drum tracks of the Groove MIDI Dataset's test
split (Gillick et al. 2019, Magenta, CC BY 4.0) are extracted by Magenta's
rules; then

* ours: `scoring.track_log_likelihoods` (padded batches of tracks, the
  whole sequence in one compiled call per batch);
* Magenta (its peer install, ~/.magenta-peer/venv): the same bundle loaded
  by `drums_rnn_sequence_generator`, `model.drum_track_log_likelihood(track)`
  per track (Magenta's API: one track per graph run);

and prints both times, the ratio, and the largest difference between the
two per-track log-likelihoods (the compatibility check). Also times the
feature extraction and set comparison of drums_rnn_evaluate.

Usage: python benchmarks/bench_evaluate.py [--limit=N] [--groove_dir=DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')

import numpy as np  # noqa: E402

from drums_rnn import loading  # noqa: E402
from drums_rnn import configs  # noqa: E402
from drums_rnn.measure import comparison as evaluation  # noqa: E402
from drums_rnn.data import groove  # noqa: E402
from drums_rnn.measure import features as metrics  # noqa: E402
from drums_rnn.measure import patterns  # noqa: E402
from drums_rnn.measure import scoring  # noqa: E402
from drums_rnn.language_model.model import DrumsRnnModel  # noqa: E402

PEER_PYTHON = os.path.expanduser('~/.magenta-peer/venv/bin/python')
DEFAULT_GROOVE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared',
                              'data', 'groove')

# Runs inside Magenta's venv: argv = bundle path, tracks JSON path, output JSON path.
PEER_SCRIPT = r'''
import json, sys, time
import note_seq
from magenta.models.drums_rnn import drums_rnn_sequence_generator
from magenta.models.shared import sequence_generator_bundle
bundle_path, tracks_path, out_path = sys.argv[1:4]
bundle = sequence_generator_bundle.read_bundle_file(bundle_path)
generator = drums_rnn_sequence_generator.get_generator_map()[bundle.generator_details.id](
    checkpoint=None, bundle=bundle)
generator.initialize()
with open(tracks_path) as f:
  tracks = json.load(f)
drum_tracks = [note_seq.DrumTrack([frozenset(step) for step in t]) for t in tracks]
model = generator._model
model.drum_track_log_likelihood(drum_tracks[0])  # warm-up
start = time.time()
logliks = [float(model.drum_track_log_likelihood(t)) for t in drum_tracks]
elapsed = time.time() - start
with open(out_path, 'w') as f:
  json.dump({'seconds': elapsed, 'logliks': logliks}, f)
'''


def stable_model(config, hparams, seed=0, scale=0.5):
  """Default-size model with random weights scaled so 512 steps stay finite."""
  model = DrumsRnnModel.from_config(config, hparams)
  rng = np.random.default_rng(seed)
  for variable in model.weights.values():
    if len(variable.shape) > 1:
      variable.assign(variable.numpy() * scale)
    else:
      variable.assign(rng.normal(0, 0.05, variable.shape).astype(np.float32))
  return model


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--groove_dir', default=os.environ.get('DRUMS_RNN_GROOVE_DIR', DEFAULT_GROOVE))
  parser.add_argument('--limit', type=int, default=0, help='score only the first N tracks')
  args = parser.parse_args()
  if not os.path.isfile(os.path.join(args.groove_dir, 'info.csv')):
    sys.exit(f'Groove MIDI Dataset not found in {args.groove_dir} (set --groove_dir)')

  config = configs.get_config('drum_kit')
  hparams = config.hparams('dropout_keep_prob=1.0')
  paths = groove.split_files(args.groove_dir, 'test')

  start = time.time()
  found, _ = patterns.read_drum_patterns(paths)
  t_read = time.time() - start
  start = time.time()
  features = evaluation.pattern_features(found)
  t_features = time.time() - start
  start = time.time()
  metrics.compare_sets(features[0::2], features[1::2])
  t_compare = time.time() - start
  print(f'Groove test split: {len(paths)} MIDI files read in {t_read:.2f} s; features of '
        f'{len(found)} patterns ({sum(len(p.classes) for p in found)} steps) in {t_features:.2f} s; '
        f'set comparison of the two halves in {t_compare:.2f} s')

  tracks = scoring.extract_model_tracks(paths, config, 'groove test')
  if args.limit:
    tracks = tracks[:args.limit]
  num_steps = sum(len(t) - 1 for t in tracks)
  model = stable_model(config, hparams)
  scoring.track_log_likelihoods(model, config.encoding, tracks[:2])  # warm-up / tracing
  start = time.time()
  ours, counts, _ = scoring.track_log_likelihoods(model, config.encoding, tracks)
  t_ours = time.time() - start
  print(f'\nlog-likelihood of {len(tracks)} Groove test drum tracks ({num_steps} predicted steps), '
        f'drum_kit 3x256 attention 32, CPU:')
  print(f'  ours (batched, compiled):      {t_ours:8.2f} s  ({num_steps / t_ours:8.0f} steps/s)')
  if not np.isfinite(ours).all():
    print(f'  warning: {int((~np.isfinite(ours)).sum())} tracks not finite')

  if not os.path.exists(PEER_PYTHON):
    print(f'  Magenta peer not installed ({PEER_PYTHON}): comparison skipped')
    return
  with tempfile.TemporaryDirectory(prefix='bench_evaluate_') as tmp:
    mag = os.path.join(tmp, 'kit.mag')
    loading.save_bundle(mag, config, hparams, model, description='benchmark bundle')
    tracks_json = os.path.join(tmp, 'tracks.json')
    with open(tracks_json, 'w') as f:
      json.dump([[sorted(e) for e in config.encoding.classes_to_events(t)] for t in tracks], f)
    out_json = os.path.join(tmp, 'out.json')
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', TF_CPP_MIN_LOG_LEVEL='2')
    proc = subprocess.run([PEER_PYTHON, '-c', PEER_SCRIPT, mag, tracks_json, out_json],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
      print('  Magenta failed:\n' + proc.stderr[-3000:])
      return
    with open(out_json) as f:
      peer = json.load(f)
  theirs = np.array(peer['logliks'])
  t_peer = peer['seconds']
  print(f'  Magenta (one track per run):   {t_peer:8.2f} s  ({num_steps / t_peer:8.0f} steps/s)')
  print(f'  ratio Magenta / ours: {t_peer / t_ours:.1f}x')
  diff = np.abs(ours - theirs)
  print(f'  per-track log-likelihood, ours vs Magenta: max |diff| {diff.max():.2e} nats '
        f'(max relative {np.max(diff / np.abs(theirs)):.1e}); mean per step ours '
        f'{ours.sum() / counts.sum():.5f}, Magenta {theirs.sum() / counts.sum():.5f}')


if __name__ == '__main__':
  main()
