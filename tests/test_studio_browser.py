"""drums_rnn_studio end to end in a real headless Chromium (Selenium), with the shipped model.

The real server (werkzeug, threaded, a free port) runs in a thread; the
page is driven like a user would: cells toggled in the primer, Generate,
Regenerate one row, Ctrl-Z, Humanize, Play (the cursor has to move over the
grid), Stop, Download MIDI (the file Chromium saves must be a drum MIDI of
the page's hits, with the humanized velocities). Skips, with the
reason, where Selenium, Chromium or chromedriver are missing. Selenium is
given the local chromedriver, so it never downloads one.
"""

import os
import contextlib
import shutil
import threading
import time

import pytest

from drums_rnn import encoding
from drums_rnn import midi

CHROMIUM = shutil.which('chromium') or ('/usr/bin/chromium' if os.path.isfile('/usr/bin/chromium') else None)
CHROMEDRIVER = shutil.which('chromedriver')
CHROME_ARGS = ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
               '--disable-background-networking', '--disable-component-update', '--disable-sync',
               '--no-first-run', '--window-size=1400,900', '--autoplay-policy=no-user-gesture-required')


def _require_browser():
  webdriver = pytest.importorskip('selenium.webdriver', reason='selenium is not installed')
  if not CHROMIUM:
    pytest.skip('chromium not found (apt-get install chromium)')
  if not CHROMEDRIVER:
    pytest.skip('chromedriver not found (apt-get install chromium-driver)')
  return webdriver


class Gate:
  """WSGI middleware: while held, the API's model requests wait (a slow server, as a test wants it)."""

  def __init__(self, app):
    self.app = app
    self._open = threading.Event()
    self._open.set()
    self._lock = threading.Lock()
    self.waiting = 0

  def __call__(self, environ, start_response):
    if environ['REQUEST_METHOD'] == 'POST' and environ['PATH_INFO'] in GATED:
      with self._lock:
        self.waiting += 1
      try:
        self._open.wait(60)
      finally:
        with self._lock:
          self.waiting -= 1
    return self.app(environ, start_response)

  @contextlib.contextmanager
  def held(self):
    self._open.clear()
    try:
      yield self
    finally:
      self._open.set()

  def wait_for(self, count, timeout=20):
    deadline = time.monotonic() + timeout
    while self.waiting < count:
      assert time.monotonic() < deadline, f'{count} held request(s) expected, {self.waiting} came'
      time.sleep(0.01)


GATED = ('/api/generate', '/api/regenerate', '/api/humanize', '/api/continue')


@pytest.fixture(scope='module')
def studio():
  """(url, app, gate): the real server on a free port, its model requests behind a Gate."""
  _require_browser()  # before the heavy imports
  from drums_rnn import humanize  # pylint: disable=import-outside-toplevel
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel
  from drums_rnn.studio import app as studio_app  # pylint: disable=import-outside-toplevel
  from drums_rnn.studio import server as studio_server  # pylint: disable=import-outside-toplevel
  app = studio_app.create_app(loading.load_model(None), humanize.load_humanizer(None))
  gate = Gate(app.wsgi_app)
  app.wsgi_app = gate
  httpd, url = studio_server.start_in_thread(app)
  yield url, app, gate
  httpd.shutdown()


@pytest.fixture(scope='module')
def server(studio):
  return studio[0]


@pytest.fixture(scope='module')
def gate(studio):
  return studio[2]


@pytest.fixture(scope='module')
def browser(tmp_path_factory):
  webdriver = _require_browser()
  from selenium.webdriver.chrome.service import Service  # pylint: disable=import-outside-toplevel
  os.environ['SE_OFFLINE'] = 'true'  # Selenium Manager: never download a driver
  root = tmp_path_factory.mktemp('chromium')
  downloads = root / 'downloads'
  downloads.mkdir()
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  for arg in CHROME_ARGS:
    options.add_argument(arg)
  options.add_argument(f'--user-data-dir={root / "profile"}')
  options.add_experimental_option('prefs', {
      'download.default_directory': str(downloads), 'download.prompt_for_download': False,
      'download.directory_upgrade': True, 'safebrowsing.enabled': False})
  options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
  driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
  driver.downloads = downloads
  yield driver
  driver.quit()


