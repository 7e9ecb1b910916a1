"""Evaluating drum tracks: feature statistics, set comparison, model likelihood.

This is the library behind `drums_rnn_evaluate`. Three questions:

1. *Do these drum tracks look like those?* Two sets of drum patterns (MIDI
   folders or a Groove MIDI Dataset split, read by :mod:`drums_rnn.measure.patterns`)
   get the features of :mod:`drums_rnn.measure.features` and are compared: per-set
   means and stds, plus the Yang & Lerch overlap area and KL divergence of
   distance distributions, the first set being the reference.
2. *How likely are these drum tracks under a trained model?* Mean
   log-likelihood per predicted step and perplexity, the way Magenta scores
   a drum track (:mod:`drums_rnn.measure.scoring`), on the tracks Magenta's drum
   track extraction (:mod:`drums_rnn.data.extraction`) cuts from the files, so it
   scores exactly what a model is trained on.
3. *What does a trivial generator score?* The shuffled-steps baseline of
   :func:`drums_rnn.measure.patterns.shuffle_patterns`, compared like any set.

Results are printed as a table and written as CSV / JSON / PNG plots with
the safe writer (:mod:`drums_rnn.files`).
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

from drums_rnn import files
from drums_rnn.measure import features as metrics
from drums_rnn import midi
from drums_rnn import progress
from drums_rnn.measure import scoring
from drums_rnn.errors import DrumsRnnError
from drums_rnn.measure.patterns import DrumPattern


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
  with files.open_atomic(path, 'w', newline='') as f:
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
  files.write_text_atomic(path, data + '\n')
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


def extract_model_tracks(paths, config, what='MIDI files'):
  """Class-index drum tracks of MIDI files, exactly as the model's dataset sees them.

  Each file is read with note-seq and cut into drum tracks by Magenta's rules
  (:func:`drums_rnn.data.extraction.extract_drum_tracks`: split at time changes,
  quantize at the config's steps per quarter, tracks of at least 7 bars, ends
  at 1-bar silences, truncated to 512 steps). Unreadable files are skipped
  with a warning.
  """
  from drums_rnn.data import extraction  # pylint: disable=import-outside-toplevel
  stats = extraction.ExtractionStats()
  tracks = []
  report = progress.Progress(len(paths), 'MIDI files read')
  for done, path in enumerate(paths):
    report.update(done)
    try:
      sequence = midi.read_midi(path)
    except DrumsRnnError as e:
      logging.warning('skipping: %s', e)
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
  if batch_size < 1:
    raise DrumsRnnError(f'--batch_size must be positive, got {batch_size}')
  start = time.time()
  sums, counts, correct = scoring.track_log_likelihoods(model, config.encoding, tracks, batch_size)
  elapsed = time.time() - start
  logging.info('scored %d steps of %d tracks in %.1f s (%.0f steps/s)', int(counts.sum()), len(tracks),
               elapsed, counts.sum() / max(elapsed, 1e-9))
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
