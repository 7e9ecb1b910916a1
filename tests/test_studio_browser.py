"""drums_rnn_studio end to end in a real headless Chromium (Selenium), with the shipped model.

The real server (werkzeug, threaded, a free port) runs in a thread; the
page is driven like a user would: cells toggled in the primer, Generate,
Regenerate one row, Ctrl-Z, Humanize, Play (the cursor has to move over the
grid), Stop, Download MIDI (the file Chromium saves must be a drum MIDI of
the page's hits, with the humanized velocities). A second server over a
tiny drum_kit_control model checks the groove controls (style, density,
per-bar fills: sent, kept, reachable by keyboard); the plain page shows
none of them. Skips, with the
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


# Installed before every page load (DevTools protocol): a Web MIDI that records every message sent, with
# its timestamp, to two outputs, and an input the test plays messages into; and a CSP violation log.
FAKE_MIDI = r'''
(() => {
  const sent = [];
  window.__midiSent = sent;
  const output = (id, name) => ({
    id, name, manufacturer: 'test', type: 'output', state: 'connected', connection: 'open',
    send(data, timestamp) {
      sent.push({ port: id, data: Array.from(data), ts: timestamp === undefined ? performance.now() : timestamp,
                  at: performance.now() });
    },
    clear() {}, open() { return Promise.resolve(this); }, close() { return Promise.resolve(this); },
  });
  const outputs = new Map([['out-1', output('out-1', 'Fake DAW In')], ['out-2', output('out-2', 'Fake Synth')]]);
  const input = { id: 'in-1', name: 'Fake DAW Clock', manufacturer: 'test', type: 'input', state: 'connected',
                  connection: 'open', onmidimessage: null };
  const inputs = new Map([['in-1', input]]);
  window.__midiInject = (data, timeStamp) => {
    if (input.onmidimessage) input.onmidimessage({ data: Uint8Array.from(data), timeStamp });
  };
  // Plays [[time, bytes], ...] into the input, each when its time comes, stamped with that exact time.
  window.__midiPlay = (events) => {
    for (const [time, data] of events) {
      setTimeout(() => window.__midiInject(data, time), Math.max(0, time - performance.now()));
    }
  };
  const access = { inputs, outputs, sysexEnabled: false, onstatechange: null };
  Object.defineProperty(navigator, 'requestMIDIAccess', { value: () => Promise.resolve(access), configurable: true });
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation',
                            (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
})();
'''


@pytest.fixture(scope='module')
def studio():
  """(url, app, gate): the real server on a free port, its model requests behind a Gate."""
  _require_browser()  # before the heavy imports
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel
  from drums_rnn.studio import app as studio_app  # pylint: disable=import-outside-toplevel
  from drums_rnn.studio import server as studio_server  # pylint: disable=import-outside-toplevel
  app = studio_app.create_app(loading.load_model(None), loading.load_humanizer(None))
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
  driver.execute_cdp_cmd('Page.addScriptToEvaluateOnNewDocument', {'source': FAKE_MIDI})
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
  """Console errors and Content-Security-Policy violations of the page since the last call."""
  csp = driver.execute_script('return (window.__cspViolations || []).splice(0)')
  return [e for e in driver.get_log('browser') if e['level'] == 'SEVERE'] + csp


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
    result = client.post('/api/regenerate', base_url=url,  # the server's own address: others are refused
                         json={'grid': grid, 'voices': ['crash'], 'seed_step': 16, 'temperature': 1.0,
                               'seed': seed}).get_json()
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


# ---------------------------------------------------------------------------------------------
# Where producers work (issue 19): MIDI out and in, endless play, clips, files, variations, feel, the grid.


def _set(driver, element_id, value, event='input'):
  """Sets a control's value as a user would (its input or change event fires)."""
  driver.execute_script(
      'const e = document.getElementById(arguments[0]); e.value = arguments[1];'
      'e.dispatchEvent(new Event(arguments[2], {bubbles: true}));', element_id, str(value), event)


def _clear_grid(driver):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  driver.find_element(By.ID, 'clear').click()
  assert not _hits(driver)


def _page_pattern(driver):
  return driver.execute_script('const s = window.studio.state;'
                               'return {grid: s.grid, velocities: s.velocities, offsets: s.offsets, bars: s.bars}')


def _enable_midi(driver, output='Fake DAW In'):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.support.ui import Select  # pylint: disable=import-outside-toplevel
  button = driver.find_element(By.ID, 'midi-enable')
  if button.is_displayed():
    button.click()
  _wait(driver, lambda d: d.find_element(By.ID, 'midi-out').is_enabled(), 'the MIDI ports')
  if output:
    Select(driver.find_element(By.ID, 'midi-out')).select_by_visible_text(output)


def _sent(driver, clear=False):
  """The messages the fake MIDI output 'Fake DAW In' got: [(timestamp ms, bytes)] in the order sent."""
  messages = driver.execute_script('return window.__midiSent' + ('.splice(0)' if clear else ''))
  return [(m['ts'], tuple(m['data'])) for m in messages if m['port'] == 'out-1']


def _play_for(driver, seconds):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  driver.find_element(By.ID, 'play').click()
  time.sleep(seconds)
  driver.find_element(By.ID, 'play').click()
  time.sleep(0.25)  # the last note-offs and all-notes-off