def _wait(driver, condition, what, timeout=30):
  from selenium.common.exceptions import TimeoutException  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.support.ui import WebDriverWait  # pylint: disable=import-outside-toplevel
  try:
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: condition(d))
  except TimeoutException:
    status = driver.execute_script("const s = document.getElementById('status'); return s && s.textContent")
    raise AssertionError(f'timed out waiting for {what} (the status line: {status!r})') from None


def test_draw_generate_play_and_download_midi_in_chromium(server, browser, tmp_path):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  driver = browser
  driver.get(server)
  body = driver.find_element(By.TAG_NAME, 'body')
  _wait(driver, lambda d: body.get_attribute('data-state') == 'ready', 'the page to load the model')
  assert driver.title == 'drums_rnn studio'
  names = [e.text for e in driver.find_elements(By.CSS_SELECTOR, '.rowname .name')]
  assert names == ['Kick', 'Snare', 'Closed hat', 'Open hat', 'Low tom', 'Mid tom', 'High tom', 'Crash',
                   'Ride']
  seed_step = int(driver.find_element(By.ID, 'seed-step').get_attribute('value'))
  assert seed_step == 16
  assert len(driver.find_elements(By.CSS_SELECTOR, '.cell')) == 9 * 32

  def cell(step, voice):
    return driver.find_element(By.CSS_SELECTOR, f'.cell[data-step="{step}"][data-voice="{voice}"]')

  def hits(selector='.cell.on'):
    return {tuple(x) for x in driver.execute_script(
        'return [...document.querySelectorAll(arguments[0])].map(c => [+c.dataset.step, +c.dataset.voice])',
        selector)}

  # Clear, then draw a primer: kick, snare, hats, and an open hat.
  driver.find_element(By.ID, 'clear').click()
  assert not driver.find_elements(By.CSS_SELECTOR, '.cell.on')
  drawn = [(0, 0), (8, 0), (4, 1), (12, 1), (0, 2), (2, 2), (4, 2), (6, 2), (14, 3)]
  for step, voice in drawn:
    cell(step, voice).click()
  assert hits() == set(drawn)
  assert not driver.find_elements(By.CSS_SELECTOR, '.cell.on.gen')

  # Generate: hits appear after the seed marker, the primer is kept.
  driver.find_element(By.ID, 'lock-seed').click()
  seed = driver.find_element(By.ID, 'seed')
  seed.clear()
  seed.send_keys('5')
  driver.find_element(By.ID, 'generate').click()
  _wait(driver, lambda d: body.get_attribute('data-results') == '1', 'the generate result')
  assert not driver.find_elements(By.CSS_SELECTOR, '#status.error'), driver.find_element(By.ID, 'status').text
  generated = driver.find_elements(By.CSS_SELECTOR, '.cell.on.gen')
  assert generated and all(int(c.get_attribute('data-step')) >= seed_step for c in generated)
  assert hits('.cell.on:not(.gen)') == set(drawn)
  assert 'seed 5' in driver.find_element(By.ID, 'result').text

  # Regenerate the closed hats: every other row stays; Ctrl-Z brings the hats back.
  generated_grid = hits()
  driver.find_elements(By.CSS_SELECTOR, '.rowcheck')[2].click()
  seed.clear()
  seed.send_keys('6')
  driver.find_element(By.ID, 'regenerate').click()
  _wait(driver, lambda d: body.get_attribute('data-results') == '2', 'the regenerate result')
  assert not driver.find_elements(By.CSS_SELECTOR, '#status.error'), driver.find_element(By.ID, 'status').text
  regenerated = hits()
  assert {h for h in regenerated if h[1] != 2} == {h for h in generated_grid if h[1] != 2}
  assert {h for h in regenerated if h[0] < seed_step} == {h for h in generated_grid if h[0] < seed_step}
  from selenium.webdriver.common.action_chains import ActionChains  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.common.keys import Keys  # pylint: disable=import-outside-toplevel
  def ctrl_z():
    ActionChains(driver).key_down(Keys.CONTROL).send_keys('z').key_up(Keys.CONTROL).perform()

  crash = (1, 7) if (1, 7) not in regenerated else (3, 7)
  cell(*crash).click()
  assert hits() == regenerated | {crash}
  ctrl_z()
  assert hits() == regenerated
  ctrl_z()
  assert hits() == generated_grid

  # Humanize: hits shaded by their velocities.
  driver.find_element(By.CSS_SELECTOR, '.switch .slider').click()
  _wait(driver, lambda d: 'humanized' in d.find_element(By.ID, 'status').text, 'humanize')
  shades = driver.execute_script(
      "return [...document.querySelectorAll('.cell.on')].map(c => +c.style.getPropertyValue('--a'))")
  assert len(shades) == len(generated_grid) and all(0 < a <= 1 for a in shades) and len(set(shades)) > 1

  # Play: the cursor walks the grid; Stop ends it.
  driver.find_element(By.ID, 'play').click()
  grid = driver.find_element(By.ID, 'grid')
  seen = set()

  def cursor_moved(d):
    value = grid.get_attribute('data-cursor')
    if value is not None and int(value) >= 0:
      seen.add(int(value))
    return len(seen) >= 3

  _wait(driver, cursor_moved, 'the play cursor to move over three steps', timeout=20)
  assert 'playing' in body.get_attribute('class')
  assert driver.find_elements(By.CSS_SELECTOR, '.cell.cursor')
  driver.find_element(By.ID, 'play').click()
  assert 'playing' not in (body.get_attribute('class') or '')
  assert not driver.find_elements(By.CSS_SELECTOR, '.cell.cursor')

  # Download MIDI: Chromium saves a drum MIDI file of exactly the page's hits.
  page_hits = hits()
  driver.find_element(By.ID, 'midi').click()
  target = driver.downloads / 'drums_rnn_studio.mid'
  _wait(driver, lambda d: target.is_file() and not list(driver.downloads.glob('*.crdownload')),
        'the MIDI download')
  time.sleep(0.2)
  seq = midi.read_midi(str(target))
  pitches = encoding.DRUM_KIT.decode_pitches
  step_seconds = 60.0 / 120 / 4
  notes = {(round(n.start_time / step_seconds), pitches.index(n.pitch)) for n in seq.notes}
  assert all(n.is_drum for n in seq.notes)
  assert len(seq.notes) == len(page_hits) and notes == page_hits
  assert len({n.velocity for n in seq.notes}) > 1  # the humanized velocities
  driver.save_screenshot(str(tmp_path / 'studio.png'))
  assert (tmp_path / 'studio.png').stat().st_size > 10000
  errors = [e for e in driver.get_log('browser') if e['level'] == 'SEVERE']
  assert not errors, errors


