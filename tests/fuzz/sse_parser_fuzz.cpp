// tests/fuzz/sse_parser_fuzz.cpp — libFuzzer target for the SSE reader (src/http/sse_parser.hpp),
// which parses bytes from any MCP server the client connects to.
//
// Input layout: byte 0 picks how the rest is fed and which limits apply; bytes 1.. are the
// stream the "server" sent. It is parsed twice:
//   - whole (parse_sse), the way a large read delivers it;
//   - in chunks whose sizes come from byte 0 (fixed, or pseudo-random from a seed in byte 0),
//     the way small reads deliver it (a CRLF or a BOM split between chunks included).
// Both must give the same events, the same last event id and retry time, and the same error.
// Also checked: no event's data is over the limit, a type is never empty, a failed parser stays
// failed, and every event survives our own SSE writer (http::encode) and a second parse: what
// mcpd's server writes, its client reads back unchanged. Any mismatch aborts.
//
// Built and run by run_fuzz.sh like the other targets (see README.md).
#include "fuzz_check.hpp"
#include "http/sse_event.hpp"
#include "http/sse_parser.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using mcpd::http::sse_message;
using mcpd::http::sse_parser;
using mcpd::http::sse_parser_limits;

using mcpd::fuzz::check;
using mcpd::fuzz::fail;

bool same(std::vector<sse_message> const& a, std::vector<sse_message> const& b) {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].type != b[i].type || a[i].data != b[i].data ||
            a[i].last_event_id != b[i].last_event_id)
            return false;
    return true;
}

// Deterministic chunk sizes (xorshift32).
struct chunker {
    std::uint32_t state;
    std::size_t max_chunk;
    bool random;

    std::size_t next() {
        if (!random)
            return max_chunk;
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        return 1 + state % max_chunk;
    }
};

// Our writer's text for an event, parsed again, gives the same event.
void check_round_trip(sse_message const& ev) {
    mcpd::http::sse_event out;
    out.event = ev.type == "message" ? std::string() : ev.type;
    out.id = ev.last_event_id;
    out.data = ev.data;
    // The writer puts one space after each colon, and the reader removes one: a type or id
    // that starts with a space would come back shorter. The writer is only given ids and
    // types without a leading space (mcpd's are ASCII names and numbers).
    if ((!out.event.empty() && out.event.front() == ' ') ||
        (!out.id.empty() && out.id.front() == ' '))
        return;
    std::string text;
    mcpd::http::encode_to(text, out);
    auto again = mcpd::http::parse_sse(text);
    check(again.error.empty(), "our own SSE writer's text broke the parser's limits");
    check(again.events.size() == 1, "our own SSE writer's event did not parse as one event");
    check(again.events[0].data == ev.data, "data changed through the writer");
    check(again.events[0].type == ev.type, "type changed through the writer");
    check(again.last_event_id == ev.last_event_id, "id changed through the writer");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size == 0)
        return 0;
    std::uint8_t const mode = data[0];
    std::string_view const stream(reinterpret_cast<char const*>(data + 1), size - 1);

    // Bit 7: tight limits, so that the limit checks are reached with small inputs.
    sse_parser_limits limits;
    if ((mode & 0x80) != 0) {
        limits.max_line_bytes = 32;
        limits.max_event_bytes = 64;
    }
    // Bits 0-2: largest chunk (1 to 128 bytes). Bit 3: pseudo-random sizes up to that, seeded
    // from bits 4-6 and the stream length; otherwise every chunk has the largest size.
    chunker chunks{0x9e3779b9u ^ (static_cast<std::uint32_t>(mode >> 4) << 8) ^
                       static_cast<std::uint32_t>(stream.size()),
                   std::size_t{1} << (mode & 7), (mode & 8) != 0};

    auto const whole = mcpd::http::parse_sse(stream, limits);

    sse_parser p(limits);
    std::vector<sse_message> split;
    for (std::size_t at = 0; at < stream.size();) {
        auto n = chunks.next();
        if (n > stream.size() - at)
            n = stream.size() - at;
        bool ok = p.feed(stream.substr(at, n), split);
        check(ok == !p.failed(), "feed's answer and failed() disagree");
        at += n;
    }
    check(same(whole.events, split), "chunked parse gave different events");
    check(whole.last_event_id == p.last_event_id(), "chunked parse ended with another id");
    check(whole.retry_ms == p.retry_ms(), "chunked parse ended with another retry");
    check(whole.error == p.error(), "chunked parse failed differently");
    if (p.failed()) {
        std::vector<sse_message> more;
        check(!p.feed("data: x\n\n", more) && more.empty(), "a failed parser parsed again");
    }

    for (auto const& ev : whole.events) {
        check(ev.data.size() <= limits.max_event_bytes, "event data over the limit");
        check(!ev.type.empty(), "empty event type");
        check(ev.type.find_first_of("\r\n") == std::string::npos, "line break in a type");
        check(ev.last_event_id.find('\0') == std::string::npos, "NUL in an event id");
        if (ev.data.size() <= 4096)
            check_round_trip(ev);
    }
    return 0;
}
