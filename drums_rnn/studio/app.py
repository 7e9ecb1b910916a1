"""The studio's web app: the drum machine page and its JSON API over one loaded model.

Why it is built this way:

* **One compiled sampler, warmed at start-up.** `generation.BatchedSampler`
  is one `tf.function` with an input signature, so it traces once whatever
  the grid length, seed step, temperature or voices; `Studio` creates it
  once and runs one 4-bar generate (and one humanize) before serving, so the
  first click answers as fast as the hundredth (tracing costs seconds).
* **One lock.** The server is threaded (a slow MIDI download must not hold
  up a generate), but the sampler and the humanizer are called under one
  `threading.Lock`: TensorFlow's functions are thread-safe, yet two
  requests running the model at once on a small CPU only make both slower.
  Checking requests and building MIDI happen outside the lock.
* **Errors are JSON.** A bad request answers 400 with {"error": message}
  naming the JSON field at fault (see `checks`, which checks every value
  before the model sees it, so the library's own errors, worded for the
  command line, never reach a client as a 400); anything unexpected answers
  500 with {"error": ...} and is logged, and the server keeps running.

Grids are [T, 9] hits in the order of `encoding.DRUM_VOICE_NAMES`; they
become the model's events (pitch sets) through drum_kit classes
(`encoding.hits_to_classes`, `encoding.class_to_pitches`) and come back
through `classes_from_events` / `encoding.classes_to_hits`.

Controls (a drum_kit_control model): a request's "style", "density" and
"fills" become per-bar values (`checks.controls`), spread over every step
of the track the sampler sees, primer included (`control_values`); a
continuation repeats the grid's per-bar controls over the bars it adds, so
a fill asked for in bar 4 of a 4-bar loop lands on bars 8, 12, ... of the
growing groove. The control values are an input of the compiled sampler,
so they never retrace it; a request without control fields passes none,
exactly as before. "control_strength" (`checks.control_strength`) says how
firmly they are played, as `drums_rnn_generate --control_strength`.
"""

import os
import threading

import flask
import numpy as np
from absl import logging
from werkzeug.exceptions import HTTPException

from drums_rnn import controls as controls_lib
from drums_rnn import encoding
from drums_rnn.language_model import generation
from drums_rnn.errors import DrumsRnnError
from drums_rnn.studio import checks
from drums_rnn.studio import clips
from drums_rnn.studio import guard
from drums_rnn.studio.checks import RequestError

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'static')
WARM_BARS = 4
DEFAULTS = {'bars': 2, 'temperature': 1.0, 'qpm': 120, 'swing': 0, 'seed_step': 16}
MAX_VARIATIONS = 8
EXTENSION = 'drums_rnn_studio'  # app.extensions key of the Studio


