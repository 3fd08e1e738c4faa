#!/usr/bin/env bash
# Everything Mayfly needs on this machine: engines (Docker, Redis, PostgreSQL, registry) and the
# locally built images. Idempotent; a second run takes seconds.
set -euo pipefail
here="$(dirname "$0")"
bash "$here/setup-engines.sh"
bash "$here/build-images.sh"
bash "$here/setup-test-tools.sh"
