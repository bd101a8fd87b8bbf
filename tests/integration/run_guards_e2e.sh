#!/usr/bin/env bash
# ctest driver for guards_e2e.mjs: a private redis-server and two `mcpd serve` instances on free
# loopback ports sharing it, the demo tools guarded by MCPD_GUARDS and --guard, and the official
# TypeScript SDK as the client. Everything is stopped by PID at the end.
# Usage: run_guards_e2e.sh <mcpd binary> <node_tools dir>
set -euo pipefail
mcpd="$1"; tools="$2"
here="$(cd "$(dirname "$0")" && pwd)"
node="$tools/node_modules/.bin/node"
[ -x "$node" ] || { echo "FAIL: $node missing: run scripts/node-tools" >&2; exit 1; }

workdir="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$workdir"
}
trap cleanup EXIT

# Bad guard configuration stops the server with a message that says what is wrong.
expect_refusal() {
  local want="$1"; shift
  local out rc=0
  out=$(cd "$workdir" && env MCP_TS_STORAGE_TYPE=memory "$@" 2>&1) || rc=$?
  if [ "$rc" -ne 2 ] || [[ "$out" != *"$want"* ]]; then
    echo "FAIL: expected exit 2 and \"$want\" from: $*"; echo "$out"; exit 1
  fi
  echo "ok - refused: $want"
}
expect_refusal "there is no tool of that name (tools: echo, add, countdown, server_time)" \
  "$mcpd" serve --port 0 --guard 'nosuch=cache:1s'
expect_refusal "unknown cache option" "$mcpd" serve --port 0 --guard 'echo=cache:1s:forever'
expect_refusal "MCPD_GUARDS" env MCPD_GUARDS='echo=rate:0/1min' "$mcpd" serve --port 0
expect_refusal "which is not one of its arguments" "$mcpd" serve --port 0 --guard 'echo=lock:k-{nope}/1s'

port=$("$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$workdir" \
  >"$workdir/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q "Ready to accept" "$workdir/redis.log" && break; sleep 0.05; done

start_mcpd() {
  local name="$1"
  (cd "$workdir" && MCP_TS_STORAGE_TYPE=memory REDIS_URL="redis://127.0.0.1:$port" \
     exec "$mcpd" serve --port 0 --guard 'server_time=cache:300s' --guard 'echo=rate:3/1min' \
     --guard 'countdown=lock:countdown-{n}/10s' \
     >"$workdir/$name.out" 2>"$workdir/$name.err") &
  pids+=($!)
}
wait_url() {
  local name="$1" url=""
  for _ in $(seq 1 100); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*/mcp' "$workdir/$name.err" 2>/dev/null | head -1 || true)
    [ -n "$url" ] && { echo "$url"; return 0; }
    sleep 0.1
  done
  echo "FAIL: $name did not start" >&2; cat "$workdir/$name.err" >&2; return 1
}
start_mcpd one
start_mcpd two
url1=$(wait_url one); url2=$(wait_url two)
set +e
"$node" "$here/guards_e2e.mjs" "$tools" "$url1" "$url2"
rc=$?
set -e
if [ $rc -ne 0 ]; then echo "--- one ---"; tail -20 "$workdir/one.err"; echo "--- two ---"; tail -20 "$workdir/two.err"; fi
exit $rc
