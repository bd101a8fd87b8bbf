// guard/guards.cpp — tool_guards declarations and their text form, guard_set (the backends and
// policies), and the declared guards around a tool call. See guards.hpp.
#include "mcpd/guard/guards.hpp"

#include "core/boolean.hpp"
#include "core/log.hpp"
#include "mcpd/guard/error.hpp"
#include "mcpd/guard/texts.hpp"
#include "mcpd/redis/client.hpp"
#include "mcpd/redis/config.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/errc.hpp>

#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace mcpd::guard {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;

namespace {

error invalid(std::string detail) {
    return error(errc::invalid_spec, std::move(detail));
}

void require(bool ok, std::string const& what) {
    if (!ok)
        throw std::invalid_argument(what);
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    while (true) {
        auto at = s.find(sep);
        out.push_back(s.substr(0, at));
        if (at == std::string_view::npos)
            break;
        s.remove_prefix(at + 1);
    }
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

result<duration> positive_duration(std::string_view text, std::string const& item) {
    auto d = parse_duration(text);
    if (!d)
        return invalid("guard \"" + item + "\": " + d.error().detail);
    if (d->count() <= 0)
        return invalid("guard \"" + item + "\": the duration must be more than 0ms");
    return *d;
}

} // namespace

// --- tool_guards ---------------------------------------------------------------------------

tool_guards& tool_guards::cache(duration ttl) {
    cache_policy p;
    p.ttl = ttl;
    return cache(p);
}

tool_guards& tool_guards::cache(cache_policy p) {
    require(p.ttl.count() > 0, "cache: the TTL must be more than 0ms");
    require(!p.error_ttl || p.error_ttl->count() > 0, "cache: the error TTL must be more than 0ms");
    cached = p;
    return *this;
}

tool_guards& tool_guards::rate_limit(std::int64_t max, duration window) {
    rate_policy p;
    p.max = max;
    p.window = window;
    return rate_limit(p);
}

tool_guards& tool_guards::rate_limit(rate_policy p) {
    require(p.max >= 1, "rate_limit: max must be at least 1");
    require(p.window.count() > 0, "rate_limit: the window must be more than 0ms");
    limited = p;
    return *this;
}

tool_guards& tool_guards::lock(std::string key_template, duration ttl) {
    lock_policy p;
    p.key_template = std::move(key_template);
    p.ttl = ttl;
    return lock(std::move(p));
}

tool_guards& tool_guards::lock(lock_policy p) {
    require(!p.key_template.empty(), "lock: the key template is empty");
    auto fields = key_template_fields(p.key_template);
    require(fields.has_value(), fields ? std::string() : "lock: " + fields.error().detail);
    require(p.ttl.count() > 0, "lock: the TTL must be more than 0ms");
    require(p.wait_timeout.count() >= 0, "lock: the wait timeout must not be negative");
    locked = std::move(p);
    return *this;
}

std::string describe(tool_guards const& g) {
    std::vector<std::string> parts;
    if (g.cached) {
        std::string s = "cache " + format_duration(g.cached->ttl);
        if (g.cached->scope == cache_scope::session)
            s += " per session";
        if (g.cached->error_ttl)
            s += ", errors " + format_duration(*g.cached->error_ttl);
        if (g.cached->fill_lock)
            s += ", fill lock";
        parts.push_back(std::move(s));
    }
    if (g.limited) {
        std::string s =
            "rate " + std::to_string(g.limited->max) + " per " +
            window_in_words(g.limited->window) +
            (g.limited->algorithm == rate_algorithm::sliding_log ? " (sliding log)"
                                                                 : " (sliding counter)");
        if (g.limited->on_unavailable)
            s += *g.limited->on_unavailable == rate_failure::open ? ", fail open" : ", fail closed";
        parts.push_back(std::move(s));
    }
    if (g.locked) {
        std::string s = "lock " + g.locked->key_template + " for " + format_duration(g.locked->ttl);
        if (g.locked->when_busy == lock_wait::wait)
            s += ", wait up to " + format_duration(g.locked->wait_timeout);
        if (g.locked->on_unavailable)
            s += *g.locked->on_unavailable == lock_failure::proceed ? ", proceed when down"
                                                                    : ", refuse when down";
        parts.push_back(std::move(s));
    }
    std::string out;
    for (auto const& p : parts)
        out += (out.empty() ? "" : ", ") + p;
    return out.empty() ? "none" : out;
}

// --- the text form -------------------------------------------------------------------------

result<tool_guards> parse_tool_guards(std::string_view spec) {
    tool_guards g;
    if (trim(spec).empty())
        return invalid("guard specification is empty");
    for (auto raw : split(spec, ',')) {
        auto item_view = trim(raw);
        std::string item(item_view);
        auto colon = item_view.find(':');
        auto kind = item_view.substr(0, colon);
        if (colon == std::string_view::npos)
            return invalid("guard \"" + item + "\": expected cache:…, rate:… or lock:…");
        auto rest = item_view.substr(colon + 1);
        try {
            if (kind == "cache") {
                auto fields = split(rest, ':');
                auto ttl = positive_duration(fields[0], item);
                if (!ttl)
                    return ttl.error();
                cache_policy p;
                p.ttl = *ttl;
                for (std::size_t i = 1; i < fields.size(); ++i) {
                    auto f = fields[i];
                    if (f == "session") {
                        p.scope = cache_scope::session;
                    } else if (f == "shared") {
                        p.scope = cache_scope::shared;
                    } else if (f.starts_with("errors=")) {
                        auto e = positive_duration(f.substr(7), item);
                        if (!e)
                            return e.error();
                        p.error_ttl = *e;
                    } else if (f == "fill-lock") {
                        p.fill_lock = true;
                    } else if (f == "no-early-refresh") {
                        p.early_refresh = false;
                    } else {
                        return invalid("guard \"" + item + "\": unknown cache option \"" +
                                       std::string(f) +
                                       "\" (session, shared, errors=<ttl>, fill-lock, "
                                       "no-early-refresh)");
                    }
                }
                g.cache(p);
            } else if (kind == "rate") {
                auto fields = split(rest, ':');
                auto slash = fields[0].find('/');
                if (slash == std::string_view::npos)
                    return invalid("guard \"" + item + "\": expected rate:<max>/<window>");
                auto max_text = fields[0].substr(0, slash);
                std::int64_t max = 0;
                auto [end, ec] =
                    std::from_chars(max_text.data(), max_text.data() + max_text.size(), max);
                if (ec != std::errc() || end != max_text.data() + max_text.size() || max < 1)
                    return invalid("guard \"" + item +
                                   "\": the maximum must be a whole number "
                                   "of at least 1");
                auto window = positive_duration(fields[0].substr(slash + 1), item);
                if (!window)
                    return window.error();
                rate_policy p;
                p.max = max;
                p.window = *window;
                for (std::size_t i = 1; i < fields.size(); ++i) {
                    auto f = fields[i];
                    if (f == "counter")
                        p.algorithm = rate_algorithm::sliding_counter;
                    else if (f == "log")
                        p.algorithm = rate_algorithm::sliding_log;
                    else if (f == "open")
                        p.on_unavailable = rate_failure::open;
                    else if (f == "closed")
                        p.on_unavailable = rate_failure::closed;
                    else
                        return invalid("guard \"" + item + "\": unknown rate option \"" +
                                       std::string(f) + "\" (counter, log, open, closed)");
                }
                g.rate_limit(p);
            } else if (kind == "lock") {
                auto slash = rest.rfind('/');
                if (slash == std::string_view::npos || slash == 0)
                    return invalid("guard \"" + item + "\": expected lock:<key template>/<ttl>");
                lock_policy p;
                p.key_template = std::string(rest.substr(0, slash));
                auto fields = split(rest.substr(slash + 1), ':');
                auto ttl = positive_duration(fields[0], item);
                if (!ttl)
                    return ttl.error();
                p.ttl = *ttl;
                for (std::size_t i = 1; i < fields.size(); ++i) {
                    auto f = fields[i];
                    if (f == "wait") {
                        p.when_busy = lock_wait::wait;
                    } else if (f.starts_with("wait=")) {
                        auto w = positive_duration(f.substr(5), item);
                        if (!w)
                            return w.error();
                        p.when_busy = lock_wait::wait;
                        p.wait_timeout = *w;
                    } else if (f == "fail-fast") {
                        p.when_busy = lock_wait::fail_fast;
                    } else if (f == "proceed") {
                        p.on_unavailable = lock_failure::proceed;
                    } else if (f == "refuse") {
                        p.on_unavailable = lock_failure::refuse;
                    } else if (f == "no-extend") {
                        p.auto_extend = false;
                    } else {
                        return invalid("guard \"" + item + "\": unknown lock option \"" +
                                       std::string(f) +
                                       "\" (wait, wait=<timeout>, fail-fast, proceed, refuse, "
                                       "no-extend)");
                    }
                }
                g.lock(std::move(p));
            } else {
                return invalid("guard \"" + item + "\": unknown guard \"" + std::string(kind) +
                               "\" (cache, rate, lock)");
            }
        } catch (std::invalid_argument const& e) {
            return invalid("guard \"" + item + "\": " + e.what());
        }
    }
    return g;
}

result<std::vector<std::pair<std::string, tool_guards>>>
parse_guard_assignments(std::string_view text) {
    std::vector<std::pair<std::string, tool_guards>> out;
    for (auto raw : split(text, ';')) {
        auto entry = trim(raw);
        if (entry.empty())
            continue;
        auto eq = entry.find('=');
        if (eq == std::string_view::npos || eq == 0)
            return invalid("guards \"" + std::string(entry) +
                           "\": expected <tool>=<guards>, e.g. echo=cache:300s,rate:30/1min");
        auto g = parse_tool_guards(entry.substr(eq + 1));
        if (!g)
            return error(g.error().code, "guards for " + std::string(trim(entry.substr(0, eq))) +
                                             ": " + g.error().detail);
        out.emplace_back(std::string(trim(entry.substr(0, eq))), std::move(*g));
    }
    return out;
}

// --- guard_set -----------------------------------------------------------------------------

json::object tool_error_result(std::string_view text) {
    json::array content;
    content.push_back(json::object{{"type", "text"}, {"text", text}});
    return json::object{{"content", std::move(content)}, {"isError", true}};
}

guard_set::guard_set(std::shared_ptr<cache_backend> cache, std::shared_ptr<rate_limit_backend> rate,
                     std::shared_ptr<lock_backend> locks, guard_options opts,
                     std::vector<std::shared_ptr<redis::client>> clients)
    : opts_(std::move(opts))
    , keys_(opts_.key_prefix)
    , rate_(std::move(rate))
    , cache_(cache, counters_, opts_.cache)
    , locks_(locks, counters_)
    , rate_outage_("rate limit",
                   opts_.rate_unavailable == rate_failure::open
                       ? "calls are allowed unchecked (fail open)"
                       : "calls are refused (fail closed)",
                   counters_, event::rate_outage, event::rate_error)
    , clients_(std::move(clients))
    , cache_backend_(std::move(cache))
    , lock_backend_(std::move(locks)) {}

guard_set::~guard_set() = default;

std::shared_ptr<guard_set> guard_set::share_in_process() const {
    if (!clients_.empty())
        return nullptr;
    return std::make_shared<guard_set>(cache_backend_, rate_, lock_backend_, opts_);
}

std::shared_ptr<guard_set> guard_set::in_process(guard_options opts,
                                                 memory_cache_limits cache_limits) {
    return std::make_shared<guard_set>(std::make_shared<memory_cache_backend>(cache_limits),
                                       std::make_shared<memory_rate_limit_backend>(),
                                       std::make_shared<memory_lock_backend>(), std::move(opts));
}

std::shared_ptr<guard_set> guard_set::with_redis(asio::any_io_executor const& ex, redis::config cfg,
                                                 guard_options opts) {
    cfg.key_prefix.clear();
    cfg.offline_queue = false;
    cfg.max_retries_per_request = 0;
    if (opts.redis_timeout.count() > 0 &&
        (cfg.command_timeout.count() == 0 || cfg.command_timeout > opts.redis_timeout))
        cfg.command_timeout = opts.redis_timeout;
    auto main_cfg = cfg;
    main_cfg.client_name = "mcpd-guard";
    auto rate_cfg = cfg;
    rate_cfg.client_name = "mcpd-ratelimit";
    auto main = std::make_shared<redis::client>(ex, main_cfg);
    auto rate = std::make_shared<redis::client>(ex, rate_cfg);
    std::shared_ptr<cache_backend> cache;
    if (opts.cache.near_cache)
        cache = std::make_shared<near_cache_backend>(
            main, opts.key_prefix + "cache:", opts.cache.near_limits, opts.cache.near_max_copy_age);
    else
        cache = std::make_shared<redis_cache_backend>(main);
    // Without an offline queue a request before the first connection fails: connect now.
    main->start();
    rate->start();
    std::vector<std::shared_ptr<redis::client>> clients{main, rate};
    return std::make_shared<guard_set>(
        std::move(cache), std::make_shared<redis_rate_limit_backend>(rate),
        std::make_shared<redis_lock_backend>(main), std::move(opts), std::move(clients));
}

std::string_view guard_set::backend_name() const noexcept {
    return clients_.empty() ? "in-process" : "redis";
}

awaitable<json::value> guard_set::with_cache_json(std::string key, cache_settings s,
                                                  response_cache::producer fn) {
    co_return co_await cache_.get_or_compute(keys_.cache_key(key), s, std::move(fn));
}

std::string rate_limit_subject(std::string_view session, std::string_view client) {
    if (!session.empty())
        return std::string(session);
    if (client.empty())
        return std::string(stateless_session);
    return std::string(stateless_session) + ":" + std::string(client);
}

awaitable<rate_decision> guard_set::check_rate_limit(std::string_view session,
                                                     std::string_view tool, std::int64_t max,
                                                     duration window, rate_algorithm algorithm) {
    rate_policy p;
    p.max = max;
    p.window = window;
    p.algorithm = algorithm;
    co_return co_await check_rate_limit(session, tool, p);
}

awaitable<rate_decision> guard_set::check_rate_limit(std::string_view session,
                                                     std::string_view tool, rate_policy const& p) {
    if (p.max < 1 || p.window.count() <= 0)
        throw std::invalid_argument("check_rate_limit: max must be at least 1 and the window "
                                    "more than 0ms");
    if (session.empty())
        session = stateless_session;
    auto key = p.algorithm == rate_algorithm::sliding_log ? keys_.rate_log_key(session, tool)
                                                          : keys_.rate_counter_key(session, tool);
    auto r = co_await rate_->hit(std::move(key), p.max, p.window, p.algorithm);
    if (r) {
        rate_outage_.success();
        counters_.add(r->allowed ? event::rate_allowed : event::rate_denied);
        co_return *r;
    }
    rate_outage_.failure(r.error());
    rate_decision d;
    d.limit = p.max;
    d.decided = false;
    if (p.on_unavailable.value_or(opts_.rate_unavailable) == rate_failure::open) {
        counters_.add(event::rate_failed_open);
        d.allowed = true;
    } else {
        counters_.add(event::rate_failed_closed);
        d.allowed = false;
        d.retry_after = 1s;
    }
    co_return d;
}

lock_request guard_set::lock_request_for(std::string resource_key, lock_policy const& p) const {
    lock_request r;
    r.key = std::move(resource_key);
    r.ttl = p.ttl;
    r.when_busy = p.when_busy;
    r.wait_timeout = p.wait_timeout;
    r.on_unavailable = p.on_unavailable.value_or(opts_.lock_unavailable);
    r.auto_extend = p.auto_extend;
    return r;
}

awaitable<json::object> guard_set::run_tool(tool_call call, tool_guards const& g,
                                            tool_body handler) {
    // Everything the guards need from the call is taken before the handler consumes it.
    std::string tool(call.tool);
    std::string session = rate_limit_subject(call.session, call.client);

    if (g.limited) {
        auto d = co_await check_rate_limit(session, tool, *g.limited);
        if (!d.allowed) {
            auto out = tool_error_result(d.decided ? rate_limit_exceeded_text(g.limited->max, tool,
                                                                              g.limited->window,
                                                                              d.retry_after)
                                                   : rate_limit_unavailable_text(tool));
            out["_meta"] = json::object{{"io.mcpd/retryAfterMs", d.retry_after.count()}};
            co_return out;
        }
    }

    std::optional<lock_request> lock;
    if (g.locked) {
        auto resource = fill_key_template(g.locked->key_template, call.arguments);
        if (!resource)
            co_return tool_error_result("Invalid arguments: " + resource.error().detail);
        lock = lock_request_for(keys_.lock_key(*resource), *g.locked);
    }
    // A result scoped to its session is private to it: a stateless request has no session to
    // keep it in, so it is not cached at all (a client address is no privacy boundary).
    bool cached = g.cached && !(g.cached->scope == cache_scope::session && call.session.empty());
    std::string cache_key;
    if (cached)
        cache_key = keys_.tool_cache_key(tool, call.arguments, g.cached->scope, session);

    // The lock around the handler. Refusals travel as exceptions through the cache (which never
    // stores an exception, and hands it to the callers waiting on the same key).
    auto locked_call = [&]() -> awaitable<json::object> {
        if (!lock) {
            lock_lease none;
            co_return co_await handler(none);
        }
        json::object out;
        lock_service::body_fn body = [&](lock_lease const& lease) -> awaitable<void> {
            out = co_await handler(lease);
        };
        co_await locks_.run(*lock, body);
        co_return out;
    };

    std::string refusal;
    json::object out;
    try {
        if (cached) {
            cache_settings s;
            s.ttl = g.cached->ttl;
            s.error_ttl = g.cached->error_ttl;
            s.early_refresh = g.cached->early_refresh;
            s.fill_lock = g.cached->fill_lock;
            response_cache::producer produce = [&]() -> awaitable<json::value> {
                co_return co_await locked_call();
            };
            response_cache::classifier is_error = [](json::value const& v) {
                auto const* o = v.if_object();
                auto const* e = o ? o->if_contains("isError") : nullptr;
                return e != nullptr && e->is_bool() && e->get_bool();
            };
            auto v = co_await cache_.get_or_compute(cache_key, s, produce, is_error);
            if (v.is_object())
                out = std::move(v.get_object());
            else
                out = tool_error_result("cached result of " + tool + " is not an object");
        } else {
            out = co_await locked_call();
        }
    } catch (lock_busy const& e) {
        refusal = e.what();
    } catch (lock_unavailable const& e) {
        refusal = e.what();
    }
    if (!refusal.empty())
        co_return tool_error_result(refusal);
    co_return out;
}

awaitable<bool> guard_set::wait_ready(duration limit) {
    // A PING that gets its PONG, not the client's state: that may still read "ready" for a
    // moment after the connection dropped.
    auto deadline = std::chrono::steady_clock::now() + limit;
    asio::steady_timer t(co_await asio::this_coro::executor);
    for (auto const& c : clients_) {
        for (;;) {
            auto pong = co_await c->exec(redis::command("PING"));
            if (pong)
                break;
            if (std::chrono::steady_clock::now() >= deadline)
                co_return false;
            t.expires_after(10ms);
            co_await t.async_wait(asio::use_awaitable);
        }
    }
    co_return true;
}

awaitable<void> guard_set::close() {
    for (auto const& c : clients_)
        co_await c->quit();
}

// --- configuration -------------------------------------------------------------------------

result<std::shared_ptr<guard_set>>
guard_set_from_env(asio::any_io_executor const& ex,
                   std::function<char const*(char const*)> getenv) {
    auto get = [&](char const* name) -> std::string_view {
        char const* v = getenv ? getenv(name) : std::getenv(name);
        return v ? std::string_view(v) : std::string_view();
    };
    guard_options opts;
    // Set but empty is a valid choice: no prefix.
    if (auto prefix = get("REDIS_KEY_PREFIX"); prefix.data() != nullptr)
        opts.key_prefix = std::string(prefix);
    if (auto f = get("MCPD_RATE_LIMIT_FAILURE"); !f.empty()) {
        if (f == "open")
            opts.rate_unavailable = rate_failure::open;
        else if (f == "closed")
            opts.rate_unavailable = rate_failure::closed;
        else
            return invalid("MCPD_RATE_LIMIT_FAILURE: expected open or closed, not '" +
                           std::string(f) + "'");
    }
    if (auto f = get("MCPD_LOCK_FAILURE"); !f.empty()) {
        if (f == "proceed")
            opts.lock_unavailable = lock_failure::proceed;
        else if (f == "refuse")
            opts.lock_unavailable = lock_failure::refuse;
        else
            return invalid("MCPD_LOCK_FAILURE: expected proceed or refuse, not '" + std::string(f) +
                           "'");
    }
    auto backend = get("MCPD_GUARD_BACKEND");
    bool use_redis = false;
    if (backend == "redis")
        use_redis = true;
    else if (backend == "memory")
        use_redis = false;
    else if (backend.empty())
        use_redis = !get("REDIS_URL").empty() || !get("REDIS_HOST").empty() ||
                    !get("REDIS_SENTINELS").empty() || !get("REDIS_CLUSTER_NODES").empty();
    else
        return invalid("MCPD_GUARD_BACKEND: expected redis or memory, not '" +
                       std::string(backend) + "'");
    memory_cache_limits limits;
    auto size = [&](char const* name, std::size_t& out) -> result<void> {
        auto text = get(name);
        if (text.empty())
            return {};
        std::size_t n = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        if (ec != std::errc() || end != text.data() + text.size())
            return invalid(std::string(name) + ": expected a whole number, not '" +
                           std::string(text) + "'");
        out = n;
        return {};
    };
    if (auto r = size("MCPD_CACHE_MAX_ENTRIES", limits.max_entries); !r)
        return r.error();
    if (auto r = size("MCPD_CACHE_MAX_BYTES", limits.max_bytes); !r)
        return r.error();
    if (auto near = get("MCPD_NEAR_CACHE"); !near.empty()) {
        auto on = parse_bool(near);
        if (!on)
            return invalid("MCPD_NEAR_CACHE: expected on or off, not '" + std::string(near) + "'");
        opts.cache.near_cache = *on;
    }
    if (use_redis) {
        auto cfg = redis::config_from_env({}, getenv);
        if (!cfg)
            return cfg.error();
        opts.cache.near_limits = limits; // the near copies are bounded like the in-process cache
        return guard_set::with_redis(ex, std::move(*cfg), std::move(opts));
    }
    return guard_set::in_process(std::move(opts), limits);
}

} // namespace mcpd::guard
