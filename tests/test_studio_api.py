"""drums_rnn_studio's JSON API through Flask's test client, with the shipped model and humanizer.

The model is loaded and the app warmed once for the module. What is checked:
each endpoint's answer (shapes, kept primer and rows, seeds that repeat and
differ, velocities and offsets in range, MIDI that parses back to the right
drum notes), every kind of bad request answering 400 with a JSON message,
unexpected failures answering 500 in JSON without stopping the app, no
retracing of the compiled sampler or humanizer whatever the requests, and
concurrent requests giving the results of serial ones. Controls (issue 18),
with a tiny drum_kit_control model: /api/model's "controls", the control
fields reaching the sampler for the whole track (continue repeating them
over the bars it adds), their 400s, a plain model refusing them, requests
without them answered as before, no retracing. The command itself:
a taken port and bad flags are one `error:` line and exit 2; Ctrl-C stops a
serving studio with exit 0.
"""

import concurrent.futures
import io
import json
import math
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import mido
import note_seq
import numpy as np
import pytest

from drums_rnn import encoding
from drums_rnn import loading
from drums_rnn.studio import app as studio_app
from tests import helpers

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOICES = list(encoding.DRUM_VOICE_NAMES)
T2 = 32  # steps of a 2-bar grid


@pytest.fixture(scope='module')
def loaded():
  return loading.load_model(None)


@pytest.fixture(scope='module')
def app(loaded):
  return studio_app.create_app(loaded, loading.load_humanizer(None))


@pytest.fixture(scope='module')
def client(app):
  return app.test_client()


@pytest.fixture(scope='module')
def plain_client(loaded):
  """An app without a humanizer (never samples in these tests, so not warmed)."""
  return studio_app.create_app(loaded, None, warm=False).test_client()


def rock_primer(steps=T2, bars_of_beat=1):
  """Kick on 1 and 3, snare on 2 and 4, closed hats on 8ths, for `bars_of_beat` bars; silence after."""
  grid = [[0] * 9 for _ in range(steps)]
  for t in range(16 * bars_of_beat):
    grid[t][0] = int(t % 8 == 0)
    grid[t][1] = int(t % 8 == 4)
    grid[t][2] = int(t % 2 == 0)
  return grid


def post(client, path, body):
  response = client.post(path, json=body)
  assert response.status_code == 200, (path, response.get_json())
  return response.get_json()


def generate(client, seed, grid=None, seed_step=16, **extra):
  body = {'grid': grid or rock_primer(), 'seed_step': seed_step, 'temperature': 1.0, 'seed': seed}
  body.update(extra)
  return post(client, '/api/generate', body)


# ---------------------------------------------------------------------------------------------
# The page and the model


def test_model_info(client, loaded):
  info = client.get('/api/model').get_json()
  assert info['config'] == 'drum_kit'
  assert info['source'] == loaded.source
  assert info['voices'] == VOICES
  assert info['voice_labels'] == list(encoding.DRUM_CLASS_NAMES)
  assert info['pitches'] == [36, 38, 42, 46, 45, 48, 50, 49, 51]
  assert info['pitches'] == [min(encoding.DRUM_KIT.class_to_pitches(1 << i)) for i in range(9)]
  assert (info['steps_per_bar'], info['max_bars'], info['humanizer']) == (16, 8, True)
  assert info['defaults'] == {'bars': 2, 'temperature': 1.0, 'qpm': 120, 'swing': 0, 'seed_step': 16}


def test_model_info_without_humanizer(plain_client):
  assert plain_client.get('/api/model').get_json()['humanizer'] is False


def test_page_and_assets_are_served_and_all_local(client):
  page = client.get('/')
  assert page.status_code == 200 and b'<title>drums_rnn studio</title>' in page.data
  for name, kind in (('app.js', 'javascript'), ('style.css', 'css')):
    asset = client.get(f'/static/{name}')
    assert asset.status_code == 200 and kind in asset.content_type
    assert b'http://' not in asset.data and b'https://' not in asset.data, name
  for name in os.listdir(studio_app.STATIC_DIR):  # the modules app.js imports, the worker: all local too
    asset = client.get(f'/static/{name}')
    assert asset.status_code == 200 and b'http://' not in asset.data and b'https://' not in asset.data, name
    assert b'import(' not in asset.data and b'fetch(\'http' not in asset.data, name
  assert b'http://' not in page.data and b'https://' not in page.data


# ---------------------------------------------------------------------------------------------
# Generate


def test_generate_keeps_the_primer_and_adds_hits_after_the_seed_step(client):
  primer = rock_primer()
  result = generate(client, 3, primer)
  grid = result['grid']
  assert len(grid) == T2 and all(len(step) == 9 and set(step) <= {0, 1} for step in grid)
  assert grid[:16] == primer[:16]
  assert sum(map(sum, grid[16:])) > 0
  assert result['seed'] == 3
  assert result['velocities'] is None
  assert math.isfinite(result['log_likelihood']) and result['log_likelihood'] < 0


def test_generate_same_seed_same_result_other_seeds_differ(client):
  first = generate(client, 11)
  assert generate(client, 11) == first
  others = [generate(client, seed)['grid'] for seed in (12, 13, 14)]
  assert any(other != first['grid'] for other in others)
  assert all(other[:16] == first['grid'][:16] for other in others)


def test_generate_without_a_seed_draws_one_that_repeats(client):
  body = {'grid': rock_primer(), 'seed_step': 16}
  drawn = post(client, '/api/generate', body)
  assert isinstance(drawn['seed'], int) and drawn['seed'] >= 0
  assert generate(client, drawn['seed'])['grid'] == drawn['grid']


def test_generate_from_a_silent_primer_and_a_late_seed_step(client):
  silent = [[0] * 9 for _ in range(64)]
  result = generate(client, 5, silent, seed_step=1)
  assert len(result['grid']) == 64 and result['grid'][0] == [0] * 9
  late = generate(client, 5, rock_primer(64, 3), seed_step=63)
  assert late['grid'][:63] == rock_primer(64, 3)[:63]


def test_generate_with_humanize_gives_velocities_exactly_where_hits_are(client):
  result = generate(client, 8, humanize=True, qpm=96)
  hits = np.array(result['grid'], bool)
  velocities = np.array(result['velocities'])
  assert velocities.shape == hits.shape
  assert (velocities[hits] >= 1).all() and (velocities[hits] <= 127).all()
  assert (velocities[~hits] == 0).all()


