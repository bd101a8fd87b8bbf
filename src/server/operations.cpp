// server/operations.cpp — readiness checks and the /health, /ready, /metrics endpoints.
// See operations.hpp.
#include "mcpd/server/operations.hpp"

#include "core/log.hpp"
#include "core/on_loop.hpp"
#include "mcpd/redis/client.hpp"
#include "mcpd/store/session_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <fmt/format.h>

#include <vector>

namespace mcpd::server {

namespace asio = boost::asio;
namespace json = boost::json;
using clock = std::chrono::steady_clock;

std::string_view to_string(readiness r) noexcept {
    switch (r) {
    case readiness::ok:
        return "ok";
    case readiness::degraded:
        return "degraded";
    case readiness::fail:
        return "fail";
    case readiness::draining:
        return "draining";
    }
    return "fail";
}

namespace {

double ms(clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

} // namespace

struct dependency_check {
    std::string name, kind, effect;
    bool required = true;
    operations::check_fn run;
    std::function<json::object()> describe; // live details (URL, connection state): may be empty
    std::shared_ptr<void const> owner;

    // The last answer.
    enum class status { unknown, ok, fail } last = status::unknown;
    double latency_ms = 0;
    std::string error;
    json::object details;
    std::int64_t checked_at_ms = 0;
    std::int64_t since_ms = 0; // when `last` last changed

    bool pending = false;
    clock::time_point started{};

    metrics::gauge* up = nullptr;
    metrics::histogram* rtt = nullptr; // Redis: the PING's round trip
};

struct operations::impl : std::enable_shared_from_this<impl> {
    std::function<asio::awaitable<void>()> refresh_metrics;

    // The page for /health, /ready or /metrics (on this object's executor).
    asio::awaitable<http::response> answer(std::string path) {
        if (path == "/health") {
            // Liveness: this process answers. Draining is not a reason to restart it.
            json::object body{{"status", "ok"},
                              {"draining", draining},
                              {"uptime_s", (unix_time_ms() - started_ms) / 1000}};
            co_return http::make_response(http::status::ok, json::serialize(body),
                                          "application/json");
        }
        if (path == "/ready") {
            auto body = report();
            auto st = overall();
            auto code = st == readiness::ok || st == readiness::degraded
                            ? http::status::ok
                            : http::status::service_unavailable;
            auto res = http::make_response(code, json::serialize(body), "application/json");
            res.set("Cache-Control", "no-store");
            co_return res;
        }
        if (refresh_metrics)
            co_await refresh_metrics();
        co_return http::make_response(http::status::ok, reg.render(),
                                      "text/plain; version=0.0.4; charset=utf-8");
    }

    impl(asio::any_io_executor e, metrics::registry& r, operations_options o)
        : ex(std::move(e))
        , reg(r)
        , opts(o)
        , round_timer(ex)
        , interval_timer(ex)
        , started_ms(unix_time_ms()) {
        readiness_gauge = &reg.gauge("mcpd_readiness",
                                     "1 for the server's current readiness status (ok, degraded, "
                                     "fail, draining), 0 for the others",
                                     {"status"});
        up_family = &reg.gauge("mcpd_dependency_up",
                               "1 when the dependency's last check passed in time, else 0",
                               {"dependency", "kind"});
        publish();
    }

    asio::any_io_executor ex;
    metrics::registry& reg;
    operations_options opts;
    std::vector<std::shared_ptr<dependency_check>> checks;
    std::vector<std::size_t> collectors;
    asio::steady_timer round_timer;    // a round waits on it for its checks
    asio::steady_timer interval_timer; // between rounds
    bool waiting = false;              // a round is waiting on round_timer
    bool running = false;
    bool draining = false;
    std::int64_t started_ms;
    std::int64_t last_round_ms = 0;
    metrics::gauge_family* readiness_gauge = nullptr;
    metrics::gauge_family* up_family = nullptr;

    readiness overall() const {
        if (draining)
            return readiness::draining;
        bool degraded = false;
        for (auto const& c : checks) {
            bool failing = c->last != dependency_check::status::ok;
            if (failing && c->required)
                return readiness::fail;
            degraded = degraded || failing;
        }
        return degraded ? readiness::degraded : readiness::ok;
    }

    void publish() {
        auto now = overall();
        for (auto r : {readiness::ok, readiness::degraded, readiness::fail, readiness::draining})
            readiness_gauge->with({std::string(to_string(r))}).set(r == now ? 1 : 0);
    }

    void add(std::shared_ptr<dependency_check> c) {
        c->up = &up_family->with({c->name, c->kind});
        checks.push_back(std::move(c));
    }

    void settle(dependency_check& c, result<json::object> r, clock::duration took) {
        c.pending = false;
        auto before = c.last;
        c.latency_ms = ms(took);
        c.checked_at_ms = unix_time_ms();
        if (took > opts.timeout) {
            c.last = dependency_check::status::fail;
            c.error = fmt::format("answered after {:.0f} ms, over the {} limit", c.latency_ms,
                                  format_duration(opts.timeout));
        } else if (!r) {
            c.last = dependency_check::status::fail;
            c.error = r.error().message();
        } else {
            c.last = dependency_check::status::ok;
            c.error.clear();
            c.details = std::move(*r);
            if (c.rtt != nullptr)
                c.rtt->observe(took);
        }
        changed(c, before);
    }

