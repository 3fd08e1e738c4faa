# Docker's data root on a reflink file system, and starting dockerd. Sourced by setup-engines.sh
# and docker-data-to-xfs.sh (after lib.sh); not run on its own.
# ---------- Docker's data on a reflink file system ----------
# Seed snapshots clone fastest by reflink (a block-sharing copy), which ext4 lacks. Unless
# MAYFLY_REFLINK_VOLUMES=off, Docker's whole data root (/var/lib/docker: images, containers and
# volumes) is an XFS file system with reflink, kept in a sparse file
# ($MAYFLY_STATE_DIR/docker-data.xfs, MAYFLY_REFLINK_VOLUMES_SIZE, 64G by default, using only what
# is written) on a loop device.
# Why the data root and not only its volumes folder: dockerd bind-mounts its root onto itself
# when the root is not a mount point of its own, and that bind is not recursive, so an XFS
# mounted at /var/lib/docker/volumes is hidden from the moment dockerd starts (issue 21). A
# data root that is itself the mount point is left as it is.
# Rules: this never stops, restarts or mounts anything under a running dockerd. With dockerd
# down it reads the mount table as it is (a killed dockerd leaves its bind behind), removes
# only binds of /var/lib/docker onto itself (they hold no data of their own), and mounts the XFS
# when it is not already the visible file system. Whatever fails, the engines still start,
# without reflink, and the reason is printed.
DOCKER_ROOT=/var/lib/docker
DOCKER_XFS="$MAYFLY_STATE_DIR/docker-data.xfs"

