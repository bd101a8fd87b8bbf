// tests/integration/redis_faults_test.cpp — the Redis client when the server fails: killed in
// the middle of a pipeline, restarted, unreachable at start, frozen, or silent at connect.
// Every request must finish exactly once, with success or the error its policy names.
#include "async_test.hpp"
#include "redis_test_util.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fstream>
#include <map>
#include <sstream>

namespace asio = boost::asio;
using namespace mcpd;
using namespace mcpd::test;
using namespace std::chrono_literals;
using redis::command;

namespace {

struct outcome_counts {
    std::vector<int> finished;           // per request: how many times it completed
    std::map<std::string, int> by_error; // "ok" or the error's code message
    int done = 0;
};

// Starts n concurrent SET requests; each records its outcome once done.
void spawn_sets(asio::any_io_executor ex, redis::client& c, int n, outcome_counts& out,
                std::string const& tag, int first = 0) {
    out.finished.resize(static_cast<std::size_t>(first + n), 0);
    for (int i = first; i < first + n; ++i)
        asio::co_spawn(
            ex,
            [&c, &out, i, tag]() -> asio::awaitable<void> {
                auto key = tag + std::to_string(i);
                auto r = co_await c.exec(command("SET", key, key));
                ++out.finished[static_cast<std::size_t>(i)];
                ++out.by_error[r ? std::string("ok") : r.error().code.message()];
                ++out.done;
            },
            asio::detached);
}

std::string summary(outcome_counts const& o) {
    std::string s;
    for (auto const& [k, v] : o.by_error)
        s += k + "=" + std::to_string(v) + " ";
    return s;
}

asio::awaitable<void> wait_done(outcome_counts const& o, int n) {
    while (o.done < n)
        co_await sleep_for(5ms);
}

} // namespace

TEST(redis_faults, server_killed_mid_pipeline_in_flight_requests_are_retried_exactly_once_each) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto cfg = test_config(server);
        cfg.max_retries_per_request = 3;
        redis::client c(co_await asio::this_coro::executor, cfg);
        co_await c.exec(command("PING"));
        constexpr int n = 3000;
        outcome_counts out;
        auto ex = co_await asio::this_coro::executor;
        spawn_sets(ex, c, n / 3, out, "k"); // a first third is answered…
        co_await wait_done(out, n / 3);
        server.freeze(); // …the rest is written (or queued) and never answered
        spawn_sets(ex, c, n - n / 3, out, "k", n / 3);
        co_await sleep_for(50ms);
        EXPECT_EQ(out.done, n / 3);
        server.kill();
        co_await sleep_for(100ms);
        server.start();
        co_await wait_done(out, n);
        EXPECT_EQ(out.by_error["ok"], n) << summary(out);
        for (int i = 0; i < n; ++i)
            EXPECT_EQ(out.finished[static_cast<std::size_t>(i)], 1) << "request " << i;
    });
}

TEST(redis_faults, without_retries_in_flight_requests_fail_with_connection_lost) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto cfg = test_config(server);
        cfg.max_retries_per_request = 0;
        redis::client c(co_await asio::this_coro::executor, cfg);
        co_await c.exec(command("PING"));
        constexpr int n = 3000;
        outcome_counts out;
        auto ex = co_await asio::this_coro::executor;
        spawn_sets(ex, c, n / 3, out, "k");
        co_await wait_done(out, n / 3);
        server.freeze(); // what is sent now stays unanswered
        spawn_sets(ex, c, n - n / 3, out, "k", n / 3);
        co_await sleep_for(50ms);
        EXPECT_EQ(out.done, n / 3);
        server.kill();
        co_await sleep_for(50ms);
        server.start();
        co_await wait_done(out, n);
        auto lost = error(redis::client_errc::connection_lost).code.message();
        // Each finished once: either answered, or failed because its connection was lost.
        EXPECT_EQ(out.by_error["ok"] + out.by_error[lost], n) << summary(out);
        EXPECT_GT(out.by_error[lost], 0) << summary(out);
        for (int i = 0; i < n; ++i)
            EXPECT_EQ(out.finished[static_cast<std::size_t>(i)], 1) << "request " << i;
    });
}

