// apps/mcpd/serve.cpp — `mcpd serve`: opens the session storage the configuration selects
// (SQLite by default, so state survives a restart), builds the MCP server with the demo tools
// (and the conformance fixtures when asked), and serves it over HTTP (with /health, /ready and
// /metrics beside /mcp) or stdio until SIGINT or SIGTERM.
//
// Shutdown, on the first signal (the order the Redis guide asks for, made complete):
//   1. draining: /ready answers 503, new sessions and streams are refused (503); after the
//      shutdown delay (0 by default) the listener and idle keep-alive connections close, and
//      responses say Connection: close;
//   2. requests in flight (tool calls included) finish and are answered;
//   3. open SSE streams get what is queued for them and end cleanly;
//   4. every Redis client quit()s (pending replies first), storage closes; exit 0.
// Steps 2 and 3 share the drain timeout; what is left then is cut, and said. A second signal
// exits at once with 128 + the signal.
#include "serve.hpp"

#include "core/guard_metrics.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/wakeup.hpp"
#include "fixtures.hpp"
#include "gateway/endpoint.hpp"
#include "gateway/manager.hpp"
#include "guard_setup.hpp"
#include "http/policy.hpp"
#include "http/server.hpp"
#include "mcpd/version.hpp"
#include "redis/client.hpp"
#include "redis/config.hpp"
#include "server/dispatcher.hpp"
#include "server/http_transport.hpp"
#include "server/operations.hpp"
#include "server/stdio_transport.hpp"
#include "server/stored_session_records.hpp"
#include "store/instrumented_store.hpp"
#include "store/store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <cstdio>
#include <cstdlib>

namespace mcpd::app {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// Keeps a metrics collector registered while the objects it reads live.
class scoped_collector {
public:
    scoped_collector(metrics::registry& reg, std::function<void()> collect)
        : reg_(reg)
        , id_(reg.add_collector(std::move(collect))) {}
    ~scoped_collector() { reg_.remove_collector(id_); }
    scoped_collector(scoped_collector const&) = delete;
    scoped_collector& operator=(scoped_collector const&) = delete;

private:
    metrics::registry& reg_;
    std::size_t id_;
};

// SIGINT/SIGTERM: the first one calls `on_first`, a second one exits now.
class shutdown_signals {
public:
    shutdown_signals(asio::any_io_executor const& ex, std::function<void()> on_first)
        : signals_(ex, SIGINT, SIGTERM)
        , on_first_(std::move(on_first)) {
        arm();
    }
    ~shutdown_signals() { signals_.cancel(); }
    shutdown_signals(shutdown_signals const&) = delete;
    shutdown_signals& operator=(shutdown_signals const&) = delete;

    [[nodiscard]] int first() const noexcept { return first_; }

private:
    void arm() {
        signals_.async_wait([this](boost::system::error_code ec, int sig) {
            if (ec)
                return;
            if (first_ != 0) {
                // No logger here: it may be mid-line, and this must not wait for anything.
                std::fprintf(stderr, "mcpd: second signal %d: exiting now\n", sig);
                std::_Exit(128 + sig);
            }
            first_ = sig;
            on_first_();
            arm();
        });
    }

    asio::signal_set signals_;
    std::function<void()> on_first_;
    int first_ = 0;
};

// Polls `done` until it holds or `deadline` passes; true when it holds.
template <class Done>
asio::awaitable<bool> wait_until(Done done, std::chrono::steady_clock::time_point deadline) {
    asio::steady_timer poll(co_await asio::this_coro::executor);
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline)
            co_return false;
        poll.expires_after(std::chrono::milliseconds(10));
        co_await poll.async_wait(asio::use_awaitable);
    }
    co_return true;
}

// Closes a Redis-backed storage's client cleanly and says how its life went.
asio::awaitable<void> close_storage(std::shared_ptr<store::session_store> storage) {
    auto* rc = storage->redis_client();
    co_await storage->close();
    if (rc != nullptr) {
        auto st = rc->stats();
        log::info("mcpd: redis:storage closed ({}): {} requests, {} failed, {} reconnects",
                  to_string(rc->state()), st.requests, st.failures, st.reconnects);
    }
}

