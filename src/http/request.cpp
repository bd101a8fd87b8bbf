// http/request.cpp — the request and its parser. See request.hpp and request_parser.hpp.
#include "http/request_parser.hpp"

#include "core/ascii.hpp"
#include "mcpd/http/error.hpp"

#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <optional>

namespace mcpd::http {

auto server_request::keep(std::string_view s) -> piece {
    piece p{static_cast<std::uint32_t>(text_.size()), static_cast<std::uint32_t>(s.size())};
    text_.append(s);
    return p;
}

auto server_request::find(field name) const noexcept -> field_entry const* {
    for (auto const& f : fields_)
        if (f.known == name)
            return &f;
    return nullptr;
}

auto server_request::find(std::string_view name) const noexcept -> field_entry const* {
    // Compared as text (the size first).
    for (auto const& f : fields_)
        if (f.name.size == name.size() && iequals(slice(f.name), name))
            return &f;
    return nullptr;
}

std::string_view server_request::operator[](field name) const noexcept {
    auto const* f = find(name);
    return f != nullptr ? slice(f->value) : std::string_view{};
}
std::string_view server_request::operator[](std::string_view name) const noexcept {
    auto const* f = find(name);
    return f != nullptr ? slice(f->value) : std::string_view{};
}
bool server_request::has(field name) const noexcept {
    return find(name) != nullptr;
}
std::size_t server_request::count(field name) const noexcept {
    std::size_t n = 0;
    for (auto const& f : fields_)
        n += f.known == name ? 1 : 0;
    return n;
}
bool server_request::has(std::string_view name) const noexcept {
    return find(name) != nullptr;
}

void server_request::clear() noexcept {
    text_.clear();
    fields_.clear();
    body_.clear();
    method_text_ = target_ = {};
    method_ = verb::unknown;
    version_ = 11;
    keep_alive_ = true;
}

void server_request::release_buffers_over(std::size_t keep) {
    if (body_.capacity() > keep)
        std::string().swap(body_);
    if (text_.capacity() > keep)
        std::string().swap(text_);
    if (fields_.capacity() * sizeof(field_entry) > keep)
        std::vector<field_entry>().swap(fields_);
}

namespace {

using boost::beast::http::error;

// RFC 9110 5.6.2 tchar, as a table: the head is checked character by character.
constexpr std::array<bool, 256> tchar_table = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; ++c)
        t[static_cast<std::size_t>(c)] =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    for (char c : std::string_view("!#$%&'*+-.^_`|~"))
        t[static_cast<unsigned char>(c)] = true;
    return t;
}();

bool is_token(std::string_view s) noexcept {
    if (s.empty())
        return false;
    for (char c : s)
        if (!tchar_table[static_cast<unsigned char>(c)])
            return false;
    return true;
}

// Field values: visible characters, blanks, and obs-text; no controls (CR, LF, NUL …). Eight
// bytes at a time: a word with no byte below 0x20 and none equal to 0x7f passes at once (bytes
// of obs-text, 0x80 and up, have their top bit set and never look like controls).
bool is_field_value(std::string_view s) noexcept {
    constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, s.data() + i, 8);
        auto below_space = (w - ones * 0x20) & ~w & highs;
        auto x = w ^ (ones * 0x7f);
        auto del = (x - ones) & ~x & highs;
        if ((below_space | del) != 0)
            break; // look closer: a tab is allowed
    }
    for (; i < s.size(); ++i) {
        auto u = static_cast<unsigned char>(s[i]);
        if ((u < 0x20 && u != '\t') || u == 0x7f)
            return false;
    }
    return true;
}

