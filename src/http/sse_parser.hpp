// http/sse_parser.hpp — the reading side of Server-Sent Events: a sans-I/O parser of the
// text/event-stream format (WHATWG HTML, "Server-sent events", §9.2.6 "Interpreting an event
// stream").
//
// The MCP client reads every SSE stream (Streamable HTTP POST answers, the GET stream, the legacy
// HTTP+SSE stream) through this parser. It takes bytes in whatever pieces the network delivers
// and produces whole events; it does no I/O, keeps no reference to the input, and depends on the
// standard library only, so a fuzzer can compile it alone (tests/fuzz/sse_parser_fuzz.cpp).
//
// What it implements: lines end with CRLF, LF or CR (a CR at the end of one piece and an LF at
// the start of the next are one line end); a UTF-8 byte order mark at the very start is dropped;
// lines starting with ':' are comments; "field: value" loses one space after the colon; a line
// without a colon is a field with an empty value; `data` lines join with LF; `id` sets the last
// event id (ignored when it contains NUL) and persists across events; `retry` with only ASCII
// digits sets the reconnection time; an empty line dispatches the event (nothing when no data
// arrived, but the id still counts); unknown fields are ignored; an unfinished event at the end
// of the stream is dropped. Bytes are passed through as they are: the consumer decodes the data
// (MCP data is JSON, which rejects invalid UTF-8 itself).
//
// What it protects against: a line longer than `max_line_bytes`, or one event's data over
// `max_event_bytes`, puts the parser in a failed state with a message (a peer cannot make us
// buffer without bound).
#pragma once

#include "mcpd/http/client_options.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::http {

// One dispatched event.
struct sse_message {
    std::string type = "message"; // the `event` field, or "message"
    std::string data;             // `data` lines joined with LF
    std::string last_event_id;    // the stream's last event id when this event was dispatched
};

class sse_parser {
public:
    explicit sse_parser(sse_parser_limits limits = {});

    // Parses `bytes` (the next piece of the stream) and appends the events they complete to
    // `out`. Returns false when the stream broke a limit; the parser stays failed from then on
    // and error() says why.
    bool feed(std::string_view bytes, std::vector<sse_message>& out);

    // The last event id seen so far (from an `id` field, dispatched or not yet): what a client
    // sends as Last-Event-ID when it reconnects.
    [[nodiscard]] std::string const& last_event_id() const noexcept { return last_id_; }
    // The reconnection time the server asked for with `retry`, in milliseconds.
    [[nodiscard]] std::optional<std::uint64_t> retry_ms() const noexcept { return retry_ms_; }
    [[nodiscard]] bool failed() const noexcept { return !error_.empty(); }
    [[nodiscard]] std::string const& error() const noexcept { return error_; }

private:
    void line(std::string_view text, std::vector<sse_message>& out);
    void field(std::string_view name, std::string_view value);
    bool fail(std::string message);

    sse_parser_limits limits_;
    std::string partial_;    // an unfinished line from earlier pieces
    bool after_cr_ = false;  // the previous piece ended with CR: an LF now is part of it
    bool first_line_ = true; // the BOM check applies to the first line only
    std::string data_;       // each data line plus LF, as the standard's "data buffer"
    std::string type_;
    std::string last_id_;
    std::optional<std::uint64_t> retry_ms_;
    std::string error_;
};

// The whole stream at once (tests, the fuzzer): its events, and the parser's final state.
struct sse_parse_result {
    std::vector<sse_message> events;
    std::string last_event_id;
    std::optional<std::uint64_t> retry_ms;
    std::string error; // empty: no limit broken
};
sse_parse_result parse_sse(std::string_view stream, sse_parser_limits limits = {});

} // namespace mcpd::http