    void changed(dependency_check& c, dependency_check::status before) {
        c.up->set(c.last == dependency_check::status::ok ? 1 : 0);
        if (c.last == before)
            return;
        c.since_ms = unix_time_ms();
        if (c.last == dependency_check::status::ok && before != dependency_check::status::unknown)
            log::info("ready: {} is back ({:.2f} ms)", c.name, c.latency_ms);
        else if (c.last == dependency_check::status::fail)
            log::warn("ready: {} failed: {}{}", c.name, c.error,
                      c.required ? " (not ready)"
                                 : (c.effect.empty() ? std::string(" (degraded)")
                                                     : " (degraded: " + c.effect + ")"));
        publish();
    }

    void start_check(std::shared_ptr<dependency_check> const& c) {
        c->pending = true;
        c->started = clock::now();
        auto self = shared_from_this();
        auto task = [self, c]() -> asio::awaitable<void> {
            result<json::object> r = json::object{};
            try {
                r = co_await c->run();
            } catch (std::exception const& e) {
                r = error(make_error_code(boost::system::errc::io_error), e.what());
            }
            self->settle(*c, std::move(r), clock::now() - c->started);
            if (self->waiting && !self->any_pending())
                self->round_timer.cancel();
        };
        asio::co_spawn(ex, std::move(task), asio::detached);
    }

    bool any_pending() const {
        for (auto const& c : checks)
            if (c->pending)
                return true;
        return false;
    }

    asio::awaitable<void> round() {
        auto deadline = clock::now() + opts.timeout;
        for (auto const& c : checks) {
            if (c->pending) {
                // Still waiting since an earlier round: not started twice.
                auto before = c->last;
                c->last = dependency_check::status::fail;
                c->error = fmt::format("no answer for {:.0f} ms", ms(clock::now() - c->started));
                changed(*c, before);
                continue;
            }
            start_check(c);
        }
        // Single-threaded: no check can finish between this test and the wait below, and each
        // one that finishes later cancels the wait when it is the last.
        while (any_pending() && clock::now() < deadline) {
            waiting = true;
            round_timer.expires_at(deadline);
            boost::system::error_code ec;
            co_await round_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            waiting = false;
        }
        for (auto const& c : checks) {
            if (!c->pending)
                continue;
            auto before = c->last;
            c->last = dependency_check::status::fail;
            c->error = "no answer within " + format_duration(opts.timeout);
            c->latency_ms = ms(clock::now() - c->started);
            c->checked_at_ms = unix_time_ms();
            changed(*c, before);
        }
        last_round_ms = unix_time_ms();
        publish();
    }

    asio::awaitable<void> loop() {
        auto self = shared_from_this();
        while (running) {
            interval_timer.expires_after(opts.interval);
            boost::system::error_code ec;
            co_await interval_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            if (!running)
                break;
            co_await round();
        }
    }

