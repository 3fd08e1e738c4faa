#!/usr/bin/env bash
# `npm run up`: on a fresh Debian machine, installs what is missing, builds, starts the web and
# worker processes, creates the demo environment and prints its URL. Ctrl-C stops Mayfly.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
bash scripts/npm-deps.sh
bash scripts/setup.sh
# Web and worker run on a supported Node (24 LTS, installed into the project when the machine's is older).
source scripts/node.sh
NODE="$(mayfly_node)" || die "no supported Node.js (22 or 24) and none could be installed (see scripts/node.sh)"
export PATH="$(dirname "$NODE"):$PATH"
say "Node.js $(node --version) ($NODE)"
say "building (tsc -> dist/)"
npx tsc -p tsconfig.json || die "the TypeScript build failed"

export PORT="${PORT:-8080}"
export NODE_ENV="${NODE_ENV:-production}"
if [ -z "${MAYFLY_API_TOKENS:-}" ]; then
  # A token for this machine's demo, kept so that it stays the same across runs.
  tokfile="$MAYFLY_STATE_DIR/demo-token"
  [ -s "$tokfile" ] || (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$tokfile")
  export MAYFLY_API_TOKENS="demo:$(cat "$tokfile")"
  # The demo token may also open the queue dashboard.
  export MAYFLY_ADMINS="${MAYFLY_ADMINS:-demo}"
fi
TOKEN="${MAYFLY_API_TOKENS#*:}"; TOKEN="${TOKEN%%,*}"
API="http://127.0.0.1:$PORT"
if curl -fsS "$API/healthz" >/dev/null 2>&1; then die "port $PORT is already in use (is Mayfly already running?); set PORT to use another"; fi

mkdir -p "$MAYFLY_LOG_DIR"
node dist/api/main.js >>"$MAYFLY_LOG_DIR/web.log" 2>&1 &
WEB=$!
node dist/worker/main.js >>"$MAYFLY_LOG_DIR/worker.log" 2>&1 &
WORKER=$!
stop() {
  trap - INT TERM EXIT
  say "stopping web and worker (running jobs finish first)"
  kill -TERM "$WEB" "$WORKER" 2>/dev/null || true
  wait "$WEB" "$WORKER" 2>/dev/null || true
  say "stopped. Environments keep running until their TTL; the next 'npm run up' picks them up again."
  exit 0
}
trap stop INT TERM EXIT

wait_for 30 web curl -fsS "$API/readyz" || die "the web process did not become ready; see $MAYFLY_LOG_DIR/web.log"
kill -0 "$WORKER" 2>/dev/null || die "the worker exited; see $MAYFLY_LOG_DIR/worker.log"
say "Mayfly API at $API (logs: $MAYFLY_LOG_DIR/web.log, worker.log)"
say "creating the demo environment shop-demo (template shop, tag main, seed demo)"
answer="$(curl -sS -X PUT "$API/api/v1/environments/shop-demo?wait=300" \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"template": "shop", "tag": "main", "ttl": "4h"}')"
status="$(node -e 'const a=JSON.parse(process.argv[1]); console.log(a.status || "error")' "$answer")"
if [ "$status" != ready ]; then
  warn "the demo environment is $status: $answer"
  warn "see $MAYFLY_LOG_DIR/worker.log; Mayfly keeps running"
else
  url="$(node -e 'console.log(JSON.parse(process.argv[1]).url)' "$answer")"
  cat <<MSG

  Mayfly is running.
    API:                 $API   (token: $TOKEN)
    QA web pages:        $API/   (sign in with the token above)
    Queue dashboard:     $API/admin/queues   (admins: MAYFLY_ADMINS)
    Metrics:             $API/metrics   (from this host)
    Demo environment:    $url   (private: the browser signs in to Mayfly with the token)
    Every environment:   http://<name>.${MAYFLY_DOMAIN:-localhost}:${MAYFLY_ROUTER_PORT:-8081}   (the router; *.localhost needs no DNS)

  Try:
    curl -H 'Authorization: Bearer $TOKEN' $API/api/v1/environments
    curl -X PUT -H 'Authorization: Bearer $TOKEN' -H 'Content-Type: application/json' \\
         -d '{"template":"shop","tag":"pr-1"}' '$API/api/v1/environments/shop-pr-1?wait=120'

  Ctrl-C stops Mayfly.

MSG
  echo "$url"
fi
wait "$WEB" "$WORKER"
