#!/usr/bin/env bash
# Fresh machine -> drum tracks: installs drums_rnn into ./.venv, then generates four 8-bar grooves with the
# shipped default drum_kit model (trained on the Groove MIDI Dataset) into ./generated, humanized by the shipped
# humanizer (velocities and timing learned from the same dataset), one PNG beside each MIDI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install.sh
.venv/bin/drums_rnn_generate --output_dir=generated --num_outputs=4 --num_steps=128 \
  --primer_drums="[(36, 42), (), (42,), (), (38, 42), (), (42,), ()]" --seed=1 --humanize --plot "$@"
echo "Listen to the MIDI files in $(pwd)/generated (PNG pictures of their hits, velocities and timing beside them)."