TEST(redis_faults, a_request_lost_more_than_max_retries_times_fails_clearly) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto cfg = test_config(server);
        cfg.max_retries_per_request = 2;
        redis::client c(co_await asio::this_coro::executor, cfg);
        co_await c.exec(command("PING"));
        std::optional<result<redis::value>> blpop;
        asio::co_spawn(
            co_await asio::this_coro::executor,
            [&]() -> asio::awaitable<void> {
                // Blocks forever: it is in flight at every kill.
                blpop = co_await c.exec(command("BLPOP", "never", 0), {.timeout = duration(0)});
            },
            asio::detached);
        for (int kill = 0; kill < 3 && !blpop; ++kill) {
            co_await sleep_for(100ms);
            server.kill();
            server.start();
            // Wait for the reconnect and the re-sent BLPOP.
            for (int i = 0; i < 200 && c.state() != redis::connection_state::ready; ++i)
                co_await sleep_for(5ms);
        }
        for (int i = 0; i < 200 && !blpop; ++i)
            co_await sleep_for(10ms);
        CO_ASSERT(blpop.has_value());
        CO_ASSERT(!blpop->has_value());
        EXPECT_EQ(blpop->error().code, redis::client_errc::max_retries_exceeded);
        EXPECT_NE(blpop->error().detail.find("3 times"), std::string::npos)
            << blpop->error().detail;
    });
}

TEST(redis_faults, unreachable_at_start_with_offline_queue_requests_wait_and_complete) {
    redis_server server;
    server.stop();
    run_async([&]() -> asio::awaitable<void> {
        redis::client c(co_await asio::this_coro::executor, test_config(server));
        outcome_counts out;
        spawn_sets(co_await asio::this_coro::executor, c, 50, out, "early");
        co_await sleep_for(200ms);
        EXPECT_EQ(out.done, 0); // queued, not failed
        server.start();
        co_await wait_done(out, 50);
        EXPECT_EQ(out.by_error["ok"], 50) << summary(out);
    });
}

TEST(redis_faults, unreachable_at_start_without_offline_queue_requests_fail_fast) {
    redis_server server;
    server.stop();
    run_async([&]() -> asio::awaitable<void> {
        auto cfg = test_config(server);
        cfg.offline_queue = false;
        redis::client c(co_await asio::this_coro::executor, cfg);
        auto r = co_await c.exec(command("PING"));
        CO_ASSERT(!r);
        EXPECT_EQ(r.error().code, redis::client_errc::not_connected);
        // Once Redis is up the same client works.
        server.start();
        result<redis::value> ok = error(redis::client_errc::not_connected);
        for (int i = 0; i < 100 && !ok; ++i) {
            co_await sleep_for(20ms);
            ok = co_await c.exec(command("PING"));
        }
        EXPECT_TRUE(ok.has_value());
    });
}

TEST(redis_faults, the_offline_queue_is_bounded) {
    redis_server server;
    server.stop();
    run_async([&]() -> asio::awaitable<void> {
        auto cfg = test_config(server);
        cfg.offline_queue_max = 5;
        cfg.command_timeout = 300ms;
        redis::client c(co_await asio::this_coro::executor, cfg);
        outcome_counts out;
        spawn_sets(co_await asio::this_coro::executor, c, 8, out, "q");
        co_await wait_done(out, 8);
        EXPECT_EQ(out.by_error[error(redis::client_errc::offline_queue_full).code.message()], 3)
            << summary(out);
        EXPECT_EQ(out.by_error[error(redis::client_errc::timeout).code.message()], 5)
            << summary(out);
    });
}

TEST(redis_faults, a_retry_strategy_that_gives_up_closes_the_client_and_fails_requests) {
    redis_server server;
    server.stop();
    run_async([&]() -> asio::awaitable<void> {
        auto cfg = test_config(server);
        std::vector<std::uint32_t> attempts;
        cfg.reconnect = [&](std::uint32_t attempt, error const&) -> std::optional<duration> {
            attempts.push_back(attempt);
            if (attempt > 2)
                return std::nullopt;
            return duration(10);
        };
        redis::client c(co_await asio::this_coro::executor, cfg);
        std::vector<redis::event::kind> events;
        c.on_event([&](redis::event const& e) { events.push_back(e.what); });
        auto r = co_await c.exec(command("PING"));
        CO_ASSERT(!r);
        EXPECT_EQ(r.error().code, redis::client_errc::reconnect_gave_up);
        EXPECT_EQ(attempts, (std::vector<std::uint32_t>{1, 2, 3}));
        EXPECT_EQ(c.state(), redis::connection_state::closed);
        using k = redis::event::kind;
        EXPECT_EQ(events, (std::vector<k>{k::error, k::reconnecting, k::error, k::reconnecting,
                                          k::error, k::closed}));
    });
}

