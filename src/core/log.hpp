// core/log.hpp — mcpd's logging front end.
//
// Always to stderr (stdout belongs to the stdio transport). The header pulls in only
// fmt/core.h: messages are formatted here and written by spdlog in log.cpp, so the spdlog
// headers stay out of every other translation unit. Formatting happens only when the level
// is enabled.
#pragma once

#include <fmt/core.h>

#include <exception>
#include <string>

#include <string_view>

namespace mcpd::log {

enum class level { trace, debug, info, warn, error, off };

void set_level(level l);
level get_level() noexcept;
// "trace", "debug", "info", "warn"/"warning", "error", "off"; false if unknown.
bool parse_level(std::string_view text, level& out);
// Switch between human text (the default on a TTY) and JSON lines (the default otherwise:
// one object per line, {"ts","level","msg"} plus "req" for lines about one request).
void set_json(bool json);
[[nodiscard]] bool is_json();

// `request_id`: the request the line is about (empty: none). Text puts it first as
// "req=<id>"; JSON gives it its own field, so that one request's lines can be selected.
void write(level l, std::string_view message, std::string_view request_id = {});

// A short id for one request, unique in this process and unlikely to repeat across a fleet's
// processes (a random prefix chosen at start, then a counter): it ties the lines of an HTTP
// request, its MCP method and its tool call together. Cheap: no system call.
std::string new_request_id();

// What an exception a coroutine ended with says (its what(); "unknown exception" for one that is
// not a std::exception), for the completion handlers that log it.
std::string what_of(std::exception_ptr const& e);

template <class... A>
void at(level l, fmt::format_string<A...> f, A&&... a) {
    if (l >= get_level())
        write(l, fmt::vformat(f, fmt::make_format_args(a...)));
}
// A line about one request (see write()).
template <class... A>
void for_request(level l, std::string_view request_id, fmt::format_string<A...> f, A&&... a) {
    if (l >= get_level())
        write(l, fmt::vformat(f, fmt::make_format_args(a...)), request_id);
}
template <class... A>
void debug(fmt::format_string<A...> f, A&&... a) {
    at(level::debug, f, std::forward<A>(a)...);
}
template <class... A>
void info(fmt::format_string<A...> f, A&&... a) {
    at(level::info, f, std::forward<A>(a)...);
}
template <class... A>
void warn(fmt::format_string<A...> f, A&&... a) {
    at(level::warn, f, std::forward<A>(a)...);
}
template <class... A>
void error(fmt::format_string<A...> f, A&&... a) {
    at(level::error, f, std::forward<A>(a)...);
}

} // namespace mcpd::log
