"""Takes the README's pictures of drums_rnn_studio: docs/studio.png, docs/studio-controls.png.

Starts the studio (the shipped model, or --bundle_file, or with --tiny_control
a tiny untrained drum_kit_control model; the shipped humanizer) on a free local
port in a thread, opens the page in headless Chromium (Debian's chromium and
chromedriver; Selenium is told where they are, so it downloads nothing),
switches Humanize on, for a model with controls chooses --style, --density and
the --fills bars, generates 4 variations from the page's starter primer with a
fixed seed (not with --no_generate), ticks the Open hat row, locks the kick,
and saves a screenshot at each width (docs/studio.png at 1400 px,
docs/studio-800.png).

Usage: python scripts/studio_screenshot.py [--output=docs/studio.png] [--seed=7] [--bars=4] [--widths=1400,800]
       python scripts/studio_screenshot.py --tiny_control --no_generate --output=docs/studio-controls.png --widths=1400
       python scripts/studio_screenshot.py --bundle_file=drums_rnn/models/drum_kit_control.mag \\
           --output=docs/studio-controls.png --widths=1400 --style=funk --density=2 --fills=4
"""

import argparse
import os
import shutil
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)
os.environ.setdefault('SE_OFFLINE', 'true')  # Selenium Manager: never download a driver
os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')

from drums_rnn import runtime  # noqa: E402

CHROME_ARGS = ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
               '--disable-background-networking', '--disable-component-update', '--disable-sync',
               '--no-first-run', '--autoplay-policy=no-user-gesture-required')


def tiny_control_model():
  """A tiny, untrained drum_kit_control model (its grooves are noise: a picture of the controls only)."""
  from drums_rnn import configs  # pylint: disable=import-outside-toplevel
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel
  from drums_rnn.language_model.model import DrumsRnnModel  # pylint: disable=import-outside-toplevel
  config = configs.get_config('drum_kit_control')
  hparams = config.hparams({'rnn_layer_sizes': [16], 'attn_length': 4})
  model = DrumsRnnModel.from_config(config, hparams, seed=1)
  return loading.LoadedModel(config, hparams, model, 'tiny untrained drum_kit_control', 'test')


def start_server(humanize=True, bundle_file=None, tiny_control=False):
  """(server, url): the studio on a free port of 127.0.0.1, served from a daemon thread."""
  from drums_rnn import loading  # pylint: disable=import-outside-toplevel
  from drums_rnn.studio import app as studio_app  # pylint: disable=import-outside-toplevel
  from drums_rnn.studio import server as studio_server  # pylint: disable=import-outside-toplevel
  humanizer = loading.load_humanizer(None) if humanize else None
  loaded = tiny_control_model() if tiny_control else loading.load_model(bundle_file)
  app = studio_app.create_app(loaded, humanizer)
  return studio_server.start_in_thread(app)


def chrome(width, height, profile_dir):
  from selenium import webdriver  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.chrome.service import Service  # pylint: disable=import-outside-toplevel
  options = webdriver.ChromeOptions()
  options.binary_location = shutil.which('chromium') or '/usr/bin/chromium'
  for arg in CHROME_ARGS:
    options.add_argument(arg)
  options.add_argument(f'--window-size={width},{height}')
  options.add_argument(f'--user-data-dir={profile_dir}')
  return webdriver.Chrome(service=Service(executable_path=shutil.which('chromedriver')), options=options)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--output', default=os.path.join(REPO_ROOT, 'docs', 'studio.png'),
                      help='the picture at the first width; the others get -<width> before .png')
  parser.add_argument('--seed', type=int, default=7)
  parser.add_argument('--bars', type=int, default=4)
  parser.add_argument('--widths', default='1400,800', help='window widths, comma-separated')
  parser.add_argument('--bundle_file', default=None, help='the model to serve (default: the shipped one)')
  parser.add_argument('--tiny_control', action='store_true',
                      help='serve a tiny untrained drum_kit_control model (the controls, not its music)')
  parser.add_argument('--no_generate', action='store_true',
                      help='leave the starter pattern as it is (an untrained model\'s grooves are noise)')
  parser.add_argument('--style', default='funk', help='the style chosen (a model with controls; "" for any)')
  parser.add_argument('--density', default='2', help='the density bin chosen (a model with controls; "" for any)')
  parser.add_argument('--fills', default='4', help='the bars asked to be fills, 1-based, comma-separated')
  args = parser.parse_args()
  if args.bundle_file and args.tiny_control:
    parser.error('give at most one of --bundle_file, --tiny_control')
  widths = [int(w) for w in args.widths.split(',')]
  runtime.configure_process()
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.support.ui import Select  # pylint: disable=import-outside-toplevel
  from selenium.webdriver.support.ui import WebDriverWait  # pylint: disable=import-outside-toplevel
  server, url = start_server(bundle_file=args.bundle_file, tiny_control=args.tiny_control)
  with tempfile.TemporaryDirectory() as profile:
    driver = chrome(widths[0], 800, profile)
    try:
      driver.get(url)
      driver.execute_script('localStorage.clear()')  # the starter, not a kept pattern
      driver.get(url)
      wait = WebDriverWait(driver, 30)
      wait.until(lambda d: d.find_element(By.TAG_NAME, 'body').get_attribute('data-state') == 'ready')
      if args.bars != 2:
        Select(driver.find_element(By.ID, 'bars')).select_by_value(str(args.bars))
      driver.find_element(By.ID, 'lock-seed').click()
      seed = driver.find_element(By.ID, 'seed')
      seed.clear()
      seed.send_keys(str(args.seed))
      if driver.find_element(By.ID, 'groove-panel').is_displayed():  # a model with controls
        Select(driver.find_element(By.ID, 'style')).select_by_value(args.style)
        Select(driver.find_element(By.ID, 'density')).select_by_value(args.density)
        for bar in filter(None, args.fills.split(',')):
          driver.find_element(By.CSS_SELECTOR, f'.tog.fill[data-bar="{int(bar) - 1}"]').click()
      driver.find_element(By.CSS_SELECTOR, '.switch .slider').click()  # Humanize on
      wait.until(lambda d: 'humanized' in d.find_element(By.ID, 'status').text)
      if not args.no_generate:
        driver.find_element(By.ID, 'generate').click()
        wait.until(lambda d: d.find_element(By.TAG_NAME, 'body').get_attribute('data-results') == '1')
      driver.find_elements(By.CSS_SELECTOR, '.rowcheck')[3].click()  # Open hat ticked
      driver.find_element(By.CSS_SELECTOR, '.tog.lockrow[data-voice="0"]').click()  # the kick locked
      errors = driver.find_elements(By.CSS_SELECTOR, '#status.error')
      if errors:
        raise SystemExit(f'the page shows an error: {errors[0].text}')
      root, ext = os.path.splitext(os.path.abspath(args.output))
      os.makedirs(os.path.dirname(root), exist_ok=True)
      for i, width in enumerate(widths):
        # The window, resized so that the viewport holds the whole page and no more.
        driver.set_window_size(width, 800)
        chrome_height = driver.execute_script('return window.outerHeight - window.innerHeight')
        page_height = driver.execute_script('return Math.ceil(document.body.getBoundingClientRect().bottom)')
        driver.set_window_size(width, page_height + chrome_height)
        output = args.output if i == 0 else f'{root}-{width}{ext}'
        driver.save_screenshot(output)
        print(f'wrote {output} ({width} px; {driver.find_element(By.ID, "result").text})')
    finally:
      driver.quit()
      server.shutdown()


if __name__ == '__main__':
  main()
