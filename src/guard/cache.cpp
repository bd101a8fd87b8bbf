// guard/cache.cpp — the LRU and Redis cache backends, and cache-aside with single-flight,
// cross-process fill locks and XFetch. See cache.hpp.
#include "mcpd/guard/cache.hpp"

#include "core/log.hpp"
#include "core/random.hpp"
#include "guard/scripts.hpp"
#include "guard/waiter.hpp"
#include "mcpd/guard/keys.hpp"
#include "mcpd/redis/client.hpp"
#include "mcpd/redis/error.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace mcpd::guard {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;

// --- memory_cache_backend ------------------------------------------------------------------

memory_cache_backend::memory_cache_backend(memory_cache_limits limits)
    : limits_(limits) {}

void memory_cache_backend::erase_locked(std::list<item>::iterator it) {
    bytes_ -= it->key.size() + it->data.size() + overhead_bytes;
    index_.erase(it->key);
    lru_.erase(it);
}

std::optional<cache_entry> memory_cache_backend::lookup(std::string const& key) {
    std::lock_guard lock(mu_);
    auto found = index_.find(key);
    if (found == index_.end())
        return std::nullopt;
    auto it = found->second;
    auto now = clock::now();
    if (it->expires <= now) {
        erase_locked(it);
        return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, it);
    return cache_entry{it->data, std::chrono::duration_cast<duration>(it->expires - now)};
}

void memory_cache_backend::store(std::string key, std::string data, duration ttl) {
    std::lock_guard lock(mu_);
    if (auto found = index_.find(key); found != index_.end())
        erase_locked(found->second);
    std::size_t size = key.size() + data.size() + overhead_bytes;
    if (size > limits_.max_bytes || limits_.max_entries == 0 || ttl.count() <= 0)
        return;
    // Expired entries go first, then the least recently used, until the new one fits.
    auto now = clock::now();
    for (auto it = lru_.begin(); it != lru_.end() && (bytes_ + size > limits_.max_bytes ||
                                                      lru_.size() >= limits_.max_entries);) {
        auto next = std::next(it);
        if (it->expires <= now)
            erase_locked(it);
        it = next;
    }
    while (!lru_.empty() &&
           (bytes_ + size > limits_.max_bytes || lru_.size() >= limits_.max_entries))
        erase_locked(std::prev(lru_.end()));
    lru_.push_front(item{std::move(key), std::move(data), now + ttl});
    index_.emplace(lru_.front().key, lru_.begin());
    bytes_ += size;
}

void memory_cache_backend::erase(std::string const& key) {
    std::lock_guard lock(mu_);
    if (auto found = index_.find(key); found != index_.end())
        erase_locked(found->second);
}

void memory_cache_backend::clear() {
    std::lock_guard lock(mu_);
    index_.clear();
    lru_.clear();
    bytes_ = 0;
}

std::size_t memory_cache_backend::entries() const {
    std::lock_guard lock(mu_);
    return lru_.size();
}

std::size_t memory_cache_backend::bytes() const {
    std::lock_guard lock(mu_);
    return bytes_;
}

awaitable<result<std::optional<cache_entry>>> memory_cache_backend::get(std::string key) {
    co_return lookup(key);
}

awaitable<result<void>> memory_cache_backend::set(std::string key, std::string data, duration ttl) {
    store(std::move(key), std::move(data), ttl);
    co_return result<void>();
}

awaitable<result<bool>> memory_cache_backend::try_fill_lock(std::string, std::string, duration) {
    co_return true;
}

awaitable<result<void>> memory_cache_backend::release_fill_lock(std::string, std::string) {
    co_return result<void>();
}

// --- redis_cache_backend -------------------------------------------------------------------

namespace {

// Guard requests are never re-sent after a lost connection (see guard_set: the clients have no
// offline queue either).
constexpr redis::request_options once{.retry_on_connection_lost = false};

} // namespace

redis_cache_backend::redis_cache_backend(std::shared_ptr<redis::client> client)
    : client_(std::move(client)) {}

