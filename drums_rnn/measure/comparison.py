"""Do these drum tracks look like those? Two sets of drum patterns compared, feature by feature.

Two sets of drum patterns (MIDI folders or a Groove MIDI Dataset split, read
by :mod:`drums_rnn.measure.patterns`) get the features of
:mod:`drums_rnn.measure.features` and are compared: per-set means and stds,
plus the Yang & Lerch overlap area and KL divergence of their distance
distributions, the first set being the reference (:func:`compare_pattern_sets`),
and the densities of those distances drawn (:func:`plot_distance_distributions`).
"""

import dataclasses
from typing import Dict, List, Sequence

import numpy as np

from drums_rnn.errors import DrumsRnnError
from drums_rnn.measure import features as metrics
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


def plot_distance_distributions(comparison, path, reference_label='reference',
                                evaluated_label='evaluated', dpi=100):
  """Writes a PNG of one feature's distance distributions (Yang & Lerch): their kernel densities.

  Args:
    comparison: a :class:`drums_rnn.measure.features.FeatureComparison`.
    path: the PNG to write.
    reference_label, evaluated_label: names of the two sets in the legend.
  """
  from drums_rnn import plotting  # pylint: disable=import-outside-toplevel  (matplotlib)
  sets = [(f'intra-set {reference_label}', comparison.intra_reference, '#1f77b4', '-'),
          (f'intra-set {evaluated_label}', comparison.intra_evaluated, '#2ca02c', '-'),
          (f'inter-set {reference_label} vs {evaluated_label}', comparison.inter, '#d62728', '--')]
  curves = []
  samples = [values for _, values, _, _ in sets if values.size]
  if samples:
    floor = metrics.bandwidth_floor(*samples)
    both = np.concatenate(samples)
    margin = 3 * max(both.std(), floor)
    xs = np.linspace(max(both.min() - margin, 0.0) if both.min() >= 0 else both.min() - margin,
                     both.max() + margin, 512)
    curves = [(f'{label} (n={values.size})', xs, metrics.kde_curve(values, xs, floor), colour, style)
              for label, values, colour, style in sets if values.size]
  return plotting.plot_curves(curves, path, f'{comparison.name}: overlap {comparison.overlap:.3f}, '
                              f'KL {comparison.kl:.3f}', 'distance', 'density', dpi)


