"""drums_rnn_studio's server as a client on the network sees it: what it turns away, and a load test.

The real command runs in a subprocess (the shipped model and humanizer, a
free port on 127.0.0.1) for the module. Every refusal is checked through
raw HTTP (Host, Origin, Content-Type and sizes set by hand, as a hostile
page or a rebinding DNS would): the status, a JSON message, and the server
still answering a good request after it. The load test runs 16 clients at
once for a bounded time over every endpoint (bad requests among them),
prints the latency figures, and checks 0 errors and the server's memory.
The bounded threaded server itself is checked in-process with a tiny app.
"""

import concurrent.futures
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from drums_rnn.studio import guard
from tests import helpers

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOAD_CLIENTS = 16
LOAD_SECONDS = 8.0


def rock(steps=32):
  return [[int(t % 8 == 0), int(t % 8 == 4), int(t % 2 == 0)] + [0] * 6 if t < 16 else [0] * 9
          for t in range(steps)]


@pytest.fixture(scope='module')
def studio():
  """(port, pid) of `drums_rnn_studio --port=0` serving; stopped with Ctrl-C at the end."""
  proc = subprocess.Popen([sys.executable, '-m', 'drums_rnn.cli.drums_rnn_studio', '--port=0', '--log=WARN'],
                          cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=helpers.default_sigint)
  try:
    line = proc.stdout.readline()
    assert 'serving' in line, line
    port = int(line.split(' at ')[1].split()[0].rstrip('/').rsplit(':', 1)[1])
    yield port, proc.pid
  finally:
    proc.send_signal(signal.SIGINT)
    try:
      proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
      proc.kill()
      proc.communicate()
  assert proc.returncode == 0


def request(port, method, path, body=None, headers=None, host=None, timeout=60):
  """(status, headers, body bytes) of one request on a fresh connection; headers as given, nothing added."""
  connection = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
  try:
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    sent = {'Host': host if host is not None else f'127.0.0.1:{port}'}
    if body is not None:
      sent['Content-Type'] = 'application/json'
      sent['Content-Length'] = str(len(body))
    sent.update(headers or {})
    for name, value in sent.items():
      if value is not None:
        connection.putheader(name, value)
    connection.endheaders()
    if body is not None:
      try:
        connection.send(body)
      except (BrokenPipeError, ConnectionResetError):
        pass  # refused before it was all sent: the answer is still there to read
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()
  finally:
    connection.close()


def good(port):
  body = json.dumps({'grid': rock(), 'seed_step': 16, 'seed': 1}).encode()
  status, _, data = request(port, 'POST', '/api/generate', body)
  assert status == 200 and len(json.loads(data)['grid']) == 32


def refused(port, expected_status, message, method, path, body=None, **options):
  status, headers, data = request(port, method, path, body, **options)
  assert status == expected_status, (status, data[:300])
  assert headers.get('Content-Type') == 'application/json', headers
  error = json.loads(data)['error']
  assert message in error, error
  good(port)  # and it keeps serving
  return error


def test_a_body_over_the_limit_is_413(studio):
  port, _ = studio
  big = b'{"grid": [' + b'[0,0,0,0,0,0,0,0,0],' * 2_000_000 + b'[0,0,0,0,0,0,0,0,0]]}'  # 40 MB
  refused(port, 413, 'the studio takes at most 1048576', 'POST', '/api/generate', big)
  just_over = b'{"midi": "' + b'A' * guard.MAX_BODY_BYTES + b'"}'
  refused(port, 413, 'the request body is', 'POST', '/api/clip', just_over)


def test_a_chunked_body_over_the_limit_is_413(studio):
  port, _ = studio
  connection = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
  chunks = (b'[' + b'0,' * 100_000 + b'0]' for _ in range(20))  # 4 MB, no Content-Length
  connection.request('POST', '/api/generate', body=chunks, encode_chunked=True,
                     headers={'Host': f'127.0.0.1:{port}', 'Content-Type': 'application/json'})
  response = connection.getresponse()
  answer = response.read()
  assert response.status == 413 and 'the studio takes at most' in json.loads(answer)['error'], answer
  connection.close()
  good(port)


