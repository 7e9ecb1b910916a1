"""drums_rnn_studio: a drum machine in the browser, over a Drums RNN model.

Serves one page with a step grid (9 drum voices, 1 to 8 bars of 16ths):
draw a primer, let the model continue it from the seed marker, regenerate
chosen rows over the others, humanize velocities and timing, play it with
synthesised drums and download it as MIDI. The model comes from
--bundle_file, --run_dir or --checkpoint_file (else the shipped one) and is
loaded, compiled and warmed once before the server starts, so every
request is fast. Everything the page needs is served locally.

Ctrl-C stops the server (exit 0). A port already in use is an error. The
server itself is drums_rnn/studio/server.py; this module reads the flags.

Examples:
  drums_rnn_studio                                 # the shipped model, http://127.0.0.1:8080/
  drums_rnn_studio --bundle_file=/tmp/drum_kit_rnn.mag --port=9000
  drums_rnn_studio --run_dir=/tmp/drums_rnn/logdir/run1 --nohumanize
"""

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


def main(argv):
  del argv
  source = shared_flags.model_source()
  if not 0 <= FLAGS.port <= 65535:
    raise DrumsRnnError(f'--port must be in 0..65535, got {FLAGS.port}')
  if FLAGS.humanizer_file and not FLAGS.humanize:
    raise DrumsRnnError('--humanizer_file cannot be combined with --nohumanize')
  from drums_rnn.studio import server  # pylint: disable=import-outside-toplevel
  server.run(FLAGS.host, FLAGS.port, source, FLAGS.humanize, FLAGS.humanizer_file,
             announce=lambda line: print(line, flush=True))
  return 0


def console_main():
  common.run(main, __name__)


if __name__ == '__main__':
  console_main()
