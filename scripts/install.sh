#!/usr/bin/env bash
# Creates ./.venv (Python 3.11) and installs drums_rnn with its pinned dependencies (and, where npm is
# installed, the pinned @magenta/music the magenta.js export is tested against, into ./node_modules).
# Usage: bash scripts/install.sh      (idempotent; set PYTHON=... to choose the interpreter)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
echo "drums_rnn installed in $(pwd)/.venv (activate with: source .venv/bin/activate)"
# The real magenta.js client that tests/test_magentajs.py runs exports against: @magenta/music as pinned by
# package-lock.json, into ./node_modules (its install scripts are not needed and not run).
if command -v npm >/dev/null; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "@magenta/music installed in $(pwd)/node_modules (for tests/test_magentajs.py)"
else
  echo "npm not found: skipped the magenta.js test client (install Node.js and npm, then run: npm ci --ignore-scripts); tests/test_magentajs.py skips its Node part"
fi
