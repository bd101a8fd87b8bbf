// gateway/error.hpp — the errors of the MCP client gateway, as its browser RPC reports them.
#pragma once

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace mcpd::gateway {

// What went wrong, for the RPC error (its detail is the message the browser shows).
enum class errc {
    invalid_params = 1,   // a parameter is missing or malformed
    session_not_found,    // no such session for this identity
    duplicate_connection, // this identity is already connected to that server
    auth_required,        // the server wants OAuth and the user must authorize first
    auth_failed,          // OAuth could not proceed (no URL, bad state, refused code)
    connect_failed,       // the server could not be reached or initialized
    not_connected,        // the connection failed and could not be re-established
    limit_reached,        // a per-identity or global cap (the message names the setting)
};
boost::system::error_category const& gateway_category() noexcept;
inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), gateway_category()};
}

} // namespace mcpd::gateway

template <>
struct boost::system::is_error_code_enum<mcpd::gateway::errc> : std::true_type {};
