// guard/cache.hpp — cache-aside for tool results and handler values.
//
// response_cache::get_or_compute(key, settings, compute) returns the stored value when there is
// one; otherwise it runs `compute`, stores what it returned for the TTL and returns it:
// - Only successes are stored; a result the classifier calls an error is stored only with
//   settings.error_ttl (negative caching), and an exception is never stored.
// - The backend is best effort: when it fails the call falls through to `compute`, the failure
//   is counted, and the outage is logged once (metrics.hpp).
// - Stampedes: concurrent misses for one key in this process run `compute` once and share its
//   outcome (single-flight); with settings.fill_lock, processes sharing a Redis also take a
//   short lock (SET NX PX) so that one fills the entry while the others poll for it for up to
//   cache_options::fill_wait. With settings.early_refresh, a hit may be recomputed before it
//   expires with probability rising as expiry nears (XFetch: Vattani, Chierichetti, Lowenstein,
//   "Optimal Probabilistic Cache Stampede Prevention", VLDB 2015), so hot keys do not all expire
//   at once; a caller that finds a refresh already running gets the current value, and a
//   refresh that fails (an error result or an exception) returns the value it was refreshing.
//
// Backends: memory_cache_backend (an LRU bounded by entries and bytes, with TTLs) and
// redis_cache_backend (GET + PTTL in one round trip, SET PX). Stored values are
// {"d": <ms the computation took>, "v": <value>} so XFetch knows what a refresh costs.
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"
#include "mcpd/guard/metrics.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace mcpd::redis {
class client;
}

namespace mcpd::guard {

using namespace std::chrono_literals;

struct cache_entry {
    std::string data;
    duration ttl_left{}; // what remains of its time to live
};

class cache_backend {
public:
    virtual ~cache_backend() = default;
    virtual boost::asio::awaitable<result<std::optional<cache_entry>>> get(std::string key) = 0;
    virtual boost::asio::awaitable<result<void>> set(std::string key, std::string data,
                                                     duration ttl) = 0;
    // Whether other processes share it (only then is a cross-process fill lock worth taking).
    [[nodiscard]] virtual bool shared() const noexcept = 0;
    // SET key token NX PX ttl: true when taken. Backends that are not shared answer true.
    virtual boost::asio::awaitable<result<bool>> try_fill_lock(std::string key, std::string token,
                                                               duration ttl) = 0;
    // Deletes the fill lock if `token` still holds it.
    virtual boost::asio::awaitable<result<void>> release_fill_lock(std::string key,
                                                                   std::string token) = 0;
};

struct memory_cache_limits {
    std::size_t max_entries = 10'000;
    std::size_t max_bytes = std::size_t{64} * 1024 * 1024; // keys + values + bookkeeping
};

// In-process LRU with per-entry TTL. Thread-safe. An entry larger than max_bytes is not kept.
class memory_cache_backend final : public cache_backend {
public:
    explicit memory_cache_backend(memory_cache_limits limits = {});

    boost::asio::awaitable<result<std::optional<cache_entry>>> get(std::string key) override;
    boost::asio::awaitable<result<void>> set(std::string key, std::string data,
                                             duration ttl) override;
    [[nodiscard]] bool shared() const noexcept override { return false; }
    boost::asio::awaitable<result<bool>> try_fill_lock(std::string, std::string, duration) override;
    boost::asio::awaitable<result<void>> release_fill_lock(std::string, std::string) override;

    // Synchronous forms (the awaitable ones wrap these).
    std::optional<cache_entry> lookup(std::string const& key);
    void store(std::string key, std::string data, duration ttl);
    void erase(std::string const& key);
    void clear();
    [[nodiscard]] std::size_t entries() const;
    [[nodiscard]] std::size_t bytes() const;

    // Bookkeeping bytes counted per entry on top of its key and value.
    static constexpr std::size_t overhead_bytes = 96;

private:
    using clock = std::chrono::steady_clock;
    struct item {
        std::string key;
        std::string data;
        clock::time_point expires;
    };
    void erase_locked(std::list<item>::iterator it);

    memory_cache_limits limits_;
    mutable std::mutex mu_;
    std::list<item> lru_; // most recently used first
    std::unordered_map<std::string, std::list<item>::iterator> index_;
    std::size_t bytes_ = 0;
};

class redis_cache_backend final : public cache_backend {
public:
    explicit redis_cache_backend(std::shared_ptr<redis::client> client);

