#!/usr/bin/env bash
# Installs (from Debian's packages) and starts what Mayfly needs, only where it is missing:
# Docker Engine, Redis, PostgreSQL and an image registry on 127.0.0.1:5000.
# Idempotent: a second run only checks. Respects DOCKER_HOST, REDIS_URL and DATABASE_URL:
# when one is set, that engine is the user's and is only checked, never installed or started.
source "$(dirname "$0")/lib.sh"

# Seed snapshots clone fastest by reflink (a block-sharing copy), which ext4 lacks. Unless
# MAYFLY_REFLINK_VOLUMES=off, Docker's volume folder is put on an XFS file system with reflink,
# kept in a sparse file ($MAYFLY_STATE_DIR/docker-volumes.xfs, MAYFLY_REFLINK_VOLUMES_SIZE, 64G
# by default, using only what is written) on a loop device. Trade-off: volumes then live in one
# file on the host's disk (a little slower for heavy writes, and bounded by that size), in
# exchange for clones of any size in milliseconds that share blocks with their golden copy.
reflink_ok() { # DIR: can files in DIR be cloned by reflink?
  local d="$1/.mayfly-reflink-probe"
  mkdir -p "$d" && echo probe >"$d/a" && cp --reflink=always "$d/a" "$d/b" 2>/dev/null; local rc=$?
  rm -rf "$d"; return $rc
}
ensure_reflink_volumes() {
  [ "${MAYFLY_REFLINK_VOLUMES:-auto}" = off ] && return 0
  local vols=/var/lib/docker/volumes img="$MAYFLY_STATE_DIR/docker-volumes.xfs"
  mkdir -p "$vols"
  reflink_ok "$vols" && return 0
  if ! modprobe -n xfs >/dev/null 2>&1 && ! grep -qw xfs /proc/filesystems; then warn "no XFS in this kernel: snapshots clone by copy"; return 0; fi
  apt_install xfsprogs
  local was_running=0
  if docker info >/dev/null 2>&1; then
    was_running=1
    say "stopping dockerd to move its volumes onto the reflink file system"
    kill -TERM "$(cat /var/run/docker.pid)" 2>/dev/null || true
    wait_for 60 dockerd-stop sh -c '! docker info' || die "dockerd did not stop; stop it and run the set-up again"
    sleep 1
  fi
  if [ ! -f "$img" ]; then
    say "creating the XFS (reflink) file system for Docker volumes: $img (sparse, ${MAYFLY_REFLINK_VOLUMES_SIZE:-64G})"
    truncate -s "${MAYFLY_REFLINK_VOLUMES_SIZE:-64G}" "$img"
    mkfs.xfs -q -m reflink=1 "$img" || die "mkfs.xfs failed on $img"
    if [ -n "$(ls -A "$vols" 2>/dev/null)" ]; then
      local tmp; tmp="$(mktemp -d)"
      mount -o loop "$img" "$tmp" && cp -a "$vols/." "$tmp/" && umount "$tmp"; rmdir "$tmp"
    fi
  fi
  if mount -o loop "$img" "$vols" 2>>"$MAYFLY_LOG_DIR/mount.log" && reflink_ok "$vols"; then
    say "docker volumes: on XFS with reflink ($img)"
  else
    mountpoint -q "$vols" && umount "$vols"
    warn "could not mount $img on $vols (see $MAYFLY_LOG_DIR/mount.log): snapshots clone by copy"
  fi
  [ "$was_running" = 1 ] && say "starting dockerd again" || true
}

# ---------- Docker Engine ----------
if [ -n "${DOCKER_HOST:-}" ]; then
  command -v docker >/dev/null || apt_install docker.io
  docker info >/dev/null 2>&1 || die "DOCKER_HOST=$DOCKER_HOST is set but no Docker Engine answers there"
  say "docker: using DOCKER_HOST=$DOCKER_HOST"
