// http/sse_event.hpp — one Server-Sent Event and its wire text (the writing side of SSE; the
// reading side is sse_parser.hpp). Standard library only, so that the SSE fuzzer can check
// that what the writer writes, the reader reads back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mcpd::http {

struct sse_event {
    // Empty: no id line. A view, read only while the event is encoded: ids are made for every
    // event of a stream, into one reused buffer.
    std::string_view id;
    std::string event; // empty: the default "message"
    std::string data;  // split on newlines into data: lines; empty data still sends "data:"
    std::optional<std::uint32_t> retry_ms;
};

// Appends the event's wire text, ending with the blank line, to `out` (a stream's queue).
void encode_to(std::string& out, sse_event const& ev);

} // namespace mcpd::http