TEST(redis_faults, events_tell_a_restart_in_order_and_scripts_survive_it) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        redis::client c(co_await asio::this_coro::executor, test_config(server));
        std::vector<redis::event> events;
        c.on_event([&](redis::event const& e) { events.push_back(e); });
        redis::script s("return 'v' .. ARGV[1]");
        std::vector<std::string> no_keys, one{"1"}, two{"2"};
        EXPECT_EQ(text(co_await c.eval(s, no_keys, one)), "v1");
        server.kill();
        co_await sleep_for(50ms);
        server.start(); // a new process: its script cache is empty
        auto r = co_await c.eval(s, no_keys, two);
        EXPECT_EQ(text(r), "v2"); // NOSCRIPT → EVAL, transparently
        CO_ASSERT(events.size() >= 3u);
        using k = redis::event::kind;
        EXPECT_EQ(events.front().what, k::connected);
        EXPECT_EQ(events[1].what, k::error);
        EXPECT_EQ(events[1].err.code, redis::client_errc::connection_lost);
        EXPECT_EQ(events[2].what, k::reconnecting);
        EXPECT_EQ(events[2].attempt, 1u);
        EXPECT_EQ(events.back().what, k::connected);
        EXPECT_EQ(c.stats().reconnects, 1u);
    });
}

TEST(redis_faults, a_frozen_server_is_detected_by_the_idle_health_check) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto cfg = test_config(server);
        cfg.health_check_interval = 100ms;
        cfg.connect_timeout = 200ms;
        redis::client c(co_await asio::this_coro::executor, cfg);
        std::vector<redis::event> events;
        c.on_event([&](redis::event const& e) { events.push_back(e); });
        co_await c.exec(command("PING"));
        server.freeze();
        for (int i = 0; i < 100 && events.size() < 2; ++i)
            co_await sleep_for(10ms);
        server.thaw();
        CO_ASSERT(events.size() >= 2u);
        EXPECT_EQ(events[1].what, redis::event::kind::error);
        EXPECT_NE(events[1].err.detail.find("health check"), std::string::npos)
            << events[1].err.message();
        EXPECT_EQ(text(co_await c.exec(command("PING"))), "PONG");
    });
}

TEST(redis_faults, a_frozen_server_owing_timed_out_replies_is_detected) {
    // The idle health check cannot see this: the timed-out request's reply is still owed, so
    // the connection is never idle. Its deadline, a health interval past, is what tells.
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto cfg = test_config(server);
        cfg.health_check_interval = 100ms;
        cfg.command_timeout = 50ms;
        cfg.connect_timeout = 200ms;
        redis::client c(co_await asio::this_coro::executor, cfg);
        std::vector<redis::event> events;
        c.on_event([&](redis::event const& e) { events.push_back(e); });
        co_await c.exec(command("PING"));
        server.freeze();
        auto owed = co_await c.exec(command("INCR", "owed"));
        CO_ASSERT(!owed);
        EXPECT_EQ(owed.error().code, redis::client_errc::timeout);
        for (int i = 0; i < 100 && events.size() < 2; ++i)
            co_await sleep_for(10ms);
        server.thaw();
        CO_ASSERT(events.size() >= 2u);
        EXPECT_EQ(events[1].what, redis::event::kind::error);
        EXPECT_EQ(events[1].err.code, redis::client_errc::connection_lost);
        EXPECT_NE(events[1].err.detail.find("requests are owed"), std::string::npos)
            << events[1].err.message();
        // Back: the client reconnects and answers again.
        for (int i = 0; i < 200 && c.state() != redis::connection_state::ready; ++i)
            co_await sleep_for(10ms);
        EXPECT_EQ(text(co_await c.exec(command("PING"))), "PONG");
        // The INCR was sent before the freeze was noticed: Redis ran it once the server was
        // thawed (the reply went nowhere); it did not run twice.
        EXPECT_EQ(text(co_await c.exec(command("GET", "owed"))), "1");
    });
}

