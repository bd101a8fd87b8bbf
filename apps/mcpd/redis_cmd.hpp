// apps/mcpd/redis_cmd.hpp — `mcpd redis ping`: a round trip through mcpd's Redis client (PING,
// then SET, GET and DEL of a scratch key), with the latency, for operators and start scripts.
#pragma once

#include "mcpd/core/duration.hpp"

#include <string>

namespace mcpd::app {

struct redis_ping_args {
    std::string url;  // empty: REDIS_URL and friends
    duration wait{0}; // keep trying this long for Redis to come up
};

// Exit codes: 0 a round trip went through; 1 it did not; 2 bad settings.
int run_redis_ping(redis_ping_args const& a);

} // namespace mcpd::app
