// client/transport.hpp — how MCP messages travel between the client session and a server over
// HTTP: the transport interface, its two implementations, and the authorization hook.
//
//   - Streamable HTTP (2025-03-26 and later): every message is a POST to one endpoint; the
//     answer is a JSON body or an SSE stream; a GET opens a stream for messages that belong to no
//     request; a broken stream is resumed with Last-Event-ID; DELETE ends the session. The
//     Mcp-Session-Id the server gives at initialize, and the negotiated MCP-Protocol-Version, go
//     on every later request.
//   - HTTP+SSE (2024-11-05, "legacy"): a GET opens the one SSE stream; its first event,
//     `endpoint`, names the URL to POST messages to; every answer comes on the stream.
//
// A session (session.hpp) owns one transport. The transport hands it every message the server
// sends (transport_events::message), tells it when a request's answer can no longer come
// (request_failed: its stream broke and could not be resumed) and when the connection is gone
// for good (failed). One executor, one thread, like the rest of mcpd's I/O.
//
// Authorization: an auth_provider (the OAuth layer, later) adds its header to every request and
// hears every 401/403 with the server's WWW-Authenticate challenge; it can have the request
// sent again (after a token refresh or a step-up) or let it fail with that status.
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"
#include "mcpd/http/client_options.hpp"
#include "mcpd/http/message.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpd::client {

// The names the gateway stores (transportType in @mcp-ts/sdk's session record).
enum class transport_kind { streamable_http, sse };
std::string_view to_string(transport_kind k) noexcept;
std::optional<transport_kind> parse_transport_kind(std::string_view text) noexcept;

// A server's refusal, for the auth provider.
struct auth_challenge {
    unsigned status = 0;          // 401 or 403
    std::string www_authenticate; // the header's value, empty when the server sent none
    http::url url;                // the request that was refused
    std::string method;           // "POST", "GET", "DELETE"
    // Its Authorization header (what authorize() put there), empty when it had none: which
    // credential the server refused, when several requests are in flight.
    std::string authorization;
};

class auth_provider {
public:
    virtual ~auth_provider() = default;
    // Before every HTTP request to the MCP server: the credentials to send with it (set
    // Authorization: Bearer … in `headers`). An error fails the request with it.
    virtual boost::asio::awaitable<result<void>> authorize(http::header_list& headers) = 0;
    // The server answered 401 or 403. True: send the request again (authorize() runs again
    // first), once; false: the request fails with that HTTP status.
    virtual boost::asio::awaitable<bool> unauthorized(auth_challenge const& challenge) = 0;
};

// When a server's SSE stream breaks: how the client comes back with Last-Event-ID.
struct reconnect_policy {
    duration initial_delay = std::chrono::seconds(1); // when the server sent no retry field
    duration max_delay = std::chrono::seconds(30);
    double growth = 1.5;  // each failed attempt in a row waits this much longer
    int max_attempts = 2; // failed reconnections in a row before the stream is given up
};

struct transport_events {
    std::function<void(boost::json::object)> message;
    std::function<void(boost::json::value const& id, error const&)> request_failed;
    std::function<void(error const&)> failed;
};

struct transport_options {
    // Sent on every request (after the transport's own headers, which they cannot replace).
    std::vector<std::pair<std::string, std::string>> headers;
    std::shared_ptr<auth_provider> auth;
    reconnect_policy reconnect;
    bool open_get_stream = true;                          // Streamable HTTP: the GET stream
    duration endpoint_timeout = std::chrono::seconds(10); // HTTP+SSE: wait for `endpoint`
    duration close_timeout = std::chrono::seconds(5);     // the DELETE at close
    http::sse_parser_limits sse_limits;
};

class transport {
public:
    virtual ~transport() = default;

    [[nodiscard]] virtual transport_kind kind() const noexcept = 0;
    virtual void set_events(transport_events ev) = 0;
    // Gets ready to send: HTTP+SSE opens its stream and waits for the endpoint; Streamable HTTP
    // has nothing to do before the first POST.
    virtual boost::asio::awaitable<result<void>> start() = 0;
    // Sends one message. Returns once the server took it (a request's answer arrives through
    // events().message later, or comes with request_failed). Not bounded in time by itself for
    // a request: the session bounds it and calls abandon().
    virtual boost::asio::awaitable<result<void>> send(boost::json::object const& message) = 0;
    // The session no longer waits for this request's answer: stop reading for it (a POST that
    // still waits for its answer is aborted).
    virtual void abandon(boost::json::value const& id) = 0;
    // After initialize: the negotiated revision (a header on every later request).
    virtual void set_protocol_version(std::string version) = 0;
    // After notifications/initialized: Streamable HTTP opens its GET stream.
    virtual void initialized() = 0;
    // Ends the session with the server (DELETE, closing streams). Idempotent.
    virtual boost::asio::awaitable<void> close() = 0;
    // Closes everything at once, without telling the server (the session was dropped).
    virtual void abort() = 0;
    // Mcp-Session-Id (Streamable HTTP), or the legacy endpoint's sessionId; may be empty.
    [[nodiscard]] virtual std::string session_id() const = 0;
};

} // namespace mcpd::client
