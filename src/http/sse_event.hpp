// http/sse_event.hpp — one Server-Sent Event and its wire text (the writing side of SSE; the
// reading side is sse_parser.hpp). Standard library only, so that the SSE fuzzer can check
// that what the writer writes, the reader reads back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace mcpd::http {

struct sse_event {
    std::string id;    // empty: no id line
    std::string event; // empty: the default "message"
    std::string data;  // split on newlines into data: lines; empty data still sends "data:"
    std::optional<std::uint32_t> retry_ms;
};

// Appends the event's wire text, ending with the blank line, to `out` (a stream's queue).
void encode_to(std::string& out, sse_event const& ev);

} // namespace mcpd::http
