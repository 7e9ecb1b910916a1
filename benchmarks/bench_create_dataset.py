"""Dataset creation speed: ours vs the note-seq pipeline Magenta runs, in one run.

    python benchmarks/bench_create_dataset.py [--config=drum_kit] [--limit=N]
        [--input=notes.tfrecord] [--skip_magenta]

Input: the Groove MIDI Dataset (Gillick et al. 2019, Magenta, CC BY 4.0)
converted to a NoteSequence TFRecord (done here if --input is not given; the
folder comes from DRUMS_RNN_GROOVE_DIR, default ../shared/data/groove).

Timed, each from the same NoteSequence TFRecord to SequenceExample TFRecords:
1. ours: `dataset.create_dataset(num_workers=1)` (no TensorFlow inside;
   TF is loaded in this process for the reference, but never used by ours);
2. reference: what Magenta's pipeline does, built from note-seq --
   split_note_sequence_on_time_changes, quantize_note_sequence, the
   DrumTrack.from_quantized_sequence extraction loop, the per-step
   encoder_decoder.encode, a tf.train.SequenceExample per track,
   tf.io.TFRecordWriter -- all in this process;
3. ours with --num_workers 1 and 2, each in a fresh process as the command
   line runs it (scaling, pool start-up included);
4. if ~/.magenta-peer/venv exists, Magenta's own drums_rnn_create_dataset
   (--eval_ratio=0; a subprocess, so its import time is reported apart) and
   an example-by-example comparison of its output with ours (matched by
   content, since Magenta's order follows its own pipeline).
"""

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import warnings  # noqa: E402

warnings.filterwarnings('ignore')

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402
from absl import logging  # noqa: E402
from note_seq import sequences_lib  # noqa: E402
from note_seq.protobuf import music_pb2  # noqa: E402

from drums_rnn import configs  # noqa: E402
from drums_rnn.data import dataset  # noqa: E402
from drums_rnn.data import note_sequences  # noqa: E402
from drums_rnn.data import tfrecord  # noqa: E402
from tests import test_dataset  # noqa: E402
from tests import test_encoding  # noqa: E402
from tests import test_extraction  # noqa: E402

PEER = os.path.expanduser('~/.magenta-peer/venv')


# The note-seq reference pieces are the ones the compatibility tests check us against.
def note_seq_encoder(config):
  """The encoder-decoder of Magenta's config, from note-seq."""
  if config.name == 'one_drum':
    return test_encoding.note_seq_one_drum()
  return test_encoding.note_seq_drum_kit()


def reference_pipeline(input_path, output_path, config):
  """The note-seq pipeline; returns the number of tracks written."""
  encoder = note_seq_encoder(config)
  count = 0
  with tf.io.TFRecordWriter(output_path) as writer:
    for record in tf_records(input_path):  # TF's C++ record reader, as Magenta
      sequence = music_pb2.NoteSequence.FromString(record)
      for piece in sequences_lib.split_note_sequence_on_time_changes(sequence):
        try:
          quantized = sequences_lib.quantize_note_sequence(piece, config.steps_per_quarter)
        except (sequences_lib.MultipleTimeSignatureError, sequences_lib.MultipleTempoError,
                sequences_lib.BadTimeSignatureError):
          continue
        for track in test_extraction.reference_tracks(quantized) or []:
          inputs, labels = encoder.encode(track)
          writer.write(test_dataset.magenta_sequence_example(inputs, labels).SerializeToString())
          count += 1
  return count


def tf_records(path):
  """TF's C++ record reader (what Magenta's pipeline reads with)."""
  from tensorflow.python.util import deprecation  # pylint: disable=g-import-not-at-top
  with deprecation.silence():
    return tf.compat.v1.io.tf_record_iterator(path)


def canonical(path):
  """Multiset of the examples of a TFRecord, in a canonical byte form."""
  return collections.Counter(
      tf.train.SequenceExample.FromString(r).SerializeToString(deterministic=True)
      for r in tfrecord.iter_records(path))


def timed(fn):
  start = time.perf_counter()
  result = fn()
  return result, time.perf_counter() - start


