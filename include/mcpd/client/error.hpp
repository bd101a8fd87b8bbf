// client/error.hpp — how the MCP client reports failures.
//
// Every client call returns mcpd::result<T>. Its error's code says what kind of failure it was:
//   - client::errc (below): the session, the connection, timeouts, cancellation, bad answers;
//   - oauth::errc (below): OAuth discovery, registration, authorization and tokens (oauth.hpp);
//   - rpc_category() (protocol/error.hpp): the server answered with a JSON-RPC error; the
//     code's value is the JSON-RPC code (-32602 invalid params, -32002 resource not found, …)
//     and the detail is the server's message;
//   - http::status_category(): the server answered an HTTP status the transport cannot go on
//     with (401 without an auth provider that fixes it, 500, …); http::status_of() reads it;
//   - Asio, Beast and TLS codes for network failures (connection refused, certificate
//     verification failed, …), with a detail saying what was being done.
#pragma once

#include "mcpd/core/error.hpp"
#include "mcpd/protocol/error.hpp"

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

// The server's JSON-RPC errors (protocol/error.hpp).
using protocol::rpc_category;
using protocol::rpc_code_of;
using protocol::rpc_error;

namespace oauth {

// What session_auth's last_error() and failed calls carry (besides network and store errors).
enum class errc {
    discovery_failed = 1,   // no usable protected resource or authorization server metadata
    pkce_unsupported,       // the authorization server does not offer PKCE S256
    resource_mismatch,      // the resource metadata names another resource than the server
    registration_failed,    // dynamic client registration refused or impossible
    authorization_required, // the user must visit authorization_url()
    invalid_state,          // finish(): a state that is not pending (wrong, reused, expired)
    token_request_failed,   // the token endpoint refused (its error and description follow)
    invalid_grant,          // the refresh token (or code) is no longer valid
    invalid_token_response, // the token endpoint's answer is not a usable token response
    invalid_record,         // the session record is missing or holds unusable OAuth fields
};
boost::system::error_category const& oauth_category() noexcept;
inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), oauth_category()};
}

} // namespace oauth

} // namespace mcpd::client

template <>
struct boost::system::is_error_code_enum<mcpd::client::errc> : std::true_type {};
template <>
struct boost::system::is_error_code_enum<mcpd::client::oauth::errc> : std::true_type {};