# ---------------------------------------------------------------------------------------------
# Regenerate


def test_regenerate_keeps_the_other_rows_and_varies_the_chosen_one(client):
  source = generate(client, 21, rock_primer(64, 1))['grid']
  hat = VOICES.index('closed_hihat')
  grids = []
  for seed in (1, 2, 3, 4):
    result = post(client, '/api/regenerate', {'grid': source, 'voices': ['closed_hihat'],
                                              'seed_step': 16, 'temperature': 1.0, 'seed': seed})
    grid = np.array(result['grid'])
    assert result['seed'] == seed and grid.shape == (64, 9)
    kept = [v for v in range(9) if v != hat]
    np.testing.assert_array_equal(grid[:, kept], np.array(source)[:, kept])
    np.testing.assert_array_equal(grid[:16], np.array(source)[:16])
    grids.append(grid[16:, hat])
  assert any(not np.array_equal(grids[0], other) for other in grids[1:])
  again = post(client, '/api/regenerate', {'grid': source, 'voices': ['closed_hihat'],
                                           'seed_step': 16, 'seed': 1})
  np.testing.assert_array_equal(np.array(again['grid'])[16:, hat], grids[0])


def test_regenerate_defaults_to_keeping_only_the_first_step(client):
  source = rock_primer(32, 2)
  result = post(client, '/api/regenerate', {'grid': source, 'voices': ['bass_drum', 'snare'], 'seed': 4})
  grid = np.array(result['grid'])
  np.testing.assert_array_equal(grid[0], source[0])
  np.testing.assert_array_equal(grid[:, 2:], np.array(source)[:, 2:])


# ---------------------------------------------------------------------------------------------
# Humanize


def test_humanize_velocities_and_offsets_in_range_where_hits(client):
  grid = generate(client, 30, rock_primer(64, 1))['grid']
  hits = np.array(grid, bool)
  result = post(client, '/api/humanize', {'grid': grid, 'qpm': 110, 'seed': 2})
  velocities, offsets = np.array(result['velocities']), np.array(result['offsets'])
  assert result['seed'] == 2
  assert velocities.shape == offsets.shape == (64, 9)
  assert velocities.dtype.kind == 'i'
  assert (velocities[hits] >= 1).all() and (velocities[hits] <= 127).all()
  assert (velocities[~hits] == 0).all() and (offsets[~hits] == 0).all()
  assert (offsets >= -0.5).all() and (offsets < 0.5).all()
  assert len(np.unique(velocities[hits])) > 1
  assert post(client, '/api/humanize', {'grid': grid, 'qpm': 110, 'seed': 2}) == result
  flat = post(client, '/api/humanize', {'grid': grid, 'qpm': 110, 'seed': 2, 'strength': 0})
  assert len(set(np.array(flat['velocities'])[hits].tolist())) == 1
  assert not np.array(flat['offsets']).any()


def test_humanize_without_a_humanizer_is_a_400(plain_client):
  response = plain_client.post('/api/humanize', json={'grid': rock_primer(), 'qpm': 120, 'seed': 1})
  assert response.status_code == 400
  assert response.get_json() == {'error': 'no humanizer loaded'}
  response = plain_client.post('/api/generate', json={'grid': rock_primer(), 'seed_step': 16,
                                                      'humanize': True})
  assert response.status_code == 400 and 'no humanizer' in response.get_json()['error']


# ---------------------------------------------------------------------------------------------
# MIDI


def test_midi_has_the_grid_as_drum_notes(client):
  grid = rock_primer(32, 2)
  hits = np.array(grid, bool)
  velocities = np.where(hits, 60, 0)
  velocities[0, 0] = 0  # a hit that was never humanized: the default velocity
  velocities[4, 1] = 127
  offsets = np.zeros((32, 9))
  offsets[8, 0] = 0.25
  response = client.post('/api/midi', json={'grid': grid, 'qpm': 120, 'velocities': velocities.tolist(),
                                            'offsets': offsets.tolist(), 'swing': 0.5})
  assert response.status_code == 200
  assert response.mimetype == 'audio/midi'
  assert response.headers['Content-Disposition'] == 'attachment; filename=drums_rnn_studio.mid'
  seq = note_seq.midi_to_note_sequence(response.data)
  assert len(seq.notes) == hits.sum()
  assert all(n.is_drum for n in seq.notes)
  channels = {m.channel for m in mido.MidiFile(file=io.BytesIO(response.data)) if m.type == 'note_on'}
  assert channels == {9}
  pitches = np.array([36, 38, 42, 46, 45, 48, 50, 49, 51])
  assert sorted(n.pitch for n in seq.notes) == sorted(pitches[np.nonzero(hits)[1]].tolist())
  step = 60.0 / 120 / 4
  by_start = sorted((round(n.start_time / step, 2), n.pitch, n.velocity) for n in seq.notes)
  assert (0.0, 36, 100) in by_start           # velocity 0 -> 100
  assert (4.0, 38, 127) in by_start
  assert (8.25, 36, 60) in by_start            # its offset
  assert all(s % 2 == 0 for s, _, _ in by_start if s != 8.25)  # even 16ths: no swing, all hits even here
  assert seq.tempos[0].qpm == pytest.approx(120)


def test_midi_swing_delays_odd_sixteenths_and_velocity_defaults_to_100(client):
  grid = [[0] * 9 for _ in range(16)]
  grid[0][2] = grid[1][2] = grid[3][2] = 1
  data = client.post('/api/midi', json={'grid': grid, 'qpm': 100, 'swing': 0.3}).data
  seq = note_seq.midi_to_note_sequence(data)
  step = 60.0 / 100 / 4
  starts = sorted(n.start_time / step for n in seq.notes)
  assert starts == pytest.approx([0.0, 1.3, 3.3], abs=0.01)
  assert {n.velocity for n in seq.notes} == {100} and {n.pitch for n in seq.notes} == {42}


def test_midi_round_trips_through_the_package_reader(client, tmp_path):
  from drums_rnn import midi  # pylint: disable=import-outside-toplevel
  path = tmp_path / 'out.mid'
  path.write_bytes(client.post('/api/midi', json={'grid': rock_primer(), 'qpm': 140}).data)
  seq = midi.read_midi(str(path))
  assert len(seq.notes) == np.array(rock_primer(), bool).sum()