reflink_ok() { # DIR: can files in DIR be cloned by reflink?
  local d="$1/.mayfly-reflink-probe.$$" rc
  mkdir -p "$d" 2>/dev/null && echo probe >"$d/a" && cp --reflink=always "$d/a" "$d/b" 2>/dev/null; rc=$?
  rm -rf "$d"; return $rc
}
fs_type() { stat -f -c %T "$1" 2>/dev/null || echo unknown; }
# Mounts whose mount point is exactly DIR, oldest first: "ID FSTYPE SOURCE ROOT".
mounts_at() {
  awk -v d="$1" '{ for (i = 7; i <= NF; i++) if ($i == "-") break; if ($5 == d) print $1, $(i + 1), $(i + 2), $4 }' /proc/self/mountinfo
}
# The machine's dockerd (its pid file, or anything answering on the default socket). Private
# daemons of fault tests have their own pid files and sockets and do not count.
dockerd_running() {
  [ -f /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null && return 0
  docker info >/dev/null 2>&1
}

# Brings the XFS to DOCKER_ROOT with dockerd down. Returns 0 when reflink works there.
place_docker_root_on_xfs() {
  mkdir -p "$DOCKER_ROOT"
  # 1. Binds a dead dockerd left (ROOT column not "/": a bind of a sub-tree, here the data root
  #    onto itself) go, newest first, until the top mount is not such a bind. Lazy (-l) because
  #    a killed daemon's container mounts may still sit beneath.
  local line id fstype src root n=0
  while line="$(mounts_at "$DOCKER_ROOT" | tail -1)" && [ -n "$line" ]; do
    read -r id fstype src root <<<"$line"
    [ "$root" = / ] && break
    say "removing a stale bind mount of $DOCKER_ROOT left by a stopped dockerd ($fstype $src$root)"
    umount -l "$DOCKER_ROOT" 2>>"$MAYFLY_LOG_DIR/mount.log" || { warn "could not unmount the stale bind on $DOCKER_ROOT (see $MAYFLY_LOG_DIR/mount.log)"; return 1; }
    n=$((n + 1)); [ "$n" -ge 8 ] && return 1
  done
  if [ "$(fs_type "$DOCKER_ROOT")" = xfs ] && reflink_ok "$DOCKER_ROOT"; then return 0; fi
  if [ -n "$(mounts_at "$DOCKER_ROOT")" ]; then
    warn "$DOCKER_ROOT is a mount of someone else's ($(mounts_at "$DOCKER_ROOT" | tail -1 | cut -d' ' -f2-3)) without reflink: left as it is"
    return 1
  fi
  if ! grep -qw xfs /proc/filesystems && ! modprobe xfs >/dev/null 2>&1; then warn "no XFS in this kernel"; return 1; fi
  apt_install xfsprogs
  if [ ! -f "$DOCKER_XFS" ]; then
    say "creating the XFS (reflink) file system for Docker's data: $DOCKER_XFS (sparse, ${MAYFLY_REFLINK_VOLUMES_SIZE:-64G})"
    truncate -s "${MAYFLY_REFLINK_VOLUMES_SIZE:-64G}" "$DOCKER_XFS.new"
    mkfs.xfs -q -m reflink=1 "$DOCKER_XFS.new" 2>>"$MAYFLY_LOG_DIR/mount.log" || { rm -f "$DOCKER_XFS.new"; warn "mkfs.xfs failed (see $MAYFLY_LOG_DIR/mount.log)"; return 1; }
    # What dockerd already holds on the plain disk (images, volumes) moves over with it; the
    # originals stay beneath the mount point, untouched.
    if [ -n "$(ls -A "$DOCKER_ROOT" 2>/dev/null)" ]; then
      say "copying Docker's existing data ($(du -sh "$DOCKER_ROOT" 2>/dev/null | cut -f1)) onto it"
      local tmp; tmp="$(mktemp -d)"
      if ! { mount -o loop "$DOCKER_XFS.new" "$tmp" && cp -a "$DOCKER_ROOT/." "$tmp/"; }; then
        umount "$tmp" 2>/dev/null; rmdir "$tmp"; rm -f "$DOCKER_XFS.new"; warn "copying $DOCKER_ROOT failed"; return 1
      fi
      umount "$tmp"; rmdir "$tmp"
    fi
    mv "$DOCKER_XFS.new" "$DOCKER_XFS"
    # The layout before issue 21 had an XFS at volumes/ only; its data was copied just now.
    if [ -n "$(mounts_at "$DOCKER_ROOT/volumes")" ]; then
      umount -l "$DOCKER_ROOT/volumes" 2>>"$MAYFLY_LOG_DIR/mount.log" || true
      [ -f "$MAYFLY_STATE_DIR/docker-volumes.xfs" ] && say "the volumes of $MAYFLY_STATE_DIR/docker-volumes.xfs were copied; remove that file when you no longer need it"
    fi
  fi
  mount -o loop "$DOCKER_XFS" "$DOCKER_ROOT" 2>>"$MAYFLY_LOG_DIR/mount.log" || { warn "could not mount $DOCKER_XFS on $DOCKER_ROOT (see $MAYFLY_LOG_DIR/mount.log)"; return 1; }
  reflink_ok "$DOCKER_ROOT"
}

# Checks reflink where the worker clones: in a real volume's folder, with dockerd running.
# Prints what it found; returns 0 when reflink works there.
verify_reflink_volumes() {
  local v="mayfly-setup-probe-$$" mp rc=1
  docker volume create --label mayfly.probe=1 "$v" >/dev/null 2>&1 || { warn "reflink check: could not create a volume"; return 1; }
  mp="$(docker volume inspect -f '{{.Mountpoint}}' "$v" 2>/dev/null)"
  if [ -n "$mp" ] && reflink_ok "$mp"; then
    say "docker volumes: reflink works in $(dirname "$(dirname "$mp")") ($(fs_type "$mp"), checked with dockerd running)"; rc=0
  else
    warn "docker volumes: NO reflink in $(dirname "$(dirname "${mp:-?/?}")") ($(fs_type "${mp:-/}")): seed clones fall back to overlay or copy"
  fi
  docker volume rm "$v" >/dev/null 2>&1 || true
  return $rc
}

# Starts containerd (when it is not running) and dockerd, and waits until dockerd answers.
start_dockerd() {
  say "starting dockerd (log: $MAYFLY_LOG_DIR/dockerd.log)"
  # A stale pid file from a killed daemon would stop a new one from starting.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then rm -f /var/run/docker.pid; fi
  # containerd first. A killed one leaves its socket behind, and dockerd would wait on it.
  if ! pgrep -x containerd >/dev/null; then
    rm -f /run/containerd/containerd.sock /run/containerd/containerd.sock.ttrpc
    setsid nohup containerd >>"$MAYFLY_LOG_DIR/containerd.log" 2>&1 < /dev/null &
  fi
  wait_for 30 containerd ctr --address /run/containerd/containerd.sock version ||
    die "containerd did not start, see $MAYFLY_LOG_DIR/containerd.log"
  # Every environment has its own bridge network. Docker's default pools hold about 30 of them
  # (/16s and /20s); /24s from one /16 hold 256. A daemon.json that sets its own pools wins.
  pools=(--default-address-pool "base=${MAYFLY_DOCKER_ADDRESS_POOL:-10.199.0.0/16},size=24")
  if grep -qs default-address-pools /etc/docker/daemon.json; then pools=(); fi
  setsid nohup dockerd --containerd=/run/containerd/containerd.sock --storage-driver=overlay2 "${pools[@]}" \
    >>"$MAYFLY_LOG_DIR/dockerd.log" 2>&1 < /dev/null &
  wait_for 60 dockerd docker info || die "dockerd did not start within 60 s, see $MAYFLY_LOG_DIR/dockerd.log"
}