else
  apt_install docker.io iptables
  ensure_reflink_volumes
  if ! docker info >/dev/null 2>&1; then
    say "starting dockerd (log: $MAYFLY_LOG_DIR/dockerd.log)"
    # A stale pid file from a killed daemon would stop a new one from starting.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then rm -f /var/run/docker.pid; fi
    # containerd first. A killed one leaves its socket behind, and dockerd would wait on it.
    if ! pgrep -x containerd >/dev/null; then
      rm -f /run/containerd/containerd.sock /run/containerd/containerd.sock.ttrpc
      setsid nohup containerd >"$MAYFLY_LOG_DIR/containerd.log" 2>&1 < /dev/null &
    fi
    wait_for 30 containerd ctr --address /run/containerd/containerd.sock version ||
      die "containerd did not start, see $MAYFLY_LOG_DIR/containerd.log"
    # Every environment has its own bridge network. Docker's default pools hold about 30 of them
    # (/16s and /20s); /24s from one /16 hold 256. A daemon.json that sets its own pools wins.
    pools=(--default-address-pool "base=${MAYFLY_DOCKER_ADDRESS_POOL:-10.199.0.0/16},size=24")
    if grep -qs default-address-pools /etc/docker/daemon.json; then pools=(); fi
    setsid nohup dockerd --containerd=/run/containerd/containerd.sock --storage-driver=overlay2 "${pools[@]}" \
      >"$MAYFLY_LOG_DIR/dockerd.log" 2>&1 < /dev/null &
    wait_for 60 dockerd docker info || die "dockerd did not start within 60 s, see $MAYFLY_LOG_DIR/dockerd.log"
  fi
  say "docker: engine $(docker version -f '{{.Server.Version}}') is running"
fi

# ---------- Redis ----------
if [ -n "${REDIS_URL:-}" ]; then
  say "redis: using REDIS_URL (not starting one)"
else
  apt_install redis-server redis-tools
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    mkdir -p "$MAYFLY_STATE_DIR/redis"
    say "starting redis-server on 127.0.0.1:6379 (AOF on, noeviction)"
    redis-server --bind 127.0.0.1 --port 6379 --daemonize yes \
      --dir "$MAYFLY_STATE_DIR/redis" --appendonly yes --appendfsync everysec \
      --maxmemory-policy noeviction --logfile "$MAYFLY_LOG_DIR/redis.log" \
      --pidfile "$MAYFLY_STATE_DIR/redis/redis.pid"
    wait_for 20 redis redis-cli -h 127.0.0.1 -p 6379 ping || die "redis did not start, see $MAYFLY_LOG_DIR/redis.log"
  fi
  # BullMQ loses jobs under any other eviction policy; AOF keeps delayed teardowns across restarts.
  redis-cli -h 127.0.0.1 -p 6379 config set maxmemory-policy noeviction >/dev/null
  redis-cli -h 127.0.0.1 -p 6379 config set appendonly yes >/dev/null
  say "redis: running on 127.0.0.1:6379"
fi

# ---------- PostgreSQL ----------
if [ -n "${DATABASE_URL:-}" ]; then
  say "postgres: using DATABASE_URL (not starting one)"
else
  apt_install postgresql postgresql-client
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    PGVER="$(ls /usr/lib/postgresql | sort -n | tail -1)"
    if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -q "^$PGVER/main$"; then
      say "creating PostgreSQL $PGVER cluster"
      pg_createcluster "$PGVER" main >/dev/null
    fi
    say "starting PostgreSQL $PGVER on 127.0.0.1:5432"
    pg_ctlcluster "$PGVER" main start || die "PostgreSQL did not start; see /var/log/postgresql/postgresql-$PGVER-main.log"
    wait_for 30 postgres pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL is not accepting connections"
  fi
  # The role and database Mayfly uses by default (postgres://mayfly:mayfly@127.0.0.1:5432/mayfly).
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='mayfly'\"" | grep -q 1 ||
    su postgres -c "psql -qc \"CREATE ROLE mayfly LOGIN PASSWORD 'mayfly' CREATEDB\""
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='mayfly'\"" | grep -q 1 ||
    su postgres -c "createdb -O mayfly mayfly"
  say "postgres: running on 127.0.0.1:5432 (database mayfly)"
fi

# ---------- Image registry ----------
if curl -fsS "http://$MAYFLY_REGISTRY/v2/" >/dev/null 2>&1; then
  say "registry: answering on $MAYFLY_REGISTRY"
else
  case "$MAYFLY_REGISTRY" in 127.0.0.1:*|localhost:*) ;; *) die "MAYFLY_REGISTRY=$MAYFLY_REGISTRY does not answer";; esac
  apt_install docker-registry curl
  mkdir -p "$MAYFLY_STATE_DIR/registry"
  cat >"$MAYFLY_STATE_DIR/registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $MAYFLY_STATE_DIR/registry
  delete:
    enabled: true
http:
  addr: $MAYFLY_REGISTRY
YML
  say "starting docker-registry on $MAYFLY_REGISTRY"
  setsid nohup docker-registry serve "$MAYFLY_STATE_DIR/registry.yml" >"$MAYFLY_LOG_DIR/registry.log" 2>&1 < /dev/null &
  wait_for 20 registry curl -fsS "http://$MAYFLY_REGISTRY/v2/" || die "registry did not start, see $MAYFLY_LOG_DIR/registry.log"
fi
