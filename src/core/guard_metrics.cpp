// core/guard_metrics.cpp — see guard_metrics.hpp.
#include "core/guard_metrics.hpp"

namespace mcpd::metrics {

std::size_t export_guard_metrics(registry& reg, std::function<guard_counts()> read) {
    auto& cache = reg.counter("mcpd_cache_requests_total",
                              "Cached tool calls by result (hit, miss: the handler ran, "
                              "coalesced: served by another caller's run)",
                              {"result"});
    auto& stores = reg.counter("mcpd_cache_stores_total", "Results written to the cache").get();
    auto& cache_errors = reg.counter("mcpd_cache_errors_total",
                                     "Cache backend failures (the call went to the handler)")
                             .get();
    auto& rate = reg.counter("mcpd_rate_limit_decisions_total",
                             "Rate limit decisions (failed_open: allowed without a decision, "
                             "failed_closed: refused without one)",
                             {"result"});
    auto& rate_errors =
        reg.counter("mcpd_rate_limit_errors_total", "Rate limit backend failures").get();
    auto& locks = reg.counter("mcpd_lock_acquisitions_total",
                              "Lock attempts (contended: held by another caller; proceeded: ran "
                              "without the lock, backend down; refused: backend down)",
                              {"result"});
    auto& extensions =
        reg.counter("mcpd_lock_extensions_total",
                    "Automatic lock extensions (lost: another owner, or none)", {"result"});
    auto& lock_errors = reg.counter("mcpd_lock_errors_total", "Lock backend failures").get();
    auto& outages = reg.counter("mcpd_guard_outages_total",
                                "Guard backend outages begun (logged once each)", {"guard"});
    struct targets {
        counter *hit, *miss, *coalesced, *stores, *cache_errors;
        counter *allowed, *denied, *failed_open, *failed_closed, *rate_errors;
        counter *acquired, *contended, *waited, *proceeded, *refused, *extended, *lost,
            *lock_errors;
        counter *cache_out, *rate_out, *lock_out;
    } t{&cache.with({"hit"}),
        &cache.with({"miss"}),
        &cache.with({"coalesced"}),
        &stores,
        &cache_errors,
        &rate.with({"allowed"}),
        &rate.with({"denied"}),
        &rate.with({"failed_open"}),
        &rate.with({"failed_closed"}),
        &rate_errors,
        &locks.with({"acquired"}),
        &locks.with({"contended"}),
        &locks.with({"waited"}),
        &locks.with({"proceeded"}),
        &locks.with({"refused"}),
        &extensions.with({"extended"}),
        &extensions.with({"lost"}),
        &lock_errors,
        &outages.with({"cache"}),
        &outages.with({"rate_limit"}),
        &outages.with({"lock"})};
    return reg.add_collector([t, read = std::move(read)] {
        auto c = read();
        t.hit->set(c.cache_hits);
        t.miss->set(c.cache_misses);
        t.coalesced->set(c.cache_coalesced);
        t.stores->set(c.cache_stores);
        t.cache_errors->set(c.cache_errors);
        t.allowed->set(c.rate_allowed);
        t.denied->set(c.rate_denied);
        t.failed_open->set(c.rate_failed_open);
        t.failed_closed->set(c.rate_failed_closed);
        t.rate_errors->set(c.rate_errors);
        t.acquired->set(c.lock_acquired);
        t.contended->set(c.lock_contended);
        t.waited->set(c.lock_waited);
        t.proceeded->set(c.lock_proceeded);
        t.refused->set(c.lock_refused);
        t.extended->set(c.lock_extended);
        t.lost->set(c.lock_lost);
        t.lock_errors->set(c.lock_errors);
        t.cache_out->set(c.cache_outages);
        t.rate_out->set(c.rate_outages);
        t.lock_out->set(c.lock_outages);
    });
}

} // namespace mcpd::metrics