@pytest.mark.parametrize('body, message', [
    (b'[' * 100_000 + b']' * 100_000, 'nested deeper than 8 levels'),
    (b'{"a": ' * 9 + b'1' + b'}' * 9, 'nested deeper than 8 levels'),
    (b'{"grid": [[0, 0,', 'must be JSON'),
    (b'{"seed": ' + b'9' * 5000 + b'}', 'must be JSON'),
    (b'{"seed": "\xff"}', 'must be JSON'),
    (b'', 'must be JSON'),
], ids=['100000-deep', '9-deep', 'cut', 'huge-number', 'not-utf8', 'empty'])
def test_malformed_or_too_deep_json_is_400(studio, body, message):
  port, _ = studio
  refused(port, 400, message, 'POST', '/api/generate', body)


def test_post_only_as_application_json(studio):
  port, _ = studio
  body = json.dumps({'grid': rock(), 'seed_step': 16}).encode()
  for content_type in ('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', None):
    refused(port, 415, 'POST requests must be JSON', 'POST', '/api/generate', body,
            headers={'Content-Type': content_type})
  assert request(port, 'POST', '/api/generate', body,
                 headers={'Content-Type': 'application/json; charset=utf-8'})[0] == 200


def test_origin_absent_or_the_pages_own(studio):
  port, _ = studio
  body = json.dumps({'grid': rock(), 'seed_step': 16, 'seed': 2}).encode()
  # The probe of issue 19: a cross-site text/plain POST from a page of another site.
  refused(port, 403, "requests from the page 'http://evil.example' are not accepted", 'POST', '/api/generate',
          body, headers={'Origin': 'http://evil.example', 'Content-Type': 'text/plain'})
  for origin in ('http://evil.example', 'null', f'http://127.0.0.1:{port + 1}', f'https://127.0.0.1:{port}'):
    refused(port, 403, 'are not accepted', 'POST', '/api/generate', body, headers={'Origin': origin})
  assert request(port, 'POST', '/api/generate', body, headers={'Origin': f'http://127.0.0.1:{port}'})[0] == 200
  assert request(port, 'POST', '/api/generate', body, host=f'localhost:{port}',
                 headers={'Origin': f'http://localhost:{port}'})[0] == 200


def test_host_must_be_the_studios_address(studio):
  port, _ = studio
  # DNS rebinding: evil.example made to point at 127.0.0.1; the browser still sends Host: evil.example.
  refused(port, 403, "the Host header 'evil.example' is not an address of this studio", 'GET', '/api/model',
          host='evil.example')
  for host in ('evil.example', f'evil.example:{port}', f'127.0.0.2:{port}', '127.0.0.1.evil.example'):
    refused(port, 403, 'is not an address of this studio', 'GET', '/api/model', host=host)
  refused(port, 403, 'names another port', 'GET', '/', host=f'127.0.0.1:{port + 1}')
  refused(port, 403, 'is not an address of this studio', 'GET', '/api/model', host='')
  for host in (f'127.0.0.1:{port}', f'localhost:{port}', f'LOCALHOST:{port}', f'[::1]:{port}'):
    assert request(port, 'GET', '/api/model', host=host)[0] == 200, host


def test_the_page_is_served_with_a_content_security_policy(studio):
  port, _ = studio
  for path in ('/', '/static/app.js', '/api/model', '/api/nothing'):
    _, headers, _ = request(port, 'GET', path)
    policy = dict(d.strip().split(' ', 1) for d in headers['Content-Security-Policy'].split(';'))
    assert policy['default-src'] == "'none'" and policy['script-src'] == "'self'"
    assert policy['style-src'] == "'self'" and policy['connect-src'] == "'self'"
    assert policy['frame-ancestors'] == "'none'" and policy['form-action'] == "'none'"
    assert 'unsafe' not in headers['Content-Security-Policy']
    assert headers['X-Content-Type-Options'] == 'nosniff' and headers['X-Frame-Options'] == 'DENY'


