// core/boolean.hpp — on/off values as people write them in flags, environment variables, config
// files and URL options: the one spelling every setting accepts.
#pragma once

#include <optional>
#include <string_view>

namespace mcpd {

// 1, true, yes, on → true; 0, false, no, off → false (any case); anything else → nullopt.
std::optional<bool> parse_bool(std::string_view text) noexcept;

} // namespace mcpd
