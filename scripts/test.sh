#!/usr/bin/env bash
# `npm test`: on a fresh Debian machine, installs what is missing, starts the engines, builds the
# images, type-checks, and runs every test (unit and integration) with node's test runner.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
bash scripts/npm-deps.sh
bash scripts/setup.sh

# Leftovers of killed test and benchmark runs.
bash scripts/clean-leftovers.sh

say "type-checking"
npx tsc -p tsconfig.json --noEmit || die "type errors"

say "running tests"
# Integration test files each start their own web app, worker, database and queue prefix;
# two run at a time on this 2-core machine.
exec node --import tsx --test --test-concurrency=2 --test-reporter=spec \
  test/unit/*.test.ts test/integration/*.test.ts test/e2e/*.test.ts test/faults/*.test.ts
