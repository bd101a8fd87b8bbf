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

#include "core/log.hpp"
#include "core/random.hpp"
#include "core/wakeup.hpp"
#include "fixtures.hpp"
#include "guard_setup.hpp"
#include "mcpd/core/metrics.hpp"
#include "mcpd/gateway/endpoint.hpp"
#include "mcpd/gateway/manager.hpp"
#include "mcpd/http/policy.hpp"
#include "mcpd/http/server.hpp"
#include "mcpd/redis/client.hpp"
#include "mcpd/redis/config.hpp"
#include "mcpd/server/dispatcher.hpp"
#include "mcpd/server/http_transport.hpp"
#include "mcpd/server/operations.hpp"
#include "mcpd/server/stdio_transport.hpp"
#include "mcpd/server/stored_session_records.hpp"
#include "mcpd/version.hpp"
#include "store/backends.hpp"
#include "store/instrumented_store.hpp"

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
using getenv_fn = std::function<char const*(char const*)>;

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

// --- storage -------------------------------------------------------------------------------

struct storage {
    std::shared_ptr<store::session_store> sessions; // counted on /metrics
    std::shared_ptr<redis::client> redis;           // the Redis under it, if any
};

// The store the environment chose (SQLite by default, so that state survives a restart).
asio::awaitable<result<storage>> open_storage(serve_args const& a, store::store_choice choice,
                                              metrics::registry& reg) {
    auto ex = co_await asio::this_coro::executor;
    auto opened = co_await store::open_store(ex, std::move(choice),
                                             {.required = a.storage_required}, a.getenv);
    if (!opened)
        co_return opened.error();
    co_return storage{std::make_shared<store::instrumented_store>(std::move(opened->store), reg),
                      std::move(opened->redis)};
}

// Closes the storage (a Redis storage's client cleanly) and says how the client's life went.
asio::awaitable<void> close_storage(storage const& st) {
    co_await st.sessions->close();
    if (st.redis != nullptr) {
        auto s = st.redis->stats();
        log::info("mcpd: redis:storage closed ({}): {} requests, {} failed, {} reconnects",
                  to_string(st.redis->state()), s.requests, s.failures, s.reconnects);
    }
}

// --- the MCP server and its guards ----------------------------------------------------------

result<std::unique_ptr<server::server>> build_server(serve_args const& a) {
    server::server_options so;
    so.info.name = "mcpd";
    so.info.version = mcpd::version;
    so.info.title = "mcpd";
    so.state_key = a.state_key;
    so.page_size = a.page_size;
    so.limits = a.session;
    try {
        auto srv = std::make_unique<server::server>(so);
        add_demo_tools(*srv);
        if (a.conformance)
            add_conformance_fixtures(*srv);
        return srv;
    } catch (std::exception const& e) {
        return error(make_error_code(boost::system::errc::invalid_argument), e.what());
    }
}

// The tools' guards, their backends connected (briefly waited for) and counted on /metrics.
asio::awaitable<result<std::shared_ptr<guard::guard_set>>>
start_guards(server::server& srv, serve_args const& a, metrics::registry& reg) {
    auto guards = setup_guards(srv, a.guards, co_await asio::this_coro::executor, a.getenv);
    if (!guards)
        co_return guards.error();
    // Redis guards connect in the background; a short wait lets the first calls be decided by
    // Redis rather than by the failure policies. Startup does not depend on it.
    if (!co_await (*guards)->wait_ready(std::chrono::seconds(2)))
        log::warn("mcpd: guard backends not reachable yet; their failure policies apply meanwhile");
    std::weak_ptr<guard::guard_set> weak = *guards;
    guard::export_metrics(reg, [weak] {
        auto g = weak.lock();
        return g ? g->stats() : guard::counts{};
    });
    co_return *guards;
}

// --- the fleet (docs/fleet.md) ----------------------------------------------------------------

