"""Humanizing speed: a 32-bar track through the shipped humanizer, in process after loading.

Times `Humanizer.humanize_hits` (the windowed, batched network call plus the
draws) and `humanize_sequence` (the same on notes: grid reading, drawing,
moving every note) on a 32-bar groove, against the issue's 0.5 s target;
and, side by side in the same run, the one-window-per-call way (each
4-bar window its own network call), to show what batching the windows buys.

Usage: python benchmarks/bench_humanize.py [--repeats=20]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from drums_rnn import loading  # noqa: E402
from drums_rnn.humanizer import humanize  # noqa: E402
from drums_rnn.humanizer import data  # noqa: E402
from drums_rnn.humanizer import performance  # noqa: E402

TARGET_S = 0.5


def groove(bars):
  """A busy 16th-note groove with kick, snare, hats, open hats and a crash per 4 bars."""
  hits = np.zeros((bars * 16, 9), bool)
  hits[:, 2] = True
  hits[0::8, 0] = hits[10::16, 0] = True
  hits[4::8, 1] = True
  hits[14::16, 3] = True
  hits[0::64, 7] = True
  return hits


def timed(fn, repeats):
  fn()  # warm (first call compiles)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times), max(times)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--repeats', type=int, default=20)
  args = parser.parse_args()
  start = time.perf_counter()
  humanizer = loading.load_humanizer()
  print(f'load the shipped humanizer: {time.perf_counter() - start:.2f} s')
  hits = groove(32)
  sequence = performance.performance_sequence(performance.Performance(
      np.where(hits, 80, 0), np.zeros(hits.shape, np.float32), 120.0))
  batched = timed(lambda: humanizer.humanize_hits(hits, 120.0, seed=1), args.repeats)
  notes = timed(lambda: humanize.humanize_sequence(humanizer, sequence, seed=1), args.repeats)
  window = humanizer.window_steps
  starts, _ = humanize.window_plan(hits.shape[0], window, humanizer.hop_steps)
  padded = np.zeros((starts[-1] + window, 9), bool)
  padded[:hits.shape[0]] = hits
  windows = np.zeros((len(starts), window, data.INPUT_SIZE), np.float32)
  for i, s in enumerate(starts):
    windows[i, :, data.HITS] = padded[s:s + window]
  windows[..., data.QPM], windows[..., data.LEVEL] = 120.0, humanize.DEFAULT_LEVEL
  one_by_one = timed(lambda: [humanizer._run(tf.constant(w[None])) for w in windows],  # pylint: disable=protected-access
                     args.repeats)
  one_batch = timed(lambda: humanizer._run(tf.constant(windows)), args.repeats)  # pylint: disable=protected-access
  print(f'32 bars ({hits.sum()} hits, {len(starts)} windows), median / max of {args.repeats}:')
  print(f'  humanize_hits        {batched[0] * 1000:7.1f} / {batched[1] * 1000:7.1f} ms')
  print(f'  humanize_sequence    {notes[0] * 1000:7.1f} / {notes[1] * 1000:7.1f} ms')
  print(f'  network, one batch   {one_batch[0] * 1000:7.1f} ms;  one window per call '
        f'{one_by_one[0] * 1000:7.1f} ms  (x{one_by_one[0] / one_batch[0]:.1f})')
  worst = max(batched[1], notes[1])
  print(f'target < {TARGET_S} s: {"met" if worst < TARGET_S else "MISSED"} (worst {worst * 1000:.0f} ms)')


if __name__ == '__main__':
  main()
