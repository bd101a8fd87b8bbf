// guard/texts.cpp — the wording of guard refusals. See texts.hpp.
#include "mcpd/guard/texts.hpp"

namespace mcpd::guard {

namespace {

std::string count_of(std::int64_t n, std::string_view unit) {
    std::string out = std::to_string(n) + " ";
    out += unit;
    if (n != 1)
        out += 's';
    return out;
}

} // namespace

std::string window_in_words(duration window) {
    auto ms = window.count();
    auto unit = [&](std::int64_t per, std::string_view name) -> std::string {
        auto n = ms / per;
        return n == 1 ? std::string(name) : count_of(n, name);
    };
    if (ms > 0 && ms % 3'600'000 == 0)
        return unit(3'600'000, "hour");
    if (ms > 0 && ms % 60'000 == 0)
        return unit(60'000, "minute");
    if (ms > 0 && ms % 1000 == 0)
        return unit(1000, "second");
    return unit(1, "millisecond");
}

std::string wait_in_words(duration wait) {
    auto seconds = std::max<std::int64_t>(1, (wait.count() + 999) / 1000);
    return count_of(seconds, "second");
}

std::string rate_limit_exceeded_text(std::int64_t max, std::string_view tool, duration window,
                                     duration retry_after) {
    std::string out = "Rate limit exceeded: max " + std::to_string(max) + " ";
    out += tool;
    out += " calls per " + window_in_words(window) + ". Try again in " +
           wait_in_words(retry_after) + ".";
    return out;
}

std::string rate_limit_unavailable_text(std::string_view tool) {
    std::string out = "Rate limit unavailable: ";
    out += tool;
    out += " calls are refused while the rate limiter cannot be reached — try again in a moment";
    return out;
}

} // namespace mcpd::guard