// Joins the fleet when the sessions are on Redis (and it is not turned off): nullptr otherwise,
// or when Redis cannot be reached now (then this instance serves alone, and says so).
asio::awaitable<std::shared_ptr<server::fleet>> join_fleet(serve_args const& a, storage const& st,
                                                           metrics::registry& reg) {
    if (!a.fleet || st.redis == nullptr)
        co_return nullptr;
    // The replay budgets hold in Redis as in memory (what this instance wrote).
    auto opts = a.fleet_options;
    opts.events_per_stream = a.mcp.replay.events_per_stream;
    opts.streams_per_session = a.mcp.replay.streams_per_session;
    opts.bytes_per_session = a.mcp.replay.bytes_per_session;
    opts.bytes_total = a.mcp.replay.bytes_total;
    auto f = std::make_shared<server::fleet>(co_await asio::this_coro::executor, st.redis,
                                             st.redis->cfg(), opts);
    f->set_metrics(reg);
    auto started = co_await f->start();
    if (!started) {
        log::warn("mcpd: fleet: not joined ({}): SSE events stay in this process, and what "
                  "another instance holds of a session does not reach it",
                  started.error().message());
        co_return nullptr;
    }
    log::info("mcpd: fleet: joined as instance {} (number {})", f->instance_id(),
              f->instance_number());
    co_return f;
}

// The key sealing stateless requests' requestState must be the fleet's, or a request answered
// by one instance cannot continue on another. Unless state-key is set, the first instance puts
// a random one in Redis (SET NX) and every other one reads it. Empty when it cannot be had (the
// instance seals with a key of its own, and says so).
asio::awaitable<std::string> fleet_state_key(serve_args const& a, storage const& st) {
    if (!a.fleet || st.redis == nullptr || !a.state_key.empty())
        co_return a.state_key;
    auto mine = random_hex(32);
    redis::request req;
    req.commands.emplace_back("SET", "fleet:state-key", mine, "NX");
    req.commands.emplace_back("GET", "fleet:state-key");
    auto r = co_await st.redis->exec(std::move(req));
    std::optional<std::string_view> key;
    if (r && r->size() == 2)
        key = (*r)[1].as_string();
    if (!key || key->size() != 64) {
        log::warn("mcpd: fleet: the shared state key could not be read from Redis ({}): stateless "
                  "requests' requestState is sealed with this instance's own key; set "
                  "MCPD_STATE_KEY on every instance",
                  r ? "not a key" : r.error().message());
        co_return std::string();
    }
    co_return std::string(*key);
}

// --- the client gateway (/gateway; docs/gateway.md) -------------------------------------------

// The connection manager of the web app's users and, when enabled, its /gateway endpoints; the
// records live in the same storage (restored after a restart, visible to every instance).
class gateway_service {
public:
    gateway_service(asio::any_io_executor const& ex, serve_args const& a, storage const& st,
                    std::shared_ptr<guard::guard_set> const& guards)
        : manager_(ex, st.sessions, manager_options(ex, a, st, guards),
                   [this](gateway::event const& ev) {
                       if (endpoint_)
                           endpoint_->publish(ev);
                   }) {}

    // The /gateway endpoints (when enabled), with events fanned out over Redis when the storage
    // is Redis.
    asio::awaitable<void> start(serve_args const& a, storage const& st,
                                http::origin_policy const& origins) {
        if (!a.gateway.enabled)
            co_return;
        endpoint_ = std::make_unique<gateway::endpoint>(co_await asio::this_coro::executor,
                                                        manager_, endpoint_options(a, origins));
        warn_about_tokens(a);
        if (st.redis)
            co_await fan_out(*st.redis, a.getenv);
    }

    [[nodiscard]] gateway::manager const& manager() const noexcept { return manager_; }
    [[nodiscard]] gateway::endpoint* endpoint() const noexcept { return endpoint_.get(); }

