"""NoteSequences in, SequenceExample TFRecords out: Magenta's dataset step.

Contract: :func:`create_dataset` reads NoteSequences (a TFRecord written by
convert_dir_to_note_sequences, or music files read directly:
:mod:`drums_rnn.data.note_sequences`), sends each one to the training or eval
set, cuts drum tracks out of it (:mod:`drums_rnn.data.extraction`), encodes them
(:mod:`drums_rnn.data.sequence_example`) and writes ``training_drum_tracks.tfrecord``
and ``eval_drum_tracks.tfrecord`` with Magenta's SequenceExample layout, so
Magenta's trainer and ours read either's files. Both files are published
together and only when the run succeeds (:func:`drums_rnn.data.tfrecord.open_writers`):
a run that fails -- bad input, a full disk, a signal, or no drum track at all
(:class:`EmptyDatasetError`) -- leaves the previous files exactly as they were.

Where it differs from Magenta, on purpose:

* the train/eval choice is a hash of (seed, sequence id), not an unseeded
  ``random.random()``: reruns give the same split, whatever the order of the
  input or the number of workers;
* no TensorFlow: SequenceExample bytes are built directly and TFRecords are
  framed with our numpy CRC (:mod:`drums_rnn.data.tfrecord`); importing TF would
  cost more CPU than all the CRCs of the Groove dataset;
* work is spread over processes: workers convert, encode and frame whole
  records, the parent writes them in input order;
* pieces with negative times are dropped and counted instead of aborting.

Worker processes follow one rule: they are forked from the caller (the
'fork' start method), whoever the caller is. Forking is instant and the
workers inherit the modules already imported; a fresh interpreter per
worker, or a fork server, would first import note-seq again (a second or
more of CPU, as long as a 100-file dataset takes). Forking a process whose
other threads run (a caller that has started TensorFlow) is safe here
because the workers run only numpy, protobuf and note-seq code, never the
code of those threads. Where the OS cannot fork, the work runs in the
calling process. Workers ignore SIGINT and die quietly on SIGTERM; the
parent terminates them whenever it stops (error, Ctrl-C, SIGTERM).
"""

import collections
import contextlib
import dataclasses
import hashlib
import multiprocessing
import os
import signal
import time
from typing import Callable, Dict, List, Optional

from absl import logging

from drums_rnn import controls as controls_lib
from drums_rnn.data import extraction
from drums_rnn import files
from drums_rnn.data import note_sequences
from drums_rnn import progress as progress_lib
from drums_rnn.data import sequence_example
from drums_rnn.data import tfrecord
from drums_rnn.errors import DrumsRnnError

TRAINING_FILE = 'training_drum_tracks.tfrecord'
EVAL_FILE = 'eval_drum_tracks.tfrecord'
SPLITS = ('training', 'eval')


# --- the train/eval split ----------------------------------------------------------

def eval_fraction(seed, key) -> float:
  """A number in [0, 1) fixed by (seed, key): a sequence goes to eval when below eval_ratio."""
  digest = hashlib.sha256(f'{seed}\x00{key}'.encode('utf-8')).digest()
  return int.from_bytes(digest[:8], 'big') / 2.0 ** 64


def split_of(sequence, seed, eval_ratio, index=0) -> str:
  """'eval' or 'training' for a NoteSequence, from its id (else filename, else index)."""
  key = sequence.id or sequence.filename or f'#{index}'
  return 'eval' if eval_fraction(seed, key) < eval_ratio else 'training'


# --- the work of one input ---------------------------------------------------------

@dataclasses.dataclass
class _Job:
  config: object  # a configs.DrumsRnnConfig
  eval_ratio: float
  seed: int
  split_long_tracks: bool
  track_controls: Optional[Callable] = None  # see create_dataset


@dataclasses.dataclass
class _Result:
  """What one input item produced (sent back from a worker)."""
  outputs: List  # [(split, [framed records], label steps)] per sequence
  stats: extraction.ExtractionStats
  controls: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  skipped: Optional[str] = None  # why an input file was skipped
  fatal: Optional[str] = None    # an error that must stop the run