class Studio:
  """The model side of the app: generate, regenerate and humanize grids, under one lock.

  Args:
    loaded: a `loading.LoadedModel` of a drum_kit model (9 drum types).
    humanizer: a `humanize.Humanizer`, or None (the Humanize switch is off).
  """

  def __init__(self, loaded, humanizer=None):
    enc = loaded.config.encoding
    if enc.num_drum_types != checks.NUM_VOICES:
      raise DrumsRnnError(f'the studio needs a drum_kit model ({checks.NUM_VOICES} drum types); '
                          f'{loaded.source} is a {loaded.config.name} model')
    self.loaded = loaded
    self.humanizer = humanizer
    self.controls = enc.controls  # a controls.ControlSpec, or None (a model without controls)
    self.sampler = generation.BatchedSampler(loaded.model, enc)
    self.lock = threading.Lock()

  def warm(self):
    """Traces the sampler (and the humanizer) now, with one 4-bar request each (with a model with
    controls, also one asking for a style: the guided sampler is a second compiled loop)."""
    steps = WARM_BARS * checks.STEPS_PER_BAR
    hits = np.zeros((steps, checks.NUM_VOICES), bool)
    hits[0, 0] = True
    (grid, _), = self.generate(hits, 1, 1.0, 0)
    if self.controls is not None:
      self.generate(hits, 1, 1.0, 0, controls=control_values(np.zeros((3, WARM_BARS), np.int64), steps))
    if self.humanizer is not None:
      self.humanize(grid, 120.0, 0)

  def _events(self, hits):
    """Model events (pitch sets per step) of [T, 9] hits."""
    return self.loaded.config.encoding.classes_to_events(encoding.hits_to_classes(hits))

  def _hits(self, track):
    return encoding.classes_to_hits(self.loaded.config.encoding.classes_from_events(track))

  def generate(self, hits, seed_step, temperature, seed, num_outputs=1, controls=None,
               control_strength=controls_lib.DEFAULT_STRENGTH):
    """[(hits [T, 9], log-likelihood)] * num_outputs: steps [0, seed_step) kept, the rest sampled.

    All outputs come from one call of the compiled sampler. `controls`: the
    [3, T] per-step control values of the whole track (a model with
    controls), or None (none asked for), played with `control_strength`
    (`generation.BatchedSampler.sample`).
    """
    loaded = self.loaded
    primer = self._events(hits[:seed_step])
    with self.lock:
      tracks, scores = generation.generate_tracks(
          loaded.model, loaded.config, primer, num_outputs=num_outputs, num_steps=len(hits),
          temperature=temperature, seed=seed, sampler=self.sampler, controls=controls,
          control_strength=control_strength)
    return [(self._hits(track), float(score)) for track, score in zip(tracks, scores)]

  def regenerate(self, hits, voices, seed_step, temperature, seed, num_outputs=1, controls=None,
                 control_strength=controls_lib.DEFAULT_STRENGTH):
    """[(hits [T, 9], log-likelihood)] * num_outputs: `voices` new from seed_step on, all else kept."""
    loaded = self.loaded
    with self.lock:
      tracks, scores = generation.regenerate_voices(
          loaded.model, loaded.config, self._events(hits), voices, primer_steps=seed_step,
          num_outputs=num_outputs, temperature=temperature, seed=seed, sampler=self.sampler, controls=controls,
          control_strength=control_strength)
    return [(self._hits(track), float(score)) for track, score in zip(tracks, scores)]

  def extend(self, hits, num_steps, keep_voices=(), keep_bars=(), temperature=1.0, seed=0, controls=None,
             control_strength=controls_lib.DEFAULT_STRENGTH):
    """The next `num_steps` steps after `hits` ([num_steps, 9]): the groove continued.

    `keep_voices` (names) repeat as they are in `hits` (tiled), the other
    voices are sampled around them; bars in `keep_bars` (indices into the
    new section) repeat `hits`' bars whole. Each run of new bars is one
    sampler call conditioned on everything before it. `controls`: per-bar
    values of `hits`' bars ([3, bars], `checks.controls`) or None; they
    repeat over the new bars as `hits` does.
    """
    hits = np.asarray(hits, bool)
    template = np.resize(hits, (num_steps, hits.shape[1]))  # `hits` repeated
    out = template.copy()
    sampled = [v for v in encoding.DRUM_VOICE_NAMES if v not in keep_voices]
    num_bars = num_steps // checks.STEPS_PER_BAR
    bar, call = 0, 0
    while bar < num_bars and sampled:
      if bar in keep_bars:
        bar += 1
        continue
      end = bar
      while end < num_bars and end not in keep_bars:
        end += 1
      start, stop = bar * checks.STEPS_PER_BAR, end * checks.STEPS_PER_BAR
      context = np.concatenate([hits, out[:start]])
      values = control_values(controls, len(context) + stop - start)
      if len(sampled) == checks.NUM_VOICES:
        padded = np.concatenate([context, np.zeros((stop - start, hits.shape[1]), bool)])
        (new, _), = self.generate(padded, len(context), temperature, seed + call, controls=values,
                                  control_strength=control_strength)
      else:
        (new, _), = self.regenerate(np.concatenate([context, template[start:stop]]), sampled, len(context),
                                    temperature, seed + call, controls=values,
                                    control_strength=control_strength)
      out[start:stop] = new[len(context):]
      bar, call = end, call + 1
    return out

  def humanize(self, hits, qpm, seed, temperature=1.0, strength=1.0, centre=False):
    """(velocities int [T, 9], offsets float [T, 9] in steps) for the hits.

    With `centre` the offsets are moved together so that their mean over the
    hits is 0 (the groove sits on the grid instead of ahead of it).
    """
    if self.humanizer is None:
      raise RequestError('no humanizer loaded')
    hits = np.asarray(hits, bool)
    with self.lock:
      velocities, offsets = self.humanizer.humanize_hits(hits, qpm, level=None, seed=seed,
                                                         temperature=temperature, strength=strength)
    if centre and hits.any():
      offsets = np.where(hits, offsets - offsets[hits].mean(), 0.0)
      offsets = np.clip(offsets, -0.5, 0.4999).astype(np.float32)
    return velocities, offsets

  def model_info(self):
    loaded = self.loaded
    return {
        'config': loaded.config.name,
        'source': loaded.source,
        'voices': list(encoding.DRUM_VOICE_NAMES),
        'voice_labels': list(encoding.DRUM_CLASS_NAMES),
        'pitches': list(loaded.config.encoding.decode_pitches),
        'steps_per_bar': checks.STEPS_PER_BAR,
        'max_bars': checks.MAX_BARS,
        'humanizer': self.humanizer is not None,
        'defaults': dict(DEFAULTS),
        'controls': None if self.controls is None else {
            'styles': list(self.controls.styles),
            'density_bins': self.controls.density_bin_names(),  # hits a bar of bin 0, 1, ...
            'density_edges': list(self.controls.density_edges),
            'default_strength': controls_lib.DEFAULT_STRENGTH,
            'max_strength': checks.MAX_CONTROL_STRENGTH,
        },
    }


