// guard/metrics.cpp — counters and outage logging. See metrics.hpp.
#include "mcpd/guard/metrics.hpp"

#include "core/log.hpp"

#include <string>

namespace mcpd::guard {

namespace {

// Where each event appears on /metrics: its family, and its label's value (none: "").
struct exported {
    event what;
    std::string_view family;
    std::string_view label;
};
constexpr std::array<exported, event_count> exports{{
    {event::cache_hit, "mcpd_cache_requests_total", "hit"},
    {event::cache_miss, "mcpd_cache_requests_total", "miss"},
    {event::cache_coalesced, "mcpd_cache_requests_total", "coalesced"},
    {event::cache_early_refresh, "mcpd_cache_requests_total", "early_refresh"},
    {event::cache_store, "mcpd_cache_stores_total", ""},
    {event::cache_error, "mcpd_cache_errors_total", ""},
    {event::cache_outage, "mcpd_guard_outages_total", "cache"},
    {event::rate_allowed, "mcpd_rate_limit_decisions_total", "allowed"},
    {event::rate_denied, "mcpd_rate_limit_decisions_total", "denied"},
    {event::rate_failed_open, "mcpd_rate_limit_decisions_total", "failed_open"},
    {event::rate_failed_closed, "mcpd_rate_limit_decisions_total", "failed_closed"},
    {event::rate_error, "mcpd_rate_limit_errors_total", ""},
    {event::rate_outage, "mcpd_guard_outages_total", "rate_limit"},
    {event::lock_acquired, "mcpd_lock_acquisitions_total", "acquired"},
    {event::lock_busy, "mcpd_lock_acquisitions_total", "contended"},
    {event::lock_waited, "mcpd_lock_acquisitions_total", "waited"},
    {event::lock_proceeded, "mcpd_lock_acquisitions_total", "proceeded"},
    {event::lock_refused, "mcpd_lock_acquisitions_total", "refused"},
    {event::lock_extended, "mcpd_lock_extensions_total", "extended"},
    {event::lock_lost, "mcpd_lock_extensions_total", "lost"},
    {event::lock_error, "mcpd_lock_errors_total", ""},
    {event::lock_outage, "mcpd_guard_outages_total", "lock"},
}};

constexpr bool in_event_order() {
    for (std::size_t i = 0; i < exports.size(); ++i)
        if (static_cast<std::size_t>(exports[i].what) != i)
            return false;
    return true;
}
static_assert(in_event_order(), "exports lists every event once, in the enum's order");

struct family_text {
    std::string_view name, help, label;
};
constexpr std::array<family_text, 9> families{{
    {"mcpd_cache_requests_total",
     "Cached tool calls by result (hit, miss: the handler ran, coalesced: served by another "
     "caller's run, early_refresh: recomputed before expiry)",
     "result"},
    {"mcpd_cache_stores_total", "Results written to the cache", ""},
    {"mcpd_cache_errors_total", "Cache backend failures (the call went to the handler)", ""},
    {"mcpd_rate_limit_decisions_total",
     "Rate limit decisions (failed_open: allowed without a decision, failed_closed: refused "
     "without one)",
     "result"},
    {"mcpd_rate_limit_errors_total", "Rate limit backend failures", ""},
    {"mcpd_lock_acquisitions_total",
     "Lock attempts (contended: held by another caller; proceeded: ran without the lock, "
     "backend down; refused: backend down)",
     "result"},
    {"mcpd_lock_extensions_total", "Automatic lock extensions (lost: another owner, or none)",
     "result"},
    {"mcpd_lock_errors_total", "Lock backend failures", ""},
    {"mcpd_guard_outages_total", "Guard backend outages begun (logged once each)", "guard"},
}};

} // namespace

counts counters::snapshot() const noexcept {
    counts s;
    for (std::size_t i = 0; i < event_count; ++i)
        s.values[i] = counts_[i].load(std::memory_order_relaxed);
    return s;
}

std::size_t export_metrics(::mcpd::metrics::registry& reg, std::function<counts()> read) {
    std::array<::mcpd::metrics::counter*, event_count> targets{};
    for (auto const& f : families) {
        std::vector<std::string> labels;
        if (!f.label.empty())
            labels.emplace_back(f.label);
        auto& family = reg.counter(f.name, f.help, labels);
        for (auto const& e : exports)
            if (e.family == f.name)
                targets[static_cast<std::size_t>(e.what)] =
                    e.label.empty() ? &family.get() : &family.with({std::string(e.label)});
    }
    return reg.add_collector([targets, read = std::move(read)] {
        auto now = read();
        for (std::size_t i = 0; i < event_count; ++i)
            targets[i]->set(now.values[i]);
    });
}

void outage_log::failure(error const& e) {
    counts_.add(error_);
    failed_calls_.fetch_add(1, std::memory_order_relaxed);
    if (!down_.exchange(true)) {
        counts_.add(outage_);
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
