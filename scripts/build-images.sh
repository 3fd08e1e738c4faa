#!/usr/bin/env bash
# Builds the images that the demo and the tests need and pushes them to the local registry:
#   $MAYFLY_REGISTRY/mayfly/debian:bookworm   Debian root file system from debootstrap (docker import)
#   $MAYFLY_REGISTRY/mayfly/postgres:15       PostgreSQL 15 from Debian's packages (images/postgres)
#   $MAYFLY_REGISTRY/mayfly/node:bookworm     Node.js from Debian's packages (images/node)
#   $MAYFLY_REGISTRY/mayfly/shop:{main,pr-1,pr-2}   the demo app (examples/shop)
# Cached: each image is rebuilt only when its inputs changed (a hash of its build context and
# base image id is kept as a label), so a second run takes seconds.
source "$(dirname "$0")/lib.sh"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REG="$MAYFLY_REGISTRY"
# Debian mirror used by debootstrap and by apt inside image builds (the host's own by default).
MIRROR="${MAYFLY_DEBIAN_MIRROR:-}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
label_of() { docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }
hash_dir() { (cd "$1" && find . -type f ! -path './node_modules/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }

# push IMAGE: push only when the registry does not already hold this image id.
push() {
  local img="$1" repo tag want have
  repo="${img#"$REG"/}"; repo="${repo%:*}"; tag="${img##*:}"
  want="$(docker image inspect -f '{{.Id}}' "$img")"
  have="$(curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REG/v2/$repo/manifests/$tag" 2>/dev/null | sed -n 's/.*"config".*"digest": *"\([^"]*\)".*/\1/p' | head -1 || true)"
  if [ -z "$have" ]; then
    have="$(curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
      "http://$REG/v2/$repo/manifests/$tag" 2>/dev/null | tr -d '\n ' | grep -oE '"config":\{[^}]*\}' | grep -oE 'sha256:[0-9a-f]+' | head -1 || true)"
  fi
  if [ "$have" = "$want" ]; then return 0; fi
  say "pushing $img"
  docker push -q "$img" >/dev/null || die "docker push $img failed"
}

# build NAME CONTEXT BASE [BUILD-ARGS...]: docker build with a content-hash cache check.
build() {
  local img="$1" ctx="$2" base="$3"; shift 3
  local key; key="$(hash_dir "$ctx")-$(docker image inspect -f '{{.Id}}' "$base" | cut -c8-23)-$(echo "$*" | sha256sum | cut -c1-8)"
  if image_exists "$img" && [ "$(label_of "$img" mayfly.build-key)" = "$key" ]; then
    say "cached $img"; return 0
  fi
  say "building $img (log: $MAYFLY_LOG_DIR/build.log)"
  local args=()
  for a in "$@"; do args+=(--build-arg "$a"); done
  # --network host: apt inside the build uses the host's resolver and mirror access.
  docker build --network host -t "$img" --label "mayfly.build-key=$key" \
    --build-arg "BASE_IMAGE=$base" "${args[@]}" "$ctx" \
    >>"$MAYFLY_LOG_DIR/build.log" 2>&1 || die "building $img failed; the end of $MAYFLY_LOG_DIR/build.log says why"
}

# ---------- Debian base from debootstrap ----------
BASE="$REG/mayfly/debian:bookworm"
BASE_TAR="$MAYFLY_STATE_DIR/cache/debian-bookworm-minbase.tar"
if ! image_exists "$BASE"; then
  if [ ! -s "$BASE_TAR" ]; then
    apt_install debootstrap
    mkdir -p "$MAYFLY_STATE_DIR/cache"
    ROOTFS="$MAYFLY_STATE_DIR/cache/rootfs.tmp"
    rm -rf "$ROOTFS"
    say "debootstrap bookworm from $MIRROR (a few minutes, once; log: $MAYFLY_LOG_DIR/debootstrap.log)"
    debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >"$MAYFLY_LOG_DIR/debootstrap.log" 2>&1 ||
      die "debootstrap failed, see $MAYFLY_LOG_DIR/debootstrap.log"
    # Keep images small and apt quiet in containers.
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$ROOTFS/etc/apt/apt.conf.d/90mayfly"
    tar -C "$ROOTFS" -cf "$BASE_TAR.tmp" . && mv "$BASE_TAR.tmp" "$BASE_TAR"
    rm -rf "$ROOTFS"
  fi
  say "importing $BASE"
  docker import -c 'CMD ["/bin/bash"]' -c 'ENV LANG=C.UTF-8' "$BASE_TAR" "$BASE" >/dev/null
fi
push "$BASE"

# ---------- PostgreSQL and Node.js runtime images ----------
build "$REG/mayfly/postgres:15" "$ROOT/images/postgres" "$BASE"
push "$REG/mayfly/postgres:15"
build "$REG/mayfly/node:bookworm" "$ROOT/images/node" "$BASE"
push "$REG/mayfly/node:bookworm"

# ---------- The demo app at three tags ----------
if [ ! -d "$ROOT/examples/shop/node_modules/pg" ]; then
  say "installing the demo app's dependencies"
  (cd "$ROOT/examples/shop" && npm ci --omit=dev --no-audit --no-fund --silent) || die "npm install in examples/shop failed"
fi
for tag in main pr-1 pr-2; do
  build "$REG/mayfly/shop:$tag" "$ROOT/examples/shop" "$REG/mayfly/node:bookworm" "APP_TAG=$tag"
  push "$REG/mayfly/shop:$tag"
done
say "images ready in $REG: mayfly/debian:bookworm mayfly/postgres:15 mayfly/node:bookworm mayfly/shop:{main,pr-1,pr-2}"
