// The one translation unit that compiles Boost.URL.
#include <boost/url/src.hpp>

#include "core/ascii.hpp"
#include "core/url_text.hpp"

namespace mcpd {

bool url_text_parsable(std::string_view text) noexcept {
    // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" (RFC 3986 §3.1)
    if (text.empty() || !ascii_alpha(text[0]))
        return true;
    std::size_t i = 1;
    while (i < text.size() &&
           (ascii_alnum(text[i]) || text[i] == '+' || text[i] == '-' || text[i] == '.'))
        ++i;
    if (i >= text.size() || text[i] != ':' || i + 1 == text.size())
        return true;
    // What may follow: a pchar (unreserved, '%', sub-delims, ':', '@'), '/', or a query or
    // fragment that is not empty ("x:?" and "x:#" trip the assertion too).
    char const next = text[i + 1];
    if (next == '?' || next == '#')
        return i + 2 < text.size();
    return ascii_alnum(next) ||
           std::string_view("-._~%!$&'()*+,;=:@/").find(next) != std::string_view::npos;
}

} // namespace mcpd