awaitable<result<std::optional<cache_entry>>> redis_cache_backend::get(std::string key) {
    redis::request req(redis::command("GET", key), once);
    req.push(redis::command("PTTL", key));
    auto replies = co_await client_->exec(std::move(req));
    if (!replies)
        co_return replies.error();
    auto& v = (*replies)[0];
    if (v.is_error())
        co_return error(make_error_code(redis::classify_server_error(v.str)), v.str);
    if (v.is_null())
        co_return std::optional<cache_entry>();
    auto text = v.as_string();
    if (!text)
        co_return error(redis::client_errc::unexpected_reply, "GET " + key);
    auto ttl = (*replies)[1].as_integer().value_or(-1);
    // -1: no TTL (written by someone else): treat it as far from expiry.
    duration left = ttl >= 0 ? duration(ttl) : duration(std::chrono::hours(24 * 365));
    co_return std::optional<cache_entry>(cache_entry{std::string(*text), left});
}

awaitable<result<void>> redis_cache_backend::set(std::string key, std::string data, duration ttl) {
    auto r = co_await client_->exec(
        redis::command("SET", key, data, "PX", std::max<duration::rep>(ttl.count(), 1)), once);
    if (!r)
        co_return r.error();
    co_return result<void>();
}

awaitable<result<bool>> redis_cache_backend::try_fill_lock(std::string key, std::string token,
                                                           duration ttl) {
    auto r = co_await client_->exec(
        redis::command("SET", key, token, "NX", "PX", std::max<duration::rep>(ttl.count(), 1)),
        once);
    if (!r)
        co_return r.error();
    co_return !r->is_null();
}

awaitable<result<void>> redis_cache_backend::release_fill_lock(std::string key, std::string token) {
    std::vector<std::string> keys{std::move(key)};
    std::vector<std::string> args{std::move(token)};
    auto r = co_await client_->eval(scripts::compare_and_delete(), std::move(keys), std::move(args),
                                    once);
    if (!r)
        co_return r.error();
    co_return result<void>();
}

// --- near_cache_backend --------------------------------------------------------------------

void near_cache_backend::state::invalidate(std::optional<std::vector<std::string>> const& keys) {
    std::lock_guard lock(mu);
    if (!keys) {
        ++epoch;
        near.clear();
        return;
    }
    for (auto const& k : *keys) {
        // Fill locks live under the cache prefix too; they are never kept, and counting them
        // would keep every fill of a busy fleet from being kept.
        if (k.ends_with(key_space::fill_lock_suffix))
            continue;
        ++epoch;
        near.erase(k);
    }
}

void near_cache_backend::state::keep(std::string key, std::string data, duration ttl,
                                     std::uint64_t asked_at) {
    std::lock_guard lock(mu);
    if (epoch == asked_at)
        near.store(std::move(key), std::move(data), ttl);
}

near_cache_backend::near_cache_backend(std::shared_ptr<redis::client> client, std::string prefix,
                                       memory_cache_limits limits, duration max_copy_age)
    : client_(std::move(client))
    , far_(client_)
    , state_(std::make_shared<state>(limits))
    , max_copy_age_(max_copy_age) {
    std::weak_ptr<state> weak = state_;
    client_->track_prefixes({std::move(prefix)},
                            [weak](std::optional<std::vector<std::string>> keys) {
                                if (auto st = weak.lock())
                                    st->invalidate(keys);
                            });
}

std::uint64_t near_cache_backend::invalidations() const {
    std::lock_guard lock(state_->mu);
    return state_->epoch;
}

awaitable<result<std::optional<cache_entry>>> near_cache_backend::get(std::string key) {
    if (client_->tracking_active())
        if (auto hit = state_->near.lookup(key)) {
            ++state_->near_hits;
            co_return std::move(hit);
        }
    std::uint64_t asked_at = 0;
    {
        std::lock_guard lock(state_->mu);
        asked_at = state_->epoch;
    }
    auto r = co_await far_.get(key);
    if (r && *r && client_->tracking_active())
        state_->keep(std::move(key), (*r)->data, std::min((*r)->ttl_left, max_copy_age_), asked_at);
    co_return r;
}

awaitable<result<void>> near_cache_backend::set(std::string key, std::string data, duration ttl) {
    // Our own writes send us no invalidation (NOLOOP): drop the copy first, so that a write
    // that fails, times out after Redis applied it, or is not kept below leaves none behind.
    std::uint64_t asked_at = 0;
    {
        std::lock_guard lock(state_->mu);
        state_->near.erase(key);
        asked_at = state_->epoch;
    }
    auto r = co_await far_.set(key, data, ttl);
    if (r && client_->tracking_active())
        state_->keep(std::move(key), std::move(data), std::min(ttl, max_copy_age_), asked_at);
    co_return r;
}

