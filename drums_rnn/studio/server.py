"""The studio's web server: a socket bound before the model loads, a bounded threaded server, Ctrl-C to stop.

`drums_rnn_studio` (drums_rnn/cli/drums_rnn_studio.py) only reads its flags
and calls :func:`run`; the tests and the benchmark start the same server
with :func:`start_in_thread`.

* **The socket first.** :func:`listen` binds host:port before the model is
  loaded (seconds), so a port already taken fails at once with one clear
  message; werkzeug would print its own and exit 1 instead of raising.
* **Threads, bounded.** One thread per connection (a slow MIDI download must
  not hold up a generate; werkzeug closes each connection after its answer),
  at most :data:`MAX_CONNECTIONS` at a time: past that the accept loop waits
  and new connections queue in the listen backlog, so a flood of clients
  cannot grow the process without bound. A client that stops sending is
  dropped after :data:`SOCKET_TIMEOUT_S`.
* **The address it was started on** is what the app accepts in the Host
  header (`guard.allowed_hosts`), set here once the port is known.
"""

import os
import socket
import threading

from werkzeug import serving

from drums_rnn.errors import DrumsRnnError
from drums_rnn.studio import guard

MAX_CONNECTIONS = 64
SOCKET_TIMEOUT_S = 30


def _handler(quiet, socket_timeout):
  """werkzeug's handler with a socket timeout (a silent client cannot hold a thread forever)."""

  class Handler(serving.WSGIRequestHandler):
    timeout = socket_timeout

    def log_request(self, *args, **kwargs):
      if not quiet:
        super().log_request(*args, **kwargs)

  return Handler


class BoundedThreadedServer(serving.ThreadedWSGIServer):
  """werkzeug's threaded server, at most `max_connections` requests handled at once."""

  def __init__(self, *args, max_connections=MAX_CONNECTIONS, **kwargs):
    super().__init__(*args, **kwargs)
    self._slots = threading.BoundedSemaphore(max_connections)

  def process_request(self, request, client_address):
    self._slots.acquire()
    try:
      super().process_request(request, client_address)
    except BaseException:
      self._slots.release()
      raise

  def process_request_thread(self, request, client_address):
    try:
      super().process_request_thread(request, client_address)
    finally:
      self._slots.release()


def listen(host, port):
  """A listening socket on host:port, or one DrumsRnnError (port taken, unknown host)."""
  try:
    family = serving.select_address_family(host, port)
    return socket.create_server(serving.get_sockaddr(host, port, family), family=family)
  except OSError as e:
    hint = ' (another program is using it: stop it or choose another port)' if port else ''
    reason = os.strerror(e.errno) if e.errno else str(e)
    raise DrumsRnnError(f'cannot serve on {host}:{port}: {reason}{hint}') from None


def make_server(app, host, port, sock=None, quiet=False, max_connections=MAX_CONNECTIONS,
                socket_timeout=SOCKET_TIMEOUT_S):
  """The bounded threaded server of `app` on `sock` (from `listen`, then closed) or on a new socket.

  The app is told the address it serves (the Host names it accepts).
  """
  if sock is None:
    sock = listen(host, port)
  handler = _handler(quiet, socket_timeout)
  try:
    server = BoundedThreadedServer(host, port, app, handler, fd=sock.fileno(),
                                   max_connections=max_connections)
  except OSError as e:
    raise DrumsRnnError(f'cannot serve on {host}:{port}: {e.strerror or e}') from None
  finally:
    sock.close()  # the server holds its own duplicate of the descriptor
  guard.allow_hosts(app, host, server.server_address[1])
  return server


def url_of(server):
  host, port = server.server_address[:2]
  shown = f'[{host}]' if ':' in host else host
  return f'http://{shown}:{port}/'


def build_app(source, humanize=True, humanizer_file=None):
  """(a description of the model, the studio app): model and humanizer loaded, sampler warmed."""
  from drums_rnn import runtime  # pylint: disable=import-outside-toplevel
  runtime.import_tensorflow()
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel  (heavy: TF)
  from drums_rnn.studio import app as studio_app  # pylint: disable=import-outside-toplevel
  loaded = loading.load_model(source)
  humanizer = None
  if humanize:
    humanizer = loading.load_humanizer(humanizer_file)
  return studio_app.describe(loaded), studio_app.create_app(loaded, humanizer)


def run(host, port, source, humanize=True, humanizer_file=None, announce=print):
  """Binds host:port, loads the model, serves until Ctrl-C; returns when stopped.

  `announce(line)` is told the serving line and the stopped line.
  """
  sock = listen(host, port)
  try:
    description, app = build_app(source, humanize, humanizer_file)
  except BaseException:
    sock.close()
    raise
  server = make_server(app, host, port, sock)
  announce(f'drums_rnn_studio: serving {description} at {url_of(server)} (Ctrl-C to stop)')
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    pass  # Ctrl-C is how the studio is meant to stop
  finally:
    server.server_close()
  announce('drums_rnn_studio: stopped')


def start_in_thread(app, host='127.0.0.1', port=0, quiet=True, **options):
  """(server, url): `app` served from a daemon thread (tests, benchmarks); `server.shutdown()` stops it.

  `options`: make_server's max_connections and socket_timeout.
  """
  server = make_server(app, host, port, quiet=quiet, **options)
  threading.Thread(target=server.serve_forever, daemon=True, name='studio-server').start()
  return server, url_of(server)
