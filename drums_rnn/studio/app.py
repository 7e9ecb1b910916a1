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
(`performance.hits_to_classes`, `encoding.class_to_pitches`) and come back
through `classes_from_events` / `performance.classes_to_hits`.
"""

import os
import threading

import flask
import numpy as np
from absl import logging
from werkzeug.exceptions import HTTPException

from drums_rnn import encoding
from drums_rnn import generation
from drums_rnn import midi
from drums_rnn import performance
from drums_rnn.errors import DrumsRnnError
from drums_rnn.studio import checks
from drums_rnn.studio.checks import RequestError

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'static')
WARM_BARS = 4
DEFAULTS = {'bars': 2, 'temperature': 1.0, 'qpm': 120, 'swing': 0, 'seed_step': 16}
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
    self.sampler = generation.BatchedSampler(loaded.model, enc)
    self.lock = threading.Lock()

  def warm(self):
    """Traces the sampler (and the humanizer) now, with one 4-bar request each."""
    steps = WARM_BARS * checks.STEPS_PER_BAR
    hits = np.zeros((steps, checks.NUM_VOICES), bool)
    hits[0, 0] = True
    grid, _ = self.generate(hits, 1, 1.0, 0)
    if self.humanizer is not None:
      self.humanize(grid, 120.0, 0)

  def _events(self, hits):
    """Model events (pitch sets per step) of [T, 9] hits."""
    return self.loaded.config.encoding.classes_to_events(performance.hits_to_classes(hits))

  def _hits(self, track):
    return performance.classes_to_hits(self.loaded.config.encoding.classes_from_events(track))

  def generate(self, hits, seed_step, temperature, seed):
    """(hits [T, 9], log-likelihood): steps [0, seed_step) kept, the rest sampled."""
    loaded = self.loaded
    primer = self._events(hits[:seed_step])
    with self.lock:
      tracks, scores = generation.generate_tracks(
          loaded.model, loaded.config, primer, num_outputs=1, num_steps=len(hits),
          temperature=temperature, seed=seed, sampler=self.sampler)
    return self._hits(tracks[0]), float(scores[0])

  def regenerate(self, hits, voices, seed_step, temperature, seed):
    """(hits [T, 9], log-likelihood): `voices` new from seed_step on, everything else kept."""
    loaded = self.loaded
    with self.lock:
      tracks, scores = generation.regenerate_voices(
          loaded.model, loaded.config, self._events(hits), voices, primer_steps=seed_step,
          num_outputs=1, temperature=temperature, seed=seed, sampler=self.sampler)
    return self._hits(tracks[0]), float(scores[0])

  def humanize(self, hits, qpm, seed, temperature=1.0, strength=1.0):
    """(velocities int [T, 9], offsets float [T, 9] in steps) for the hits."""
    if self.humanizer is None:
      raise RequestError('no humanizer loaded')
    with self.lock:
      return self.humanizer.humanize_hits(np.asarray(hits, bool), qpm, level=None, seed=seed,
                                          temperature=temperature, strength=strength)

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
    }


def describe(loaded):
  """A short description of a model for the start-up line (its bundle's first sentence, if any)."""
  text = f'the {loaded.config.name} model {loaded.source}'
  bundle = loaded.bundle
  description = bundle.bundle_details.description if bundle is not None else ''
  first = description.strip().splitlines()[0].split('. ')[0].strip() if description.strip() else ''
  return f'{text} ({first})' if first else text


def midi_file(hits, qpm, velocities=None, offsets=None, swing=0.0):
  """MIDI bytes of a grid: one-step drum notes, 4/4, at `qpm`, through the one MIDI writer.

  Velocities of 0 where there is a hit (not humanized) are written as
  midi.DEFAULT_VELOCITY. Swing delays every odd 16th by swing steps.
  """
  steps, voices = np.nonzero(hits)
  pitches = np.asarray(encoding.DRUM_KIT.decode_pitches)[voices]
  vel = np.full(steps.shape, midi.DEFAULT_VELOCITY, np.int64)
  if velocities is not None:
    given = velocities[steps, voices]
    vel = np.where(given > 0, given, vel)
  shift = np.zeros(steps.shape) if offsets is None else offsets[steps, voices].astype(np.float64)
  shift = shift + swing * (steps % 2)
  sequence = midi.drum_sequence(steps, pitches, performance.STEPS_PER_QUARTER, qpm=qpm, velocities=vel,
                                total_steps=len(hits), time_signature=(4, 4), start_offsets=shift)
  return midi.midi_bytes(sequence)


def _grid_json(hits):
  return np.asarray(hits, np.int64).tolist()


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

  def humanize_option(body):
    """(humanize wanted, qpm), checked before any sampling is done."""
    wanted, qpm = checks.boolean(body, 'humanize', False), checks.qpm(body)
    if wanted and studio.humanizer is None:
      raise RequestError('"humanize" asked for, but no humanizer is loaded')
    return wanted, qpm

  def result(hits, seed, log_likelihood, humanize_it, qpm):
    velocities = None
    if humanize_it:
      velocities = _grid_json(studio.humanize(hits, qpm, seed)[0])
    return flask.jsonify(grid=_grid_json(hits), seed=seed, log_likelihood=log_likelihood,
                         velocities=velocities)

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
    humanize_it, qpm = humanize_option(body)
    generated, score = studio.generate(hits, seed_step, temperature, seed)
    return result(generated, seed, score, humanize_it, qpm)

  @app.post('/api/regenerate')
  def regenerate():
    body = checks.body_of(flask.request)
    hits = checks.grid(body)
    voices = checks.voices(body)
    seed_step = checks.seed_step(body, len(hits), 1)
    temperature = checks.temperature(body)
    seed = checks.seed(body)
    humanize_it, qpm = humanize_option(body)
    generated, score = studio.regenerate(hits, voices, seed_step, temperature, seed)
    return result(generated, seed, score, humanize_it, qpm)

  @app.post('/api/humanize')
  def humanize():
    body = checks.body_of(flask.request)
    hits = checks.grid(body)
    qpm = checks.qpm(body)
    seed = checks.seed(body)
    temperature = checks.temperature(body)
    strength = checks.number(body, 'strength', 1.0, 0.0, 1.0)
    velocities, offsets = studio.humanize(hits, qpm, seed, temperature, strength)
    return flask.jsonify(velocities=_grid_json(velocities),
                         offsets=np.round(np.asarray(offsets, np.float64), 4).tolist(), seed=seed)

  @app.post('/api/midi')
  def midi_download():
    body = checks.body_of(flask.request)
    hits = checks.grid(body)
    qpm = checks.qpm(body)
    velocities = checks.matrix(body, 'velocities', len(hits), 0, 127, integer=True)
    offsets = checks.matrix(body, 'offsets', len(hits), -0.5, 0.5, integer=False)
    swing = checks.number(body, 'swing', 0.0, 0.0, checks.MAX_SWING)
    data = midi_file(hits, qpm, velocities, offsets, swing)
    response = flask.Response(data, mimetype='audio/midi')
    response.headers['Content-Disposition'] = 'attachment; filename=drums_rnn_studio.mid'
    return response

  @app.errorhandler(RequestError)
  def bad_request(error):
    return flask.jsonify(error=str(error)), 400

  @app.errorhandler(HTTPException)
  def http_error(error):
    return flask.jsonify(error=f'{error.code} {error.name}: {error.description}'), error.code

  @app.errorhandler(Exception)
  def internal_error(error):
    logging.exception('studio request %s %s failed', flask.request.method, flask.request.path)
    return flask.jsonify(error=f'internal error: {type(error).__name__}: {error}'), 500

  return app
