// core/hex.hpp — bytes as lowercase hex and back: ids, HMACs, the enc:1 secret format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace mcpd {

std::string to_hex(std::span<std::uint8_t const> bytes);
inline std::string to_hex(std::string_view bytes) {
    return to_hex(std::span(reinterpret_cast<std::uint8_t const*>(bytes.data()), bytes.size()));
}
// The bytes, or nullopt when `hex` has an odd length or a character that is not a hex digit
// (either case accepted).
std::optional<std::string> from_hex(std::string_view hex);

} // namespace mcpd
