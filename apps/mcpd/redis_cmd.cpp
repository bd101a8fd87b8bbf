// apps/mcpd/redis_cmd.cpp — `mcpd redis ping`. See redis_cmd.hpp.
#include "redis_cmd.hpp"

#include "core/random.hpp"
#include "mcpd/redis.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace mcpd::app {

namespace asio = boost::asio;

namespace {

// Connects to Redis, waiting up to `wait` for it to come up, and does a round trip.
asio::awaitable<int> ping(redis::config cfg, duration wait) {
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
    std::printf("redis %s: %s in %.2f ms; SET/GET/DEL round trip ok; %s\n",
                cfg.redacted_url().c_str(), pong->str.c_str(), rtt.count(), c.topology().c_str());
    co_await c.quit();
    co_return 0;
}

} // namespace

int run_redis_ping(redis_ping_args const& a) {
    auto cfg = a.url.empty() ? redis::config_from_env() : redis::config_from_url(a.url);
    if (!cfg) {
        std::fprintf(stderr, "mcpd: %s\n", cfg.error().message().c_str());
        return 2;
    }
    asio::io_context io;
    int rc = 1;
    asio::co_spawn(io, ping(*cfg, std::max(a.wait, duration(1000))),
                   [&](std::exception_ptr const& e, int r) { rc = e ? 1 : r; });
    io.run();
    return rc;
}

} // namespace mcpd::app
