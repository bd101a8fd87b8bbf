// guard/metrics.cpp — counters and outage logging. See metrics.hpp.
#include "guard/metrics.hpp"

#include "core/log.hpp"

namespace mcpd::guard {

metrics_snapshot metrics::snapshot() const noexcept {
    auto r = [](counter const& c) { return c.load(std::memory_order_relaxed); };
    metrics_snapshot s;
    s.cache_hits = r(cache_hits);
    s.cache_misses = r(cache_misses);
    s.cache_coalesced = r(cache_coalesced);
    s.cache_stores = r(cache_stores);
    s.cache_early_refreshes = r(cache_early_refreshes);
    s.cache_errors = r(cache_errors);
    s.cache_outages = r(cache_outages);
    s.rate_allowed = r(rate_allowed);
    s.rate_denied = r(rate_denied);
    s.rate_errors = r(rate_errors);
    s.rate_failed_open = r(rate_failed_open);
    s.rate_failed_closed = r(rate_failed_closed);
    s.rate_outages = r(rate_outages);
    s.lock_acquired = r(lock_acquired);
    s.lock_busy = r(lock_busy);
    s.lock_waited = r(lock_waited);
    s.lock_extended = r(lock_extended);
    s.lock_lost = r(lock_lost);
    s.lock_errors = r(lock_errors);
    s.lock_proceeded = r(lock_proceeded);
    s.lock_refused = r(lock_refused);
    s.lock_outages = r(lock_outages);
    return s;
}

void outage_log::failure(error const& e) {
    metrics::add(errors_);
    failed_calls_.fetch_add(1, std::memory_order_relaxed);
    if (!down_.exchange(true)) {
        metrics::add(outages_);
        log::warn("guard {}: backend unavailable: {}; {} until it is back", what_, e.message(),
                  meanwhile_);
    }
}

void outage_log::success() {
    if (down_.load(std::memory_order_relaxed) && down_.exchange(false)) {
        auto n = failed_calls_.exchange(0);
        log::info("guard {}: backend available again ({} failed calls during the outage)", what_,
                  n);
    }
}

} // namespace mcpd::guard
