"""Do the controls work? A drum_kit_control model measured against real drumming (issue "Grooves on request").

Everything is judged by frozen measures made from real drumming only -- the
style classifier of 2-bar windows (:mod:`drums_rnn.measure.style_classifier`),
the fill detector (:mod:`drums_rnn.measure.fill_detector`), hits a bar -- on
the Groove MIDI Dataset's test split (Gillick et al. 2019, Magenta; CC BY
4.0), and every figure of the model is set beside the same model with its
controls disabled (same primers, same seeds):

* **style**: per style of the classifier (rock, latin, funk, jazz, hiphop),
  `num_outputs` 8-bar grooves from a one-kick primer with only the style
  given; the balanced accuracy of the classifier's verdicts on their 2-bar
  windows (real test windows: the classifier's own figure), each style's
  recall, hi-hat / ride / toms / syncopation a bar beside the real test
  beats of that style, and how varied the windows are (the share of
  distinct windows, the mean Jaccard distance between windows' hit grids);
* **fills**: 8-bar grooves asked for fills at bars 4 and 8 (the other bars
  asked for none): how often the detector calls those bars fills and the
  others, and toms a bar in each;
* **density**: grooves whose primer (2 bars of a real test beat) is of
  another density than the bin asked for: Spearman's rank correlation
  between the bin asked for and the hits a bar played after the primer;
* **perplexity** of the test split's tracks with every control disabled and
  with their true labels (style from info.csv, fills from the detector,
  density from each bar).

Real test beats and test fills are reported apart: fills are where toms live.
"""

import dataclasses
import json
from typing import Dict

import numpy as np
from absl import logging
from scipy import stats

from drums_rnn import configs
from drums_rnn import controls as controls_lib
from drums_rnn import files
from drums_rnn import midi
from drums_rnn.data import extraction
from drums_rnn.data import groove
from drums_rnn.errors import ArgumentError
from drums_rnn.language_model import generation
from drums_rnn.measure import bars as bars_lib
from drums_rnn.measure import fill_detector as fill_detector_lib
from drums_rnn.measure import labels as labels_lib
from drums_rnn.measure import scoring
from drums_rnn.measure import style_classifier as style_classifier_lib

STEPS_PER_BAR = bars_lib.STEPS_PER_BAR
NUM_BARS = 8
FILL_BARS = (4, 8)
PRIMER = [frozenset({36})]  # one kick: it tells nothing of a style
DENSITY_PRIMER_BARS = 2
DENSITY_BARS = 4  # generated after the primer
FEATURES = ('hihat', 'ride', 'toms', 'syncopation')
_COLUMNS = {name: i for i, name in enumerate(bars_lib.BAR_FEATURE_NAMES)}


def bar_figures(classes) -> Dict[str, np.ndarray]:
  """Per bar of a track: hi-hat hits (closed + open), ride, toms, syncopation."""
  features = bars_lib.bar_features(classes)
  return {'hihat': features[:, _COLUMNS['hits_closed_hihat']] + features[:, _COLUMNS['hits_open_hihat']],
          'ride': features[:, _COLUMNS['hits_ride']], 'toms': features[:, _COLUMNS['toms']],
          'syncopation': features[:, _COLUMNS['syncopation']]}


def _means(tracks) -> Dict[str, float]:
  per_bar = [bar_figures(t) for t in tracks]
  return {name: round(float(np.mean(np.concatenate([p[name] for p in per_bar]))), 3)
          for name in FEATURES} if per_bar else {}


