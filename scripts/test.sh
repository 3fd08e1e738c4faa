#!/usr/bin/env bash
# `npm test`: on a fresh Debian machine, installs what is missing, starts the engines, builds the
# images, type-checks, and runs every test (unit and integration) with node's test runner.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
bash scripts/npm-deps.sh
bash scripts/setup.sh

# Leftovers of killed test runs: each harness makes a database mayfly_test_<id> and labels its
# Docker objects mayfly.instance=test-<id>. A database nobody is connected to is a dead run's;
# objects whose database is gone are too. (A test run going on beside this one is left alone.)
if [ -z "${DATABASE_URL:-}" ]; then
  for db in $(su postgres -c "psql -qAtc \"SELECT datname FROM pg_database d WHERE datname LIKE 'mayfly\\_test\\_%' AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)\"" 2>/dev/null); do
    su postgres -c "psql -qc 'DROP DATABASE IF EXISTS $db'" >/dev/null 2>&1 || true
  done
  live="$(su postgres -c "psql -qAtc \"SELECT substr(datname, 13) FROM pg_database WHERE datname LIKE 'mayfly\\_test\\_%'\"" 2>/dev/null | tr '\n' ' ')"
  dead() { awk -v live=" $live " '$2 ~ /^test-/ { id = substr($2, 6); if (index(live, " " id " ") == 0) print $1 }'; }
  c="$(docker ps -a --filter label=mayfly.instance --format '{{.ID}} {{.Label "mayfly.instance"}}' | dead)"
  if [ -n "$c" ]; then docker rm -f $c >/dev/null || true; fi
  n="$(docker network ls --filter label=mayfly.instance --format '{{.ID}} {{.Label "mayfly.instance"}}' | dead)"
  if [ -n "$n" ]; then docker network rm $n >/dev/null || true; fi
  v="$(docker volume ls --filter label=mayfly.instance --format '{{.Name}} {{.Label "mayfly.instance"}}' | dead)"
  if [ -n "$v" ]; then docker volume rm $v >/dev/null || true; fi
fi

say "type-checking"
npx tsc -p tsconfig.json --noEmit || die "type errors"

say "running tests"
# Integration test files each start their own web app, worker, database and queue prefix;
# two run at a time on this 2-core machine.
exec node --import tsx --test --test-concurrency=2 --test-reporter=spec \
  test/unit/*.test.ts test/integration/*.test.ts test/e2e/*.test.ts test/faults/*.test.ts