# ---------------------------------------------------------------------------------------------
# Helpers for the tests below: one page load each, the same browser and server.


def _open(driver, url):
  """Loads the page afresh (no saved state) and waits for the model info; drains the console log."""
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  driver.get(url)
  driver.execute_script('localStorage.clear()')
  driver.get(url)
  body = driver.find_element(By.TAG_NAME, 'body')
  _wait(driver, lambda d: body.get_attribute('data-state') == 'ready', 'the page to load the model')
  driver.get_log('browser')
  return body


def _cell(driver, step, voice):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  return driver.find_element(By.CSS_SELECTOR, f'.cell[data-step="{step}"][data-voice="{voice}"]')


def _hits(driver):
  return {tuple(x) for x in driver.execute_script(
      "return [...document.querySelectorAll('.cell.on')].map(c => [+c.dataset.step, +c.dataset.voice])")}


def _status(driver):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  return driver.find_element(By.ID, 'status').text


def _idle(driver, what='the page to finish its request'):
  _wait(driver, lambda d: 'busy' not in (d.find_element('tag name', 'body').get_attribute('class') or '')
        and not d.execute_script('return document.body.dataset.pending === "1"'), what)


def _severe(driver):
  return [e for e in driver.get_log('browser') if e['level'] == 'SEVERE']


def _lock_seed(driver, value):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  lock = driver.find_element(By.ID, 'lock-seed')
  if not lock.is_selected():
    lock.click()
  seed = driver.find_element(By.ID, 'seed')
  seed.clear()
  seed.send_keys(str(value))


def _download_midi(driver):
  """The bytes of the MIDI file Chromium saves when Download MIDI is clicked."""
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  for old in driver.downloads.iterdir():
    old.unlink()
  driver.find_element(By.ID, 'midi').click()
  target = driver.downloads / 'drums_rnn_studio.mid'
  _wait(driver, lambda d: target.is_file() and target.stat().st_size > 0
        and not list(driver.downloads.glob('*.crdownload')), 'the MIDI download')
  time.sleep(0.1)
  return target.read_bytes()


