#!/usr/bin/env bash
# Runs one client scenario of an official MCP conformance suite against mcpd's MCP client
# (conformance_client.cpp). Usage: run_client.sh <client binary> <node_tools dir> <suite>
# <scenario> [<spec version>], suite "0.1" or "0.2". With a spec version the scenario runs at
# that revision even when it was introduced later (--force): the 2026-07-28 draft's OAuth
# scenarios run at 2025-11-25, the revision mcpd's client speaks. The suite starts its own
# servers on free ports and runs the client with their URL; exit status 0 when every check
# passed and the client exited 0.
set -euo pipefail
client="$1"; tools="$2"; suite="$3"; scenario="$4"; spec="${5:-}"
extra=()
if [ -n "$spec" ]; then extra=(--spec-version "$spec" --force); fi
node="$tools/node_modules/.bin/node"
[ -x "$node" ] || { echo "conformance: $node missing: run scripts/node-tools" >&2; exit 1; }
workdir="$(mktemp -d /tmp/mcpd-conformance-client-XXXXXX)"
trap 'rm -rf "$workdir"' EXIT
cd "$workdir"
set +e
NO_COLOR=1 "$node" "$tools/node_modules/conformance-$suite/dist/index.js" client \
  --command "$client" --scenario "$scenario" --timeout 60000 "${extra[@]}" >"$workdir/out.txt" 2>&1
rc=$?
set -e
if [ $rc -ne 0 ]; then cat "$workdir/out.txt"; fi
sed -n '/Test Results:/,$p' "$workdir/out.txt"
exit $rc
