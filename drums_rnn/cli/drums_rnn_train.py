"""drums_rnn_train (placeholder until its issue lands)."""

import sys


def console_main():
  sys.stderr.write('drums_rnn_train: not yet implemented\n')
  sys.exit(2)
