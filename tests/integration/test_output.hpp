// tests/integration/test_output.hpp — keeps what the processes under test printed (mcpd's
// stderr, the CLI's output) in the build's test-logs/ directory, where the suite's last test,
// secrets.scan (tests/secret_scan.py), looks for every secret the tests hand to mcpd: a password
// or key that shows up in any output fails the suite, whichever test made it print.
#pragma once

#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace mcpd::test {

// `source` names the file ("mcpd", "cli"); each call writes a new one.
inline void keep_test_output([[maybe_unused]] std::string_view source,
                             [[maybe_unused]] std::string_view text) {
#ifdef MCPD_TEST_LOG_DIR
    static std::atomic<unsigned> count{0};
    std::filesystem::path dir(MCPD_TEST_LOG_DIR);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    auto name = std::string(source) + "-" + std::to_string(::getpid()) + "-" +
                std::to_string(count++) + ".log";
    std::ofstream(dir / name, std::ios::binary) << text;
#endif
}

// Runs `command` with the shell (its stdout and stderr together), keeps what it printed as
// `source` and returns it: a CLI run whose output the secret scan reads too.
inline std::string run_kept(std::string const& command, std::string_view source = "cli") {
    std::string out;
    FILE* p = ::popen(("(" + command + ") 2>&1").c_str(), "r");
    if (p == nullptr)
        return "popen failed";
    std::array<char, 4096> buf{};
    while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr)
        out += buf.data();
    ::pclose(p);
    keep_test_output(source, out);
    return out;
}

} // namespace mcpd::test
