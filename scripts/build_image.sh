#!/usr/bin/env bash
# Builds the real Dockerfile without a container registry and smoke-tests the image (CI runs it: .ci/run).
#
#   sudo scripts/build_image.sh
#
# 1. A base image localhost/acnebot-base:bookworm: Debian bookworm from Debian's mirror with debootstrap
#    (minbase + python3, python3-venv, ca-certificates, python-is-python3), imported with `podman import`.
#    Made once: an existing base image is reused (REBUILD_BASE=1 makes it anew).
# 2. `podman build --isolation=chroot --build-arg BASE=<that base>` of the Dockerfile, tagged localhost/acnebot:test.
#    pip in the build gets this machine's CA bundle as the build secret pip_ca (PIP_CERT, else the system
#    bundle), so it works behind a TLS-intercepting proxy; the CA is mounted for that one step, never stored.
# 3. scripts/smoke_image.sh: the image's own programs, as its user, assess the bundled photo and serve /healthz.
#
# Needs root (debootstrap, podman build --isolation=chroot, mount, chroot); installs podman and debootstrap with
# apt-get when they are missing. Settings (environment): ACNEBOT_IMAGE, ACNEBOT_BASE_IMAGE, DEBIAN_MIRROR,
# REBUILD_BASE=1, SKIP_SMOKE=1. Images live in podman's default storage (/var/lib/containers/storage): the base,
# the image and its build stage (localhost/acnebot-build:test, the next build's cache); a build removes the last
# build's images, so storage holds one build's worth. The whole output of debootstrap and podman build is in
# build/image/.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${ACNEBOT_IMAGE:-localhost/acnebot:test}"
BASE_IMAGE="${ACNEBOT_BASE_IMAGE:-localhost/acnebot-base:bookworm}"
BUILD_STAGE="${IMAGE%:*}-build:${IMAGE##*:}"   # the Dockerfile's build stage, kept as the next build's cache
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm

say() { printf 'build_image.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
elapsed() { printf '%ds' "$((SECONDS - $1))"; }

if [ "$(id -u)" != 0 ]; then
  die "must run as root: debootstrap, 'podman build --isolation=chroot', mount and chroot all need it (try: sudo $0)"
fi
missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || die "${missing[*]} missing and no apt-get to install them with"
  say "installing ${missing[*]} with apt-get"
  apt-get update -qq
  # With podman's recommended packages (crun, fuse-overlayfs, slirp4netns, uidmap...), as on the machine this was
  # made on.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v podman >/dev/null 2>&1 || die "podman is missing (apt-get install podman)"
command -v debootstrap >/dev/null 2>&1 || die "debootstrap is missing (apt-get install debootstrap)"

# One image build at a time on this machine (a developer's and CI's would fight over the tags and mounts).
exec 9>/run/lock/acnebot-build-image.lock
flock 9 || die "could not take /run/lock/acnebot-build-image.lock"

logs=build/image         # the whole output of debootstrap and podman build (ignored by git and the build)
mkdir -p "$logs"
work="$(mktemp -d /var/tmp/acnebot-image.XXXXXX)"
cleanup() {  # debootstrap mounts /proc and /sys in the new root: an interrupted one leaves them mounted
  awk -v dir="$work/" 'index($2, dir) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r target; do
    umount "$target" 2>/dev/null || umount --lazy "$target" || true
  done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
started=$SECONDS

# -- 1. the base image -------------------------------------------------------------------------------------------
if [ "${REBUILD_BASE:-0}" != 1 ] && podman image exists "$BASE_IMAGE"; then
  say "base $BASE_IMAGE exists: reused (REBUILD_BASE=1 makes it anew)"
else
  step=$SECONDS
  say "debootstrap $SUITE from $MIRROR (minbase, python3) ..."
  rootfs="$work/rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,python-is-python3 \
    "$SUITE" "$rootfs" "$MIRROR" >"$logs/debootstrap.log" 2>&1 \
    || { tail -n 30 "$logs/debootstrap.log" >&2; die "debootstrap failed (above; all of it in $logs/debootstrap.log)"; }
  # Like debian:bookworm-slim: updates and security in the sources, no downloaded packages or package lists
  # (the Dockerfile runs apt-get update), and no docs, man pages or translations from later installs.
  security="${MIRROR%/debian}/debian-security"
  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $security $SUITE-security main
EOF
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/90-acnebot-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  chroot "$rootfs" python --version >/dev/null || die "the base has no 'python' on PATH"
  chroot "$rootfs" python -c "import venv, ensurepip" || die "the base's python has no venv/ensurepip"
  tar -C "$rootfs" --numeric-owner -c . \
    | podman import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
        --message "Debian $SUITE minbase + python3 (scripts/build_image.sh)" - "$BASE_IMAGE" >/dev/null
  rm -rf --one-file-system "$rootfs"
  say "base $BASE_IMAGE made in $(elapsed "$step")"
fi

# -- 2. the image ------------------------------------------------------------------------------------------------
step=$SECONDS
ca="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}"
secret=()
if [ -s "$ca" ]; then secret=(--secret "id=pip_ca,src=$ca"); else say "no CA bundle at $ca: pip uses its own"; fi
image_id() { podman image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
build() {  # build EXTRA-ARGS...: the Dockerfile on the base; the whole output appended to the log
  # --format docker: an OCI image would drop the HEALTHCHECK (and the smoke test runs it).
  podman build --isolation=chroot --format docker --pull=never --build-arg "BASE=$BASE_IMAGE" "${secret[@]}" \
    --file Dockerfile "$@" . >>"$logs/podman-build.log" 2>&1 \
    || { tail -n 60 "$logs/podman-build.log" >&2; die "podman build failed (above; all of it in $logs/podman-build.log)"; }
}
previous=("$(image_id "$IMAGE")" "$(image_id "$BUILD_STAGE")")
say "podman build $IMAGE on $BASE_IMAGE (log: $logs/podman-build.log) ..."
: >"$logs/podman-build.log"
build --tag "$IMAGE"
awk '/^\[[0-9]+\/[0-9]+\] STEP/ { if (step) print step; step = "  " substr($0, 1, 110); next }
     /^--> Using cache/ && step { print step "  (cached)"; step = "" }
     END { if (step) print step }' "$logs/podman-build.log" >&2
# The build stage tagged too (all cached, seconds), so that removing the last build's images below keeps it:
# the next build reuses its pip install while the requirements are unchanged.
build --target build --tag "$BUILD_STAGE"
current=("$(image_id "$IMAGE")" "$(image_id "$BUILD_STAGE")")
for id in "${previous[@]}"; do
  # The last build's images, untagged now, with the layers only they used: storage stays one build's worth.
  if [ -n "$id" ] && [[ " ${current[*]} " != *" $id "* ]]; then podman rmi "$id" >/dev/null 2>&1 || true; fi
done
say "image built in $(elapsed "$step")"

# -- 3. smoke test -----------------------------------------------------------------------------------------------
if [ "${SKIP_SMOKE:-0}" != 1 ]; then
  scripts/smoke_image.sh "$IMAGE"
fi
size="$(podman image inspect --format '{{.Size}}' "$IMAGE")"
say "$IMAGE: $size bytes ($(numfmt --to=iec-i --suffix=B "$size")); whole run $(elapsed "$started")"
