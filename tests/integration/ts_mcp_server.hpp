// tests/integration/ts_mcp_server.hpp — the TypeScript SDK test server (ts_mcp_server.mjs) for
// one test: started with the pinned Node from scripts/node-tools (MCPD_NODE_TOOLS) in a
// temporary directory, on an ephemeral 127.0.0.1 port read from the line it prints, stopped by
// PID (SIGTERM, then SIGKILL). Fails the constructor with the server's output when Node or the
// SDK is missing: the tests that need it must fail, not skip.
#pragma once

#include "node_process.hpp"

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace mcpd::test {

class ts_mcp_server {
public:
    struct options {
        bool json_response = false;
        std::string tls_cert; // both set: HTTPS
        std::string tls_key;
        std::string require_token; // set: 401/403 without "Authorization: Bearer <token>"
        // Another Node server script with the same contract (its first argument the node_tools
        // directory, then `args`; prints "listening on <url>"), e.g. everything_server.mjs.
        std::string script;
        std::vector<std::string> args;
    };

    explicit ts_mcp_server(options opts);
    ~ts_mcp_server();
    ts_mcp_server(ts_mcp_server const&) = delete;
    ts_mcp_server& operator=(ts_mcp_server const&) = delete;

    // "http://127.0.0.1:PORT" (or https), without a path.
    [[nodiscard]] std::string const& base_url() const noexcept { return url_; }
    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] std::string output() const; // its stdout and stderr so far
    void stop();

private:
    std::optional<node_process> process_;
    std::string url_;
    std::uint16_t port_ = 0;
};

// A CA and a server certificate for the name "localhost" only (no IP address), made by the
// openssl CLI once per test run.
struct localhost_certificate {
    std::string ca_cert;
    std::string server_cert;
    std::string server_key;
};
localhost_certificate const& localhost_certificate_files();

} // namespace mcpd::test
