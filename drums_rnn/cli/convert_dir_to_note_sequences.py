"""convert_dir_to_note_sequences (placeholder until its issue lands)."""

import sys


def console_main():
  sys.stderr.write('convert_dir_to_note_sequences: not yet implemented\n')
  sys.exit(2)