def test_allowed_hosts_of_each_kind_of_address():
  local = guard.allowed_hosts('127.0.0.1', 8080)
  guard.check_host('localhost:8080', local)
  guard.check_host('[::1]:8080', local)
  with pytest.raises(guard.Refused):
    guard.check_host('192.168.1.5:8080', local)
  anywhere = guard.allowed_hosts('0.0.0.0', 8080)
  for host in ('192.168.1.5:8080', '[fe80::1]:8080', 'localhost:8080', f'{socket.gethostname()}:8080'):
    guard.check_host(host, anywhere)
  with pytest.raises(guard.Refused):
    guard.check_host('evil.example:8080', anywhere)
  named = guard.allowed_hosts('studio.lan', 80)
  guard.check_host('studio.lan', named)
  guard.check_host('studio.lan:80', named)
  for host in ('localhost', 'studio.lan:8080', 'x.studio.lan', 'studio.lan:80:80', 'studio.lan:abc'):
    with pytest.raises(guard.Refused):
      guard.check_host(host, named)


def _memory_mb(pid):
  values = {}
  with open(f'/proc/{pid}/status') as f:
    for line in f:
      key, _, value = line.partition(':')
      if key in ('VmRSS', 'VmHWM', 'Threads'):
        values[key] = int(value.split()[0])
  return values['VmRSS'] / 1024, values['Threads']


def _load_requests(port, rng):
  """One request of the load mix: (kind, method, path, body, expected status)."""
  bars = rng.choice((1, 2, 4))
  grid = rock(16 * bars)
  kind = rng.choices(['generate', 'generate+humanize', 'variations', 'regenerate', 'continue', 'humanize',
                      'midi', 'page', 'model', 'bad'], weights=[4, 2, 1, 2, 1, 2, 2, 1, 1, 1])[0]
  seed = rng.randrange(1 << 30)
  if kind == 'generate':
    return kind, 'POST', '/api/generate', {'grid': grid, 'seed_step': 8, 'seed': seed}, 200
  if kind == 'generate+humanize':
    return kind, 'POST', '/api/generate', {'grid': grid, 'seed_step': 8, 'seed': seed, 'humanize': True}, 200
  if kind == 'variations':
    return kind, 'POST', '/api/generate', {'grid': grid, 'seed_step': 8, 'seed': seed, 'variations': 4}, 200
  if kind == 'regenerate':
    return kind, 'POST', '/api/regenerate', {'grid': grid, 'voices': ['snare'], 'seed_step': 4, 'seed': seed}, 200
  if kind == 'continue':
    return kind, 'POST', '/api/continue', {'grid': grid, 'seed': seed, 'keep_voices': ['bass_drum']}, 200
  if kind == 'humanize':
    return kind, 'POST', '/api/humanize', {'grid': grid, 'seed': seed, 'qpm': 100}, 200
  if kind == 'midi':
    return kind, 'POST', '/api/midi', {'grid': grid, 'qpm': 120, 'swing': 0.2}, 200
  if kind == 'page':
    return kind, 'GET', '/', None, 200
  if kind == 'model':
    return kind, 'GET', '/api/model', None, 200
  return kind, 'POST', '/api/generate', {'grid': grid[:5], 'seed_step': 3}, 400