_JOB: Optional[_Job] = None
_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _set_job(job):
  global _JOB
  _JOB = job


def _init_worker(job):
  """Pool initializer: the job, and signals that never give a worker traceback.

  SIGINT (Ctrl-C reaches the whole process group) is ignored: the parent
  handles it and terminates the pool. SIGTERM (sent by pool.terminate) gets
  its default action back: the worker ends at once, quietly. The parent
  blocks both while it forks (see _start_pool), so there is no moment in which a
  worker runs the parent's handlers.
  """
  _set_job(job)
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  signal.signal(signal.SIGTERM, signal.SIG_DFL)
  signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)


def _process(indexed_item):
  """Converts one input item into framed examples. Runs in a worker process."""
  index, item = indexed_item
  job = _JOB
  stats = extraction.ExtractionStats()
  try:
    sequences = note_sequences.sequences_of(item)
  except DrumsRnnError as e:
    if item[0] != 'file':
      return _Result([], stats, fatal=str(e))
    return _Result([], stats, skipped=str(e))
  outputs = []
  counts = collections.Counter()
  source = item[2] if item[0] == 'file' else None
  for sequence in sequences:
    split = split_of(sequence, job.seed, job.eval_ratio, index)
    tracks = extraction.extract_drum_tracks(
        sequence, job.config, min_bars=job.config.min_bars, split_long_tracks=job.split_long_tracks,
        stats=stats)
    examples = []
    for track in tracks:
      controls = None
      if job.track_controls is not None:
        key = f'{sequence.id or sequence.filename or index}@{track.start_step}'
        controls = job.track_controls(track.classes, source, key)
        for which, row in enumerate(controls[:, ::track.steps_per_bar]):
          counts.update((which, int(v)) for v in row)
      examples.append(tfrecord.frame(sequence_example.encode_track(track, job.config, controls)))
    outputs.append((split, examples, sum(len(t) - 1 for t in tracks)))
  return _Result(outputs, stats, controls=counts)


# --- summary -----------------------------------------------------------------------