def _midi_length_and_notes(data):
  """(length in 16th steps as a DAW reads it: the end of the longest track; notes (start step, pitch, vel, end step))."""
  import io  # pylint: disable=import-outside-toplevel
  import mido  # pylint: disable=import-outside-toplevel
  midi_file = mido.MidiFile(file=io.BytesIO(data))
  step_ticks = midi_file.ticks_per_beat / 4
  length, notes, tempo = 0, [], None
  for track in midi_file.tracks:
    tick, started = 0, {}
    for message in track:
      tick += message.time
      if message.type == 'set_tempo' and tempo is None:
        tempo = mido.tempo2bpm(message.tempo)
      if message.type == 'note_on' and message.velocity > 0:
        started[message.note] = (tick, message.velocity)
      elif message.type in ('note_off', 'note_on') and message.note in started:
        on, velocity = started.pop(message.note)
        notes.append((on / step_ticks, message.note, velocity, tick / step_ticks))
    length = max(length, tick / step_ticks)
  return length, sorted(notes), tempo


# ---------------------------------------------------------------------------------------------
# Wrong or lost results (issue 19): each test failed before its fix.


def test_downloaded_midi_is_exactly_the_grid_long_plain_humanized_and_swung(server, browser):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  driver = browser
  _open(driver, server)
  # The starter: a rock beat in bar 1 of 2, bar 2 empty. The file is 2 bars (32 steps), not 0.94 bar.
  length, notes, _ = _midi_length_and_notes(_download_midi(driver))
  assert length == 32 and notes and max(n[3] for n in notes) <= 32
  # Swing 50% and a hit on the very last step: it starts at 31.5 and is cut at the end, 32 steps.
  _cell(driver, 31, 2).click()
  driver.execute_script("const s = document.getElementById('swing'); s.value = 50;"
                        "s.dispatchEvent(new Event('input'));")
  length, notes, _ = _midi_length_and_notes(_download_midi(driver))
  assert length == 32 and max(n[3] for n in notes) <= 32
  assert any(abs(n[0] - 31.5) < 0.02 and n[1] == 42 for n in notes)
  # Humanized (early and late hits everywhere): still 32 steps.
  _lock_seed(driver, 3)
  driver.find_element(By.CSS_SELECTOR, '.switch .slider').click()
  _wait(driver, lambda d: 'humanized' in _status(d), 'humanize')
  length, notes, _ = _midi_length_and_notes(_download_midi(driver))
  assert length == 32 and max(n[3] for n in notes) <= 32 and min(n[0] for n in notes) >= 0
  assert not _severe(driver)


def test_bars_changed_while_a_generate_runs(server, browser, gate):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.support.ui import Select  # pylint: disable=import-outside-toplevel
  driver = browser
  body = _open(driver, server)
  _lock_seed(driver, 9)
  before = _hits(driver)
  with gate.held():
    driver.find_element(By.ID, 'generate').click()
    gate.wait_for(1)
    Select(driver.find_element(By.ID, 'bars')).select_by_value('4')
  _wait(driver, lambda d: body.get_attribute('data-results') == '1', 'the generate result')
  _idle(driver)
  assert 'failed' not in _status(driver) and not driver.find_elements(By.CSS_SELECTOR, '#status.error'), \
      _status(driver)
  assert len(driver.find_elements(By.CSS_SELECTOR, '.cell')) == 9 * 64
  after = _hits(driver)
  assert {h for h in after if h[0] < 16} == {h for h in before if h[0] < 16}  # the primer kept
  assert any(16 <= h[0] < 32 for h in after)  # the result landed in bars 1-2
  assert not any(h[0] >= 32 for h in after)  # bars 3-4, added while it ran, are empty
  _cell(driver, 60, 0).click()  # the new bars work
  assert (60, 0) in _hits(driver)
  driver.find_element(By.ID, 'generate').click()  # and so does the next Generate
  _wait(driver, lambda d: body.get_attribute('data-results') == '2', 'the second generate')
  assert not driver.find_elements(By.CSS_SELECTOR, '#status.error'), _status(driver)
  assert len(driver.find_elements(By.CSS_SELECTOR, '.cell')) == 9 * 64
  assert not _severe(driver)