awaitable<result<bool>> near_cache_backend::try_fill_lock(std::string key, std::string token,
                                                          duration ttl) {
    return far_.try_fill_lock(std::move(key), std::move(token), ttl);
}

awaitable<result<void>> near_cache_backend::release_fill_lock(std::string key, std::string token) {
    return far_.release_fill_lock(std::move(key), std::move(token));
}

// --- response_cache ------------------------------------------------------------------------

// One computation in progress for a key, and who waits for it.
struct response_cache::flight {
    bool done = false;
    std::optional<json::value> value;
    std::exception_ptr failure;
    std::vector<std::shared_ptr<waiter>> waiters;
};

response_cache::response_cache(std::shared_ptr<cache_backend> backend, counters& m,
                               cache_options opts)
    : backend_(std::move(backend))
    , counters_(m)
    , opts_(opts)
    , outage_("cache", "tool calls run uncached", m, event::cache_outage, event::cache_error) {}

bool response_cache::xfetch_due(duration delta, duration ttl_left, double beta, double u) {
    if (delta.count() <= 0 || beta <= 0)
        return false;
    u = std::clamp(u, 1e-12, 1.0);
    return static_cast<double>(delta.count()) * beta * -std::log(u) >=
           static_cast<double>(ttl_left.count());
}

std::string response_cache::encode(json::value const& v, duration delta) {
    json::object o{{"d", delta.count()}, {"v", v}};
    return json::serialize(o);
}

std::optional<response_cache::decoded> response_cache::decode(std::string const& data) {
    boost::system::error_code ec;
    auto parsed = json::parse(data, ec);
    if (ec || !parsed.is_object())
        return std::nullopt;
    auto& o = parsed.get_object();
    auto* v = o.if_contains("v");
    if (v == nullptr)
        return std::nullopt;
    decoded out;
    if (auto const* d = o.if_contains("d"); d != nullptr && d->is_int64())
        out.delta = duration(d->get_int64());
    out.value = std::move(*v);
    return out;
}

awaitable<void> response_cache::store(std::string const& key, json::value const& v, duration delta,
                                      duration ttl) {
    auto r = co_await backend_->set(key, encode(v, delta), ttl);
    if (!r) {
        outage_.failure(r.error());
        co_return;
    }
    outage_.success();
    counters_.add(event::cache_store);
}

awaitable<std::optional<json::value>> response_cache::wait_for_filler(std::string const& key) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto deadline = std::chrono::steady_clock::now() + opts_.fill_wait;
    while (std::chrono::steady_clock::now() < deadline) {
        auto pause =
            std::chrono::duration_cast<duration>(opts_.fill_poll * (0.5 + fast_uniform01()));
        timer.expires_after(pause);
        co_await timer.async_wait(asio::use_awaitable);
        auto got = co_await backend_->get(key);
        if (!got) {
            outage_.failure(got.error());
            co_return std::nullopt;
        }
        if (*got) {
            if (auto d = decode((*got)->data))
                co_return std::move(d->value);
        }
    }
    co_return std::nullopt;
}

namespace {

bool is_cancellation(std::exception_ptr const& e) {
    try {
        std::rethrow_exception(e);
    } catch (boost::system::system_error const& se) {
        return se.code() == asio::error::operation_aborted;
    } catch (...) {
        return false;
    }
}

} // namespace

