"""The dataset side, no TensorFlow: per-bar features and control labels of drum tracks.

Everything here is numpy (plus the project's MIDI readers), so labelling a
folder of MIDI files, counting labels or checking a fill never loads
TensorFlow: :mod:`drums_rnn.data.bars` measures each bar,
:mod:`drums_rnn.data.fill_detector` tells fill bars from beat bars, and
:mod:`drums_rnn.data.labels` turns both (and a track's style) into the
per-bar controls of the ``drum_kit_control`` config.
"""
