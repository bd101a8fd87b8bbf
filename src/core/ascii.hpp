// core/ascii.hpp — case-insensitive text for protocol tokens (HTTP field values, hosts, schemes,
// "true"/"yes" switches). ASCII only and locale-free on purpose: these are wire tokens, not
// human text, and std::tolower would consult the C locale on every character.
#pragma once

#include <string>
#include <string_view>

namespace mcpd {

[[nodiscard]] constexpr bool ascii_alpha(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
[[nodiscard]] constexpr bool ascii_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}
[[nodiscard]] constexpr bool ascii_alnum(char c) noexcept {
    return ascii_alpha(c) || ascii_digit(c);
}

[[nodiscard]] constexpr char ascii_lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// `s` with A–Z turned into a–z.
[[nodiscard]] std::string ascii_lower(std::string_view s);

// Equal ignoring the case of A–Z.
[[nodiscard]] constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size())
        return false;
    if (a == b) // the usual case, and a memcmp
        return true;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return false;
    return true;
}

// `s` starts with `prefix`, ignoring the case of A–Z.
[[nodiscard]] constexpr bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

} // namespace mcpd
