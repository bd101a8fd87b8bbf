// redis/resp.cpp — the incremental RESP2/RESP3 parser, value helpers and command encoding.
//
// The parser works one element at a time. An element is a type byte and a header line ("$5",
// ":42", "*3") plus, for the blob kinds ($ ! =), its payload and CRLF. An element is consumed
// only once all its bytes are present: the caller keeps the unconsumed tail in its buffer and
// offers it again with more bytes. Aggregates under construction live on stack_, so a reply that
// arrives in many reads is parsed once; only the header of an incomplete blob is looked at again.
//
// UNTRUSTED INPUT. Every length and integer is overflow-checked, a header line is never searched
// past max_line_length, blobs are bounded by max_bulk_length, aggregates by max_aggregate_size
// and max_depth, and a declared element count reserves at most max_reserve slots (the vector
// grows with the bytes actually received). Nothing here recurses on parser input except
// to_debug_string and value's destructor and comparison, bounded by max_depth.
//
// This file depends only on the standard library and resp.hpp: the fuzzer compiles it alone.
#include "mcpd/redis/resp.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <system_error>
#include <utility>

namespace mcpd::redis {
namespace {

// Slots reserved up front for a declared aggregate count; more come as elements arrive.
constexpr std::size_t max_reserve = 1024;

// ":" integers: optional sign, then decimal digits, within int64 (RESP3 allows a '+').
bool parse_int64(std::string_view s, std::int64_t& out) noexcept {
    char const* first = s.data();
    char const* const last = first + s.size();
    if (first != last && *first == '+') {
        ++first;
        if (first != last && *first == '-')
            return false;
    }
    if (first == last)
        return false;
    auto [ptr, ec] = std::from_chars(first, last, out);
    return ec == std::errc() && ptr == last;
}

enum class length_status { ok, null, invalid, negative, too_large };

// A declared length or count: decimal digits only, or "-1" when `allow_null` (RESP2 nulls).
length_status parse_length(std::string_view s, bool allow_null, std::size_t limit,
                           std::size_t& out) noexcept {
    if (s.empty())
        return length_status::invalid;
    if (s.front() == '-') {
        if (s == "-1")
            return allow_null ? length_status::null : length_status::negative;
        bool digits = s.size() > 1;
        for (char c : s.substr(1))
            digits = digits && c >= '0' && c <= '9';
        return digits ? length_status::negative : length_status::invalid;
    }
    std::uint64_t n = 0;
    bool overflow = false;
    for (char c : s) {
        if (c < '0' || c > '9')
            return length_status::invalid;
        auto const digit = static_cast<std::uint64_t>(c - '0');
        if (n > (std::numeric_limits<std::uint64_t>::max() - digit) / 10)
            overflow = true; // keep scanning: a later non-digit makes it "invalid" instead
        else
            n = n * 10 + digit;
    }
    if (overflow || n > limit || n > std::numeric_limits<std::size_t>::max())
        return length_status::too_large;
    out = static_cast<std::size_t>(n);
    return length_status::ok;
}

// "," doubles: inf, -inf, nan (Redis's spellings) or a decimal number std::from_chars accepts,
// with an optional leading '+'; hex, "infinity" and trailing junk are rejected.
bool parse_double(std::string_view s, double& out) noexcept {
    if (s == "inf" || s == "+inf") {
        out = std::numeric_limits<double>::infinity();
        return true;
    }
    if (s == "-inf") {
        out = -std::numeric_limits<double>::infinity();
        return true;
    }
    if (s == "nan" || s == "-nan") {
        out = std::numeric_limits<double>::quiet_NaN();
        return true;
    }
    char const* first = s.data();
    char const* const last = first + s.size();
    if (first != last && *first == '+') {
        ++first;
        if (first != last && *first == '-')
            return false;
    }
    char const* digits = first;
    if (digits != last && *digits == '-')
        ++digits;
    if (digits == last || !((*digits >= '0' && *digits <= '9') || *digits == '.'))
        return false;
    auto [ptr, ec] = std::from_chars(first, last, out, std::chars_format::general);
    return ec == std::errc() && ptr == last;
}

// "(" big numbers: optional sign, then one or more digits.
bool valid_big_number(std::string_view s) noexcept {
    if (!s.empty() && (s.front() == '-' || s.front() == '+'))
        s.remove_prefix(1);
    if (s.empty())
        return false;
    for (char c : s)
        if (c < '0' || c > '9')
            return false;
    return true;
}

// 'x' for printable bytes, 0xHH for the rest: error messages quote untrusted bytes this way.
std::string describe_byte(char c) {
    static constexpr char hex[] = "0123456789abcdef";
    auto const u = static_cast<unsigned char>(c);
    std::string out = "0x";
    out += hex[u >> 4];
    out += hex[u & 0xf];
    if (u >= 0x20 && u < 0x7f) {
        out += " ('";
        out += c;
        out += "')";
    }
    return out;
}

char const* length_problem(length_status st) noexcept {
    switch (st) {
    case length_status::invalid:
        return "is not a decimal number";
    case length_status::negative:
        return "is negative";
    case length_status::too_large:
        return "exceeds the parser limit";
    default:
        return "is invalid";
    }
}

// Back to a default-constructed value, keeping no memory that was moved away.
void clear(value& v) noexcept {
    v.type = resp_type::null;
    v.str.clear();
    v.integer = 0;
    v.number = 0;
    v.verbatim_format.clear();
    v.elements.clear();
    v.attributes.clear();
}

// Appends a header such as "*3\r\n" or "$5\r\n".
void append_header(std::string& out, char kind, std::size_t n) {
    char buf[2 + std::numeric_limits<std::size_t>::digits10 + 3];
    buf[0] = kind;
    auto r = std::to_chars(buf + 1, buf + sizeof buf - 2, n);
    *r.ptr++ = '\r';
    *r.ptr++ = '\n';
    out.append(buf, r.ptr);
}

// Debug rendering of string bytes: printable ASCII as is, the rest escaped.
void append_escaped(std::string& out, std::string_view s, bool quoted) {
    static constexpr char hex[] = "0123456789abcdef";
    if (quoted)
        out += '"';
    for (char c : s) {
        auto const u = static_cast<unsigned char>(c);
        switch (c) {
        case '\r':
            out += "\\r";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\t':
            out += "\\t";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '"':
            out += quoted ? "\\\"" : "\"";
            break;
        default:
            if (u < 0x20 || u >= 0x7f) {
                out += "\\x";
                out += hex[u >> 4];
                out += hex[u & 0xf];
            } else {
                out += c;
            }
        }
    }
    if (quoted)
        out += '"';
}

void render(std::string& out, value const& v);

void render_list(std::string& out, std::vector<value> const& elements) {
    for (std::size_t i = 0; i < elements.size(); ++i) {
        if (i != 0)
            out += ", ";
        render(out, elements[i]);
    }
}

// Flat k, v, k, v… as "k: v, k: v"; a trailing unpaired key (hand-built values) stands alone.
void render_pairs(std::string& out, std::vector<value> const& elements) {
    for (std::size_t i = 0; i < elements.size(); i += 2) {
        if (i != 0)
            out += ", ";
        render(out, elements[i]);
        if (i + 1 < elements.size()) {
            out += ": ";
            render(out, elements[i + 1]);
        }
    }
}

void render(std::string& out, value const& v) {
    if (!v.attributes.empty()) {
        out += "|{";
        render_pairs(out, v.attributes);
        out += "}| ";
    }
    switch (v.type) {
    case resp_type::simple_string:
        append_escaped(out, v.str, false);
        break;
    case resp_type::simple_error:
        out += "(error) ";
        append_escaped(out, v.str, false);
        break;
    case resp_type::integer:
        out += "(integer) ";
        out += std::to_string(v.integer);
        break;
    case resp_type::bulk_string:
        append_escaped(out, v.str, true);
        break;
    case resp_type::null:
        out += "(nil)";
        break;
    case resp_type::double_type:
        out += "(double) ";
        if (!v.str.empty()) {
            append_escaped(out, v.str, false);
        } else { // built by hand: no text as sent
            char buf[64];
            auto r = std::to_chars(buf, buf + sizeof buf, v.number);
            out.append(buf, r.ptr);
        }
        break;
    case resp_type::boolean:
        out += v.integer != 0 ? "(true)" : "(false)";
        break;
    case resp_type::blob_error:
        out += "(blob error) ";
        append_escaped(out, v.str, false);
        break;
    case resp_type::verbatim_string:
        out += "(verbatim ";
        append_escaped(out, v.verbatim_format, false);
        out += ") ";
        append_escaped(out, v.str, true);
        break;
    case resp_type::big_number:
        out += "(big number) ";
        append_escaped(out, v.str, false);
        break;
    case resp_type::array:
        out += '[';
        render_list(out, v.elements);
        out += ']';
        break;
    case resp_type::set:
        out += "~[";
        render_list(out, v.elements);
        out += ']';
        break;
    case resp_type::push:
        out += ">[";
        render_list(out, v.elements);
        out += ']';
        break;
    case resp_type::map:
        out += '{';
        render_pairs(out, v.elements);
        out += '}';
        break;
    case resp_type::attribute:
        out += "|{";
        render_pairs(out, v.elements);
        out += "}|";
        break;
    }
}

} // namespace

std::string_view to_string(resp_type t) noexcept {
    switch (t) {
    case resp_type::simple_string:
        return "simple_string";
    case resp_type::simple_error:
        return "simple_error";
    case resp_type::integer:
        return "integer";
    case resp_type::bulk_string:
        return "bulk_string";
    case resp_type::array:
        return "array";
    case resp_type::null:
        return "null";
    case resp_type::double_type:
        return "double";
    case resp_type::boolean:
        return "boolean";
    case resp_type::blob_error:
        return "blob_error";
    case resp_type::verbatim_string:
        return "verbatim_string";
    case resp_type::big_number:
        return "big_number";
    case resp_type::map:
        return "map";
    case resp_type::set:
        return "set";
    case resp_type::attribute:
        return "attribute";
    case resp_type::push:
        return "push";
    }
    return "unknown";
}

std::optional<std::string_view> value::as_string() const noexcept {
    switch (type) {
    case resp_type::simple_string:
    case resp_type::bulk_string:
    case resp_type::verbatim_string:
    case resp_type::big_number:
    case resp_type::simple_error:
    case resp_type::blob_error:
        return std::string_view(str);
    default:
        return std::nullopt;
    }
}

std::optional<std::int64_t> value::as_integer() const noexcept {
    if (type == resp_type::integer)
        return integer;
    if (type != resp_type::simple_string && type != resp_type::bulk_string)
        return std::nullopt;
    // Base 10 as Redis writes it: optional '-', digits, nothing else (no '+', no spaces).
    std::int64_t n = 0;
    char const* const last = str.data() + str.size();
    auto [ptr, ec] = std::from_chars(str.data(), last, n);
    if (str.empty() || ec != std::errc() || ptr != last)
        return std::nullopt;
    return n;
}

std::string to_debug_string(value const& v) {
    std::string out;
    render(out, v);
    return out;
}

resp_parser::resp_parser(parser_limits limits)
    : limits_(limits) {}

parse_status resp_parser::fail(std::string message) {
    error_ = "RESP protocol error: " + std::move(message);
    stack_.clear();
    pending_attributes_.clear();
    ready_ = value{};
    has_ready_ = false;
    return parse_status::error;
}

void resp_parser::reset() {
    stack_.clear();
    pending_attributes_.clear();
    ready_ = value{};
    has_ready_ = false;
    error_.clear();
}

value resp_parser::take() {
    if (!has_ready_)
        return value{};
    has_ready_ = false;
    return std::move(ready_); // ready_ is cleared before it is built into again
}

bool resp_parser::push_complete(value&& v) {
    for (;;) {
        std::vector<value>& pending =
            stack_.empty() ? pending_attributes_ : stack_.back().attributes;
        if (v.type == resp_type::attribute) {
            // Not an element of the enclosing aggregate: it waits for the next value here.
            if ((pending.size() + v.elements.size()) / 2 > limits_.max_aggregate_size) {
                fail("too many attributes before one value");
                return false;
            }
            if (pending.empty())
                pending = std::move(v.elements);
            else
                pending.insert(pending.end(), std::make_move_iterator(v.elements.begin()),
                               std::make_move_iterator(v.elements.end()));
            return false;
        }
        if (!pending.empty()) {
            v.attributes = std::move(pending);
            pending.clear();
        }
        if (stack_.empty()) {
            if (&v != &ready_)
                ready_ = std::move(v);
            has_ready_ = true;
            return true;
        }
        frame& top = stack_.back();
        top.v.elements.push_back(std::move(v));
        if (--top.remaining != 0)
            return false;
        v = std::move(top.v);
        stack_.pop_back();
    }
}

parse_status resp_parser::parse(std::string_view bytes, std::size_t& consumed) {
    consumed = 0;
    if (!error_.empty())
        return parse_status::error;
    if (has_ready_)
        return parse_status::done; // the caller has not taken the last value yet

    char const* const data = bytes.data();
    std::size_t const size = bytes.size();
    std::size_t pos = 0; // start of the next element; everything before it is consumed
    while (pos < size) {
        char const kind = data[pos];
        switch (kind) {
        case '+':
        case '-':
        case ':':
        case '$':
        case '*':
        case '_':
        case ',':
        case '#':
        case '!':
        case '=':
        case '(':
        case '%':
        case '~':
        case '|':
        case '>':
            break;
        default:
            return fail("unexpected type byte " + describe_byte(kind));
        }

        // The header line: up to CRLF, searched no further than max_line_length.
        std::size_t const line_begin = pos + 1;
        std::size_t const avail = size - line_begin;
        std::size_t const window =
            avail > limits_.max_line_length ? limits_.max_line_length + 1 : avail;
        void const* const cr = window != 0 ? std::memchr(data + line_begin, '\r', window) : nullptr;
        if (cr == nullptr) {
            if (avail > limits_.max_line_length)
                return fail("line longer than " + std::to_string(limits_.max_line_length) +
                            " bytes without CRLF");
            return parse_status::need_more;
        }
        std::size_t const line_len =
            static_cast<std::size_t>(static_cast<char const*>(cr) - (data + line_begin));
        std::size_t const lf = line_begin + line_len + 1;
        if (lf >= size)
            return parse_status::need_more;
        if (data[lf] != '\n')
            return fail("CR not followed by LF (got " + describe_byte(data[lf]) + ")");
        std::string_view const line(data + line_begin, line_len);
        std::size_t next = lf + 1; // just past this element, once complete

        // Built in place in ready_: a top-level scalar (a pipeline of GET replies) then needs no
        // move before take(); inside an aggregate it is moved into its parent.
        value& v = ready_;
        clear(v);
        switch (kind) {
        case '+':
        case '-':
            if (std::memchr(line.data(), '\n', line.size()) != nullptr)
                return fail("line feed inside a simple string or error");
            v.type = kind == '+' ? resp_type::simple_string : resp_type::simple_error;
            v.str.assign(line);
            break;
        case ':':
            if (!parse_int64(line, v.integer))
                return fail("invalid integer (not a decimal int64)");
            v.type = resp_type::integer;
            break;
        case '_':
            if (!line.empty())
                return fail("null with a payload");
            v.type = resp_type::null;
            break;
        case ',':
            if (!parse_double(line, v.number))
                return fail("invalid double");
            v.type = resp_type::double_type;
            v.str.assign(line);
            break;
        case '#':
            if (line != "t" && line != "f")
                return fail("invalid boolean (expected t or f)");
            v.type = resp_type::boolean;
            v.integer = line == "t" ? 1 : 0;
            break;
        case '(':
            if (!valid_big_number(line))
                return fail("invalid big number");
            v.type = resp_type::big_number;
            v.str.assign(line);
            break;
        case '$':
        case '!':
        case '=': {
            if (line == "?")
                return fail("streamed strings ($?) are not supported");
            std::size_t len = 0;
            auto const st = parse_length(line, kind == '$', limits_.max_bulk_length, len);
            if (st == length_status::null) {
                v.type = resp_type::null;
                break;
            }
            if (st != length_status::ok)
                return fail(std::string("blob length ") + length_problem(st));
            std::size_t const left = size - next;
            if (left < 2 || left - 2 < len)
                return parse_status::need_more; // the header is looked at again next time
            char const* const payload = data + next;
            if (payload[len] != '\r' || payload[len + 1] != '\n')
                return fail("blob of " + std::to_string(len) + " bytes not followed by CRLF");
            if (kind == '=') {
                if (len < 4 || payload[3] != ':')
                    return fail("verbatim string without a 3-byte format and ':'");
                v.type = resp_type::verbatim_string;
                v.verbatim_format.assign(payload, 3);
                v.str.assign(payload + 4, len - 4);
            } else {
                v.type = kind == '$' ? resp_type::bulk_string : resp_type::blob_error;
                v.str.assign(payload, len);
            }
            next += len + 2;
            break;
        }
        default: { // aggregates: * % ~ > |
            if (line == "?")
                return fail("streamed aggregates (" + std::string(1, kind) +
                            "?) are not supported");
            bool const pairs = kind == '%' || kind == '|'; // two children per declared entry
            std::size_t const limit = pairs ? std::min(limits_.max_aggregate_size,
                                                       std::numeric_limits<std::size_t>::max() / 2)
                                            : limits_.max_aggregate_size;
            std::size_t count = 0;
            auto const st = parse_length(line, kind == '*', limit, count);
            if (st == length_status::null) {
                v.type = resp_type::null;
                break;
            }
            if (st != length_status::ok)
                return fail(std::string("aggregate count ") + length_problem(st));
            if (stack_.size() >= limits_.max_depth)
                return fail("aggregates nested deeper than " + std::to_string(limits_.max_depth));
            resp_type const type = kind == '*'   ? resp_type::array
                                   : kind == '%' ? resp_type::map
                                   : kind == '~' ? resp_type::set
                                   : kind == '>' ? resp_type::push
                                                 : resp_type::attribute;
            v.type = type;
            if (count == 0)
                break; // complete already
            std::size_t const children = pairs ? 2 * count : count;
            pos = next;
            consumed = pos;
            frame& f = stack_.emplace_back();
            f.v.type = type;
            f.remaining = children;
            f.v.elements.reserve(children < max_reserve ? children : max_reserve);
            continue;
        }
        }

        pos = next;
        consumed = pos;
        if (stack_.empty() && pending_attributes_.empty() && v.type != resp_type::attribute) {
            has_ready_ = true; // the common case, without push_complete's bookkeeping
            return parse_status::done;
        }
        if (push_complete(std::move(v)))
            return parse_status::done;
        if (!error_.empty())
            return parse_status::error;
    }
    return parse_status::need_more;
}

void encode_command(std::string& out, std::span<std::string const> args) {
    std::size_t need = 16;
    for (auto const& a : args)
        need += a.size() + 16;
    if (out.capacity() - out.size() < need) // grow geometrically: callers append many commands
        out.reserve(std::max(out.size() + need, 2 * out.capacity()));
    append_header(out, '*', args.size());
    for (auto const& a : args) {
        append_header(out, '$', a.size());
        out.append(a);
        out += "\r\n";
    }
}

} // namespace mcpd::redis
