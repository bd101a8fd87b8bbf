// core/guard_metrics.hpp — the names under which the tool guards (src/guard: cache-aside, rate
// limits, locks) appear on /metrics, and the one hook that puts them there.
//
// The guards keep their own counters (relaxed atomics, readable from any thread). Whoever
// builds the server (apps/mcpd/serve.cpp) calls export_guard_metrics() once with a function
// that reads them; the registry calls it at each scrape, so nothing is added to a guarded call.
//
//   mcpd_cache_requests_total{result}          hit | miss | coalesced
//   mcpd_cache_stores_total
//   mcpd_cache_errors_total                    backend failures (the call fell through)
//   mcpd_rate_limit_decisions_total{result}    allowed | denied | failed_open | failed_closed
//   mcpd_rate_limit_errors_total
//   mcpd_lock_acquisitions_total{result}       acquired | contended | waited | proceeded | refused
//   mcpd_lock_extensions_total{result}         extended | lost
//   mcpd_lock_errors_total
//   mcpd_guard_outages_total{guard}            cache | rate_limit | lock: outages begun
#pragma once

#include "core/metrics.hpp"

#include <cstdint>
#include <functional>

namespace mcpd::metrics {

// Totals since start (monotonic), as the guards count them.
struct guard_counts {
    std::uint64_t cache_hits = 0, cache_misses = 0, cache_coalesced = 0, cache_stores = 0,
                  cache_errors = 0, cache_outages = 0;
    std::uint64_t rate_allowed = 0, rate_denied = 0, rate_failed_open = 0, rate_failed_closed = 0,
                  rate_errors = 0, rate_outages = 0;
    std::uint64_t lock_acquired = 0, lock_contended = 0, lock_waited = 0, lock_proceeded = 0,
                  lock_refused = 0, lock_extended = 0, lock_lost = 0, lock_errors = 0,
                  lock_outages = 0;
};

// Registers the families above and a collector that fills them from read(). Returns the
// collector's id (registry::remove_collector) for when the guards go away first.
std::size_t export_guard_metrics(registry& reg, std::function<guard_counts()> read);

} // namespace mcpd::metrics