TEST(redis_faults, a_server_that_accepts_but_never_answers_hits_the_connect_timeout) {
    asio::io_context accept_io;
    asio::ip::tcp::acceptor silent(accept_io, {asio::ip::make_address("127.0.0.1"), 0});
    auto port = silent.local_endpoint().port();
    run_async([&]() -> asio::awaitable<void> {
        auto cfg = *redis::config_from_url("redis://127.0.0.1:" + std::to_string(port));
        cfg.connect_timeout = 150ms;
        cfg.offline_queue = true;
        cfg.reconnect = [](std::uint32_t, error const&) { return std::optional<duration>(); };
        redis::client c(co_await asio::this_coro::executor, cfg);
        std::vector<redis::event> events;
        c.on_event([&](redis::event const& e) { events.push_back(e); });
        auto started = std::chrono::steady_clock::now();
        auto r = co_await c.exec(command("PING"));
        auto took = std::chrono::steady_clock::now() - started;
        CO_ASSERT(!r);
        CO_ASSERT(!events.empty());
        EXPECT_EQ(events.front().err.code, redis::client_errc::connect_timeout);
        EXPECT_LT(took, 5s); // bounded: the kernel accepted, nothing answered, we gave up
    });
}

namespace {

// The client's connection to `port` as /proc/net/tcp shows it: its "tr" timer field
// (02 = keep-alive timer running), or -1 when there is no established connection to that port.
int client_socket_timer(std::uint16_t server_port) {
    std::ifstream in("/proc/net/tcp");
    std::string line;
    std::getline(in, line); // header
    char want[8];
    std::snprintf(want, sizeof want, ":%04X", server_port);
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string sl, local, remote, state, queues, timer;
        fields >> sl >> local >> remote >> state >> queues >> timer;
        if (state == "01" && remote.ends_with(want))
            return std::stoi(timer.substr(0, 2), nullptr, 16);
    }
    return -1;
}

std::int64_t ping_calls(result<redis::value> const& info) {
    if (!info)
        return -1;
    auto pos = info->str.find("cmdstat_ping:calls=");
    if (pos == std::string::npos)
        return 0;
    return std::stoll(info->str.substr(pos + 19));
}

} // namespace

TEST(redis_connection, tcp_keepalive_is_on_by_configuration) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto cfg = test_config(server);
        cfg.tcp_keepalive = std::chrono::seconds(1);
        redis::client with(co_await asio::this_coro::executor, cfg);
        co_await with.exec(command("PING"));
        co_await sleep_for(50ms);
        EXPECT_EQ(client_socket_timer(server.port()), 2); // the keep-alive timer runs
        co_await with.quit();

        cfg.tcp_keepalive = duration(0);
        redis::client without(co_await asio::this_coro::executor, cfg);
        co_await without.exec(command("PING"));
        co_await sleep_for(50ms);
        EXPECT_EQ(client_socket_timer(server.port()), 0);
    });
}

TEST(redis_connection, health_check_pings_only_an_idle_connection) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto cfg = test_config(server);
        cfg.health_check_interval = 50ms;
        redis::client c(co_await asio::this_coro::executor, cfg);
        redis::client admin(co_await asio::this_coro::executor, test_config(server));
        co_await c.exec(command("CONFIG", "RESETSTAT"));
        // Busy for 500 ms: a command every 10 ms, so no PING is needed.
        for (int i = 0; i < 50; ++i) {
            co_await c.exec(command("INCR", "busy"));
            co_await sleep_for(10ms);
        }
        auto busy = ping_calls(co_await admin.exec(command("INFO", "commandstats")));
        EXPECT_EQ(busy, 0);
        // Idle for 500 ms: the health check PINGs about every 50 ms.
        co_await sleep_for(500ms);
        auto idle = ping_calls(co_await admin.exec(command("INFO", "commandstats")));
        EXPECT_GE(idle, 4);
        EXPECT_LE(idle, 12);
    });
}

TEST(redis_connection, quit_closes_cleanly_on_a_server_that_refuses_quit) {
    redis_server server({.args = {"--rename-command", "QUIT", ""}});
    run_async([&]() -> asio::awaitable<void> {
        redis::client c(co_await asio::this_coro::executor, test_config(server));
        EXPECT_EQ(text(co_await c.exec(command("PING"))), "PONG");
        auto q = co_await c.quit();
        EXPECT_TRUE(q.has_value());
        EXPECT_EQ(c.state(), redis::connection_state::closed);
    });
}
