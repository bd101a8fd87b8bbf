// core/boolean.cpp — see boolean.hpp.
#include "core/boolean.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace mcpd {

namespace {

bool equals_ignoring_case(std::string_view a, std::string_view lower) noexcept {
    return a.size() == lower.size() &&
           std::equal(a.begin(), a.end(), lower.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == y;
           });
}

} // namespace

std::optional<bool> parse_bool(std::string_view text) noexcept {
    constexpr std::array<std::string_view, 4> yes{"1", "true", "yes", "on"};
    constexpr std::array<std::string_view, 4> no{"0", "false", "no", "off"};
    for (auto w : yes)
        if (equals_ignoring_case(text, w))
            return true;
    for (auto w : no)
        if (equals_ignoring_case(text, w))
            return false;
    return std::nullopt;
}

} // namespace mcpd