# ---------------------------------------------------------------------------------------------
# Bad requests: 400 with one clear message


def _grid(steps, value=0):
  return [[value] * 9 for _ in range(steps)]


def _broken_step(grid, t, step):
  grid = [list(s) for s in grid]
  grid[t] = step
  return grid


GOOD = {'grid': _grid(32), 'seed_step': 16, 'temperature': 1.0, 'seed': 1}
BAD_REQUESTS = [
    ('/api/generate', 'this is not json', 'must be JSON'),
    ('/api/generate', '[1, 2, 3]', 'must be a JSON object'),
    ('/api/generate', '{"grid": [[0,0,0,0,0,0,0,0,0]], "seed_step": 1, "temperature": NaN}', 'steps'),
    ('/api/generate', dict(GOOD, grid=None), 'missing field "grid"'),
    ('/api/generate', {k: v for k, v in GOOD.items() if k != 'seed_step'}, 'missing field "seed_step"'),
    ('/api/generate', dict(GOOD, grid=[]), 'got 0 steps'),
    ('/api/generate', dict(GOOD, grid=_grid(9 * 16)), 'got 144 steps'),
    ('/api/generate', dict(GOOD, grid=_grid(20)), 'got 20 steps'),
    ('/api/generate', dict(GOOD, grid='x' * 32), 'must be a list of steps'),
    ('/api/generate', dict(GOOD, grid=_broken_step(_grid(32), 3, [0] * 8)), 'step 3 must be a list of 9'),
    ('/api/generate', dict(GOOD, grid=_broken_step(_grid(32), 5, [2] + [0] * 8)),
     'step 5 must hold only 0 or 1'),
    ('/api/generate', dict(GOOD, grid=_broken_step(_grid(32), 5, [True] + [0] * 8)), 'only 0 or 1'),
    ('/api/generate', dict(GOOD, grid=_broken_step(_grid(32), 5, 7)), 'step 5'),
    ('/api/generate', dict(GOOD, temperature=0), '"temperature" must be in (0.0, 5.0]'),
    ('/api/generate', dict(GOOD, temperature=-1), '"temperature"'),
    ('/api/generate', dict(GOOD, temperature=5.01), '"temperature"'),
    ('/api/generate', dict(GOOD, temperature='hot'), '"temperature" must be a number'),
    ('/api/generate', dict(GOOD, seed='x'), '"seed" must be an integer'),
    ('/api/generate', dict(GOOD, seed=1.5), '"seed" must be an integer'),
    ('/api/generate', dict(GOOD, seed=True), '"seed" must be an integer'),
    ('/api/generate', dict(GOOD, seed=-1), '"seed" must be in'),
    ('/api/generate', dict(GOOD, seed=2 ** 64), '"seed" must be in'),
    ('/api/generate', dict(GOOD, seed_step=0), '"seed_step" must be in 1..31'),
    ('/api/generate', dict(GOOD, seed_step=32), '"seed_step" must be in 1..31'),
    ('/api/generate', dict(GOOD, seed_step=3.0), '"seed_step" must be an integer'),
    ('/api/generate', dict(GOOD, qpm=10), '"qpm"'),
    ('/api/generate', dict(GOOD, qpm=301), '"qpm"'),
    ('/api/generate', dict(GOOD, humanize='yes'), '"humanize" must be true or false'),
    ('/api/regenerate', dict(GOOD), 'missing field "voices"'),
    ('/api/regenerate', dict(GOOD, voices=[]), '"voices" is empty'),
    ('/api/regenerate', dict(GOOD, voices=['snare', 'cowbell']), "unknown voice 'cowbell'"),
    ('/api/regenerate', dict(GOOD, voices='snare'), '"voices" must be a list'),
    ('/api/regenerate', dict(GOOD, voices=[1]), '"voices" must be a list'),
    ('/api/regenerate', dict(GOOD, voices=['snare'], seed_step=40), '"seed_step" must be in 1..31'),
    ('/api/humanize', {'grid': _grid(32), 'qpm': 0}, '"qpm" must be in [20.0, 300.0]'),
    ('/api/humanize', {'grid': _grid(32), 'strength': 1.5}, '"strength" must be in [0.0, 1.0]'),
    ('/api/humanize', {'grid': _grid(32), 'temperature': 0}, '"temperature"'),
    ('/api/humanize', {'grid': _grid(17)}, 'got 17 steps'),
    ('/api/midi', {'qpm': 120}, 'missing field "grid"'),
    ('/api/midi', {'grid': _grid(16), 'velocities': _grid(32)}, '"velocities" must be 16 steps of 9 ints'),
    ('/api/midi', {'grid': _grid(16), 'velocities': _grid(16, 128)}, '"velocities" step 0 holds 128'),
    ('/api/midi', {'grid': _grid(16), 'velocities': _grid(16, 1.5)}, 'ints in [0, 127]'),
    ('/api/midi', {'grid': _grid(16), 'offsets': _grid(16, 0.7)}, '"offsets" step 0 holds 0.7'),
    ('/api/midi', {'grid': _grid(16), 'swing': 0.6}, '"swing" must be in [0.0, 0.5]'),
    ('/api/midi', {'grid': _grid(16), 'qpm': 'fast'}, '"qpm" must be a number'),
]


@pytest.mark.parametrize('path, body, message', BAD_REQUESTS,
                         ids=[f'{i}-{m[:28]}' for i, (_, _, m) in enumerate(BAD_REQUESTS)])
def test_bad_requests_are_400_with_a_clear_message(client, path, body, message):
  if isinstance(body, str):
    response = client.post(path, data=body, content_type='application/json')
  else:
    response = client.post(path, json=body)
  assert response.status_code == 400
  assert response.is_json
  error = response.get_json()['error']
  assert message in error, error
  assert '--' not in error, error  # the studio speaks of JSON fields, never of command-line flags


def test_nan_temperature_is_refused(client):
  body = '{"grid": %s, "seed_step": 16, "temperature": NaN}' % json.dumps(_grid(32))
  response = client.post('/api/generate', data=body, content_type='application/json')
  assert response.status_code == 400 and '"temperature" must be a number' in response.get_json()['error']