awaitable<json::value> response_cache::lead(std::string const& key, cache_settings const& s,
                                            producer const& compute, classifier const& is_error,
                                            bool refresh) {
    std::string fill_key, token;
    if (!refresh && s.fill_lock && backend_->shared()) {
        token = random_hex(16);
        fill_key = key + ":fill";
        auto took = co_await backend_->try_fill_lock(fill_key, token, opts_.fill_lock_ttl);
        if (!took) {
            outage_.failure(took.error());
            fill_key.clear();
        } else if (!*took) {
            fill_key.clear();
            // Another process is computing this entry: use its result when it lands in time.
            if (auto v = co_await wait_for_filler(key)) {
                counters_.add(event::cache_coalesced);
                co_return std::move(*v);
            }
        }
    }
    counters_.add(refresh ? event::cache_early_refresh : event::cache_miss);
    auto started = std::chrono::steady_clock::now();
    std::optional<json::value> value;
    std::exception_ptr failure;
    try {
        value = co_await compute();
    } catch (...) {
        failure = std::current_exception();
    }
    if (value) {
        auto delta =
            std::chrono::duration_cast<duration>(std::chrono::steady_clock::now() - started);
        bool negative = is_error && is_error(*value);
        if (!negative)
            co_await store(key, *value, delta, s.ttl);
        else if (s.error_ttl)
            co_await store(key, *value, delta, *s.error_ttl);
    }
    if (!fill_key.empty()) {
        auto cs = co_await asio::this_coro::cancellation_state;
        if (cs.cancelled() == asio::cancellation_type::none) {
            auto released = co_await backend_->release_fill_lock(fill_key, token);
            if (!released)
                outage_.failure(released.error());
        } // else it expires by its TTL: a cancelled coroutine cannot wait for Redis
    }
    if (failure)
        std::rethrow_exception(failure);
    co_return std::move(*value);
}

awaitable<json::value> response_cache::get_or_compute(std::string key, cache_settings s,
                                                      producer compute, classifier is_error) {
    auto ex = co_await asio::this_coro::executor;
    for (;;) {
        std::optional<decoded> hit;
        auto got = co_await backend_->get(key);
        if (!got) {
            outage_.failure(got.error());
        } else {
            outage_.success();
            if (*got) {
                hit = decode((*got)->data);
                if (!hit) {
                    log::debug("guard cache: {} holds no cache entry; recomputing", key);
                } else if (!(s.early_refresh &&
                             xfetch_due(hit->delta, (*got)->ttl_left, opts_.xfetch_beta,
                                        1.0 - fast_uniform01()))) {
                    counters_.add(event::cache_hit);
                    co_return std::move(hit->value);
                }
            }
        }
        bool refresh = hit.has_value(); // a hit XFetch chose to recompute early

        // Single-flight: the first caller for a key computes, the others wait for it.
        std::shared_ptr<flight> fl;
        std::shared_ptr<waiter> w;
        bool leader = false;
        {
            std::lock_guard lock(mu_);
            if (auto it = flights_.find(key); it != flights_.end()) {
                fl = it->second;
                if (!refresh) {
                    w = std::make_shared<waiter>(ex);
                    fl->waiters.push_back(w);
                }
            } else {
                fl = std::make_shared<flight>();
                flights_.emplace(key, fl);
                leader = true;
            }
        }
        if (!leader && refresh) {
            // Someone is refreshing it already: the current value is still good.
            counters_.add(event::cache_hit);
            co_return std::move(hit->value);
        }
        if (!leader) {
            co_await w->wait_until(std::chrono::steady_clock::time_point::max());
            std::optional<json::value> v;
            std::exception_ptr f;
            {
                std::lock_guard lock(mu_);
                v = fl->value;
                f = fl->failure;
            }
            if (v) {
                counters_.add(event::cache_coalesced);
                co_return std::move(*v);
            }
            if (f && !is_cancellation(f))
                std::rethrow_exception(f);
            continue; // the leader was cancelled: look again, and maybe lead
        }

        std::optional<json::value> value;
        std::exception_ptr failure;
        try {
            value = co_await lead(key, s, compute, is_error, refresh);
        } catch (...) {
            failure = std::current_exception();
        }
        // An early refresh that failed keeps serving the value it was refreshing.
        if (refresh &&
            ((failure && !is_cancellation(failure)) || (value && is_error && is_error(*value)))) {
            value = std::move(hit->value);
            failure = nullptr;
        }
        std::vector<std::shared_ptr<waiter>> waiting;
        {
            std::lock_guard lock(mu_);
            fl->done = true;
            fl->value = value;
            fl->failure = failure;
            waiting.swap(fl->waiters);
            flights_.erase(key);
        }
        for (auto& each : waiting)
            each->notify();
        if (failure)
            std::rethrow_exception(failure);
        co_return std::move(*value);
    }
}

} // namespace mcpd::guard
