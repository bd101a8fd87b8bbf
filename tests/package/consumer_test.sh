#!/usr/bin/env bash
# tests/package/consumer_test.sh <build dir> <source dir> — mcpd as a user consumes it: the
# build is installed into a scratch prefix (`cmake --install`), examples/ is configured and built
# as a project of its own against it (find_package(mcpd REQUIRED COMPONENTS server …): public
# headers and the installed libraries only), and the weather server it makes answers a real
# initialize and tools/call on a loopback port. Also: the pkg-config file compiles the same
# example without CMake.
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
work=$(mktemp -d /tmp/mcpd-consumer-XXXXXX)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cmake --install "$build" --prefix "$work/prefix" --component development >/dev/null
# A shared build's libraries are the runtime component's (as the -dev package depends on it).
if grep -qE '^BUILD_SHARED_LIBS:[A-Z]+=(ON|1|TRUE|YES)$' "$build/CMakeCache.txt"; then
  cmake --install "$build" --prefix "$work/prefix" --component runtime >/dev/null
fi
test -f "$work/prefix/include/mcpd/server.hpp"
test -f "$work/prefix/include/mcpd/version.hpp"
test -f "$work/prefix/lib/cmake/mcpd/mcpdConfig.cmake"
test -f "$work/prefix/lib/pkgconfig/mcpd.pc"
# Nothing private was installed.
if grep -rlE '#include [<"](boost/beast|openssl|(core|protocol|redis|http|store|guard|server|client|gateway)/)' \
     "$work/prefix/include"; then
  echo "a private or Beast header was installed" >&2
  exit 1
fi

cmake -S "$src/examples" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
      -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null

# The weather server answers, on a port of its own.
PORT=0 "$work/build/weather_server" >"$work/server.out" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  grep -q "serving on" "$work/server.out" && break
  sleep 0.1
done
url=$(sed -n 's/^serving on //p' "$work/server.out")
[ -n "$url" ] || { cat "$work/server.out" >&2; echo "weather_server did not start" >&2; exit 1; }
python3 - "$url" <<'PY'
import json, sys, urllib.request
url = sys.argv[1]
def post(body, session=None):
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if session:
        headers["Mcp-Session-Id"] = session
        headers["MCP-Protocol-Version"] = "2025-11-25"
    req = urllib.request.Request(url, json.dumps(body).encode(), headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read().decode()
        if r.headers.get("Content-Type", "").startswith("text/event-stream"):
            text = [l[6:] for l in text.splitlines() if l.startswith("data: ")][-1]
        return r.headers.get("Mcp-Session-Id"), (json.loads(text) if text else None)
sid, init = post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
assert init["result"]["serverInfo"]["name"] == "weather", init
post({"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
_, call = post({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "forecast", "arguments": {"city": "Oslo"}}}, sid)
assert call["result"]["structuredContent"] == {"city": "Oslo", "high": 21.5}, call
print("weather_server from the installed package: initialize and tools/call answered")
PY

# pkg-config: the same program without CMake.
PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --exists mcpd
# shellcheck disable=SC2046
g++ -std=c++20 -fsyntax-only $(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags mcpd) \
    "$src/examples/weather_server.cpp"
echo "pkg-config --cflags mcpd compiles the example"
