"""Training speed: compiled train step vs an eager run of the same step, one run.

Encodes real Groove MIDI tracks (drum_kit), then times train steps at two
settings -- Magenta's default drum_kit hparams (3x256, attention 32, batch
128) and ``batch_size=64,rnn_layer_sizes=[64,64]`` -- for:

* ``compiled``: the tf.function step used by drums_rnn_train;
* ``eager``: the identical step run op by op (the reference);
* ``compiled_unbucketed`` (and ``eager_unbucketed``): the same on random
  batches padded to their longest track, as Magenta batches; plain variants
  use drums_rnn_train's batches, bucketed by length;
* ``xla`` (optional): the step with XLA jit_compile. Measured on this 2-core
  machine with the autodiff loops it was slower (fwd+bwd 11.5 s vs 6.8 s at
  the small setting), so drums_rnn_train does not use it.

Prints steps/s, examples/s and the ratios. Optionally (``--magenta``) runs
Magenta's own ``drums_rnn_train`` on the same SequenceExample file for a few
steps and reports its global_step/sec from its event file.

The machine is shared: run the variants in one process, back to back, and
compare ratios rather than absolute numbers. The benchmark sets the process up
as the commands do (`runtime.configure_process`: TensorFlow's BFC CPU
allocator among others); run with TF_CPU_ALLOCATOR_USE_BFC=0 to measure
without it.

Usage:
  python benchmarks/bench_train.py [--num_files 300] [--steps 5] [--settings small,default]
      [--variants compiled,compiled_unbucketed,eager] [--magenta ~/.magenta-peer/venv/bin/drums_rnn_train]
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from drums_rnn import runtime  # noqa: E402

runtime.configure_process()  # as the commands run: before TensorFlow starts
import tensorflow as tf  # noqa: E402

from drums_rnn import configs  # noqa: E402
from drums_rnn import kinds  # noqa: E402
from drums_rnn.data import sequence_example  # noqa: E402
from drums_rnn.training import input_pipeline  # noqa: E402
from drums_rnn.training import trainer as trainer_lib  # noqa: E402

POOL_BATCHES = 200
SETTINGS = {
    'default': '',
    'small': 'batch_size=64,rnn_layer_sizes=[64,64]',
}


def encode_groove(path, num_files):
  """Writes drum_kit SequenceExamples of Groove 'train' tracks to `path`."""
  import note_seq
  from drums_rnn.data import extraction
  from tests import helpers
  config = configs.get_config('drum_kit')
  count = 0
  with tf.io.TFRecordWriter(path) as writer:
    for midi in helpers.groove_files(split='train', limit=num_files):
      for track in extraction.extract_drum_tracks(note_seq.midi_file_to_note_sequence(midi), config):
        writer.write(sequence_example.encode_track(track, config))
        count += 1
  return count


def time_variant(config, hparams, batches, variant, steps):
  trainer = trainer_lib.Trainer(kinds.task_for(config), hparams, seed=0, compiled=variant != "eager",
                             jit_compile=variant == 'xla')
  trainer.train_step(*batches[0])  # trace / warm up
  start = time.perf_counter()
  for i in range(steps):
    trainer.train_step(*batches[i + 1])
  return (time.perf_counter() - start) / steps


def time_magenta(binary, record_file, hparams, steps, workdir, bfc=False):
  run = os.path.join(workdir, f'magenta_run_{len(os.listdir(workdir))}')
  # Magenta as installed uses TF's default CPU allocator; --magenta_bfc gives it ours.
  env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC='1' if bfc else '0')
  cmd = [os.path.expanduser(binary), '--config=drum_kit', f'--run_dir={run}',
         f'--sequence_example_file={record_file}', f'--num_training_steps={steps}',
         f'--hparams={hparams}', '--summary_frequency=1']
  start = time.perf_counter()
  subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
  total = time.perf_counter() - start
  rates = []
  for path in glob.glob(os.path.join(run, 'train', 'events.out.tfevents.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == 'global_step/sec':
          rates.append(value.simple_value)
  return rates, total


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--num_files', type=int, default=300)
  parser.add_argument('--steps', type=int, default=5)
  parser.add_argument('--settings', default='small,default')
  parser.add_argument('--variants', default='compiled,eager')
  parser.add_argument('--record_file', default='', help='use this SequenceExample file instead')
  parser.add_argument('--magenta', default='', help="path of Magenta's drums_rnn_train to compare")
  parser.add_argument('--magenta_steps', type=int, default=3)
  parser.add_argument('--magenta_bfc', action='store_true',
                      help="also run Magenta with TensorFlow's BFC CPU allocator, as drums_rnn runs")
  args = parser.parse_args()

  workdir = tempfile.mkdtemp(prefix='bench_train_')
  record_file = args.record_file
  if not record_file:
    record_file = os.path.join(workdir, 'training_drum_tracks.tfrecord')
    start = time.perf_counter()
    count = encode_groove(record_file, args.num_files)
    print(f'encoded {count} Groove drum tracks from {args.num_files} files '
          f'in {time.perf_counter() - start:.1f} s')
  config = configs.get_config('drum_kit')
  print(f'TensorFlow {tf.__version__}, {os.cpu_count()} CPUs')

  for setting in args.settings.split(','):
    hparams = config.hparams(SETTINGS[setting])
    print(f'\n[{setting}] hparams {SETTINGS[setting] or "(drum_kit defaults)"}: '
          f'batch {hparams.batch_size}')
    batch_sets = {}
    for bucketed in (True, False):
      stream = input_pipeline.training_dataset([record_file], config.encoding.input_size,
                                               hparams.batch_size, seed=0,
                                               num_one_hot=config.encoding.num_classes,
                                               bucket_by_length=bucketed)
      # Buckets fill at different rates (the first batches are mostly of the
      # commonest length), so draw many batches and time an evenly spaced
      # sample of them sorted by padded length: its mean matches the stream's.
      pool = sorted(stream.take(POOL_BATCHES), key=lambda b: int(b[1].shape[1]))
      picks = np.linspace(0, len(pool) - 1, args.steps).round().astype(int)
      batches = [pool[-1]] + [pool[i] for i in picks]  # first one only warms up
      batch_sets[bucketed] = batches
      padded = [int(b[1].shape[1]) for b in batches[1:]]
      mean_len = np.mean([b[2].numpy().mean() for b in batches[1:]])
      print(f'  {"bucketed" if bucketed else "unbucketed"} batches: padded lengths {padded} '
            f'(mean {np.mean(padded):.0f}; {np.mean([int(b[1].shape[1]) for b in pool]):.0f} over '
            f'{len(pool)} batches), mean real length {mean_len:.0f}')
    results = {}
    for variant in args.variants.split(','):
      # '..._unbucketed': random batches padded to their longest track, as Magenta batches.
      base, _, suffix = variant.partition('_')
      seconds = time_variant(config, hparams, batch_sets[suffix != 'unbucketed'], base, args.steps)
      results[variant] = seconds
      print(f'  {variant:19s} {seconds:8.3f} s/step  {1 / seconds:7.3f} steps/s  '
            f'{hparams.batch_size / seconds:8.1f} examples/s')
    if 'eager' in results:
      for variant in results:
        if variant != 'eager':
          print(f'  {variant} is {results["eager"] / results[variant]:.2f}x the eager step')
    magenta_allocators = [False, True] if args.magenta_bfc else [False]
    for bfc in magenta_allocators if args.magenta else []:
      rates, total = time_magenta(args.magenta, record_file, SETTINGS[setting],
                                  args.magenta_steps, workdir, bfc=bfc)
      if not rates:
        print('  magenta wrote no global_step/sec summaries')
        continue
      magenta = 1.0 / np.median(rates)
      name = 'magenta+bfc' if bfc else 'magenta'
      print(f'  {name:9s} {magenta:8.3f} s/step (median global_step/sec over '
            f'{len(rates)} summaries; process wall time {total:.0f} s)')
      for variant in results:
        print(f'  {variant} is {magenta / results[variant]:.2f}x {name}\'s step')


if __name__ == '__main__':
  main()