std::string_view trim_blanks(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// The last element of a comma-separated list ("gzip, chunked" -> "chunked").
std::string_view last_list_item(std::string_view s) noexcept {
    auto comma = s.rfind(',');
    return trim_blanks(comma == std::string_view::npos ? s : s.substr(comma + 1));
}

// Whether a comma-separated list holds `token` (ignoring case).
bool list_has(std::string_view list, std::string_view token) noexcept {
    while (!list.empty()) {
        auto comma = list.find(',');
        if (iequals(trim_blanks(list.substr(0, comma)), token))
            return true;
        if (comma == std::string_view::npos)
            break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

} // namespace

request_parser::request_parser(server_request& into, limits l)
    : req_(into)
    , limits_(l) {
    req_.clear();
}

boost::system::error_code request_parser::parse_head(std::string_view head) {
    // Request line: method SP request-target SP HTTP-version CRLF.
    auto eol = head.find("\r\n");
    auto line = head.substr(0, eol);
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos)
        return error::bad_method;
    auto method = line.substr(0, sp1);
    auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    auto version = line.substr(sp2 + 1);
    if (!is_token(method))
        return error::bad_method;
    if (target.empty())
        return error::bad_target;
    for (char c : target)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
            return error::bad_target;
    if (version == "HTTP/1.1")
        req_.version_ = 11;
    else if (version == "HTTP/1.0")
        req_.version_ = 10;
    else
        return error::bad_version;
    req_.method_ = to_verb(method);
    req_.method_text_ = req_.keep(method);
    req_.target_ = req_.keep(target);

    // Fields, up to the blank line.
    std::optional<std::uint64_t> content_length;
    bool chunked = false, has_transfer_encoding = false;
    int hosts = 0;
    bool close = false, keep_alive = false;
    auto rest = head.substr(eol + 2);
    while (!rest.starts_with("\r\n")) {
        auto end = rest.find("\r\n");
        auto field_line = rest.substr(0, end);
        rest.remove_prefix(end + 2);
        if (field_line.empty() || field_line.front() == ' ' || field_line.front() == '\t')
            return error::bad_field; // obs-fold: refused, as RFC 9112 5.2 allows
        auto colon = field_line.find(':');
        if (colon == std::string_view::npos || !is_token(field_line.substr(0, colon)))
            return error::bad_field;
        auto name = field_line.substr(0, colon);
        auto value = trim_blanks(field_line.substr(colon + 1));
        if (!is_field_value(value))
            return error::bad_value;
        auto known = to_field(name);
        switch (known) {
        case field::content_length: {
            std::uint64_t n = 0;
            auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (value.empty() || ec != std::errc{} || ptr != value.data() + value.size() ||
                (content_length && *content_length != n))
                return error::bad_content_length;
            content_length = n;
            break;
        }
        case field::host:
            // One Host, and not empty (RFC 9112 3.2: 400 otherwise; a second one is how a
            // request smuggles past a proxy that reads the other).
            if (++hosts > 1)
                return request_errc::duplicate_host;
            break;
        case field::transfer_encoding:
            // HTTP/1.0 has no transfer codings: its framing would be read two ways (RFC 9112
            // 6.1).
            if (req_.version_ == 10)
                return request_errc::transfer_encoding_in_http10;
            // The last coding must be chunked (RFC 9112 6.3); others cannot be read here.
            if (!iequals(last_list_item(value), "chunked"))
                return error::bad_transfer_encoding;
            chunked = has_transfer_encoding = true;
            break;
        case field::connection:
            close = close || list_has(value, "close");
            keep_alive = keep_alive || list_has(value, "keep-alive");
            break;
        default:
            break;
        }
        req_.fields_.push_back({known, req_.keep(name), req_.keep(value)});
    }
    if (has_transfer_encoding && content_length)
        return error::bad_content_length; // both: a smuggling attempt or a broken proxy
    if (hosts == 0 && req_.version_ == 11)
        return request_errc::missing_host;
    req_.keep_alive_ = req_.version_ == 11 ? !close : keep_alive && !close;

    if (chunked) {
        state_ = state::chunk_size;
    } else if (content_length && *content_length > 0) {
        if (*content_length > limits_.max_body_bytes)
            return error::body_limit;
        req_.body_.reserve(static_cast<std::size_t>(*content_length));
        remaining_ = *content_length;
        state_ = state::body;
    } else {
        state_ = state::done;
    }
    return {};
}

std::size_t request_parser::take_body(std::string_view in) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
    req_.body_.append(in.substr(0, n));
    remaining_ -= n;
    return n;
}

