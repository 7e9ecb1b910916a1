"""Evaluation reports: the library behind `drums_rnn_evaluate`, its table and its files.

:func:`evaluate` answers three questions about MIDI files and writes the
answers (a text table, CSV, JSON, PNG plots, all through the safe writer):

1. *Do these drum tracks look like those?* (:mod:`drums_rnn.measure.comparison`)
2. *How likely are they under a trained model?* (:mod:`drums_rnn.measure.scoring`)
3. *What does a trivial generator score?* The shuffled-steps baseline of
   :func:`drums_rnn.measure.patterns.shuffle_patterns`, written as MIDI and
   compared like any set.
"""

import csv
import dataclasses
import io
import json
import math
import os
from typing import Any, Optional

from absl import logging

from drums_rnn import files
from drums_rnn import midi
from drums_rnn.errors import DrumsRnnError
from drums_rnn.measure import comparison as comparison_lib
from drums_rnn.measure import patterns as patterns_lib


@dataclasses.dataclass
class Report:
  """What :func:`evaluate` found: a set comparison and/or a likelihood (None when not asked)."""
  comparison: Optional[comparison_lib.SetComparison] = None
  likelihood: Optional[Any] = None
  credit: Optional[str] = None
  shuffled_paths: tuple = ()

  def table(self):
    return format_table(self.comparison, self.likelihood, self.credit)


def evaluate(midi_dir=None, reference_paths=None, reference_label='reference', credit=None,
             loaded=None, max_bars=0, shuffled_output_dir=None, seed=0, qpm=midi.DEFAULT_QPM,
             batch_size=32, output_csv=None, output_json=None, plot_dir=None):
  """Compares, scores and reports (see the module docstring).

  Args:
    midi_dir: a folder of MIDI files to evaluate (e.g. generated), or None.
    reference_paths: MIDI files of the reference set (real drumming), or None.
    reference_label: the reference set's name in the report; `credit` its data credit.
    loaded: a `loading.LoadedModel` to score `midi_dir` (else the reference) with, or None.
    max_bars: compare only the first this many bars of every track (0 = whole tracks).
    shuffled_output_dir: write a shuffled-steps copy of every reference track here
      (seeded by `seed`, at `qpm`); `midi_dir` may name the same folder.
    batch_size: tracks scored per model batch.
    output_csv, output_json, plot_dir: where to write the results, if anywhere.
  Returns:
    a :class:`Report`.
  """
  if shuffled_output_dir and reference_paths is None:
    raise DrumsRnnError('the shuffled-steps baseline shuffles the reference set: give reference files')
  if plot_dir and not (midi_dir and reference_paths):
    raise DrumsRnnError('the distance plots draw the set comparison: give MIDI files to evaluate and '
                        'a reference set')
  # midi_dir may be the shuffled_output_dir this call writes: list it afterwards.
  writes_midi_dir = bool(midi_dir and shuffled_output_dir and os.path.abspath(midi_dir) ==
                         os.path.abspath(shuffled_output_dir))
  midi_paths = midi.list_midi_files(midi_dir) if midi_dir and not writes_midi_dir else None
  midi_label = os.path.basename(os.path.normpath(midi_dir)) if midi_dir else None
  report = Report(credit=credit)

  ref_patterns = None
  if reference_paths is not None and (midi_dir or shuffled_output_dir):
    ref_patterns = patterns_lib.load_patterns(reference_paths, f'reference ({reference_label})',
                                              max_bars=max_bars)
  if shuffled_output_dir:
    shuffled = patterns_lib.shuffle_patterns(ref_patterns, seed)
    report.shuffled_paths = tuple(patterns_lib.write_patterns_midi(
        shuffled, shuffled_output_dir, qpm, prefix='shuffled', credit=credit))
    print(f'wrote {len(shuffled)} shuffled-steps drum tracks to {shuffled_output_dir}')
    if writes_midi_dir:
      midi_paths = midi.list_midi_files(midi_dir)

  if midi_paths is not None and ref_patterns is not None:
    evaluated = patterns_lib.load_patterns(midi_paths, f'evaluated ({midi_label})', max_bars=max_bars)
    report.comparison = comparison_lib.compare_pattern_sets(ref_patterns, evaluated, reference_label,
                                                            midi_label)
  if loaded is not None:
    from drums_rnn.measure import scoring  # pylint: disable=import-outside-toplevel  (TensorFlow)
    paths, label = ((midi_paths, midi_label) if midi_paths is not None
                    else (reference_paths, reference_label))
    tracks = scoring.extract_model_tracks(paths, loaded.config, label)
    report.likelihood = scoring.model_likelihood(loaded.model, loaded.config, tracks, label,
                                                 batch_size)

  if report.comparison is not None or report.likelihood is not None:
    print(report.table(), end='')
    if output_csv:
      write_csv(output_csv, report.comparison, report.likelihood, credit)
    if output_json:
      write_json(output_json, report.comparison, report.likelihood, credit)
  if plot_dir:
    write_distance_plots(plot_dir, report.comparison)
  return report


def _fmt(value, digits=3):
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return ''
  return f'{value:.{digits}f}'


def format_table(comparison: comparison_lib.SetComparison, likelihood=None, credit=None):
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


def write_distance_plots(plot_dir, comparison):
  """One PNG per feature of the three distance distributions; returns the paths."""
  files.ensure_dir(plot_dir)
  paths = []
  for name, feature_comparison in comparison.comparisons.items():
    paths.append(comparison_lib.plot_distance_distributions(
        feature_comparison, os.path.join(plot_dir, f'{name}.png'),
        comparison.reference_label, comparison.evaluated_label))
  logging.info('wrote %d distance plots to %s', len(paths), plot_dir)
  return paths
