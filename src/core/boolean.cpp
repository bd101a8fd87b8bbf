// core/boolean.cpp — see boolean.hpp.
#include "core/boolean.hpp"

#include "core/ascii.hpp"

#include <array>

namespace mcpd {

std::optional<bool> parse_bool(std::string_view text) noexcept {
    constexpr std::array<std::string_view, 4> yes{"1", "true", "yes", "on"};
    constexpr std::array<std::string_view, 4> no{"0", "false", "no", "off"};
    for (auto w : yes)
        if (iequals(text, w))
            return true;
    for (auto w : no)
        if (iequals(text, w))
            return false;
    return std::nullopt;
}

} // namespace mcpd
