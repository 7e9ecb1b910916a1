"""Evaluating drum tracks: feature statistics, set comparison, model likelihood.

This is the library behind `drums_rnn_evaluate`. Three questions:

1. *Do these drum tracks look like those?* Read two folders (or a Groove MIDI
   Dataset split) of MIDI into drum patterns, compute the features of
   :mod:`drums_rnn.metrics` for each, and compare the sets (per-set means
   and stds, plus the Yang & Lerch overlap area and KL divergence of
   distance distributions, the first set being the reference).
2. *How likely are these drum tracks under a trained model?* Mean
   log-likelihood per predicted step and perplexity, the way Magenta scores
   a drum track: encode it with the config's encoding, run the model over
   the whole track from the zero state, sum log softmax[label].
3. *What does a trivial generator score?* `shuffle_patterns` permutes the
   steps of each track (seeded), which keeps each track's drum histogram and
   densities but destroys its rhythm; written as MIDI it is a baseline to
   compare a model against.

Reading MIDI here is deliberately minimal: the drum (`is_drum`) notes of
each file, split where tempo or time signature changes, quantized on the
config's step grid, from the bar of the first onset to the end of the bar of
the last onset (no gap splitting, no minimum or maximum length), so short
generated outputs count too. The likelihood instead uses Magenta's drum
track extraction (:mod:`drums_rnn.extraction`), so it scores exactly what a
model is trained on.
"""

import csv
import dataclasses
import io
import json
import math
import os
import time
from typing import Dict, List, Sequence

import numpy as np
from absl import logging

from drums_rnn import encoding as encoding_lib
from drums_rnn import files
from drums_rnn import metrics
from drums_rnn import scoring
from drums_rnn.errors import DrumsRnnError

MIDI_EXTENSIONS = ('.mid', '.midi')
GROOVE_SPLITS = ('train', 'validation', 'test')
GROOVE_CREDIT = ('Groove MIDI Dataset: Gillick, Roberts, Engel, Eck & Bamman, "Learning to Groove with '
                 'Inverse Sequence Transformations", ICML 2019 (Magenta), CC BY 4.0.')


# --- reading drum patterns ---------------------------------------------------

@dataclasses.dataclass
class DrumPattern:
  """One drum track on a step grid.

  Attributes:
    classes: int64 [steps] drum class index per step (bit i = drum type i).
    numerator, denominator: its time signature.
    steps_per_quarter: the grid (4 = 16th notes).
    source: where it came from (a file path, `#k` for the k-th piece).
  """
  classes: np.ndarray
  numerator: int = 4
  denominator: int = 4
  steps_per_quarter: int = 4
  source: str = ''

  @property
  def steps_per_bar(self) -> int:
    return int(round(self.steps_per_quarter * 4 * self.numerator / self.denominator))

  @property
  def steps_per_beat(self) -> int:
    """A quarter for x/4; three 8ths in compound meters (6/8, 9/8, 12/8)."""
    beat = self.steps_per_quarter * 4 / self.denominator
    if self.denominator >= 8 and self.numerator % 3 == 0 and self.numerator > 3:
      beat *= 3
    return max(int(round(beat)), 1)


def list_midi_files(directory):
  """Sorted MIDI files under `directory` (recursive); errors if none."""
  if not directory or not os.path.isdir(directory):
    raise DrumsRnnError(f'MIDI folder {directory!r} does not exist or is not a directory')
  paths = []
  for root, _, names in os.walk(directory):
    paths += [os.path.join(root, n) for n in names if n.lower().endswith(MIDI_EXTENSIONS)]
  if not paths:
    raise DrumsRnnError(f'no MIDI files (.mid, .midi) in {directory!r}')
  return sorted(paths)


def groove_split_files(groove_dir, split):
  """MIDI paths of one split of the Groove MIDI Dataset, read from its info.csv."""
  if split not in GROOVE_SPLITS:
    raise DrumsRnnError(f'unknown Groove split {split!r}: choose one of {", ".join(GROOVE_SPLITS)}')
  info = os.path.join(groove_dir or '', 'info.csv')
  if not groove_dir or not os.path.isfile(info):
    raise DrumsRnnError(f'no info.csv in --groove_dir {groove_dir!r}: point it at the folder of the '
                        'Groove MIDI Dataset that holds info.csv')
  try:
    with open(info, newline='', encoding='utf-8') as f:
      rows = list(csv.DictReader(f))
    paths = [os.path.join(groove_dir, r['midi_filename']) for r in rows if r['split'] == split]
  except (OSError, KeyError, csv.Error) as e:
    raise DrumsRnnError(f'cannot read {info!r}: {e}') from None
  if not paths:
    raise DrumsRnnError(f'no {split!r} files listed in {info!r}')
  return sorted(paths)


