// apps/mcpd/main.cpp — the mcpd daemon and admin CLI.
//
// Today: `mcpd --version` and `mcpd redis ping` (a round trip through the Redis client: PING,
// SET, GET, DEL, with the latency). `mcpd serve` arrives with the MCP server.
#include "core/duration.hpp"
#include "core/log.hpp"
#include "core/random.hpp"
#include "mcpd/version.hpp"
#include "redis/redis.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>

namespace asio = boost::asio;
using namespace mcpd;

namespace {

// Connects to Redis, waiting up to `wait` for it to come up, and does a round trip.
asio::awaitable<int> redis_ping(redis::config cfg, duration wait) {
    cfg.connect_timeout = std::min(cfg.connect_timeout, wait);
    redis::client c(co_await asio::this_coro::executor, cfg);
    auto deadline = std::chrono::steady_clock::now() + wait;
    auto t0 = std::chrono::steady_clock::now();
    auto pong = co_await c.exec(redis::command("PING"), {.timeout = wait});
    while (!pong && std::chrono::steady_clock::now() < deadline) {
        asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(100));
        co_await t.async_wait(asio::use_awaitable);
        t0 = std::chrono::steady_clock::now();
        pong = co_await c.exec(redis::command("PING"), {.timeout = wait});
    }
    if (!pong) {
        std::fprintf(stderr, "mcpd: redis %s: %s\n", cfg.redacted_url().c_str(),
                     pong.error().message().c_str());
        co_return 1;
    }
    auto rtt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0);
    std::string key = "mcpd:ping:" + random_hex(8);
    redis::request round_trip;
    round_trip.push(redis::command("SET", key, "ok", "PX", 10000))
        .push(redis::command("GET", key))
        .push(redis::command("DEL", key));
    auto replies = co_await c.exec(std::move(round_trip));
    if (!replies || (*replies)[1].str != "ok") {
        std::fprintf(stderr, "mcpd: redis round trip failed: %s\n",
                     replies ? to_debug_string((*replies)[1]).c_str()
                             : replies.error().message().c_str());
        co_return 1;
    }
    std::printf("redis %s: %s in %.2f ms; SET/GET/DEL round trip ok\n", cfg.redacted_url().c_str(),
                pong->str.c_str(), rtt.count());
    co_await c.quit();
    co_return 0;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"mcpd: a Model Context Protocol runtime whose state survives restarts"};
    app.set_version_flag("--version", std::string("mcpd ") + mcpd::version);
    app.require_subcommand(1);
    std::string log_level = "warn";
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off");

    auto* redis_cmd = app.add_subcommand("redis", "Redis client tools");
    redis_cmd->require_subcommand(1);
    auto* ping = redis_cmd->add_subcommand("ping", "Round trip to Redis: PING, SET, GET, DEL");
    std::string url;
    std::string wait_text = "0ms";
    ping->add_option("--url", url, "redis://, rediss:// or unix:// URL (default: REDIS_URL etc.)");
    ping->add_option("--wait", wait_text, "keep trying this long for Redis to come up (e.g. 5s)");

    CLI11_PARSE(app, argc, argv);

    // `redis ping` reports failures itself; the connection warnings while it waits for Redis
    // to come up are expected, so they stay quiet unless asked for.
    if (ping->parsed() && app.count("--log-level") == 0)
        log_level = "error";
    log::level lvl{};
    if (!log::parse_level(log_level, lvl)) {
        std::fprintf(stderr, "mcpd: --log-level: unknown level '%s'\n", log_level.c_str());
        return 2;
    }
    log::set_level(lvl);

    if (ping->parsed()) {
        auto cfg = url.empty() ? redis::config_from_env() : redis::config_from_url(url);
        if (!cfg) {
            std::fprintf(stderr, "mcpd: %s\n", cfg.error().message().c_str());
            return 2;
        }
        auto wait = parse_duration(wait_text);
        if (!wait) {
            std::fprintf(stderr, "mcpd: --wait: %s\n", wait.error().message().c_str());
            return 2;
        }
        asio::io_context io;
        int rc = 1;
        asio::co_spawn(io, redis_ping(*cfg, std::max(*wait, duration(1000))),
                       [&](std::exception_ptr const& e, int r) { rc = e ? 1 : r; });
        io.run();
        return rc;
    }
    return 0;
}
