#!/usr/bin/env bash
# Runs one official MCP conformance suite against a fresh `mcpd serve --conformance` on a free
# loopback port, then stops it. Usage: run.sh <mcpd binary> <node_tools dir> <suite> [serve
# flags…] where suite is "0.1-active", "0.2-2025-11-25" or "0.2-2026-07-28" and the flags go to
# `mcpd serve` (e.g. --threads 2). Expected failures, with the reason for
# each, live in baseline-<suite>.yml next to this script (none today).
# With FLEET_URL set (mcpd_fleet_run, tests/integration/fleet_run.cpp: several mcpd on one Redis
# behind nginx), the suite runs against that URL instead and the mcpd binary is not started; the
# instances (FLEET_PIDS) must all still run at the end.
set -euo pipefail
mcpd="$1"; tools="$2"; suite="$3"; shift 3
here="$(cd "$(dirname "$0")" && pwd)"
node="$tools/node_modules/.bin/node"
[ -x "$node" ] || { echo "conformance: $node missing: run scripts/node-tools" >&2; exit 1; }

. "$here/../lib/mcpd.sh"
if [ -n "${FLEET_URL:-}" ]; then
  url="$FLEET_URL"
  # Every instance still running (not exited, nor a zombie its parent has not reaped yet).
  mcpd_alive() {
    local p state
    for p in ${FLEET_PIDS//,/ }; do
      state=$(awk '/^State:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
      [ -n "$state" ] && [ "$state" != Z ] || return 1
    done
  }
else
  start_mcpd "$mcpd" --conformance "$@"
  url="$MCPD_URL"
fi
workdir="$MCPD_DIR"

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
# (Through a fleet, mcpd_fleet_run prints the end of each instance's log.)
if [ $rc -ne 0 ]; then
  cat "$workdir/out.txt"
  if [ -z "${FLEET_URL:-}" ]; then echo "--- mcpd stderr ---"; tail -50 "$workdir/mcpd.err"; fi
fi
sed -n '/=== SUMMARY ===/,$p' "$workdir/out.txt"
mcpd_alive || { echo "conformance: mcpd died during the run" >&2; exit 1; }
# With several event loops, each must have served part of the suite (or it tested one loop).
if [ -z "${FLEET_URL:-}" ] && [[ " $* " == *" --threads "* ]]; then
  served=$(curl -s --max-time 5 "${url%/mcp}/metrics" |
    awk '/^mcpd_event_loop_requests_total/ && $NF > 0 { n++ } END { print n + 0 }')
  echo "conformance: $served event loops served the suite"
  [ "$served" -ge 2 ] || { echo "conformance: only $served event loop served the suite" >&2; exit 1; }
fi
exit $rc
