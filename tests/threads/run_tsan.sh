#!/usr/bin/env bash
# tests/threads/run_tsan.sh — builds tests/threads (mcpd_threads_tests) with ThreadSanitizer in a
# CMake build of its own under --out, so the libraries it drives (core, store, redis) are
# instrumented too, and runs it; ctest runs it as tsan.build (--build-only) and tsan.threads
# (--no-build). A data race, a lock-order inversion or a use of a freed object across threads
# fails the run (halt_on_error).
#
# Usage: run_tsan.sh --src <repo> --out <dir> [--cxx <c++>] [--build-only|--no-build]
set -euo pipefail

src="" out="" cxx="${CXX:-c++}" build=1 run=1
while [ $# -gt 0 ]; do
  case "$1" in
    --src) src="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --cxx) cxx="$2"; shift 2 ;;
    --build-only) run=0; shift ;;
    --no-build) build=0; shift ;;
    *) echo "run_tsan.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$src" ] || [ -z "$out" ]; then
  echo "usage: $0 --src <repo> --out <dir> [--cxx <c++>] [--build-only|--no-build]" >&2
  exit 2
fi
mkdir -p "$out"

if [ "$build" = 1 ]; then
  if [ ! -f "$out/CMakeCache.txt" ]; then
    # -O1: TSan's slowdown on -O0 code makes the Redis timeouts the tests use too tight.
    cmake -S "$src" -B "$out" -G Ninja -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_COMPILER="$cxx" \
      -DCMAKE_CXX_FLAGS="-O1 -g" -DMCPD_SANITIZE=thread -DMCPD_BUILD_BENCH=OFF \
      -DMCPD_FUZZ_CLANGXX=OFF >/dev/null
  fi
  # Two cores are shared on these machines.
  cmake --build "$out" -j2 --target mcpd_threads_tests
fi
if [ "$run" = 1 ]; then
  export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
  exec "$out/tests/threads/mcpd_threads_tests"
fi
