#!/usr/bin/env bash
# Runs one official MCP conformance suite against a fresh `mcpd serve --conformance` on a free
# loopback port, then stops it. Usage: run.sh <mcpd binary> <node_tools dir> <suite> where suite
# is "0.1-active", "0.2-2025-11-25" or "0.2-2026-07-28". Expected failures, with the reason for
# each, live in baseline-<suite>.yml next to this script (none today).
set -euo pipefail
mcpd="$1"; tools="$2"; suite="$3"
here="$(cd "$(dirname "$0")" && pwd)"
node="$tools/node_modules/.bin/node"
[ -x "$node" ] || { echo "conformance: $node missing: run scripts/node-tools" >&2; exit 1; }

workdir="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$workdir"
}
trap cleanup EXIT

# mcpd picks a free port itself (--port 0) and prints it.
(cd "$workdir" && MCP_TS_STORAGE_TYPE=memory exec "$mcpd" serve --port 0 --conformance \
   >"$workdir/mcpd.out" 2>"$workdir/mcpd.err") &
pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*/mcp' "$workdir/mcpd.err" 2>/dev/null | head -1 || true)
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$workdir/mcpd.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "conformance: mcpd did not start" >&2; cat "$workdir/mcpd.err" >&2; exit 1; }

baseline=()
if [ -f "$here/baseline-$suite.yml" ]; then baseline=(--expected-failures "$here/baseline-$suite.yml"); fi
case "$suite" in
  0.1-active)     args=("$tools/node_modules/conformance-0.1/dist/index.js" server --url "$url" --suite active) ;;
  0.2-2025-11-25) args=("$tools/node_modules/conformance-0.2/dist/index.js" server --url "$url" --requirements 2025-11-25) ;;
  0.2-2026-07-28) args=("$tools/node_modules/conformance-0.2/dist/index.js" server --url "$url" --requirements 2026-07-28) ;;
  *) echo "conformance: unknown suite $suite" >&2; exit 2 ;;
esac
set +e
NO_COLOR=1 "$node" "${args[@]}" "${baseline[@]}" >"$workdir/out.txt" 2>&1
rc=$?
set -e
# The summary (and every failed check) is what a reader needs; the full log on failure.
if [ $rc -ne 0 ]; then cat "$workdir/out.txt"; echo "--- mcpd stderr ---"; tail -50 "$workdir/mcpd.err"; fi
sed -n '/=== SUMMARY ===/,$p' "$workdir/out.txt"
kill -0 "$pid" 2>/dev/null || { echo "conformance: mcpd died during the run" >&2; exit 1; }
exit $rc
