#!/usr/bin/env bash
# Moves a running dockerd's data root onto the reflink (XFS) file system. Set-up never does this
# by itself, since it means stopping dockerd: every container stops with it. This script refuses
# while Mayfly environments run (containers labelled mayfly.env), unless given --force.
# Usage: bash scripts/docker-data-to-xfs.sh [--force]
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/docker-data.sh"
[ -n "${DOCKER_HOST:-}" ] && die "DOCKER_HOST is set: that engine is not this machine's to move"
if dockerd_running; then
  running="$(docker ps --filter label=mayfly.env --format '{{.Label "mayfly.env"}}' | sort -u | wc -l)"
  if [ "$running" -gt 0 ] && [ "${1:-}" != --force ]; then
    die "$running Mayfly environment(s) are running on this dockerd; stopping it would stop them. Destroy them first, or pass --force (the worker heals them after the restart)"
  fi
  if verify_reflink_volumes; then say "nothing to do"; exit 0; fi
  say "stopping dockerd (pid $(cat /var/run/docker.pid 2>/dev/null))"
  kill -TERM "$(cat /var/run/docker.pid)" 2>/dev/null || die "could not signal dockerd; stop it yourself and run set-up"
  wait_for 60 dockerd-stop sh -c '! kill -0 "$(cat /var/run/docker.pid 2>/dev/null)" 2>/dev/null' || die "dockerd did not stop within 60 s"
fi
place_docker_root_on_xfs || warn "the data root is not on a reflink file system (see above); starting dockerd as it is"
start_dockerd
verify_reflink_volumes
