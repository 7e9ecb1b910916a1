"""One progress reporter for long loops (datasets, MIDI folders).

Logs ``<what>: done/total (rate/s, ETA s)`` at most every `every_secs`
seconds. The rate is measured over the last interval, and only from the
first reported item on, so start-up (worker processes, imports) does not
make the first estimate wrong. :meth:`Progress.finish` logs the overall rate.
"""

import time

from absl import logging


class Progress:
  """Progress of `total` items of `what` (e.g. 'inputs', 'MIDI files read')."""

  def __init__(self, total, what, every_secs=5.0):
    self.total, self.what, self.every_secs = total, what, every_secs
    self.start = time.monotonic()
    self._mark = None  # (time, done) of the last line, from the first update on

  def update(self, done, note=''):
    """Reports `done` items so far, at most once per interval; `note` is appended."""
    now = time.monotonic()
    if self._mark is None:
      self._mark = (now, done)
      return
    last_time, last_done = self._mark
    if now - last_time < self.every_secs:
      return
    self._log(done, (done - last_done) / max(now - last_time, 1e-9), note)
    self._mark = (now, done)

  def finish(self, done, note=''):
    """Reports the end, with the rate over the whole run."""
    self._log(done, done / max(time.monotonic() - self.start, 1e-9), note)

  def _log(self, done, rate, note):
    eta = (self.total - done) / rate if rate > 0 else float('inf')
    logging.info('Processed %d/%d %s (%.1f/s, ETA %.0f s)%s', done, self.total, self.what, rate,
                 eta, f'; {note}' if note else '')
