// gateway/events.cpp — the connection and observability events' JSON shapes. See events.hpp.
#include "mcpd/gateway/events.hpp"

#include "core/random.hpp"
#include "mcpd/core/duration.hpp"

#include <boost/json/array.hpp>

namespace mcpd::gateway {

namespace json = boost::json;

std::string_view to_string(connection_state s) noexcept {
    switch (s) {
    case connection_state::disconnected:
        return "DISCONNECTED";
    case connection_state::connecting:
        return "CONNECTING";
    case connection_state::authenticating:
        return "AUTHENTICATING";
    case connection_state::authenticated:
        return "AUTHENTICATED";
    case connection_state::discovering:
        return "DISCOVERING";
    case connection_state::connected:
        return "CONNECTED";
    case connection_state::ready:
        return "READY";
    case connection_state::validating:
        return "VALIDATING";
    case connection_state::reconnecting:
        return "RECONNECTING";
    case connection_state::initializing:
        return "INITIALIZING";
    case connection_state::failed:
        return "FAILED";
    }
    return "FAILED";
}

std::string_view to_string(channel c) noexcept {
    switch (c) {
    case channel::connection:
        return "connection";
    case channel::observability:
        return "observability";
    case channel::rpc_response:
        return "rpc-response";
    }
    return "observability";
}

std::string_view to_string(error_kind k) noexcept {
    switch (k) {
    case error_kind::connection:
        return "connection";
    case error_kind::auth:
        return "auth";
    case error_kind::validation:
        return "validation";
    case error_kind::unknown:
        return "unknown";
    }
    return "unknown";
}

namespace {

json::object base(std::string_view type, session_ref const& s) {
    json::object o;
    o["type"] = type;
    o["sessionId"] = s.session_id;
    o["serverId"] = s.server_id;
    return o;
}

void stamp(json::object& o) {
    o["timestamp"] = unix_time_ms();
}

} // namespace

json::object state_changed(session_ref const& s, connection_state state,
                           connection_state previous) {
    auto o = base("state_changed", s);
    o["serverName"] = s.server_name.empty() ? s.server_id : s.server_name;
    o["serverUrl"] = s.server_url;
    if (s.created_at != 0)
        o["createdAt"] = s.created_at;
    o["state"] = to_string(state);
    o["previousState"] = to_string(previous);
    stamp(o);
    return o;
}

json::object tools_discovered(session_ref const& s, json::array const& tools) {
    auto o = base("tools_discovered", s);
    o["toolCount"] = tools.size();
    o["tools"] = tools;
    stamp(o);
    return o;
}

json::object auth_required(session_ref const& s, std::string_view auth_url) {
    auto o = base("auth_required", s);
    o["authUrl"] = auth_url;
    stamp(o);
    return o;
}

json::object error_event(session_ref const& s, std::string_view message, error_kind kind) {
    auto o = base("error", s);
    o["error"] = message;
    o["errorType"] = to_string(kind);
    stamp(o);
    return o;
}

json::object disconnected(session_ref const& s, std::string_view reason) {
    auto o = base("disconnected", s);
    if (!reason.empty())
        o["reason"] = reason;
    stamp(o);
    return o;
}

json::object progress_event(session_ref const& s, std::string_view message) {
    auto o = base("progress", s);
    o["message"] = message;
    stamp(o);
    return o;
}

json::object observability(std::string_view type, std::string_view level, std::string_view message,
                           session_ref const* s, json::object payload) {
    json::object o;
    o["type"] = type;
    o["level"] = level;
    o["message"] = message;
    o["displayMessage"] = message;
    if (s != nullptr) {
        o["sessionId"] = s->session_id;
        o["serverId"] = s->server_id;
    }
    if (!payload.empty())
        o["payload"] = std::move(payload);
    stamp(o);
    o["id"] = random_alnum_id(21);
    return o;
}

json::object heartbeat() {
    json::object o;
    o["level"] = "debug";
    o["message"] = "heartbeat";
    stamp(o);
    return o;
}

} // namespace mcpd::gateway
