"""The Groove MIDI Dataset's splits, read from its info.csv.

The Groove MIDI Dataset (Gillick, Roberts, Engel, Eck & Bamman, 2019,
Magenta; CC BY 4.0) is 1,150 real drum performances with velocities and
microtiming. Its ``info.csv`` names each file's split (train, validation,
test), drummer, style and meter. Every user of the data (evaluation, the
default-model recipe, tests) reads the splits here.
"""

import csv
import os
from typing import Dict, List

from drums_rnn.errors import DrumsRnnError

SPLITS = ('train', 'validation', 'test')
CREDIT = ('Groove MIDI Dataset: Gillick, Roberts, Engel, Eck & Bamman, "Learning to Groove with '
          'Inverse Sequence Transformations", ICML 2019 (Magenta), CC BY 4.0.')
# The line a model trained on it carries (bundle description, figures JSON).
MODEL_CREDIT = ('Trained on the Groove MIDI Dataset (Gillick et al. 2019, Magenta; CC BY 4.0, '
                'https://magenta.tensorflow.org/datasets/groove).')


def read_info(groove_dir) -> List[Dict[str, str]]:
  """The rows of `groove_dir/info.csv` as dicts (midi_filename made absolute)."""
  info = os.path.join(groove_dir or '', 'info.csv')
  if not groove_dir or not os.path.isfile(info):
    raise DrumsRnnError(f'no info.csv in the Groove folder {groove_dir!r}: point it at the folder '
                        'of the Groove MIDI Dataset that holds info.csv')
  try:
    with open(info, newline='', encoding='utf-8') as f:
      rows = list(csv.DictReader(f))
    for row in rows:
      row['midi_filename'] = os.path.join(groove_dir, row['midi_filename'])
      row['split']  # pylint: disable=pointless-statement  (KeyError if the column is missing)
  except (OSError, KeyError, csv.Error, UnicodeDecodeError) as e:
    raise DrumsRnnError(f'cannot read {info!r}: {e}') from None
  return rows


def split_files(groove_dir, split, beat_type=None) -> List[str]:
  """Sorted MIDI paths of one split (optionally only 'beat' or 'fill' rows)."""
  if split not in SPLITS:
    raise DrumsRnnError(f'unknown Groove split {split!r}: choose one of {", ".join(SPLITS)}')
  paths = sorted(r['midi_filename'] for r in read_info(groove_dir)
                 if r['split'] == split and (beat_type is None or r.get('beat_type') == beat_type))
  if not paths:
    raise DrumsRnnError(f'no {split!r} files listed in {os.path.join(groove_dir, "info.csv")!r}')
  return paths
