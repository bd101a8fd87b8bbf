// tests/integration/mcpd_process.hpp — a real `mcpd serve` for one test.
//
// Starts the mcpd binary (MCPD_BINARY) as a child process in a temporary directory with
// in-memory session storage: over HTTP on an ephemeral 127.0.0.1 port (`--port 0`; the port is
// read from the line mcpd prints on stderr once it listens), or over stdio with pipes to its
// stdin and stdout. Stops it by PID: SIGTERM, then SIGKILL if it has not exited in time.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace mcpd::test {

class mcpd_process {
public:
    struct options {
        std::vector<std::string> args; // after `serve`, e.g. {"--json-response"}
        bool stdio = false;            // `serve --stdio`: talk through pipes, no port
        // Environment for mcpd, set after MCP_TS_STORAGE_TYPE=memory (so it may override it).
        std::vector<std::pair<std::string, std::string>> env;
        std::string drain_timeout = "1s";
    };

    explicit mcpd_process(options opts);
    ~mcpd_process();
    mcpd_process(mcpd_process const&) = delete;
    mcpd_process& operator=(mcpd_process const&) = delete;

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    [[nodiscard]] std::string log() const; // mcpd's stderr so far, for failure messages
    // Still running (not exited or killed by a signal).
    [[nodiscard]] bool running();

    // Waits up to `limit` for mcpd to exit by itself (stdio: after end of input); its exit code
    // as stop() reports it, or nothing if it is still running.
    std::optional<int> wait_exit(std::chrono::milliseconds limit);

    // Sends `sig` and returns at once (stop() or wait_exit() reaps it).
    void signal(int sig);

    // SIGTERM, wait up to `limit`, then SIGKILL. Returns the exit code, or 128 + the signal
    // that ended it (a crash shows as 128 + SIGSEGV/SIGABRT; our own SIGKILL as 128 + 9).
    int stop(std::chrono::milliseconds limit = std::chrono::seconds(5));

    // stdio mode: bytes to mcpd's stdin; one line from its stdout (without the newline), or
    // nothing if none arrived within `limit` or stdout closed.
    void write_stdin(std::string_view bytes);
    void close_stdin();
    std::optional<std::string> read_line(std::chrono::milliseconds limit);

private:
    void wait_listening(std::chrono::milliseconds limit);
    int reap(int status);

    std::string dir_;
    pid_t pid_ = -1;
    std::optional<int> exit_code_;
    std::uint16_t port_ = 0;
    int stdin_fd_ = -1;
    int stdout_fd_ = -1;
    std::string stdout_buf_;
};

} // namespace mcpd::test