def test_wrong_method_and_unknown_path_answer_json(client):
  wrong = client.get('/api/generate')
  assert wrong.status_code == 405 and 'Method Not Allowed' in wrong.get_json()['error']
  missing = client.get('/api/nothing')
  assert missing.status_code == 404 and 'Not Found' in missing.get_json()['error']


def test_an_unexpected_failure_is_a_json_500_and_the_app_keeps_serving(app, client, monkeypatch):
  studio = app.extensions[studio_app.EXTENSION]

  def broken(*args, **kwargs):
    raise RuntimeError('the sampler fell over')

  monkeypatch.setattr(studio, 'generate', broken)
  response = client.post('/api/generate', json=GOOD)
  assert response.status_code == 500
  assert response.get_json() == {'error': 'internal error: RuntimeError: the sampler fell over'}
  monkeypatch.undo()
  assert client.post('/api/generate', json=GOOD).status_code == 200


# ---------------------------------------------------------------------------------------------
# No retracing; concurrency


def test_requests_never_retrace_the_sampler_or_the_humanizer(app, client):
  studio = app.extensions[studio_app.EXTENSION]
  sampler_traces = studio.sampler._run.experimental_get_tracing_count()
  humanizer_traces = studio.humanizer._run.experimental_get_tracing_count()
  assert sampler_traces == 1 and humanizer_traces == 1  # traced once, at start-up
  for bars in range(1, 9):
    steps = 16 * bars
    grid = rock_primer(steps, 1)
    seed_step = 1 + (5 * bars) % (steps - 1)
    result = generate(client, bars, grid, seed_step=seed_step, temperature=0.25 * bars, humanize=True)
    post(client, '/api/regenerate', {'grid': result['grid'], 'voices': VOICES[:bars],
                                     'seed_step': seed_step, 'seed': bars})
    post(client, '/api/humanize', {'grid': result['grid'], 'qpm': 60 + 20 * bars, 'seed': bars,
                                   'strength': bars / 8})
  assert studio.sampler._run.experimental_get_tracing_count() == sampler_traces
  assert studio.humanizer._run.experimental_get_tracing_count() == humanizer_traces


def test_concurrent_requests_all_succeed_with_the_serial_results(app):
  def work(seed):
    client = app.test_client()
    out = []
    for k in range(3):
      response = client.post('/api/generate', json={'grid': rock_primer(64, 1), 'seed_step': 16,
                                                    'seed': seed * 10 + k})
      assert response.status_code == 200
      out.append(response.get_json()['grid'])
    response = client.post('/api/regenerate', json={'grid': out[-1], 'voices': ['snare'], 'seed': seed})
    assert response.status_code == 200
    out.append(response.get_json()['grid'])
    return out

  serial = {seed: work(seed) for seed in range(8)}
  with concurrent.futures.ThreadPoolExecutor(8) as pool:
    parallel = dict(zip(range(8), pool.map(work, range(8))))
  assert parallel == serial


# ---------------------------------------------------------------------------------------------
# The command


def _run_cli_cases(cases, timeout=240):
  return helpers.run_cli_cases('drums_rnn.cli.drums_rnn_studio', cases, timeout=timeout)


def test_cli_errors_are_one_line_and_exit_2(tmp_path):
  with socket.socket() as taken:
    taken.bind(('127.0.0.1', 0))
    taken.listen()
    port = taken.getsockname()[1]
    results = _run_cli_cases([
        [f'--port={port}'],
        ['--port=70000'],
        ['--bundle_file=a.mag', '--run_dir=b'],
        ['--nohumanize', '--humanizer_file=h.mag'],
        [f'--bundle_file={tmp_path}/missing.mag', '--port=0'],
    ])
  messages = [r['stderr'].strip() for r in results]
  assert [r['code'] for r in results] == [2] * 5, messages
  assert all(m.count('\n') == 0 and m.startswith('error: ') for m in messages), messages
  assert f'cannot serve on 127.0.0.1:{port}: Address already in use' in messages[0]
  assert '--port must be in 0..65535' in messages[1]
  assert 'give at most one of --bundle_file, --run_dir' in messages[2]
  assert '--humanizer_file cannot be combined with --nohumanize' in messages[3]
  assert 'missing.mag' in messages[4] and 'does not exist' in messages[4]


