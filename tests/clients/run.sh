#!/usr/bin/env bash
# authgate driven by the official @ackplus/nest-auth 2.11.1 clients (see README.md here).
#
# 1. installs the Node packages from package-lock.json (npm ci) when node_modules is stale;
# 2. starts `authgate serve` on a free loopback port in a temporary directory (SQLite, cheap
#    argon2, a random JWT secret; the development outbox lands in that directory);
# 3. runs the SDK tests (sdk/*.test.mjs) with node's test runner;
# 4. builds the React page (web/, Vite) and runs the browser test (e2e/*.test.mjs) with
#    playwright-core driving Debian's Chromium (/usr/bin/chromium, never a downloaded browser);
# 5. stops the server. Screenshots go to artifacts/ (git-ignored).
#
# Environment: AUTHGATE_BIN (default <repo>/.venv/bin/authgate), CHROMIUM (default
# /usr/bin/chromium), AUTHGATE_SKIP_BROWSER_TESTS=1 to run the SDK tests only.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export AUTHGATE_BIN="${AUTHGATE_BIN:-$ROOT/.venv/bin/authgate}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
cd "$HERE"
started=$(date +%s)
if [ ! -x "$AUTHGATE_BIN" ]; then
  echo "clients: $AUTHGATE_BIN not found (scripts/test creates the virtualenv; or set AUTHGATE_BIN)" >&2
  exit 1
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "clients: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/authgate-clients.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "${AUTHGATE_KEEP_DATA:-}" ]; then echo "clients: server data kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
export AUTHGATE_URL="http://127.0.0.1:$port"
export AUTHGATE_DATA_DIR="$work"
(
  cd "$work"
  export AUTHGATE_DATABASE_URL="sqlite+aiosqlite:///$work/authgate.db"
  AUTHGATE_JWT__SECRET="$(node -e 'console.log(require("crypto").randomBytes(32).toString("base64url"))')"
  export AUTHGATE_JWT__SECRET
  export AUTHGATE_PASSWORD_HASH__TIME_COST=1 AUTHGATE_PASSWORD_HASH__MEMORY_COST_KIB=8 AUTHGATE_PASSWORD_HASH__PARALLELISM=1
  # Many sign-ups from one address per minute; the rate-limit test runs its own server.
  export AUTHGATE_RATE_LIMIT__ENABLED=false
  exec "$AUTHGATE_BIN" serve --host 127.0.0.1 --port "$port" --log-level warning >"$work/server.log" 2>&1
) &
server_pid=$!
up() { node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$AUTHGATE_URL/auth/client-config"; }
for _ in $(seq 1 300); do
  if up; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then cat "$work/server.log" >&2; echo "clients: authgate did not start" >&2; exit 1; fi
  sleep 0.1
done
up || { cat "$work/server.log" >&2; echo "clients: authgate did not answer" >&2; exit 1; }
echo "clients: authgate at $AUTHGATE_URL (data in $work)" >&2

node_test=(node --import ./lib/register.mjs --test --test-force-exit --test-reporter=spec)
status=0
"${node_test[@]}" sdk/*.test.mjs || status=$?

if [ "${AUTHGATE_SKIP_BROWSER_TESTS:-}" = 1 ]; then
  echo "clients: browser test skipped (AUTHGATE_SKIP_BROWSER_TESTS=1)" >&2
else
  if [ ! -x "$CHROMIUM" ]; then
    echo "clients: $CHROMIUM is missing: apt-get install -y chromium (.ci/run does it)" >&2
    exit 1
  fi
  npx --no-install vite build web --logLevel warn
  "${node_test[@]}" e2e/*.test.mjs || status=$?
fi

if [ "$status" -ne 0 ]; then
  echo "clients: FAILED; authgate log:" >&2
  tail -n 50 "$work/server.log" >&2 || true
fi
echo "clients: finished in $(( $(date +%s) - started ))s" >&2
exit "$status"
