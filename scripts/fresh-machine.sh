#!/usr/bin/env bash
# Brings this machine back to "fresh" for Mayfly's own parts, so that `npm test` or `npm run up`
# can be tried as a new user would (docs/operations/fresh-machine.md). DESTRUCTIVE: every
# environment, image, volume and all of Mayfly's state on this machine go. Not run by npm test.
#
# What it does, in order:
#   - stops the engines set-up started: dockerd (and its containers), containerd and its shims,
#     the private fault-test dockerd, Redis, the registry, PostgreSQL;
#   - unmounts what lives under Docker's data root and the data root itself, detaches the loop
#     device, removes /var/lib/docker and $MAYFLY_STATE_DIR (/var/lib/mayfly: the XFS file,
#     Redis's AOF, the registry's images, logs);
#   - drops and re-creates the PostgreSQL cluster as the Debian package leaves it (not started);
#   - removes the checkout's node_modules/, dist/ and .mayfly/ (the project's own Node).
# Debian packages stay installed (a new machine of this kind has some of them; set-up installs
# the rest in a minute). Usage: bash scripts/fresh-machine.sh --yes
set -uo pipefail
[ "${1:-}" = --yes ] || { echo "This removes every Mayfly environment, image and state on this machine. Run: bash $0 --yes" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
here="$(cd "$(dirname "$0")" && pwd)"
STATE="${MAYFLY_STATE_DIR:-/var/lib/mayfly}"
say() { printf '\033[1;34m[fresh]\033[0m %s\n' "$*" >&2; }

stop_pid() { # PID NAME: TERM, wait up to 30 s, then KILL
  local pid="$1" name="$2" i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  say "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null; sleep 0.5
}

# Mayfly's own processes (npm run up, test workers) first, so nothing heals what goes next.
for p in $(pgrep -f 'dist/(api|worker)/main.js|tsx (api|worker)/main.ts' 2>/dev/null); do stop_pid "$p" "mayfly process"; done
stop_pid "$(cat /run/mayfly-fault-docker.pid 2>/dev/null)" "the fault tests' dockerd"
stop_pid "$(cat /var/run/docker.pid 2>/dev/null)" dockerd
for p in $(pgrep -x dockerd); do stop_pid "$p" dockerd; done
for p in $(pgrep -f containerd-shim); do kill -KILL "$p" 2>/dev/null; done
for p in $(pgrep -x containerd); do stop_pid "$p" containerd; done
stop_pid "$(cat "$STATE/redis/redis.pid" 2>/dev/null)" redis-server
for p in $(pgrep -f "docker-registry serve $STATE/registry.yml"); do stop_pid "$p" docker-registry; done

if command -v pg_lsclusters >/dev/null; then
  pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
    say "dropping PostgreSQL cluster $ver/$name and creating it anew (not started)"
    pg_dropcluster --stop "$ver" "$name" >/dev/null 2>&1
    pg_createcluster "$ver" "$name" >/dev/null 2>&1
  done
fi

# Every mount under Docker's data roots and the state folder, deepest first.
awk -v a=/var/lib/docker -v b="$STATE" -v c=/run/docker -v d=/run/mayfly-fault-docker \
  '{ if (index($5, a) == 1 || index($5, b) == 1 || index($5, c) == 1 || index($5, d) == 1) print $5 }' /proc/self/mountinfo |
  awk '{ print length($0), $0 }' | sort -rn | cut -d' ' -f2- | while read -r m; do umount -l "$m" 2>/dev/null; done
for l in $(losetup -n -O NAME,BACK-FILE 2>/dev/null | awk -v b="$STATE" 'index($2, b) == 1 { print $1 }'); do losetup -d "$l" 2>/dev/null; done
ip link del mfault0 2>/dev/null; ip link del docker0 2>/dev/null
say "removing /var/lib/docker, $STATE, /run/docker, /run/containerd"
rm -rf /var/lib/docker "$STATE" /run/docker /run/containerd /var/run/docker.pid /var/run/docker.sock /run/mayfly-fault-docker* 2>/dev/null

cd "$here/.." && rm -rf node_modules dist .mayfly
say "done: this machine is fresh for Mayfly. Next: npm test (or npm run up)"
if findmnt -rn -o TARGET | grep -q '^/var/lib/docker'; then echo "warning: something is still mounted under /var/lib/docker" >&2; exit 1; fi
