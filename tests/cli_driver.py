"""Runs one CLI's console_main on several argument lists in ONE process.

Importing note-seq costs seconds, so the error-path tests run every case
through the real entry point (console_main -> common.run -> main) in a
single subprocess: `python -m tests.cli_driver MODULE CASES_JSON` prints one
JSON line per case with the exit code and what went to stdout/stderr.
Flags are reset between cases.
"""

import contextlib
import importlib
import io
import json
import sys

from absl import flags


def main():
  module = importlib.import_module(sys.argv[1])
  cases = json.loads(sys.argv[2])
  for args in cases:
    flags.FLAGS.unparse_flags()
    out, err = io.StringIO(), io.StringIO()
    code = 0
    sys.argv = [sys.argv[0]] + args
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      try:
        module.console_main()
      except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    sys.__stdout__.write(json.dumps({'code': code, 'stdout': out.getvalue(),
                                     'stderr': err.getvalue()}) + '\n')
    sys.__stdout__.flush()


if __name__ == '__main__':
  main()
