// apps/mcpd/serve.hpp — `mcpd serve`: the MCP server daemon.
#pragma once

#include "core/duration.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace mcpd::app {

struct serve_args {
    std::string host = "127.0.0.1";
    std::uint16_t port = 3000;
    bool stdio = false;
    bool json_response = false;
    bool conformance = false;
    bool storage_required = false;
    bool no_legacy_sse = false;
    std::vector<std::string> allowed_hosts;
    std::vector<std::string> allowed_origins;
    std::size_t max_body_bytes = 4 * 1024 * 1024;
    duration drain_timeout = std::chrono::seconds(30);
    std::vector<std::string> guards; // --guard <tool>=<guards> (see guard_setup.hpp)
};

int run_serve(serve_args const& args);

} // namespace mcpd::app
