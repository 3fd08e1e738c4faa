#!/usr/bin/env bash
# Installs the project's npm dependencies when they are missing or older than package-lock.json.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >&2 || die "npm ci failed"
fi
