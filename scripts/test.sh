#!/usr/bin/env bash
# `npm test`: on a fresh Debian machine, installs what is missing, starts the engines, builds the
# images, type-checks, and runs every test with node's test runner, on a supported Node (24 LTS,
# installed into the project when the machine's is older: scripts/node.sh).
# Two runs of the test runner:
#   1. test/host: tests that stop or kill the machine's own engines and run set-up (alone);
#   2. everything else (unit, integration, e2e, faults, and swarm: a private 3-node Docker Swarm
#      in network namespaces, test/helpers/swarm-lab.ts), two files at a time.
# The last line sums both: "N passed, N failed".
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
bash scripts/npm-deps.sh
bash scripts/setup.sh
source scripts/node.sh
NODE="$(mayfly_node)" || die "no supported Node.js (see scripts/node.sh)"
export PATH="$(dirname "$NODE"):$PATH"
say "tests run on Node $(node --version) ($NODE)"

# Leftovers of killed test and benchmark runs.
bash scripts/clean-leftovers.sh

say "type-checking"
npx tsc -p tsconfig.json --noEmit || die "type errors"

set +e # both runs go ahead whatever the first one says; the exit status is decided at the end
logs="$(mktemp -d)"
# test/host kills and restarts this machine's engines: it never runs beside live environments or
# a running Mayfly (npm test must not disturb them). CI's machine has neither, so there it runs.
live="$(docker ps --filter label=mayfly.env --format '{{.Label "mayfly.instance"}}' 2>/dev/null | grep -v '^test-' | sort -u | tr '\n' ' ')"
procs="$(pgrep -f 'dist/(api|worker)/main\.js|tsx (api|worker)/main\.ts' 2>/dev/null | tr '\n' ' ')"
rc1=0
if [ -n "$live$procs" ] && [ "${MAYFLY_TEST_HOST:-auto}" != force ]; then
  host_note="test/host NOT RUN: it kills this machine's engines, and ${live:+live environments of instance(s) $live}${live:+${procs:+and }}${procs:+Mayfly processes ($procs)} run here. It runs on a machine of its own (CI); MAYFLY_TEST_HOST=force runs it anyway."
  warn "$host_note"
else
  say "running tests, 1 of 2: the machine's engines killed and set-up run again (test/host)"
  node --import tsx --test --test-concurrency=1 --test-reporter=spec test/host/*.test.ts 2>&1 | tee "$logs/host.log"
  rc1=${PIPESTATUS[0]}
  # Whatever that run left, the engines are up for the rest (a no-op when they are).
  bash scripts/setup-engines.sh >/dev/null 2>&1 || bash scripts/setup-engines.sh
fi

say "running tests, 2 of 2: unit, integration, e2e, faults and swarm"
# Integration test files each start their own web app, worker, database and queue prefix;
# two run at a time on this 2-core machine.
node --import tsx --test --test-concurrency=2 --test-reporter=spec \
  test/unit/*.test.ts test/integration/*.test.ts test/e2e/*.test.ts test/faults/*.test.ts test/swarm/*.test.ts 2>&1 | tee "$logs/main.log"
rc2=${PIPESTATUS[0]}

count() { awk -v k="$1" '$1 == "ℹ" && $2 == k { n += $3 } END { print n + 0 }' "$logs"/*.log; }
passed="$(count pass)"; failed="$(count fail)"
rm -rf "$logs"
echo
[ -n "${host_note:-}" ] && warn "$host_note"
echo "$passed passed, $failed failed"
[ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
