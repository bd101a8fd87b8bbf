// guard/guards.hpp — the guards a tool declares, and the set of backends that enforces them.
//
// Declaring (server/server.hpp's `tool` carries a tool_guards; these are its fluent setters):
//     tool_guards{}.cache(300s).rate_limit(30, 1min).lock("send-email:{user_id}", 30s)
// Around a call the order is: rate limit (every call counts, hits included) → cache (a hit
// returns without locking or calling) → lock (held around the handler only) → handler.
//
// Enforcing: a guard_set holds one backend of each kind, in process or in Redis, chosen from
// configuration (guard_set_from_env), plus the failure policies and the key prefix. Handler code
// uses the same guards directly: with_cache(key, ttl, fn), check_rate_limit(session, tool, max,
// window), with_lock(resource, ttl, fn).
//
// Refusals are tool results a model can read (`isError: true`, texts in texts.hpp); the
// handler-level API throws lock_busy / lock_unavailable instead, whose messages are the same
// texts, and a handler exception becomes exactly such a result.
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"
#include "mcpd/guard/cache.hpp"
#include "mcpd/guard/keys.hpp"
#include "mcpd/guard/lock.hpp"
#include "mcpd/guard/metrics.hpp"
#include "mcpd/guard/rate_limit.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace mcpd::redis {
class client;
struct config;
} // namespace mcpd::redis

namespace mcpd::guard {

enum class rate_failure : std::uint8_t {
    open,   // allow the call (logged once per outage, counted)
    closed, // refuse it
};

struct cache_policy {
    duration ttl = 300s;
    cache_scope scope = cache_scope::shared;
    std::optional<duration> error_ttl; // negative caching: isError results kept this long
    bool early_refresh = true;         // XFetch
    bool fill_lock = false;            // cross-process stampede lock (Redis only)
};

struct rate_policy {
    std::int64_t max = 30;
    duration window = 1min;
    rate_algorithm algorithm = rate_algorithm::sliding_log;
    std::optional<rate_failure> on_unavailable; // unset: guard_options::rate_unavailable
};

struct lock_policy {
    std::string key_template; // "send-email:{user_id}": {field} from the tool's arguments
    duration ttl = 30s;
    lock_wait when_busy = lock_wait::fail_fast;
    duration wait_timeout = 10s;
    std::optional<lock_failure> on_unavailable; // unset: guard_options::lock_unavailable
    bool auto_extend = true;
};

struct tool_guards {
    std::optional<cache_policy> cached;
    std::optional<rate_policy> limited;
    std::optional<lock_policy> locked;

    // Each setter checks its values and throws std::invalid_argument on nonsense (a zero TTL,
    // max < 1, a template with an unclosed brace): mistakes surface at registration.
    tool_guards& cache(duration ttl);
    tool_guards& cache(cache_policy p);
    tool_guards& rate_limit(std::int64_t max, duration window);
    tool_guards& rate_limit(rate_policy p);
    tool_guards& lock(std::string key_template, duration ttl);
    tool_guards& lock(lock_policy p);

    [[nodiscard]] bool empty() const noexcept { return !cached && !limited && !locked; }
};

// "cache 5min, rate 30 per minute (sliding log), lock send-email:{user_id} for 30s"
std::string describe(tool_guards const& g);

// A guard specification as configuration writes it, items separated by ',':
//   cache:<ttl>[:session][:errors=<ttl>][:fill-lock][:no-early-refresh]
//   rate:<max>/<window>[:counter|:log][:open|:closed]
//   lock:<key template>/<ttl>[:wait[=<timeout>]][:proceed|:refuse][:no-extend]
// e.g. "cache:300s,rate:30/1min" or "lock:send-email:{user_id}/30s:wait=5s". Durations as
// core/duration.hpp reads them. Errors say which item and why.
result<tool_guards> parse_tool_guards(std::string_view spec);
// "<tool>=<spec>" entries separated by ';' (MCPD_GUARDS) or one entry (a --guard flag).
result<std::vector<std::pair<std::string, tool_guards>>>
parse_guard_assignments(std::string_view text);

struct guard_options {
    std::string key_prefix = "mcp:"; // REDIS_KEY_PREFIX
    rate_failure rate_unavailable = rate_failure::open;
    lock_failure lock_unavailable = lock_failure::proceed;
    cache_options cache;
    duration redis_timeout = 2s; // per guard request: a hung Redis delays a call this long
};

// A tools/call as the guards see it.
struct tool_call {
    std::string_view tool;
    std::string_view session; // empty for stateless requests
    boost::json::object const& arguments;
    std::string_view client = {}; // stateless requests: the client's address, when known
};

// The rate-limit bucket of requests without a session (stateless 2026-07-28 requests) whose
// client is unknown; with a known client, "stateless:<client>" (rate_limit_subject).
inline constexpr std::string_view stateless_session = "stateless";

// Whom a rate limit counts: the session; without one, the client; else every stateless caller.
std::string rate_limit_subject(std::string_view session, std::string_view client);

// A CallToolResult JSON with one text block and isError.
boost::json::object tool_error_result(std::string_view text);

class guard_set {
public:
    guard_set(std::shared_ptr<cache_backend> cache, std::shared_ptr<rate_limit_backend> rate,
              std::shared_ptr<lock_backend> locks, guard_options opts = {},
              std::vector<std::shared_ptr<redis::client>> clients = {});
    ~guard_set();
    guard_set(guard_set const&) = delete;
    guard_set& operator=(guard_set const&) = delete;

