// guard/metrics.hpp — what the guards count, how it appears on /metrics, and how a backend
// outage is reported.
//
// Every count is one `event` (the one list: its table in metrics.cpp gives each its Prometheus
// family and label). Counters are atomics, readable from any thread; export_metrics() puts them
// on a registry, read at each scrape, so nothing is added to a guarded call:
//
//   mcpd_cache_requests_total{result}          hit | miss | coalesced | early_refresh
//   mcpd_cache_stores_total
//   mcpd_cache_errors_total                    backend failures (the call fell through)
//   mcpd_rate_limit_decisions_total{result}    allowed | denied | failed_open | failed_closed
//   mcpd_rate_limit_errors_total
//   mcpd_lock_acquisitions_total{result}       acquired | contended | waited | proceeded | refused
//   mcpd_lock_extensions_total{result}         extended | lost
//   mcpd_lock_errors_total
//   mcpd_guard_outages_total{guard}            cache | rate_limit | lock: outages begun
//
// An outage is logged twice: once when the first call fails ("… unavailable: <error>; <what
// the guard does meanwhile>") and once when a call succeeds again; the calls in between are
// only counted, so a Redis restart does not flood the log.
#pragma once

#include "mcpd/core/error.hpp"
#include "mcpd/core/metrics.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace mcpd::guard {

enum class event : std::uint8_t {
    cache_hit,
    cache_miss,          // the handler ran (leaders of single-flight only)
    cache_coalesced,     // a miss served by another caller's handler run
    cache_early_refresh, // an XFetch recomputation before expiry
    cache_store,         // a result written
    cache_error,         // a backend failure (the call fell through)
    cache_outage,        // an outage logged
    rate_allowed,
    rate_denied,
    rate_failed_open,   // a call allowed without a decision
    rate_failed_closed, // a call refused without a decision
    rate_error,         // a backend failure
    rate_outage,
    lock_acquired,
    lock_busy,      // refused or waited for: held by another caller
    lock_waited,    // acquired after waiting
    lock_proceeded, // ran without the lock (backend down, policy: proceed)
    lock_refused,   // refused (backend down, policy: refuse)
    lock_extended,  // an automatic extension
    lock_lost,      // an extension found another owner (or none)
    lock_error,     // a backend failure
    lock_outage,
    count_ // not an event: how many there are
};
inline constexpr std::size_t event_count = static_cast<std::size_t>(event::count_);

// The counts at one moment.
struct counts {
    std::array<std::uint64_t, event_count> values{};
    [[nodiscard]] std::uint64_t operator[](event e) const noexcept {
        return values[static_cast<std::size_t>(e)];
    }
};

class counters {
public:
    void add(event e) noexcept {
        counts_[static_cast<std::size_t>(e)].fetch_add(1, std::memory_order_relaxed);
    }
    [[nodiscard]] counts snapshot() const noexcept;

private:
    std::array<std::atomic<std::uint64_t>, event_count> counts_{};
};

// Registers the families above on `reg` and a collector that fills them from read(). Returns the
// collector's id (registry::remove_collector) for when the guards go away first.
std::size_t export_metrics(::mcpd::metrics::registry& reg, std::function<counts()> read);

// One backend's availability as the guard sees it.
class outage_log {
public:
    // `what`: "cache", "rate limit", "lock"; `meanwhile`: what calls do until it is back.
    outage_log(std::string what, std::string meanwhile, counters& tally, event outage, event error)
        : what_(std::move(what))
        , meanwhile_(std::move(meanwhile))
        , counts_(tally)
        , outage_(outage)
        , error_(error) {}

    void failure(error const& e);
    void success();
    [[nodiscard]] bool down() const noexcept { return down_.load(std::memory_order_relaxed); }

private:
    std::string what_;
    std::string meanwhile_;
    counters& counts_;
    event outage_;
    event error_;
    std::atomic<bool> down_{false};
    std::atomic<std::uint64_t> failed_calls_{0};
};

} // namespace mcpd::guard
