#!/usr/bin/env bash
# `npm test`: on a fresh Debian machine, installs what is missing, starts the engines, builds the
# images, type-checks, and runs every test (unit and integration) with node's test runner.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
bash scripts/npm-deps.sh
bash scripts/setup.sh

# Objects left by an earlier test run that was killed (each run labels its own instance test-*).
c="$(docker ps -a --filter label=mayfly.instance --format '{{.ID}} {{.Label "mayfly.instance"}}' | awk '$2 ~ /^test-/ {print $1}')"
if [ -n "$c" ]; then docker rm -f $c >/dev/null; fi
n="$(docker network ls --filter label=mayfly.instance --format '{{.ID}} {{.Label "mayfly.instance"}}' | awk '$2 ~ /^test-/ {print $1}')"
if [ -n "$n" ]; then docker network rm $n >/dev/null; fi
v="$(docker volume ls --filter label=mayfly.instance --format '{{.Name}} {{.Label "mayfly.instance"}}' | awk '$2 ~ /^test-/ {print $1}')"
if [ -n "$v" ]; then docker volume rm $v >/dev/null; fi

say "type-checking"
npx tsc -p tsconfig.json --noEmit || die "type errors"

say "running tests"
# Integration test files each start their own web app, worker, database and queue prefix;
# two run at a time on this 2-core machine.
exec node --import tsx --test --test-concurrency=2 --test-reporter=spec \
  test/unit/*.test.ts test/integration/*.test.ts
