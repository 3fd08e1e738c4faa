#!/usr/bin/env bash
# What every benchmark needs first: npm dependencies, engines and images as for the tests, Debian's
# docker-compose (1.29, the baseline the benchmarks compare Mayfly with) and no leftovers of
# earlier runs.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
bash scripts/npm-deps.sh
bash scripts/setup.sh
command -v docker-compose >/dev/null || apt_install docker-compose
bash scripts/clean-leftovers.sh