def timed_cpu(fn):
  """(result, wall seconds, CPU seconds of this process): on a shared machine
  the CPU time is the steadier measure of the work done."""
  start, cpu = time.perf_counter(), time.process_time()
  result = fn()
  return result, time.perf_counter() - start, time.process_time() - cpu


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--config', default='drum_kit', choices=sorted(configs.CONFIGS))
  parser.add_argument('--input', help='NoteSequence TFRecord (default: convert Groove)')
  parser.add_argument('--limit', type=int, default=0, help='use only the first N sequences')
  parser.add_argument('--skip_magenta', action='store_true')
  args = parser.parse_args()
  logging.set_verbosity(logging.WARNING)
  config = configs.get_config(args.config)
  work = tempfile.mkdtemp(prefix='bench_create_dataset_')

  source = args.input
  if not source:
    groove = os.path.abspath(os.environ.get('DRUMS_RNN_GROOVE_DIR', os.path.join(
        os.path.dirname(__file__), '..', '..', 'shared', 'data', 'groove')))
    source = os.path.join(work, 'groove.tfrecord')
    (n, _, _), seconds = timed(
        lambda: note_sequences.convert_directory(groove, source, recursive=True))
    print(f'converted {n} Groove MIDI files in {seconds:.1f} s -> {source}')
  if args.limit:
    records = list(tfrecord.iter_records(source))[:args.limit]
    source = os.path.join(work, 'subset.tfrecord')
    with tf.io.TFRecordWriter(source) as w:
      for r in records:
        w.write(r)
  n_seq = tfrecord.scan(source)
  print(f'{n_seq} NoteSequences, config {config.name}, cpu cores available: '
        f'{dataset.default_num_workers()}')

  ours = lambda workers, name: dataset.create_dataset(  # noqa: E731
      config, source, os.path.join(work, name), eval_ratio=0.0, num_workers=workers)
  ours(1, 'warmup')  # imports and caches, both sides share TF already loaded
  summary, t_ours, c_ours = timed_cpu(lambda: ours(1, 'ours1'))
  ref_path = os.path.join(work, 'reference.tfrecord')
  n_ref, t_ref, c_ref = timed_cpu(lambda: reference_pipeline(source, ref_path, config))
  tracks = summary.tracks_written
  assert n_ref == tracks, (n_ref, tracks)
  same = canonical(ref_path) == canonical(os.path.join(work, 'ours1', dataset.TRAINING_FILE))
  print(f'\n{tracks} tracks ({summary.steps["training"]} labelled steps)')
  print(f'note-seq pipeline (1 process): {t_ref:7.2f} s wall {c_ref:7.2f} s CPU  '
        f'{tracks / t_ref:8.1f} tracks/s')
  print(f'ours, 1 worker:                {t_ours:7.2f} s wall {c_ours:7.2f} s CPU  '
        f'{tracks / t_ours:8.1f} tracks/s')
  print(f'speed-up ours / note-seq:      {t_ref / t_ours:7.2f}x wall, {c_ref / c_ours:.2f}x CPU '
        f'(outputs identical: {same})')

  # Scaling as the command line runs it: a fresh process (workers are forked
  # from it, see drums_rnn.data.dataset), pool start-up included.
  scaling = {}
  for workers in (1, 2):
    snippet = (
        'import time, sys; from drums_rnn import configs; from drums_rnn.data import dataset; t = time.perf_counter(); '
        f'dataset.create_dataset(configs.get_config({config.name!r}), {source!r}, '
        f'{os.path.join(work, "cli%d" % workers)!r}, '
        f'eval_ratio=0.0, num_workers={workers}); print(time.perf_counter() - t)')
    result = subprocess.run([sys.executable, '-c', snippet], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    scaling[workers] = float(result.stdout.strip().splitlines()[-1])
    print(f'ours, --num_workers {workers} (fresh process, pool start included): '
          f'{scaling[workers]:7.2f} s  {tracks / scaling[workers]:8.1f} tracks/s')
  print(f'2 workers vs 1: {scaling[1] / scaling[2]:.2f}x')

  peer_bin = os.path.join(PEER, 'bin', 'drums_rnn_create_dataset')
  if args.skip_magenta or not os.path.exists(peer_bin):
    print('\nMagenta peer: skipped' + ('' if args.skip_magenta else f' ({peer_bin} not found)'))
    return
  out = os.path.join(work, 'magenta')
  cmd = [peer_bin, f'--config={config.name}', f'--input={source}', f'--output_dir={out}',
         '--eval_ratio=0', '--log=ERROR']
  t0 = time.perf_counter()
  subprocess.run([os.path.join(PEER, 'bin', 'python'), '-c', 'import magenta.models.drums_rnn.'
                  'drums_rnn_create_dataset'], check=True, capture_output=True)
  t_import = time.perf_counter() - t0
  result, t_mag = timed(lambda: subprocess.run(cmd, capture_output=True, text=True))
  if result.returncode:
    print('\nMagenta failed:', result.stderr[-2000:])
    return
  mag = canonical(os.path.join(out, 'training_drum_tracks.tfrecord'))
  mine = canonical(os.path.join(work, 'ours1', dataset.TRAINING_FILE))
  print(f'\nMagenta drums_rnn_create_dataset: {t_mag:7.2f} s wall incl. ~{t_import:.1f} s '
        f'imports -> {(t_mag - t_import):.2f} s work, {sum(mag.values()) / max(t_mag - t_import, 1e-9):.1f} '
        'tracks/s')
  print(f'speed-up ours (1 worker) / Magenta work: {(t_mag - t_import) / t_ours:.2f}x')
  print(f'Magenta examples: {sum(mag.values())}, ours: {sum(mine.values())}, '
        f'identical multiset: {mag == mine}, in common: {sum((mag & mine).values())}')


if __name__ == '__main__':
  main()
