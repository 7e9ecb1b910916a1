#!/usr/bin/env bash
# Creates ./.venv (Python 3.11) and installs drums_rnn with its pinned dependencies.
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
