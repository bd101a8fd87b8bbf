#!/usr/bin/env bash
# tests/threads/run_tsan_serve.sh — the whole `mcpd serve` under ThreadSanitizer, with several
# event loops (--threads): builds mcpd with -fsanitize=thread in a build of its own under --out
# (about 10 minutes on two cores the first time), then runs against it the official server suites
# with --threads 2 (tests/conformance/run.sh) and the gateway e2e (two loops by default), and
# fails when TSan reported anything. Not part of `scripts/test` (CI's tsan.threads covers core,
# store and redis); run it after changing what the loops share.
#
# Usage: run_tsan_serve.sh --src <repo> --out <dir> --node-tools <dir> [--cxx <c++>]
set -euo pipefail

src="" out="" tools="" cxx="${CXX:-c++}"
while [ $# -gt 0 ]; do
  case "$1" in
    --src) src="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --node-tools) tools="$2"; shift 2 ;;
    --cxx) cxx="$2"; shift 2 ;;
    *) echo "run_tsan_serve.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$src" ] || [ -z "$out" ] || [ -z "$tools" ]; then
  echo "usage: $0 --src <repo> --out <dir> --node-tools <dir> [--cxx <c++>]" >&2
  exit 2
fi
src="$(cd "$src" && pwd)"
tools="$(cd "$tools" && pwd)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
if [ ! -f "$out/CMakeCache.txt" ]; then
  cmake -S "$src" -B "$out" -G Ninja -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_CXX_FLAGS="-O1 -g" -DMCPD_SANITIZE=thread -DMCPD_BUILD_BENCH=OFF \
    -DMCPD_FUZZ_CLANGXX=OFF >/dev/null
fi
cmake --build "$out" -j2 --target mcpd

reports="$(mktemp -d)"
trap 'rm -rf "$reports"' EXIT
export TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 log_path=$reports/tsan ${TSAN_OPTIONS:-}"
mcpd="$out/apps/mcpd/mcpd"
for suite in 0.1-active 0.2-2025-11-25 0.2-2026-07-28; do
  "$src/tests/conformance/run.sh" "$mcpd" "$tools" "$suite" --threads 2 | tail -3
done
"$tools/node_modules/.bin/node" "$src/tests/gateway/gateway_e2e.mjs" "$mcpd" "$tools" | tail -1
if compgen -G "$reports/tsan*" >/dev/null; then
  cat "$reports"/tsan* >&2
  echo "run_tsan_serve.sh: ThreadSanitizer reported $(cat "$reports"/tsan* | grep -c '^WARNING') problem(s)" >&2
  exit 1
fi
echo "run_tsan_serve.sh: no ThreadSanitizer report"