    // Everything in this process.
    static std::shared_ptr<guard_set> in_process(guard_options opts = {},
                                                 memory_cache_limits cache_limits = {});
    // Everything in Redis, shared by a fleet: one client for the cache and locks and one for
    // rate limits, both without an offline queue and without re-sending requests after a lost
    // connection (a call during an outage is decided by the failure policy at once, and a
    // reconnect does not replay a burst). The config's key_prefix is replaced by opts.key_prefix
    // applied by the guards. Connecting starts now, in the background.
    static std::shared_ptr<guard_set> with_redis(boost::asio::any_io_executor const& ex,
                                                 redis::config cfg, guard_options opts = {});
    // The guards of another event loop of this process: a guard_set over the same backends,
    // which must be in process (they are thread-safe); nullptr when they are Redis (each loop
    // then connects clients of its own: a client belongs to one loop).
    [[nodiscard]] std::shared_ptr<guard_set> share_in_process() const;

    // --- the handler-level API ---

    // Cache-aside on <prefix>cache:<key>. T (what fn's awaitable yields) goes through
    // boost::json::value_from / value_to; a throw from fn is never cached.
    template <class F>
    auto with_cache(std::string key, duration ttl, F fn);
    boost::asio::awaitable<boost::json::value> with_cache_json(std::string key, cache_settings s,
                                                               response_cache::producer fn);

    // One call of `tool` by `session`: allowed (and counted) or refused, with retry_after.
    boost::asio::awaitable<rate_decision>
    check_rate_limit(std::string_view session, std::string_view tool, std::int64_t max,
                     duration window, rate_algorithm algorithm = rate_algorithm::sliding_log);
    boost::asio::awaitable<rate_decision>
    check_rate_limit(std::string_view session, std::string_view tool, rate_policy const& p);

    // Runs fn() or fn(lock_lease const&) holding <prefix>lock:<resource>; throws lock_busy or
    // lock_unavailable without running it (see lock.hpp).
    template <class F>
    auto with_lock(std::string resource, duration ttl, F fn);
    template <class F>
    auto with_lock(std::string resource, lock_policy p, F fn);

    // --- declared guards around a tool call ---
    using tool_body = std::function<boost::asio::awaitable<boost::json::object>(lock_lease const&)>;
    boost::asio::awaitable<boost::json::object> run_tool(tool_call call, tool_guards const& g,
                                                         tool_body handler);

    [[nodiscard]] counts stats() const noexcept { return counters_.snapshot(); }
    // The Redis clients of the Redis backends (none in process), for readiness checks.
    [[nodiscard]] std::vector<std::shared_ptr<redis::client>> const&
    redis_clients() const noexcept {
        return clients_;
    }
    [[nodiscard]] key_space const& keys() const noexcept { return keys_; }
    [[nodiscard]] guard_options const& options() const noexcept { return opts_; }
    [[nodiscard]] std::string_view backend_name() const noexcept;
    [[nodiscard]] response_cache& cache() noexcept { return cache_; }
    [[nodiscard]] rate_limit_backend& rate_backend() noexcept { return *rate_; }
    [[nodiscard]] lock_service& locks() noexcept { return locks_; }