@dataclasses.dataclass
class DatasetSummary:
  """What create_dataset read, wrote and dropped. `check()` proves the counts add up."""
  config: str
  input: str
  output_paths: Dict[str, str]
  files_skipped: int = 0
  sequences: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  tracks: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  steps: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  sequences_without_tracks: int = 0
  stats: extraction.ExtractionStats = dataclasses.field(default_factory=extraction.ExtractionStats)
  seconds: float = 0.0
  min_bars: float = extraction.MIN_BARS
  control_spec: Optional[object] = None  # the config's ControlSpec, when it has controls
  controls: collections.Counter = dataclasses.field(default_factory=collections.Counter)

  @property
  def sequences_read(self):
    return sum(self.sequences.values())

  @property
  def tracks_written(self):
    return sum(self.tracks.values())

  def check(self):
    """Raises AssertionError unless every count adds up."""
    self.stats.check()
    assert self.tracks_written == self.stats['drum_tracks_out']
    assert set(self.sequences) <= set(SPLITS) and set(self.tracks) <= set(SPLITS)

  def lines(self) -> List[str]:
    """The end-of-run report, one fact per line."""
    c = self.stats.counts
    s = lambda split: f'{self.tracks[split]} {split}'  # noqa: E731
    out = [
        f'Read {self.sequences_read} NoteSequences ({self.sequences["training"]} training, '
        f'{self.sequences["eval"]} eval) from {self.input}'
        + (f'; skipped {self.files_skipped} unreadable files' if self.files_skipped else '') + '.',
        f'Wrote {self.tracks_written} drum tracks ({s("training")}, {s("eval")}; '
        f'{self.steps["training"] + self.steps["eval"]} labelled steps) in {self.seconds:.1f} s: '
        f'{self.output_paths["training"]}, {self.output_paths["eval"]}.',
        f'Pieces after time-change splits: {c["pieces"]}; dropped: ' + ', '.join(
            f'{desc} {c[key]}' for key, desc in extraction.PIECE_DROP_REASONS.items()) + '.',
        f'Drum tracks found: {c["drum_tracks_found"]}; discarded too short (< {self.min_bars} bars): '
        f'{c["drum_tracks_discarded_too_short"]}; truncated to 512 steps: '
        f'{c["drum_tracks_truncated"]}'
        + (f'; split into windows: {c["drum_tracks_split"]} (+{c["drum_track_windows_added"]} '
           f'windows, {c["drum_track_tails_discarded_too_short"]} short tails dropped)'
           if c['drum_tracks_split'] else '') + '.',
        f'NoteSequences that gave no track: {self.sequences_without_tracks}.',
    ]
    histogram = self.stats.histogram()
    if histogram:
      out.append('Track lengths in bars: ' + ', '.join(f'{k}: {v}' for k, v in histogram))
    if self.control_spec is not None:
      out.extend(self.control_lines())
    return out

  def control_lines(self) -> List[str]:
    """Bars of each label of each control (a controlled config)."""
    spec = self.control_spec
    names = {controls_lib.STYLE: list(spec.styles), controls_lib.FILL: ['no fill', 'fill'],
             controls_lib.DENSITY: [f'{b} [{r}]' for b, r in enumerate(spec.density_bin_names())]}
    lines = []
    for which, labels in names.items():
      counts = [f'{label} {self.controls[(which, i)]}' for i, label in enumerate(labels)]
      counts.append(f'disabled {self.controls[(which, controls_lib.DISABLED)]}')
      lines.append(f'Control {controls_lib.NAMES[which]} (bars): ' + ', '.join(counts) + '.')
    return lines

  def empty_message(self) -> str:
    """Why nothing was written, and what to try."""
    c = self.stats.counts
    reasons = [f'{desc}: {c[key]} pieces' for key, desc in extraction.PIECE_DROP_REASONS.items()
               if c[key]]
    if c['drum_tracks_discarded_too_short']:
      reasons.append(f'too short (< {self.min_bars} bars): {c["drum_tracks_discarded_too_short"]} '
                     'tracks')
    if self.files_skipped:
      reasons.append(f'unreadable files: {self.files_skipped}')
    return (f'no drum tracks written from {self.sequences_read} NoteSequences in {self.input} '
            f'({"; ".join(reasons) or "nothing found"}). Drum tracks need notes marked is_drum '
            '(MIDI channel 10) forming at least 7 bars without a whole bar of silence; check '
            'that the drums are on channel 10 and the files are long enough.')


class EmptyDatasetError(DrumsRnnError):
  """No drum track was found: nothing is written; `summary` tells what was read."""

  def __init__(self, summary):
    super().__init__(summary.empty_message())
    self.summary = summary


# --- create_dataset ----------------------------------------------------------------

def default_num_workers():
  try:
    return max(1, len(os.sched_getaffinity(0)))
  except AttributeError:
    return max(1, os.cpu_count() or 1)


def _start_pool(stack, job, num_workers):
  """A pool of forked workers (the rule in the module docstring), terminated by `stack`."""
  ctx = multiprocessing.get_context('fork')
  # Blocked while forking: a worker must not run the parent's SIGTERM handler
  # before its initializer has installed its own (the initializer unblocks).
  # A signal that arrives meanwhile is handled once the pool is on the stack.
  previous = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
  try:
    pool = ctx.Pool(num_workers, initializer=_init_worker, initargs=(job,))
    stack.callback(pool.join)
    stack.callback(pool.terminate)  # runs first: on success, error or signal alike
  finally:
    signal.pthread_sigmask(signal.SIG_SETMASK, previous)
  return pool


