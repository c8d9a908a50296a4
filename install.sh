#!/usr/bin/env bash
# Create ./.venv and install ccre with its test tools. Safe to run again (it only adds what is missing).
# CCRE_TORCH picks the torch requirement (default torch==2.13.0; for a GPU build of your choice set
# e.g. CCRE_TORCH="torch==2.5.1" or install torch into the venv first).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/pip install --disable-pip-version-check -q "${CCRE_TORCH:-torch==2.13.0}"
fi
.venv/bin/pip install --disable-pip-version-check -q -e ".[dev]"
