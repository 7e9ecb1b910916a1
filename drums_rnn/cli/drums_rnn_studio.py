"""drums_rnn_studio: a drum machine in the browser, over a Drums RNN model.

Serves one page with a step grid (9 drum voices, 1 to 8 bars of 16ths):
draw a primer, let the model continue it from the seed marker, regenerate
chosen rows over the others, humanize velocities and timing, play it with
synthesised drums and download it as MIDI. The model comes from
--bundle_file, --run_dir or --checkpoint_file (else the shipped one) and is
loaded, compiled and warmed once before the server starts, so every
request is fast. Everything the page needs is served locally.

Ctrl-C stops the server (exit 0). A port already in use is an error.

Examples:
  drums_rnn_studio                                 # the shipped model, http://127.0.0.1:8080/
  drums_rnn_studio --bundle_file=/tmp/drum_kit_rnn.mag --port=9000
  drums_rnn_studio --run_dir=/tmp/drums_rnn/logdir/run1 --nohumanize
"""

import os

from absl import flags

from drums_rnn.cli import common
from drums_rnn.cli import flags as shared_flags
from drums_rnn.errors import DrumsRnnError

FLAGS = flags.FLAGS

shared_flags.define_log_flag()
shared_flags.define_model_flags('drum_kit model (ours or Magenta\'s)')
flags.DEFINE_boolean('humanize', True, 'Load the humanizer, so the page can add velocities and '
                     'timing (--nohumanize: no Humanize switch).')
flags.DEFINE_string('humanizer_file', None, 'The humanizer (run dir, checkpoint or .mag; default: '
                    'the shipped one).')
flags.DEFINE_string('host', '127.0.0.1', 'Address to listen on (0.0.0.0: every interface).')
flags.DEFINE_integer('port', 8080, 'Port to listen on (0: any free port).')


def listen(host, port):
  """A listening socket on host:port, or one clear error (port taken, unknown host).

  Bound before the model is loaded, so a taken port fails at once; werkzeug
  would print its own message and exit 1 instead of raising.
  """
  import socket  # pylint: disable=import-outside-toplevel
  from werkzeug import serving  # pylint: disable=import-outside-toplevel
  try:
    family = serving.select_address_family(host, port)
    return socket.create_server(serving.get_sockaddr(host, port, family), family=family)
  except OSError as e:
    hint = ' (another program is using it: stop it or pick another --port)' if port else ''
    reason = os.strerror(e.errno) if e.errno else str(e)
    raise DrumsRnnError(f'cannot serve on {host}:{port}: {reason}{hint}') from None


def make_server(app, host, port, sock):
  """The threaded werkzeug server of `app` on the socket from `listen` (which is then closed)."""
  from werkzeug import serving  # pylint: disable=import-outside-toplevel
  try:
    return serving.make_server(host, port, app, threaded=True, fd=sock.fileno())
  except OSError as e:
    raise DrumsRnnError(f'cannot serve on {host}:{port}: {e.strerror or e}') from None
  finally:
    sock.close()  # the server holds its own duplicate of the descriptor


def build_app(source):
  """(a description of the model, the studio app): model and humanizer loaded, sampler warmed."""
  common.import_tensorflow()
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel  (heavy: TF)
  from drums_rnn.studio import app as studio_app  # pylint: disable=import-outside-toplevel
  loaded = loading.load_model(source)
  humanizer = None
  if FLAGS.humanize:
    humanizer = loading.load_humanizer(FLAGS.humanizer_file)
  return studio_app.describe(loaded), studio_app.create_app(loaded, humanizer)


def main(argv):
  del argv
  source = shared_flags.model_source()
  if not 0 <= FLAGS.port <= 65535:
    raise DrumsRnnError(f'--port must be in 0..65535, got {FLAGS.port}')
  if FLAGS.humanizer_file and not FLAGS.humanize:
    raise DrumsRnnError('--humanizer_file cannot be combined with --nohumanize')
  sock = listen(FLAGS.host, FLAGS.port)
  try:
    description, app = build_app(source)
  except BaseException:
    sock.close()
    raise
  server = make_server(app, FLAGS.host, FLAGS.port, sock)
  host, port = server.server_address[:2]
  shown = f'[{host}]' if ':' in host else host
  print(f'drums_rnn_studio: serving {description} at http://{shown}:{port}/ '
        '(Ctrl-C to stop)', flush=True)
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    pass  # Ctrl-C is how the studio is meant to stop: exit 0, not common.run's 130
  finally:
    server.server_close()
  print('drums_rnn_studio: stopped', flush=True)
  return 0


def console_main():
  common.run(main, __name__)


if __name__ == '__main__':
  console_main()
