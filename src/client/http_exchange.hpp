// client/http_exchange.hpp — what both HTTP transports do with each HTTP request: the extra
// headers and the auth provider's credentials go on, a 401/403 goes to the auth provider (which
// may have it sent once more), and a status the transport cannot go on with becomes a readable
// error. Internal to src/client/.
#pragma once

#include "http/client.hpp"
#include "mcpd/client/transport.hpp"

#include <boost/asio/awaitable.hpp>

#include <string>

namespace mcpd::client::detail {

// Adds opts.headers and the auth provider's headers to `req`, sends it, and on 401/403 asks the
// auth provider whether to send it again (once).
boost::asio::awaitable<result<http::client_response>>
send_authorized(http::client& http, transport_options const& opts, http::url const& to,
                http::beast_request req, http::exchange_options xo);

// An error for an HTTP status: the status as the code (http::status_of reads it back), and a
// detail with `what` was sent and what the server said: its JSON-RPC error message, or the
// start of its body, and the WWW-Authenticate challenge on 401/403.
boost::asio::awaitable<error> status_failure(http::client_response& res, std::string what);

} // namespace mcpd::client::detail
