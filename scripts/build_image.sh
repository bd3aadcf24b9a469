#!/usr/bin/env bash
# `make image`: builds the Containerfile with buildah and smoke-tests the image (docs/operations.md, "The image").
# No registry is needed: with BASE_IMAGE unset, the base is a Debian bookworm made here with debootstrap
# (minbase, python3.11 and the packages of deploy/apt-packages.txt), kept as the local image govtrack-base:bookworm.
# The smoke test runs in the built image with `buildah run --isolation chroot`: `manage.py check --deploy` with
# production settings, then gunicorn answering /healthz and /readyz.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${IMAGE_TAG:-localhost/govtrack:dev}
BASE_IMAGE=${BASE_IMAGE:-}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
WORK=$(realpath -m "${IMAGE_WORK:-var/image}")  # debootstrap needs an absolute target
export BUILDAH_ISOLATION=chroot
for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null || { echo "make image needs $tool (apt-get install buildah debootstrap)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "make image runs buildah and debootstrap as root here" >&2; exit 1; }

# debootstrap mounts /proc in the tree while it configures packages and leaves it mounted when it fails:
# unmount whatever is under the tree before removing it, and never cross into another file system.
rootfs_remove() {
  local root
  root=$(realpath -m "$WORK/rootfs")
  awk -v r="$root" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
  rm -rf --one-file-system "$root"
}

if [ -z "$BASE_IMAGE" ]; then
  BASE_IMAGE=localhost/govtrack-base:bookworm
  if ! buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
    mapfile -t runtime < <(sed -e 's/#.*//' -e '/^\s*$/d' deploy/apt-packages.txt | awk '{print $1}')
    # python3-distutils provides python3.11-venv's virtual python3.11-distutils, which debootstrap does not resolve.
    include=$(IFS=,; echo "python3.11,python3.11-venv,python3-distutils,ca-certificates,${runtime[*]}")
    echo "== debootstrap bookworm ($include) from $MIRROR"
    SECONDS=0
    for attempt in 1 2 3; do  # a mirror mid-update answers a Packages file that fails validation: try again
      rootfs_remove && mkdir -p "$WORK"
      if debootstrap --variant=minbase --include="$include" bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1
      then break; fi
      tail -3 "$WORK/debootstrap.log" >&2
      [ "$attempt" -lt 3 ] || { echo "debootstrap failed 3 times (log: $WORK/debootstrap.log)" >&2; exit 1; }
      sleep 5
    done
    rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
    echo "   rootfs: $(du -sh "$WORK/rootfs" | cut -f1) in $SECONDS s"
    tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
    ctr=$(buildah from scratch)
    buildah add "$ctr" "$WORK/rootfs.tar" / >/dev/null
    buildah commit --quiet "$ctr" "$BASE_IMAGE" >/dev/null
    buildah rm "$ctr" >/dev/null
    rootfs_remove && rm -f "$WORK/rootfs.tar"
  fi
fi

# The wheels come from this machine's package index (pip's own configuration), mounted into the build: the
# image installs exactly requirements.lock without reaching an index itself.
echo "== wheels of requirements.lock"
SECONDS=0
mkdir -p "$WORK"  # a fresh clone with the base image already built has no var/ yet
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
# Markers dropped: the image's Python (3.11.2 on bookworm) may need a package this one does not (async-timeout).
"$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$WORK/wheels" \
  -r <(sed -e 's/ *;.*//' requirements.lock) 2>"$WORK/wheels.log" || { tail -20 "$WORK/wheels.log" >&2; exit 1; }
echo "   $(ls "$WORK/wheels" | wc -l) wheels in $SECONDS s"

echo "== buildah bud $TAG (base $BASE_IMAGE)"
SECONDS=0
buildah bud --quiet --isolation chroot --layers --build-arg BASE_IMAGE="$BASE_IMAGE" \
  --volume "$WORK/wheels:/wheels:ro" --build-arg PIP_INSTALL_OPTIONS="--no-index --find-links /wheels" \
  -f Containerfile -t "$TAG" . >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; exit 1; }
echo "   built in $SECONDS s; $(buildah images --format '{{.Size}}' "$TAG" | head -1)"

echo "== smoke test: check --deploy, gunicorn answering"
ctr=$(buildah from "$TAG")
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
smoke_env=(--env SECRET_KEY=smoke-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH
  --env ALLOWED_HOSTS=127.0.0.1 --env SECURE_SSL_REDIRECT=1 --env SECURE_PROXY_SSL_HEADER=1)
# Asked up to three times: once, right after a build, `buildah run` here answered nothing on stdout (exit 0).
uid=""
for attempt in 1 2 3; do
  uid=$(buildah run --isolation chroot "${smoke_env[@]}" "$ctr" -- id -u 2>"$WORK/smoke.err" || true)
  [ -n "$uid" ] && break
  echo "   id -u answered nothing (attempt $attempt): $(tail -c 300 "$WORK/smoke.err")" >&2
  sleep 2
done
[ "$uid" = 10001 ] || { echo "the image runs as uid $uid, not 10001" >&2; exit 1; }
buildah run --isolation chroot "${smoke_env[@]}" "$ctr" -- python manage.py check --deploy --fail-level WARNING
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
buildah run --isolation chroot "${smoke_env[@]}" --env GUNICORN_BIND="127.0.0.1:$port" --env GUNICORN_WORKERS=1 "$ctr" -- \
  sh -c 'gunicorn -c deploy/gunicorn.conf.py govtrack.wsgi:application >/tmp/gunicorn.log 2>&1 & pid=$!
    python - "$0" <<"PY"
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(100):
    try:
        for path in ("/healthz", "/readyz"):
            with urllib.request.urlopen(url + path, timeout=5) as answer:
                print(path, answer.status, answer.read().decode()[:200])
        break
    except OSError:
        time.sleep(0.3)
else:
    sys.exit("gunicorn did not answer")
PY
    status=$?; kill $pid; wait $pid 2>/dev/null; [ $status -eq 0 ] || cat /tmp/gunicorn.log; exit $status' "$port"
echo "== image $TAG: smoke test passed"
