#!/usr/bin/env bash
# tests/package/deb_test.sh <build dir> — the .deb as an operator gets it: CPack builds the
# runtime package from this build, its dependencies must be the Debian packages the binary links,
# dpkg installs it into a scratch root, and from there `mcpd --version` and `mcpd serve` run (an
# initialize answered, SIGTERM drains and exits 0); the manual and the systemd unit are in it, and
# `systemd-analyze verify` accepts the unit without a word.
set -euo pipefail
build=$(cd "$1" && pwd)
work=$(mktemp -d /tmp/mcpd-deb-XXXXXX)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -D CPACK_COMPONENTS_ALL=runtime \
   -B "$work/out" >/dev/null)
deb=$(ls "$work"/out/mcpd_*.deb)
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libc6 libstdc++6 libssl3 libsqlite3-0 libpq5 libspdlog1.1 libfmt9 libjemalloc2; do
  [[ "$depends" == *"$lib"* ]] || { echo "the .deb does not depend on $lib" >&2; exit 1; }
done

root="$work/root"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status"
# The scratch root has no packages at all: its dependencies are this machine's.
dpkg --root="$root" --force-depends --force-script-chrootless -i "$deb" >/dev/null 2>&1
dpkg --root="$root" -L mcpd | grep -E 'usr/bin/mcpd$|man1/mcpd.1|mcpd.service$'
mcpd="$root/usr/bin/mcpd"
test -x "$mcpd"
[ "$("$mcpd" --version)" = "mcpd $(dpkg-deb -f "$deb" Version)" ]
gzip -dc "$root/usr/share/man/man1/mcpd.1.gz" | grep -q '^\.SH "MCPD SERVE"'

# The unit, checked against the binary where the unit says it is.
unit="$root/usr/lib/systemd/system/mcpd.service"
grep -q '^ExecStart=/usr/bin/mcpd serve$' "$unit"
for hardening in DynamicUser=yes ProtectSystem=strict StateDirectory=mcpd; do
  grep -q "^$hardening$" "$unit" || { echo "the unit lacks $hardening" >&2; exit 1; }
done
# systemd-analyze verify, on the unit as installed but for the binary's path (the scratch root's):
# a key it does not know, a bad value or a missing binary is a failure, warnings included.
sed "s|^ExecStart=/usr/bin/mcpd|ExecStart=$mcpd|" "$unit" >"$work/mcpd.service"
verified=$(systemd-analyze verify --man=no "$work/mcpd.service" 2>&1) || {
  echo "$verified" >&2; exit 1; }
[ -z "$verified" ] || { echo "systemd-analyze verify: $verified" >&2; exit 1; }
echo "systemd-analyze verify: the unit is clean"

# mcpd serve from the installed package.
cd "$work"
MCP_TS_STORAGE_TYPE=memory "$mcpd" serve --port 0 --no-gateway 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do
  grep -q "serving MCP on" "$work/serve.err" && break
  sleep 0.1
done
url=$(sed -n 's/^mcpd: serving MCP on //p' "$work/serve.err")
[ -n "$url" ] || { cat "$work/serve.err" >&2; echo "mcpd serve did not start" >&2; exit 1; }
python3 - "$url" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1], json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}).encode(),
    {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"})
with urllib.request.urlopen(req, timeout=10) as r:
    body = r.read().decode()
assert '"serverInfo"' in body and '"mcpd"' in body, body
print("mcpd serve from the .deb: initialize answered")
PY
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=""
echo "SIGTERM: drained and exited 0"
