// guard/rate_limit.hpp — per-session, per-tool sliding-window rate limits.
//
// Two algorithms, the user picks:
// - sliding_log: the Redis guide's sorted set of call times (exact: at most `max` calls in any
//   window; memory grows with `max`).
// - sliding_counter: this window's count plus the previous window's, weighted by how much of it
//   the sliding window still covers (O(1) memory; approximate when the previous window's calls
//   were bunched).
// Refused calls are not counted. Each decision is one atomic Lua script on the Redis server's
// clock (guard/scripts.hpp); the in-process backend computes the same formulas on the
// steady clock. What a failing backend means (fail open or closed) is decided above the backend,
// in guard_set.
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace mcpd::redis {
class client;
}

namespace mcpd::guard {

enum class rate_algorithm : std::uint8_t { sliding_log, sliding_counter };

struct rate_decision {
    bool allowed = true;
    std::int64_t limit = 0;
    std::int64_t count = 0;  // calls in the window (estimated for sliding_counter), this one
                             // included when allowed
    duration retry_after{0}; // when refused: until a call would be allowed
    bool decided = true;     // false: the backend was unavailable and the policy decided
    explicit operator bool() const noexcept { return allowed; }
};

class rate_limit_backend {
public:
    virtual ~rate_limit_backend() = default;
    // Counts one call for `key` when it is allowed.
    virtual boost::asio::awaitable<result<rate_decision>>
    hit(std::string key, std::int64_t max, duration window, rate_algorithm algorithm) = 0;
};

// The algorithms' state and arithmetic, shared by the in-process backend and its tests. Times
// are milliseconds (fractions allowed) on any clock that does not go backwards.
struct sliding_log_state {
    std::deque<double> calls; // oldest first
};
rate_decision sliding_log_hit(sliding_log_state& s, double now_ms, std::int64_t max,
                              duration window);

struct sliding_counter_state {
    std::int64_t window_index = -1;
    std::int64_t current = 0;
    std::int64_t previous = 0;
};
rate_decision sliding_counter_hit(sliding_counter_state& s, double now_ms, std::int64_t max,
                                  duration window);

struct memory_rate_limits {
    // Past this many keys, keys idle for longer than their window are swept.
    std::size_t sweep_above = 10'000;
};

class memory_rate_limit_backend final : public rate_limit_backend {
public:
    explicit memory_rate_limit_backend(memory_rate_limits limits = {});
    boost::asio::awaitable<result<rate_decision>>
    hit(std::string key, std::int64_t max, duration window, rate_algorithm algorithm) override;
    // The synchronous form; `now_ms` on the steady clock unless a test passes its own.
    rate_decision hit_now(std::string const& key, std::int64_t max, duration window,
                          rate_algorithm algorithm, double now_ms);
    [[nodiscard]] std::size_t keys() const;
    static double steady_now_ms() noexcept;

private:
    struct entry {
        sliding_log_state log;
        sliding_counter_state counter;
        double last_ms = 0;
        duration window{};
    };
    void sweep(double now_ms);

    memory_rate_limits limits_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, entry> entries_;
};

// Its client should have no offline queue (guard_set makes it so): a call during an outage is
// decided by the failure policy now, not replayed in a burst after the reconnect.
class redis_rate_limit_backend final : public rate_limit_backend {
public:
    explicit redis_rate_limit_backend(std::shared_ptr<redis::client> client);
    boost::asio::awaitable<result<rate_decision>>
    hit(std::string key, std::int64_t max, duration window, rate_algorithm algorithm) override;

private:
    std::shared_ptr<redis::client> client_;
};

} // namespace mcpd::guard
