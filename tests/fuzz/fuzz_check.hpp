// tests/fuzz/fuzz_check.hpp — how a fuzz target says that a property does not hold: it prints
// what and aborts, which libFuzzer (and fuzz_driver.cpp) reports as a crash with the input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace mcpd::fuzz {

[[noreturn]] inline void fail(std::string_view what) {
    std::fprintf(stderr, "fuzz check failed: %.*s\n", static_cast<int>(what.size()), what.data());
    std::abort();
}

inline void check(bool ok, std::string_view what) {
    if (!ok)
        fail(what);
}

} // namespace mcpd::fuzz
