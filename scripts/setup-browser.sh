#!/usr/bin/env bash
# The browser of the end-to-end tests (test/e2e): Debian's chromium, driven headless by
# playwright-core (an npm dev dependency, which downloads no browser of its own).
# Idempotent. Set MAYFLY_CHROMIUM to use another chromium binary instead.
source "$(dirname "$0")/lib.sh"
if [ -n "${MAYFLY_CHROMIUM:-}" ]; then
  [ -x "$MAYFLY_CHROMIUM" ] || die "MAYFLY_CHROMIUM=$MAYFLY_CHROMIUM is not an executable"
  exit 0
fi
apt_install chromium
