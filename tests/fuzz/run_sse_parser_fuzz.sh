#!/usr/bin/env bash
# tests/fuzz/run_sse_parser_fuzz.sh — builds the SSE reader fuzzer and runs it for a bounded
# time; ctest runs it as fuzz.sse_parser and it fails when the fuzzer finds a crash.
#
# With clang++ (--clang): compiles src/http/sse_parser.cpp, src/http/sse_event.cpp (the writer,
# for the round trip) + sse_parser_fuzz.cpp with
# -fsanitize=fuzzer,address,undefined into --out (skipped when the binary is newer than every
# source), then runs libFuzzer over a working corpus kept in --out plus the seeds in sse_corpus/.
# If libFuzzer cannot be linked (no compiler-rt), or without --clang, it builds fuzz_driver.cpp
# instead with --cxx and -fsanitize=address,undefined: seeds plus fixed-seed random inputs.
#
# Usage: run_sse_parser_fuzz.sh --src <repo> --out <dir> [--clang <clang++>] [--cxx <c++>]
#                                [--seconds <n>] [-- extra libFuzzer args]
set -euo pipefail

src="" out="" clang="" cxx="${CXX:-c++}" seconds=20
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --src) src="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --clang) clang="$2"; shift 2 ;;
    --cxx) cxx="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "run_sse_parser_fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$src" ] || [ -z "$out" ]; then
  echo "usage: $0 --src <repo> --out <dir> [--clang <clang++>] [--cxx <c++>] [--seconds <n>]" >&2
  exit 2
fi

# The driver runs from inside --out: both paths absolute.
mkdir -p "$out"
out="$(cd "$out" && pwd)"
src="$(cd "$src" && pwd)"
fuzz_dir="$src/tests/fuzz"
sources=("$src/src/http/sse_parser.cpp" "$src/src/http/sse_event.cpp" "$fuzz_dir/sse_parser_fuzz.cpp")
inputs=("${sources[@]}" "$src/src/http/sse_parser.hpp" "$src/src/http/sse_event.hpp" "$fuzz_dir/fuzz_driver.cpp" "${BASH_SOURCE[0]}")
sanitize=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)

# True when $1 is missing or older than any of the other arguments.
stale() {
  local bin="$1"; shift
  [ -x "$bin" ] || return 0
  local f
  for f in "$@"; do
    [ "$f" -nt "$bin" ] && return 0
  done
  return 1
}

# build <output> <compiler> <flags...>: compiles into <output> unless it is up to date.
build() {
  local bin="$1" compiler="$2"; shift 2
  stale "$bin" "${inputs[@]}" || return 0
  echo "building $bin with $compiler"
  if "$compiler" -std=c++20 -O1 -g -I"$src/src" "$@" -o "$bin.tmp" 2>"$bin.log"; then
    mv "$bin.tmp" "$bin"
    return 0
  fi
  cat "$bin.log" >&2
  rm -f "$bin.tmp"
  return 1
}

if [ -n "$clang" ]; then
  fuzzer="$out/sse_parser_fuzz"
  if build "$fuzzer" "$clang" -fsanitize=fuzzer "${sanitize[@]}" "${sources[@]}"; then
    mkdir -p "$out/corpus" "$out/artifacts"
    # The first corpus directory collects new interesting inputs across runs.
    exec "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=5 -max_len=4096 \
      -print_final_stats=1 -dict="$fuzz_dir/sse.dict" -artifact_prefix="$out/artifacts/" \
      "${extra[@]}" "$out/corpus" "$fuzz_dir/sse_corpus"
  fi
  echo "run_sse_parser_fuzz.sh: cannot link libFuzzer with $clang; using the driver" >&2
fi

driver="$out/sse_parser_fuzz_driver"
build "$driver" "$cxx" "${sanitize[@]}" "${sources[@]}" "$fuzz_dir/fuzz_driver.cpp"
cd "$out"
exec "$driver" -seconds="$seconds" -runs=200000 "$fuzz_dir/sse_corpus"
