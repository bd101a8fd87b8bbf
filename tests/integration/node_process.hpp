// tests/integration/node_process.hpp — a Node test server for one test: the pinned Node from
// scripts/node-tools (MCPD_NODE_TOOLS) runs `<script> <node_tools dir> <args…>` in a temporary
// directory, its stdout and stderr in a file there; the fixture waits until its output holds a
// line it expects (the URLs it listens on) and stops it by PID (SIGTERM, then SIGKILL). Dies
// with the test process. The constructor throws with the server's output when it exits at
// start or never prints the line: tests that need it fail, never skip. Used by ts_mcp_server
// and oauth_demo_server.
#pragma once

#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

namespace mcpd::test {

class node_process {
public:
    // `what` names the server in errors ("the OAuth demo server").
    node_process(std::string what, std::string const& script, std::vector<std::string> args);
    ~node_process();
    node_process(node_process const&) = delete;
    node_process& operator=(node_process const&) = delete;

    // Waits until the output holds a whole line that starts with `prefix` and returns the rest
    // of it; throws (and stops the server) when it exits first or `limit` passes.
    std::string wait_for_line(std::string const& prefix, std::chrono::seconds limit);
    [[nodiscard]] std::string output() const; // its stdout and stderr so far
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    // Still running (reaps it when it has exited).
    bool running();
    void stop();

private:
    std::string what_;
    std::string dir_;
    pid_t pid_ = -1;
};

} // namespace mcpd::test
