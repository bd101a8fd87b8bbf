#!/usr/bin/env bash
# Runs client.mjs (the official TypeScript SDK as an MCP client) against mcpd over one
# transport. Usage: run.sh <mcpd binary> <node_tools dir> <mode> where mode is
#   streamable-http       POST answers as SSE streams (mcpd's default)
#   streamable-http-json  `mcpd serve --json-response`
#   legacy-sse            GET /sse + POST /messages (2024-11-05 HTTP+SSE)
#   stdio                 the SDK spawns `mcpd serve --stdio --conformance` itself
# HTTP modes start mcpd on a free loopback port (tests/lib/mcpd.sh) and stop it by PID; the
# test fails if mcpd died during the run.
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

. "$here/../lib/mcpd.sh"
start_mcpd "$mcpd" --conformance "${extra[@]}"

set +e
"$node" "$here/client.mjs" "$tools" "$transport" "$MCPD_URL"
rc=$?
set -e
if [ $rc -ne 0 ]; then echo "--- mcpd stderr ---"; tail -50 "$MCPD_DIR/mcpd.err"; fi
mcpd_alive || { echo "sdk_client: mcpd died during the run" >&2; tail -50 "$MCPD_DIR/mcpd.err" >&2; exit 1; }
exit $rc
