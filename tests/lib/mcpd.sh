# tests/lib/mcpd.sh — sourced by the shell test drivers that need a real `mcpd serve`:
#   start_mcpd <mcpd binary> <serve args…>   starts it in a temp dir with in-memory storage on a
#                                           free loopback port; sets MCPD_PID, MCPD_URL
#                                           (http://127.0.0.1:PORT/mcp) and MCPD_DIR (its
#                                           stdout/stderr are $MCPD_DIR/mcpd.out, mcpd.err)
#   mcpd_alive                              whether it is still running
# An EXIT trap stops it by PID and removes the temp dir.
MCPD_PID=""
MCPD_URL=""
MCPD_DIR="$(mktemp -d)"
_mcpd_cleanup() {
  if [ -n "$MCPD_PID" ]; then kill "$MCPD_PID" 2>/dev/null || true; wait "$MCPD_PID" 2>/dev/null || true; fi
  rm -rf "$MCPD_DIR"
}
trap _mcpd_cleanup EXIT

start_mcpd() {
  local bin="$1"; shift
  (cd "$MCPD_DIR" && MCP_TS_STORAGE_TYPE=memory MCPD_THREADS="${MCPD_THREADS:-1}" exec "$bin" serve --port 0 "$@" \
     >"$MCPD_DIR/mcpd.out" 2>"$MCPD_DIR/mcpd.err") &
  MCPD_PID=$!
  for _ in $(seq 1 100); do
    MCPD_URL=$(grep -o 'http://127.0.0.1:[0-9]*/mcp' "$MCPD_DIR/mcpd.err" 2>/dev/null | head -1 || true)
    [ -n "$MCPD_URL" ] && return 0
    mcpd_alive || { echo "mcpd exited at start:" >&2; cat "$MCPD_DIR/mcpd.err" >&2; return 1; }
    sleep 0.1
  done
  echo "mcpd did not start within 10 s:" >&2
  cat "$MCPD_DIR/mcpd.err" >&2
  return 1
}

mcpd_alive() { kill -0 "$MCPD_PID" 2>/dev/null; }
