// http/sse_parser.cpp — the event-stream parser. See sse_parser.hpp.
//
// Standard library only, so that it stays cheap to build and to fuzz on its own.
#include "http/sse_parser.hpp"

#include <charconv>

namespace mcpd::http {

namespace {
constexpr std::string_view byte_order_mark = "\xEF\xBB\xBF";
} // namespace

sse_parser::sse_parser(sse_parser_limits limits)
    : limits_(limits) {}

bool sse_parser::fail(std::string message) {
    error_ = std::move(message);
    partial_.clear();
    data_.clear();
    return false;
}

bool sse_parser::feed(std::string_view bytes, std::vector<sse_message>& out) {
    if (failed())
        return false;
    if (after_cr_ && !bytes.empty()) {
        after_cr_ = false;
        if (bytes.front() == '\n')
            bytes.remove_prefix(1);
    }
    while (!bytes.empty()) {
        auto end = bytes.find_first_of("\r\n");
        if (end == std::string_view::npos) {
            if (partial_.size() + bytes.size() > limits_.max_line_bytes)
                return fail("SSE line longer than " + std::to_string(limits_.max_line_bytes) +
                            " bytes");
            partial_.append(bytes);
            return true;
        }
        auto segment = bytes.substr(0, end);
        if (partial_.size() + segment.size() > limits_.max_line_bytes)
            return fail("SSE line longer than " + std::to_string(limits_.max_line_bytes) +
                        " bytes");
        // A CR is a line end by itself; a CRLF pair is one line end.
        std::size_t terminator = 1;
        if (bytes[end] == '\r') {
            if (end + 1 < bytes.size()) {
                if (bytes[end + 1] == '\n')
                    terminator = 2;
            } else {
                after_cr_ = true; // decided by the next piece
            }
        }
        if (partial_.empty()) {
            line(segment, out);
        } else {
            partial_.append(segment);
            std::string whole;
            whole.swap(partial_);
            line(whole, out);
        }
        if (failed())
            return false;
        bytes.remove_prefix(end + terminator);
    }
    return true;
}

void sse_parser::line(std::string_view text, std::vector<sse_message>& out) {
    if (first_line_) {
        first_line_ = false;
        if (text.substr(0, byte_order_mark.size()) == byte_order_mark)
            text.remove_prefix(byte_order_mark.size());
    }
    if (text.empty()) {
        // Dispatch. The id counts even for an event without data (an MCP priming event).
        if (!data_.empty()) {
            sse_message m;
            if (!type_.empty())
                m.type = std::move(type_);
            data_.pop_back(); // the LF after the last data line
            m.data = std::move(data_);
            m.last_event_id = last_id_;
            out.push_back(std::move(m));
        }
        data_.clear();
        type_.clear();
        return;
    }
    if (text.front() == ':')
        return; // comment (keep-alive)
    auto colon = text.find(':');
    if (colon == std::string_view::npos) {
        field(text, {});
        return;
    }
    auto value = text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
    field(text.substr(0, colon), value);
}

void sse_parser::field(std::string_view name, std::string_view value) {
    if (name == "data") {
        if (data_.size() + value.size() + 1 > limits_.max_event_bytes) {
            fail("SSE event data longer than " + std::to_string(limits_.max_event_bytes) +
                 " bytes");
            return;
        }
        data_.append(value);
        data_.push_back('\n');
    } else if (name == "event") {
        type_.assign(value);
    } else if (name == "id") {
        if (value.find('\0') == std::string_view::npos)
            last_id_.assign(value);
    } else if (name == "retry") {
        if (value.empty())
            return;
        for (char c : value)
            if (c < '0' || c > '9')
                return;
        std::uint64_t ms = 0;
        auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
        if (ec == std::errc{} && ptr == value.data() + value.size())
            retry_ms_ = ms; // too many digits for 64 bits: ignored
    }
    // Any other field name is ignored, as the standard says.
}

sse_parse_result parse_sse(std::string_view stream, sse_parser_limits limits) {
    sse_parser p(limits);
    sse_parse_result r;
    p.feed(stream, r.events);
    r.last_event_id = p.last_event_id();
    r.retry_ms = p.retry_ms();
    r.error = p.error();
    return r;
}

} // namespace mcpd::http
