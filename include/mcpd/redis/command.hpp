// redis/command.hpp — a command to send (its arguments) and a request (commands sent together).
//
// A request's commands are written back to back, with nothing from other requests between
// them, and complete together: that is what MULTI/EXEC needs. Requests from concurrent callers
// are coalesced into one write by the connection (automatic pipelining); a caller never has to
// build a pipeline by hand for speed.
#pragma once

#include "mcpd/core/duration.hpp"

#include <charconv>
#include <concepts>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::redis {

class command {
public:
    command() = default;
    // command("SET", key, value, "PX", 1000): strings as given, integers in base 10.
    template <class... A>
    explicit command(std::string_view name, A const&... args) {
        args_.reserve(1 + sizeof...(A));
        args_.emplace_back(name);
        (arg(args), ...);
    }

    command& arg(std::string_view a) {
        args_.emplace_back(a);
        return *this;
    }
    command& arg(char const* a) { return arg(std::string_view(a)); }
    command& arg(std::string const& a) { return arg(std::string_view(a)); }
    template <std::integral I>
    command& arg(I i) {
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof buf, i);
        args_.emplace_back(buf, r.ptr);
        return *this;
    }
    // Appends each element of a range of string-like values.
    template <class R>
    requires requires(R const& r) { std::string_view(*std::begin(r)); }
    command& args(R const& range) {
        for (auto const& a : range)
            arg(std::string_view(a));
        return *this;
    }

    [[nodiscard]] std::span<std::string const> args() const noexcept { return args_; }
    [[nodiscard]] std::string_view name() const noexcept {
        return args_.empty() ? std::string_view() : std::string_view(args_.front());
    }
    [[nodiscard]] bool empty() const noexcept { return args_.empty(); }

private:
    std::vector<std::string> args_; // args_[0] is the command name
};

struct request_options {
    // Overrides config::command_timeout for this request; zero means no timeout (blocking
    // commands such as BLPOP 0). Counted from submission, so it covers offline-queue waiting.
    std::optional<duration> timeout;
    // Whether the request may be re-sent after the connection dropped before its reply
    // (up to config::max_retries_per_request). Turn off for commands that must not run twice.
    bool retry_on_connection_lost = true;
    // Whether config::key_prefix is applied to the key arguments of the commands.
    bool apply_prefix = true;
};

struct request {
    std::vector<command> commands;
    request_options options;

    request() = default;
    explicit request(command c, request_options o = {})
        : options(o) {
        commands.push_back(std::move(c));
    }
    request& push(command c) {
        commands.push_back(std::move(c));
        return *this;
    }
};

} // namespace mcpd::redis
