// guard/metrics.hpp — what the guards count, and how a backend outage is reported.
//
// Counters are atomics, readable from any thread (a /metrics page or a test reads snapshot()).
// An outage is logged twice: once when the first call fails ("… unavailable: <error>; <what
// the guard does meanwhile>") and once when a call succeeds again; the calls in between are
// only counted, so a Redis restart does not flood the log.
#pragma once

#include "core/error.hpp"

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace mcpd::guard {

struct metrics_snapshot {
    // cache
    std::uint64_t cache_hits = 0;
    std::uint64_t cache_misses = 0;          // the handler ran (leaders of single-flight only)
    std::uint64_t cache_coalesced = 0;       // misses served by another caller's handler run
    std::uint64_t cache_stores = 0;          // results written
    std::uint64_t cache_early_refreshes = 0; // XFetch recomputations before expiry
    std::uint64_t cache_errors = 0;          // backend failures (the call fell through)
    std::uint64_t cache_outages = 0;         // outages logged
    // rate limit
    std::uint64_t rate_allowed = 0;
    std::uint64_t rate_denied = 0;
    std::uint64_t rate_errors = 0;        // backend failures
    std::uint64_t rate_failed_open = 0;   // calls allowed without a decision
    std::uint64_t rate_failed_closed = 0; // calls refused without a decision
    std::uint64_t rate_outages = 0;
    // locks
    std::uint64_t lock_acquired = 0;
    std::uint64_t lock_busy = 0;      // refused: held by another caller
    std::uint64_t lock_waited = 0;    // acquired after waiting
    std::uint64_t lock_extended = 0;  // automatic extensions
    std::uint64_t lock_lost = 0;      // an extension found another owner (or none)
    std::uint64_t lock_errors = 0;    // backend failures
    std::uint64_t lock_proceeded = 0; // ran without the lock (backend down, policy: proceed)
    std::uint64_t lock_refused = 0;   // refused (backend down, policy: refuse)
    std::uint64_t lock_outages = 0;
};

class metrics {
public:
    using counter = std::atomic<std::uint64_t>;
    counter cache_hits{0}, cache_misses{0}, cache_coalesced{0}, cache_stores{0},
        cache_early_refreshes{0}, cache_errors{0}, cache_outages{0};
    counter rate_allowed{0}, rate_denied{0}, rate_errors{0}, rate_failed_open{0},
        rate_failed_closed{0}, rate_outages{0};
    counter lock_acquired{0}, lock_busy{0}, lock_waited{0}, lock_extended{0}, lock_lost{0},
        lock_errors{0}, lock_proceeded{0}, lock_refused{0}, lock_outages{0};

    [[nodiscard]] metrics_snapshot snapshot() const noexcept;
    static void add(counter& c) noexcept { c.fetch_add(1, std::memory_order_relaxed); }
};

// One backend's availability as the guard sees it.
class outage_log {
public:
    // `what`: "cache", "rate limit", "lock"; `meanwhile`: what calls do until it is back.
    outage_log(std::string what, std::string meanwhile, metrics::counter& outages,
               metrics::counter& errors)
        : what_(std::move(what))
        , meanwhile_(std::move(meanwhile))
        , outages_(outages)
        , errors_(errors) {}

    void failure(error const& e);
    void success();
    [[nodiscard]] bool down() const noexcept { return down_.load(std::memory_order_relaxed); }

private:
    std::string what_;
    std::string meanwhile_;
    metrics::counter& outages_;
    metrics::counter& errors_;
    std::atomic<bool> down_{false};
    std::atomic<std::uint64_t> failed_calls_{0};
};

} // namespace mcpd::guard
