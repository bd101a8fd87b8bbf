// tests/integration/redis_test_util.hpp — client configuration and helpers shared by the Redis
// integration tests.
#pragma once

#include "redis_server.hpp"

#include "mcpd/redis.hpp"

#include <gtest/gtest.h>

namespace mcpd::test {

// The server's URL with test-friendly timings: quick reconnects, bounded waits.
inline redis::config test_config(redis_server const& server, std::string const& url_suffix = "") {
    auto cfg = redis::config_from_url(server.url() + url_suffix);
    EXPECT_TRUE(cfg) << cfg.error().message();
    redis::config c = cfg ? *cfg : redis::config{};
    c.connect_timeout = std::chrono::seconds(2);
    c.command_timeout = std::chrono::seconds(5);
    c.reconnect =
        redis::exponential_backoff(std::chrono::milliseconds(10), std::chrono::milliseconds(100));
    return c;
}

// A reply as plain text: strings as they are, integers in base 10, the rest rendered.
inline std::string text(result<redis::value> const& r) {
    if (!r)
        return "error: " + r.error().message();
    if (r->type == redis::resp_type::integer)
        return std::to_string(r->integer);
    if (auto s = r->as_string())
        return std::string(*s);
    return redis::to_debug_string(*r);
}

} // namespace mcpd::test
