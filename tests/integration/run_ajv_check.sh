#!/usr/bin/env bash
# ctest driver for the ajv cross-check of mcpd's JSON Schemas (ajv_agrees.mjs): installs ajv
# from npm into a git-ignored folder of the build tree the first time, runs the case emitter,
# and lets ajv judge. A missing node/npm or an unreachable registry FAILS the test, loudly:
# the check is part of the suite, not optional.
# Usage: run_ajv_check.sh <node_tools dir> <protocol_schema_cases binary>
set -euo pipefail

tools_dir="$1"
cases_binary="$2"
here="$(cd "$(dirname "$0")" && pwd)"
ajv_version="8.17.1"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL: '$tool' is not on PATH; the ajv schema check needs Node.js and npm" >&2
    exit 1
  fi
done

installed="$(node -p "require('$tools_dir/node_modules/ajv/package.json').version" 2>/dev/null || true)"
if [ "$installed" != "$ajv_version" ]; then
  mkdir -p "$tools_dir"
  [ -f "$tools_dir/package.json" ] || echo '{"private": true}' >"$tools_dir/package.json"
  echo "installing ajv@$ajv_version into $tools_dir" >&2
  if ! (cd "$tools_dir" && timeout 300 npm install --no-audit --no-fund --loglevel=error \
          "ajv@$ajv_version" >npm-install.log 2>&1); then
    echo "FAIL: npm could not install ajv@$ajv_version (is the npm registry reachable?)" >&2
    tail -n 20 "$tools_dir/npm-install.log" >&2
    exit 1
  fi
fi

cases_file="$(mktemp)"
trap 'rm -f "$cases_file"' EXIT
"$cases_binary" >"$cases_file"
node "$here/ajv_agrees.mjs" "$tools_dir" "$cases_file"
