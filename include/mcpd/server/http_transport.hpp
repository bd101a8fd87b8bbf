// server/http_transport.hpp — MCP over HTTP: Streamable HTTP on one endpoint (every revision,
// stateful and stateless) and the legacy HTTP+SSE transport (2024-11-05).
//
// Layers (top to bottom): http::server hands each request to handle(); this file checks the
// transport rules (Origin/Host, Accept, Content-Type, Mcp-Session-Id, MCP-Protocol-Version),
// finds or creates the protocol session, and gives the messages to the dispatcher. Each POST
// that carries requests has a logical stream: its answers go back as one JSON body when
// nothing else needs sending, or as an SSE stream as soon as a handler sends something first
// (progress, a log message, a request to the client). Streams are numbered per session and
// their events are kept in an event store, so a client that loses the connection resumes
// with Last-Event-ID (event ids are "<session>.<stream>.<seq>"); GET opens the session's
// standalone stream for messages that belong to no request.
#pragma once

#include "mcpd/http/policy.hpp"
#include "mcpd/http/server.hpp"
#include "mcpd/protocol/jsonrpc.hpp"
#include "mcpd/server/dispatcher.hpp"

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <string>

namespace mcpd {
class client_tally;
}

namespace mcpd::server {

class fleet;

// What the event store keeps for replay (Last-Event-ID), bounded in count and bytes: the
// oldest events go first, a session's own before other sessions' (the least recently written).
struct event_store_limits {
    std::size_t events_per_stream = 1024;
    std::size_t streams_per_session = 64;            // its newest POST streams (and GET's)
    std::size_t bytes_per_session = 4 * 1024 * 1024; // replay-per-session
    std::size_t bytes_total = 256 * 1024 * 1024;     // replay-total
};

// Where SSE events are kept for replay. In memory now; a Redis Streams store comes with
// scale-out.
class event_store {
public:
    virtual ~event_store() = default;
    // `data` is the store's to keep (the caller has sent its copy).
    virtual void append(std::string const& session, std::uint64_t stream, std::uint64_t seq,
                        std::string data) = 0;
    // The events of one stream after `after_seq`, oldest first, as (seq, data).
    virtual std::vector<std::pair<std::uint64_t, std::string>>
    replay(std::string const& session, std::uint64_t stream, std::uint64_t after_seq) = 0;
    virtual void forget_session(std::string const& session) = 0;
    // What it holds now, and how many events its byte budgets dropped so far.
    [[nodiscard]] virtual std::size_t bytes() const noexcept = 0;
    [[nodiscard]] virtual std::uint64_t dropped() const noexcept = 0;
};

std::unique_ptr<event_store> make_memory_event_store(event_store_limits limits = {});

struct http_transport_options {
    std::string endpoint = "/mcp";
    // Answer a POST with application/json when its handlers send nothing before their response
    // (the default); false: always an SSE stream.
    bool json_response = true;
    http::origin_policy origins;
    bool legacy_sse = true; // GET /sse + POST /messages
    std::size_t max_in_flight_per_session = 256;
    // Per client address (docs/operations.md): the sessions it created that are live here, and
    // its long-lived streams (GET /mcp, GET /sse). More get 429.
    std::size_t max_sessions_per_client = 1000;
    std::size_t max_streams_per_client = 64;
    // Where those are counted: shared by the transports of a process's event loops, so the
    // budgets hold for the process; null: this transport's own.
    std::shared_ptr<client_tally> clients;
    // The largest message sent to a client (a result, a notification); a larger result is
    // answered with an error that names the limit (max-response).
    std::size_t max_message_bytes = 4 * 1024 * 1024;
    // What a body may hold (nesting, batch length: protocol::body_limits), and from what size
    // it is parsed off the event loop so that other clients are not kept waiting.
    protocol::body_limits body;
    std::size_t parse_on_loop_bytes = 256 * 1024;
    duration keepalive_interval = std::chrono::seconds(15); // SSE comment on idle streams
    std::uint32_t retry_ms = 1000;                          // SSE retry: field
    event_store_limits replay;                              // what is kept for Last-Event-ID
    // A session unused this long (no request, no open stream) is dropped from memory; its
    // record stays in the store, so the client can come back.
    duration session_idle_timeout = std::chrono::minutes(30);
    // Started, when several instances serve the same sessions (fleet.hpp): the events are
    // kept in Redis instead of `replay`'s memory store, and what belongs to another instance
    // travels there.
    std::shared_ptr<fleet> fleet_member;
};

class http_transport {
public:
    http_transport(dispatcher& d, http_transport_options opts, boost::asio::any_io_executor ex);
    ~http_transport();
    http_transport(http_transport const&) = delete;
    http_transport& operator=(http_transport const&) = delete;

    // Answers a request for one of the MCP endpoints (a path serves() takes; any other gets a
    // 404).
    boost::asio::awaitable<void> handle(http::exchange& ex);
    // Whether handle() serves this path (the target without its query).
    [[nodiscard]] bool serves(std::string_view path) const noexcept;

    // Counts what its budgets refuse in `reg` (mcpd_limit_hits_total{limit}).
    void set_metrics(metrics::registry& reg);
    // The replay store: the bytes it holds, and the events its byte budgets dropped so far.
    [[nodiscard]] std::size_t replay_bytes() const noexcept;
    [[nodiscard]] std::uint64_t replay_dropped() const noexcept;

    // Draining: new sessions and streams are refused (503) from now on.
    void stop_accepting();
    // Ends every open SSE stream after what is queued (shutdown).
    void close_streams();
    [[nodiscard]] std::size_t open_streams() const noexcept;
    [[nodiscard]] std::size_t in_flight() const noexcept;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace mcpd::server
