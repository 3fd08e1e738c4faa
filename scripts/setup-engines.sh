#!/usr/bin/env bash
# Installs (from Debian's packages) and starts what Mayfly needs, only where it is missing:
# Docker Engine, Redis, PostgreSQL and an image registry on 127.0.0.1:5000.
# Idempotent: a second run only checks. Respects DOCKER_HOST, REDIS_URL and DATABASE_URL:
# when one is set, that engine is the user's and is only checked, never installed or started.
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/docker-data.sh"

# ---------- Docker Engine ----------
if [ -n "${DOCKER_HOST:-}" ]; then
  command -v docker >/dev/null || apt_install docker.io
  docker info >/dev/null 2>&1 || die "DOCKER_HOST=$DOCKER_HOST is set but no Docker Engine answers there"
  say "docker: using DOCKER_HOST=$DOCKER_HOST"
else
  apt_install docker.io iptables
  if dockerd_running; then
    # Running: whatever its disk layout, it is left alone (environments run on it).
    wait_for 60 dockerd docker info || die "dockerd (pid $(pgrep -x dockerd | head -1)) runs but does not answer within 60 s; see $MAYFLY_LOG_DIR/dockerd.log"
    started_dockerd=0
  else
    if [ "${MAYFLY_REFLINK_VOLUMES:-auto}" != off ]; then
      place_docker_root_on_xfs || warn "starting dockerd without reflink: seed clones will use overlay or copy (the worker says which)"
    fi
    start_dockerd
    started_dockerd=1
  fi
  say "docker: engine $(docker version -f '{{.Server.Version}}') is running"
  if [ "${MAYFLY_REFLINK_VOLUMES:-auto}" != off ] && ! verify_reflink_volumes && [ "$started_dockerd" = 0 ]; then
    warn "dockerd was already running, so set-up did not move its data (that needs a restart of dockerd)."
    warn "to move it onto the reflink file system: bash scripts/docker-data-to-xfs.sh (refuses while environments run)"
  fi
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