def test_cells_painted_while_a_generate_runs_are_kept_and_said(server, browser, gate):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  driver = browser
  body = _open(driver, server)
  _lock_seed(driver, 4)
  assert (2, 7) not in _hits(driver)
  with gate.held():
    driver.find_element(By.ID, 'generate').click()
    gate.wait_for(1)
    _cell(driver, 2, 7).click()   # a crash in the primer
    _cell(driver, 0, 0).click()   # the first kick taken away
  _wait(driver, lambda d: body.get_attribute('data-results') == '1', 'the generate result')
  _idle(driver)
  hits = _hits(driver)
  assert (2, 7) in hits and (0, 0) not in hits
  assert any(h[0] >= 16 for h in hits)
  assert 'kept 2 cells you changed' in _status(driver), _status(driver)
  assert not _severe(driver)


def _velocity_of(driver, step, voice):
  label = _cell(driver, step, voice).get_attribute('aria-label') or ''
  assert 'velocity ' in label, label
  return int(label.split('velocity ')[1].split(',')[0].split(' ')[0])


def test_the_humanize_switch_always_matches_the_grid(server, browser, gate):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  driver = browser
  _open(driver, server)
  switch = driver.find_element(By.ID, 'humanize')
  slider = driver.find_element(By.CSS_SELECTOR, '.switch .slider')

  def humanized_cells():
    return driver.execute_script("return [...document.querySelectorAll('.cell.on')]"
                                 ".filter(c => c.classList.contains('timed')).length")

  # On, then off again while the humanize request runs: off, and the grid and the MIDI plain.
  with gate.held():
    slider.click()
    gate.wait_for(1)
    slider.click()
  _idle(driver)
  time.sleep(0.3)
  assert not switch.is_selected() and humanized_cells() == 0
  _, notes, _ = _midi_length_and_notes(_download_midi(driver))
  assert {n[2] for n in notes} == {100} and all(n[0] == int(n[0]) for n in notes)
  # On: humanized. Undo: the plain grid, and the switch off with it; Redo-less, on again, Clear: off.
  slider.click()
  _wait(driver, lambda d: 'humanized' in _status(d), 'humanize')
  assert switch.is_selected() and humanized_cells() == len(_hits(driver))
  driver.find_element(By.ID, 'undo').click()
  assert not switch.is_selected() and humanized_cells() == 0
  slider.click()
  _wait(driver, lambda d: 'humanized' in _status(d) and humanized_cells() > 0, 'humanize')
  # A hit painted into the humanized grid gets its row's middle velocity, not 100.
  kicks = sorted(_velocity_of(driver, t, 0) for t, v in _hits(driver) if v == 0)
  _cell(driver, 6, 0).click()
  assert _velocity_of(driver, 6, 0) == kicks[(len(kicks) - 1) // 2]
  assert switch.is_selected()
  driver.find_element(By.ID, 'clear').click()
  assert not switch.is_selected()
  assert not _severe(driver)


def test_regenerate_that_changes_nothing_says_so(studio, browser):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.support.ui import Select  # pylint: disable=import-outside-toplevel
  url, app, _ = studio
  driver = browser
  _open(driver, url)
  grid = [[int(t % 8 == 0 or t == 10), int(t % 8 == 4), int(t % 2 == 0 and t < 16)] + [0] * 6
          if t < 16 else [0] * 9 for t in range(32)]  # the page's starter beat
  assert {(t, v) for t in range(32) for v in range(9) if grid[t][v]} == _hits(driver)
  client = app.test_client()
  unchanged = None
  for seed in range(40):  # a seed whose new Crash part, right of the marker, is the old one (none)
    result = client.post('/api/regenerate', json={'grid': grid, 'voices': ['crash'], 'seed_step': 16,
                                                  'temperature': 1.0, 'seed': seed}).get_json()
    if result['grid'] == grid:
      unchanged = seed
      break
  assert unchanged is not None
  regenerate = driver.find_element(By.ID, 'regenerate')
  assert 'right of the primer marker' in regenerate.get_attribute('title')
  _lock_seed(driver, unchanged)
  Select(driver.find_element(By.ID, 'variations')).select_by_value('1')  # one answer, as the probe above
  driver.find_elements(By.CSS_SELECTOR, '.rowcheck')[7].click()
  regenerate.click()
  _wait(driver, lambda d: 'regenerate' in _status(d).lower() and '\u2026' not in _status(d), 'regenerate')
  status = _status(driver)
  assert 'no change' in status and 'right of the primer marker' in status and 'done' not in status, status
  assert not _severe(driver)
