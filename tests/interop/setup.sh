#!/usr/bin/env bash
# tests/interop/setup.sh DIR — installs the peer of the interop tests and of bench/store:
# @mcp-ts/sdk with its storage drivers (better-sqlite3, ioredis), at the versions package.json
# and package-lock.json pin, into DIR/node_modules (DIR is in the build tree, git-ignored).
#
# Installs only when missing or when the lock file changed (a stamp in DIR records which lock
# was installed), so runs after the first need no network. When something must be installed
# and npm cannot reach the registry, this fails (exit 1) with a message saying so: the interop
# tests depend on it as a CTest fixture and are then reported as not run, never skipped.
#
# Needs node >= 20 (better-sqlite3 12, the sdk's SQLite driver, requires it) and npm;
# better-sqlite3 compiles its native module here, with python3, make and g++.
set -euo pipefail

die() {
    echo "interop setup: $*" >&2
    exit 1
}

[ $# -eq 1 ] || die "usage: setup.sh DIR"
here="$(cd "$(dirname "$0")" && pwd)"
dir="$1"

command -v node >/dev/null || die "node is not on PATH (scripts/install-deps installs it)"
command -v npm >/dev/null || die "npm is not on PATH (scripts/install-deps installs it)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] ||
    die "node $(node --version) is too old: better-sqlite3 12 (@mcp-ts/sdk's SQLite driver) needs node >= 20"

mkdir -p "$dir"
stamp="$dir/node_modules/.mcpd-interop-lock"
want="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"

# Loads what the tests load: the sdk's storage, ioredis, and better-sqlite3's native module.
check() {
    (cd "$dir" && node -e '
        require("@mcp-ts/sdk/server");
        require("ioredis");
        const Database = require("better-sqlite3");
        new Database(":memory:").prepare("SELECT 1").get();
    ')
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && check 2>/dev/null; then
    exit 0
fi

echo "interop setup: installing @mcp-ts/sdk and its storage drivers into $dir (npm ci)" >&2
cp "$here/package.json" "$here/package-lock.json" "$dir/"
# node-gyp builds better-sqlite3 against the installed node's headers when they are there,
# rather than downloading them.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
    export npm_config_nodedir=/usr
fi
log="$dir/npm-ci.log"
if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
    cat "$log" >&2
    if grep -qE 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET|network' "$log"; then
        die "npm cannot reach the registry to install @mcp-ts/sdk (see above); the interop tests need it once, then run offline"
    fi
    die "npm ci failed (log above, also in $log)"
fi
check || die "installed, but @mcp-ts/sdk, ioredis or better-sqlite3 does not load (see above)"
echo "$want" >"$stamp"
version="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).version' \
    "$dir/node_modules/@mcp-ts/sdk/package.json")"
echo "interop setup: ready (@mcp-ts/sdk $version)" >&2
