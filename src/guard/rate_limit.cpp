// guard/rate_limit.cpp — sliding log and sliding-window counter, in process and in Redis.
#include "mcpd/guard/rate_limit.hpp"

#include "core/random.hpp"
#include "guard/scripts.hpp"
#include "mcpd/redis/client.hpp"
#include "mcpd/redis/error.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace mcpd::guard {

namespace asio = boost::asio;
using asio::awaitable;

namespace {

duration ceil_ms(double ms) {
    return duration(std::max<duration::rep>(1, static_cast<duration::rep>(std::ceil(ms))));
}

} // namespace

rate_decision sliding_log_hit(sliding_log_state& s, double now_ms, std::int64_t max,
                              duration window) {
    auto w = static_cast<double>(window.count());
    // As ZREMRANGEBYSCORE -inf (now - window): a call exactly one window old has left it.
    while (!s.calls.empty() && s.calls.front() <= now_ms - w)
        s.calls.pop_front();
    auto count = static_cast<std::int64_t>(s.calls.size());
    rate_decision d;
    d.limit = max;
    if (count >= max) {
        d.allowed = false;
        d.count = count;
        d.retry_after = ceil_ms(s.calls.front() + w - now_ms);
        return d;
    }
    s.calls.push_back(now_ms);
    d.count = count + 1;
    return d;
}

rate_decision sliding_counter_hit(sliding_counter_state& s, double now_ms, std::int64_t max,
                                  duration window) {
    auto w = static_cast<double>(window.count());
    auto now = std::floor(now_ms);
    auto idx = static_cast<std::int64_t>(std::floor(now / w));
    if (s.window_index == idx - 1) {
        s.previous = s.current;
        s.current = 0;
    } else if (s.window_index != idx) {
        s.previous = 0;
        s.current = 0;
    }
    s.window_index = idx;
    double elapsed = now - static_cast<double>(idx) * w;
    double estimate =
        static_cast<double>(s.previous) * (w - elapsed) / w + static_cast<double>(s.current);
    rate_decision d;
    d.limit = max;
    auto limit = static_cast<double>(max);
    if (estimate + 1 > limit) {
        double retry = 0;
        auto c = static_cast<double>(s.current);
        auto p = static_cast<double>(s.previous);
        if (c + 1 > limit)
            retry = (w - elapsed) + std::max(0.0, w * (1 - (limit - 1) / c));
        else
            retry = w * (1 - (limit - 1 - c) / p) - elapsed;
        d.allowed = false;
        d.count = static_cast<std::int64_t>(std::floor(estimate));
        d.retry_after = ceil_ms(retry);
        return d;
    }
    ++s.current;
    d.count = static_cast<std::int64_t>(std::floor(estimate + 1));
    return d;
}

// --- memory_rate_limit_backend -------------------------------------------------------------

memory_rate_limit_backend::memory_rate_limit_backend(memory_rate_limits limits)
    : limits_(limits) {}

double memory_rate_limit_backend::steady_now_ms() noexcept {
    return std::chrono::duration<double, std::milli>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void memory_rate_limit_backend::sweep(double now_ms) {
    // Counter state covers two windows; a log covers one.
    std::erase_if(entries_, [&](auto const& kv) {
        return now_ms - kv.second.last_ms > 2.0 * static_cast<double>(kv.second.window.count());
    });
}

rate_decision memory_rate_limit_backend::hit_now(std::string const& key, std::int64_t max,
                                                 duration window, rate_algorithm algorithm,
                                                 double now_ms) {
    std::lock_guard lock(mu_);
    if (entries_.size() >= limits_.sweep_above)
        sweep(now_ms);
    auto& e = entries_[key];
    e.last_ms = now_ms;
    e.window = std::max(e.window, window);
    return algorithm == rate_algorithm::sliding_log
               ? sliding_log_hit(e.log, now_ms, max, window)
               : sliding_counter_hit(e.counter, now_ms, max, window);
}

std::size_t memory_rate_limit_backend::keys() const {
    std::lock_guard lock(mu_);
    return entries_.size();
}

awaitable<result<rate_decision>> memory_rate_limit_backend::hit(std::string key, std::int64_t max,
                                                                duration window,
                                                                rate_algorithm algorithm) {
    co_return hit_now(key, max, window, algorithm, steady_now_ms());
}

// --- redis_rate_limit_backend --------------------------------------------------------------

redis_rate_limit_backend::redis_rate_limit_backend(std::shared_ptr<redis::client> client)
    : client_(std::move(client)) {}

awaitable<result<rate_decision>> redis_rate_limit_backend::hit(std::string key, std::int64_t max,
                                                               duration window,
                                                               rate_algorithm algorithm) {
    std::vector<std::string> keys{std::move(key)};
    std::vector<std::string> args{std::to_string(window.count()), std::to_string(max)};
    bool log = algorithm == rate_algorithm::sliding_log;
    if (log) {
        // The key outlives the window by a second (the guide keeps 2 minutes for 1).
        args.push_back(std::to_string((window.count() + 999) / 1000 + 1));
        args.push_back(random_hex(8));
    }
    auto const& s = log ? scripts::sliding_log() : scripts::sliding_counter();
    // Never re-sent after a lost connection: the script may have counted the call already.
    auto r = co_await client_->eval(s, std::move(keys), std::move(args),
                                    {.retry_on_connection_lost = false});
    if (!r)
        co_return r.error();
    auto const& v = *r;
    if (v.elements.size() != 3)
        co_return error(redis::client_errc::unexpected_reply,
                        "rate limit script: " + redis::to_debug_string(v));
    rate_decision d;
    d.limit = max;
    d.allowed = v.elements[0].as_integer().value_or(0) == 1;
    d.count = v.elements[1].as_integer().value_or(0);
    d.retry_after = duration(v.elements[2].as_integer().value_or(0));
    co_return d;
}

} // namespace mcpd::guard
