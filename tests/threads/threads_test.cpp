// tests/threads/threads_test.cpp — the parts of mcpd that more than one thread touches, driven
// from several threads at once so that ThreadSanitizer (the tsan preset, and the tsan.threads
// test that builds this under it in CI) sees every hand-over: the blocking pool (SQLite and file
// stores, the HTTP transport's off-loop parse) and the Redis client's strand (any thread may call
// exec; replies resume on the caller's executor), also while its server is killed and restarted.
// Under the normal build these are functional tests of the same guarantees.
#include "../integration/redis_server.hpp"
#include "../integration/redis_test_util.hpp"
#include "core/blocking_pool.hpp"
#include "mcpd/core/client_tally.hpp"
#include "mcpd/redis/client.hpp"
#include "mcpd/store/session_store.hpp"
#include "store/file_store.hpp"
#include "store/sqlite_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr int io_threads = 4;

// An io_context run by io_threads threads until `body` (spawned on a strand of its own, as each
// connection of a multi-threaded server is) and everything it spawned are done.
void run_on_threads(asio::io_context& io, std::function<asio::awaitable<void>()> body) {
    auto done = asio::co_spawn(asio::make_strand(io), std::move(body), asio::use_future);
    std::vector<std::jthread> threads;
    threads.reserve(io_threads);
    for (int i = 0; i < io_threads; ++i)
        threads.emplace_back([&io] { io.run(); });
    threads.clear(); // joins: run() returns once no work is left
    done.get();      // rethrows what the body threw
}

// Spawns `count` coroutines, each on a strand of its own (so they run on different threads),
// and waits for all of them.
asio::awaitable<void> in_parallel(asio::io_context& io, int count,
                                  std::function<asio::awaitable<void>(int)> task) {
    auto ex = co_await asio::this_coro::executor;
    auto left = std::make_shared<std::atomic<int>>(count);
    auto all_done = std::make_shared<asio::steady_timer>(ex, asio::steady_timer::time_point::max());
    for (int i = 0; i < count; ++i)
        asio::co_spawn(asio::make_strand(io), task(i),
                       [left, all_done, ex](std::exception_ptr const& e) {
                           if (e)
                               ADD_FAILURE() << "a task threw";
                           if (left->fetch_sub(1) == 1)
                               asio::post(ex, [all_done] { all_done->cancel(); });
                       });
    boost::system::error_code ec;
    co_await all_done->async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        char tmpl[] = "/tmp/mcpd-threads-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr)
            throw std::runtime_error("mkdtemp failed");
        path = tmpl;
    }
    ~temp_dir() { std::filesystem::remove_all(path); }
};

} // namespace

// A pool of one thread serializes what runs on it (a SQLite connection's need): a plain
// counter touched only inside run() needs no lock, and each caller gets its own result back.
TEST(threads, a_one_thread_pool_serializes_work_from_many_threads) {
    asio::io_context io;
    mcpd::blocking_pool pool(1);
    long counter = 0; // deliberately not atomic
    std::atomic<int> wrong_results{0};
    run_on_threads(io, [&]() -> asio::awaitable<void> {
        co_await in_parallel(io, 400, [&](int i) -> asio::awaitable<void> {
            int got = co_await pool.run([&counter, i] {
                ++counter;
                return i;
            });
            if (got != i)
                ++wrong_results;
        });
    });
    EXPECT_EQ(counter, 400);
    EXPECT_EQ(wrong_results.load(), 0);
}

namespace {

// Many sessions written, updated, read and listed at once from several threads: every one is
// there afterwards with its last update, and the listing counts them all.
void store_under_threads(
    std::function<asio::awaitable<std::unique_ptr<mcpd::store::session_store>>()> open) {
    asio::io_context io;
    std::atomic<int> failures{0};
    std::size_t listed = 0;
    run_on_threads(io, [&]() -> asio::awaitable<void> {
        auto store = co_await open();
        co_await in_parallel(io, 60, [&](int i) -> asio::awaitable<void> {
            auto identity = "user-" + std::to_string(i % 3);
            auto sid = "session" + std::to_string(i);
            json::object record{{"identity", identity},
                                {"sessionId", sid},
                                {"serverUrl", "https://mcp.example.com/mcp"},
                                {"createdAt", 1733500000000 + i}};
            // Named, not temporaries inside co_await: docs/rough_edges.md (GCC 12).
            auto name = "n" + std::to_string(i);
            json::object partial{{"serverName", name}};
            auto created = co_await store->create_session(record);
            auto updated = co_await store->update_session(identity, sid, partial);
            auto got = co_await store->get_session(identity, sid);
            if (!created || !updated || !got || !*got ||
                (**got).at("serverName") != json::value(name))
                ++failures;
        });
        for (int u = 0; u < 3; ++u) {
            auto all = co_await store->get_identity_sessions_data("user-" + std::to_string(u));
            if (all)
                listed += all->size();
            else
                ++failures;
        }
        co_await store->close();
    });
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(listed, 60U);
}

} // namespace

