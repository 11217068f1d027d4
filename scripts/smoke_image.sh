#!/usr/bin/env bash
# Smoke test of a built image without running a container (this sandbox refuses setrlimit, so podman run fails):
# the image is mounted read-only (`podman image mount`) and its own programs run in it with chroot, as the
# image's user, with the image's environment, working directory and a throwaway volume, as a container would.
#
#   sudo scripts/smoke_image.sh [IMAGE]        # default localhost/acnebot:test (scripts/build_image.sh builds it)
#
# Checks: no compiler and no torch in the image, and exactly the packages of requirements/runtime.txt; the photo
# key command of acnebot.env.example; `acnebot assess` of the bundled sample photo gives a grade; `acnebot serve`
# (SQLite in the volume, loopback, free ports) answers the image's own HEALTHCHECK command and /healthz on both
# ports within 90 s, then exits 0 on SIGTERM; onnxruntime's telemetry left nothing behind.
# Every mount is undone and every process started in the image is ended on the way out, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${1:-localhost/acnebot:test}"
HEALTH_TIMEOUT_S="${HEALTH_TIMEOUT_S:-90}"
STOP_TIMEOUT_S="${STOP_TIMEOUT_S:-30}"

say() { printf 'smoke_image.sh: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root: podman image mount, mount and chroot need it (try: sudo $0)"
command -v podman >/dev/null 2>&1 || die "podman is missing (apt-get install podman, or run scripts/build_image.sh)"
podman image exists "$IMAGE" || die "no image $IMAGE (build it: scripts/build_image.sh)"

work="$(mktemp -d /var/tmp/acnebot-smoke.XXXXXX)"
rootfs=""
mounts=()        # mount points inside rootfs, in the order they were made
server=""

# Processes whose root is the mounted image: only ones this script started there (by pid, never by name).
in_image() {
  local proc
  for proc in /proc/[0-9]*; do
    [ "$(readlink "$proc/root" 2>/dev/null)" = "$rootfs" ] && echo "${proc#/proc/}"
  done
  return 0
}
cleanup() {
  local rc=$? i pids
  trap - EXIT INT TERM
  if [ -n "$rootfs" ]; then
    pids="$(in_image)"
    if [ -n "$pids" ]; then
      # shellcheck disable=SC2086
      kill -KILL $pids 2>/dev/null || true
      sleep 1
    fi
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
      umount "${mounts[i]}" 2>/dev/null || umount --lazy "${mounts[i]}" || say "could not unmount ${mounts[i]}"
    done
    podman image unmount "$IMAGE" >/dev/null || say "could not unmount the image $IMAGE"
  fi
  rm -rf --one-file-system "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

config() { podman image inspect --format "$1" "$IMAGE"; }
rootfs="$(podman image mount "$IMAGE")"
[ -d "$rootfs" ] || die "podman image mount gave no directory"
mount_at() {  # mount_at TARGET-in-image mount-args...
  local target="$rootfs$1"; shift
  [ -d "$target" ] || [ -f "$target" ] || die "$target is not in the image"
  mount "$@" "$target"
  mounts+=("$target")
}

# -- what a container of this image gets ---------------------------------------------------------------------------
user="$(config '{{.Config.User}}')"
[ -n "$user" ] && [ "$user" != root ] && [ "$user" != 0 ] || die "the image runs as root (USER '$user')"
name="${user%%:*}"
passwd_line="$(awk -F: -v u="$name" '$1 == u || $3 == u { print; exit }' "$rootfs/etc/passwd")"
[ -n "$passwd_line" ] || die "user $name is not in the image's /etc/passwd"
IFS=: read -r _ _ uid gid _ home _ <<<"$passwd_line"
[ "$uid" != 0 ] || die "the image's user $name is uid 0"
workdir="$(config '{{.Config.WorkingDir}}')"
mapfile -t image_env < <(config '{{range .Config.Env}}{{println .}}{{end}}' | sed '/^$/d')
mapfile -t volumes < <(config '{{range $v, $_ := .Config.Volumes}}{{println $v}}{{end}}' | sed '/^$/d')
mapfile -t health < <(podman image inspect --format '{{if .HealthCheck}}{{range .HealthCheck.Test}}{{println .}}{{end}}{{end}}' \
  "$IMAGE" | sed '/^$/d')
[ "${#health[@]}" -ge 2 ] && [ "${health[0]}" = CMD ] \
  || die "the image has no HEALTHCHECK CMD (build it with --format docker: OCI images drop it)"
say "$IMAGE: user $name ($uid:$gid), workdir ${workdir:-/}, volumes ${volumes[*]:-none}"

# /proc, a minimal /dev (its own tmpfs: nothing of the host's /dev is shared), a writable /tmp and a fresh,
# empty directory for each VOLUME, owned by the image's user as Docker does for a new named volume.
mount_at /proc -t proc proc
mount_at /dev -t tmpfs -o mode=0755,nosuid,size=64m tmpfs
for node in null zero full random urandom tty; do
  : >"$rootfs/dev/$node"
  mount --bind "/dev/$node" "$rootfs/dev/$node"
  mounts+=("$rootfs/dev/$node")
done
mkdir -m 1777 "$rootfs/dev/shm"
ln -s /proc/self/fd "$rootfs/dev/fd"
ln -s /proc/self/fd/0 "$rootfs/dev/stdin"
ln -s /proc/self/fd/1 "$rootfs/dev/stdout"
ln -s /proc/self/fd/2 "$rootfs/dev/stderr"
mkdir -m 1777 "$work/tmp"
mount_at /tmp --bind "$work/tmp"
for volume in "${volumes[@]}"; do
  dir="$work/volume$(printf '%s' "$volume" | tr / _)"
  mkdir "$dir"
  chown "$uid:$gid" "$dir"
  mount_at "$volume" --bind "$dir"
done
data_dir="$(printf '%s\n' "${image_env[@]}" | sed -n 's/^ACNEBOT_DATA_DIR=//p')"

# in_container [VAR=VALUE...] -- COMMAND...: the image's environment (plus HOME and the overrides) as its user.
# chroot and env exec in turn, so a background in_container's pid ($! of `"${command[@]}" &`) is the program's.
container_command() {
  local extra=()
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do extra+=("$1"); shift; done
  shift
  command=(chroot --userspec="$uid:$gid" "$rootfs" /usr/bin/env -i -C "${workdir:-/}" "HOME=$home"
           "${image_env[@]}" "${extra[@]}" "$@")
}
in_container() {
  local command
  container_command "$@"
  "${command[@]}"
}

# -- (0) the final stage has no compiler and no torch ----------------------------------------------------------------
for tool in gcc cc g++ c++ make; do
  [ ! -e "$rootfs/usr/bin/$tool" ] || die "the image has a compiler or build tool: /usr/bin/$tool"
done
in_container -- python -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is not None)' \
  || die "torch is installed in the image"
say "no compiler, no torch: ok"

# -- (0b) the packages are exactly the runtime lock's (besides pip's own tools and acnebot) -----------------------------
lock=requirements/runtime.txt
if [ -f "$lock" ]; then
  canonical() { awk -F== '{ name = tolower($1); gsub(/[-_.]+/, "-", name); print name "==" $2 }'; }
  sed -nE 's/^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+).*/\1==\2/p' "$lock" | canonical | sort >"$work/locked"
  in_container -- python -c '
from importlib.metadata import distributions
for d in distributions():
    print(d.metadata["Name"] + "==" + d.version)' | canonical | sort -u \
    | grep -vE '^(pip|setuptools|wheel|acnebot)==' >"$work/installed" || true
  if ! diff -u "$work/locked" "$work/installed" >"$work/lock.diff"; then
    cat "$work/lock.diff" >&2
    die "the image's packages are not the lock's ($lock: - locked, + in the image)"
  fi
  say "packages: exactly the $(wc -l <"$work/locked") of $lock: ok"
else
  say "no $lock here: the image's packages are not compared with a lock"
fi

# -- (a) acnebot assess on the bundled sample photo ------------------------------------------------------------------
key="$(in_container -- python -c 'from storage.crypto import new_key_text; print(new_key_text())')" \
  || die "the photo key command of acnebot.env.example failed"
photo="$(in_container -- python -c '
from importlib.resources import files
photos = sorted(p for p in (files("pipeline") / "samples").iterdir() if p.name.endswith(".jpg"))
print(photos[0])')" || die "no bundled sample photo (pipeline/samples/*.jpg) in the image"
started=$SECONDS
in_container -- acnebot assess --json --annotated /tmp/annotated.jpg "$photo" >"$work/assess.json" \
  2>"$work/assess.log" || { tail -n 40 "$work/assess.log" >&2; die "acnebot assess $photo failed"; }
[ -s "$work/tmp/annotated.jpg" ] || die "acnebot assess wrote no annotated photo"
summary="$(in_container -- python -c '
import json, sys
result = json.load(sys.stdin)
grade = result.get("grade")
if grade in (None, "") or not result.get("quality", {}).get("ok"):
    sys.exit(f"no grade in the result: {json.dumps(result)[:500]}")
score, lesions = result.get("score"), len(result.get("lesions", []))
print(f"grade {grade!r}, score {score}, {lesions} lesions")
' <"$work/assess.json")" || die "acnebot assess gave no grade"
say "acnebot assess $(basename "$photo"): $summary in $((SECONDS - started))s: ok"

# -- (b) acnebot serve until /healthz answers, then SIGTERM ------------------------------------------------------------
read -r port console_port < <(in_container -- python -c '
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))')
serve_env=(HOST=127.0.0.1 "PORT=$port" CONSOLE_HOST=127.0.0.1 "CONSOLE_PORT=$console_port"
           "ACNEBOT_PHOTO_KEY=$key")