// Errors found before a request reaches MCP (413, 431, 400) still answer in JSON-RPC's shape.
json::object protocol_error_body(std::string_view message) {
    return json::object{{"jsonrpc", "2.0"},
                        {"id", nullptr},
                        {"error", json::object{{"code", -32000}, {"message", message}}}};
}

asio::awaitable<int> serve(serve_args a, asio::io_context& io, metrics::registry& reg) {
    auto ex = co_await asio::this_coro::executor;
    auto env = a.getenv ? a.getenv : [](char const* n) -> char const* { return std::getenv(n); };
    reg.gauge("mcpd_build_info", "Always 1; the labels say which mcpd this is", {"version"})
        .with({mcpd::version})
        .set(1);
    reg.gauge("mcpd_start_time_seconds", "When this process started, in Unix seconds")
        .get()
        .set(static_cast<double>(unix_time_ms()) / 1000);

    auto choice = store::choose_store(env, store::store_type::sqlite);
    if (!choice) {
        log::error("mcpd: storage: {}", choice.error().message());
        co_return 2;
    }
    auto opened = co_await store::open_store(ex, *choice, {.required = a.storage_required}, env);
    if (!opened) {
        log::error("mcpd: storage: {}", opened.error().message());
        co_return 1;
    }
    std::shared_ptr<store::session_store> storage =
        std::make_shared<store::instrumented_store>(std::move(*opened), reg);

    server::server_options so;
    so.info.name = "mcpd";
    so.info.version = mcpd::version;
    so.info.title = "mcpd";
    so.state_key = a.state_key;
    so.page_size = a.page_size;
    std::unique_ptr<server::server> srv;
    try {
        srv = std::make_unique<server::server>(so);
        add_demo_tools(*srv);
        if (a.conformance)
            add_conformance_fixtures(*srv);
    } catch (std::exception const& e) {
        log::error("mcpd: {}", e.what());
        co_return 2;
    }
    auto guards = setup_guards(*srv, a.guards, ex, a.getenv);
    if (!guards) {
        log::error("mcpd: guards: {}", guards.error().message());
        co_return 2;
    }
    // Redis guards connect in the background; a short wait lets the first calls be decided by
    // Redis rather than by the failure policies. Startup does not depend on it.
    if (!co_await (*guards)->wait_ready(std::chrono::seconds(2)))
        log::warn("mcpd: guard backends not reachable yet; their failure policies apply meanwhile");
    // The guards' counters on /metrics, read at each scrape.
    std::weak_ptr<guard::guard_set> weak_guards = *guards;
    metrics::export_guard_metrics(reg, [weak_guards] {
        metrics::guard_counts c;
        auto g = weak_guards.lock();
        if (!g)
            return c;
        auto s = g->stats();
        c.cache_hits = s.cache_hits;
        c.cache_misses = s.cache_misses;
        c.cache_coalesced = s.cache_coalesced;
        c.cache_stores = s.cache_stores;
        c.cache_errors = s.cache_errors;
        c.cache_outages = s.cache_outages;
        c.rate_allowed = s.rate_allowed;
        c.rate_denied = s.rate_denied;
        c.rate_failed_open = s.rate_failed_open;
        c.rate_failed_closed = s.rate_failed_closed;
        c.rate_errors = s.rate_errors;
        c.rate_outages = s.rate_outages;
        c.lock_acquired = s.lock_acquired;
        c.lock_contended = s.lock_busy;
        c.lock_waited = s.lock_waited;
        c.lock_proceeded = s.lock_proceeded;
        c.lock_refused = s.lock_refused;
        c.lock_extended = s.lock_extended;
        c.lock_lost = s.lock_lost;
        c.lock_errors = s.lock_errors;
        c.lock_outages = s.lock_outages;
        return c;
    });
    // Protocol sessions live in the same storage: a restart (or another instance on a shared
    // Redis) continues them.
    auto records =
        std::make_shared<server::stored_session_records>(storage, std::chrono::hours(12));
    server::session_manager sessions(records, 10000);
    server::dispatcher disp(*srv, sessions, ex);
    disp.set_metrics(reg);

    if (a.stdio) {
        // A line is stdio's request body: the same limit.
        server::stdio_options so_stdio;
        so_stdio.max_line_bytes = a.max_body_bytes;
        so_stdio.drain_timeout = a.drain_timeout;
        server::stdio_transport stdio(disp, ex, so_stdio);
        // A signal ends the input; requests in flight are still answered.
        shutdown_signals stdio_signals(ex, [&stdio] { stdio.stop(); });
        co_await stdio.run();
        co_await (*guards)->close();
        co_await close_storage(storage);
        co_return 0;
    }

    // Readiness: each dependency checked every interval (the first round before listening,
    // so that /ready has an answer from the start).
    server::operations ops(ex, reg, a.ready);
    ops.add_storage(storage);
    // The guards' Redis is optional: while it is down the guards apply their failure policies
    // (rate limits fail open by default), so the server is degraded, not unready.
    auto const& guard_clients = (*guards)->redis_clients();
    for (std::size_t i = 0; i < guard_clients.size(); ++i)
        ops.add_redis(guard_clients.size() == 1 ? "guards" : "guards-" + std::to_string(i + 1),
                      *guard_clients[i], false, "guards apply their failure policies",
                      guard_clients[i]);
    co_await ops.check_now();
    ops.start();

    server::http_transport_options to;
    to.json_response = a.json_response;
    to.legacy_sse = !a.no_legacy_sse;
    to.origins = http::origin_policy::for_bind_address(a.host);
    for (auto const& h : a.allowed_hosts)
        to.origins.allowed_hosts.push_back(h);
    to.origins.allowed_origins = a.allowed_origins;
    server::http_transport transport(disp, to, ex);
    scoped_collector transport_gauges(
        reg,
        [&transport, &sessions, streams = &reg.gauge("mcpd_sse_streams", "Open SSE streams").get(),
         live = &reg.gauge("mcpd_mcp_sessions", "MCP sessions held in memory").get(),
         in_flight =
             &reg.gauge("mcpd_mcp_requests_in_flight", "MCP requests received and not yet answered")
                  .get()] {
            streams->set(static_cast<double>(transport.open_streams()));
            live->set(static_cast<double>(sessions.live_count()));
            in_flight->set(static_cast<double>(transport.in_flight()));
        });

    // The MCP client gateway: connections of the web app's users to remote MCP servers, their
    // records in the same storage (restored after a restart, visible to every instance).
    std::unique_ptr<gateway::endpoint> gw_endpoint;
    gateway::manager_options gmo = a.gateway.manager;
    gmo.client.client_info.name = "mcpd-gateway";
    gmo.client.client_info.version = mcpd::version;
    gmo.has_streams = [&gw_endpoint](std::string const& identity) {
        return gw_endpoint && gw_endpoint->has_streams(identity);
    };
    // A remote answer may be as large as the largest result the gateway passes on (plus the
    // JSON-RPC envelope).
    gmo.client.http.max_body_bytes =
        std::max(gmo.client.http.max_body_bytes, a.gateway.max_result_bytes + 64 * 1024);
    // Remote servers that answer 401: OAuth with its state in the session records; one token
    // refresh per session at a time, across the fleet when the guards' locks are on Redis.
    gateway::oauth_settings oauth;
    oauth.client_name = a.gateway.oauth_client_name;
    oauth.scope = a.gateway.oauth_scope;
    // The authorization servers a remote server names are reached under the same policy.
    oauth.http.refuse_address =
        gateway::server_address_policy(a.gateway.manager.allow_private_servers);
    oauth.locks = std::shared_ptr<guard::lock_service>(*guards, &(*guards)->locks());
    gmo.oauth = gateway::oauth_authorizers(ex, storage, std::move(oauth));
    gateway::manager gw(ex, storage, gmo, [&gw_endpoint](gateway::event const& ev) {
        if (gw_endpoint)
            gw_endpoint->publish(ev);
    });
    if (a.gateway.enabled) {
        gateway::endpoint_options geo;
        geo.token = a.gateway.token;
        geo.identity_secret = a.gateway.secret;
        geo.max_result_bytes = a.gateway.max_result_bytes;
        geo.max_rpcs_per_identity = a.gateway.max_rpcs_per_identity;
        // The fan-out seal's key: the gateway secret, else the storage key, else the backend
        // token (a fleet shares all three).
        {
            char const* storage_key = env("STORAGE_ENCRYPTION_KEY");
            geo.fanout_key = !a.gateway.secret.empty() ? a.gateway.secret
                             : storage_key != nullptr && *storage_key != 0
                                 ? std::string(storage_key)
                                 : a.gateway.token;
        }
        geo.allow_loopback_dev = a.gateway.dev;
        geo.bind_is_loopback = http::is_loopback_host(a.host);
        geo.heartbeat = a.gateway.heartbeat;
        geo.origins = to.origins;
        gw_endpoint = std::make_unique<gateway::endpoint>(ex, gw, geo);
        // Not a warning by itself (a server that only serves /mcp needs no token); gateway-dev
        // on a bind where it cannot apply is a mistake worth one.
        bool no_token = a.gateway.token.empty() && a.gateway.secret.empty();
        if (no_token && a.gateway.dev && !geo.bind_is_loopback)
            log::warn("mcpd: gateway: neither gateway-secret (MCPD_GATEWAY_SECRET) nor "
                      "gateway-token is set, so /gateway refuses every request (gateway-dev "
                      "applies to loopback binds only)");
        else if (no_token && !a.gateway.dev)
            log::info("mcpd: gateway: /gateway refuses every request until gateway-secret "
                      "(MCPD_GATEWAY_SECRET, per-identity tokens) or gateway-token is set");
        if (!a.gateway.secret.empty() && a.gateway.secret.size() < 32)
            log::warn("mcpd: gateway: gateway-secret is shorter than 32 characters; use a long "
                      "random secret (openssl rand -hex 32)");
        // With Redis storage, events fan out to the other instances' streams.
        if (auto* rc = storage->redis_client(); rc != nullptr) {
            auto rcfg = redis::config_from_env({}, env);
            char const* prefix = env("REDIS_KEY_PREFIX");
            std::string channel =
                std::string(prefix != nullptr && *prefix != 0 ? prefix : "mcp:") + "gateway:events";
            result<void> fanout = rcfg ? co_await gw_endpoint->enable_fanout(*rc, *rcfg, channel)
                                       : result<void>(rcfg.error());
            if (!fanout)
                log::warn("mcpd: gateway: events stay on this instance (Redis pub/sub: {})",
                          fanout.error().message());
            else
                log::info("mcpd: gateway: events fan out on Redis channel {}", channel);
        }
    }

    scoped_collector gateway_gauges(
        reg, [&gw, &gw_endpoint,
              connections = &reg.gauge("mcpd_gateway_connections",
                                       "Gateway connections to remote MCP servers held here")
                                 .get(),
              streams = &reg.gauge("mcpd_gateway_streams", "Open /gateway event streams").get()] {
            connections->set(static_cast<double>(gw.live_count()));
            streams->set(static_cast<double>(gw_endpoint ? gw_endpoint->open_streams() : 0));
        });

    http::limits lim;
    lim.max_body_bytes = a.max_body_bytes;
    lim.request_timeout = a.request_timeout;
    // Routed by path first, so that a request costs only the coroutine of what serves it: the
    // router is not a coroutine, and an MCP request (nearly every one) is the transport's
    // coroutine itself.
    auto other_paths = [&ops, &gw_endpoint](http::exchange& x,
                                            std::string_view path) -> asio::awaitable<void> {
        if (server::operations::serves(path)) {
            co_await ops.handle(x);
        } else if (gw_endpoint && gw_endpoint->serves(path)) {
            co_await gw_endpoint->handle(x);
        } else {
            auto res = http::make_response(http::status::not_found, "Not found");
            co_await x.respond(std::move(res));
        }
    };
    auto handler = [&transport, &gw_endpoint, other_paths](http::exchange& x) {
        auto target = x.req().target();
        auto path = target.substr(0, target.find('?'));
        if (!server::operations::serves(path) && !(gw_endpoint && gw_endpoint->serves(path)) &&
            transport.serves(path))
            return transport.handle(x);
        return other_paths(x, path);
    };
    auto error_page = [](http::status s, std::string_view message) {
        auto body = json::serialize(protocol_error_body(message));
        return http::make_response(s, std::move(body), "application/json");
    };
    // Shutdown: the first signal drains, the second one exits now. Installed before the
    // "serving" line, so a signal sent as soon as it appears is handled.
    wakeup stop(ex);
    shutdown_signals signals(ex, [&stop] { stop.notify(); });

    http::server http_srv(ex, handler, lim, error_page);
    http_srv.set_metrics(reg);
    auto bound = http_srv.listen(a.host, a.port);
    if (!bound) {
        log::error("mcpd: {}", bound.error().message());
        co_return 1;
    }
    http_srv.start();
    auto ep = *bound;
    std::string shown =
        ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
    log::info("mcpd {}: serving MCP on http://{}:{}/mcp (storage: {})", mcpd::version, shown,
              ep.port(), storage->backend_name());
    std::fprintf(stderr, "mcpd: serving MCP on http://%s:%u/mcp\n", shown.c_str(),
                 static_cast<unsigned>(ep.port()));

    co_await stop.wait();

    log::info("mcpd: signal {}: draining (up to {}): {} requests in flight, {} SSE streams, {} "
              "connections",
              signals.first(), format_duration(a.drain_timeout), transport.in_flight(),
              transport.open_streams(), http_srv.connection_count());
    // 1. No new work: readiness 503, no new sessions or streams; after the shutdown delay
    // (load balancers see the 503 meanwhile) no new connections either.
    ops.set_draining();
    transport.stop_accepting();
    if (gw_endpoint)
        gw_endpoint->stop_accepting();
    if (a.shutdown_delay.count() > 0) {
        asio::steady_timer delay(ex, a.shutdown_delay);
        boost::system::error_code ec;
        co_await delay.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    http_srv.stop_accepting();
    auto deadline = std::chrono::steady_clock::now() + a.drain_timeout;
    // 2. Requests in flight finish (their answers go out on their responses or streams).
    auto requests_done = [&transport, &gw_endpoint] {
        return transport.in_flight() == 0 && (!gw_endpoint || gw_endpoint->in_flight() == 0);
    };
    bool answered = co_await wait_until(requests_done, deadline);
    // 3. The remaining streams (GET, legacy SSE, gateway) end after what is queued for them,
    // and every connection ends after its response.
    transport.close_streams();
    if (gw_endpoint)
        gw_endpoint->close_streams();
    auto connections_done = [&http_srv] { return http_srv.connection_count() == 0; };
    bool closed = co_await wait_until(connections_done, deadline);
    if (!answered || !closed)
        log::warn("mcpd: drain timeout ({}): {} requests unanswered, {} SSE streams and {} "
                  "connections cut",
                  format_duration(a.drain_timeout), transport.in_flight(), transport.open_streams(),
                  http_srv.connection_count());
    http_srv.close_connections();
    // 4. The gateway's connections to remote servers (their records stay for the next
    // start), then dependencies: Redis clients answer what is pending, then QUIT.
    co_await gw.close();
    if (gw_endpoint)
        co_await gw_endpoint->close();
    ops.stop();
    co_await (*guards)->close();
    co_await close_storage(storage);
    log::info("mcpd: stopped");
    io.stop();
    // A drain cut short was said above; the shutdown itself went as asked.
    co_return 0;
}

} // namespace

int run_serve(serve_args const& args) {
    // One thread runs every socket and timer of this context, so the reactor needs no lock per
    // operation (two lock/unlock pairs per request); the scheduler keeps its lock, which the
    // blocking pool's threads need to post their results back.
    asio::io_context io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
    // Outlives everything that updates it (the serve coroutine's frame is destroyed with io).
    metrics::registry reg;
    int rc = 1;
    asio::co_spawn(io, serve(args, io, reg), [&](std::exception_ptr const& e, int r) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (std::exception const& ex) {
                log::error("mcpd: {}", ex.what());
            }
            rc = 1;
        } else {
            rc = r;
        }
        io.stop();
    });
    io.run();
    return rc;
}

} // namespace mcpd::app
