#!/usr/bin/env bash
# Runs client.mjs (the official TypeScript SDK as an MCP client) against mcpd over one
# transport. Usage: run.sh <mcpd binary> <node_tools dir> <mode> where mode is
#   streamable-http       POST answers as SSE streams (mcpd's default)
#   streamable-http-json  `mcpd serve --json-response`
#   legacy-sse            GET /sse + POST /messages (2024-11-05 HTTP+SSE)
#   stdio                 the SDK spawns `mcpd serve --stdio --conformance` itself
# HTTP modes start mcpd on a free loopback port (like tests/conformance/run.sh) and stop it by
# PID; the test fails if mcpd died during the run.
set -euo pipefail
mcpd="$(realpath "$1")"; tools="$(realpath "$2")"; mode="$3"
here="$(cd "$(dirname "$0")" && pwd)"
node="$tools/node_modules/.bin/node"
[ -x "$node" ] || { echo "sdk_client: $node missing: run scripts/node-tools" >&2; exit 1; }

if [ "$mode" = stdio ]; then
  exec "$node" "$here/client.mjs" "$tools" stdio "$mcpd"
fi

extra=()
transport=streamable-http
case "$mode" in
  streamable-http) ;;
  streamable-http-json) extra=(--json-response); transport=streamable-http-json ;;
  legacy-sse) transport=legacy-sse ;;
  *) echo "sdk_client: unknown mode $mode" >&2; exit 2 ;;
esac

workdir="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$workdir"
}
trap cleanup EXIT

(cd "$workdir" && MCP_TS_STORAGE_TYPE=memory exec "$mcpd" serve --port 0 --conformance "${extra[@]}" \
   >"$workdir/mcpd.out" 2>"$workdir/mcpd.err") &
pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*/mcp' "$workdir/mcpd.err" 2>/dev/null | head -1 || true)
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$workdir/mcpd.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "sdk_client: mcpd did not start" >&2; cat "$workdir/mcpd.err" >&2; exit 1; }

set +e
"$node" "$here/client.mjs" "$tools" "$transport" "$url"
rc=$?
set -e
if [ $rc -ne 0 ]; then echo "--- mcpd stderr ---"; tail -50 "$workdir/mcpd.err"; fi
kill -0 "$pid" 2>/dev/null || { echo "sdk_client: mcpd died during the run" >&2; tail -50 "$workdir/mcpd.err" >&2; exit 1; }
exit $rc