    asio::awaitable<void> close() {
        co_await manager_.close();
        if (endpoint_)
            co_await endpoint_->close();
    }

private:
    gateway::manager_options manager_options(asio::any_io_executor const& ex, serve_args const& a,
                                             storage const& st,
                                             std::shared_ptr<guard::guard_set> const& guards) {
        auto o = a.gateway.manager;
        o.client.client_info.name = "mcpd-gateway";
        o.client.client_info.version = mcpd::version;
        o.has_streams = [this](std::string const& identity) {
            return endpoint_ && endpoint_->has_streams(identity);
        };
        // A remote answer may be as large as the largest result the gateway passes on (plus
        // the JSON-RPC envelope).
        o.client.http.max_body_bytes = std::max(
            o.client.http.max_body_bytes, a.gateway.max_result_bytes + std::size_t{64} * 1024);
        // Remote servers that answer 401: OAuth with its state in the session records; one
        // token refresh per session at a time, across the fleet when the guards' locks are on
        // Redis. Authorization servers are reached under the same address policy.
        gateway::oauth_settings oauth;
        oauth.client_name = a.gateway.oauth_client_name;
        oauth.scope = a.gateway.oauth_scope;
        oauth.http.refuse_address =
            gateway::server_address_policy(a.gateway.manager.allow_private_servers);
        oauth.locks = std::shared_ptr<guard::lock_service>(guards, &guards->locks());
        o.oauth = gateway::oauth_authorizers(ex, st.sessions, std::move(oauth));
        return o;
    }

    static gateway::endpoint_options endpoint_options(serve_args const& a,
                                                      http::origin_policy const& origins) {
        gateway::endpoint_options o;
        o.token = a.gateway.token;
        o.identity_secret = a.gateway.secret;
        o.max_result_bytes = a.gateway.max_result_bytes;
        o.max_rpcs_per_identity = a.gateway.max_rpcs_per_identity;
        // The fan-out seal's key: the gateway secret, else the storage key, else the backend
        // token (a fleet shares all three).
        char const* storage_key = a.getenv("STORAGE_ENCRYPTION_KEY");
        o.fanout_key = !a.gateway.secret.empty()                     ? a.gateway.secret
                       : storage_key != nullptr && *storage_key != 0 ? std::string(storage_key)
                                                                     : a.gateway.token;
        o.allow_loopback_dev = a.gateway.dev;
        o.bind_is_loopback = http::is_loopback_host(a.host);
        o.heartbeat = a.gateway.heartbeat;
        o.origins = origins;
        return o;
    }

    static void warn_about_tokens(serve_args const& a) {
        // Not a warning by itself (a server that only serves /mcp needs no token); gateway-dev
        // on a bind where it cannot apply is a mistake worth one.
        bool no_token = a.gateway.token.empty() && a.gateway.secret.empty();
        if (no_token && a.gateway.dev && !http::is_loopback_host(a.host))
            log::warn("mcpd: gateway: neither gateway-secret (MCPD_GATEWAY_SECRET) nor "
                      "gateway-token is set, so /gateway refuses every request (gateway-dev "
                      "applies to loopback binds only)");
        else if (no_token && !a.gateway.dev)
            log::info("mcpd: gateway: /gateway refuses every request until gateway-secret "
                      "(MCPD_GATEWAY_SECRET, per-identity tokens) or gateway-token is set");
        if (!a.gateway.secret.empty() && a.gateway.secret.size() < 32)
            log::warn("mcpd: gateway: gateway-secret is shorter than 32 characters; use a long "
                      "random secret (openssl rand -hex 32)");
    }

    asio::awaitable<void> fan_out(redis::client& rc, getenv_fn const& env) {
        auto rcfg = redis::config_from_env({}, env);
        char const* prefix = env("REDIS_KEY_PREFIX");
        std::string channel =
            std::string(prefix != nullptr && *prefix != 0 ? prefix : "mcp:") + "gateway:events";
        result<void> fanout = rcfg ? co_await endpoint_->enable_fanout(rc, *rcfg, channel)
                                   : result<void>(rcfg.error());
        if (!fanout)
            log::warn("mcpd: gateway: events stay on this instance (Redis pub/sub: {})",
                      fanout.error().message());
        else
            log::info("mcpd: gateway: events fan out on Redis channel {}", channel);
    }