started=$SECONDS
container_command "${serve_env[@]}" -- acnebot serve
"${command[@]}" >"$work/serve.log" 2>&1 &
server=$!
healthy=""
while [ $((SECONDS - started)) -lt "$HEALTH_TIMEOUT_S" ]; do
  kill -0 "$server" 2>/dev/null || { tail -n 40 "$work/serve.log" >&2; die "acnebot serve exited before /healthz"; }
  if in_container "${serve_env[@]}" -- "${health[@]:1}" >/dev/null 2>&1; then healthy=1; break; fi
  sleep 1
done
[ -n "$healthy" ] || { tail -n 40 "$work/serve.log" >&2; die "/healthz did not answer 200 within ${HEALTH_TIMEOUT_S}s"; }
in_container -- python -c '
import sys, urllib.request
for port in sys.argv[1:]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
        assert answer.status == 200, (port, answer.status)
' "$port" "$console_port" || die "/healthz on port $port or console port $console_port is not 200"
say "acnebot serve: HEALTHCHECK and /healthz on :$port and :$console_port answered 200 after $((SECONDS - started))s: ok"

kill -TERM "$server"
( sleep "$STOP_TIMEOUT_S"; kill -KILL "$server" 2>/dev/null ) &
watchdog=$!
status=0
wait "$server" || status=$?
kill "$watchdog" 2>/dev/null || true
wait "$watchdog" 2>/dev/null || true
server=""
if [ "$status" != 0 ]; then
  tail -n 40 "$work/serve.log" >&2
  die "acnebot serve exited $status on SIGTERM (137: not within ${STOP_TIMEOUT_S}s)"
fi
if grep -E '"levelname": "(ERROR|CRITICAL)"|"level": "(ERROR|CRITICAL)"|Traceback' "$work/serve.log" >&2; then
  die "acnebot serve logged errors (above)"
fi
[ -n "$data_dir" ] && [ -n "$(ls -A "$rootfs$data_dir")" ] || die "acnebot serve wrote nothing to $data_dir"
if [ -e "$rootfs$data_dir/.cache/Microsoft" ] || [ -e "$work/tmp/.ses" ]; then
  die "onnxruntime's telemetry ran (its store in $data_dir/.cache/Microsoft or /tmp/.ses): ORT_DISABLE_TELEMETRY=1 unset?"
fi
say "acnebot serve: exited 0 on SIGTERM; wrote $(ls -A "$rootfs$data_dir" | tr '\n' ' ')to $data_dir: ok"
say "passed"