    // Redis backends: waits up to `limit` until each client answers a PING; true when they did
    // (and always for in-process backends). Startup may use it; nothing requires it.
    boost::asio::awaitable<bool> wait_ready(duration limit);
    // Closes the Redis clients cleanly (QUIT after pending replies). Idempotent.
    boost::asio::awaitable<void> close();

private:
    lock_request lock_request_for(std::string resource_key, lock_policy const& p) const;

    guard_options opts_;
    key_space keys_;
    counters counters_;
    std::shared_ptr<rate_limit_backend> rate_;
    response_cache cache_;
    lock_service locks_;
    outage_log rate_outage_;
    std::vector<std::shared_ptr<redis::client>> clients_;
    std::shared_ptr<cache_backend> cache_backend_;
    std::shared_ptr<lock_backend> lock_backend_;
};

// From the environment (`getenv` injectable for tests):
//   MCPD_GUARD_BACKEND   redis | memory; unset: redis when REDIS_URL or REDIS_HOST is set
//   REDIS_URL, REDIS_HOST, REDIS_PORT, … as redis::config_from_env reads them
//   REDIS_KEY_PREFIX     default "mcp:"
//   MCPD_RATE_LIMIT_FAILURE  open (default) | closed
//   MCPD_LOCK_FAILURE        proceed (default) | refuse
//   MCPD_CACHE_MAX_ENTRIES, MCPD_CACHE_MAX_BYTES  the in-process cache's bounds
result<std::shared_ptr<guard_set>>
guard_set_from_env(boost::asio::any_io_executor const& ex,
                   std::function<char const*(char const*)> getenv = nullptr);

// --- templates ---

namespace detail {
template <class A>
struct awaited;
template <class T>
struct awaited<boost::asio::awaitable<T>> {
    using type = T;
};
template <class F>
auto invoke_locked(F& fn, lock_lease const& lease) {
    if constexpr (std::is_invocable_v<F&, lock_lease const&>)
        return fn(lease);
    else
        return fn();
}
template <class F>
using locked_result_t = typename awaited<decltype(invoke_locked(
    std::declval<F&>(), std::declval<lock_lease const&>()))>::type;
} // namespace detail

template <class F>
auto guard_set::with_cache(std::string key, duration ttl, F fn) {
    using T = typename detail::awaited<std::invoke_result_t<F&>>::type;
    return [](guard_set& self, std::string k, duration t, F f) -> boost::asio::awaitable<T> {
        response_cache::producer produce = [&f]() -> boost::asio::awaitable<boost::json::value> {
            if constexpr (std::is_same_v<T, boost::json::value>) {
                co_return co_await f();
            } else {
                T r = co_await f();
                co_return boost::json::value_from(std::move(r));
            }
        };
        cache_settings s;
        s.ttl = t;
        auto v = co_await self.with_cache_json(std::move(k), s, std::move(produce));
        if constexpr (std::is_same_v<T, boost::json::value>)
            co_return v;
        else
            co_return boost::json::value_to<T>(v);
    }(*this, std::move(key), ttl, std::move(fn));
}

template <class F>
auto guard_set::with_lock(std::string resource, duration ttl, F fn) {
    lock_policy p;
    p.ttl = ttl;
    return with_lock(std::move(resource), std::move(p), std::move(fn));
}

template <class F>
auto guard_set::with_lock(std::string resource, lock_policy p, F fn) {
    using R = detail::locked_result_t<F>;
    return [](guard_set& self, lock_request req, F f) -> boost::asio::awaitable<R> {
        if constexpr (std::is_void_v<R>) {
            lock_service::body_fn body =
                [&f](lock_lease const& lease) -> boost::asio::awaitable<void> {
                co_await detail::invoke_locked(f, lease);
            };
            co_await self.locks_.run(std::move(req), body);
        } else {
            std::optional<R> out;
            lock_service::body_fn body =
                [&f, &out](lock_lease const& lease) -> boost::asio::awaitable<void> {
                out.emplace(co_await detail::invoke_locked(f, lease));
            };
            co_await self.locks_.run(std::move(req), body);
            co_return std::move(*out);
        }
    }(*this, lock_request_for(keys_.lock_key(resource), p), std::move(fn));
}

} // namespace mcpd::guard