class _Progress:
  """Logs `done/total, files/s, ETA` every `every` items (reading MIDI is slow)."""

  def __init__(self, total, what, every=100):
    self.total, self.what, self.every = total, what, every
    self.done = 0
    self.start = time.time()

  def tick(self):
    self.done += 1
    if self.done % self.every == 0 and self.done < self.total:
      rate = self.done / max(time.time() - self.start, 1e-9)
      logging.info('%d/%d %s (%.1f/s, ETA %.0f s)', self.done, self.total, self.what, rate,
                   (self.total - self.done) / rate)


def _pieces(path, steps_per_quarter):
  """Quantized NoteSequences of one MIDI file (split at time changes)."""
  import note_seq  # pylint: disable=import-outside-toplevel
  from note_seq import sequences_lib  # pylint: disable=import-outside-toplevel
  try:
    sequence = note_seq.midi_file_to_note_sequence(path)
  except Exception as e:  # note-seq raises several types for bad files
    raise DrumsRnnError(f'cannot read MIDI file {path!r}: {e}') from None
  pieces = []
  for piece in sequences_lib.split_note_sequence_on_time_changes(sequence):
    try:
      pieces.append(sequences_lib.quantize_note_sequence(piece, steps_per_quarter))
    except Exception as e:  # e.g. negative times, bad tempo
      logging.warning('skipping a piece of %s: %s', path, e)
  return pieces


