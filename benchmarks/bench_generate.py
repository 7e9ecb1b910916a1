"""Generation speed: our batched compiled sampler vs Magenta's step-at-a-time loop.

Side by side in one run, same model (drum_kit default size 3x256, attention
32, random weights), same work: --num_outputs=10 --num_steps=128 from the
default one-step primer, then the same with --beam_size=4 --branch_factor=2.

* ours: all outputs (and beams) as one batch, the whole loop in one
  compiled tf.function (`generation.BatchedSampler`).
* step loop (what Magenta does): one output after another, one compiled
  model call per step (batch = beam_size * branch_factor), softmax moved to
  numpy and sampled with np.random.choice, inputs built in numpy, beams
  re-ranked in Python.

If Magenta's peer install exists (~/.magenta-peer/venv), also times the
whole `drums_rnn_generate` command, ours vs Magenta's, on the same 2x64
drum_kit bundle.

Usage: python benchmarks/bench_generate.py [--repeats=3] [--skip_commands]
"""

import argparse
import heapq
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from drums_rnn import loading  # noqa: E402
from drums_rnn import configs  # noqa: E402
from drums_rnn.language_model import generation  # noqa: E402
from drums_rnn.language_model.model import DrumsRnnModel  # noqa: E402

PEER = os.path.expanduser('~/.magenta-peer/venv/bin/drums_rnn_generate')


class StepLoop:
  """Magenta's generation loop: per output, one model call per step, numpy sampling."""

  def __init__(self, model, encoding):
    self.model = model
    self.encoding = encoding
    self._step = tf.function(lambda x, s: model.step(x, s), autograph=False)
    self._primer = tf.function(lambda x: model(x, model.zero_state(tf.shape(x)[0])), autograph=False)

  def _extend(self, seqs, states, logliks, steps, temperature, rng):
    enc = self.encoding
    for _ in range(steps):
      x = np.stack([enc.inputs_from_classes(np.array(s[-1:]), start_position=len(s) - 1)[0] for s in seqs])
      logits, states = self._step(tf.constant(x), states)
      z = logits.numpy() / temperature
      p = np.exp(z - z.max(axis=1, keepdims=True))
      p /= p.sum(axis=1, keepdims=True)
      for i, s in enumerate(seqs):
        c = rng.choice(len(p[i]), p=p[i])
        s.append(int(c))
        logliks[i] += np.log(p[i][c])
    return states

  def generate(self, primer, num_outputs, num_steps, temperature=1.0, beam_size=1, branch_factor=1,
               steps_per_iteration=1, seed=0):
    rng = np.random.default_rng(seed)
    enc = self.encoding
    width = beam_size * branch_factor
    results = []
    for _ in range(num_outputs):
      x = enc.inputs_from_classes(np.array(primer))[None]
      _, state = self._primer(tf.constant(np.repeat(x, width, axis=0)))
      seqs = [list(primer) for _ in range(width)]
      logliks = np.zeros(width)
      remaining = num_steps - len(primer)
      first = (remaining - 1) % steps_per_iteration + 1
      state = self._extend(seqs, state, logliks, first, temperature, rng)
      remaining -= first
      while remaining > 0:
        keep = heapq.nlargest(beam_size, range(width), key=lambda i: logliks[i])
        parents = np.repeat(keep, branch_factor)
        seqs = [list(seqs[p]) for p in parents]
        logliks = logliks[parents]
        state = tuple(tf.gather(s, parents) for s in state)
        state = self._extend(seqs, state, logliks, steps_per_iteration, temperature, rng)
        remaining -= steps_per_iteration
      results.append(seqs[int(np.argmax(logliks))])
    return results


def _best_time(fn, repeats):
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return min(times)


