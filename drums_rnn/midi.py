"""Drum tracks to MIDI files, and finding MIDI files in a folder.

The one MIDI writer of the package. A drum track is a list of hits on a
step grid (step, MIDI pitch, velocity); :func:`drum_sequence` makes the
NoteSequence Magenta writes for it (each hit a one-step drum note on
channel 10, ``is_drum``, at the given tempo; notes in (step, pitch) order)
and :func:`write_midi` turns it into MIDI bytes with note-seq / pretty_midi
(the same bytes as ``note_seq.sequence_proto_to_midi_file``) and writes them
with the safe writer, so a full disk is an error, never an empty file.
"""

import io
import os
from typing import Iterable, List, Sequence

import numpy as np

from drums_rnn import files
from drums_rnn.errors import DrumsRnnError

MIDI_EXTENSIONS = ('.mid', '.midi')
DRUM_INSTRUMENT = 9
DEFAULT_QPM = 120.0
DEFAULT_VELOCITY = 100
TICKS_PER_QUARTER = 220  # note-seq's STANDARD_PPQ


def drum_sequence(steps, pitches, steps_per_quarter, qpm=DEFAULT_QPM, velocities=DEFAULT_VELOCITY,
                  total_steps=None, time_signature=None, start_offsets=None):
  """A drum NoteSequence from parallel hit arrays.

  Args:
    steps, pitches: the step and MIDI pitch of each hit.
    steps_per_quarter: the grid (4 = 16th notes).
    qpm: tempo.
    velocities: one velocity for all hits, or one per hit (1..127).
    total_steps: the track's length in steps (sets total_time); default:
      the end of the last note.
    time_signature: (numerator, denominator) to record, or None for none.
    start_offsets: optional per-hit timing offsets in fractions of a step
      (each note keeps its one-step length).
  """
  from note_seq.protobuf import music_pb2  # pylint: disable=import-outside-toplevel
  steps = np.asarray(steps, np.int64).reshape(-1)
  pitches = np.asarray(pitches, np.int64).reshape(-1)
  velocities = np.broadcast_to(np.asarray(velocities, np.int64), steps.shape)
  offsets = (np.zeros(steps.shape) if start_offsets is None
             else np.broadcast_to(np.asarray(start_offsets, np.float64), steps.shape))
  order = np.lexsort((pitches, steps))
  sequence = music_pb2.NoteSequence()
  sequence.ticks_per_quarter = TICKS_PER_QUARTER
  sequence.tempos.add(qpm=qpm)
  if time_signature is not None:
    sequence.time_signatures.add(numerator=time_signature[0], denominator=time_signature[1])
  seconds_per_step = 60.0 / qpm / steps_per_quarter
  for i in order.tolist():
    position = int(steps[i]) + float(offsets[i])
    sequence.notes.add(pitch=int(pitches[i]), velocity=int(velocities[i]),
                       instrument=DRUM_INSTRUMENT, is_drum=True,
                       start_time=max(position * seconds_per_step, 0.0),
                       end_time=(position + 1) * seconds_per_step)
  if total_steps is not None:
    sequence.total_time = total_steps * seconds_per_step
  elif sequence.notes:
    sequence.total_time = max(n.end_time for n in sequence.notes)
  return sequence


def events_to_sequence(events: Sequence[Iterable[int]], steps_per_quarter, qpm=DEFAULT_QPM,
                       velocity=DEFAULT_VELOCITY):
  """Magenta's DrumTrack.to_sequence: each pitch of each step a one-step note."""
  steps = [s for s, pitches in enumerate(events) for _ in pitches]
  pitches = [p for pitches in events for p in pitches]
  return drum_sequence(steps, pitches, steps_per_quarter, qpm, velocity)


def midi_bytes(sequence) -> bytes:
  """The MIDI file of a NoteSequence, in memory (note-seq's conversion)."""
  from note_seq import midi_io  # pylint: disable=import-outside-toplevel
  buffer = io.BytesIO()
  midi_io.note_sequence_to_pretty_midi(sequence).write(buffer)
  return buffer.getvalue()


def write_midi(path, sequence, overwrite=True) -> str:
  """Writes `sequence` as a MIDI file with the safe writer; returns the path written.

  With overwrite=False an existing file is never replaced: the name gets a
  `-2`, `-3`, ... suffix instead (files.write_new_file).
  """
  data = midi_bytes(sequence)
  if overwrite:
    return files.write_bytes_atomic(path, data)
  return files.write_new_file(path, data)


def write_midi_files(sequences, paths: List[str], overwrite=True) -> List[str]:
  """Writes each sequence to its path; on any error removes what this call wrote."""
  written = []
  try:
    for sequence, path in zip(sequences, paths):
      written.append(write_midi(path, sequence, overwrite))
  except BaseException:
    for path in written:
      try:
        os.remove(path)
      except OSError:
        pass
    raise
  return written


def is_midi_file(path) -> bool:
  return path.lower().endswith(MIDI_EXTENSIONS)


def list_midi_files(directory, recursive=True, what='MIDI folder') -> List[str]:
  """Sorted MIDI files (.mid, .midi) under `directory`, each real file once; errors if none."""
  if not directory or not os.path.isdir(directory):
    raise DrumsRnnError(f'{what} {directory!r} does not exist or is not a directory')
  paths = sorted(full for full, _ in files.walk_files(directory, recursive) if is_midi_file(full))
  if not paths:
    raise DrumsRnnError(f'no MIDI files (.mid, .midi) in {directory!r}')
  return paths


def read_midi(path, what='MIDI file'):
  """A NoteSequence of a MIDI file, or one clear DrumsRnnError."""
  import note_seq  # pylint: disable=import-outside-toplevel
  try:
    with open(path, 'rb') as f:
      data = f.read()
  except OSError as e:
    raise DrumsRnnError(f'cannot read {what} {path!r}: {files.describe_os_error(e)}') from None
  try:
    return note_seq.midi_to_note_sequence(data)
  except Exception as e:  # pylint: disable=broad-except  (mido/pretty_midi raise plain exceptions)
    # note-seq's reader wraps everything (a bare except), Ctrl-C and SIGTERM included.
    if e.__context__ is not None and not isinstance(e.__context__, Exception):
      raise e.__context__ from None
    raise DrumsRnnError(f'cannot read {what} {path!r}: {type(e).__name__}: {e}') from None