def read_drum_patterns(paths, steps_per_quarter=4, drum_encoding=encoding_lib.DRUM_KIT):
  """Reads MIDI files into DrumPatterns.

  Each file is split at tempo / time-signature changes and quantized; each
  piece with drum notes gives one pattern from the bar of its first drum
  onset to the end of the bar of its last one. Unreadable files and pieces
  whose bar is not a whole number of steps are skipped with a warning.

  Returns:
    (patterns, skipped) where skipped counts the reasons things were left out.
  """
  patterns, skipped = [], {'unreadable file': 0, 'no drum notes': 0, 'fractional bar': 0}
  progress = _Progress(len(paths), 'MIDI files read')
  for path in paths:
    progress.tick()
    try:
      pieces = _pieces(path, steps_per_quarter)
    except DrumsRnnError as e:
      logging.warning('%s', e)
      skipped['unreadable file'] += 1
      continue
    for index, piece in enumerate(pieces):
      numerator, denominator = 4, 4
      if piece.time_signatures:
        numerator = piece.time_signatures[0].numerator
        denominator = piece.time_signatures[0].denominator
      steps_per_bar = steps_per_quarter * 4 * numerator / denominator
      if steps_per_bar != int(steps_per_bar) or steps_per_bar <= 0:
        skipped['fractional bar'] += 1
        continue
      steps_per_bar = int(steps_per_bar)
      notes = [(n.quantized_start_step, n.pitch) for n in piece.notes if n.is_drum]
      if not notes:
        skipped['no drum notes'] += 1
        continue
      onset_steps = np.array([s for s, _ in notes], dtype=np.int64)
      pitches = np.array([p for _, p in notes], dtype=np.int64)
      start = (onset_steps.min() // steps_per_bar) * steps_per_bar
      end = -(-(onset_steps.max() + 1) // steps_per_bar) * steps_per_bar
      classes = drum_encoding.classes_from_onsets(onset_steps - start, pitches, int(end - start))
      source = path if len(pieces) == 1 else f'{path}#{index}'
      patterns.append(DrumPattern(classes, numerator, denominator, steps_per_quarter, source))
  return patterns, skipped


def crop_patterns(patterns: Sequence[DrumPattern], max_bars) -> List[DrumPattern]:
  """Each pattern cut to its first `max_bars` bars (0 = unchanged).

  Comparing, say, 8-bar generated outputs with whole recorded performances
  mixes features of very different lengths; cropping the reference to the
  same number of bars compares like with like.
  """
  if max_bars < 0:
    raise DrumsRnnError(f'--max_bars must be >= 0, got {max_bars}')
  if not max_bars:
    return list(patterns)
  return [dataclasses.replace(p, classes=p.classes[:max_bars * p.steps_per_bar]) for p in patterns]


def load_patterns(paths, what, steps_per_quarter=4, max_bars=0):
  """`read_drum_patterns` (+ `crop_patterns`) with a clear error when nothing is usable."""
  patterns, skipped = read_drum_patterns(paths, steps_per_quarter)
  patterns = crop_patterns(patterns, max_bars)
  reasons = ', '.join(f'{v} {k}' for k, v in skipped.items() if v)
  logging.info('%s: %d drum patterns from %d MIDI files%s', what, len(patterns), len(paths),
               f' (skipped: {reasons})' if reasons else '')
  if not patterns:
    raise DrumsRnnError(f'{what}: no drum tracks in {len(paths)} MIDI file(s)'
                        + (f' (skipped: {reasons})' if reasons else ''))
  return patterns


# --- features and set comparison ---------------------------------------------

def pattern_features(patterns: Sequence[DrumPattern]) -> List[Dict]:
  """`metrics.compute_features` of each pattern, on its own meter."""
  return [metrics.compute_features(p.classes, p.steps_per_bar, p.steps_per_beat) for p in patterns]


@dataclasses.dataclass
class SetComparison:
  """Everything `drums_rnn_evaluate` reports about two sets of patterns."""
  reference_label: str
  evaluated_label: str
  reference_count: int
  evaluated_count: int
  reference_stats: Dict[str, tuple]
  evaluated_stats: Dict[str, tuple]
  comparisons: Dict[str, metrics.FeatureComparison]

  def rows(self):
    """Table rows: one per feature, vector features followed by their components."""
    rows = []
    for feature in metrics.FEATURES:
      comparison = self.comparisons[feature.name]
      names = ([feature.name] if feature.size == 1
               else [f'{feature.name}/{label}' for label in feature.labels])
      if feature.size > 1:
        rows.append({'feature': feature.name, 'overlap': comparison.overlap, 'kl': comparison.kl})
      for name in names:
        ref, ev = self.reference_stats[name], self.evaluated_stats[name]
        row = {'feature': name if feature.size == 1 else '  ' + name,
               'reference_mean': ref[0], 'reference_std': ref[1], 'reference_n': ref[2],
               'evaluated_mean': ev[0], 'evaluated_std': ev[1], 'evaluated_n': ev[2]}
        if feature.size == 1:
          row.update(overlap=comparison.overlap, kl=comparison.kl)
        rows.append(row)
    return rows


def compare_pattern_sets(reference, evaluated, reference_label='reference',
                         evaluated_label='evaluated'):
  """Features of both sets and their Yang & Lerch comparison."""
  if len(reference) < 2 or len(evaluated) < 2:
    raise DrumsRnnError(f'need at least 2 drum tracks in each set to compare distributions, got '
                        f'{len(reference)} ({reference_label}) and {len(evaluated)} ({evaluated_label})')
  ref_features = pattern_features(reference)
  ev_features = pattern_features(evaluated)
  return SetComparison(reference_label, evaluated_label, len(reference), len(evaluated),
                       metrics.set_statistics(ref_features), metrics.set_statistics(ev_features),
                       metrics.compare_sets(ref_features, ev_features))


def _fmt(value, digits=3):
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return ''
  return f'{value:.{digits}f}'


def format_table(comparison: SetComparison, likelihood=None, credit=None):
  """A readable text table of a SetComparison (and a likelihood, if given)."""
  out = io.StringIO()
  if comparison is not None:
    ref = f'{comparison.reference_label} (n={comparison.reference_count})'
    ev = f'{comparison.evaluated_label} (n={comparison.evaluated_count})'
    width = max(34, max(len(r['feature']) for r in comparison.rows()) + 2)
    out.write(f'{"feature":<{width}}{ref[:22]:>22}  {ev[:22]:>22}  {"overlap":>8}  {"KL":>8}\n')
    out.write(f'{"":<{width}}{"mean +- std":>22}  {"mean +- std":>22}  {"(OA)":>8}  {"":>8}\n')
    out.write('-' * (width + 66) + '\n')
    for row in comparison.rows():
      cells = []
      for side in ('reference', 'evaluated'):
        mean = row.get(f'{side}_mean')
        cells.append('' if mean is None else f'{_fmt(mean)} +- {_fmt(row[f"{side}_std"])}')
      out.write(f'{row["feature"]:<{width}}{cells[0]:>22}  {cells[1]:>22}  '
                f'{_fmt(row.get("overlap")):>8}  {_fmt(row.get("kl")):>8}\n')
    out.write('overlap (OA) and KL compare the intra-set distance distribution of the reference with '
              'the inter-set one\n(Yang & Lerch 2020): OA near 1 and KL near 0 = the evaluated set is '
              'distributed like the reference.\n')
  if likelihood is not None:
    left_out = (f' ({likelihood.nonfinite_tracks} more left out: non-finite model outputs)'
                if likelihood.nonfinite_tracks else '')
    out.write(f'\nmodel likelihood on {likelihood.label}: {likelihood.num_tracks} tracks{left_out}, '
              f'{likelihood.num_steps} predicted steps\n')
    out.write(f'  mean log-likelihood per step: {likelihood.mean_log_likelihood:.4f} nats\n')
    out.write(f'  perplexity per step:          {likelihood.perplexity:.4f}\n')
    out.write(f'  accuracy (argmax = label):    {likelihood.accuracy:.4f}\n')
  if credit:
    out.write(f'\nData: {credit}\n')
  return out.getvalue()


CSV_COLUMNS = ('feature', 'reference_mean', 'reference_std', 'reference_n', 'evaluated_mean',
               'evaluated_std', 'evaluated_n', 'overlap', 'kl')


def _json_number(value):
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def write_csv(path, comparison=None, likelihood=None, credit=None):
  """Writes the table as CSV (atomically); likelihood rows go in `evaluated_*`.

  A data `credit`, if given, is the last row (in the `feature` column).
  """
  rows = [dict(r, feature=r['feature'].strip()) for r in comparison.rows()] if comparison else []
  if likelihood is not None:
    rows.append({'feature': 'model/mean_log_likelihood_per_step',
                 'evaluated_mean': likelihood.mean_log_likelihood, 'evaluated_n': likelihood.num_steps})
    rows.append({'feature': 'model/perplexity', 'evaluated_mean': likelihood.perplexity,
                 'evaluated_n': likelihood.num_steps})
    rows.append({'feature': 'model/accuracy', 'evaluated_mean': likelihood.accuracy,
                 'evaluated_n': likelihood.num_steps})
  if credit:
    rows.append({'feature': f'data: {credit}'})
  with files.atomic_output(path) as tmp:
    with open(tmp, 'w', newline='', encoding='utf-8') as f:
      writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
      writer.writeheader()
      for row in rows:
        writer.writerow({k: ('' if _json_number(row.get(k)) is None else row.get(k)) for k in CSV_COLUMNS})
  logging.info('wrote %s', path)
  return path


def to_json_dict(comparison=None, likelihood=None, credit=None):
  """A JSON-ready dict of the results (NaN becomes null)."""
  result = {}
  if comparison is not None:
    result['reference'] = {'label': comparison.reference_label, 'num_tracks': comparison.reference_count}
    result['evaluated'] = {'label': comparison.evaluated_label, 'num_tracks': comparison.evaluated_count}
    result['features'] = {
        r['feature'].strip(): {k: _json_number(v) for k, v in r.items() if k != 'feature'}
        for r in comparison.rows()}
    result['method'] = ('per feature: Euclidean distances within the reference set (intra), within the '
                        'evaluated set and between the sets (inter); Gaussian KDE of each; overlap = area '
                        'under min(intra_reference, inter); kl = KL(intra_reference || inter) in nats '
                        '(Yang & Lerch 2020)')
  if likelihood is not None:
    result['likelihood'] = {k: _json_number(v) for k, v in dataclasses.asdict(likelihood).items()}
  if credit:
    result['credit'] = credit
  return result


def write_json(path, comparison=None, likelihood=None, credit=None):
  data = json.dumps(to_json_dict(comparison, likelihood, credit), indent=2, allow_nan=False)
  files.write_bytes_atomic(path, (data + '\n').encode('utf-8'))
  logging.info('wrote %s', path)
  return path


def write_distance_plots(plot_dir, comparison: SetComparison):
  """One PNG per feature of the three distance distributions; returns the paths."""
  from drums_rnn import plotting  # pylint: disable=import-outside-toplevel
  files.ensure_dir(plot_dir)
  paths = []
  for name, feature_comparison in comparison.comparisons.items():
    paths.append(plotting.plot_distance_distributions(
        feature_comparison, os.path.join(plot_dir, f'{name}.png'),
        comparison.reference_label, comparison.evaluated_label))
  logging.info('wrote %d distance plots to %s', len(paths), plot_dir)
  return paths


# --- shuffled-steps baseline -------------------------------------------------

def shuffle_patterns(patterns: Sequence[DrumPattern], seed=0) -> List[DrumPattern]:
  """Each pattern with its steps randomly permuted (one seeded generator for all)."""
  rng = np.random.default_rng(seed)
  return [dataclasses.replace(p, classes=p.classes[rng.permutation(p.classes.shape[0])],
                              source=f'shuffled:{p.source}') for p in patterns]


def pattern_to_note_sequence(pattern: DrumPattern, qpm=120.0,
                             drum_encoding=encoding_lib.DRUM_KIT, velocity=100):
  """A NoteSequence of drum notes (one step long, velocity 100) for a pattern."""
  from note_seq.protobuf import music_pb2  # pylint: disable=import-outside-toplevel
  sequence = music_pb2.NoteSequence()
  sequence.ticks_per_quarter = 220
  sequence.tempos.add(qpm=qpm, time=0.0)
  sequence.time_signatures.add(numerator=pattern.numerator, denominator=pattern.denominator, time=0.0)
  step_seconds = 60.0 / qpm / pattern.steps_per_quarter
  grid = metrics.hit_grid(pattern.classes, drum_encoding.num_drum_types)
  steps, drums = np.nonzero(grid)
  pitches = np.asarray(drum_encoding.decode_pitches)[drums]
  for step, pitch in zip(steps.tolist(), pitches.tolist()):
    sequence.notes.add(pitch=pitch, velocity=velocity, start_time=step * step_seconds,
                       end_time=(step + 1) * step_seconds, is_drum=True, instrument=9)
  sequence.total_time = pattern.classes.shape[0] * step_seconds
  return sequence


def write_patterns_midi(patterns: Sequence[DrumPattern], output_dir, qpm=120.0, prefix='pattern',
                        credit=None):
  """Writes each pattern as `<output_dir>/<prefix>_<i>.mid` (atomically).

  A `credit` (the source data's attribution) is written beside them as
  CREDIT.txt.
  """
  import note_seq  # pylint: disable=import-outside-toplevel
  files.ensure_dir(output_dir)
  width = len(str(max(len(patterns) - 1, 0)))
  paths = []
  for i, pattern in enumerate(patterns):
    path = os.path.join(output_dir, f'{prefix}_{i:0{width}d}.mid')
    with files.atomic_output(path) as tmp:
      note_seq.sequence_proto_to_midi_file(pattern_to_note_sequence(pattern, qpm), tmp)
    paths.append(path)
  if credit:
    files.write_bytes_atomic(os.path.join(output_dir, 'CREDIT.txt'),
                                f'Derived from the {credit}\n'.encode('utf-8'))
  logging.info('wrote %d MIDI files to %s', len(paths), output_dir)
  return paths


# --- model likelihood ---------------------------------------------------------

@dataclasses.dataclass
class Likelihood:
  """How well a model predicts a set of drum tracks.

  Attributes:
    label: what was scored.
    num_tracks: drum tracks scored.
    num_steps: predicted steps (a track of N steps predicts N - 1).
    mean_log_likelihood: mean over all predicted steps of log p(label), nats.
    perplexity: exp(-mean_log_likelihood).
    accuracy: fraction of steps whose most likely class is the label.
    nonfinite_tracks: tracks left out because their score was not finite.
  """
  label: str
  num_tracks: int
  num_steps: int
  mean_log_likelihood: float
  perplexity: float
  accuracy: float
  nonfinite_tracks: int = 0


def load_model(run_dir=None, bundle_file=None, hparams='', config_name=None):
  """(config, hparams, model) from a run directory / checkpoint or a .mag bundle.

  `run_dir` may be one of our training run directories (its saved config
  and hparams are used), a checkpoint prefix, or a directory of Magenta TF1
  checkpoints (its `train/` folder is searched first); Magenta checkpoints
  take `config_name` (default drum_kit) and `hparams` (a `--hparams`
  string), which also adjusts a bundle (e.g. the layer sizes of a custom
  model).
  """
  if bool(run_dir) == bool(bundle_file):
    raise DrumsRnnError('give exactly one of --run_dir and --bundle_file to score with a model')
  from drums_rnn import bundle as bundle_lib  # pylint: disable=import-outside-toplevel
  from drums_rnn import run_dir as run_dir_lib  # pylint: disable=import-outside-toplevel
  if bundle_file:
    if not os.path.isfile(bundle_file):
      raise DrumsRnnError(f'bundle file {bundle_file!r} does not exist')
    config, hp, model, _ = bundle_lib.load_bundle(bundle_file, hparams or '')
    return config, hp, model
  if not os.path.exists(run_dir) and not os.path.exists(run_dir + '.index'):
    raise DrumsRnnError(f'--run_dir {run_dir!r} does not exist')
  if os.path.isdir(run_dir):
    try:
      run_dir_lib.load_settings(run_dir)
      ours = True
    except DrumsRnnError:
      ours = False
    if ours:
      if hparams:
        logging.warning('--hparams is ignored with --run_dir: the run directory records its own')
      return run_dir_lib.load_model(run_dir)
    train = run_dir_lib.train_dir(run_dir)
    run_dir = train if os.path.isdir(train) else run_dir
  return bundle_lib.load_checkpoint_model(run_dir, config_name, hparams or '')


def extract_model_tracks(paths, config, what='MIDI files'):
  """Class-index drum tracks of MIDI files, exactly as the model's dataset sees them.

  Each file is read with note-seq and cut into drum tracks by Magenta's rules
  (:func:`drums_rnn.extraction.extract_drum_tracks`: split at time changes,
  quantize at the config's steps per quarter, tracks of at least 7 bars, ends
  at 1-bar silences, truncated to 512 steps). Unreadable files are skipped
  with a warning.
  """
  import note_seq  # pylint: disable=import-outside-toplevel
  from drums_rnn import extraction  # pylint: disable=import-outside-toplevel
  stats = extraction.ExtractionStats()
  tracks = []
  progress = _Progress(len(paths), 'MIDI files read')
  for path in paths:
    progress.tick()
    try:
      sequence = note_seq.midi_file_to_note_sequence(path)
    except Exception as e:  # note-seq raises several types for bad files
      logging.warning('skipping unreadable MIDI file %s: %s', path, e)
      continue
    tracks += [t.classes for t in extraction.extract_drum_tracks(sequence, config, stats=stats)]
  logging.info('%s: %d drum tracks from %d files (%s)', what, len(tracks), len(paths),
               ', '.join(f'{k}: {v}' for k, v in extraction.format_stats(stats).items()))
  tracks = [np.asarray(t, np.int64) for t in tracks if len(t) >= 2]
  if not tracks:
    raise DrumsRnnError(f'{what}: no drum tracks (Magenta extraction: at least 7 bars) in '
                        f'{len(paths)} MIDI file(s)')
  return tracks


def model_likelihood(model, config, tracks, label='tracks', batch_size=32):
  """Mean log-likelihood per predicted step and perplexity of `tracks`.

  A track whose score is not finite (the model's activations overflowed,
  e.g. an untrained attention model on a long track) is left out of the
  means, counted in `nonfinite_tracks` and warned about.
  """
  sums, counts, correct = scoring.track_log_likelihoods(model, config.encoding, tracks, batch_size)
  finite = np.isfinite(sums)
  if not finite.all():
    logging.warning('%s: %d of %d tracks gave a non-finite log-likelihood (the model\'s outputs '
                    'overflowed); they are left out', label, int((~finite).sum()), len(tracks))
  total = int(counts[finite].sum())
  if total == 0:
    raise DrumsRnnError(f'{label}: no predicted steps with a finite log-likelihood to score')
  mean = float(sums[finite].sum() / total)
  perplexity = math.exp(-mean) if -mean < 700 else float('inf')
  return Likelihood(label, int(finite.sum()), total, mean, perplexity,
                    float(correct[finite].sum() / total), int((~finite).sum()))
