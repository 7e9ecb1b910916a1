"""drums_rnn_evaluate (placeholder until its issue lands)."""

import sys


def console_main():
  sys.stderr.write('drums_rnn_evaluate: not yet implemented\n')
  sys.exit(2)
