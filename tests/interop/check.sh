#!/usr/bin/env bash
# tests/interop/check.sh — the interop tests' fixture: makes sure the pinned @mcp-ts/sdk and its
# storage drivers are installed (scripts/node-tools, a no-op once they are) and that they load
# with the `node` on PATH, which is what the tests run. Fails, never skips, when they cannot be
# installed or loaded: the tests that need them are then reported as not run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tools="$("$here/../../scripts/node-tools")"
cd "$tools"
node -e '
    require("@mcp-ts/sdk/server");
    require("ioredis");
    const Database = require("better-sqlite3");
    new Database(":memory:").prepare("SELECT 1").get();
' || { echo "interop: @mcp-ts/sdk, ioredis or better-sqlite3 does not load in $tools" >&2; exit 1; }