    std::unique_ptr<gateway::endpoint> endpoint_; // before manager_: its callbacks read it
    gateway::manager manager_;
};

// --- metrics ----------------------------------------------------------------------------------

void export_build_info(metrics::registry& reg) {
    reg.gauge("mcpd_build_info", "Always 1; the labels say which mcpd this is", {"version"})
        .with({mcpd::version})
        .set(1);
    reg.gauge("mcpd_start_time_seconds", "When this process started, in Unix seconds")
        .get()
        .set(static_cast<double>(unix_time_ms()) / 1000);
}

// The gauges of what is open now, read at each scrape while the collectors live.
std::vector<std::unique_ptr<scoped_collector>>
export_gauges(metrics::registry& reg, server::http_transport const& transport,
              server::session_manager const& sessions, gateway_service const& gw) {
    std::vector<std::unique_ptr<scoped_collector>> out;
    out.push_back(std::make_unique<scoped_collector>(
        reg,
        [&transport, &sessions, streams = &reg.gauge("mcpd_sse_streams", "Open SSE streams").get(),
         live = &reg.gauge("mcpd_mcp_sessions", "MCP sessions held in memory").get(),
         in_flight =
             &reg.gauge("mcpd_mcp_requests_in_flight", "MCP requests received and not yet answered")
                  .get()] {
            streams->set(static_cast<double>(transport.open_streams()));
            live->set(static_cast<double>(sessions.live_count()));
            in_flight->set(static_cast<double>(transport.in_flight()));
        }));
    out.push_back(std::make_unique<scoped_collector>(
        reg, [&transport,
              bytes = &reg.gauge("mcpd_replay_bytes",
                                 "Bytes of SSE events kept for Last-Event-ID (replay-total)")
                           .get(),
              dropped = &reg.counter("mcpd_replay_events_dropped_total",
                                     "SSE events the replay budgets dropped (replay-per-session, "
                                     "replay-total)")
                             .get()] {
            bytes->set(static_cast<double>(transport.replay_bytes()));
            dropped->set(transport.replay_dropped());
        }));
    out.push_back(std::make_unique<scoped_collector>(
        reg, [&gw,
              connections = &reg.gauge("mcpd_gateway_connections",
                                       "Gateway connections to remote MCP servers held here")
                                 .get(),
              streams = &reg.gauge("mcpd_gateway_streams", "Open /gateway event streams").get()] {
            connections->set(static_cast<double>(gw.manager().live_count()));
            auto* ep = gw.endpoint();
            streams->set(static_cast<double>(ep ? ep->open_streams() : 0));
        }));
    return out;
}

// --- HTTP -----------------------------------------------------------------------------------

// Everything a request may reach: /mcp (and legacy /sse, /messages), /health, /ready,
// /metrics and /gateway.
struct http_endpoints {
    server::http_transport& mcp;
    server::operations& ops;
    gateway_service& gw;

    // Routed by path first, so that a request costs only the coroutine of what serves it: the
    // router is not a coroutine, and an MCP request (nearly every one) is the transport's
    // coroutine itself.
    [[nodiscard]] http::handler handler() const {
        return [this](http::exchange& x) {
            auto target = x.req().target();
            auto path = target.substr(0, target.find('?'));
            auto* gw_endpoint = gw.endpoint();
            if (!server::operations::serves(path) && !(gw_endpoint && gw_endpoint->serves(path)) &&
                mcp.serves(path))
                return mcp.handle(x);
            return others(x, path);
        };
    }

    [[nodiscard]] asio::awaitable<void> others(http::exchange& x, std::string_view path) const {
        auto* gw_endpoint = gw.endpoint();
        if (server::operations::serves(path))
            co_await ops.handle(x);
        else if (gw_endpoint && gw_endpoint->serves(path))
            co_await gw_endpoint->handle(x);
        else
            co_await x.respond(http::make_response(http::status::not_found, "Not found"));
    }
};