def bench_sampler(repeats):
  config = configs.get_config('drum_kit')
  hparams = config.hparams('dropout_keep_prob=1.0')
  model = DrumsRnnModel.from_config(config, hparams)
  print(f'model: drum_kit {hparams["rnn_layer_sizes"]}, attn_length {hparams["attn_length"]}, '
        f'{model.num_parameters():,} parameters, random weights; CPU threads: '
        f'{os.cpu_count()}')
  primer = [1]  # one bass drum step
  ours = generation.BatchedSampler(model, config.encoding)
  loop = StepLoop(model, config.encoding)
  print(f'{"case":<44} {"ours (s)":>9} {"step loop (s)":>14} {"ratio":>7}')
  for label, kw in [('--num_outputs=10 --num_steps=128', {}),
                    ('... --beam_size=4 --branch_factor=2', dict(beam_size=4, branch_factor=2))]:
    start = time.perf_counter()
    ours.sample(primer, 10, 127, 1.0, seed=1, **kw)
    first_call = time.perf_counter() - start
    t_ours = _best_time(lambda: ours.sample(primer, 10, 127, 1.0, seed=1, **kw), repeats)
    loop.generate(primer, 1, 4, **kw)  # warm-up (traces the step function)
    t_loop = _best_time(lambda: loop.generate(primer, 10, 128, seed=1, **kw), max(1, repeats - 1))
    print(f'{label:<44} {t_ours:9.3f} {t_loop:14.3f} {t_loop / t_ours:6.1f}x'
          f'   (ours first call incl. tracing: {first_call:.2f} s)')


def bench_commands(repeats):
  if not os.path.exists(PEER):
    print(f'\nMagenta peer not installed ({PEER}): whole-command comparison skipped')
    return
  config = configs.get_config('drum_kit')
  hparams = config.hparams('rnn_layer_sizes=[64,64],dropout_keep_prob=1.0')
  model = DrumsRnnModel.from_config(config, hparams)
  tmp = tempfile.mkdtemp(prefix='bench_generate_')
  try:
    mag = os.path.join(tmp, 'kit_2x64.mag')
    loading.save_bundle(mag, config, hparams, model, description='benchmark bundle')
    ours_exe = os.path.join(os.path.dirname(sys.executable), 'drums_rnn_generate')
    args = [f'--bundle_file={mag}', '--num_outputs=10', '--num_steps=128', '--primer_drums=[(36,)]']
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='')

    def run(exe, out):
      """(wall s, CPU s) of one command; CPU time is less sensitive to a busy machine."""
      shutil.rmtree(out, ignore_errors=True)
      before = resource.getrusage(resource.RUSAGE_CHILDREN)
      start = time.perf_counter()
      proc = subprocess.run([exe] + args + [f'--output_dir={out}'], capture_output=True, text=True, env=env)
      wall = time.perf_counter() - start
      after = resource.getrusage(resource.RUSAGE_CHILDREN)
      if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
      assert len(os.listdir(out)) == 10
      return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    ours = [run(ours_exe, os.path.join(tmp, 'ours')) for _ in range(repeats)]
    peer = [run(PEER, os.path.join(tmp, 'magenta')) for _ in range(repeats)]
    w_ours, c_ours = min(w for w, _ in ours), min(c for _, c in ours)
    w_peer, c_peer = min(w for w, _ in peer), min(c for _, c in peer)
    print(f'\nwhole command, 2x64 drum_kit bundle, 10 outputs x 128 steps (best of {repeats}):')
    print(f'  wall: ours {w_ours:.2f} s   Magenta {w_peer:.2f} s   ratio {w_peer / w_ours:.1f}x')
    print(f'  CPU:  ours {c_ours:.2f} s   Magenta {c_peer:.2f} s   ratio {c_peer / c_ours:.1f}x')
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--skip_commands', action='store_true')
  args = parser.parse_args()
  with open('/proc/loadavg') as f:
    print('load average at start:', f.read().split()[:3])
  bench_sampler(args.repeats)
  if not args.skip_commands:
    bench_commands(args.repeats)


if __name__ == '__main__':
  main()
