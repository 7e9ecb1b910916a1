"""The studio's web server: a socket bound before the model loads, a bounded threaded server, Ctrl-C to stop.

`drums_rnn_studio` (drums_rnn/cli/drums_rnn_studio.py) only reads its flags
and calls :func:`run`; the tests and the benchmark start the same server
with :func:`start_in_thread`.

* **The socket first.** :func:`listen` binds host:port before the model is
  loaded (seconds), so a port already taken fails at once with one clear
  message; werkzeug would print its own and exit 1 instead of raising.
* **Threads.** One thread per connection (a slow MIDI download must not hold
  up a generate; werkzeug closes each connection after its answer).
"""

import os
import socket
import threading

from werkzeug import serving

from drums_rnn.errors import DrumsRnnError


class _QuietHandler(serving.WSGIRequestHandler):
  def log_request(self, *args, **kwargs):
    pass


def listen(host, port):
  """A listening socket on host:port, or one DrumsRnnError (port taken, unknown host)."""
  try:
    family = serving.select_address_family(host, port)
    return socket.create_server(serving.get_sockaddr(host, port, family), family=family)
  except OSError as e:
    hint = ' (another program is using it: stop it or choose another port)' if port else ''
    reason = os.strerror(e.errno) if e.errno else str(e)
    raise DrumsRnnError(f'cannot serve on {host}:{port}: {reason}{hint}') from None


def make_server(app, host, port, sock=None, quiet=False):
  """The threaded server of `app` on `sock` (from `listen`, then closed) or on a new socket."""
  if sock is None:
    sock = listen(host, port)
  try:
    return serving.make_server(host, port, app, threaded=True, fd=sock.fileno(),
                               request_handler=_QuietHandler if quiet else None)
  except OSError as e:
    raise DrumsRnnError(f'cannot serve on {host}:{port}: {e.strerror or e}') from None
  finally:
    sock.close()  # the server holds its own duplicate of the descriptor


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
    from drums_rnn import humanize as humanize_lib  # pylint: disable=import-outside-toplevel
    humanizer = humanize_lib.load_humanizer(humanizer_file)
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


def start_in_thread(app, host='127.0.0.1', port=0, quiet=True):
  """(server, url): `app` served from a daemon thread (tests, benchmarks); `server.shutdown()` stops it."""
  server = make_server(app, host, port, quiet=quiet)
  threading.Thread(target=server.serve_forever, daemon=True, name='studio-server').start()
  return server, url_of(server)
