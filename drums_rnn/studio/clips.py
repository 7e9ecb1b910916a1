"""MIDI clips of the studio's grids: written exactly as long as the grid, and read back into a grid.

A DAW makes a region as long as a MIDI file's tracks (their end-of-track
events), so a clip of a 2-bar grid must end at 2 bars whatever is in it: an
empty last bar, a hit pushed early or late by the humanizer, a swung last
step. :func:`grid_midi` writes the notes through the package's one MIDI
writer (`midi.drum_sequence`, `midi.midi_bytes`), cuts any note still
sounding at the end of the grid there, and puts every track's end at the
grid's length (pretty_midi, under note-seq, ends a track at its last
event and drops the length the sequence carries).

:func:`read_clip` is the other way: a MIDI file dropped on the page becomes
a grid through the humanizer's reader of drum performances
(`performance.read_performance`: each note on its nearest 16th of the
file's own tempo map, drum pitches mapped to the nine rows, the loudest of
two hits in one cell kept), with the file's tempo and its length in bars.
"""

import io

import numpy as np

from drums_rnn import encoding
from drums_rnn import midi
from drums_rnn.humanizer import performance
from drums_rnn.studio.checks import MAX_BARS
from drums_rnn.studio.checks import STEPS_PER_BAR
from drums_rnn.studio.checks import RequestError

SWING_UNITS = (8, 16)


def swing_shift(steps, swing, unit=16):
  """The delay, in 16th steps, that swing puts on each step (0 on the beat).

  16ths: every odd 16th is late by `swing` steps (0..0.5). 8ths: the second
  8th of each beat is late by 2 * `swing` steps and the 16ths either side
  of it move in proportion (the beat's first half stretched, its second
  squeezed), so a 16th figure swings with the 8ths.
  """
  steps = np.asarray(steps)
  if unit == 16:
    return swing * (steps % 2)
  position = steps % 4  # 16ths within the beat
  return np.select([position == 1, position == 2, position == 3], [swing, 2 * swing, swing], 0.0)


def grid_midi(hits, qpm, velocities=None, offsets=None, swing=0.0, swing_unit=16):
  """MIDI bytes of a grid ([T, 9] hits): one-step drum notes, 4/4, at `qpm`, exactly T steps long.

  Velocities of 0 where there is a hit are written as midi.DEFAULT_VELOCITY.
  `offsets` ([T, 9], fractions of a step) and swing move notes; a note
  moved before the start begins at 0, one that would sound past the end is
  cut there.
  """
  hits = np.asarray(hits, bool)
  steps, voices = np.nonzero(hits)
  pitches = np.asarray(encoding.DRUM_KIT.decode_pitches)[voices]
  vel = np.full(steps.shape, midi.DEFAULT_VELOCITY, np.int64)
  if velocities is not None:
    given = np.asarray(velocities)[steps, voices]
    vel = np.where(given > 0, given, vel)
  shift = np.zeros(steps.shape) if offsets is None else np.asarray(offsets, np.float64)[steps, voices]
  shift = shift + swing_shift(steps, swing, swing_unit)
  total_steps = len(hits)
  sequence = midi.drum_sequence(steps, pitches, performance.STEPS_PER_QUARTER, qpm=qpm, velocities=vel,
                                total_steps=total_steps, time_signature=(4, 4), start_offsets=shift)
  for note in sequence.notes:
    note.end_time = min(note.end_time, sequence.total_time)
  ticks = total_steps * midi.TICKS_PER_QUARTER // performance.STEPS_PER_QUARTER
  return with_length(midi.midi_bytes(sequence), ticks)


def with_length(data, total_ticks):
  """MIDI bytes with every track ending at `total_ticks` (no event later than that)."""
  import mido  # pylint: disable=import-outside-toplevel
  source = mido.MidiFile(file=io.BytesIO(data))
  if source.ticks_per_beat != midi.TICKS_PER_QUARTER:
    total_ticks = total_ticks * source.ticks_per_beat // midi.TICKS_PER_QUARTER
  out = mido.MidiFile(type=source.type, ticks_per_beat=source.ticks_per_beat)
  for track in source.tracks:
    new, now, tick = mido.MidiTrack(), 0, 0
    for message in track:
      tick += message.time
      if message.type == 'end_of_track':
        continue
      at = min(tick, total_ticks)
      new.append(message.copy(time=at - now))
      now = at
    new.append(mido.MetaMessage('end_of_track', time=total_ticks - now))
    out.tracks.append(new)
  buffer = io.BytesIO()
  out.save(file=buffer)
  return buffer.getvalue()


def read_clip(data, max_bars=MAX_BARS):
  """A MIDI clip as a grid: a dict of the page's fields, or RequestError for what is not one.

  Returns {"grid", "velocities", "offsets", "bars", "qpm", "notes", "mapped",
  "unmapped", "merged", "cut_bars"}: the clip's drum notes on whole bars
  (its end-of-track rounded up to a bar, at most `max_bars`; `cut_bars` is
  how many bars past that were left out), velocities and offsets per hit.
  """
  import mido  # pylint: disable=import-outside-toplevel
  import note_seq  # pylint: disable=import-outside-toplevel
  try:
    parsed = mido.MidiFile(file=io.BytesIO(data))
    sequence = note_seq.midi_to_note_sequence(data)
  except Exception as e:  # pylint: disable=broad-except  (mido and pretty_midi raise plain exceptions)
    raise RequestError(f'"midi" is not a MIDI file that can be read: {type(e).__name__}: {e}') from None
  if parsed.type == 2:
    raise RequestError('"midi" is a type 2 MIDI file (independent patterns): save the clip as type 0 or 1')
  tempo_map = performance.TempoMap.from_sequence(sequence)
  cells = performance.note_cells(sequence, tempo_map)
  if not any(n.is_drum for n in sequence.notes):
    # No drum-channel notes: a DAW's drum clip is often on channel 1, so every pitch of the drum map counts.
    cells.drums = _row_of_pitch(sequence)
  end_seconds = max(parsed.length, max((n.end_time for n in sequence.notes), default=0.0))
  end_steps = int(np.ceil(float(tempo_map.to_quarters(end_seconds)) * performance.STEPS_PER_QUARTER - 1e-6))
  bars = max(1, -(-end_steps // STEPS_PER_BAR))
  cut = max(0, bars - max_bars)
  bars = min(bars, max_bars)
  perf, merged = performance.performance_from_cells(cells, tempo_map.first_qpm, bars * STEPS_PER_BAR)
  mapped = int(np.count_nonzero(cells.drums >= 0))
  return {
      'grid': perf.hits.astype(np.int64).tolist(),
      'velocities': perf.velocities.tolist(),
      'offsets': np.round(perf.offsets.astype(np.float64), 4).tolist(),
      'bars': bars,
      'qpm': round(float(tempo_map.first_qpm), 3),
      'notes': len(sequence.notes),
      'mapped': mapped,
      'unmapped': len(sequence.notes) - mapped,
      'merged': merged,
      'cut_bars': cut,
  }


def _row_of_pitch(sequence):
  """The drum row of each note's pitch, drum channel or not (-1 outside the drum map)."""
  bits = encoding.DRUM_KIT.pitch_bits
  pitches = np.fromiter((n.pitch for n in sequence.notes), np.int64, len(sequence.notes))
  b = bits[np.clip(pitches, 0, encoding.NUM_PITCHES - 1)]
  return np.where(b > 0, np.log2(np.maximum(b, 1)).astype(np.int64), -1)