def variety(tracks) -> Dict[str, float]:
  """How varied the 2-bar windows of `tracks` are: share of distinct ones, mean Jaccard distance."""
  windows = []
  for track in tracks:
    bars = bars_lib.split_bars(track)
    windows.extend(bars[:bars.shape[0] // 2 * 2].reshape(-1, 2 * STEPS_PER_BAR * bars_lib.NUM_DRUM_TYPES))
  if len(windows) < 2:
    return {'distinct_windows': float('nan'), 'mean_jaccard_distance': float('nan')}
  grid = np.stack(windows).astype(bool)
  distinct = len({w.tobytes() for w in grid}) / len(grid)
  inter = grid.astype(np.float32) @ grid.T.astype(np.float32)
  sizes = grid.sum(axis=1).astype(np.float32)
  union = sizes[:, None] + sizes[None, :] - inter
  jaccard = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
  upper = np.triu_indices(len(grid), k=1)
  return {'distinct_windows': round(distinct, 3),
          'mean_jaccard_distance': round(float(np.mean(1.0 - jaccard[upper])), 3)}


@dataclasses.dataclass
class _Context:
  loaded: object
  spec: controls_lib.ControlSpec
  sampler: generation.BatchedSampler
  classifier: style_classifier_lib.StyleClassifier
  detector: fill_detector_lib.FillDetector
  num_outputs: int
  temperature: float
  seed: int
  control_strength: float = controls_lib.DEFAULT_STRENGTH

  def generate(self, primer, num_steps, values, seed_offset):
    """[num_outputs, num_steps] classes: the primer then the sampled steps."""
    enc = self.loaded.config.encoding
    primer_classes = enc.classes_from_events(primer)
    sampled, _ = self.sampler.sample(primer_classes, self.num_outputs, num_steps - len(primer),
                                     self.temperature, seed=self.seed + seed_offset, controls=values,
                                     control_strength=self.control_strength)
    return np.concatenate([np.tile(primer_classes, (self.num_outputs, 1)), sampled], axis=1)


def _style(ctx, real_beats):
  result = {'model': {}, 'disabled': {}}
  steps = NUM_BARS * STEPS_PER_BAR
  for mode in result:
    recalls, by_style = {}, {}
    for i, style in enumerate(style_classifier_lib.STYLES):
      values = (controls_lib.requested(ctx.spec, steps, STEPS_PER_BAR, style=style) if mode == 'model'
                else None)
      tracks = ctx.generate(PRIMER, steps, values, 100 + i)
      verdicts = [v for t in tracks for v in ctx.classifier.predict(t)]
      recalls[style] = round(float(np.mean([v == style for v in verdicts])), 3)
      by_style[style] = {'recall': recalls[style], **_means(tracks), **variety(tracks)}
    result[mode] = {'balanced_accuracy': round(float(np.mean(list(recalls.values()))), 3),
                    'styles': by_style}
  result['real_test_beats'] = {
      style: {**_means([t.pattern.classes for t in real_beats if t.style == style]),
              **variety([t.pattern.classes for t in real_beats if t.style == style])}
      for style in style_classifier_lib.STYLES}
  result['real_test_windows_balanced_accuracy'] = ctx.classifier.figures.get('test', {}).get(
      'balanced_accuracy')
  return result


def _fills(ctx):
  steps = NUM_BARS * STEPS_PER_BAR
  is_fill_bar = np.isin(np.arange(1, NUM_BARS + 1), FILL_BARS)
  result = {}
  for mode in ('model', 'disabled'):
    values = (controls_lib.requested(ctx.spec, steps, STEPS_PER_BAR, fill_bars=FILL_BARS)
              if mode == 'model' else None)
    tracks = ctx.generate(PRIMER, steps, values, 200)
    detected = np.stack([ctx.detector.label_bars(t) for t in tracks])
    toms = np.stack([bar_figures(t)['toms'] for t in tracks])
    result[mode] = {
        'detected_in_fill_bars': round(float(detected[:, is_fill_bar].mean()), 3),
        'detected_in_other_bars': round(float(detected[:, ~is_fill_bar].mean()), 3),
        'toms_in_fill_bars': round(float(toms[:, is_fill_bar].mean()), 3),
        'toms_in_other_bars': round(float(toms[:, ~is_fill_bar].mean()), 3)}
  return result


def _density(ctx, real_beats):
  primer_steps = DENSITY_PRIMER_BARS * STEPS_PER_BAR
  steps = primer_steps + DENSITY_BARS * STEPS_PER_BAR
  primers = []
  for track in real_beats:
    classes = track.pattern.classes[:primer_steps]
    if classes.shape[0] == primer_steps:
      hits = bars_lib.hits_per_bar(classes).mean()
      primers.append((int(ctx.spec.density_bin(hits)), classes))
  if not primers:
    raise ArgumentError('no real test beat is long enough for a density primer', 'groove_dir')
  result = {}
  for mode in ('model', 'disabled'):
    asked, played = [], []
    for bin_ in range(ctx.spec.num_density_bins):
      others = [c for b, c in primers if abs(b - bin_) >= 2] or [c for b, c in primers if b != bin_]
      for k, primer_classes in enumerate(others[:ctx.num_outputs]):
        values = (controls_lib.requested(ctx.spec, steps, STEPS_PER_BAR, density=bin_)
                  if mode == 'model' else None)
        sampled, _ = ctx.sampler.sample(primer_classes, 1, steps - primer_steps, ctx.temperature,
                                        seed=ctx.seed + 300 + 37 * bin_ + k, controls=values,
                                        control_strength=ctx.control_strength)
        generated = np.concatenate([primer_classes, sampled[0]])[primer_steps:]
        asked.append(bin_)
        played.append(float(bars_lib.hits_per_bar(generated).mean()))
    rho = stats.spearmanr(asked, played).statistic
    means = {str(b): round(float(np.mean([p for a, p in zip(asked, played) if a == b])), 2)
             for b in range(ctx.spec.num_density_bins)}
    result[mode] = {'spearman': round(float(rho), 3), 'hits_a_bar_by_bin_asked': means,
                    'samples': len(asked)}
  return result


def _perplexity(ctx, groove_dir, reference=None):
  """Test perplexity with every control disabled and with the true labels, on two sets of windows:
  the plain drum_kit recipe's (tracks of 7 bars or more cut into 512-step windows: what the shipped
  model's figure is measured on) and every track of two steps or more (the fill snippets too).
  `reference` (a plain loaded model, e.g. the shipped one) is scored on the same windows."""
  truth = labels_lib.TrackControls(ctx.spec, labels_lib.groove_styles(groove_dir), 0, 0.0)
  sequences = [(path, midi.read_midi(path)) for path in groove.split_files(groove_dir, 'test')]
  result = {}
  for windows, min_bars in (('drum_kit_windows', configs.get_config('drum_kit').min_bars),
                            ('all_tracks', ctx.loaded.config.min_bars)):
    tracks, given = [], []
    for path, sequence in sequences:
      for track in extraction.extract_drum_tracks(sequence, ctx.loaded.config, min_bars=min_bars,
                                                  split_long_tracks=True):
        if len(track) >= 2:
          tracks.append(track.classes)
          given.append(truth(track.classes, path, f'{path}@{track.start_step}'))
    figures = {}
    models = [('disabled', ctx.loaded, None), ('true_labels', ctx.loaded, given)]
    if reference is not None:
      models.append(('reference', reference, None))
    for mode, loaded, values in models:
      likelihood = scoring.model_likelihood(loaded.model, loaded.config, tracks,
                                            f'test {windows} ({mode})', controls=values)
      figures[mode] = round(likelihood.perplexity, 4)
    result[windows] = dict(figures, tracks=len(tracks), steps=int(sum(len(t) - 1 for t in tracks)))
  if reference is not None:
    result['reference_model'] = reference.source
  return result


def real_references(tracks):
  """Toms, syncopation, hi-hat and ride a bar of real beats and real fills, apart (GrooveTracks)."""
  return {kind: {**_means([t.pattern.classes for t in tracks if t.beat_type == kind]),
                 'tracks': sum(t.beat_type == kind for t in tracks)}
          for kind in ('beat', 'fill')}


def evaluate_controls(loaded, groove_dir, num_outputs=32, seed=0, temperature=1.0, output_json=None,
                      reference=None, control_strength=controls_lib.DEFAULT_STRENGTH):
  """The figures of the module docstring, as a dict (and a JSON file when `output_json` is given).

  `control_strength`: how firmly the controls are played
  (`generation.BatchedSampler.sample`); the disabled columns are unchanged by it.

  `reference`: a plain model (e.g. the shipped drum_kit) whose test perplexity is set beside the
  controlled model's, on the same windows.
  """
  spec = loaded.config.encoding.controls
  if spec is None:
    raise ArgumentError(f'the {loaded.config.name} model has no controls to evaluate: give a '
                        'drum_kit_control model', 'bundle_file')
  if num_outputs < 2:
    raise ArgumentError(f'{{num_outputs}} must be at least 2, got {num_outputs}', 'num_outputs')
  ctx = _Context(loaded, spec, generation.BatchedSampler(loaded.model, loaded.config.encoding),
                 style_classifier_lib.load(), fill_detector_lib.load(), num_outputs, temperature, seed,
                 control_strength)
  tracks, _ = labels_lib.read_groove_tracks(groove_dir, 'test')
  real_beats = [t for t in tracks if t.beat_type == 'beat']
  report = {'model': loaded.source, 'config': loaded.config.name, 'num_outputs': num_outputs,
            'seed': seed, 'temperature': temperature, 'control_strength': control_strength,
            'credit': groove.CREDIT}
  for name, measure in (('style', lambda: _style(ctx, real_beats)), ('fills', lambda: _fills(ctx)),
                        ('density', lambda: _density(ctx, real_beats)),
                        ('perplexity', lambda: _perplexity(ctx, groove_dir, reference)),
                        ('real_test', lambda: real_references(tracks))):
    logging.info('measuring %s', name)
    report[name] = measure()
  if output_json:
    files.write_text_atomic(output_json, json.dumps(report, indent=1, sort_keys=True) + '\n')
  return report


def format_report(report) -> str:
  """The figures as Markdown tables (the README's)."""
  style, fills, density, ppl = (report['style'], report['fills'], report['density'],
                                report['perplexity'])
  lines = [f'| | with controls (strength {report.get("control_strength", 1.0)}) | controls disabled |',
           '|---|---|---|',
           f'| style: balanced accuracy (real test windows {style["real_test_windows_balanced_accuracy"]}) '
           f'| {style["model"]["balanced_accuracy"]} | {style["disabled"]["balanced_accuracy"]} |']
  for name in style_classifier_lib.STYLES:
    lines.append(f'| style recall: {name} | {style["model"]["styles"][name]["recall"]} | '
                 f'{style["disabled"]["styles"][name]["recall"]} |')
  for key, text in (('detected_in_fill_bars', 'fills: detected in bars 4 and 8'),
                    ('detected_in_other_bars', 'fills: detected in the other bars'),
                    ('toms_in_fill_bars', 'toms a bar in bars 4 and 8'),
                    ('toms_in_other_bars', 'toms a bar in the other bars')):
    lines.append(f'| {text} | {fills["model"][key]} | {fills["disabled"][key]} |')
  lines.append(f'| density: Spearman (bin asked, hits a bar played) | {density["model"]["spearman"]} | '
               f'{density["disabled"]["spearman"]} |')
  for windows, text in (('drum_kit_windows', 'the drum_kit recipe\'s test windows'),
                        ('all_tracks', 'every test track, fills too')):
    figures = ppl[windows]
    shipped = f'; plain shipped model {figures["reference"]}' if 'reference' in figures else ''
    lines.append(f'| test perplexity on {text} ({figures["tracks"]}){shipped} | '
                 f'{figures["true_labels"]} (true labels) | {figures["disabled"]} |')
  lines += ['', '| style | ' + ' | '.join(f'{f} (model / real beats)' for f in FEATURES) +
            ' | distinct windows (model / real) |', '|---' * (len(FEATURES) + 2) + '|']
  for name in style_classifier_lib.STYLES:
    model, real = style['model']['styles'][name], style['real_test_beats'][name]
    lines.append(f'| {name} | ' + ' | '.join(f'{model.get(f)} / {real.get(f)}' for f in FEATURES) +
                 f' | {model["distinct_windows"]} / {real["distinct_windows"]} |')
  return '\n'.join(lines) + '\n'
