#!/usr/bin/env bash
# ctest driver for the ajv cross-check of mcpd's JSON Schemas (ajv_agrees.mjs): runs the case
# emitter and lets ajv (pinned in tests/node, installed by scripts/node-tools) judge. Missing
# tools FAIL the test, loudly: the check is part of the suite, not optional.
# Usage: run_ajv_check.sh <node_tools dir> <protocol_schema_cases binary>
set -euo pipefail

tools_dir="$1"
cases_binary="$2"
here="$(cd "$(dirname "$0")" && pwd)"
node="$tools_dir/node_modules/.bin/node"
if [ ! -x "$node" ] || [ ! -f "$tools_dir/node_modules/ajv/package.json" ]; then
  echo "FAIL: ajv is not installed in $tools_dir: run scripts/node-tools (is the npm registry reachable?)" >&2
  exit 1
fi

cases_file="$(mktemp)"
trap 'rm -f "$cases_file"' EXIT
"$cases_binary" >"$cases_file"
"$node" "$here/ajv_agrees.mjs" "$tools_dir" "$cases_file"