// A store of type Store opened on `path`, for store_under_threads.
template <class Store>
asio::awaitable<std::unique_ptr<mcpd::store::session_store>> open_store(std::string path) {
    auto s = co_await Store::open(std::move(path));
    if (!s)
        throw std::runtime_error(s.error().message());
    co_return std::move(*s);
}

TEST(threads, the_sqlite_store_from_many_threads) {
    temp_dir dir;
    store_under_threads(
        [&] { return open_store<mcpd::store::sqlite_store>((dir.path / "sessions.db").string()); });
}

TEST(threads, the_file_store_from_many_threads) {
    temp_dir dir;
    store_under_threads(
        [&] { return open_store<mcpd::store::file_store>((dir.path / "sessions.json").string()); });
}

// One client, called from coroutines on every thread: each INCR counted once, each caller's
// pipeline answered in its order.
TEST(threads, one_redis_client_shared_by_every_thread) {
    mcpd::test::redis_server server;
    asio::io_context io;
    std::atomic<int> failures{0};
    std::string total;
    run_on_threads(io, [&]() -> asio::awaitable<void> {
        mcpd::redis::client c(co_await asio::this_coro::executor, mcpd::test::test_config(server));
        co_await in_parallel(io, 40, [&](int i) -> asio::awaitable<void> {
            for (int n = 0; n < 25; ++n)
                if (!co_await c.exec(mcpd::redis::command("INCR", "counter")))
                    ++failures;
            mcpd::redis::request req;
            auto key = "list" + std::to_string(i);
            for (int n = 0; n < 10; ++n)
                req.push(mcpd::redis::command("RPUSH", key, std::to_string(n)));
            auto replies = co_await c.exec(std::move(req));
            if (!replies || replies->size() != 10)
                ++failures;
            else
                for (int n = 0; n < 10; ++n)
                    if ((*replies)[static_cast<std::size_t>(n)].integer != n + 1)
                        ++failures;
        });
        total = mcpd::test::text(co_await c.exec(mcpd::redis::command("GET", "counter")));
        (void)co_await c.quit();
    });
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(total, "1000");
}

// The server killed and restarted while every thread sends: each call ends (a reply or an
// error), none twice, and the client serves again once the server is back.
TEST(threads, the_redis_client_across_a_server_restart) {
    mcpd::test::redis_server server;
    asio::io_context io;
    std::atomic<int> answered{0};
    std::string after;
    run_on_threads(io, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        mcpd::redis::client c(ex, mcpd::test::test_config(server));
        // From an I/O thread, which lives until the end of the run: redis-server dies with the
        // thread that started it (PR_SET_PDEATHSIG).
        asio::co_spawn(
            asio::make_strand(io),
            [&server]() -> asio::awaitable<void> {
                asio::steady_timer pause(co_await asio::this_coro::executor, 100ms);
                co_await pause.async_wait(asio::use_awaitable);
                server.kill();
                pause.expires_after(100ms);
                co_await pause.async_wait(asio::use_awaitable);
                server.start();
            },
            asio::detached);
        co_await in_parallel(io, 20, [&](int) -> asio::awaitable<void> {
            for (int n = 0; n < 30; ++n) {
                (void)co_await c.exec(mcpd::redis::command("INCR", "counter"));
                ++answered;
                asio::steady_timer pause(co_await asio::this_coro::executor, 10ms);
                co_await pause.async_wait(asio::use_awaitable);
            }
        });
        after = mcpd::test::text(co_await c.exec(mcpd::redis::command("SET", "k", "v")));
        (void)co_await c.quit();
    });
    EXPECT_EQ(answered.load(), 600);
    EXPECT_EQ(after, "OK");
}

// The client tally the event loops of `mcpd serve --threads N` share: four threads take and give
// back connections of eight clients under a limit; no client ever holds more than its limit, and
// everything is given back.
TEST(threads, one_client_tally_shared_by_every_loop) {
    using kind = mcpd::client_tally::kind;
    mcpd::client_tally tally;
    constexpr std::size_t limit = 3;
    std::atomic<int> over{0};
    std::vector<std::thread> loops;
    for (int t = 0; t < 4; ++t)
        loops.emplace_back([&tally, &over, t] {
            for (int i = 0; i < 2000; ++i) {
                auto client = "10.0.0." + std::to_string((i + t) % 8);
                if (!tally.try_add(client, kind::connections, limit))
                    continue;
                if (tally.held(client).connections > limit)
                    ++over;
                tally.add(client, kind::streams);
                tally.remove(client, kind::streams);
                tally.remove(client, kind::connections);
            }
        });
    for (auto& l : loops)
        l.join();
    EXPECT_EQ(over.load(), 0);
    EXPECT_EQ(tally.total(kind::connections), 0u);
    EXPECT_EQ(tally.total(kind::streams), 0u);
}

#if defined(__SANITIZE_THREAD__)
// The control: under ThreadSanitizer a plain race is reported and fails the process, so the
// tests above passing means no race was seen, not that none could be.
TEST(threads, the_sanitizer_reports_a_race_it_is_shown) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            int shared = 0;
            std::thread writer([&shared] { shared = 1; });
            shared = 2;
            writer.join();
        },
        "ThreadSanitizer: data race");
}
#endif
