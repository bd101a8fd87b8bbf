// apps/mcpd/serve.hpp — `mcpd serve`: the MCP server daemon.
//
// Its settings come from the configuration model (config.hpp: flags > environment > file >
// defaults), already checked: run_serve() trusts them. Each field is filled by its setting's
// entry in config.cpp's table (setting_def::apply), the one place a setting is named.
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/gateway/manager.hpp"
#include "mcpd/http/server.hpp"
#include "mcpd/server/fleet.hpp"
#include "mcpd/server/http_transport.hpp"
#include "mcpd/server/operations.hpp"
#include "mcpd/server/server.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mcpd::app {

class configuration;

// The MCP client gateway (/gateway; docs/gateway.md).
struct gateway_args {
    bool enabled = true;
    std::string token;  // secret: the trusted backend's token (any identity)
    std::string secret; // secret: the key of per-identity tokens and of the fan-out seal
    // The connection manager's settings (server policy, discovery limits, caps, idle timeout,
    // connect timeout and retries, ping interval), filled from the configuration as they are;
    // serve adds what only it knows (client info, the endpoint's stream check).
    gateway::manager_options manager;
    std::size_t max_result_bytes = std::size_t{16} * 1024 * 1024;
    std::size_t max_rpcs_per_identity = 16;
    bool dev = false;
    duration heartbeat = std::chrono::seconds(30);
    std::string oauth_client_name = "mcpd";
    std::string oauth_scope;
};

struct serve_args {
    std::string host = "127.0.0.1";
    std::uint16_t port = 3000;
    bool stdio = false;
    bool conformance = false;
    bool storage_required = false;
    std::vector<std::string> allowed_hosts;
    std::vector<std::string> allowed_origins;
    std::size_t page_size = 100; // items per tools/list, resources/list, … page
    duration drain_timeout = std::chrono::seconds(30);
    duration shutdown_delay{0}; // draining with the listener still open (load balancers)
    // The libraries' own option structs, filled by the settings: the HTTP server's limits,
    // /mcp's transport (response mode, legacy SSE, budgets), what one protocol session may keep,
    // and how many sessions this process holds at once.
    http::limits http;
    server::http_transport_options mcp;
    server::session_limits session;
    std::size_t max_sessions = 10000;
    server::operations_options ready;
    // Event loops, one per thread (0: one per core); stdio always runs one.
    std::size_t threads = 0;
    bool fleet = true; // join the fleet when the session storage is Redis
    server::fleet_options fleet_options;
    std::string state_key; // MCPD_STATE_KEY; empty: random per process
    // The environment as the configuration sees it (storage and Redis settings from any
    // source); nullptr: the process's.
    std::function<char const*(char const*)> getenv;
    gateway_args gateway;
    std::vector<std::string> guards; // --guard <tool>=<guards> (see guard_setup.hpp)
    std::string log_level = "info";
    std::string log_format = "auto"; // text | json | auto
};

// The arguments from a loaded configuration (its values are already checked).
serve_args serve_args_from(configuration const& cfg);

int run_serve(serve_args const& args);

} // namespace mcpd::app
