#!/usr/bin/env bash
# Regenerates the lock files under requirements/ from pyproject.toml (`make lock`), after a change to its
# dependencies or to take newer releases; commit the result. scripts/setup.sh, CI and the image install from them
# with `pip install --no-deps --require-hashes`, so they are the whole truth of what gets installed.
#
#   requirements/runtime.txt  the service: pyproject's `dependencies`
#   requirements/test.txt     the "test" extra, layered on runtime.txt (only what it adds)
#   requirements/train.txt    the "train" extra, layered on runtime.txt, compiled with test.txt as constraints too so
#                             that the two agree where they share a package (a package both need is in both)
#
# pip-tools (pip-compile --generate-hashes), not uv or poetry: it resolves with pip itself, so it sees the local
# index and find-links this machine's pip is configured with, where the CPU build torch==2.13.0+cpu lies.
# The locks are for CPython 3.11 on Linux x86_64 (the project's machines and python:3.11-slim); the hashes cover
# every file of each pinned release on PyPI.
#
# mediapipe 0.10.21 declares jax, jaxlib, opencv-contrib-python, sentencepiece and sounddevice; its legacy FaceMesh,
# all the service uses, imports none of them, and cv2 comes from opencv-python-headless. scripts/lock_filter.py
# leaves them out, with what only they need (scipy, ml-dtypes, opt-einsum), and says so in the lock's header.
#
# Takes several minutes a file (pip-compile fetches every release file's hash). Settings: LOCK_TOOLS (a folder
# for pip-tools' venv, default build/lock-tools), UPGRADE=1 (take the newest releases pyproject allows; otherwise
# pins already in a lock are kept where they still fit), ONLY="runtime test" (which locks to write).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
tools="${LOCK_TOOLS:-build/lock-tools}"
only=" ${ONLY:-runtime test train} "
leave_out=(jax jaxlib opencv-contrib-python sentencepiece sounddevice)
why="mediapipe declares them; its FaceMesh never imports them (cv2 is opencv-python-headless)"

if [ ! -x "$tools/bin/pip-compile" ]; then
  "$python" -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet "pip==26.3" "pip-tools==7.6.2"
fi
export CUSTOM_COMPILE_COMMAND="make lock"
mkdir -p requirements

compile() {  # compile NAME [pip-compile options...]: requirements/NAME.txt from pyproject.toml
  local name="$1" out="requirements/$1.txt" work
  shift
  work="$(mktemp -d)"
  # A copy, so that a failed run leaves the committed lock as it was; pip-compile starts from its pins.
  if [ -f "$out" ] && [ "${UPGRADE:-0}" != 1 ]; then cp "$out" "$work/$name.txt"; fi
  echo "lock.sh: compiling $out" >&2
  "$tools/bin/pip-compile" --quiet --generate-hashes --strip-extras --allow-unsafe \
    --no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
    $([ "${UPGRADE:-0}" = 1 ] && echo --upgrade) "$@" --output-file "$work/$name.txt" pyproject.toml
  "$python" scripts/lock_filter.py "$work/$name.txt" "${leave_out[@]/#/--leave-out=}" --why "$why" \
    $([ "$name" != runtime ] && echo --layer-on=requirements/runtime.txt)
  mv "$work/$name.txt" "$out"
  rm -rf "$work"
}

[[ "$only" == *" runtime "* ]] && compile runtime
[[ "$only" == *" test "* ]] && compile test --extra test --constraint requirements/runtime.txt
[[ "$only" == *" train "* ]] && compile train --extra train --constraint requirements/runtime.txt \
  --constraint requirements/test.txt
echo "lock.sh: done; check with: scripts/setup.sh test,train && .venv/bin/python -m pytest tests/test_lock.py" >&2
