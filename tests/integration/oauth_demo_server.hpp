// tests/integration/oauth_demo_server.hpp — the TypeScript SDK's OAuth demo (an MCP server and
// its authorization server, oauth_demo_server.mjs) for one test: run with the pinned Node from
// scripts/node-tools (MCPD_NODE_TOOLS) in a temporary directory, on ephemeral 127.0.0.1 ports
// read from the lines it prints, stopped by PID (SIGTERM, then SIGKILL). The constructor throws
// with the server's output when it cannot start: tests that need it fail, never skip.
#pragma once

#include "node_process.hpp"

#include <optional>
#include <string>
#include <sys/types.h>

namespace mcpd::test {

class oauth_demo_server {
public:
    struct options {
        bool no_s256 = false;         // the AS metadata does not offer PKCE S256
        bool dcr_fails = false;       // dynamic client registration answers 400
        bool unreachable_as = false;  // the resource metadata names a closed port
        bool token_hangs = false;     // the token endpoint never answers
        bool insecure_as = false;     // the resource metadata names http://as.example.invalid/
        bool iss_supported = false;   // the AS metadata says authorization_response_iss_…
        bool scopeless = false;       // no scope in token responses; step-up asks for mcp:admin
        bool no_issuer = false;       // the AS metadata has no issuer
        bool prm_no_resource = false; // the resource metadata has no resource
        bool no_prm = false;          // no resource metadata (a 2025-03-26 server)
        bool metadata_hangs = false;  // the AS metadata is never answered
        bool huge_metadata = false;   // the AS metadata is over 64 KiB
    };

    explicit oauth_demo_server(options opts);
    ~oauth_demo_server();
    oauth_demo_server(oauth_demo_server const&) = delete;
    oauth_demo_server& operator=(oauth_demo_server const&) = delete;

    // "http://127.0.0.1:PORT/mcp"
    [[nodiscard]] std::string const& mcp_url() const noexcept { return mcp_url_; }
    // "http://127.0.0.1:PORT/" (the issuer)
    [[nodiscard]] std::string const& auth_url() const noexcept { return auth_url_; }
    // "http://127.0.0.1:PORT" of the MCP server, for the /test/… hooks.
    [[nodiscard]] std::string base_url() const;
    [[nodiscard]] std::string output() const; // its stdout and stderr so far
    void stop();

private:
    std::optional<node_process> process_;
    std::string mcp_url_;
    std::string auth_url_;
};

} // namespace mcpd::test