def _check_notes(notes, expected, step_ms, what, tolerance=1.0):
  """Every note-on is an expected (step, pitch, velocity, delay in steps) of some loop, at its time.

  The loop's start T0 is taken from the first note (an expected note at that step); returns the loops seen.
  """
  assert notes, f'no notes ({what})'
  first_ts, first = notes[0]
  candidates = [e for e in expected if e[1] == first[1]]
  assert candidates, (what, first)
  loop_ms = step_ms * LOOP_STEPS[0]
  start = None
  for cand in candidates:
    t0 = first_ts - (cand[0] + cand[3]) * step_ms
    if all(any(abs(ts - (t0 + k * loop_ms + (e[0] + e[3]) * step_ms)) < tolerance and e[1] == data[1]
               and e[2] == data[2] for e in expected for k in range(0, 8)) for ts, data in notes):
      start = t0
      break
  assert start is not None, (what, [(round(ts - first_ts, 2), data) for ts, data in notes][:20], expected)
  loops = {round((ts - start) // loop_ms) for ts, _ in notes}
  return loops


LOOP_STEPS = [16]


def test_web_midi_out_notes_velocities_timing_swing_mute_map_and_all_notes_off(server, browser):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.support.ui import Select  # pylint: disable=import-outside-toplevel
  driver = browser
  _open(driver, server)
  _enable_midi(driver)
  assert driver.find_element(By.ID, 'midi-channel').get_attribute('value') == '10'
  Select(driver.find_element(By.ID, 'bars')).select_by_value('1')
  _set(driver, 'tempo', 240)
  _clear_grid(driver)
  drawn = [(0, 0), (4, 1), (8, 0), (12, 1), (2, 2), (3, 2), (10, 2), (15, 8)]
  for step, voice in drawn:
    _cell(driver, step, voice).click()
  # The snare on step 4 louder by the wheel (+4 a notch), the ride quieter by the keyboard (-8).
  driver.execute_script("arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: -100, bubbles: true, cancelable: true}))",
                        _cell(driver, 4, 1))
  _cell(driver, 15, 8).click()
  _cell(driver, 15, 8).click()  # off and on again: focused, velocity 100
  _cell(driver, 15, 8).send_keys('-')
  assert _velocity_of(driver, 4, 1) == 104 and _velocity_of(driver, 15, 8) == 92
  _set(driver, 'swing', 20)
  _set(driver, 'midi-latency', 15, 'change')
  gm = [36, 38, 42, 46, 45, 48, 50, 49, 51]
  step_ms = 60000 / 240 / 4

  def expected(pitches, swing=0.2, unit=16, offsets=None, velocities=None):
    rows = []
    for step, voice in drawn:
      delay = (swing if unit == 16 and step % 2 else 0) if unit == 16 else (
          {0: 0, 1: swing, 2: 2 * swing, 3: swing}[step % 4])
      if offsets is not None:
        delay += offsets[step][voice]
      velocity = velocities[step][voice] if velocities is not None else {(4, 1): 104, (15, 8): 92}.get((step, voice), 100)
      rows.append((step, pitches[voice], velocity, delay))
    return rows

  _sent(driver, clear=True)
  _play_for(driver, 1.5)
  sent = _sent(driver, clear=True)
  notes = [(ts - 15, d) for ts, d in sent if d[0] == 0x99 and d[2] > 0]
  loops = _check_notes(notes, expected(gm), step_ms, 'GM, swing 20% on 16ths, latency 15 ms')
  assert len(loops) >= 1 and len(notes) >= len(drawn)
  offs = [d for _, d in sent if d[0] == 0x89]
  assert len(offs) == len(notes) and {d[1] for d in offs} == {d[1] for _, d in notes}
  last_note = max(ts for ts, d in sent if d[0] in (0x99, 0x89))
  all_off = [ts for ts, d in sent if d == (0xB9, 123, 0)]
  assert all_off and all_off[0] >= last_note, 'all-notes-off after the last scheduled note'
  assert not [d for _, d in sent if d[0] == 0xF8], 'no clock unless asked for'

  # Humanized timing and velocities, swing on 8ths, a drum rack's pads on channel 1, the kick muted.
  driver.find_element(By.CSS_SELECTOR, '.switch .slider').click()
  _wait(driver, lambda d: 'humanized' in _status(d), 'humanize')
  Select(driver.find_element(By.ID, 'swing-unit')).select_by_value('8')
  Select(driver.find_element(By.ID, 'midi-map')).select_by_value('rack')
  Select(driver.find_element(By.ID, 'midi-channel')).select_by_value('1')
  driver.find_element(By.CSS_SELECTOR, '.tog.mute[data-voice="0"]').click()
  page = _page_pattern(driver)
  rack = [36, 37, 38, 39, 40, 41, 42, 43, 44]
  _play_for(driver, 1.5)
  sent = _sent(driver, clear=True)
  notes = [(ts - 15, d) for ts, d in sent if d[0] == 0x90 and d[2] > 0]
  assert notes and not [d for _, d in notes if d[1] == rack[0]], 'the muted kick is not sent'
  drawn_unmuted = [(s, v) for s, v in drawn if v != 0]
  drawn[:] = drawn_unmuted
  _check_notes(notes, expected(rack, unit=8, offsets=page['offsets'], velocities=page['velocities']), step_ms,
               'humanized, 8th swing, drum rack, channel 1', tolerance=1.0)
  assert [ts for ts, d in sent if d == (0xB0, 123, 0)]
  # Solo the snare: only snares.
  driver.find_element(By.CSS_SELECTOR, '.tog.solo[data-voice="1"]').click()
  _play_for(driver, 0.8)
  assert {d[1] for _, d in _sent(driver, clear=True) if d[0] == 0x90 and d[2] > 0} == {rack[1]}
  # The port, the channel and the map are remembered over a reload.
  driver.refresh()
  _wait(driver, lambda d: d.find_element(By.ID, 'midi-out').is_enabled(), 'the MIDI ports after a reload')
  assert Select(driver.find_element(By.ID, 'midi-out')).first_selected_option.text == 'Fake DAW In'
  assert driver.find_element(By.ID, 'midi-channel').get_attribute('value') == '1'
  assert driver.find_element(By.ID, 'midi-map').get_attribute('value') == 'rack'
  assert not _severe(driver)


def test_midi_clock_out_at_24_ppqn_with_start_and_stop(server, browser):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.support.ui import Select  # pylint: disable=import-outside-toplevel
  driver = browser
  _open(driver, server)
  _enable_midi(driver)
  Select(driver.find_element(By.ID, 'bars')).select_by_value('1')
  _set(driver, 'tempo', 100)
  driver.find_element(By.ID, 'clock-out').click()
  _sent(driver, clear=True)
  _play_for(driver, 1.6)
  sent = _sent(driver)
  kinds = [d for _, d in sent if d[0] >= 0xF0]
  clocks = [ts for ts, d in sent if d == (0xF8,)]
  assert kinds[0] == (0xF2, 0, 0) and kinds[1] == (0xFA,) and kinds[-1] == (0xFC,), kinds[:3] + kinds[-2:]
  start = [ts for ts, d in sent if d == (0xFA,)][0]
  assert start < clocks[0] and len(clocks) >= 24 * 2
  period = 60000 / 100 / 24  # 25 ms
  gaps = [b - a for a, b in zip(clocks, clocks[1:])]
  assert max(abs(g - period) for g in gaps) < 0.01, (min(gaps), max(gaps))
  # Notes fall on every 6th clock (a 16th), the starter's kick on the first.
  notes = sorted(ts for ts, d in sent if d[0] == 0x99 and d[2] > 0)
  for ts in notes:
    k = (ts - clocks[0]) / period
    assert abs(k - round(k)) < 0.001 and round(k) % 6 == 0, k
  assert notes[0] == clocks[0]
  stop = [ts for ts, d in sent if d == (0xFC,)][0]
  assert stop > clocks[-1] and [ts for ts, d in sent if d == (0xB9, 123, 0) and ts >= stop]
  assert not _severe(driver)


def test_following_an_incoming_clock_at_100_bpm(server, browser):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.support.ui import Select  # pylint: disable=import-outside-toplevel
  driver = browser
  _open(driver, server)
  _enable_midi(driver)
  Select(driver.find_element(By.ID, 'bars')).select_by_value('1')
  Select(driver.find_element(By.ID, 'midi-in')).select_by_visible_text('Fake DAW Clock')
  driver.find_element(By.ID, 'follow-clock').click()
  _wait(driver, lambda d: not d.find_element(By.ID, 'play').is_enabled(), 'Play to be handed to the clock')
  hits = _hits(driver)
  period = 60000 / 100 / 24
  step_ms = 6 * period
  # Start, 3 s of clock at 100 BPM (12.5 steps of 150 ms), Stop.
  _sent(driver, clear=True)
  t0 = driver.execute_script('return performance.now()') + 300
  events = [[t0 - 10, [0xF2, 0, 0]], [t0 - 5, [0xFA]]] + [[t0 + k * period, [0xF8]] for k in range(120)]
  events.append([t0 + 120 * period - 2, [0xFC]])
  driver.execute_script('window.__midiPlay(arguments[0])', events)
  _wait(driver, lambda d: 'playing' in (d.find_element(By.TAG_NAME, 'body').get_attribute('class') or ''),
        'the clock to start the studio', timeout=10)
  time.sleep(3.4)
  assert 'playing' not in (driver.find_element(By.TAG_NAME, 'body').get_attribute('class') or '')
  bpm = float(driver.find_element(By.TAG_NAME, 'body').get_attribute('data-clock-bpm'))
  assert abs(bpm - 100) < 0.2 and 'clock' in driver.find_element(By.ID, 'tempo-value').text
  sent = _sent(driver, clear=True)
  notes = [(ts, d) for ts, d in sent if d[0] == 0x99 and d[2] > 0]
  pitches = [36, 38, 42, 46, 45, 48, 50, 49, 51]
  last = t0 + 120 * period
  expected = sorted((step, pitches[v]) for step in range(21) for s, v in hits
                    if s == step % 16 and t0 + step * step_ms < last - step_ms)
  got = sorted(((ts - t0) / step_ms, d[1]) for ts, d in notes if ts < last - step_ms)
  assert len(got) == len(expected) and all(abs(g[0] - e[0]) < 1e-4 and g[1] == e[1] for g, e in zip(got, expected)), \
      (got[:12], expected[:12])  # each step's notes at the clock of its step, to a microsecond
  assert [ts for ts, d in sent if d == (0xB9, 123, 0)], 'all-notes-off when the clock stops'
  # Song position 4 (16ths), Continue: the next notes are step 4's, on the first clock.
  t1 = driver.execute_script('return performance.now()') + 200
  events = [[t1 - 10, [0xF2, 4, 0]], [t1 - 5, [0xFB]]] + [[t1 + k * period, [0xF8]] for k in range(30)]
  events.append([t1 + 30 * period, [0xFC]])
  driver.execute_script('window.__midiPlay(arguments[0])', events)
  time.sleep(1.2)
  notes = sorted((ts, d[1]) for ts, d in _sent(driver, clear=True) if d[0] == 0x99 and d[2] > 0)
  first = {p for ts, p in notes if abs(ts - t1) < 0.01}
  assert first == {pitches[v] for s, v in hits if s == 4}, notes[:4]
  driver.find_element(By.ID, 'follow-clock').click()
  assert driver.find_element(By.ID, 'play').is_enabled()
  assert not _severe(driver)


def test_endless_play_continues_over_three_loops_without_a_gap_keeping_a_locked_row(server, browser):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.support.ui import Select  # pylint: disable=import-outside-toplevel
  driver = browser
  _open(driver, server)
  _enable_midi(driver)
  Select(driver.find_element(By.ID, 'bars')).select_by_value('1')
  _set(driver, 'tempo', 160)
  _set(driver, 'temperature', 2)  # a rock beat at temperature 1 often goes on as the same rock beat
  driver.find_element(By.ID, 'clock-out').click()
  driver.find_element(By.CSS_SELECTOR, '.tog.lockrow[data-voice="0"]').click()  # the kick kept
  driver.find_element(By.CSS_SELECTOR, '.toggle .slider').click()  # Endless on
  _sent(driver, clear=True)
  driver.find_element(By.ID, 'play').click()
  _wait(driver, lambda d: d.execute_script('return window.studio.endless.passes.length') >= 4,
        'three seams of endless play', timeout=20)
  driver.find_element(By.ID, 'play').click()
  time.sleep(0.3)
  endless = driver.execute_script('return {passes: window.studio.endless.passes, late: window.studio.endless.late}')
  passes = endless['passes']
  assert endless['late'] == 0
  step_ms = 60000 / 160 / 4
  sent = _sent(driver, clear=True)
  clocks = [ts for ts, d in sent if d == (0xF8,)]
  gaps = [b - a for a, b in zip(clocks, clocks[1:])]
  assert max(abs(g - step_ms / 6) for g in gaps) < 0.01, 'the clock ran on without a gap over the seams'
  start = clocks[0]
  kicks = [[row[0] for row in p['grid']] for p in passes]
  assert all(k == kicks[0] for k in kicks), 'the locked kick row is kept in every pass'
  others = {json_of([row[1:] for row in p['grid']]) for p in passes}
  assert len(others) >= 3, 'the other rows continue: new bars each pass'
  pitches = [36, 38, 42, 46, 45, 48, 50, 49, 51]
  notes = sorted((ts, d[1]) for ts, d in sent if d[0] == 0x99 and d[2] > 0)
  assert [p['count'] for p in passes[:4]] == [0, 16, 32, 48]  # each pass right after the one before
  for i, p in enumerate(passes):
    begin = start + p['count'] * step_ms
    last = i + 1 == len(passes)  # stopped during it: the steps it played
    end = notes[-1][0] + 0.5 if last else start + passes[i + 1]['count'] * step_ms
    got = sorted((round((ts - begin) / step_ms, 3), pitch) for ts, pitch in notes if begin - 0.01 <= ts < end - 0.01)
    want = sorted((float(t), pitches[v]) for t, row in enumerate(p['grid']) for v in range(9)
                  if row[v] and begin + t * step_ms < end - 0.01)
    assert got == want and (got or last), (i, got, want)
  assert not _severe(driver)


def json_of(value):
  import json  # pylint: disable=import-outside-toplevel
  return json.dumps(value)


def _clip_file(path):
  """A 3-bar drum clip at 96 BPM on MIDI channel 1 (as DAWs export), one note off the drum map, one late."""
  import mido  # pylint: disable=import-outside-toplevel
  ppq = 96
  step = ppq // 4
  events = []  # (tick, pitch, velocity)
  for bar in range(3):
    for beat in range(4):
      t = (bar * 16 + beat * 4) * step
      events.append((t, 36 if beat % 2 == 0 else 38, 90 + beat))
      events.append((t + 2 * step, 42, 60))
  events.append((5 * step + step // 4, 49, 77))   # a crash a quarter step late on step 5
  events.append((7 * step, 20, 80))               # pitch 20: no drum row
  track = mido.MidiTrack()
  track.append(mido.MetaMessage('set_tempo', tempo=mido.bpm2tempo(96), time=0))
  messages = []
  for tick, pitch, velocity in events:
    messages.append((tick, mido.Message('note_on', channel=0, note=pitch, velocity=velocity)))
    messages.append((tick + step // 2, mido.Message('note_off', channel=0, note=pitch, velocity=0)))
  messages.sort(key=lambda m: m[0])
  now = 0
  for tick, message in messages:
    track.append(message.copy(time=tick - now))
    now = tick
  track.append(mido.MetaMessage('end_of_track', time=48 * step - now))
  mido.MidiFile(type=0, ticks_per_beat=ppq, tracks=[track]).save(str(path))
  expected = {(t // step, {36: 0, 38: 1, 42: 2, 49: 7}[p]) for t, p, _ in events if p != 20}
  return expected


def _blob_bytes(driver, expression):
  """The bytes of a Blob the page holds (read in the page, sent back as base64)."""
  import base64  # pylint: disable=import-outside-toplevel
  text = driver.execute_async_script(
      'const done = arguments[arguments.length - 1];'
      f'({expression}).arrayBuffer().then((b) => {{ const u = new Uint8Array(b); let s = "";'
      'for (const x of u) s += String.fromCharCode(x); done(btoa(s)); });')
  return base64.b64decode(text)


def test_clips_in_and_out_files_reload_and_share_link(server, browser, tmp_path):
  import base64  # pylint: disable=import-outside-toplevel
  import json  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  driver = browser
  _open(driver, server)
  # A MIDI clip in through Open...: 3 bars, 96 BPM, its drum notes on their rows, the late crash kept late.
  clip_path = tmp_path / 'groove.mid'
  expected = _clip_file(clip_path)
  driver.find_element(By.ID, 'open-file').send_keys(str(clip_path))
  _wait(driver, lambda d: 'groove.mid' in _status(d), 'the clip to load')
  status = _status(driver)
  assert '3 bars at 96 BPM' in status and '1 on no drum row left out' in status, status
  assert _hits(driver) == expected
  page = _page_pattern(driver)
  assert page['bars'] == 3 and driver.find_element(By.ID, 'tempo').get_attribute('value') == '96'
  assert abs(page['offsets'][5][7] - 0.25) < 0.01 and page['velocities'][5][7] == 77
  assert page['velocities'][4][1] == 91
  # ... and by dropping it on the page.
  _clear_grid(driver)
  data = base64.b64encode(clip_path.read_bytes()).decode()
  driver.execute_script(
      'const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));'
      'const dt = new DataTransfer(); dt.items.add(new File([bytes], "dropped.mid", {type: "audio/midi"}));'
      "document.body.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));",
      data)
  _wait(driver, lambda d: 'dropped.mid' in _status(d), 'the dropped clip to load')
  assert _hits(driver) == expected
  # Dragged out: the drag carries the prepared clip, exactly 3 bars long; Download gives the same bytes.
  _wait(driver, lambda d: 'stale' not in d.find_element(By.ID, 'clip-drag').get_attribute('class'), 'the clip')
  time.sleep(0.3)
  _wait(driver, lambda d: 'stale' not in d.find_element(By.ID, 'clip-drag').get_attribute('class'), 'the clip')
  url = driver.execute_script(
      "const dt = new DataTransfer(); const e = new DragEvent('dragstart', {dataTransfer: dt, bubbles: true, cancelable: true});"
      "document.getElementById('clip-drag').dispatchEvent(e); return e.defaultPrevented ? null : dt.getData('DownloadURL');")
  assert url == 'audio/midi:drums_rnn_studio.mid:' + driver.execute_script('return window.studio.clip.url')
  dragged = _blob_bytes(driver, 'window.studio.clip.blob')
  length, notes, tempo = _midi_length_and_notes(dragged)
  assert length == 48 and abs(tempo - 96) < 0.01
  assert {(round(n[0]), [36, 38, 42, 46, 45, 48, 50, 49, 51].index(n[1])) for n in notes} == expected
  assert _download_midi(driver) == dragged
  # Save, Clear, Open the saved file: the same pattern, velocities and timing included.
  before = _page_pattern(driver)
  for old in driver.downloads.iterdir():
    old.unlink()
  driver.find_element(By.ID, 'save').click()
  saved = driver.downloads / 'drums_rnn_studio.drums.json'
  _wait(driver, lambda d: saved.is_file() and saved.stat().st_size > 0, 'the saved pattern')
  time.sleep(0.1)
  assert json.loads(saved.read_text())['grid'] == before['grid']
  _clear_grid(driver)
  driver.find_element(By.ID, 'open-file').send_keys(str(saved))
  _wait(driver, lambda d: 'opened drums_rnn_studio.drums.json' in _status(d), 'the saved pattern to open')
  assert _page_pattern(driver) == before
  # A broken file is refused with its reason, the pattern untouched.
  broken = tmp_path / 'broken.drums.json'
  broken.write_text(json.dumps(dict(json.loads(saved.read_text()), bars=2)))
  driver.find_element(By.ID, 'open-file').send_keys(str(broken))
  _wait(driver, lambda d: 'broken.drums.json' in _status(d), 'the broken file')
  assert '"grid" must have 32 steps' in _status(driver) and _page_pattern(driver) == before
  # A reload keeps the pattern and the tempo.
  time.sleep(0.4)
  driver.refresh()
  _wait(driver, lambda d: d.find_element(By.TAG_NAME, 'body').get_attribute('data-state') == 'ready', 'the reload')
  assert _page_pattern(driver) == before and 'from last time' in _status(driver)
  assert driver.find_element(By.ID, 'tempo').get_attribute('value') == '96'
  # The share link holds the pattern: opened on a cleared page it brings it back.
  driver.find_element(By.ID, 'share').click()
  link = driver.find_element(By.ID, 'share-url').get_attribute('value')
  assert link.startswith(server) and '#p=' in link and len(link) < 2000
  _clear_grid(driver)
  time.sleep(0.4)
  driver.get(link)  # in the same tab: only the #fragment changes
  _wait(driver, lambda d: 'shared pattern' in _status(d), 'the link in the same tab')
  assert _page_pattern(driver)['grid'] == before['grid']
  _clear_grid(driver)
  time.sleep(0.4)
  driver.get('about:blank')
  driver.get(link)  # a fresh load
  _wait(driver, lambda d: d.find_element(By.TAG_NAME, 'body').get_attribute('data-state') == 'ready', 'the link')
  shared = _page_pattern(driver)
  assert shared['grid'] == before['grid'] and shared['velocities'] == before['velocities']
  assert all(abs(a - b) < 0.005 for ra, rb in zip(shared['offsets'], before['offsets']) for a, b in zip(ra, rb))
  assert 'shared pattern' in _status(driver) and '#' not in driver.current_url
  assert not _severe(driver)


def test_variations_strip_undo_and_redo(server, browser):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.common.action_chains import ActionChains  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.common.keys import Keys  # pylint: disable=import-outside-toplevel
  driver = browser
  body = _open(driver, server)
  _lock_seed(driver, 12)
  assert driver.find_element(By.ID, 'variations').get_attribute('value') == '4'
  driver.find_element(By.ID, 'generate').click()
  _wait(driver, lambda d: body.get_attribute('data-results') == '1', 'the variations')
  buttons = driver.find_elements(By.CSS_SELECTOR, '#strip .variation')
  assert len(buttons) == 4 and buttons[0].get_attribute('aria-pressed') == 'true'
  items = driver.execute_script('return window.studio.strip.items.map((i) => i.pattern.grid)')
  assert len({json_of(g) for g in items}) == 4 and all(g[:16] == items[0][:16] for g in items)
  assert _page_pattern(driver)['grid'] == items[0]
  buttons[2].click()
  assert _page_pattern(driver)['grid'] == items[2] and buttons[2].get_attribute('aria-pressed') == 'true'
  driver.find_element(By.ID, 'undo').click()
  assert _page_pattern(driver)['grid'] == items[0]
  driver.find_element(By.ID, 'redo').click()
  assert _page_pattern(driver)['grid'] == items[2]
  ActionChains(driver).key_down(Keys.CONTROL).send_keys('z').key_up(Keys.CONTROL).perform()
  assert _page_pattern(driver)['grid'] == items[0]
  ActionChains(driver).key_down(Keys.CONTROL).key_down(Keys.SHIFT).send_keys('z').key_up(Keys.SHIFT) \
      .key_up(Keys.CONTROL).perform()
  assert _page_pattern(driver)['grid'] == items[2]
  assert not driver.find_element(By.ID, 'redo').is_enabled()
  assert not _severe(driver)


def test_humanize_amount_feel_centre_and_velocity_by_hand(server, browser):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.common.action_chains import ActionChains  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.common.keys import Keys  # pylint: disable=import-outside-toplevel
  driver = browser
  _open(driver, server)
  _lock_seed(driver, 5)
  _set(driver, 'strength', 0)
  driver.find_element(By.CSS_SELECTOR, '.switch .slider').click()
  _wait(driver, lambda d: 'humanized' in _status(d), 'humanize')
  page = _page_pattern(driver)
  on = [(t, v) for t in range(32) for v in range(9) if page['grid'][t][v]]
  assert {page['velocities'][t][v] for t, v in on} == {70} and not any(page['offsets'][t][v] for t, v in on)
  # Amount 100% (the switch is on: the grid is humanized again), then kept centred on the grid.
  _set(driver, 'strength', 100)
  _wait(driver, lambda d: len({_page_pattern(d)['velocities'][t][v] for t, v in on}) > 3, 'humanize at 100%')
  _idle(driver)
  offsets = [_page_pattern(driver)['offsets'][t][v] for t, v in on]
  driver.find_element(By.ID, 'centre').click()
  _wait(driver, lambda d: [_page_pattern(d)['offsets'][t][v] for t, v in on] != offsets, 'centred timing')
  _idle(driver)
  centred = [_page_pattern(driver)['offsets'][t][v] for t, v in on]
  assert abs(sum(centred) / len(centred)) < 0.005 and abs(sum(offsets) / len(offsets)) > abs(sum(centred) / len(centred))
  # One hit's velocity: the wheel (+4), Shift-drag up by 10 px, the keyboard (+8, then Enter takes it away).
  t, v = on[0]
  cell = _cell(driver, t, v)
  start = _velocity_of(driver, t, v)
  driver.execute_script("arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: -100, bubbles: true, cancelable: true}))", cell)
  assert _velocity_of(driver, t, v) == min(127, start + 4)
  ActionChains(driver).move_to_element(cell).key_down(Keys.SHIFT).click_and_hold().move_by_offset(0, -10) \
      .release().key_up(Keys.SHIFT).perform()
  assert _velocity_of(driver, t, v) == min(127, start + 14)
  assert page['grid'][t][v] == _page_pattern(driver)['grid'][t][v] == 1  # a velocity drag never toggles
  cell.send_keys('+')
  assert _velocity_of(driver, t, v) == min(127, start + 22)
  cell.send_keys(Keys.ENTER)
  assert (t, v) not in _hits(driver)
  assert driver.find_element(By.ID, 'humanize').is_selected()
  assert not _severe(driver)


def test_the_grid_at_1400_and_800_px(server, browser):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.support.ui import Select  # pylint: disable=import-outside-toplevel
  driver = browser
  try:
    driver.set_window_size(1400, 900)
    _open(driver, server)
    Select(driver.find_element(By.ID, 'bars')).select_by_value('8')
    geometry = driver.execute_script("""
      const wrap = document.getElementById('grid-wrap');
      const widths = [...document.querySelectorAll('.cell[data-voice="0"]')].map((c) => c.getBoundingClientRect().width);
      const names = [...document.querySelectorAll('.rowname .name')];
      return {min: Math.min(...widths), max: Math.max(...widths), n: widths.length,
              scroll: wrap.scrollWidth - wrap.clientWidth, page: document.documentElement.scrollWidth,
              cut: names.filter((n) => n.scrollWidth > n.clientWidth + 0.5).map((n) => n.textContent),
              bars: [...document.querySelectorAll('.barname')].map((b) => b.textContent),
              beats: [...document.querySelectorAll('.head')].slice(0, 16).map((h) => h.textContent)};""")
    assert geometry['n'] == 128 and geometry['max'] - geometry['min'] < 0.6 and geometry['min'] >= 7, geometry
    assert geometry['scroll'] <= 1 and geometry['page'] <= 1400 and not geometry['cut'], geometry
    assert geometry['bars'] == [f'Bar {b}' for b in range(1, 9)]
    assert geometry['beats'] == ['1', '\u00b7', '\u00b7', '\u00b7', '2', '\u00b7', '\u00b7', '\u00b7', '3',
                                 '\u00b7', '\u00b7', '\u00b7', '4', '\u00b7', '\u00b7', '\u00b7']
    # 800 px: the page does not scroll sideways, the grid does, under row names that stay; dark scrollbar.
    driver.set_window_size(800, 900)
    time.sleep(0.3)
    narrow = driver.execute_script("""
      const wrap = document.getElementById('grid-wrap');
      wrap.scrollLeft = wrap.scrollWidth;
      const name = document.querySelector('.rowname');
      const r = name.getBoundingClientRect(), w = wrap.getBoundingClientRect();
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      return {page: document.documentElement.scrollWidth, inner: window.innerWidth,
              scrolls: wrap.scrollWidth > wrap.clientWidth, scrolled: wrap.scrollLeft,
              nameLeft: r.left - w.left, nameShown: name.contains(hit),
              scrollbar: getComputedStyle(wrap).scrollbarColor,
              controlsRight: Math.max(...[...document.querySelectorAll('.panel button, .panel select, .panel input')]
                .filter((e) => e.offsetParent).map((e) => e.getBoundingClientRect().right))};""")
    assert narrow['page'] <= narrow['inner'] and narrow['scrolls'] and narrow['scrolled'] > 0, narrow
    assert abs(narrow['nameLeft']) < 1 and narrow['nameShown'], narrow
    assert narrow['scrollbar'] not in ('auto', '') and narrow['controlsRight'] <= narrow['inner'], narrow
    last = _cell(driver, 127, 1)
    last.click()  # the last bar, scrolled to, is usable
    assert (127, 1) in _hits(driver)
  finally:
    driver.set_window_size(1400, 900)
  assert not _severe(driver)


CONTRAST = r'''
const lum = (c) => {
  const [r, g, b] = c.slice(0, 3).map((x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
const parse = (s) => {
  const m = s.match(/rgba?\(([^)]+)\)/);
  if (!m) return null;
  const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
};
const over = (top, bottom) => top.slice(0, 3).map((x, i) => x * top[3] + bottom[i] * (1 - top[3])).concat([1]);
const background = (e) => {
  const layers = [];
  for (let n = e; n; n = n.parentElement) {
    const c = parse(getComputedStyle(n).backgroundColor);
    if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
  }
  let colour = [17, 19, 23, 1];
  for (const layer of layers.reverse()) colour = over(layer, colour);
  return colour;
};
const bad = [];
for (const e of document.querySelectorAll('body *')) {
  if (!e.offsetParent || e.closest('[hidden], option, canvas, .cell') || e.closest(':disabled')) continue;
  const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own) continue;
  const style = getComputedStyle(e);
  const fg = parse(style.color);
  if (!fg || fg[3] === 0) continue;  // text made transparent on purpose (the dots of a dense grid)
  const bg = background(e);
  const r = ratio(over(fg, bg), bg);
  if (r < 4.5) bad.push(`${e.tagName}.${e.className} "${e.textContent.trim().slice(0, 20)}" ${r.toFixed(2)}`);
}
const cell = background(document.querySelector('.cell:not(.on)'));
const zones = [];
for (const c of ['#ff5a3c', '#ffc83c', '#3cd2ff', '#2ee6b4', '#b48cff', '#d67cff', '#ff7cd4', '#ff9f5a', '#8ce65a']) {
  const rgb = [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)).concat([1]);
  zones.push(ratio(rgb, cell));
}
const line = parse(getComputedStyle(document.getElementById('seed-line')).backgroundColor);
zones.push(ratio(line, background(document.querySelector('.cell.gen:not(.on)'))));
return {bad, zones};
'''


def _tab_misses(driver):
  """(how many controls the page shows, the outerHTML of the first that one pass of Tab does not reach)."""
  from selenium.webdriver.common.action_chains import ActionChains  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.common.keys import Keys  # pylint: disable=import-outside-toplevel
  count = driver.execute_script("""
    window.__focused = [];
    document.addEventListener('focusin', (e) => window.__focused.push(e.target.dataset.tabcheck));
    const controls = [...document.querySelectorAll('button, input, select, summary, a[href], [role="gridcell"]')]
      .filter((e) => e.offsetParent && !e.disabled && !e.closest('details:not([open]) > div')
                     && !(e.getAttribute('role') === 'gridcell' && e.tabIndex < 0));  // the grid: one stop
    controls.forEach((e, i) => { e.dataset.tabcheck = String(i); });
    document.activeElement.blur();
    return controls.length;""")
  chain = ActionChains(driver)
  for _ in range(count + 3):
    chain.send_keys(Keys.TAB)
  chain.perform()
  focused = driver.execute_script('return window.__focused')
  missed = sorted(set(range(count)) - {int(f) for f in focused if f is not None})
  return count, driver.execute_script(
      'return arguments[0].map((i) => document.querySelector(`[data-tabcheck="${i}"]`).outerHTML.slice(0, 120))',
      missed[:5])


def _unnamed_controls(driver):
  """The controls without a name in the accessibility tree: [(role, node id)]; and the tree."""
  tree = driver.execute_cdp_cmd('Accessibility.getFullAXTree', {})['nodes']
  roles = {'button', 'checkbox', 'combobox', 'slider', 'spinbutton', 'textbox', 'gridcell', 'link', 'switch'}
  return [(n['role']['value'], n.get('backendDOMNodeId')) for n in tree
          if not n.get('ignored') and n.get('role', {}).get('value') in roles
          and not (n.get('name') or {}).get('value', '').strip()], tree


def test_keyboard_labels_contrast_and_right_click(server, browser):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.common.action_chains import ActionChains  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.common.keys import Keys  # pylint: disable=import-outside-toplevel
  driver = browser
  _open(driver, server)
  # Every control is reached by Tab, in one pass (the grid is one stop: its focused cell).
  count, missed = _tab_misses(driver)
  assert count > 40 and not missed, missed
  # The grid from the keyboard: arrows move, Enter toggles, the focus stays on the cell.
  first = driver.find_element(By.CSS_SELECTOR, '.cell[tabindex="0"]')
  assert (first.get_attribute('data-step'), first.get_attribute('data-voice')) == ('0', '0')
  first.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_DOWN, Keys.ENTER)
  active = driver.switch_to.active_element
  assert (active.get_attribute('data-step'), active.get_attribute('data-voice')) == ('3', '1')
  assert (3, 1) in _hits(driver) and 'Snare, bar 1 beat 1 step 4, on, velocity 100' in active.get_attribute('aria-label')
  active.send_keys(Keys.END)
  assert driver.switch_to.active_element.get_attribute('data-step') == '31'
  # Every control has a name in the accessibility tree.
  unnamed, tree = _unnamed_controls(driver)
  assert not unnamed, unnamed
  grids = [n for n in tree if n.get('role', {}).get('value') == 'grid' and not n.get('ignored')]
  assert len(grids) == 1 and grids[0]['name']['value'].startswith('Drum pattern')
  # Contrast: all text at least 4.5:1 on what is behind it; hits and the primer marker at least 3:1.
  contrast = driver.execute_script(CONTRAST)
  assert not contrast['bad'], contrast['bad']
  assert min(contrast['zones']) >= 3, contrast['zones']
  # Right-click paints (erases) without a context menu.
  cell = _cell(driver, 0, 0)
  assert (0, 0) in _hits(driver)
  prevented = driver.execute_script(
      "const e = new MouseEvent('contextmenu', {bubbles: true, cancelable: true, button: 2});"
      'arguments[0].dispatchEvent(e); return e.defaultPrevented;', cell)
  assert prevented
  ActionChains(driver).context_click(cell).perform()
  assert (0, 0) not in _hits(driver)
  assert not _severe(driver)


# ---------------------------------------------------------------------------------------------
# Controls (issue 18): a model with controls gets a style, a density and per-bar fills; a plain one none.


class Recorder:
  """WSGI middleware: keeps the JSON body of every model request the page sends, in order."""

  def __init__(self, app):
    self.app = app
    self.bodies = []
    self._lock = threading.Lock()

  def __call__(self, environ, start_response):
    if environ['REQUEST_METHOD'] == 'POST' and environ['PATH_INFO'] in GATED:
      import io  # pylint: disable=import-outside-toplevel
      import json  # pylint: disable=import-outside-toplevel
      raw = environ['wsgi.input'].read(int(environ.get('CONTENT_LENGTH') or 0))
      environ['wsgi.input'] = io.BytesIO(raw)
      with self._lock:
        self.bodies.append((environ['PATH_INFO'], json.loads(raw)))
    return self.app(environ, start_response)

  def last(self, path):
    with self._lock:
      found = [body for p, body in self.bodies if p == path]
    return found[-1] if found else None


CONTROL_FIELDS = ('style', 'density', 'fills', 'control_strength')


@pytest.fixture(scope='module')
def controlled_studio():
  """(url, recorder): the real server over a tiny, untrained drum_kit_control model, no humanizer."""
  _require_browser()
  from drums_rnn import configs  # pylint: disable=import-outside-toplevel
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel
  from drums_rnn.language_model.model import DrumsRnnModel  # pylint: disable=import-outside-toplevel
  from drums_rnn.studio import app as studio_app  # pylint: disable=import-outside-toplevel
  from drums_rnn.studio import server as studio_server  # pylint: disable=import-outside-toplevel
  config = configs.get_config('drum_kit_control')
  hparams = config.hparams({'rnn_layer_sizes': [16], 'attn_length': 4})
  model = DrumsRnnModel.from_config(config, hparams, seed=1)
  app = studio_app.create_app(loading.LoadedModel(config, hparams, model, 'tiny_control.mag', 'test'), None)
  recorder = Recorder(app.wsgi_app)
  app.wsgi_app = recorder
  httpd, url = studio_server.start_in_thread(app)
  yield url, recorder
  httpd.shutdown()


def _controls_shown(driver):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.support.ui import Select  # pylint: disable=import-outside-toplevel
  return {'style': Select(driver.find_element(By.ID, 'style')).first_selected_option.get_attribute('value'),
          'density': Select(driver.find_element(By.ID, 'density')).first_selected_option.get_attribute('value'),
          'fills': [b.get_attribute('aria-pressed') == 'true'
                    for b in driver.find_elements(By.CSS_SELECTOR, '.tog.fill')]}


def test_style_density_and_fills_are_sent_kept_and_reachable(controlled_studio, browser):
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.common.keys import Keys  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.support.ui import Select  # pylint: disable=import-outside-toplevel
  url, recorder = controlled_studio
  driver = browser
  body = _open(driver, url)
  assert driver.find_element(By.ID, 'groove-panel').is_displayed()
  style, density = Select(driver.find_element(By.ID, 'style')), Select(driver.find_element(By.ID, 'density'))
  assert [o.text for o in style.options] == ['any', 'Rock', 'Latin', 'Funk', 'Jazz', 'Hip-hop', 'Afrobeat',
                                            'New Orleans', 'Afro-Cuban', 'Other']
  assert [o.get_attribute('value') for o in style.options][1:4] == ['rock', 'latin', 'funk']
  assert [o.text for o in density.options] == ['any', '< 13 hits/bar', '13-16 hits/bar', '17-19 hits/bar',
                                              '20-23 hits/bar', '>= 24 hits/bar']
  assert _controls_shown(driver) == {'style': '', 'density': '', 'fills': [False, False]}
  assert driver.find_element(By.ID, 'grid').get_attribute('aria-rowcount') == '12'
  # Nothing chosen: no control field is sent.
  _lock_seed(driver, 3)
  driver.find_element(By.ID, 'generate').click()
  _wait(driver, lambda d: body.get_attribute('data-results') == '1', 'the generate result')
  assert not set(CONTROL_FIELDS) & set(recorder.last('/api/generate')), recorder.last('/api/generate')
  # Funk, 17-19 hits a bar, a fill in bar 2 (its toggle from the keyboard): all three go with Generate ...
  style.select_by_value('funk')
  density.select_by_value('2')
  fill = driver.find_elements(By.CSS_SELECTOR, '.tog.fill')[1]
  assert fill.get_attribute('aria-label') == 'Fill in bar 2'
  fill.send_keys(Keys.ENTER)
  assert _controls_shown(driver) == {'style': 'funk', 'density': '2', 'fills': [False, True]}
  driver.find_element(By.ID, 'generate').click()
  _wait(driver, lambda d: body.get_attribute('data-results') == '2', 'the generate result')
  sent = recorder.last('/api/generate')
  assert (sent['style'], sent['density'], sent['fills']) == ('funk', 2, [False, True]), sent
  assert sent['control_strength'] == 5  # the model's default firmness
  assert 'Funk \u00b7 17-19 hits/bar \u00b7 fill bar 2' in driver.find_element(By.ID, 'result').text
  # ... and with Regenerate rows, played less firmly (the slider from the keyboard: 6 steps of 0.5 down).
  firmness = driver.find_element(By.ID, 'control-strength')
  firmness.send_keys(*[Keys.ARROW_LEFT] * 6)
  assert driver.find_element(By.ID, 'control-strength-value').text == '2.0'
  driver.find_elements(By.CSS_SELECTOR, '.rowcheck')[1].click()
  driver.find_element(By.ID, 'regenerate').click()
  _wait(driver, lambda d: body.get_attribute('data-results') == '3', 'the regenerate result')
  sent = recorder.last('/api/regenerate')
  assert (sent['voices'], sent['style'], sent['density'], sent['fills']) == (['snare'], 'funk', 2, [False, True])
  assert sent['control_strength'] == 2
  assert 'firmness 2' in driver.find_element(By.ID, 'result').text
  assert not driver.find_elements(By.CSS_SELECTOR, '#status.error'), _status(driver)
  # 4 bars: four toggles, bar 2's kept; a fill in bar 4 too; Endless play asks for them over the 4 bars.
  Select(driver.find_element(By.ID, 'bars')).select_by_value('4')
  driver.find_elements(By.CSS_SELECTOR, '.tog.fill')[3].click()
  assert _controls_shown(driver)['fills'] == [False, True, False, True]
  driver.find_element(By.CSS_SELECTOR, '.toggle .slider').click()  # Endless on
  driver.find_element(By.ID, 'play').click()
  _wait(driver, lambda d: recorder.last('/api/continue') is not None, 'the continuation request')
  driver.find_element(By.ID, 'play').click()
  sent = recorder.last('/api/continue')
  assert (sent['bars'], sent['style'], sent['density'], sent['fills']) == (4, 'funk', 2, [False, True, False, True])
  driver.find_element(By.CSS_SELECTOR, '.toggle .slider').click()  # Endless off
  # Reachable and named from the keyboard, and readable, with a fill switched on.
  count, missed = _tab_misses(driver)
  assert count > 40 and not missed, missed
  unnamed, _ = _unnamed_controls(driver)
  assert not unnamed, unnamed
  contrast = driver.execute_script(CONTRAST)
  assert not contrast['bad'], contrast['bad']
  # A reload keeps them; so does the share link, on a fresh load with nothing kept.
  time.sleep(0.4)
  driver.refresh()
  _wait(driver, lambda d: d.find_element(By.TAG_NAME, 'body').get_attribute('data-state') == 'ready', 'the reload')
  shown = {'style': 'funk', 'density': '2', 'fills': [False, True, False, True]}
  assert _controls_shown(driver) == shown
  driver.find_element(By.ID, 'share').click()
  link = driver.find_element(By.ID, 'share-url').get_attribute('value')
  driver.execute_script('localStorage.clear()')
  driver.get('about:blank')
  driver.get(link)
  _wait(driver, lambda d: 'shared pattern' in _status(d), 'the shared link')
  assert _controls_shown(driver) == shown
  # "any" again and the fills off: nothing is sent.
  Select(driver.find_element(By.ID, 'style')).select_by_value('')
  Select(driver.find_element(By.ID, 'density')).select_by_value('')
  for toggle in driver.find_elements(By.CSS_SELECTOR, '.tog.fill[aria-pressed="true"]'):
    toggle.click()
  _lock_seed(driver, 4)
  driver.find_element(By.ID, 'generate').click()
  _wait(driver, lambda d: d.find_element(By.TAG_NAME, 'body').get_attribute('data-results') == '1', 'generate')
  assert not set(CONTROL_FIELDS) & set(recorder.last('/api/generate')), recorder.last('/api/generate')
  assert not _severe(driver)


def test_no_controls_for_a_model_without_them_even_from_a_pattern_that_has_some(server, browser, tmp_path):
  import json  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  driver = browser
  body = _open(driver, server)
  assert not driver.find_element(By.ID, 'groove-panel').is_displayed()
  assert not driver.find_elements(By.CSS_SELECTOR, '.tog.fill') and body.get_attribute('data-controls') == '0'
  assert driver.find_element(By.ID, 'grid').get_attribute('aria-rowcount') == '11'
  # A pattern saved with a model that has controls opens here; Generate sends none of them (the server
  # would refuse them), and saving keeps them for the next model that has controls.
  saved = driver.execute_script('return JSON.stringify(window.studio.state)')  # only to be sure the page is up
  assert saved
  doc = {'format': 'drums_rnn_studio/pattern', 'version': 1, 'bars': 2, 'qpm': 100, 'grid': _starter(),
         'velocities': [[100 * h for h in row] for row in _starter()], 'offsets': [[0] * 9 for _ in range(32)],
         'style': 'funk', 'density': 2, 'fill_bars': [1]}
  path = tmp_path / 'funk.drums.json'
  path.write_text(json.dumps(doc))
  driver.find_element(By.ID, 'open-file').send_keys(str(path))
  _wait(driver, lambda d: 'opened funk.drums.json' in _status(d), 'the pattern to open')
  _lock_seed(driver, 2)
  driver.find_element(By.ID, 'generate').click()
  _wait(driver, lambda d: body.get_attribute('data-results') == '1', 'the generate result')
  assert not driver.find_elements(By.CSS_SELECTOR, '#status.error'), _status(driver)
  kept = driver.execute_script('const s = window.studio.state; return [s.style, s.density, s.fillBars]')
  assert kept == ['funk', 2, [1]]
  assert not _severe(driver)


def _starter():
  return [[int(t % 8 == 0), int(t % 8 == 4), int(t % 2 == 0)] + [0] * 6 if t < 16 else [0] * 9 for t in range(32)]
