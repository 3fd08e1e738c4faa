#!/usr/bin/env bash
# Tools the tests drive, from Debian's packages. Idempotent.
# - chromium: the browser of the end-to-end tests (test/e2e), driven headless by playwright-core
#   (an npm dev dependency, which downloads no browser of its own). MAYFLY_CHROMIUM: another one.
# - prometheus: for promtool, which checks the web's and the worker's /metrics and the sample
#   scrape configuration (test/integration/observability). Without systemd nothing starts;
#   where systemd runs, the Prometheus server it would start is not wanted and is stopped.
source "$(dirname "$0")/lib.sh"
if [ -n "${MAYFLY_CHROMIUM:-}" ]; then
  [ -x "$MAYFLY_CHROMIUM" ] || die "MAYFLY_CHROMIUM=$MAYFLY_CHROMIUM is not an executable"
else
  apt_install chromium
fi
if ! command -v promtool >/dev/null; then
  apt_install prometheus
  if [ -d /run/systemd/system ]; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
fi
