// server/error.hpp — the errors of the MCP server layer: a request it sends to a client
// (sampling, elicitation, roots; context.hpp) that could not be answered.
#pragma once

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace mcpd::server {

enum class client_errc {
    capability_missing = 1, // the client did not declare what the request needs
    timeout,                // no reply in time
    peer_error,             // the client answered with a JSON-RPC error (detail has it)
    channel_closed,         // the request's channel (HTTP stream, session) ended
    stateless,              // a stateless request cannot carry server→client requests
    limit_reached,          // too many requests to the client await answers in this session
};
boost::system::error_category const& client_category() noexcept;
inline boost::system::error_code make_error_code(client_errc e) noexcept {
    return {static_cast<int>(e), client_category()};
}

} // namespace mcpd::server

template <>
struct boost::system::is_error_code_enum<mcpd::server::client_errc> : std::true_type {};
