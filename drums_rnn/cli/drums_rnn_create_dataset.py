"""drums_rnn_create_dataset (placeholder until its issue lands)."""

import sys


def console_main():
  sys.stderr.write('drums_rnn_create_dataset: not yet implemented\n')
  sys.exit(2)
