"""drums_rnn_studio response times, end to end over HTTP.

Starts the studio (the shipped model and humanizer) on a free local port
in a thread WITHOUT warming it, times the first 4-bar generate (the cold
request, which pays for tracing the compiled sampler: what every request
would cost if the sampler were rebuilt per request) and the first humanize,
then N more 4-bar generates from a 1-bar primer with a new seed each, and N
regenerate, humanize, generate+humanize, 4-variation generate and continue
(Endless play's next bars) requests. Reports the median and
90th percentile, whether a 4-bar generate meets the 150 ms target, and how
many times the sampler was traced (once).

Usage: python benchmarks/bench_studio.py [--repeats=30] [--bars=4]
"""

import argparse
import json
import os
import sys
import time
import urllib.request

os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from drums_rnn import runtime  # noqa: E402

runtime.configure_process()  # as the command does: quiet TF, the BFC allocator
runtime.import_tensorflow()

import numpy as np  # noqa: E402

from drums_rnn import loading  # noqa: E402
from drums_rnn.studio import app as studio_app  # noqa: E402
from drums_rnn.studio import server as studio_server  # noqa: E402

TARGET_MS = 150.0


def primer(steps):
  """A 1-bar rock beat, silence after."""
  grid = [[0] * 9 for _ in range(steps)]
  for t in range(16):
    grid[t][0], grid[t][1], grid[t][2] = int(t % 8 == 0), int(t % 8 == 4), int(t % 2 == 0)
  return grid


def post_ms(url, body):
  """(milliseconds, response JSON) of one POST, connection set-up included."""
  data = json.dumps(body).encode()
  start = time.perf_counter()
  request = urllib.request.Request(url, data=data, method='POST',
                                   headers={'Content-Type': 'application/json'})
  with urllib.request.urlopen(request, timeout=120) as response:
    result = json.load(response)
  return (time.perf_counter() - start) * 1000.0, result


def summary(name, times):
  times = np.asarray(times)
  median, p90 = np.median(times), np.percentile(times, 90)
  print(f'{name:<34} n={len(times):<3d} median {median:7.1f} ms   p90 {p90:7.1f} ms   '
        f'min {times.min():7.1f} ms')
  return float(median), float(p90)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--repeats', type=int, default=30)
  parser.add_argument('--bars', type=int, default=4)
  args = parser.parse_args()
  start = time.perf_counter()
  app = studio_app.create_app(loading.load_model(None), loading.load_humanizer(None), warm=False)
  print(f'model + humanizer loaded in {time.perf_counter() - start:.2f} s (not warmed)')
  server, url = studio_server.start_in_thread(app)
  base = url + 'api/'
  studio = app.extensions[studio_app.EXTENSION]
  steps = args.bars * 16
  body = {'grid': primer(steps), 'seed_step': 16, 'temperature': 1.0}
  cold_ms, _ = post_ms(base + 'generate', dict(body, seed=0))
  print(f'cold first {args.bars}-bar generate (traces the sampler): {cold_ms:.0f} ms')
  cold_humanize_ms, _ = post_ms(base + 'humanize', {'grid': primer(steps), 'qpm': 120, 'seed': 0})
  print(f'cold first {args.bars}-bar humanize (traces the humanizer): {cold_humanize_ms:.0f} ms')
  for seed in range(3):  # settle: allocator, thread pools
    post_ms(base + 'generate', dict(body, seed=seed))
  generate_times, grids = [], []
  for seed in range(args.repeats):
    ms, result = post_ms(base + 'generate', dict(body, seed=1000 + seed))
    generate_times.append(ms)
    grids.append(result['grid'])
  med, p90 = summary(f'generate {args.bars} bars', generate_times)
  regen = [post_ms(base + 'regenerate', {'grid': grids[i], 'voices': ['closed_hihat', 'snare'],
                                         'seed_step': 16, 'seed': i})[0] for i in range(args.repeats)]
  summary(f'regenerate 2 rows, {args.bars} bars', regen)
  hum = [post_ms(base + 'humanize', {'grid': grids[i], 'qpm': 120, 'seed': i})[0]
         for i in range(args.repeats)]
  summary(f'humanize {args.bars} bars', hum)
  both = [post_ms(base + 'generate', dict(body, seed=i, humanize=True))[0] for i in range(args.repeats)]
  summary(f'generate + humanize {args.bars} bars', both)
  four = [post_ms(base + 'generate', dict(body, seed=i, variations=4))[0] for i in range(args.repeats)]
  summary(f'generate 4 variations {args.bars} bars', four)
  endless = [post_ms(base + 'continue', {'grid': grids[i], 'seed': i, 'keep_voices': ['bass_drum']})[0]
             for i in range(args.repeats)]
  summary(f'continue {args.bars} bars (endless)', endless)
  traces = studio.sampler._run.experimental_get_tracing_count()
  print(f'sampler traced {traces} time(s) over {6 * args.repeats + 4} sampling requests')
  verdict = 'meets' if p90 < TARGET_MS else ('median meets' if med < TARGET_MS else 'MISSES')
  print(f'target: a {args.bars}-bar generate under {TARGET_MS:.0f} ms: {verdict} (median {med:.1f} ms, '
        f'p90 {p90:.1f} ms; cold request {cold_ms / med:.0f}x slower)')
  server.shutdown()


if __name__ == '__main__':
  main()
