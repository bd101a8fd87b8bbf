// redis/event.hpp — what a Redis client tells observers about its connection.
//
// Events are delivered on the client's strand, in order; a handler must not block.
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"

#include <cstdint>
#include <string_view>

namespace mcpd::redis {

enum class connection_state : std::uint8_t {
    idle,         // constructed, not started
    connecting,   // first connection attempt
    ready,        // handshake done; requests are written
    reconnecting, // lost or failed; waiting or trying again
    closing,      // quit() called: finishing in-flight requests
    closed,       // quit() finished, disconnect() called, or the retry strategy gave up
};
std::string_view to_string(connection_state s) noexcept;

struct event {
    enum class kind : std::uint8_t {
        connected,    // handshake done (after a first connect or a reconnect); protocol: 2 or 3
        reconnecting, // a retry is scheduled: attempt (from 1) and delay
        error,        // a connection attempt failed or a live connection was lost: err
        closed,       // the client will not connect again
    };
    kind what;
    std::uint32_t attempt = 0;
    duration delay{};
    int protocol = 0;
    error err;
};
std::string_view to_string(event::kind k) noexcept;

// Counters for metrics, updated on the strand, readable from any thread.
struct client_stats {
    std::uint64_t requests = 0;   // requests accepted for sending
    std::uint64_t failures = 0;   // requests that finished with a client error (not a reply)
    std::uint64_t reconnects = 0; // successful connections after the first
    std::uint64_t connection_errors = 0;
};

} // namespace mcpd::redis