def create_dataset(config, input_path, output_dir, eval_ratio=0.1, seed=0, num_workers=None,
                   split_long_tracks=False, track_controls=None) -> DatasetSummary:
  """Writes training and eval SequenceExample TFRecords for `config`.

  Args:
    config: a configs.DrumsRnnConfig.
    input_path: TFRecord of NoteSequences, a MIDI (MusicXML, ABC) file, or a
      directory searched recursively for them.
    output_dir: gets TRAINING_FILE and EVAL_FILE (the directory is created).
      Both are written, and replace earlier files, only when the run
      succeeds; otherwise the earlier files are left exactly as they were.
    eval_ratio: fraction of NoteSequences sent to the eval set, in [0, 1].
    seed: selects the split; the same (seed, sequence id) always gives the
      same set, whatever the input order or number of workers.
    num_workers: processes; None = every core; 1 = in this process.
    split_long_tracks: cut tracks longer than 512 steps into bar-aligned
      windows instead of truncating them (issue 5).
    track_controls: for a config with controls, `f(classes, source, key)`
      -> the track's [3, steps] control values (:mod:`drums_rnn.controls`),
      `source` the MIDI file read (None for records) and `key` a stable name
      of the track; run in the worker processes (numpy only).
  Returns:
    A DatasetSummary (counts add up: see DatasetSummary.check).
  Raises:
    EmptyDatasetError: no drum track found (nothing written).
    DrumsRnnError: bad arguments, unreadable input, unwritable output.
  """
  if not 0.0 <= float(eval_ratio) <= 1.0:
    raise DrumsRnnError(f'eval_ratio must be between 0 and 1, got {eval_ratio}')
  num_workers = default_num_workers() if num_workers is None else int(num_workers)
  if num_workers < 1:
    raise DrumsRnnError(f'num_workers must be at least 1, got {num_workers}')
  if 'fork' not in multiprocessing.get_all_start_methods():
    num_workers = 1
  output_dir = os.path.expanduser(output_dir)
  files.ensure_dir(output_dir)

  start = time.time()
  total, items = note_sequences.inputs(input_path)
  paths = {'training': os.path.join(output_dir, TRAINING_FILE),
           'eval': os.path.join(output_dir, EVAL_FILE)}
  summary = DatasetSummary(config=config.name, input=input_path, output_paths=paths,
                           min_bars=config.min_bars, control_spec=config.encoding.controls)
  if (track_controls is None) != (config.encoding.controls is None):
    raise DrumsRnnError(f'the {config.name} dataset needs track controls exactly when its config '
                        'has controls')
  job = _Job(config, float(eval_ratio), seed, bool(split_long_tracks), track_controls)
  progress = progress_lib.Progress(total, 'inputs')
  logging.info('Creating %s dataset from %s (%d inputs) with %d worker(s).', config.name,
               input_path, total, num_workers)
  tracks_so_far = lambda: f'{summary.tracks_written} drum tracks so far'  # noqa: E731

  with contextlib.ExitStack() as stack:
    if num_workers == 1:
      _set_job(job)
      results = map(_process, enumerate(items))
    else:
      pool = _start_pool(stack, job, min(num_workers, max(total, 1)))
      results = pool.imap(_process, enumerate(items), chunksize=4)
    with tfrecord.open_writers([paths['training'], paths['eval']]) as (train, evals):
      writers = {'training': train, 'eval': evals}
      for done, result in enumerate(results, 1):
        if result.fatal:
          raise DrumsRnnError(result.fatal)
        if result.skipped:
          summary.files_skipped += 1
          logging.warning('skipped: %s', result.skipped)
        summary.stats += result.stats
        summary.controls.update(result.controls)
        for split, examples, steps in result.outputs:
          summary.sequences[split] += 1
          summary.tracks[split] += len(examples)
          summary.steps[split] += steps
          if not examples:
            summary.sequences_without_tracks += 1
          for example in examples:
            writers[split].write_framed(example)
        progress.update(done, tracks_so_far())
      summary.seconds = time.time() - start
      progress.finish(total, tracks_so_far())
      summary.check()
      if summary.tracks_written == 0:
        raise EmptyDatasetError(summary)  # before anything is published
  return summary
