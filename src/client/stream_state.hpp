// client/stream_state.hpp — what the client knows about one SSE stream from an MCP server, and
// what to do when it ends (sans-I/O: the transports do the reading and the waiting).
//
// A Streamable HTTP server answers a POST with an SSE stream that carries the answers to the
// POST's requests (and whatever the server sends meanwhile: progress, logs, requests to the
// client); the GET stream carries messages that belong to no request. Either may end before
// it is done: the network failed, or the server closes streams on purpose and expects the client
// to come back (2025-11-25: "polling" SSE streams, with a priming event that has an id and no
// data). The client then reconnects with GET and Last-Event-ID, and the server replays what
// came after that event.
//
// stream_state turns the stream's bytes into JSON-RPC messages, remembers the last event id
// and the server's retry time, tracks which of the POST's requests are still unanswered, and
// decides after an end: finished (a POST stream whose requests all have their answers),
// reconnect (after a delay: the server's retry, else the policy's, growing with each failed
// attempt), or give up (no event id to resume from, or too many attempts in a row).
#pragma once

#include "http/sse_parser.hpp"
#include "mcpd/client/transport.hpp"
#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <vector>

namespace mcpd::client {

class stream_state {
public:
    // `awaited`: the ids of the requests whose answers the stream carries (a POST stream);
    // empty for the GET stream, which has no end of its own.
    stream_state(std::vector<boost::json::value> awaited, reconnect_policy policy,
                 http::sse_parser_limits limits = {});

    // Bytes of the stream: the complete messages they carry are appended to `out`. An error
    // (the stream broke the parser's limits) means the stream must be dropped. Data that is
    // not JSON-RPC is skipped and counted in skipped().
    result<void> feed(std::string_view bytes, std::vector<boost::json::object>& out);

    struct decision {
        enum class kind { finished, reconnect, give_up } what = kind::finished;
        duration delay{};          // reconnect: wait this long first
        std::string last_event_id; // reconnect: send as Last-Event-ID (may be empty: GET stream)
        error why;                 // give_up: the reason, for the requests still waiting
    };
    // The stream ended: `cause` is null for a clean end, else the read error.
    decision ended(error const* cause);
    // A reconnection attempt failed (the GET could not be sent or was refused).
    decision reconnect_failed(error const& cause);
    // A reconnection was answered with a stream: start a new SSE parse (the event id stays).
    void resumed();

    [[nodiscard]] bool is_post_stream() const noexcept { return post_stream_; }
    [[nodiscard]] bool all_answered() const noexcept { return post_stream_ && awaited_.empty(); }
    [[nodiscard]] std::vector<boost::json::value> const& unanswered() const noexcept {
        return awaited_;
    }
    // The session stopped waiting for this request (cancelled, timed out).
    void forget(boost::json::value const& id);
    [[nodiscard]] std::string const& last_event_id() const noexcept { return last_event_id_; }
    [[nodiscard]] std::size_t skipped() const noexcept { return skipped_; }
    [[nodiscard]] int failed_attempts() const noexcept { return attempts_; }

private:
    decision next(error const& cause);
    [[nodiscard]] duration delay_for(int attempt) const;

    std::vector<boost::json::value> awaited_;
    bool post_stream_;
    reconnect_policy policy_;
    http::sse_parser_limits limits_;
    http::sse_parser parser_;
    std::string last_event_id_;
    std::optional<std::uint64_t> retry_ms_;
    int attempts_ = 0; // failed attempts in a row (an event or a new id resets it)
    std::size_t skipped_ = 0;
};

} // namespace mcpd::client
