#!/usr/bin/env bash
# npm run bench:e2e: engines and images as for the tests, plus Debian's docker-compose (1.29),
# the baseline the benchmark compares Mayfly with. Arguments (--quick) go to bench/e2e/run.ts.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
bash scripts/npm-deps.sh
bash scripts/setup.sh
command -v docker-compose >/dev/null || apt_install docker-compose
bash scripts/clean-leftovers.sh
exec node --import tsx bench/e2e/run.ts "$@"
