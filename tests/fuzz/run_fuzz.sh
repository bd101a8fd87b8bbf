#!/usr/bin/env bash
# tests/fuzz/run_fuzz.sh — builds the fuzz targets and runs one for a bounded time; ctest runs it
# as fuzz.build (build only) and fuzz.<name> (run only), and a run fails when the target finds a
# crash.
#
# The targets are built in a CMake build of the whole project of their own, under --out, so that
# the libraries under test are instrumented too (tests/fuzz/targets.cmake lists the targets):
#   - with clang++ (--clang) that can link libFuzzer: -fsanitize=fuzzer,address,undefined
#     (build-libfuzzer/);
#   - otherwise with --cxx and -fsanitize=address,undefined, linked with fuzz_driver.cpp, which
#     stands in for libFuzzer: seeds plus fixed-seed random inputs (build-driver/).
# libFuzzer keeps the interesting inputs it finds in --out/<target>/corpus, so later runs start
# from a better corpus; crashes go to --out/<target>/artifacts/.
#
# Usage: run_fuzz.sh --src <repo> --out <dir> --target <name>_fuzz [--target …]
#                    [--clang <clang++>] [--cxx <c++>] [--seconds <n>] [--build-only|--no-build]
#                    [-- extra libFuzzer args]
set -euo pipefail

src="" out="" clang="" cxx="${CXX:-c++}" seconds=20 build=1 run=1
targets=() extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --src) src="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --target) targets+=("$2"); shift 2 ;;
    --clang) clang="$2"; shift 2 ;;
    --cxx) cxx="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --build-only) run=0; shift ;;
    --no-build) build=0; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "run_fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$src" ] || [ -z "$out" ] || [ ${#targets[@]} -eq 0 ] ||
   { [ "$run" = 1 ] && [ ${#targets[@]} -ne 1 ]; }; then
  echo "usage: $0 --src <repo> --out <dir> --target <name>_fuzz [--clang <clang++>]" \
       "[--cxx <c++>] [--seconds <n>] [--build-only|--no-build] [-- libFuzzer args]" >&2
  exit 2
fi
src="$(cd "$src" && pwd)"
fuzz_dir="$src/tests/fuzz"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# libFuzzer when clang++ can link it (clang without compiler-rt cannot), else the driver.
engine=driver
if [ -n "$clang" ]; then
  probe="$out/libfuzzer-probe"
  if [ -x "$probe" ] || { printf '%s\n' \
      '#include <cstddef>' '#include <cstdint>' \
      'extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }' |
      "$clang" -x c++ -fsanitize=fuzzer - -o "$probe" 2>/dev/null; }; then
    engine=libfuzzer
  else
    echo "run_fuzz.sh: cannot link libFuzzer with $clang; using the driver" >&2
  fi
fi
build_dir="$out/build-$engine"

if [ "$build" = 1 ]; then
  sanitize="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined"
  sanitize+=" -fno-sanitize-recover=undefined"
  compiler="$cxx"
  if [ "$engine" = libfuzzer ]; then
    compiler="$clang"
    # clang 14's -fsanitize=function cannot compile coroutines ("Cannot represent a difference
    # across sections"); the rest of UBSan stays on.
    sanitize+=" -fsanitize=fuzzer-no-link -fno-sanitize=function"
  fi
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    cmake -S "$src" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE= \
      -DCMAKE_CXX_COMPILER="$compiler" -DCMAKE_CXX_FLAGS="$sanitize" \
      -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
      -DMCPD_FUZZ_ENGINE="$engine" -DMCPD_WARNINGS_AS_ERRORS=OFF \
      -DMCPD_BUILD_TESTS=OFF -DMCPD_BUILD_BENCH=OFF >/dev/null
  fi
  # Two cores are shared on these machines.
  cmake --build "$build_dir" -j2 --target "${targets[@]}"
fi
[ "$run" = 1 ] || exit 0

target="${targets[0]}"
name="${target%_fuzz}"
bin="$build_dir/$target"
if [ ! -x "$bin" ]; then
  echo "run_fuzz.sh: $bin is not built (run without --no-build)" >&2
  exit 1
fi
# Longest input, per target: RESP replies, JSON-RPC bodies, HTTP requests over the tight limits.
# The HTTP server keeps state across inputs (as a real one does), so nearly every input ends with
# more allocations than frees and libFuzzer's per-input leak check (a full LeakSanitizer scan)
# would run after each one, cutting the rate by two thirds; leaks are still checked at exit.
per_target=()
case "$name" in
  resp_parser|sse_parser) max_len=4096 ;;
  http_request) max_len=16384; per_target=(-detect_leaks=0) ;;
  *) max_len=16384 ;;
esac
work="$out/$name"
mkdir -p "$work/corpus" "$work/artifacts"
dict=()
[ -f "$fuzz_dir/$name.dict" ] && dict=(-dict="$fuzz_dir/$name.dict")
if [ "$engine" = libfuzzer ]; then
  # The first corpus directory collects new interesting inputs across runs.
  exec "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len="$max_len" \
    -print_final_stats=1 "${dict[@]}" "${per_target[@]}" -artifact_prefix="$work/artifacts/" \
    "${extra[@]}" \
    "$work/corpus" "$fuzz_dir/corpus/$name"
fi
cd "$work"
exec "$bin" -seconds="$seconds" -runs=200000 "${dict[@]}" "$fuzz_dir/corpus/$name"
