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
import shutil
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


@pytest.fixture
def server():
  _require_browser()  # before the heavy imports
  from drums_rnn import humanize  # pylint: disable=import-outside-toplevel
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel
  from drums_rnn.studio import app as studio_app  # pylint: disable=import-outside-toplevel
  from drums_rnn.studio import server as studio_server  # pylint: disable=import-outside-toplevel
  app = studio_app.create_app(loading.load_model(None), humanize.load_humanizer(None))
  httpd, url = studio_server.start_in_thread(app)
  yield url
  httpd.shutdown()


@pytest.fixture
def browser(tmp_path, monkeypatch):
  webdriver = _require_browser()
  from selenium.webdriver.chrome.service import Service  # pylint: disable=import-outside-toplevel
  monkeypatch.setenv('SE_OFFLINE', 'true')
  downloads = tmp_path / 'downloads'
  downloads.mkdir()
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  for arg in CHROME_ARGS:
    options.add_argument(arg)
  options.add_argument(f'--user-data-dir={tmp_path / "profile"}')
  options.add_experimental_option('prefs', {
      'download.default_directory': str(downloads), 'download.prompt_for_download': False,
      'download.directory_upgrade': True, 'safebrowsing.enabled': False})
  options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
  driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
  driver.downloads = downloads
  yield driver
  driver.quit()


def _wait(driver, condition, what, timeout=30):
  from selenium.webdriver.support.ui import WebDriverWait  # pylint: disable=import-outside-toplevel
  return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
      lambda d: condition(d), message=f'timed out waiting for {what}')


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
