// core/url_text.hpp — the check every URL text passes before Boost.URL parses it.
//
// Boost.URL 1.81 (bookworm's) fails an assertion inside parse_uri, parse_uri_reference and
// parse_absolute_uri when a scheme's ':' is followed by one last character that cannot start a
// path ("http:^", "x: ", "dp:\x8c", "x:#", "x:?"): an abort in a build with assertions,
// undefined behaviour without. A scheme followed by a character no path may start with is no URL
// (RFC 3986 §3.3: a path-rootless starts with a pchar), and an empty query or fragment right
// after the scheme serves no one, so these are refused before Boost.URL sees them. Found by
// tests/fuzz/oauth_fuzz.cpp; every such text of up to two characters after "x:" is tried by
// tests/unit/client_state_test.cpp.
#pragma once

#include <string_view>

namespace mcpd {

// False when `text` has a scheme followed by a character no URL may have there.
[[nodiscard]] bool url_text_parsable(std::string_view text) noexcept;

} // namespace mcpd
