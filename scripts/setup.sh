#!/usr/bin/env bash
# Creates .venv/ at the repository root and installs acnebot into it (editable), with the extras named in
# $1 (e.g. "test,train"). Re-running is cheap: it reinstalls only when pyproject.toml or the extras change.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)-${extras//,/-}"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  if [ -n "$extras" ]; then target=".[$extras]"; else target="."; fi
  # torch==2.13.0 (train extra) is a CPU wheel on this machine's local index: pip takes it without downloading.
  .venv/bin/python -m pip install --quiet -e "$target"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