    boost::asio::awaitable<result<std::optional<cache_entry>>> get(std::string key) override;
    boost::asio::awaitable<result<void>> set(std::string key, std::string data,
                                             duration ttl) override;
    [[nodiscard]] bool shared() const noexcept override { return true; }
    boost::asio::awaitable<result<bool>> try_fill_lock(std::string key, std::string token,
                                                       duration ttl) override;
    boost::asio::awaitable<result<void>> release_fill_lock(std::string key,
                                                           std::string token) override;

private:
    std::shared_ptr<redis::client> client_;
};

// Redis with a near cache: hits are served from an in-process copy (memory_cache_backend)
// while Redis's client-side caching says the copy is current, so a hot entry costs no round
// trip. The Redis client tracks the cache's key prefix (CLIENT TRACKING … BCAST on RESP3: Redis
// tells every instance of the fleet about each key another one changes, and about expiries);
// when tracking is off (a RESP2 connection, a refusal, a lost connection) every call goes to
// Redis, so an instance never serves a copy it cannot know to be current. A read whose reply
// may have crossed an invalidation is not kept; a write drops this instance's copy before it
// goes out. Copies live at most `max_copy_age`, a bound on what a partition that the
// connection has not noticed yet could leave stale.
class near_cache_backend final : public cache_backend {
public:
    // Installs tracking of `prefix` (e.g. "mcp:cache:") on `client`: call before its first
    // request, and give each client to one near cache only.
    near_cache_backend(std::shared_ptr<redis::client> client, std::string prefix,
                       memory_cache_limits limits = {}, duration max_copy_age = 60s);

    boost::asio::awaitable<result<std::optional<cache_entry>>> get(std::string key) override;
    boost::asio::awaitable<result<void>> set(std::string key, std::string data,
                                             duration ttl) override;
    [[nodiscard]] bool shared() const noexcept override { return true; }
    boost::asio::awaitable<result<bool>> try_fill_lock(std::string key, std::string token,
                                                       duration ttl) override;
    boost::asio::awaitable<result<void>> release_fill_lock(std::string key,
                                                           std::string token) override;

    // Hits served from the near copy (the rest of the hits went to Redis).
    [[nodiscard]] std::uint64_t near_hits() const noexcept { return state_->near_hits; }
    [[nodiscard]] std::size_t near_entries() const { return state_->near.entries(); }
    // Invalidations received (a key or everything), for tests that wait for one.
    [[nodiscard]] std::uint64_t invalidations() const;

private:
    // Shared with the client's invalidation handler. `mu` orders "an invalidation drops copies"
    // against "a reply is kept unless an invalidation came since it was asked for".
    struct state {
        explicit state(memory_cache_limits limits)
            : near(limits) {}
        std::mutex mu;
        std::uint64_t epoch = 0; // invalidations of entries (not of fill locks) so far
        memory_cache_backend near;
        std::atomic<std::uint64_t> near_hits{0};
        void invalidate(std::optional<std::vector<std::string>> const& keys);
        void keep(std::string key, std::string data, duration ttl, std::uint64_t asked_at);
    };
    std::shared_ptr<redis::client> client_;
    redis_cache_backend far_;
    std::shared_ptr<state> state_;
    duration max_copy_age_;
};

// Per call.
struct cache_settings {
    duration ttl = 300s;
    std::optional<duration> error_ttl; // set: error results are stored for this long
    bool early_refresh = true;         // XFetch
    bool fill_lock = false;            // cross-process stampede lock (shared backends only)
};

// Per cache.
struct cache_options {
    // Redis backend: keep an in-process copy of hot entries, kept current by client tracking
    // (near_cache_backend); off: every call asks Redis.
    bool near_cache = true;
    memory_cache_limits near_limits{};
    duration near_max_copy_age = 60s;
    double xfetch_beta = 1.0; // > 1 refreshes earlier, < 1 later
    duration fill_lock_ttl = 5s;
    duration fill_wait = 5s;   // how long a process polls while another fills the entry
    duration fill_poll = 25ms; // between polls (with jitter)
};

class response_cache {
public:
    using producer = std::function<boost::asio::awaitable<boost::json::value>()>;
    // True for a value that is an error (stored only with cache_settings::error_ttl).
    using classifier = std::function<bool(boost::json::value const&)>;

    response_cache(std::shared_ptr<cache_backend> backend, counters& m, cache_options opts = {});

    boost::asio::awaitable<boost::json::value>
    get_or_compute(std::string key, cache_settings s, producer compute, classifier is_error = {});

    [[nodiscard]] cache_backend& backend() noexcept { return *backend_; }
    [[nodiscard]] outage_log const& availability() const noexcept { return outage_; }

    // XFetch's decision, exposed for tests: recompute now when
    // delta · beta · −ln(u) ≥ ttl_left, u uniform in (0, 1].
    static bool xfetch_due(duration delta, duration ttl_left, double beta, double u);

private:
    struct flight;
    struct decoded {
        boost::json::value value;
        duration delta{};
    };
    static std::optional<decoded> decode(std::string const& data);
    static std::string encode(boost::json::value const& v, duration delta);
    boost::asio::awaitable<std::optional<boost::json::value>>
    wait_for_filler(std::string const& key);
    boost::asio::awaitable<boost::json::value> lead(std::string const& key, cache_settings const& s,
                                                    producer const& compute,
                                                    classifier const& is_error, bool refresh);
    boost::asio::awaitable<void> store(std::string const& key, boost::json::value const& v,
                                       duration delta, duration ttl);

    std::shared_ptr<cache_backend> backend_;
    counters& counters_;
    cache_options opts_;
    outage_log outage_;
    std::mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<flight>> flights_;
};

} // namespace mcpd::guard