def test_load_16_clients_for_a_bounded_time_no_errors_and_bounded_memory(studio, capsys):
  port, pid = studio
  for _ in range(3):
    good(port)
  rss_start, threads_start = _memory_mb(pid)
  deadline = time.monotonic() + LOAD_SECONDS
  samples, stop = [], threading.Event()

  def sample():
    while not stop.is_set():
      samples.append(_memory_mb(pid))
      time.sleep(0.25)

  def client(index):
    rng = random.Random(index)
    out = []
    while time.monotonic() < deadline:
      kind, method, path, body, expected = _load_requests(port, rng)
      data = None if body is None else json.dumps(body).encode()
      start = time.perf_counter()
      try:
        status, _, answer = request(port, method, path, data, timeout=60)
        error = None if status == expected else f'{kind}: {status} {answer[:120]!r}'
      except Exception as e:  # pylint: disable=broad-except
        error = f'{kind}: {type(e).__name__}: {e}'
      out.append((kind, (time.perf_counter() - start) * 1000, error))
    return out

  sampler = threading.Thread(target=sample, daemon=True)
  sampler.start()
  started = time.monotonic()
  with concurrent.futures.ThreadPoolExecutor(LOAD_CLIENTS) as pool:
    per_client = list(pool.map(client, range(LOAD_CLIENTS)))
  results = [r for rs in per_client for r in rs]
  elapsed = time.monotonic() - started
  stop.set()
  sampler.join()
  rss_end, _ = _memory_mb(pid)
  errors = [e for _, _, e in results if e]
  by_kind = {}
  for kind, ms, _ in results:
    by_kind.setdefault(kind, []).append(ms)
  lines = [f'studio load test: {LOAD_CLIENTS} clients for {elapsed:.1f} s, {len(results)} requests '
           f'({len(results) / elapsed:.1f}/s), {len(errors)} errors']
  every = np.array([ms for _, ms, _ in results])
  for kind, times in sorted(by_kind.items()) + [('all', every.tolist())]:
    t = np.array(times)
    lines.append(f'  {kind:<18} n={len(t):<4d} p50 {np.percentile(t, 50):7.0f} ms  p90 {np.percentile(t, 90):7.0f} ms'
                 f'  p99 {np.percentile(t, 99):7.0f} ms  max {t.max():7.0f} ms')
  peak_rss = max(m for m, _ in samples)
  peak_threads = max(n for _, n in samples)
  lines.append(f'  server memory: RSS {rss_start:.0f} MB before, peak {peak_rss:.0f} MB, {rss_end:.0f} MB after; '
               f'threads {threads_start} before, peak {peak_threads}')
  with capsys.disabled():
    print('\n' + '\n'.join(lines))
  assert not errors, errors[:10]
  assert all(per_client), 'a client got no answer at all'
  # Every client was served (throughput itself depends on the machine: ~300 requests on an idle
  # 2-core machine, ~80 beside a training run), and the run ended within its bound.
  assert len(results) >= 2 * LOAD_CLIENTS and elapsed < LOAD_SECONDS + 60
  assert peak_rss - rss_start < 300, 'the server grew by more than 300 MB under load'
  assert peak_threads - threads_start <= 16 + 4
  good(port)


def test_the_threaded_server_is_bounded_and_drops_silent_clients():
  from drums_rnn.studio import server  # pylint: disable=import-outside-toplevel
  active, most = [0], [0]
  lock = threading.Lock()

  def app(environ, start_response):
    with lock:
      active[0] += 1
      most[0] = max(most[0], active[0])
    time.sleep(0.05)
    with lock:
      active[0] -= 1
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']

  httpd, _ = server.start_in_thread(app, max_connections=2, socket_timeout=1)
  port = httpd.server_address[1]
  try:
    silent = [socket.create_connection(('127.0.0.1', port)) for _ in range(2)]  # connect, send nothing
    time.sleep(0.2)
    start = time.monotonic()
    status, _, body = request(port, 'GET', '/', timeout=10)
    waited = time.monotonic() - start
    assert status == 200 and body == b'ok'
    assert 0.6 < waited < 5, waited  # it waited for a slot: the silent clients were dropped after 1 s
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
      assert all(r[0] == 200 for r in pool.map(lambda _: request(port, 'GET', '/', timeout=10), range(16)))
    assert most[0] <= 2
    for s in silent:
      s.close()
  finally:
    httpd.shutdown()
