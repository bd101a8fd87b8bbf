// http/sse_event.cpp — writing one SSE event. See sse_event.hpp.
//
// Standard library only, so that it stays cheap to build and to fuzz on its own.
#include "http/sse_event.hpp"

#include <algorithm>
#include <cstring>

namespace mcpd::http {

namespace {
// The first CR or LF: two memchr scans, much faster than find_first_of's character loop (the
// data is usually JSON, which has neither).
std::size_t first_line_break(std::string_view s) {
    auto const* cr = static_cast<char const*>(std::memchr(s.data(), '\r', s.size()));
    auto const* lf = static_cast<char const*>(std::memchr(s.data(), '\n', s.size()));
    if (cr == nullptr && lf == nullptr)
        return std::string_view::npos;
    auto const* first = cr == nullptr ? lf : lf == nullptr ? cr : std::min(cr, lf);
    return static_cast<std::size_t>(first - s.data());
}
} // namespace

void encode_to(std::string& out, sse_event const& ev) {
    out.reserve(out.size() + ev.data.size() + ev.id.size() + ev.event.size() + 32);
    if (!ev.event.empty()) {
        out += "event: ";
        out += ev.event;
        out += '\n';
    }
    if (!ev.id.empty()) {
        out += "id: ";
        out += ev.id;
        out += '\n';
    }
    if (ev.retry_ms) {
        out += "retry: ";
        out += std::to_string(*ev.retry_ms);
        out += '\n';
    }
    // Each line of the data is its own data: field (a bare CR or LF would end the field early).
    std::string_view rest = ev.data;
    while (true) {
        auto nl = first_line_break(rest);
        out += "data: ";
        out += rest.substr(0, nl);
        out += '\n';
        if (nl == std::string_view::npos)
            break;
        if (rest[nl] == '\r' && nl + 1 < rest.size() && rest[nl + 1] == '\n')
            ++nl;
        rest.remove_prefix(nl + 1);
    }
    out += '\n';
}

} // namespace mcpd::http
