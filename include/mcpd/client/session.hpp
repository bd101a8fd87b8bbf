// client/session.hpp — an MCP client session: connect to a server over HTTP, then call its tools
// and read its resources and prompts, with coroutines (boost::asio::awaitable).
//
//     auto s = co_await client::session::connect("https://example.com/mcp", opts);
//     if (!s) … s.error().message() …
//     auto tools = co_await s->list_tools();
//     auto r = co_await s->call_tool("echo", {{"text", "hi"}}, {.on_progress = show});
//     co_await s->close();
//
// connect() picks the transport (transport.hpp): Streamable HTTP first; when the server answers
// the initialize POST with 400, 404 or 405, the legacy HTTP+SSE transport at the same URL. The
// one that worked is transport() (the gateway stores it and asks for it again on restore).
// Then initialize: this client offers revision 2025-11-25 and accepts any older one the server
// answers with (2024-11-05 … 2025-11-25); anything else is errc::unsupported_protocol_version.
//
// Requests: every call has a timeout (the session's request_timeout unless the call says
// otherwise; progress can extend it), and can be cancelled the Asio way, e.g.
// `co_await (s.call_tool(…) || timer.async_wait(use_awaitable))` or a cancellation slot bound
// with co_spawn: the server then hears notifications/cancelled and the call returns
// errc::cancelled. On timeout the server hears it too, and the call returns errc::timeout.
// Server → client requests (sampling, elicitation, roots, ping) are answered by the handlers
// given in the options; a handler the options leave empty is not declared as a capability, and
// its method is answered "method not found". A server's notifications/cancelled cancels the
// handler's coroutine (Asio cancellation) and no answer is sent.
//
// Failure: when the connection is gone for good (a stream could not be resumed, the server
// forgot the session, or the optional keep-alive ping failed), the session is failed: every
// waiting request returns the error, later ones return errc::not_connected, and
// handlers.on_failed hears it once. Nothing waits forever.
//
// Threading: a session is used from the executor that connected it (one thread).
#pragma once

#include "mcpd/client/error.hpp"
#include "mcpd/client/transport.hpp"
#include "mcpd/core/duration.hpp"
#include "mcpd/http/client_options.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::client {

// Who we are, in initialize's clientInfo.
struct implementation {
    std::string name = "mcpd";
    std::string version = "0.1.0";
    std::string title; // empty: not sent
};

// notifications/progress for one request.
struct progress {
    double value = 0;
    std::optional<double> total;
    std::string message;
};

// notifications/message.
struct log_message {
    std::string level; // "debug" … "emergency"
    std::string logger;
    boost::json::value data;
};

// Answers one kind of server → client request: its params in, the result (or an error, sent
// back as a JSON-RPC error: rpc_error() picks the code) out.
using request_handler =
    std::function<boost::asio::awaitable<result<boost::json::value>>(boost::json::object params)>;

struct handlers {
    request_handler sampling;    // sampling/createMessage
    request_handler elicitation; // elicitation/create
    request_handler roots;       // roots/list: return {"roots": [...]}
    std::function<void(log_message const&)> on_log;
    // Every other notification (list_changed, resources/updated, …).
    std::function<void(std::string const& method, boost::json::object const& params)>
        on_notification;
    // The session failed (see above); called once.
    std::function<void(error const&)> on_failed;
};

struct request_options {
    std::optional<duration> timeout; // unset: session_options::request_timeout
    bool reset_timeout_on_progress = false;
    // With reset_timeout_on_progress: the limit no amount of progress extends.
    std::optional<duration> max_total_timeout;
    // Set: the request carries a progressToken and the server's progress comes here.
    std::function<void(progress const&)> on_progress;
};

enum class transport_choice {
    automatic,       // Streamable HTTP, else HTTP+SSE (400/404/405 to initialize)
    streamable_http, // Streamable HTTP only
    sse,             // HTTP+SSE only: the URL is the SSE endpoint
};

