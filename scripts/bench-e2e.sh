#!/usr/bin/env bash
# npm run bench:e2e: engines and images as for the tests, plus Debian's docker-compose (1.29),
# the baseline the benchmark compares Mayfly with. Arguments (--quick) go to bench/e2e/run.ts.
cd "$(dirname "$0")/.."
bash scripts/bench-prepare.sh || exit 1
exec node --import tsx bench/e2e/run.ts "$@"
