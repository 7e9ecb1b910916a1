"""drums_rnn_generate (placeholder until its issue lands)."""

import sys


def console_main():
  sys.stderr.write('drums_rnn_generate: not yet implemented\n')
  sys.exit(2)