struct session_options {
    transport_choice transport = transport_choice::automatic;
    implementation client_info;
    std::string protocol_version = "2025-11-25"; // what initialize offers
    duration request_timeout = std::chrono::seconds(60);
    http::client_options http; // TLS trust, HTTP timeouts and limits
    // Sent on every HTTP request (after the transport's own headers, which they cannot
    // replace).
    std::vector<std::pair<std::string, std::string>> headers;
    // Credentials for every request and the 401/403 hook (OAuth plugs in here).
    std::shared_ptr<auth_provider> auth;
    reconnect_policy reconnect; // resuming broken SSE streams
    bool open_get_stream = true;
    // Zero: off. Otherwise a ping every interval; one that fails (or goes unanswered for an
    // interval) fails the session with errc::connection_lost.
    duration ping_interval = duration::zero();
    duration endpoint_timeout = std::chrono::seconds(10); // HTTP+SSE: the endpoint event
    handlers on;
};

// What a server lists: tools/list, resources/list, resources/templates/list, prompts/list.
enum class listing_kind { tools, resources, resource_templates, prompts };

// One page of a list: the items and the cursor of the next page (empty on the last).
struct page {
    std::vector<boost::json::object> items;
    std::string next_cursor;
};

class session {
public:
    // Connects to the MCP server at `url` and initializes the session.
    static boost::asio::awaitable<result<session>> connect(std::string_view url,
                                                           session_options opts = {});

    session(session&&) noexcept;
    session& operator=(session&&) noexcept;
    session(session const&) = delete;
    session& operator=(session const&) = delete;
    // Drops the connection without telling the server (call close() for a clean end).
    ~session();

    [[nodiscard]] transport_kind transport() const noexcept;
    [[nodiscard]] std::string const& protocol_version() const noexcept;
    // Mcp-Session-Id (Streamable HTTP) or the legacy endpoint's sessionId; empty when the
    // server keeps no session.
    [[nodiscard]] std::string session_id() const;
    [[nodiscard]] boost::json::object const& server_info() const noexcept;
    [[nodiscard]] boost::json::object const& server_capabilities() const noexcept;
    [[nodiscard]] std::string const& instructions() const noexcept;
    // Open: requests can be sent. Not open after close() or a failure.
    [[nodiscard]] bool is_open() const noexcept;
    // Why the session failed, if it did.
    [[nodiscard]] std::optional<error> failure() const;

    // Any request; its result (the JSON-RPC "result" member).
    boost::asio::awaitable<result<boost::json::value>>
    request(std::string method, boost::json::object params = {}, request_options opts = {});
    boost::asio::awaitable<result<void>> notify(std::string method,
                                                boost::json::object params = {});

    boost::asio::awaitable<result<void>> ping(request_options opts = {});

    // Lists walk every page (at most max_pages; a server that repeats a cursor is an error):
    // list(listing_kind::tools) is every tool, list_page(listing_kind::tools, cursor) one page.
    static constexpr std::size_t max_pages = 1000;
    boost::asio::awaitable<result<std::vector<boost::json::object>>>
    list(listing_kind what, request_options opts = {});
    boost::asio::awaitable<result<page>> list_page(listing_kind what, std::string cursor = {},
                                                   request_options opts = {});
    // The CallToolResult: content, structuredContent, isError (a tool's own failure is
    // isError: true in a successful result; a JSON-RPC error is an rpc_category error).
    boost::asio::awaitable<result<boost::json::object>>
    call_tool(std::string name, boost::json::object arguments = {}, request_options opts = {});

    // The ReadResourceResult: {"contents": [...]}.
    boost::asio::awaitable<result<boost::json::object>> read_resource(std::string uri,
                                                                      request_options opts = {});
    boost::asio::awaitable<result<void>> subscribe_resource(std::string uri,
                                                            request_options opts = {});
    boost::asio::awaitable<result<void>> unsubscribe_resource(std::string uri,
                                                              request_options opts = {});

    // The GetPromptResult: description, messages. Prompt arguments are strings.
    boost::asio::awaitable<result<boost::json::object>>
    get_prompt(std::string name, boost::json::object arguments = {}, request_options opts = {});

    // logging/setLevel: the least severe level the server should send.
    boost::asio::awaitable<result<void>> set_logging_level(std::string level);
    // notifications/roots/list_changed (the roots handler will be asked again).
    boost::asio::awaitable<result<void>> notify_roots_changed();

    // Ends the session: waiting requests return errc::closed, the server hears DELETE
    // (Streamable HTTP) or the stream closes (HTTP+SSE). Idempotent.
    boost::asio::awaitable<void> close();

    struct impl;

private:
    explicit session(std::shared_ptr<impl> i);
    std::shared_ptr<impl> impl_;
};

} // namespace mcpd::client