def test_cli_serves_and_ctrl_c_stops_it_with_exit_0():
  proc = subprocess.Popen([sys.executable, '-m', 'drums_rnn.cli.drums_rnn_studio', '--port=0', '--nohumanize',
                           '--log=WARN'], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, preexec_fn=helpers.default_sigint)
  try:
    line = proc.stdout.readline()
    assert line.startswith('drums_rnn_studio: serving the drum_kit model ') and '(Ctrl-C to stop)' in line
    url = line.split(' at ')[1].split()[0]
    assert url.startswith('http://127.0.0.1:') and url.endswith('/')
    with urllib.request.urlopen(url + 'api/model', timeout=30) as response:
      assert json.load(response)['humanizer'] is False
    data = json.dumps({'grid': rock_primer(), 'seed_step': 16, 'seed': 1}).encode()
    request = urllib.request.Request(url + 'api/generate', method='POST', data=data,
                                     headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(request, timeout=30) as response:
      assert len(json.load(response)['grid']) == T2
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.communicate()
  assert proc.returncode == 0, err
  assert out.strip() == 'drums_rnn_studio: stopped'
  assert 'error' not in err and 'Traceback' not in err


# ---------------------------------------------------------------------------------------------
# Variations, continuing a groove, humanize options, clips in and out (issue 19)


def test_variations_come_from_one_sampler_call_and_say_whether_they_changed(app, client, monkeypatch):
  studio = app.extensions[studio_app.EXTENSION]
  calls = []
  real = studio.sampler.sample

  def counted(*args, **kwargs):
    calls.append(args[1])  # num_outputs
    return real(*args, **kwargs)

  monkeypatch.setattr(studio.sampler, 'sample', counted)
  result = generate(client, 3, variations=4, humanize=True)
  assert calls == [4]
  variations = result['variations']
  assert len(variations) == 4 and len({json.dumps(v['grid']) for v in variations}) == 4
  assert all(v['grid'][:16] == rock_primer()[:16] and v['changed'] for v in variations)
  assert result['grid'] == variations[0]['grid'] and result['offsets'] == variations[0]['offsets']
  assert all(np.array(v['velocities'])[np.array(v['grid'], bool)].min() >= 1 for v in variations)
  # One variation of a one-output call is the same as the first of a four-output call? Not promised; but
  # the same request twice is the same answer.
  assert generate(client, 3, variations=4, humanize=True) == result
  calls.clear()
  unchanged = post(client, '/api/regenerate', {'grid': rock_primer(), 'voices': ['crash'], 'seed_step': 16,
                                               'seed': 0, 'variations': 8, 'temperature': 0.05})
  assert calls == [8]
  assert all(v['changed'] == (v['grid'] != rock_primer()) for v in unchanged['variations'])


def test_continue_gives_the_next_bars_keeping_locked_rows_and_bars(client):
  source = generate(client, 41, rock_primer(32, 1))['grid']
  result = post(client, '/api/continue', {'grid': source, 'seed': 7, 'keep_voices': ['bass_drum', 'snare'],
                                         'keep_bars': [1], 'temperature': 1.0})
  new = np.array(result['grid'])
  assert new.shape == (32, 9) and result['velocities'] is None
  np.testing.assert_array_equal(new[:, :2], np.array(source)[:, :2])  # the locked rows, as they were
  np.testing.assert_array_equal(new[16:], np.array(source)[16:])      # the locked bar 2, whole
  others = [post(client, '/api/continue', {'grid': source, 'seed': s})['grid'] for s in (1, 2, 3)]
  assert len({json.dumps(o) for o in others}) == 3 and all(len(o) == 32 for o in others)
  assert post(client, '/api/continue', {'grid': source, 'seed': 1})['grid'] == others[0]
  longer = post(client, '/api/continue', {'grid': source, 'seed': 1, 'bars': 4, 'humanize': True, 'qpm': 100})
  assert len(longer['grid']) == 64 and len(longer['velocities']) == 64 and len(longer['offsets']) == 64
  everything = post(client, '/api/continue', {'grid': source, 'seed': 1, 'keep_voices': VOICES})
  assert everything['grid'] == source  # all rows locked: the pattern again


def test_humanize_centre_strength_and_temperature(client):
  grid = generate(client, 30, rock_primer(64, 1))['grid']
  hits = np.array(grid, bool)
  plain = post(client, '/api/humanize', {'grid': grid, 'qpm': 110, 'seed': 2})
  centred = post(client, '/api/humanize', {'grid': grid, 'qpm': 110, 'seed': 2, 'centre': True})
  offsets, moved = np.array(plain['offsets']), np.array(centred['offsets'])
  assert abs(moved[hits].mean()) < 1e-3 < abs(offsets[hits].mean())
  assert (moved[~hits] == 0).all() and (moved >= -0.5).all() and (moved < 0.5).all()
  assert centred['velocities'] == plain['velocities']
  cooler = post(client, '/api/humanize', {'grid': grid, 'qpm': 110, 'seed': 2, 'temperature': 0.2})
  assert cooler['velocities'] != plain['velocities']
  both = generate(client, 8, humanize=True, qpm=96, strength=0.0, humanize_temperature=0.5, centre=True)
  velocities = np.array(both['velocities'])[np.array(both['grid'], bool)]
  assert set(velocities.tolist()) == {70} and not np.array(both['offsets']).any()


def _midi_length_steps(data):
  midi_file = mido.MidiFile(file=io.BytesIO(data))
  ends = []
  for track in midi_file.tracks:
    tick = sum(m.time for m in track)
    assert track[-1].type == 'end_of_track'
    ends.append(tick)
  return max(ends) / (midi_file.ticks_per_beat / 4), ends


def test_midi_files_are_exactly_as_long_as_the_grid(client):
  cases = [
      ({'grid': rock_primer(32, 1)}, 32),  # bar 2 empty
      ({'grid': _last_step_hit(32), 'swing': 0.5}, 32),  # a swung last step, cut at the end
      ({'grid': _last_step_hit(16), 'swing': 0.5, 'swing_unit': 8}, 16),
      ({'grid': rock_primer(128, 1)}, 128),
  ]
  humanized = generate(client, 4, rock_primer(48, 1), humanize=True)
  cases.append(({'grid': humanized['grid'], 'velocities': humanized['velocities'],
                 'offsets': humanized['offsets']}, 48))
  for body, steps in cases:
    data = client.post('/api/midi', json=dict(body, qpm=117)).data
    length, ends = _midi_length_steps(data)
    assert length == steps and len(set(ends)) == 1, (steps, ends)
    seq = note_seq.midi_to_note_sequence(data)
    step = 60.0 / 117 / 4
    assert max(n.end_time for n in seq.notes) <= steps * step + 1e-6
    assert len(seq.notes) == np.array(body['grid'], bool).sum()


def _last_step_hit(steps):
  grid = [[0] * 9 for _ in range(steps)]
  grid[0][0] = grid[steps - 1][2] = 1
  return grid


def test_swing_on_eighths_moves_the_second_eighth_and_the_sixteenths_around_it(client):
  grid = [[0] * 9 for _ in range(16)]
  for t in range(4):
    grid[t][2] = 1
  data = client.post('/api/midi', json={'grid': grid, 'qpm': 100, 'swing': 0.25, 'swing_unit': 8}).data
  step = 60.0 / 100 / 4
  starts = sorted(n.start_time / step for n in note_seq.midi_to_note_sequence(data).notes)
  assert starts == pytest.approx([0.0, 1.25, 2.5, 3.25], abs=0.01)


def _clip_bytes(channel=9, ticks_per_beat=96, qpm=90, bars=2, extra=()):
  track = mido.MidiTrack()
  track.append(mido.MetaMessage('set_tempo', tempo=mido.bpm2tempo(qpm), time=0))
  step = ticks_per_beat // 4
  events = [(0, 36, 100), (4 * step, 38, 80), (2 * step + step // 5, 42, 50)] + list(extra)
  messages = sorted([(t, mido.Message('note_on', channel=channel, note=p, velocity=v)) for t, p, v in events]
                    + [(t + step // 2, mido.Message('note_off', channel=channel, note=p)) for t, p, _ in events],
                    key=lambda m: m[0])
  now = 0
  for tick, message in messages:
    track.append(message.copy(time=tick - now))
    now = tick
  track.append(mido.MetaMessage('end_of_track', time=bars * 16 * step - now))
  buffer = io.BytesIO()
  mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat, tracks=[track]).save(file=buffer)
  return buffer.getvalue()


def test_clip_import_maps_drum_notes_keeps_length_tempo_velocity_and_timing(client):
  import base64  # pylint: disable=import-outside-toplevel
  for channel in (9, 0):  # the drum channel, and channel 1 as DAWs often write drum clips
    data = _clip_bytes(channel=channel, extra=[(200, 20, 90)])
    result = post(client, '/api/clip', {'midi': base64.b64encode(data).decode()})
    grid = np.array(result['grid'])
    assert result['bars'] == 2 and grid.shape == (32, 9) and result['qpm'] == pytest.approx(90)
    assert {tuple(x) for x in np.argwhere(grid)} == {(0, 0), (4, 1), (2, 2)}
    assert result['velocities'][4][1] == 80 and result['offsets'][2][2] == pytest.approx(4 / 24, abs=0.001)
    assert (result['mapped'], result['unmapped'], result['cut_bars']) == (3, 1, 0)
  long = post(client, '/api/clip', {'midi': base64.b64encode(_clip_bytes(bars=11)).decode()})
  assert long['bars'] == 8 and long['cut_bars'] == 3
  # A round trip: what the studio writes, it reads back as the same grid, length included.
  source = generate(client, 4, rock_primer(48, 1), humanize=True)
  written = client.post('/api/midi', json={'grid': source['grid'], 'velocities': source['velocities'],
                                           'offsets': source['offsets'], 'qpm': 133}).data
  back = post(client, '/api/clip', {'midi': base64.b64encode(written).decode()})
  assert back['grid'] == source['grid'] and back['bars'] == 3 and back['qpm'] == pytest.approx(133, abs=0.01)
  assert back['velocities'] == source['velocities']
  expected = np.array(source['offsets'])
  expected[0] = np.maximum(expected[0], 0)  # a hit early on the very first step starts the file at 0
  assert np.allclose(back['offsets'], expected, atol=0.02)


CLIP_BAD_REQUESTS = [
    ({}, 'missing field "midi"'),
    ({'midi': 5}, '"midi" must be a base64 string'),
    ({'midi': 'not base64!'}, '"midi" is not valid base64'),
    ({'midi': ''}, '"midi" is empty'),
    ({'midi': 'aGVsbG8gd29ybGQ='}, '"midi" is not a MIDI file'),
    ({'midi': 'A' * (4 * 200 * 1024)}, '"midi" is too large'),
]


@pytest.mark.parametrize('body, message', CLIP_BAD_REQUESTS, ids=[m[:24] for _, m in CLIP_BAD_REQUESTS])
def test_bad_clips_are_400_with_a_clear_message(client, body, message):
  response = client.post('/api/clip', json=body)
  assert response.status_code == 400 and message in response.get_json()['error'], response.get_json()


NEW_BAD_REQUESTS = [
    ('/api/generate', dict(GOOD, variations=0), '"variations" must be in 1..8'),
    ('/api/generate', dict(GOOD, variations=9), '"variations" must be in 1..8'),
    ('/api/generate', dict(GOOD, humanize=True, strength=2), '"strength" must be in [0.0, 1.0]'),
    ('/api/generate', dict(GOOD, humanize=True, humanize_temperature=0), '"humanize_temperature"'),
    ('/api/humanize', {'grid': _grid(32), 'centre': 'yes'}, '"centre" must be true or false'),
    ('/api/midi', {'grid': _grid(16), 'swing_unit': 4}, '"swing_unit" must be one of 8, 16'),
    ('/api/midi', {'grid': _grid(16), 'swing_unit': 16.0}, '"swing_unit" must be one of 8, 16'),
    ('/api/continue', {'grid': _grid(32), 'bars': 9}, '"bars" must be in 1..8'),
    ('/api/continue', {'grid': _grid(32), 'keep_voices': ['cowbell']}, "unknown voice 'cowbell' in \"keep_voices\""),
    ('/api/continue', {'grid': _grid(32), 'keep_bars': [2]}, '"keep_bars" must be a list of bar indices in 0..1'),
    ('/api/continue', {'grid': _grid(32), 'keep_bars': 'all'}, '"keep_bars" must be a list'),
]


@pytest.mark.parametrize('path, body, message', NEW_BAD_REQUESTS,
                         ids=[f'{i}-{m[:28]}' for i, (_, _, m) in enumerate(NEW_BAD_REQUESTS)])
def test_new_fields_bad_values_are_400(client, path, body, message):
  response = client.post(path, json=body)
  assert response.status_code == 400, response.get_json()
  error = response.get_json()['error']
  assert message in error and '--' not in error, error


# ---------------------------------------------------------------------------------------------
# Controls (issue 18): style, density and fills for a drum_kit_control model; refused by a plain one


@pytest.fixture(scope='module')
def controlled_app():
  """A warmed app over a tiny, untrained drum_kit_control model (no humanizer)."""
  from drums_rnn import configs  # pylint: disable=import-outside-toplevel
  from drums_rnn.language_model.model import DrumsRnnModel  # pylint: disable=import-outside-toplevel
  config = configs.get_config('drum_kit_control')
  hparams = config.hparams({'rnn_layer_sizes': [16], 'attn_length': 4})
  model = DrumsRnnModel.from_config(config, hparams, seed=1)
  return studio_app.create_app(loading.LoadedModel(config, hparams, model, 'tiny', 'test'), None)


@pytest.fixture(scope='module')
def controlled(controlled_app):
  return controlled_app.test_client()


class SamplerCalls:
  """Records the `controls` of every call of a Studio's sampler (and still samples)."""

  def __init__(self, studio, monkeypatch):
    self.calls, self.strengths = [], []
    real = studio.sampler.sample

    def recorded(*args, **kwargs):
      self.calls.append(kwargs.get('controls'))
      self.strengths.append(kwargs.get('control_strength'))
      return real(*args, **kwargs)

    monkeypatch.setattr(studio.sampler, 'sample', recorded)


def _per_bar(values, steps_per_bar=16):
  """The per-bar rows of per-step control values, checking every step of a bar holds the same."""
  values = np.asarray(values)
  bars = values.reshape(3, -1, steps_per_bar)
  assert (bars == bars[:, :, :1]).all()
  return bars[:, :, 0].tolist()


def test_model_info_reports_the_controls_only_for_a_model_with_them(client, controlled):
  assert client.get('/api/model').get_json()['controls'] is None
  info = controlled.get('/api/model').get_json()
  assert info['config'] == 'drum_kit_control' and info['voices'] == VOICES
  assert info['controls'] == {
      'styles': ['rock', 'latin', 'funk', 'jazz', 'hiphop', 'afrobeat', 'neworleans', 'afrocuban', 'other'],
      'density_bins': ['< 13', '13-16', '17-19', '20-23', '>= 24'], 'density_edges': [13, 17, 20, 24],
      'default_strength': 5.0, 'max_strength': 10.0}


def test_requests_without_control_fields_are_bit_identical_to_before(app, client, controlled_app, controlled,
                                                                    monkeypatch):
  from drums_rnn.language_model import generation  # pylint: disable=import-outside-toplevel
  # The shipped (plain) model: the studio's answers are the library's own, called as before (no controls).
  studio = app.extensions[studio_app.EXTENSION]
  loaded = studio.loaded
  grid = rock_primer(64, 1)
  events = loaded.config.encoding.classes_to_events(encoding.hits_to_classes(np.array(grid, bool)))
  sampler = generation.BatchedSampler(loaded.model, loaded.config.encoding)  # a sampler of its own
  for seed in (3, 4):
    result = generate(client, seed, grid, variations=2)
    tracks, scores = generation.generate_tracks(loaded.model, loaded.config, events[:16], num_outputs=2,
                                                num_steps=64, temperature=1.0, seed=seed, sampler=sampler)
    assert [v['grid'] for v in result['variations']] == [
        encoding.classes_to_hits(loaded.config.encoding.classes_from_events(t)).astype(int).tolist()
        for t in tracks]
    assert [v['log_likelihood'] for v in result['variations']] == [float(s) for s in scores]
    regenerated = post(client, '/api/regenerate', {'grid': result['grid'], 'voices': ['snare', 'ride'],
                                                   'seed_step': 16, 'seed': seed})
    events_now = loaded.config.encoding.classes_to_events(encoding.hits_to_classes(np.array(result['grid'], bool)))
    tracks, _ = generation.regenerate_voices(loaded.model, loaded.config, events_now, ['snare', 'ride'],
                                             primer_steps=16, seed=seed, sampler=sampler)
    assert regenerated['grid'] == encoding.classes_to_hits(
        loaded.config.encoding.classes_from_events(tracks[0])).astype(int).tolist()
  # Every sampler call of every endpoint gets no controls at all, as before.
  calls = SamplerCalls(studio, monkeypatch)
  generate(client, 5, grid, style=None, density=None, fills=None)  # null: the same as left out
  post(client, '/api/regenerate', {'grid': grid, 'voices': ['snare'], 'seed': 5})
  post(client, '/api/continue', {'grid': grid, 'seed': 5, 'keep_voices': ['bass_drum'], 'keep_bars': [2]})
  assert len(calls.calls) == 4 and all(c is None for c in calls.calls)  # 1 + 1 + 2 (a locked bar splits)
  # A model with controls, asked for none: every control disabled (the library's default), whatever the form.
  small = controlled_app.extensions[studio_app.EXTENSION]
  calls = SamplerCalls(small, monkeypatch)
  plain = generate(controlled, 6, grid)
  assert generate(controlled, 6, grid, style=None, density=None, fills=None) == plain
  assert calls.calls == [None, None]
  primer = small.loaded.config.encoding.classes_to_events(encoding.hits_to_classes(np.array(grid, bool)))[:16]
  tracks, _ = generation.generate_tracks(small.loaded.model, small.loaded.config, primer, num_outputs=1,
                                         num_steps=64, seed=6)
  assert plain['grid'] == encoding.classes_to_hits(
      small.loaded.config.encoding.classes_from_events(tracks[0])).astype(int).tolist()


def test_control_fields_reach_the_sampler_for_the_whole_track(controlled_app, controlled, monkeypatch):
  studio = controlled_app.extensions[studio_app.EXTENSION]
  calls = SamplerCalls(studio, monkeypatch)
  funk, jazz = 2, 3
  result = generate(controlled, 1, rock_primer(64, 1), style='funk', density=[1, None, 3, 4],
                    fills=[False, True, False, True], variations=3)
  assert len(result['variations']) == 3
  assert _per_bar(calls.calls[-1]) == [[funk] * 4, [0, 1, 0, 1], [1, -1, 3, 4]]  # the primer's bar included
  assert calls.strengths[-1] == 5.0  # the default control strength
  for path, extra in (('/api/generate', {}), ('/api/regenerate', {'voices': ['snare']}), ('/api/continue', {})):
    post(controlled, path, dict({'grid': rock_primer(32, 1), 'seed': 1, 'seed_step': 5, 'style': 'funk',
                                 'control_strength': 2},
                                **extra))
    assert calls.strengths[-1] == 2.0, path
  post(controlled, '/api/regenerate', {'grid': result['grid'], 'voices': ['snare'], 'seed_step': 5, 'seed': 2,
                                       'style': 'jazz', 'density': 0})
  assert _per_bar(calls.calls[-1]) == [[jazz] * 4, [-1] * 4, [0] * 4]
  generate(controlled, 1, rock_primer(32, 1), fills=[False, False])  # the fill control on: no fill anywhere
  assert _per_bar(calls.calls[-1]) == [[-1, -1], [0, 0], [-1, -1]]
  # The controls change what is played (the same seed), and the same request gives the same answer.
  others = [generate(controlled, seed, rock_primer(64, 1), style='jazz', density=4, fills=[True] * 4)['grid']
            for seed in (1, 2, 3)]
  plain = [generate(controlled, seed, rock_primer(64, 1))['grid'] for seed in (1, 2, 3)]
  assert others != plain
  assert generate(controlled, 1, rock_primer(64, 1), style='jazz', density=4, fills=[True] * 4)['grid'] == others[0]


def test_continue_repeats_the_grids_controls_over_the_bars_it_adds(controlled_app, controlled, monkeypatch):
  studio = controlled_app.extensions[studio_app.EXTENSION]
  calls = SamplerCalls(studio, monkeypatch)
  source = rock_primer(64, 4)  # a 4-bar loop, its fill asked for in bar 4
  fills = [False, False, False, True]
  result = post(controlled, '/api/continue', {'grid': source, 'seed': 3, 'bars': 8, 'fills': fills,
                                               'style': 'latin', 'density': [0, 1, 2, 3]})
  assert len(result['grid']) == 128
  (values,) = calls.calls  # one call: the 4 bars played, then 8 new ones
  rows = _per_bar(values)
  assert len(rows[0]) == 12 and rows[0] == [1] * 12
  assert [b + 1 for b, f in enumerate(rows[1]) if f] == [4, 8, 12]  # bars 4, 8, 12 of the growing groove
  assert rows[2] == [0, 1, 2, 3] * 3
  # Locked bars and rows split the new bars into several calls: each sees the controls of its own bars.
  calls.calls.clear()
  post(controlled, '/api/continue', {'grid': source, 'seed': 3, 'fills': fills, 'keep_bars': [1],
                                     'keep_voices': ['bass_drum']})
  assert [len(_per_bar(v)[1]) for v in calls.calls] == [5, 8]  # new bar 1; then new bars 3-4 after it
  assert all(_per_bar(v)[1] == (fills * 2)[:len(_per_bar(v)[1])] for v in calls.calls)


CONTROL_BAD_REQUESTS = [
    ({'style': 'polka'}, 'unknown "style" \'polka\': choose one of rock, latin, funk, jazz, hiphop, afrobeat, '
                         'neworleans, afrocuban, other'),
    ({'style': 2}, '"style" must be a style name (one of rock,'),
    ({'style': ['rock', 'funk']}, '"style" must be a style name'),
    ({'density': 5}, '"density" bin 5 is out of range: the bins are 0..4 (hits a bar: 0: < 13, 1: 13-16,'),
    ({'density': -1}, '"density" bin -1 is out of range'),
    ({'density': 2.0}, '"density" must be a bin 0..4'),
    ({'density': True}, '"density" must be a bin 0..4'),
    ({'density': '2'}, '"density" must be a bin 0..4'),
    ({'density': [1, 2, 3]}, '"density" gives 3 bars but the pattern has 2: densities for bars past the pattern'),
    ({'density': [1]}, '"density" gives 1 bar but the pattern has 2: give one per bar'),
    ({'density': [1, 9]}, '"density" of bar 2 bin 9 is out of range'),
    ({'density': [1, 'x']}, '"density" of bar 2 must be a bin'),
    ({'fills': [False, True, True]}, '"fills" gives 3 bars but the pattern has 2: fills for bars past the pattern'),
    ({'fills': [True]}, '"fills" gives 1 bar but the pattern has 2'),
    ({'fills': [1, 0]}, '"fills" bar 1 must be true or false, got 1'),
    ({'fills': True}, '"fills" must be a list of one true/false per bar (2 here)'),
    ({'fills': 'bar 4'}, '"fills" must be a list'),
    ({'style': 'rock', 'control_strength': 11}, '"control_strength" must be in [0.0, 10.0], got 11'),
    ({'style': 'rock', 'control_strength': -0.5}, '"control_strength" must be in [0.0, 10.0]'),
    ({'style': 'rock', 'control_strength': 'firm'}, '"control_strength" must be a number'),
]


@pytest.mark.parametrize('path', ['/api/generate', '/api/regenerate', '/api/continue'])
@pytest.mark.parametrize('fields, message', CONTROL_BAD_REQUESTS,
                         ids=[f'{i}-{m[:24]}' for i, (_, m) in enumerate(CONTROL_BAD_REQUESTS)])
def test_bad_control_fields_are_400_naming_the_field(controlled, path, fields, message):
  body = dict(GOOD, voices=['snare'], **fields)
  response = controlled.post(path, json=body)
  assert response.status_code == 400, response.get_json()
  error = response.get_json()['error']
  assert message in error and '--' not in error, error
  assert controlled.post(path, json=dict(GOOD, voices=['snare'])).status_code == 200  # and it keeps serving


@pytest.mark.parametrize('path', ['/api/generate', '/api/regenerate', '/api/continue'])
def test_a_model_without_controls_refuses_control_fields_naming_them(client, plain_client, path):
  for fields, named in (({'style': 'rock'}, '"style"'), ({'density': 2, 'fills': [True, False]},
                                                         '"density", "fills"'),
                        ({'control_strength': 2.0}, '"control_strength"')):
    response = client.post(path, json=dict(GOOD, voices=['snare'], **fields))
    assert response.status_code == 400, response.get_json()
    error = response.get_json()['error']
    assert error.startswith('this model takes no controls') and error.endswith(f'leave out {named}'), error
    assert '--' not in error
  # Checked before anything runs: even an app that never warmed its sampler answers at once.
  response = plain_client.post(path, json=dict(GOOD, voices=['snare'], style='funk'))
  assert response.status_code == 400 and 'no controls' in response.get_json()['error']


def test_requests_with_controls_never_retrace_the_sampler(controlled_app, controlled):
  studio = controlled_app.extensions[studio_app.EXTENSION]
  assert studio.sampler._run.experimental_get_tracing_count() == 1  # traced once, at start-up
  assert studio.sampler._run_guided.experimental_get_tracing_count() == 1  # and with controls
  styles = controlled.get('/api/model').get_json()['controls']['styles']
  for bars in range(1, 9):
    steps = 16 * bars
    grid = rock_primer(steps, 1)
    seed_step = 1 + (5 * bars) % (steps - 1)
    fields = [{}, {'style': styles[bars]}, {'density': [bars % 5] * bars, 'fills': [b % 2 == 1 for b in range(bars)]},
              {'style': styles[0], 'density': 4, 'fills': [True] * bars}][bars % 4]
    result = generate(controlled, bars, grid, seed_step=seed_step, temperature=0.25 * bars, variations=1 + bars % 3,
                      **fields)
    post(controlled, '/api/regenerate', dict({'grid': result['grid'], 'voices': VOICES[:bars],
                                              'seed_step': seed_step, 'seed': bars}, **fields))
    post(controlled, '/api/continue', dict({'grid': result['grid'], 'seed': bars, 'bars': 9 - bars,
                                            'keep_bars': [0] if bars < 8 else []}, **fields))
  assert studio.sampler._run.experimental_get_tracing_count() == 1
  assert studio.sampler._run_guided.experimental_get_tracing_count() == 1
