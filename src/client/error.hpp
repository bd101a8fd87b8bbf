// client/error.hpp — how the MCP client reports failures.
//
// Every client call returns mcpd::result<T>. Its error's code says what kind of failure it was:
//   - client::errc (below): the session, the connection, timeouts, cancellation, bad answers;
//   - rpc_category(): the server answered with a JSON-RPC error; the code's value is the
//     JSON-RPC code (-32602 invalid params, -32002 resource not found, …) and the detail is the
//     server's message;
//   - http::status_category(): the server answered an HTTP status the transport cannot go on
//     with (401 without an auth provider that fixes it, 500, …); http::status_of() reads it;
//   - Asio, Beast and TLS codes for network failures (connection refused, certificate
//     verification failed, …), with a detail saying what was being done.
#pragma once

#include "core/error.hpp"

#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>

#include <string>
#include <type_traits>

namespace mcpd::client {

enum class errc {
    not_connected = 1,            // the session is closed or failed; nothing is sent
    closed,                       // close() ended the session while the request waited
    connection_lost,              // the connection broke and could not be re-established
    session_expired,              // the server no longer knows our session (404)
    timeout,                      // no answer within the request's timeout
    cancelled,                    // the caller cancelled the request
    unsupported_protocol_version, // initialize answered a revision this client does not speak
    invalid_response,             // the server sent something that is not valid MCP here
    transport_unavailable,        // neither Streamable HTTP nor HTTP+SSE works at that URL
};
boost::system::error_category const& client_category() noexcept;
inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), client_category()};
}

// JSON-RPC error codes as error codes (value = the JSON-RPC code).
boost::system::error_category const& rpc_category() noexcept;
// The server's JSON-RPC error as an mcpd::error (`data`, when not null, is appended to the
// detail as JSON so that nothing the server said is lost).
error rpc_error(int code, std::string message, boost::json::value const& data = nullptr);
// The JSON-RPC code an error carries, or 0 when it is not a JSON-RPC error.
int rpc_code_of(error const& e) noexcept;

} // namespace mcpd::client

template <>
struct boost::system::is_error_code_enum<mcpd::client::errc> : std::true_type {};
