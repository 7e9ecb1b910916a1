"""What the studio's server lets in, and the headers every answer carries.

The studio listens on the user's machine (127.0.0.1 by default), and any web
page the user visits can send requests there. So, before any route runs:

* **Host** must name the address the studio was started on (`allow_hosts`,
  set by `server.make_server` once the port is known): for a loopback
  address also `localhost`, `127.0.0.1` and `[::1]`; for a wildcard address
  (0.0.0.0, ::) any IP literal, the localhost names and this machine's own
  names. Anything else, such as a name a rebinding DNS points at 127.0.0.1,
  is a 403: a page of another site can then neither drive the studio nor
  read its answers.
* **Origin**, when the browser sends one, must be the studio's own
  (http://<Host>); a page of another site (or a sandboxed one, "null") is
  a 403.
* **POST bodies** are `application/json` only (415 otherwise), so a
  cross-site form or a "simple" `text/plain` fetch cannot reach the API
  without a CORS preflight the studio never grants; at most
  `checks.MAX_BODY_BYTES` (413 above: by the Content-Length here, by what
  `checks.body_of` reads for a chunked body), and `checks.body_of` refuses
  JSON that is malformed or nested deeper than `checks.MAX_JSON_DEPTH` (400).

Every refusal is JSON, {"error": message}, and the server keeps serving.
Every answer carries a Content-Security-Policy that allows only what the
page uses (its own scripts, styles, worker and API; data: for the empty
favicon), and headers that keep it out of frames and other sites' reach.
"""

import ipaddress
import socket

import flask

from drums_rnn.studio.checks import MAX_BODY_BYTES
HOSTS_KEY = 'DRUMS_RNN_STUDIO_HOSTS'  # app.config: (names, port or None, any IP literal)
LOCAL_NAMES = ('localhost', '127.0.0.1', '[::1]')

CONTENT_SECURITY_POLICY = '; '.join([
    "default-src 'none'",
    "script-src 'self'",
    "worker-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
HEADERS = {
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Permissions-Policy': 'midi=(self), camera=(), microphone=(), geolocation=()',
}


class Refused(Exception):
  """A request the server turns away: HTTP `status` with `message`."""

  def __init__(self, status, message):
    super().__init__(message)
    self.status = status


def _bracketed(host):
  return f'[{host}]' if ':' in host and not host.startswith('[') else host


def _is_ip(name):
  try:
    ipaddress.ip_address(name.strip('[]'))
    return True
  except ValueError:
    return False


def allowed_hosts(host, port):
  """(names, port, any IP literal): the Host header values a studio bound to host:port answers."""
  host = (host or '').strip().lower()
  names = {_bracketed(host)} if host else set()
  any_ip = False
  try:
    address = ipaddress.ip_address(host.strip('[]'))
  except ValueError:
    address = None
  if host in ('', 'localhost') or (address is not None and address.is_loopback):
    names.update(LOCAL_NAMES)
  elif address is not None and address.is_unspecified:  # 0.0.0.0 or ::: every interface
    any_ip = True
    names.update(LOCAL_NAMES)
    for name in (socket.gethostname(), socket.getfqdn()):
      if name:
        names.add(name.lower())
  return frozenset(names), port, any_ip


def allow_hosts(app, host, port):
  """Tells `app` (a Flask app; any other WSGI app is left alone) the address it is served on."""
  if hasattr(app, 'config'):
    app.config[HOSTS_KEY] = allowed_hosts(host, port)


def _split_host(value):
  """(name, port or None) of a Host header value; None for one that is not host[:port]."""
  value = value.strip().lower()
  if value.startswith('['):
    end = value.find(']')
    if end < 0:
      return None
    name, rest = value[:end + 1], value[end + 1:]
  else:
    name, _, rest = value.partition(':')
    rest = ':' + rest if rest else ''
  if rest and not (rest.startswith(':') and rest[1:].isdigit()):
    return None
  return name, (int(rest[1:]) if rest else None)


def check_host(value, allowed):
  names, port, any_ip = allowed
  parts = _split_host(value or '')
  if parts is None or not parts[0]:
    raise Refused(403, f'the Host header {value!r} is not an address of this studio')
  name, given_port = parts
  if not (name in names or (any_ip and _is_ip(name))):
    shown = ', '.join(sorted(names)) + (' or any IP address' if any_ip else '')
    raise Refused(403, f'the Host header {value!r} is not an address of this studio ({shown}): it answers '
                       'only requests addressed to it, not to other names that point at it')
  if port is not None and (given_port if given_port is not None else 80) != port:
    raise Refused(403, f'the Host header {value!r} names another port: this studio answers on port {port}')


def check_origin(origin, host):
  if origin is None:
    return
  if origin.lower() != f'http://{host.strip().lower()}':
    raise Refused(403, f'requests from the page {origin!r} are not accepted: only the studio\'s own page '
                       f'(http://{host}) may use it')


def check_body(request):
  if request.method != 'POST':
    return
  mimetype = request.mimetype
  if mimetype != 'application/json':
    raise Refused(415, f'POST requests must be JSON with "Content-Type: application/json", '
                       f'got {mimetype or "no Content-Type"!r}')
  length = request.content_length
  if length is not None and length > MAX_BODY_BYTES:
    raise Refused(413, f'the request body is {length} bytes: the studio takes at most {MAX_BODY_BYTES} '
                       f'({MAX_BODY_BYTES / 2 ** 20:g} MiB)')


def install(app):
  """Adds the checks above before every request of `app`, and the headers after every answer."""
  app.config.setdefault(HOSTS_KEY, allowed_hosts('127.0.0.1', None))  # until a server says where

  @app.before_request
  def guard():
    request = flask.request
    host = request.headers.get('Host', '')
    check_host(host, app.config[HOSTS_KEY])
    check_origin(request.headers.get('Origin'), host)
    check_body(request)

  @app.errorhandler(Refused)
  def refused(error):
    return flask.jsonify(error=str(error)), error.status

  @app.after_request
  def headers(response):
    for name, value in HEADERS.items():
      response.headers.setdefault(name, value)
    if flask.request.path.startswith('/api/'):
      response.headers['Cache-Control'] = 'no-store'
    return response
