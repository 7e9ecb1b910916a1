"""What the controls cost: drum_kit vs drum_kit_control at equal size, side by side in one run.

The controlled config's input vector is 18 columns wider (536 against 518);
with compact inputs (the one-hot part gathered) those are 24 extra columns
next to 6. This times, alternating the two configs round after round so a
busy machine slows both alike:

* a compiled train step on the same padded batches (the controlled batches
  carry random control values), and
* the batched sampler: 8 outputs of 128 steps from a one-step primer (with
  controls: a style, fills every 4th bar and a density), with the controls
  as trained (strength 1) and at the default `--control_strength`, whose
  guidance runs every row twice (with and without its controls) in the
  same batch.

Usage: .venv/bin/python benchmarks/bench_controls.py [--rounds=5] [--steps=5]
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from drums_rnn import runtime  # noqa: E402

runtime.configure_process()  # as the commands run: before TensorFlow starts
import numpy as np  # noqa: E402

from drums_rnn import configs  # noqa: E402
from drums_rnn import controls  # noqa: E402
from drums_rnn import kinds  # noqa: E402
from drums_rnn.language_model import generation  # noqa: E402
from drums_rnn.training import trainer as trainer_lib  # noqa: E402

HPARAMS = {'batch_size': 64, 'rnn_layer_sizes': [128, 128], 'attn_length': 16, 'dropout_keep_prob': 0.7}
LENGTH = 256


def batches(config, count, seed=0):
  """`count` padded batches of random tracks (the same tracks for both configs)."""
  rng = np.random.default_rng(seed)
  spec = config.encoding.controls
  out = []
  for _ in range(count):
    inputs, labels = [], []
    for _ in range(HPARAMS['batch_size']):
      classes = rng.integers(0, 512, LENGTH + 1)
      values = None
      if spec is not None:
        values = controls.per_step(LENGTH + 1, 16, style=int(rng.integers(0, len(spec.styles))),
                                   fill=rng.integers(0, 2, 17), density=rng.integers(0, 5, 17))
      x, y = config.encoding.encode(classes, values)
      inputs.append(x)
      labels.append(y)
    out.append((np.stack(inputs), np.stack(labels),
                np.full(HPARAMS['batch_size'], LENGTH, np.int32)))
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--steps', type=int, default=5)
  args = parser.parse_args()
  names = ('drum_kit', 'drum_kit_control')
  setups = {}
  for name in names:
    config = configs.get_config(name)
    hparams = config.hparams(HPARAMS)
    trainer = trainer_lib.Trainer(kinds.task_for(config), hparams, seed=0)
    data = batches(config, args.steps + 1)
    trainer.train_step(*data[0])  # trace
    sampler = generation.BatchedSampler(trainer.model, config.encoding)
    values = controls.requested(config.encoding.controls, 128, 16, style='funk', fill_every=4,
                                density=3) if config.encoding.controls else None
    strengths = [1.0] + ([controls.DEFAULT_STRENGTH] if values is not None else [])
    for strength in strengths:  # trace
      sampler.sample(np.array([1]), 8, 127, seed=0, controls=values, control_strength=strength)
    setups[name] = (trainer, data, sampler, values, strengths)
  train = {name: [] for name in names}
  sample = {}
  for round_ in range(args.rounds):
    for name in (names if round_ % 2 == 0 else names[::-1]):
      trainer, data, sampler, values, strengths = setups[name]
      start = time.perf_counter()
      for batch in data[1:]:
        trainer.train_step(*batch)
      train[name].append((time.perf_counter() - start) / args.steps)
      for strength in strengths:
        for repeat in range(5):
          start = time.perf_counter()
          sampler.sample(np.array([1]), 8, 127, seed=10 * round_ + repeat, controls=values,
                         control_strength=strength)
          sample.setdefault((name, strength), []).append(time.perf_counter() - start)
  print(f'equal size {HPARAMS}, tracks of {LENGTH} steps; {args.rounds} alternating rounds '
        '(sampling 5 times a round); median and fastest')
  guided = controls.DEFAULT_STRENGTH
  rows = [('train step', train[names[0]], train[names[1]], 's/step'),
          ('sampling 8 x 128', sample[names[0], 1.0], sample[names[1], 1.0], 's'),
          (f'  at strength {guided:g}', sample[names[0], 1.0], sample[names[1], guided], 's')]
  for label, plain_times, control_times, unit in rows:
    for stat in (statistics.median, min):
      plain, ctl = stat(plain_times), stat(control_times)
      print(f'{label:18s} {stat.__name__:6s} drum_kit {plain:.3f} {unit}   drum_kit_control '
            f'{ctl:.3f} {unit}   ratio {ctl / plain:.3f}')


if __name__ == '__main__':
  main()
