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
#include "loops.hpp"
#include "mcpd/core/client_tally.hpp"
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

// The tools' guards, their backends connected (briefly waited for). `home`: the guards of the
// home loop, whose in-process backends another loop shares (Redis ones it connects itself).
asio::awaitable<result<std::shared_ptr<guard::guard_set>>>
start_guards(server::server& srv, serve_args const& a,
             std::shared_ptr<guard::guard_set> const& home) {
    auto ex = co_await asio::this_coro::executor;
    std::shared_ptr<guard::guard_set> shared;
    if (home)
        shared = home->share_in_process();
    auto guards = setup_guards(srv, a.guards, ex, a.getenv, std::move(shared));
    if (!guards)
        co_return guards.error();
    // Redis guards connect in the background; a short wait lets the first calls be decided by
    // Redis rather than by the failure policies. Startup does not depend on it.
    if (!co_await (*guards)->wait_ready(std::chrono::seconds(2)))
        log::warn("mcpd: guard backends not reachable yet; their failure policies apply meanwhile");
    co_return *guards;
}

// --- the fleet (docs/fleet.md) ----------------------------------------------------------------

// Joins the fleet: over Redis when the sessions are there (and it is not turned off, and the
// home loop could join), else over the hub of this process's loops (`hub`, with several loops).
// nullptr when there is neither, or when Redis cannot be reached now and there is no hub (then
// this instance serves alone, and says so). The replay budgets are the process's, shared by its
// loops.
struct fleet_membership {
    std::shared_ptr<server::fleet> member;
    bool over_redis = false; // else the hub's (or none)
};
asio::awaitable<fleet_membership> join_fleet(serve_args const& a, storage const& st,
                                             bool over_redis,
                                             std::shared_ptr<server::fleet_hub> const& hub,
                                             std::size_t loops, metrics::registry& reg) {
    if (!over_redis && !hub)
        co_return fleet_membership{};
    // The replay budgets hold in Redis as in memory (what this instance wrote).
    auto opts = a.fleet_options;
    opts.events_per_stream = a.mcp.replay.events_per_stream;
    opts.streams_per_session = a.mcp.replay.streams_per_session;
    opts.bytes_per_session = a.mcp.replay.bytes_per_session;
    opts.bytes_total = std::max<std::size_t>(a.mcp.replay.bytes_total / loops, 1);
    auto ex = co_await asio::this_coro::executor;
    if (over_redis) {
        auto f = std::make_shared<server::fleet>(ex, st.redis, st.redis->cfg(), opts);
        f->set_metrics(reg);
        auto started = co_await f->start();
        if (started) {
            log::info("mcpd: fleet: joined as instance {} (number {})", f->instance_id(),
                      f->instance_number());
            co_return fleet_membership{f, true};
        }
        log::warn("mcpd: fleet: not joined ({}): SSE events stay in this process, and what "
                  "another instance holds of a session does not reach it",
                  started.error().message());
        if (!hub)
            co_return fleet_membership{};
    }
    // The loops of this process: the hub cannot fail short of a programming error.
    auto f = std::make_shared<server::fleet>(ex, hub, opts);
    f->set_metrics(reg);
    auto started = co_await f->start();
    if (!started) {
        log::error("mcpd: fleet: the event loops' hub: {}", started.error().message());
        co_return fleet_membership{};
    }
    co_return fleet_membership{f, false};
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
    // Whether its events reach other instances over Redis.
    [[nodiscard]] bool fans_out_over_redis() const noexcept { return fanned_out_; }

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
        result<void> fanout = rcfg.error(); // not a co_await in ?: (docs/rough_edges.md)
        if (rcfg)
            fanout = co_await endpoint_->enable_fanout(rc, *rcfg, channel);
        fanned_out_ = fanout.has_value();
        if (!fanout)
            log::warn("mcpd: gateway: events stay on this instance (Redis pub/sub: {})",
                      fanout.error().message());
        else
            log::info("mcpd: gateway: events fan out on Redis channel {}", channel);
    }

    bool fanned_out_ = false;

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

// --- HTTP -----------------------------------------------------------------------------------

// Everything a request may reach: /mcp (and legacy /sse, /messages), /health, /ready,
// /metrics and /gateway.
struct http_endpoints {
    server::http_transport& mcp;
    server::operations& ops;
    gateway_service& gw;
    metrics::counter* requests = nullptr; // of this event loop

