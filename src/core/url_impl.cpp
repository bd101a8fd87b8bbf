// The one translation unit that compiles Boost.URL.
#include <boost/url/src.hpp>

#include "core/url_text.hpp"

namespace mcpd {

namespace {

constexpr bool alpha(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

} // namespace

bool url_text_parsable(std::string_view text) noexcept {
    // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" (RFC 3986 §3.1)
    if (text.empty() || !alpha(text[0]))
        return true;
    std::size_t i = 1;
    while (i < text.size() &&
           (alpha(text[i]) || digit(text[i]) || text[i] == '+' || text[i] == '-' || text[i] == '.'))
        ++i;
    if (i >= text.size() || text[i] != ':' || i + 1 == text.size())
        return true;
    // What may follow: a pchar (unreserved, '%', sub-delims, ':', '@'), '/', or a query or
    // fragment that is not empty ("x:?" and "x:#" trip the assertion too).
    char const next = text[i + 1];
    if (next == '?' || next == '#')
        return i + 2 < text.size();
    return alpha(next) || digit(next) ||
           std::string_view("-._~%!$&'()*+,;=:@/").find(next) != std::string_view::npos;
}

} // namespace mcpd