std::size_t request_parser::put(std::string_view bytes, boost::system::error_code& ec) {
    ec = {};
    std::size_t used = 0;
    while (state_ != state::done) {
        auto in = bytes.substr(used);
        switch (state_) {
        case state::head: {
            auto from = searched_ >= 3 ? searched_ - 3 : 0;
            auto end = in.find("\r\n\r\n", from);
            if (end == std::string_view::npos) {
                // Lines ended by a bare LF would never show the end searched for: refused as
                // soon as one shows up, rather than left to the header limit or the timeout.
                auto lf = in.find('\n');
                if (in.find("\n\n", from) != std::string_view::npos ||
                    (lf != std::string_view::npos && (lf == 0 || in[lf - 1] != '\r')))
                    ec = error::bad_line_ending;
                else
                    ec = in.size() > limits_.max_header_bytes ? error::header_limit
                                                              : error::need_more;
                searched_ = in.size();
                return used;
            }
            if (end + 4 > limits_.max_header_bytes) {
                ec = error::header_limit;
                return used;
            }
            // A bare LF or a NUL inside the head is caught by the checks of each part (tokens,
            // targets and values admit no control characters).
            ec = parse_head(in.substr(0, end + 4));
            if (ec)
                return used;
            used += end + 4;
            searched_ = 0;
            break;
        }
        case state::body:
        case state::chunk_data:
            used += take_body(in);
            if (remaining_ > 0) {
                ec = error::need_more;
                return used;
            }
            state_ = state_ == state::body ? state::done : state::chunk_end;
            break;
        case state::chunk_size: {
            auto eol = in.find("\r\n");
            if (eol == std::string_view::npos) {
                if (in.size() > 1024) // a size line this long is not a size line
                    ec = error::bad_chunk;
                else
                    ec = error::need_more;
                return used;
            }
            // chunk-size [BWS ";" chunk-ext]: hex digits from the first byte (a blank before
            // them is refused, as nginx refuses it), blanks only before an extension, which is
            // ignored.
            auto line = in.substr(0, eol);
            auto digits = line.substr(0, line.find_first_not_of("0123456789abcdefABCDEF"));
            auto after = trim_blanks(line.substr(digits.size()));
            std::uint64_t size = 0;
            auto [ptr, fec] =
                std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
            if (digits.empty() || digits.size() > 16 || fec != std::errc{} ||
                (!after.empty() && after.front() != ';') ||
                (after.empty() && digits.size() != line.size())) {
                ec = request_errc::bad_chunk_size;
                return used;
            }
            if (size > limits_.max_body_bytes - req_.body_.size()) {
                ec = error::body_limit;
                return used;
            }
            used += eol + 2;
            remaining_ = size;
            state_ = size == 0 ? state::trailers : state::chunk_data;
            break;
        }
        case state::chunk_end:
            if (!std::string_view("\r\n").starts_with(in.substr(0, 2))) {
                ec = error::bad_chunk; // what follows a chunk's data is CRLF, nothing else
                return used;
            }
            if (in.size() < 2) {
                ec = error::need_more;
                return used;
            }
            used += 2;
            state_ = state::chunk_size;
            break;
        case state::trailers: {
            // Trailer fields are read past and dropped; the blank line ends the message.
            auto eol = in.find("\r\n");
            if (eol == std::string_view::npos) {
                ec = in.size() > limits_.max_header_bytes ? error::header_limit : error::need_more;
                return used;
            }
            used += eol + 2;
            if (eol == 0)
                state_ = state::done;
            break;
        }
        case state::done:
            break;
        }
    }
    return used;
}

void request_parser::put_eof(boost::system::error_code& ec) {
    ec = state_ == state::done ? boost::system::error_code{} : error::partial_message;
}

} // namespace mcpd::http
