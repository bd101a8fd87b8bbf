// core/duration.hpp — durations as people write them in flags, env and config files.
//
// Accepted: an integer or decimal number followed by a unit: ms, s, m/min, h (e.g. "250ms",
// "5s", "1.5s", "1min", "12h"). A bare number is rejected: "30" could mean anything.
#pragma once

#include "mcpd/core/error.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace mcpd {

using duration = std::chrono::milliseconds;

result<duration> parse_duration(std::string_view text);

// Wall-clock milliseconds since the Unix epoch (expiry times stored for other programs to read).
std::int64_t unix_time_ms() noexcept;

// The shortest exact spelling: 1500ms → "1500ms", 60000ms → "1min", 5000ms → "5s".
std::string format_duration(duration d);

} // namespace mcpd
