#!/usr/bin/env bash
# One bug, from QA's environment to a developer's, with the CLI (docs/data-workflows.md#bug-capsules).
# Run against a Mayfly started by `npm run up` (or set MAYFLY_URL and MAYFLY_TOKEN):
#
#   bash examples/bug-capsule.sh
#
# 1. QA runs the pull request's build, breaks something with data, and sees the error.
# 2. QA takes a bug capsule (data, image digests, stack, logs, the last requests) and destroys
#    the environment.
# 3. A developer brings the capsule up as a new environment: same digests, same data, same error.
set -euo pipefail
cd "$(dirname "$0")/.."
export MAYFLY_URL="${MAYFLY_URL:-http://127.0.0.1:${PORT:-8080}}"
export MAYFLY_TOKEN="${MAYFLY_TOKEN:-$(cat "${MAYFLY_STATE_DIR:-/var/lib/mayfly}/demo-token")}"
mayfly() { node bin/mayfly.js "$@"; }
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
qa="qa-pr-1-$$" dev="bug-$$"

say "QA: an environment for pull request 1"
url="$(mayfly up --template shop --name "$qa" --tag pr-1 --ttl 1h --wait)"
echo "$url"

say "QA: a half-applied migration (run by hand, as on staging) renames a column; the product API fails"
id="$(curl -fsS -H "Authorization: Bearer $MAYFLY_TOKEN" "$MAYFLY_URL/api/v1/environments/$qa" | node -e 'let d="";process.stdin.on("data",c=>d+=c).on("end",()=>console.log(JSON.parse(d).id))')"
container="$(docker ps --filter "label=mayfly.env=$id" --filter label=com.docker.compose.service=db --format '{{.Names}}')"
docker exec "$container" psql -q -U shop -d shop -c "ALTER TABLE products RENAME COLUMN price_cents TO price; INSERT INTO products (name, price) VALUES ('added after the migration', 999)"
# Through Mayfly's router (previews are private: the API token opens them for scripts).
for _ in 1 2 3; do curl -s -o /dev/null -w 'GET /api/products -> %{http_code}\n' -H "Authorization: Bearer $MAYFLY_TOKEN" "$url/api/products"; done

say "QA: a bug capsule of it"
cap="$(mayfly capsule "$qa" --name products-500 --note 'product API answers 500 after the migration')"
for _ in $(seq 1 60); do mayfly capsules "$qa" | grep -q "$cap.*ready" && break; sleep 1; done
mayfly capsules "$qa"
curl -fsS -H "Authorization: Bearer $MAYFLY_TOKEN" "$MAYFLY_URL/api/v1/capsules/$cap/archive" -o "/tmp/$cap.tar.gz"
echo "archive for the bug report: /tmp/$cap.tar.gz"; tar -tzf "/tmp/$cap.tar.gz"

say "QA: done with the environment"
mayfly down "$qa" --wait

say "Developer: the capsule brought up as $dev"
devurl="$(mayfly deploy "$dev" --capsule "$cap" --ttl 1h --wait)"
echo "$devurl"
curl -s -o /dev/null -w 'GET /api/products -> %{http_code}\n' -H "Authorization: Bearer $MAYFLY_TOKEN" "$devurl/api/products"
curl -s -H "Authorization: Bearer $MAYFLY_TOKEN" "$devurl/api/products"; echo
mayfly status "$dev"
id="$(curl -fsS -H "Authorization: Bearer $MAYFLY_TOKEN" "$MAYFLY_URL/api/v1/environments/$dev" | node -e 'let d="";process.stdin.on("data",c=>d+=c).on("end",()=>console.log(JSON.parse(d).id))')"
docker exec "$(docker ps --filter "label=mayfly.env=$id" --filter label=com.docker.compose.service=db --format '{{.Names}}')" \
  psql -U shop -d shop -c "SELECT name, price FROM products WHERE name = 'added after the migration'"
echo "done: mayfly down $dev when finished"
