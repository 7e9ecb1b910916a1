#!/usr/bin/env bash
# Reproduces the README's evaluation of the shipped default model:
#   100 generated 8-bar tracks vs the Groove MIDI Dataset's test split, and a shuffled-steps baseline of that
#   split vs the split itself; plus the model's perplexity on the test split's drum tracks.
# Usage: bash scripts/evaluate_default_model.sh [GROOVE_DIR] [OUT_DIR]   (after scripts/install.sh)
# Data: Groove MIDI Dataset, Gillick et al. 2019 (Magenta), CC BY 4.0.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
GROOVE=${1:-${DRUMS_RNN_GROOVE_DIR:-../shared/data/groove}}
OUT=${2:-/tmp/drums_rnn_default_eval}
BIN=.venv/bin
[ -x "$BIN/drums_rnn_generate" ] || BIN=$(dirname "$(command -v drums_rnn_generate)")
rm -rf "$OUT" && mkdir -p "$OUT"
"$BIN/drums_rnn_generate" --output_dir="$OUT/generated" --num_outputs=100 --num_steps=128 \
  --primer_drums="[(36,)]" --seed=1
"$BIN/drums_rnn_evaluate" --bundle_file=drums_rnn/models/drum_kit.mag --groove_dir="$GROOVE" \
  --reference_split=test --midi_dir="$OUT/generated" --max_bars=8 \
  --output_json="$OUT/generated_vs_test.json" --output_csv="$OUT/generated_vs_test.csv" | tee "$OUT/generated_vs_test.txt"
# Test beats and test fills as separate references: 52 of the 129 test files are one-bar fill snippets.
for kind in beat fill; do
  "$BIN/drums_rnn_evaluate" --groove_dir="$GROOVE" --reference_split=test --reference_beat_type=$kind \
    --midi_dir="$OUT/generated" --max_bars=8 \
    --output_json="$OUT/generated_vs_test_${kind}s.json" | tee "$OUT/generated_vs_test_${kind}s.txt"
done
"$BIN/drums_rnn_evaluate" --groove_dir="$GROOVE" --reference_split=test --shuffled_output_dir="$OUT/shuffled" \
  --midi_dir="$OUT/shuffled" --max_bars=8 --seed=1 \
  --output_json="$OUT/shuffled_vs_test.json" --output_csv="$OUT/shuffled_vs_test.csv" | tee "$OUT/shuffled_vs_test.txt"
"$BIN/drums_rnn_evaluate" --bundle_file=drums_rnn/models/drum_kit.mag --groove_dir="$GROOVE" \
  --reference_split=test | tail -8 | tee "$OUT/test_split_likelihood.txt"
echo "Results in $OUT"
