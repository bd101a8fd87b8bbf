// core/duration.cpp — parse_duration and format_duration.
#include "mcpd/core/duration.hpp"

#include <boost/system/errc.hpp>

#include <charconv>
#include <cmath>

namespace mcpd {

result<duration> parse_duration(std::string_view text) {
    auto invalid = [&](std::string_view why) {
        return error(make_error_code(boost::system::errc::invalid_argument),
                     "invalid duration '" + std::string(text) + "': " + std::string(why));
    };
    std::size_t unit_at = 0;
    while (unit_at < text.size() &&
           ((text[unit_at] >= '0' && text[unit_at] <= '9') || text[unit_at] == '.'))
        ++unit_at;
    if (unit_at == 0)
        return invalid("expected a number followed by a unit (ms, s, min, h)");
    double number = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + unit_at, number);
    if (ec != std::errc() || end != text.data() + unit_at || !std::isfinite(number))
        return invalid("not a number");
    std::string_view unit = text.substr(unit_at);
    double ms_per_unit = 0;
    if (unit == "ms")
        ms_per_unit = 1;
    else if (unit == "s")
        ms_per_unit = 1000;
    else if (unit == "m" || unit == "min")
        ms_per_unit = 60'000;
    else if (unit == "h")
        ms_per_unit = 3'600'000;
    else if (unit.empty())
        return invalid("a unit is required (ms, s, min, h)");
    else
        return invalid("unknown unit '" + std::string(unit) + "'");
    double ms = number * ms_per_unit;
    if (ms > 1e15)
        return invalid("too large");
    return duration(static_cast<duration::rep>(std::llround(ms)));
}

std::int64_t unix_time_ms() noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string format_duration(duration d) {
    auto ms = d.count();
    if (ms != 0 && ms % 3'600'000 == 0)
        return std::to_string(ms / 3'600'000) + "h";
    if (ms != 0 && ms % 60'000 == 0)
        return std::to_string(ms / 60'000) + "min";
    if (ms != 0 && ms % 1000 == 0)
        return std::to_string(ms / 1000) + "s";
    return std::to_string(ms) + "ms";
}

} // namespace mcpd
