#!/usr/bin/env bash
# npm run bench:all: every benchmark whose results are committed under bench/results, in one run,
# for an otherwise idle machine (see bench/README.md). Engines, images and docker-compose as for
# bench:e2e; then the seeds benchmark, the end-to-end benchmark (which also writes the API
# rows), the API-only rows and the soak. Stops at the first that fails.
cd "$(dirname "$0")/.."
bash scripts/bench-prepare.sh || exit 1
set -e
echo "bench:all: load average before: $(cut -d' ' -f1-3 /proc/loadavg) (an idle machine reads below 0.5)"
node --import tsx bench/seeds/run.ts
node --import tsx bench/e2e/run.ts
node --import tsx bench/e2e/run.ts --api-only
node --import tsx bench/soak/run.ts
echo "bench:all: done; results in bench/results (each file records its commit, knobs and load averages)"
