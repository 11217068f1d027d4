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
# The web chat's browser test (tests/bot/test_webchat.py) drives Debian's chromium through Playwright, which
# never downloads a browser of its own here. Installed only with the test extra, only as root, and a machine
# without apt (or offline) still finishes the set-up: the browser test then skips, saying why.
if [[ ",$extras," == *",test,"* ]] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup.sh: could not install chromium; the web chat browser test will be skipped" >&2
  else
    echo "setup.sh: chromium is missing (as root: apt-get install chromium); the browser test will be skipped" >&2
  fi
fi