    json::object report() const {
        json::object checks_out;
        for (auto const& c : checks) {
            json::object o{{"kind", c->kind}, {"required", c->required}};
            switch (c->last) {
            case dependency_check::status::unknown:
                o["status"] = "unknown";
                break;
            case dependency_check::status::ok:
                o["status"] = "ok";
                break;
            case dependency_check::status::fail:
                o["status"] = "fail";
                break;
            }
            o["latency_ms"] = std::round(c->latency_ms * 1000) / 1000;
            if (!c->error.empty())
                o["error"] = c->error;
            if (!c->effect.empty() && c->last != dependency_check::status::ok)
                o["effect"] = c->effect;
            o["checked_at_ms"] = c->checked_at_ms;
            if (c->since_ms != 0)
                o["since_ms"] = c->since_ms;
            for (auto const& [k, v] : c->details)
                o[k] = v;
            if (c->describe)
                for (auto const& [k, v] : c->describe())
                    o[k] = v;
            checks_out[c->name] = std::move(o);
        }
        json::object out{{"status", to_string(overall())}};
        out["checked_at_ms"] = last_round_ms;
        out["age_ms"] = last_round_ms == 0 ? 0 : unix_time_ms() - last_round_ms;
        out["checks"] = std::move(checks_out);
        return out;
    }
};

operations::operations(asio::any_io_executor ex, metrics::registry& reg, operations_options opts)
    : impl_(std::make_shared<impl>(std::move(ex), reg, opts)) {}

operations::~operations() {
    stop();
    for (auto id : impl_->collectors)
        impl_->reg.remove_collector(id);
}

void operations::add_storage(std::shared_ptr<store::session_store> s) {
    auto c = std::make_shared<dependency_check>();
    c->name = "storage";
    c->kind = "storage";
    c->required = true;
    c->owner = s;
    store::session_store* raw = s.get();
    c->run = [raw]() -> asio::awaitable<result<json::object>> {
        auto r = co_await raw->ping();
        if (!r)
            co_return r.error();
        co_return json::object{};
    };
    std::string backend(s->backend_name());
    c->describe = [backend] { return json::object{{"backend", backend}}; };
    impl_->add(std::move(c));
}

void operations::add_redis(std::string name, redis::client& client, bool required,
                           std::string effect, std::shared_ptr<void const> owner) {
    auto c = std::make_shared<dependency_check>();
    c->name = "redis:" + name;
    c->kind = "redis";
    c->required = required;
    c->effect = std::move(effect);
    c->owner = std::move(owner);
    redis::client* cl = &client;
    auto timeout = impl_->opts.timeout;
    c->run = [cl, timeout]() -> asio::awaitable<result<json::object>> {
        redis::request_options o;
        o.timeout = timeout; // the client gives up too: no PING left queued behind an outage
        redis::command ping("PING");
        auto r = co_await cl->exec(ping, o);
        if (!r)
            co_return r.error();
        co_return json::object{};
    };
    c->describe = [cl] {
        auto st = cl->stats();
        return json::object{{"url", cl->cfg().redacted_url()},
                            {"topology", cl->topology()},
                            {"state", to_string(cl->state())},
                            {"reconnects", st.reconnects}};
    };
    auto& reg = impl_->reg;
    c->rtt =
        &reg.histogram("mcpd_redis_rtt_seconds",
                       "Round trip of the readiness checks' PING, per Redis client", {"client"})
             .with({name});
    auto* commands = &reg.counter("mcpd_redis_commands_total",
                                  "Requests a Redis client accepted for sending", {"client"})
                          .with({name});
    auto* errors = &reg.counter("mcpd_redis_command_errors_total",
                                "Redis requests that failed in the client (timeout, connection "
                                "lost, not connected), not error replies",
                                {"client"})
                        .with({name});
    auto* reconnects = &reg.counter("mcpd_redis_reconnects_total",
                                    "Successful Redis connections after the first", {"client"})
                            .with({name});
    auto* conn_errors =
        &reg.counter("mcpd_redis_connection_errors_total",
                     "Failed Redis connection attempts and lost connections", {"client"})
             .with({name});
    auto* connected = &reg.gauge("mcpd_redis_connected",
                                 "1 while the Redis client's connection is ready", {"client"})
                           .with({name});
    // Reads the client's own atomics at scrape time: nothing on its hot path.
    auto keep = c; // the collector must not outlive the client: c->owner keeps it
    impl_->collectors.push_back(
        reg.add_collector([cl, keep, commands, errors, reconnects, conn_errors, connected] {
            auto st = cl->stats();
            commands->set(st.requests);
            errors->set(st.failures);
            reconnects->set(st.reconnects);
            conn_errors->set(st.connection_errors);
            connected->set(cl->state() == redis::connection_state::ready ? 1 : 0);
        }));
    impl_->add(std::move(c));
}

void operations::add_check(std::string name, std::string kind, bool required, std::string effect,
                           check_fn check) {
    auto c = std::make_shared<dependency_check>();
    c->name = std::move(name);
    c->kind = std::move(kind);
    c->required = required;
    c->effect = std::move(effect);
    c->run = std::move(check);
    impl_->add(std::move(c));
}

asio::awaitable<void> operations::check_now() {
    auto self = impl_;
    co_await self->round();
}

void operations::start() {
    if (impl_->running)
        return;
    impl_->running = true;
    auto self = impl_;
    auto run = [self]() -> asio::awaitable<void> { co_await self->loop(); };
    asio::co_spawn(impl_->ex, std::move(run), asio::detached);
}

void operations::stop() {
    impl_->running = false;
    impl_->interval_timer.cancel();
}

void operations::set_draining() {
    impl_->draining = true;
    impl_->publish();
}

readiness operations::state() const noexcept {
    return impl_->overall();
}

json::object operations::report() const {
    return impl_->report();
}

void operations::on_render(std::function<asio::awaitable<void>()> refresh) {
    impl_->refresh_metrics = std::move(refresh);
}

bool operations::serves(std::string_view path) noexcept {
    return path == "/health" || path == "/ready" || path == "/metrics";
}

asio::awaitable<bool> operations::handle(http::exchange& ex) {
    auto& req = ex.req();
    auto target = req.target();
    auto path = target.substr(0, target.find('?'));
    if (!serves(path))
        co_return false;
    auto const& origins = impl_->opts.origins;
    if (!http::host_allowed(origins, req[http::field::host]) ||
        !http::origin_allowed(origins, req[http::field::origin])) {
        co_await ex.respond(http::make_response(http::status::forbidden,
                                                "Forbidden: Host or Origin not allowed\n"));
        co_return true;
    }
    if (req.method() != http::verb::get) {
        auto res =
            http::make_response(http::status::method_not_allowed, "Method Not Allowed: use GET\n");
        res.set("Allow", "GET");
        co_await ex.respond(std::move(res));
        co_return true;
    }
    auto self = impl_;
    std::string page(path); // not a temporary in the co_await (docs/rough_edges.md)
    auto res = co_await on_loop(self->ex, self->answer(std::move(page)));
    co_await ex.respond(std::move(res));
    co_return true;
}

} // namespace mcpd::server