def control_values(per_bar, num_steps):
  """[3, num_steps] per-step control values of per-bar ones ([3, bars], repeated when the track is longer).

  None (no control asked for) stays None.
  """
  if per_bar is None:
    return None
  per_bar = np.asarray(per_bar, np.int64)
  num_bars = -(-num_steps // checks.STEPS_PER_BAR)
  repeats = -(-num_bars // per_bar.shape[1])
  bars = np.tile(per_bar, (1, repeats))[:, :num_bars]
  return controls_lib.per_step(num_steps, checks.STEPS_PER_BAR, style=bars[controls_lib.STYLE],
                               fill=bars[controls_lib.FILL], density=bars[controls_lib.DENSITY])


def describe(loaded):
  """A short description of a model for the start-up line (its bundle's first sentence, if any)."""
  text = f'the {loaded.config.name} model {loaded.source}'
  bundle = loaded.bundle
  description = bundle.bundle_details.description if bundle is not None else ''
  first = description.strip().splitlines()[0].split('. ')[0].strip() if description.strip() else ''
  return f'{text} ({first})' if first else text


def _grid_json(hits):
  return np.asarray(hits, np.int64).tolist()


def _offsets_json(offsets):
  return np.round(np.asarray(offsets, np.float64), 4).tolist()


def create_app(loaded, humanizer=None, warm=True):
  """The Flask app serving the page and the API over `loaded` (and `humanizer`).

  With warm=True (the default) the sampler is compiled and run once before
  this returns, so requests never pay for tracing. The Studio is kept in
  `app.extensions['drums_rnn_studio']`.
  """
  studio = Studio(loaded, humanizer)
  if warm:
    studio.warm()
  app = flask.Flask(__name__, static_folder=STATIC_DIR, static_url_path='/static')
  app.extensions[EXTENSION] = studio
  app.json.sort_keys = False
  guard.install(app)

  def humanize_options(body):
    """The humanize fields of a generate or regenerate: None (not asked for) or a dict of arguments."""
    if not checks.boolean(body, 'humanize', False):
      checks.qpm(body)  # checked all the same
      return None
    if studio.humanizer is None:
      raise RequestError('"humanize" asked for, but no humanizer is loaded')
    return humanize_fields(body, 'humanize_temperature')

  def humanize_fields(body, temperature_name):
    return {'qpm': checks.qpm(body),
            'temperature': checks.number(body, temperature_name, 1.0, 0.0, checks.MAX_TEMPERATURE,
                                         low_open=True),
            'strength': checks.number(body, 'strength', 1.0, 0.0, 1.0),
            'centre': checks.boolean(body, 'centre', False)}

  def humanized(hits, seed, options):
    velocities, offsets = studio.humanize(hits, options['qpm'], seed, options['temperature'],
                                          options['strength'], options['centre'])
    return _grid_json(velocities), _offsets_json(offsets)

  def results(source, outputs, seed, options):
    """The answer of a generate or regenerate: the first output at the top, every one in "variations"."""
    variations = []
    for hits, score in outputs:
      velocities = offsets = None
      if options is not None:
        velocities, offsets = humanized(hits, seed, options)
      variations.append({'grid': _grid_json(hits), 'log_likelihood': score, 'velocities': velocities,
                         'offsets': offsets, 'changed': bool(not np.array_equal(hits, source))})
    first = variations[0]
    return flask.jsonify(grid=first['grid'], seed=seed, log_likelihood=first['log_likelihood'],
                         velocities=first['velocities'], offsets=first['offsets'], changed=first['changed'],
                         variations=variations)

  @app.get('/')
  def index():
    return flask.send_from_directory(STATIC_DIR, 'index.html')

  @app.get('/api/model')
  def model():
    return flask.jsonify(studio.model_info())

  @app.post('/api/generate')
  def generate():
    body = checks.body_of(flask.request)
    hits = checks.grid(body)
    seed_step = checks.seed_step(body, len(hits))
    temperature = checks.temperature(body)
    seed = checks.seed(body)
    count = checks.integer(body, 'variations', 1, 1, MAX_VARIATIONS)
    values = control_values(checks.controls(body, studio.controls, len(hits) // checks.STEPS_PER_BAR), len(hits))
    control_strength = checks.control_strength(body)
    options = humanize_options(body)
    generated = studio.generate(hits, seed_step, temperature, seed, count, values, control_strength)
    return results(hits, generated, seed, options)

  @app.post('/api/regenerate')
  def regenerate():
    body = checks.body_of(flask.request)
    hits = checks.grid(body)
    voices = checks.voices(body)
    seed_step = checks.seed_step(body, len(hits), 1)
    temperature = checks.temperature(body)
    seed = checks.seed(body)
    count = checks.integer(body, 'variations', 1, 1, MAX_VARIATIONS)
    values = control_values(checks.controls(body, studio.controls, len(hits) // checks.STEPS_PER_BAR), len(hits))
    control_strength = checks.control_strength(body)
    options = humanize_options(body)
    generated = studio.regenerate(hits, voices, seed_step, temperature, seed, count, values, control_strength)
    return results(hits, generated, seed, options)

  @app.post('/api/continue')
  def continue_groove():
    body = checks.body_of(flask.request)
    hits = checks.grid(body)
    bars = checks.integer(body, 'bars', len(hits) // checks.STEPS_PER_BAR, 1, checks.MAX_BARS)
    keep_voices = checks.voices(body, 'keep_voices', allow_empty=True)
    keep_bars = checks.bar_indices(body, 'keep_bars', bars)
    temperature = checks.temperature(body)
    seed = checks.seed(body)
    per_bar = checks.controls(body, studio.controls, len(hits) // checks.STEPS_PER_BAR)
    control_strength = checks.control_strength(body)
    options = humanize_options(body)
    new = studio.extend(hits, bars * checks.STEPS_PER_BAR, keep_voices, keep_bars, temperature, seed, per_bar,
                        control_strength)
    velocities = offsets = None
    if options is not None:
      # Humanized in the context of what plays before it, so the bar line does not jump.
      both_v, both_o = humanized(np.concatenate([hits, new]), seed, options)
      velocities, offsets = both_v[len(hits):], both_o[len(hits):]
    return flask.jsonify(grid=_grid_json(new), seed=seed, velocities=velocities, offsets=offsets)

  @app.post('/api/humanize')
  def humanize():
    body = checks.body_of(flask.request)
    hits = checks.grid(body)
    seed = checks.seed(body)
    options = humanize_fields(body, 'temperature')
    velocities, offsets = humanized(hits, seed, options)
    return flask.jsonify(velocities=velocities, offsets=offsets, seed=seed)

  @app.post('/api/clip')
  def clip():
    body = checks.body_of(flask.request)
    data = checks.base64_bytes(body, 'midi', checks.MAX_CLIP_BYTES)
    return flask.jsonify(clips.read_clip(data))

  @app.post('/api/midi')
  def midi_download():
    body = checks.body_of(flask.request)
    hits = checks.grid(body)
    qpm = checks.qpm(body)
    velocities = checks.matrix(body, 'velocities', len(hits), 0, 127, integer=True)
    offsets = checks.matrix(body, 'offsets', len(hits), -0.5, 0.5, integer=False)
    swing = checks.number(body, 'swing', 0.0, 0.0, checks.MAX_SWING)
    swing_unit = checks.choice(body, 'swing_unit', clips.SWING_UNITS, 16)
    data = clips.grid_midi(hits, qpm, velocities, offsets, swing, swing_unit)
    response = flask.Response(data, mimetype='audio/midi')
    response.headers['Content-Disposition'] = 'attachment; filename=drums_rnn_studio.mid'
    return response

  @app.errorhandler(RequestError)
  def bad_request(error):
    return flask.jsonify(error=str(error)), 413 if isinstance(error, checks.BodyTooLarge) else 400

  @app.errorhandler(HTTPException)
  def http_error(error):
    return flask.jsonify(error=f'{error.code} {error.name}: {error.description}'), error.code

  @app.errorhandler(Exception)
  def internal_error(error):
    logging.exception('studio request %s %s failed', flask.request.method, flask.request.path)
    return flask.jsonify(error=f'internal error: {type(error).__name__}: {error}'), 500

  return app
