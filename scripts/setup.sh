#!/usr/bin/env bash
# Creates .venv/ at the repository root and installs acnebot into it (editable), with the extras named in
# $1 (e.g. "test,train"). The packages come from the lock files only (requirements/runtime.txt, then
# requirements/EXTRA.txt for each extra), installed with --no-deps --require-hashes: .venv, CI and the image
# get exactly the same packages, and mediapipe comes without the jax, jaxlib, opencv-contrib-python,
# sentencepiece and sounddevice it declares but never imports (`make lock` regenerates the locks from
# pyproject.toml: scripts/lock.sh). So `pip check` reports mediapipe's missing dependencies: that is expected.
# Re-running is cheap: it reinstalls only when pyproject.toml, a lock in use or the extras change.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
locks=(requirements/runtime.txt)
IFS=',' read -r -a names <<<"$extras"
for extra in "${names[@]}"; do
  if [ ! -f "requirements/$extra.txt" ]; then
    echo "setup.sh: no lock for the extra '$extra' (requirements/$extra.txt)" >&2
    exit 1
  fi
  locks+=("requirements/$extra.txt")
done
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml "${locks[@]}" | sha1sum | cut -c1-12)-${extras//,/-}"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  # Exactly the locked set: first remove what the locks do not name (an older install's packages, an extra no
  # longer asked for). Removing one can take files another shares (opencv-contrib-python and
  # opencv-python-headless both write cv2/), so the locked packages are then reinstalled in full.
  unlocked="$(.venv/bin/python - "${locks[@]}" <<'EOF'
import re, sys
from importlib.metadata import distributions

def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()

locked = {"pip", "acnebot"}
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as lock:
        locked |= {canonical(m.group(1)) for m in map(re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==").match, lock) if m}
print(" ".join(sorted({canonical(d.metadata["Name"]) for d in distributions()} - locked)))
EOF
)"
  reinstall=()
  if [ -n "$unlocked" ]; then
    echo "setup.sh: removing packages the locks do not name: $unlocked" >&2
    # shellcheck disable=SC2086  # one word per package
    .venv/bin/python -m pip uninstall --quiet --yes $unlocked
    reinstall=(--force-reinstall)
  fi
  # torch==2.13.0+cpu (train lock) is a CPU wheel on this machine's local index: pip takes it without downloading.
  .venv/bin/python -m pip install --quiet --no-deps --require-hashes "${reinstall[@]}" "${locks[@]/#/--requirement=}"
  .venv/bin/python -m pip install --quiet --no-deps -e .
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
# A Chinese font for that browser, so the Chinese pages' screenshots (test-artifacts/) can be read, not boxes.
if [[ ",$extras," == *",test,"* ]] && command -v fc-list >/dev/null 2>&1 && [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null) \
      || echo "setup.sh: could not install a Chinese font; Chinese screenshots will show boxes" >&2
  fi
fi