    // Routed by path first, so that a request costs only the coroutine of what serves it: the
    // router is not a coroutine, and an MCP request (nearly every one) is the transport's
    // coroutine itself.
    [[nodiscard]] http::handler handler() const {
        return [this](http::exchange& x) {
            if (requests != nullptr)
                requests->inc();
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

// --- the event loops --------------------------------------------------------------------------

// One event loop's share of `mcpd serve`: an MCP server object, guards, sessions, dispatcher,
// fleet member, transport, gateway and HTTP server of its own. The storage, the operations
// endpoints and the metrics registry are the process's (on the home loop, loop 0); another loop
// reaches the storage through home_loop_store and a Redis client of its own.
struct loop_instance {
    loop_instance(asio::any_io_executor e, std::size_t n)
        : ex(std::move(e))
        , number(n)
        , stop(std::make_unique<wakeup>(ex)) {}

    asio::any_io_executor ex;
    std::size_t number; // 1…N, as /metrics names it
    storage st;
    std::unique_ptr<server::server> srv;
    std::shared_ptr<guard::guard_set> guards;
    std::unique_ptr<server::session_manager> sessions;
    std::unique_ptr<server::dispatcher> disp;
    std::shared_ptr<server::fleet> fleet;
    std::unique_ptr<server::http_transport> transport;
    std::unique_ptr<gateway_service> gw;
    std::unique_ptr<http_endpoints> endpoints;
    std::unique_ptr<http::server> http_srv;
    std::unique_ptr<wakeup> stop;
};
using loop_list = std::vector<std::unique_ptr<loop_instance>>;

// What one loop holds now, read on that loop (its objects are its thread's alone).
struct loop_numbers {
    std::size_t streams = 0;
    std::size_t sessions = 0;
    std::size_t in_flight = 0;
    std::size_t replay_bytes = 0;
    std::uint64_t replay_dropped = 0;
    std::size_t gateway_connections = 0;
    std::size_t gateway_streams = 0;
    std::size_t connections = 0;

    loop_numbers& operator+=(loop_numbers const& o) {
        streams += o.streams;
        sessions += o.sessions;
        in_flight += o.in_flight;
        replay_bytes += o.replay_bytes;
        replay_dropped += o.replay_dropped;
        gateway_connections += o.gateway_connections;
        gateway_streams += o.gateway_streams;
        connections += o.connections;
        return *this;
    }
};

asio::awaitable<loop_numbers> numbers_of(loop_instance const* l);

// The sum over the loops, each read on its own.
asio::awaitable<loop_numbers> count_all(loop_list const& loops) {
    loop_numbers sum;
    for (auto const& l : loops) {
        auto n = co_await on_loop(l->ex, numbers_of(l.get()));
        sum += n;
    }
    co_return sum;
}

// The gauges of what is open now, summed over the loops at each scrape, and the guards' counts
// (atomics, read from the scraping thread). close() before the loops close: it waits for a scrape
// that is reading the loops.
class exported_gauges {
public:
    exported_gauges(metrics::registry& reg, server::operations& ops, loop_list const& loops)
        : reg_(reg)
        , ops_(ops)
        , state_(std::make_shared<state>(reg, loops)) {
        std::vector<std::shared_ptr<guard::guard_set>> guards;
        for (auto const& l : loops)
            guards.push_back(l->guards);
        guard_collector_ = guard::export_metrics(reg, [guards] {
            guard::counts sum;
            for (auto const& g : guards)
                for (std::size_t i = 0; i < sum.values.size(); ++i)
                    sum.values[i] += g->stats().values[i];
            return sum;
        });
        ops.on_render([s = state_] { return refresh(s); });
    }
    ~exported_gauges() { reg_.remove_collector(guard_collector_); }
    exported_gauges(exported_gauges const&) = delete;
    exported_gauges& operator=(exported_gauges const&) = delete;

    // No scrape reads the loops from now on.
    asio::awaitable<void> close() {
        state_->closed = true;
        ops_.on_render(nullptr);
        // A named lambda, not a temporary in the co_await (docs/rough_edges.md: GCC 12 destroys
        // such a temporary's captures twice).
        auto* s = state_.get();
        auto idle = [s] { return s->reading == 0; };
        co_await wait_until(idle, std::chrono::steady_clock::now() + std::chrono::seconds(30));
    }

private:
    // On the operations' executor (the home loop), like every use of it.
    struct state {
        state(metrics::registry& reg, loop_list const& l)
            : loops(l)
            , streams(&reg.gauge("mcpd_sse_streams", "Open SSE streams").get())
            , sessions(&reg.gauge("mcpd_mcp_sessions", "MCP sessions held in memory").get())
            , in_flight(&reg.gauge("mcpd_mcp_requests_in_flight",
                                   "MCP requests received and not yet answered")
                             .get())
            , replay_bytes(&reg.gauge("mcpd_replay_bytes",
                                      "Bytes of SSE events kept for Last-Event-ID (replay-total)")
                                .get())
            , replay_dropped(&reg.counter("mcpd_replay_events_dropped_total",
                                          "SSE events the replay budgets dropped "
                                          "(replay-per-session, replay-total)")
                                  .get())
            , gateway_connections(&reg.gauge("mcpd_gateway_connections",
                                             "Gateway connections to remote MCP servers held here")
                                       .get())
            , gateway_streams(
                  &reg.gauge("mcpd_gateway_streams", "Open /gateway event streams").get()) {}
        loop_list const& loops;
        metrics::gauge* streams;
        metrics::gauge* sessions;
        metrics::gauge* in_flight;
        metrics::gauge* replay_bytes;
        metrics::counter* replay_dropped;
        metrics::gauge* gateway_connections;
        metrics::gauge* gateway_streams;
        bool closed = false;
        std::size_t reading = 0; // scrapes reading the loops now
    };

    static asio::awaitable<void> refresh(std::shared_ptr<state> s) {
        if (s->closed)
            co_return;
        ++s->reading;
        auto n = co_await count_all(s->loops);
        --s->reading;
        s->streams->set(static_cast<double>(n.streams));
        s->sessions->set(static_cast<double>(n.sessions));
        s->in_flight->set(static_cast<double>(n.in_flight));
        s->replay_bytes->set(static_cast<double>(n.replay_bytes));
        s->replay_dropped->set(n.replay_dropped);
        s->gateway_connections->set(static_cast<double>(n.gateway_connections));
        s->gateway_streams->set(static_cast<double>(n.gateway_streams));
    }

    metrics::registry& reg_;
    server::operations& ops_;
    std::shared_ptr<state> state_;
    std::size_t guard_collector_ = 0;
};

// --- drain ----------------------------------------------------------------------------------

// Shutdown steps 1-3 on one loop (the file comment): no new work, requests in flight answered,
// streams ended, within the drain timeout; what is left then is cut, and said. The home loop
// has already set /ready draining.
asio::awaitable<void> drain(serve_args const& a, http::server& http_srv,
                            server::http_transport& transport, gateway_service& gw) {
    auto* gw_endpoint = gw.endpoint();
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

// What every loop of the process shares (on the home loop).
struct process_parts {
    serve_args const& a;
    metrics::registry& reg;
    storage const& st;
    server::operations& ops;
    http::origin_policy origins;
    asio::any_io_executor home;
    std::size_t loops = 1;
    std::shared_ptr<server::fleet_hub> hub; // the loops' fleet, when it is not Redis's
    // Whether the loops join the Redis fleet: the home loop decides (when it cannot join, every
    // loop uses the hub, so that the loops still reach each other).
    bool over_redis = false;
    std::shared_ptr<guard::guard_set> home_guards; // set once the home loop has opened
    // Per client address: connections, sessions and streams, so its budgets hold for the process.
    std::shared_ptr<client_tally> clients = std::make_shared<client_tally>();
};

// The MCP server of a loop: its tools (and guards), sessions and dispatcher. The exit code on
// failure (2: a bad setting).
asio::awaitable<int> open_mcp(loop_instance& l, serve_args const& a,
                              std::shared_ptr<guard::guard_set> const& home_guards,
                              metrics::registry& reg) {
    auto srv = build_server(a);
    if (!srv) {
        log::error("mcpd: {}", srv.error().detail);
        co_return 2;
    }
    l.srv = std::move(*srv);
    auto guards = co_await start_guards(*l.srv, a, home_guards);
    if (!guards) {
        log::error("mcpd: guards: {}", guards.error().message());
        co_return 2;
    }
    l.guards = *guards;
    // Protocol sessions live in the same storage: a restart (or another instance on a shared
    // Redis, or another loop) continues them.
    auto records =
        std::make_shared<server::stored_session_records>(l.st.sessions, std::chrono::hours(12));
    l.sessions = std::make_unique<server::session_manager>(records, a.max_sessions);
    l.disp = std::make_unique<server::dispatcher>(*l.srv, *l.sessions, l.ex);
    l.disp->set_metrics(reg);
    co_return 0;
}

struct opened_loop {
    int rc = 0;
    http::listen_address at;
};

// Everything of a loop up to listening on `port` (the first loop's, for the others), on the
// loop itself.
asio::awaitable<opened_loop> open_loop(loop_instance* l, process_parts* p, std::uint16_t port) {
    auto const& a = p->a;
    bool const home = l->ex == p->home;
    if (home)
        l->st = p->st;
    else // the storage runs on the home loop; Redis users of this loop get a client of its own
        l->st = storage{home_loop_store(p->st.sessions, p->home),
                        p->st.redis ? std::make_shared<redis::client>(l->ex, p->st.redis->cfg())
                                    : nullptr};
    if (int rc = co_await open_mcp(*l, a, p->home_guards, p->reg); rc != 0)
        co_return opened_loop{rc, {}};
    auto to = a.mcp;
    to.origins = p->origins;
    to.clients = p->clients;
    auto joined = co_await join_fleet(a, l->st, p->over_redis, p->hub, p->loops, p->reg);
    if (home) // the others follow the home loop's way
        p->over_redis = joined.over_redis;
    to.fleet_member = joined.member;
    l->fleet = to.fleet_member;
    l->transport = std::make_unique<server::http_transport>(*l->disp, to, l->ex);
    l->transport->set_metrics(p->reg);
    l->gw = std::make_unique<gateway_service>(l->ex, a, l->st, l->guards);
    co_await l->gw->start(a, l->st, to.origins);
    auto* requests = &p->reg
                          .counter("mcpd_event_loop_requests_total",
                                   "HTTP requests each event loop served (threads)", {"loop"})
                          .with({std::to_string(l->number)});
    l->endpoints =
        std::make_unique<http_endpoints>(http_endpoints{*l->transport, p->ops, *l->gw, requests});
    l->http_srv =
        std::make_unique<http::server>(l->ex, l->endpoints->handler(), a.http, protocol_error_page);
    l->http_srv->set_metrics(p->reg);
    l->http_srv->share_clients(p->clients);
    auto bound = l->http_srv->listen(a.host, port, p->loops > 1);
    if (!bound) {
        log::error("mcpd: {}", bound.error().message());
        co_return opened_loop{1, {}};
    }
    co_return opened_loop{0, *bound};
}

// Without Redis, the gateway's events cross the loops in memory: each endpoint's messages are
// posted to the others' receivers.
using gateway_receivers =
    std::vector<std::pair<asio::any_io_executor, std::function<void(std::string_view)>>>;
asio::awaitable<void> fan_out_gateway(loop_instance* l,
                                      std::shared_ptr<gateway_receivers const> receivers) {
    auto* ep = l->gw->endpoint();
    if (ep == nullptr)
        co_return;
    ep->enable_fanout([receivers, self = l->ex](std::string text) {
        auto shared = std::make_shared<std::string const>(std::move(text));
        for (auto const& r : *receivers)
            if (r.first != self)
                asio::post(r.first, [receive = r.second, shared] { receive(*shared); });
    });
}

// A loop serves until its stop is notified, then drains.
asio::awaitable<void> run_loop(loop_instance* l, serve_args const* a) {
    l->http_srv->start();
    co_await l->stop->wait();
    co_await drain(*a, *l->http_srv, *l->transport, *l->gw);
}

// Closes what a loop opened, on the loop: the gateway's connections to remote servers (their
// records stay for the next start), its fleet membership, its guards, its Redis client. The
// home loop closes the storage afterwards.
asio::awaitable<void> close_loop(loop_instance* l, bool home) {
    if (l->gw)
        co_await l->gw->close();
    if (l->fleet)
        co_await l->fleet->stop();
    if (l->guards)
        co_await l->guards->close();
    l->http_srv.reset();
    l->endpoints.reset();
    l->gw.reset();
    l->transport.reset();
    l->fleet.reset();
    l->disp.reset();
    l->sessions.reset();
    l->srv.reset();
    l->guards.reset();
    if (!home && l->st.redis)
        (void)co_await l->st.redis->quit();
    l->st = {};
    l->stop.reset();
}

asio::awaitable<loop_numbers> numbers_of(loop_instance const* l) {
    loop_numbers n;
    n.streams = l->transport->open_streams();
    n.sessions = l->sessions->live_count();
    n.in_flight = l->transport->in_flight();
    n.replay_bytes = l->transport->replay_bytes();
    n.replay_dropped = l->transport->replay_dropped();
    n.gateway_connections = l->gw->manager().live_count();
    auto* ep = l->gw->endpoint();
    n.gateway_streams = ep ? ep->open_streams() : 0;
    n.connections = l->http_srv->connection_count();
    co_return n;
}

// One client on stdin/stdout; a signal ends the input, requests in flight are still answered.
asio::awaitable<int> serve_stdio(serve_args const& a, storage const& st, metrics::registry& reg) {
    auto ex = co_await asio::this_coro::executor;
    loop_instance l(ex, 1);
    l.st = st;
    if (int rc = co_await open_mcp(l, a, nullptr, reg); rc != 0)
        co_return rc;
    server::stdio_options o;
    o.max_line_bytes = a.http.max_body_bytes; // a line is stdio's request body: the same limit
    o.drain_timeout = a.drain_timeout;
    {
        server::stdio_transport stdio(*l.disp, ex, o);
        shutdown_signals signals(ex, [&stdio] { stdio.stop(); });
        co_await stdio.run();
    }
    co_await close_loop(&l, true);
    co_return 0;
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

// Closes the loops (what each opened of itself), each on its own.
asio::awaitable<void> close_loops(loop_list& loops, asio::any_io_executor const& home) {
    for (auto& l : loops)
        co_await on_loop(l->ex, close_loop(l.get(), l->ex == home));
    loops.clear();
}

// Opens every loop. The home loop first, alone: it picks the port (0: any) the others share,
// decides how the loops join the fleet, and its guards' in-process backends are theirs. Then the
// others at once (each may wait for its Redis clients). Where the home loop listens, or the exit
// code of the first failure.
asio::awaitable<opened_loop> open_loops(loop_list& loops, process_parts& parts) {
    auto home = parts.home;
    auto const& a = parts.a;
    if (loops.size() > 1 && a.port != 0) {
        // With SO_REUSEPORT a port another process holds would be shared, not refused: ask for it
        // alone first.
        http::server probe(
            home, [](http::exchange&) -> asio::awaitable<void> { co_return; }, a.http);
        if (auto free = probe.listen(a.host, a.port); !free) {
            log::error("mcpd: {}", free.error().message());
            co_return opened_loop{1, {}};
        }
    }
    auto first = co_await open_loop(loops.front().get(), &parts, a.port);
    if (first.rc != 0 || loops.size() == 1)
        co_return first;
    parts.home_guards = loops.front()->guards;
    std::size_t pending = loops.size() - 1;
    int rc = 0;
    wakeup all_open(home);
    for (std::size_t i = 1; i < loops.size(); ++i)
        asio::co_spawn(
            loops[i]->ex, open_loop(loops[i].get(), &parts, first.at.port),
            [home, &pending, &rc, &all_open](std::exception_ptr const& e, opened_loop const& r) {
                int code = r.rc;
                if (e) {
                    log::error("mcpd: opening an event loop: {}", log::what_of(e));
                    code = 1;
                }
                asio::post(home, [code, &pending, &rc, &all_open] {
                    if (rc == 0)
                        rc = code;
                    if (--pending == 0)
                        all_open.notify();
                });
            });
    co_await all_open.wait();
    if (rc != 0)
        co_return opened_loop{rc, {}};
    co_return first;
}

// /mcp and the rest over HTTP on every loop until the first signal, then the drain and the
// gateway's close.
asio::awaitable<int> serve_http(serve_args const& a, storage const& st, event_loops& loops,
                                metrics::registry& reg) {
    auto home = co_await asio::this_coro::executor;
    // One Host/Origin policy for every endpoint.
    auto origins = http::origin_policy::for_bind_address(a.host);
    for (auto const& h : a.allowed_hosts)
        origins.allowed_hosts.push_back(h);
    origins.allowed_origins = a.allowed_origins;
    auto ops_options = a.ready;
    ops_options.origins = origins;
    server::operations ops(home, reg, ops_options);
    process_parts parts{
        .a = a,
        .reg = reg,
        .st = st,
        .ops = ops,
        .origins = origins,
        .home = home,
        .loops = loops.size(),
        .hub = loops.size() > 1 ? server::make_fleet_hub(loops.size()) : nullptr,
        .over_redis = a.fleet && st.redis != nullptr,
    };

    loop_list running;
    for (std::size_t i = 0; i < loops.size(); ++i)
        running.push_back(std::make_unique<loop_instance>(loops.executor(i), i + 1));
    auto opened = co_await open_loops(running, parts);
    if (opened.rc != 0) {
        co_await close_loops(running, home);
        co_return opened.rc;
    }
    auto url = opened.at.url() + "/mcp";
    // The gateway's events cross the loops over Redis when the home loop's fan-out works there,
    // else in memory.
    if (loops.size() > 1 && !running.front()->gw->fans_out_over_redis()) {
        auto receivers = std::make_shared<gateway_receivers>();
        for (auto& l : running)
            if (auto* ep = l->gw->endpoint())
                receivers->emplace_back(l->ex, ep->receiver());
        for (auto& l : running)
            co_await on_loop(l->ex, fan_out_gateway(l.get(), receivers));
    }
    // Named, not a temporary in the co_await (docs/rough_edges.md).
    std::shared_ptr<server::fleet> redis_member;
    if (parts.over_redis)
        redis_member = running.front()->fleet;
    co_await start_readiness(ops, st, *running.front()->guards, a.fleet && st.redis != nullptr,
                             redis_member);
    auto gauges = std::make_unique<exported_gauges>(reg, ops, running);

    // Installed before the "serving" line, so a signal sent as soon as it appears is handled.
    wakeup stop(home);
    shutdown_signals signals(home, [&stop] { stop.notify(); });
    std::size_t serving = running.size();
    wakeup all_stopped(home);
    for (auto& l : running)
        asio::co_spawn(l->ex, run_loop(l.get(), &a),
                       [home, &serving, &all_stopped](std::exception_ptr const& e) {
                           if (e)
                               log::error("mcpd: an event loop failed: {}", log::what_of(e));
                           asio::post(home, [&serving, &all_stopped] {
                               if (--serving == 0)
                                   all_stopped.notify();
                           });
                       });
    log::info("mcpd {}: serving MCP on {} (storage: {}, {} event loop{})", mcpd::version, url,
              st.sessions->backend_name(), loops.size(), loops.size() == 1 ? "" : "s");
    std::fprintf(stderr, "mcpd: serving MCP on %s\n", url.c_str());

    co_await stop.wait();
    auto now = co_await count_all(running);
    log::info("mcpd: signal {}: draining (up to {}): {} requests in flight, {} SSE streams, {} "
              "connections",
              signals.first(), format_duration(a.drain_timeout), now.in_flight, now.streams,
              now.connections);
    ops.set_draining();
    for (auto& l : running)
        asio::post(l->ex, [w = l->stop.get()] { w->notify(); });
    co_await all_stopped.wait();
    co_await gauges->close();
    gauges.reset();
    ops.stop();
    co_await close_loops(running, home);
    co_return 0;
}

asio::awaitable<int> serve(serve_args a, event_loops& loops, metrics::registry& reg) {
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
    // One key for every loop (a stateless request sealed by one is opened by another).
    if (a.state_key.empty())
        a.state_key = random_hex(32);
    int rc = 0; // not a co_await in ?: (docs/rough_edges.md)
    if (a.stdio)
        rc = co_await serve_stdio(a, *st, reg);
    else
        rc = co_await serve_http(a, *st, loops, reg);
    co_await close_storage(*st);
    if (rc == 0)
        log::info("mcpd: stopped");
    loops.stop();
    co_return rc;
}

} // namespace

int run_serve(serve_args const& args) {
    std::size_t n = args.threads != 0 ? args.threads : usable_cores();
    n = std::min<std::size_t>(n, 1024); // a loop per thread: more is a typo, not a machine
    event_loops loops(args.stdio ? 1 : std::max<std::size_t>(n, 1));
    // Outlives everything that updates it (the serve coroutine's frame is destroyed with the
    // loops).
    metrics::registry reg;
    int rc = 1;
    asio::co_spawn(loops.home(), serve(args, loops, reg), [&](std::exception_ptr const& e, int r) {
        if (e) {
            log::error("mcpd: {}", log::what_of(e));
            rc = 1;
        } else {
            rc = r;
        }
        loops.stop();
    });
    loops.run();
    return rc;
}

} // namespace mcpd::app
