r"""drums_rnn_export_magentajs: write a model as a checkpoint folder for magenta.js's MusicRNN.

The folder (config.json, weights_manifest.json, weight shards) is what
`new mm.MusicRNN(url)` of @magenta/music loads when `url` serves it over
HTTP; the model then continues a primer there exactly as it does here.
Models without attention (drum_kit or one_drum, any layer sizes) are
exported; attention (the shipped model has it), residual connections, the
humanizer and other configs are refused with the reason and the remedy,
and nothing is written.

Examples:
  drums_rnn_export_magentajs --run_dir=/tmp/drums_rnn/logdir/run1 --output_dir=/tmp/my_drums_rnn
  drums_rnn_export_magentajs --bundle_file=/tmp/drum_kit_noattn.mag --output_dir=site/checkpoint \
      --overwrite
"""

from absl import flags

from drums_rnn.cli import common
from drums_rnn.cli import flags as shared_flags
from drums_rnn.errors import DrumsRnnError

FLAGS = flags.FLAGS

shared_flags.define_log_flag()
shared_flags.define_model_flags('drum_kit or one_drum model (without attention)')
flags.DEFINE_string('output_dir', None, 'The folder to write (it must not exist, be empty, or, with '
                    '--overwrite, hold an earlier export). Serve it over HTTP and give its URL to '
                    'new mm.MusicRNN(url).')
flags.DEFINE_boolean('overwrite', False, 'Replace an earlier magenta.js export in --output_dir (never '
                     'any other folder).')


def main(argv):
  del argv
  source = shared_flags.model_source()
  if not FLAGS.output_dir:
    raise DrumsRnnError('--output_dir is required: the folder to write the magenta.js checkpoint to')
  from drums_rnn.language_model import magentajs  # pylint: disable=import-outside-toplevel  (no TensorFlow yet)
  try:
    magentajs.check_output_dir(FLAGS.output_dir, FLAGS.overwrite)
    common.import_tensorflow()
    from drums_rnn import loading  # pylint: disable=import-outside-toplevel  (heavy: TensorFlow)
    # Any kind of model: the export refuses what magenta.js cannot run, saying why.
    loaded = loading.load_model(source, kind=None)
    result = magentajs.export_model(loaded, FLAGS.output_dir, overwrite=FLAGS.overwrite)
  except magentajs.OutputDirTaken as e:
    hint = ': add --overwrite to replace it' if e.replaceable else ''
    raise DrumsRnnError(f'--output_dir {e.output_dir!r} {e.reason}{hint}') from None
  print(f'wrote the magenta.js checkpoint {result.output_dir} ({result.config_name}, layers '
        f'{result.rnn_layer_sizes}, {result.num_parameters:,} parameters, {len(result.files)} files, '
        f'{result.num_bytes:,} bytes): serve the folder over HTTP and load it with new mm.MusicRNN(<its URL>)')
  return 0


def console_main():
  common.run(main, __name__)


if __name__ == '__main__':
  console_main()
