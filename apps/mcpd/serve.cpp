// apps/mcpd/serve.cpp — `mcpd serve`: opens the session storage the environment selects
// (SQLite by default, so state survives a restart), builds the MCP server with the demo tools
// (and the conformance fixtures when asked), and serves it over HTTP or stdio until SIGINT or
// SIGTERM. On the first signal it stops accepting, lets requests in flight finish (up to the
// drain timeout), ends the SSE streams and closes storage; a second signal exits at once.
#include "serve.hpp"

#include "core/log.hpp"
#include "core/wakeup.hpp"
#include "fixtures.hpp"
#include "guard_setup.hpp"
#include "http/policy.hpp"
#include "http/server.hpp"
#include "mcpd/version.hpp"
#include "server/dispatcher.hpp"
#include "server/http_transport.hpp"
#include "server/stdio_transport.hpp"
#include "server/stored_session_records.hpp"
#include "store/store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
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

char const* env(char const* name) {
    return std::getenv(name);
}

// Errors found before a request reaches MCP (413, 431, 400) still answer in JSON-RPC's shape.
json::object protocol_error_body(std::string_view message) {
    return json::object{{"jsonrpc", "2.0"},
                        {"id", nullptr},
                        {"error", json::object{{"code", -32000}, {"message", message}}}};
}

asio::awaitable<int> serve(serve_args a, asio::io_context& io) {
    auto ex = co_await asio::this_coro::executor;

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
    std::shared_ptr<store::session_store> storage = std::move(*opened);

    server::server_options so;
    so.info.name = "mcpd";
    so.info.version = mcpd::version;
    so.info.title = "mcpd";
    if (auto const* key = env("MCPD_STATE_KEY"))
        so.state_key = key;
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
    auto guards = setup_guards(*srv, a.guards, ex);
    if (!guards) {
        log::error("mcpd: guards: {}", guards.error().message());
        co_return 2;
    }
    // Redis guards connect in the background; a short wait lets the first calls be decided by
    // Redis rather than by the failure policies. Startup does not depend on it.
    if (!co_await (*guards)->wait_ready(std::chrono::seconds(2)))
        log::warn("mcpd: guard backends not reachable yet; their failure policies apply meanwhile");
    // Protocol sessions live in the same storage: a restart (or another instance on a shared
    // Redis) continues them.
    auto records =
        std::make_shared<server::stored_session_records>(storage, std::chrono::hours(12));
    server::session_manager sessions(records, 10000);
    server::dispatcher disp(*srv, sessions, ex);

    if (a.stdio) {
        server::stdio_transport stdio(disp, ex);
        asio::signal_set signals(ex, SIGINT, SIGTERM);
        signals.async_wait([&](boost::system::error_code ec, int) {
            if (!ec)
                stdio.stop();
        });
        co_await stdio.run();
        signals.cancel();
        co_await (*guards)->close();
        co_await storage->close();
        co_return 0;
    }

    server::http_transport_options to;
    to.json_response = a.json_response;
    to.legacy_sse = !a.no_legacy_sse;
    to.origins = http::origin_policy::for_bind_address(a.host);
    for (auto const& h : a.allowed_hosts)
        to.origins.allowed_hosts.push_back(h);
    to.origins.allowed_origins = a.allowed_origins;
    server::http_transport transport(disp, to, ex);

    http::limits lim;
    lim.max_body_bytes = a.max_body_bytes;
    auto handler = [&transport](http::exchange& x) -> asio::awaitable<void> {
        if (co_await transport.handle(x))
            co_return;
        auto& req = x.req();
        auto path =
            std::string_view(req.target()).substr(0, std::string_view(req.target()).find('?'));
        if (path == "/health") {
            auto res = http::make_response(req, http::status::ok, R"({"status":"ok"})",
                                           "application/json");
            co_await x.respond(std::move(res));
            co_return;
        }
        auto res = http::make_response(req, http::status::not_found, "Not found");
        co_await x.respond(std::move(res));
    };
    auto error_page = [](http::status s, std::string_view message) {
        http::request dummy;
        dummy.version(11);
        auto body = json::serialize(protocol_error_body(message));
        return http::make_response(dummy, s, std::move(body), "application/json");
    };
    http::server http_srv(ex, handler, lim, error_page);
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

    // Shutdown: the first signal drains, the second one exits now.
    asio::signal_set signals(ex, SIGINT, SIGTERM);
    int signals_seen = 0;
    wakeup stop(ex);
    std::function<void(boost::system::error_code, int)> on_signal =
        [&](boost::system::error_code ec, int sig) {
            if (ec)
                return;
            if (++signals_seen > 1) {
                std::fprintf(stderr, "mcpd: second signal %d: exiting now\n", sig);
                std::_Exit(130);
            }
            stop.notify();
            signals.async_wait(on_signal);
        };
    signals.async_wait(on_signal);
    co_await stop.wait();

    log::info("mcpd: draining (up to {})", format_duration(a.drain_timeout));
    transport.stop_accepting();
    http_srv.stop_accepting();
    auto deadline = std::chrono::steady_clock::now() + a.drain_timeout;
    asio::steady_timer poll(ex);
    while (transport.in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
        poll.expires_after(std::chrono::milliseconds(20));
        co_await poll.async_wait(asio::use_awaitable);
    }
    if (transport.in_flight() > 0)
        log::warn("mcpd: drain timeout: {} requests still in flight", transport.in_flight());
    transport.close_streams();
    // Let the streams write what they have queued.
    while (transport.open_streams() > 0 && std::chrono::steady_clock::now() < deadline) {
        poll.expires_after(std::chrono::milliseconds(20));
        co_await poll.async_wait(asio::use_awaitable);
    }
    http_srv.close_connections();
    co_await (*guards)->close();
    co_await storage->close();
    signals.cancel();
    log::info("mcpd: stopped");
    io.stop();
    co_return 0;
}

} // namespace

int run_serve(serve_args const& args) {
    asio::io_context io(1);
    int rc = 1;
    asio::co_spawn(io, serve(args, io), [&](std::exception_ptr const& e, int r) {
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