// Errors found before a request reaches MCP (413, 431, 400) still answer in JSON-RPC's shape.
http::response protocol_error_page(http::status s, std::string_view message) {
    json::object body{{"jsonrpc", "2.0"},
                      {"id", nullptr},
                      {"error", json::object{{"code", -32000}, {"message", message}}}};
    return http::make_response(s, json::serialize(body), "application/json");
}

// --- drain ----------------------------------------------------------------------------------

// Shutdown steps 1-3 (the file comment): no new work, requests in flight answered, streams
// ended, within the drain timeout; what is left then is cut, and said.
asio::awaitable<void> drain(serve_args const& a, http::server& http_srv,
                            server::http_transport& transport, server::operations& ops,
                            gateway_service& gw) {
    auto* gw_endpoint = gw.endpoint();
    ops.set_draining();
    transport.stop_accepting();
    if (gw_endpoint)
        gw_endpoint->stop_accepting();
    if (a.shutdown_delay.count() > 0) {
        asio::steady_timer delay(co_await asio::this_coro::executor, a.shutdown_delay);
        boost::system::error_code ec;
        co_await delay.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    http_srv.stop_accepting();
    auto deadline = std::chrono::steady_clock::now() + a.drain_timeout;
    auto requests_done = [&transport, gw_endpoint] {
        return transport.in_flight() == 0 && (!gw_endpoint || gw_endpoint->in_flight() == 0);
    };
    bool answered = co_await wait_until(requests_done, deadline);
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
}

// --- serve ----------------------------------------------------------------------------------

// One client on stdin/stdout; a signal ends the input, requests in flight are still answered.
asio::awaitable<void> serve_stdio(serve_args const& a, server::dispatcher& disp) {
    server::stdio_options o;
    o.max_line_bytes = a.http.max_body_bytes; // a line is stdio's request body: the same limit
    o.drain_timeout = a.drain_timeout;
    auto ex = co_await asio::this_coro::executor;
    server::stdio_transport stdio(disp, ex, o);
    shutdown_signals signals(ex, [&stdio] { stdio.stop(); });
    co_await stdio.run();
}

// Readiness: each dependency checked every interval (the first round before listening, so
// that /ready has an answer from the start). The guards' Redis is optional: while it is down the
// guards apply their failure policies, so the server is degraded, not unready.
asio::awaitable<void> start_readiness(server::operations& ops, storage const& st,
                                      guard::guard_set const& guards, bool fleet_expected,
                                      std::shared_ptr<server::fleet> const& fleet) {
    ops.add_storage(st.sessions);
    if (st.redis)
        ops.add_redis("storage", *st.redis, true, {}, st.redis);
    // An instance that could not join its fleet at start serves alone: degraded, and /ready says
    // so (it joins when restarted).
    if (fleet_expected)
        ops.add_check("fleet", "fleet", false,
                      "serves alone: streams, replies and cancellations do not cross to other "
                      "instances",
                      [fleet]() -> asio::awaitable<result<json::object>> {
                          if (!fleet)
                              co_return error(make_error_code(boost::system::errc::not_connected),
                                              "not joined: Redis was unreachable at start");
                          co_return json::object{{"instance", fleet->instance_id()},
                                                 {"number", fleet->instance_number()}};
                      });
    auto const& clients = guards.redis_clients();
    for (std::size_t i = 0; i < clients.size(); ++i)
        ops.add_redis(clients.size() == 1 ? "guards" : "guards-" + std::to_string(i + 1),
                      *clients[i], false, "guards apply their failure policies", clients[i]);
    co_await ops.check_now();
    ops.start();
}

// /mcp and the rest over HTTP until the first signal, then the drain and the gateway's close.
asio::awaitable<int> serve_http(serve_args const& a, server::dispatcher& disp, storage const& st,
                                std::shared_ptr<guard::guard_set> const& guards,
                                metrics::registry& reg) {
    auto ex = co_await asio::this_coro::executor;
    // One Host/Origin policy for every endpoint.
    auto origins = http::origin_policy::for_bind_address(a.host);
    for (auto const& h : a.allowed_hosts)
        origins.allowed_hosts.push_back(h);
    origins.allowed_origins = a.allowed_origins;
    auto ops_options = a.ready;
    ops_options.origins = origins;
    server::operations ops(ex, reg, ops_options);
    auto to = a.mcp;
    to.origins = origins;
    to.fleet_member = co_await join_fleet(a, st, reg);
    co_await start_readiness(ops, st, *guards, a.fleet && st.redis != nullptr, to.fleet_member);
    server::http_transport transport(disp, to, ex);
    transport.set_metrics(reg);
    gateway_service gw(ex, a, st, guards);
    co_await gw.start(a, st, to.origins);
    auto gauges = export_gauges(reg, transport, disp.sessions(), gw);

    // Installed before the "serving" line, so a signal sent as soon as it appears is handled.
    wakeup stop(ex);
    shutdown_signals signals(ex, [&stop] { stop.notify(); });
    http_endpoints endpoints{transport, ops, gw};
    http::server http_srv(ex, endpoints.handler(), a.http, protocol_error_page);
    http_srv.set_metrics(reg);
    auto bound = http_srv.listen(a.host, a.port);
    if (!bound) {
        log::error("mcpd: {}", bound.error().message());
        co_return 1;
    }
    http_srv.start();
    auto url = bound->url() + "/mcp";
    log::info("mcpd {}: serving MCP on {} (storage: {})", mcpd::version, url,
              st.sessions->backend_name());
    std::fprintf(stderr, "mcpd: serving MCP on %s\n", url.c_str());

    co_await stop.wait();
    log::info("mcpd: signal {}: draining (up to {}): {} requests in flight, {} SSE streams, {} "
              "connections",
              signals.first(), format_duration(a.drain_timeout), transport.in_flight(),
              transport.open_streams(), http_srv.connection_count());
    co_await drain(a, http_srv, transport, ops, gw);
    // 4. The gateway's connections to remote servers (their records stay for the next start);
    // the caller closes the guards and the storage.
    co_await gw.close();
    if (to.fleet_member)
        co_await to.fleet_member->stop();
    ops.stop();
    co_return 0;
}

asio::awaitable<int> serve(serve_args a, asio::io_context& io, metrics::registry& reg) {
    if (!a.getenv)
        a.getenv = [](char const* n) -> char const* { return std::getenv(n); };
    export_build_info(reg);
    auto choice = store::choose_store(a.getenv, store::store_type::sqlite);
    if (!choice) {
        log::error("mcpd: storage: {}", choice.error().message());
        co_return 2;
    }
    auto st = co_await open_storage(a, std::move(*choice), reg);
    if (!st) {
        log::error("mcpd: storage: {}", st.error().message());
        co_return 1;
    }
    a.state_key = co_await fleet_state_key(a, *st);
    auto srv = build_server(a);
    if (!srv) {
        log::error("mcpd: {}", srv.error().detail);
        co_return 2;
    }
    auto guards = co_await start_guards(**srv, a, reg);
    if (!guards) {
        log::error("mcpd: guards: {}", guards.error().message());
        co_return 2;
    }
    // Protocol sessions live in the same storage: a restart (or another instance on a shared
    // Redis) continues them.
    auto records =
        std::make_shared<server::stored_session_records>(st->sessions, std::chrono::hours(12));
    server::session_manager sessions(records, a.max_sessions);
    server::dispatcher disp(**srv, sessions, co_await asio::this_coro::executor);
    disp.set_metrics(reg);

    int rc = 0;
    if (a.stdio)
        co_await serve_stdio(a, disp);
    else
        rc = co_await serve_http(a, disp, *st, *guards, reg);
    co_await (*guards)->close();
    co_await close_storage(*st);
    if (rc == 0)
        log::info("mcpd: stopped");
    io.stop();
    co_return rc;
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
