// gateway/events.hpp — what the gateway tells a browser about its connections, in the shapes
// @mcp-ts/sdk's browser client reads (shared/events.ts there): connection events
// (`state_changed`, `tools_discovered`, `auth_required`, `error`, `disconnected`, `progress`),
// observability events (logs, heartbeats) and RPC responses. On the wire each is one SSE event
// whose name is its channel: `connection`, `observability`, `rpc-response`.
//
// The manager (manager.hpp) emits them for an identity; the endpoint (endpoint.hpp) delivers
// them to that identity's open streams, on this instance and, through Redis, on the others.
#pragma once

#include <boost/json/object.hpp>

#include <functional>
#include <string>
#include <string_view>

namespace mcpd::gateway {

// The reference's McpConnectionState, in its spelling on the wire.
enum class connection_state {
    disconnected,
    connecting,
    authenticating,
    authenticated,
    discovering,
    connected,
    ready,
    validating,
    reconnecting,
    initializing,
    failed,
};
std::string_view to_string(connection_state s) noexcept;

enum class channel { connection, observability, rpc_response };
// The SSE event name of a channel: "connection", "observability", "rpc-response".
std::string_view to_string(channel c) noexcept;

struct event {
    std::string identity;
    enum channel channel = channel::connection;
    boost::json::object data;
};

using event_sink = std::function<void(event const&)>;

// The error kinds of an `error` connection event.
enum class error_kind { connection, auth, validation, unknown };
std::string_view to_string(error_kind k) noexcept;

// Builders for the connection events (timestamp: now, in ms since the epoch).
struct session_ref {
    std::string session_id;
    std::string server_id;
    std::string server_name;
    std::string server_url;
    std::int64_t created_at = 0; // 0: not sent
};
boost::json::object state_changed(session_ref const& s, connection_state state,
                                  connection_state previous);
boost::json::object tools_discovered(session_ref const& s, boost::json::array const& tools);
boost::json::object auth_required(session_ref const& s, std::string_view auth_url);
boost::json::object error_event(session_ref const& s, std::string_view message, error_kind kind);
boost::json::object disconnected(session_ref const& s, std::string_view reason);
boost::json::object progress_event(session_ref const& s, std::string_view message);
// An observability event: {type, level, message, sessionId, serverId, payload, timestamp, id}.
boost::json::object observability(std::string_view type, std::string_view level,
                                  std::string_view message, session_ref const* s = nullptr,
                                  boost::json::object payload = {});
// The heartbeat the reference sends on its streams: {level: "debug", message: "heartbeat"}.
boost::json::object heartbeat();

} // namespace mcpd::gateway
