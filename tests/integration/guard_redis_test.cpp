// tests/integration/guard_redis_test.cpp — the guards on a real redis-server: cache-aside
// (hits, TTL, canonical keys, single-flight, the cross-process fill lock, a Redis killed and
// back), rate limits (both algorithms: exact counts with two processes, windows sliding,
// sessions apart, fail open / closed, nothing replayed after a reconnect), locks (two
// processes × 50 calls never overlap, fencing tokens grow, an expired owner cannot release,
// extension, release on exception and cancellation, the policies when Redis is down), and a
// cached, limited, locked tool through the MCP dispatcher.
//
// "Processes" are real: fork() runs a child with its own io_context and Redis connections.
//
// With MCPD_TEST_REDIS_CLUSTER set, the same tests run on a Redis Cluster (3 masters, 3
// replicas: store_backends.hpp's shared cluster, flushed before each test) instead of the
// redis-server each test starts: integration.guards_on_redis_cluster runs the ones that do not
// kill, freeze or reconfigure their server (tests/integration/CMakeLists.txt).
#include "async_test.hpp"
#include "redis_test_util.hpp"
#include "store_backends.hpp"

#include "mcpd/guard.hpp"
#include "mcpd/protocol/jsonrpc.hpp"
#include "mcpd/server/context.hpp"
#include "mcpd/server/dispatcher.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <stdexcept>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace mcpd;
using namespace mcpd::test;
using namespace mcpd::guard;
using namespace std::chrono_literals;
using redis::command;

namespace {

bool on_cluster() {
    static bool const yes = std::getenv("MCPD_TEST_REDIS_CLUSTER") != nullptr;
    return yes;
}

// Where the guards' Redis is: the test's own server, or the shared cluster.
redis::config target_config(redis_server const& server) {
    if (!on_cluster())
        return test_config(server);
    auto cfg = redis::config_from_url(shared_cluster().url()).value();
    cfg.connect_timeout = 2s;
    cfg.command_timeout = 5s;
    cfg.reconnect = redis::exponential_backoff(10ms, 100ms);
    return cfg;
}

// On the cluster every test starts from an empty one (made before any test forks a child).
class flush_cluster : public ::testing::EmptyTestEventListener {
    void OnTestStart(::testing::TestInfo const&) override {
        auto& c = shared_cluster();
        for (auto m : c.masters())
            c.cli(m, {"FLUSHALL"});
    }
};
[[maybe_unused]] bool const cluster_flushed_per_test = [] {
    if (on_cluster())
        ::testing::UnitTest::GetInstance()->listeners().Append(new flush_cluster);
    return true;
}();

std::shared_ptr<guard_set> redis_guards(asio::any_io_executor ex, redis_server const& server,
                                        guard_options opts = {}) {
    return guard_set::with_redis(ex, target_config(server), std::move(opts));
}

// Runs `child(io)` in a forked process with its own io_context; returns what it wrote to its
// output (one line of text), or "exit <status>" when it did not finish cleanly.
struct child_process {
    pid_t pid = -1;
    int out = -1;
};

child_process fork_child(std::function<std::string(asio::io_context&)> body) {
    int fds[2];
    if (::pipe(fds) != 0)
        throw std::runtime_error("pipe failed");
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        std::string text;
        try {
            asio::io_context io;
            text = body(io);
        } catch (std::exception const& e) {
            text = std::string("exception: ") + e.what();
        }
        auto n = ::write(fds[1], text.data(), text.size());
        (void)n;
        ::close(fds[1]);
        ::_exit(0);
    }
    ::close(fds[1]);
    return {pid, fds[0]};
}

std::string collect(child_process c) {
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(c.out, buf, sizeof buf)) > 0)
        text.append(buf, static_cast<std::size_t>(n));
    ::close(c.out);
    int status = 0;
    ::waitpid(c.pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return "exit " + std::to_string(status);
    return text;
}

// Runs `body` to completion on `io`, bounded in time.
void run_bounded(asio::io_context& io, std::function<asio::awaitable<void>()> body,
                 std::chrono::seconds limit = 30s) {
    bool done = false;
    asio::co_spawn(io, body(), [&](std::exception_ptr e) {
        done = true;
        if (e)
            std::rethrow_exception(e);
    });
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < deadline)
        io.run_one_for(50ms);
    if (!done)
        throw std::runtime_error("child body did not finish in time");
    io.run_for(20ms);
}

asio::awaitable<void> until_ready(guard_set& gs) {
    EXPECT_TRUE(co_await gs.wait_ready(5s));
}

} // namespace

// --- cache ---------------------------------------------------------------------------------

TEST(guard_redis_cache, miss_hit_ttl_and_canonical_keys) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto gs = redis_guards(ex, server);
        co_await until_ready(*gs);
        redis::client raw(ex, target_config(server));
        int calls = 0;
        guard_set::tool_body handler = [&](lock_lease const&) -> asio::awaitable<json::object> {
            ++calls;
            co_return json::object{
                {"content",
                 json::array{json::object{{"type", "text"}, {"text", std::to_string(calls)}}}}};
        };
        auto g = tool_guards{}.cache(300ms);
        auto a = json::parse(R"({"id": 123, "fields": ["name", "email"]})").as_object();
        auto b = json::parse(R"({ "fields":["name","email"],"id":123.0 })").as_object();
        auto first = co_await gs->run_tool({"get_user", "s1", a}, g, handler);
        auto second = co_await gs->run_tool({"get_user", "s2", b}, g, handler);
        EXPECT_EQ(first, second);
        EXPECT_EQ(calls, 1);
        // The key is the contract's: prefix, tool, SHA-256 of the canonical arguments.
        auto key = "mcp:cache:get_user:" + sha256_hex(canonical_json(a));
        auto stored = co_await raw.exec(command("GET", key));
        CO_ASSERT(stored && !stored->is_null());
        auto envelope = json::parse(stored->str).as_object();
        EXPECT_EQ(envelope.at("v").as_object(), first);
        auto ttl = co_await raw.exec(command("PTTL", key));
        EXPECT_TRUE(ttl && ttl->integer > 0 && ttl->integer <= 300) << text(ttl);
        co_await sleep_for(350ms); // past the TTL: Redis expired it
        co_await gs->run_tool({"get_user", "s1", a}, g, handler);
        EXPECT_EQ(calls, 2);
        auto s = gs->stats();
        EXPECT_EQ(s[guard::event::cache_hit], 1u);
        EXPECT_EQ(s[guard::event::cache_miss], 2u);
        EXPECT_EQ(s[guard::event::cache_error], 0u);
        co_await gs->close();
        co_await raw.quit();
    });
}

TEST(guard_redis_cache, only_successes_are_stored_unless_negative_caching_is_on) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto gs = redis_guards(ex, server);
        co_await until_ready(*gs);
        int calls = 0;
        guard_set::tool_body failing = [&](lock_lease const&) -> asio::awaitable<json::object> {
            ++calls;
            co_return tool_error_result("upstream failed");
        };
        json::object args{{"q", "x"}};
        auto plain = tool_guards{}.cache(1min);
        co_await gs->run_tool({"search", "s", args}, plain, failing);
        co_await gs->run_tool({"search", "s", args}, plain, failing);
        EXPECT_EQ(calls, 2);
        auto negative = tool_guards{}.cache(cache_policy{.ttl = 1min, .error_ttl = 5s});
        co_await gs->run_tool({"search2", "s", args}, negative, failing);
        auto again = co_await gs->run_tool({"search2", "s", args}, negative, failing);
        EXPECT_EQ(calls, 3);
        EXPECT_EQ(again.at("isError"), true);
        co_await gs->close();
    });
}

TEST(guard_redis_cache, a_hundred_concurrent_identical_calls_run_the_handler_once) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto gs = redis_guards(ex, server);
        co_await until_ready(*gs);
        int calls = 0, done = 0;
        guard_set::tool_body slow = [&](lock_lease const&) -> asio::awaitable<json::object> {
            ++calls;
            co_await sleep_for(30ms);
            co_return json::object{{"content", json::array{}}};
        };
        auto g = tool_guards{}.cache(1min);
        json::object args{{"id", 1}};
        // Outside the loop: the coroutines refer to this closure until they finish.
        auto one = [&](int i) -> asio::awaitable<void> {
            auto session = "s" + std::to_string(i);
            auto r = co_await gs->run_tool({"hot", session, args}, g, slow);
            EXPECT_FALSE(r.contains("isError"));
            ++done;
        };
        for (int i = 0; i < 100; ++i)
            asio::co_spawn(ex, one(i), asio::detached);
        while (done < 100)
            co_await sleep_for(5ms);
        EXPECT_EQ(calls, 1);
        EXPECT_EQ(gs->stats()[guard::event::cache_coalesced], 99u);
        co_await gs->close();
    });
}

TEST(guard_redis_cache, the_fill_lock_lets_one_process_compute_for_the_others) {
    redis_server server;
    // Two processes miss the same key at once; with the fill lock one computes and the other
    // polls until the entry lands. Each reports how many times its handler ran.
    auto worker = [&](asio::io_context& io) {
        int calls = 0;
        run_bounded(io, [&]() -> asio::awaitable<void> {
            auto gs = redis_guards(io.get_executor(), server);
            co_await gs->wait_ready(5s);
            // Start together: both wait for the same wall-clock 50 ms boundary.
            auto ms = unix_time_ms();
            co_await sleep_for(duration(100 - ms % 50));
            guard_set::tool_body slow = [&](lock_lease const&) -> asio::awaitable<json::object> {
                ++calls;
                co_await sleep_for(300ms);
                co_return json::object{{"content", json::array{}}};
            };
            auto g = tool_guards{}.cache(cache_policy{.ttl = 1min, .fill_lock = true});
            json::object args{{"id", 7}};
            co_await gs->run_tool({"fill", "s", args}, g, slow);
            co_await gs->close();
        });
        return std::to_string(calls);
    };
    auto a = fork_child(worker);
    auto b = fork_child(worker);
    auto ra = collect(a), rb = collect(b);
    EXPECT_EQ(std::stoi(ra) + std::stoi(rb), 1) << ra << " / " << rb;
}

// --- the near cache (near_cache_backend: an in-process copy kept current by client tracking) --

namespace {

// A Redis client as the guards configure theirs, and a near cache on it.
struct near_instance {
    std::shared_ptr<redis::client> client;
    std::shared_ptr<near_cache_backend> cache;
    near_instance(asio::any_io_executor ex, redis_server const& server) {
        auto cfg = target_config(server);
        cfg.offline_queue = false;
        cfg.max_retries_per_request = 0;
        client = std::make_shared<redis::client>(ex, cfg);
        cache = std::make_shared<near_cache_backend>(client, "mcp:cache:");
        client->start();
    }
};

// Waits (bounded) until the client's tracking is on.
asio::awaitable<bool> tracking_on(redis::client const& c) {
    for (int i = 0; i < 200 && !c.tracking_active(); ++i)
        co_await sleep_for(10ms);
    co_return c.tracking_active();
}

// The value `key` reads as through `cache` (or "none"; "error: …" when the read failed).
asio::awaitable<std::string> read(near_cache_backend& cache, std::string key) {
    auto r = co_await cache.get(std::move(key));
    if (!r)
        co_return "error: " + r.error().message();
    co_return *r ? (*r)->data : std::string("none");
}

// Reads `key` through `cache` until a read is served from the near copy (bounded): a read is
// kept only when no invalidation arrived while it was on its way, and the push another
// instance's write sent may still be in flight.
asio::awaitable<std::string> read_until_near_hit(near_cache_backend& cache, std::string key) {
    std::string got;
    for (int i = 0; i < 200; ++i) {
        auto before = cache.near_hits();
        got = co_await read(cache, key);
        if (cache.near_hits() > before)
            co_return got;
        co_await sleep_for(10ms);
    }
    co_return "never served from the copy (last read: " + got + ")";
}

// Polls (bounded) until `key` reads as `want` through `cache`: an invalidation is a push that
// arrives after the write that caused it was answered to its writer.
asio::awaitable<std::string> read_until(near_cache_backend& cache, std::string key,
                                        std::string want) {
    std::string got;
    for (int i = 0; i < 200; ++i) {
        got = co_await read(cache, key);
        if (got == want)
            break;
        co_await sleep_for(10ms);
    }
    co_return got;
}

} // namespace

TEST(guard_redis_near_cache, hits_are_served_in_process_and_follow_other_instances_changes) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        near_instance a(ex, server), b(ex, server);
        redis::client raw(ex, target_config(server));
        CO_ASSERT(co_await tracking_on(*a.client));
        CO_ASSERT(co_await tracking_on(*b.client));
        std::string const key = "mcp:cache:tool:abc";

        CO_ASSERT(co_await a.cache->set(key, "v1", 10s));
        EXPECT_EQ(co_await read(*a.cache, key), "v1"); // a kept what it wrote
        EXPECT_EQ(a.cache->near_hits(), 1u);
        EXPECT_EQ(b.cache->near_hits(), 0u);
        EXPECT_EQ(co_await read_until_near_hit(*b.cache, key), "v1"); // from Redis, then its copy

        // Another instance writes, a client outside mcpd overwrites, deletes: each is seen.
        CO_ASSERT(co_await a.cache->set(key, "v2", 10s));
        EXPECT_EQ(co_await read_until(*b.cache, key, "v2"), "v2");
        CO_ASSERT(co_await raw.exec(command("SET", key, "v3", "PX", 10000)));
        EXPECT_EQ(co_await read_until(*a.cache, key, "v3"), "v3");
        EXPECT_EQ(co_await read_until(*b.cache, key, "v3"), "v3");
        CO_ASSERT(co_await raw.exec(command("DEL", key)));
        EXPECT_EQ(co_await read_until(*a.cache, key, "none"), "none");
        EXPECT_EQ(co_await read_until(*b.cache, key, "none"), "none");

        // The copy lives no longer than the entry in Redis.
        CO_ASSERT(co_await a.cache->set(key, "short", 200ms));
        EXPECT_EQ(co_await read(*a.cache, key), "short");
        co_await sleep_for(300ms);
        EXPECT_EQ(co_await read(*a.cache, key), "none");

        co_await a.client->quit();
        co_await b.client->quit();
        co_await raw.quit();
    });
}

TEST(guard_redis_near_cache, a_lost_connection_drops_the_copies_and_nothing_stale_is_served) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        near_instance a(ex, server);
        CO_ASSERT(co_await tracking_on(*a.client));
        std::string const key = "mcp:cache:tool:lost";
        CO_ASSERT(co_await a.cache->set(key, "before", 60s));
        EXPECT_EQ(co_await read(*a.cache, key), "before");
        EXPECT_EQ(a.cache->near_hits(), 1u);

        server.kill(); // invalidations sent now would be lost: the copies go with the connection
        for (int i = 0; i < 200 && a.client->tracking_active(); ++i)
            co_await sleep_for(10ms);
        EXPECT_FALSE(a.client->tracking_active());
        EXPECT_EQ(a.cache->near_entries(), 0u);
        auto down = co_await read(*a.cache, key);
        EXPECT_EQ(down.rfind("error: ", 0), 0u) << down; // Redis's answer, not the old copy
        EXPECT_EQ(a.cache->near_hits(), 1u);

        server.start(); // empty: no persistence
        redis::client raw(ex, target_config(server));
        CO_ASSERT(co_await raw.exec(command("SET", key, "after", "PX", 60000)));
        CO_ASSERT(co_await tracking_on(*a.client));
        EXPECT_EQ(co_await read_until_near_hit(*a.cache, key), "after");
        co_await a.client->quit();
        co_await raw.quit();
    });
}

TEST(guard_redis_near_cache, refused_tracking_leaves_every_read_to_redis) {
    // A server where CLIENT is renamed away (as some managed Redis services do).
    redis_server server({.args = {"--rename-command", "CLIENT", ""}});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        near_instance a(ex, server);
        redis::client raw(ex, target_config(server));
        for (int i = 0; i < 200 && a.client->state() != redis::connection_state::ready; ++i)
            co_await sleep_for(10ms);
        // CLIENT TRACKING goes out first on a connection: once a later command is answered,
        // so is it (refused here).
        CO_ASSERT(co_await a.client->exec(command("PING")));
        std::string const key = "mcp:cache:tool:refused";
        CO_ASSERT(co_await a.cache->set(key, "v1", 10s));
        EXPECT_EQ(co_await read(*a.cache, key), "v1");
        CO_ASSERT(co_await raw.exec(command("SET", key, "v2", "PX", 10000)));
        EXPECT_EQ(co_await read(*a.cache, key), "v2"); // at once: nothing was kept
        EXPECT_FALSE(a.client->tracking_active());
        EXPECT_EQ(a.cache->near_hits(), 0u);
        EXPECT_EQ(a.cache->near_entries(), 0u);
        co_await a.client->quit();
        co_await raw.quit();
    });
}

TEST(guard_redis_near_cache, a_resp2_connection_keeps_nothing) {
    // Redis accepts CLIENT TRACKING on RESP2 but sends no invalidations there (they need a
    // REDIRECT connection): the near cache must stay off rather than trust its silence.
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto cfg = target_config(server);
        cfg.protocol = redis::protocol_version::resp2;
        cfg.offline_queue = false;
        auto client = std::make_shared<redis::client>(ex, cfg);
        near_cache_backend cache(client, "mcp:cache:");
        client->start();
        redis::client raw(ex, target_config(server));
        for (int i = 0; i < 200 && client->state() != redis::connection_state::ready; ++i)
            co_await sleep_for(10ms);
        std::string const key = "mcp:cache:tool:resp2";
        CO_ASSERT(co_await cache.set(key, "v1", 10s));
        EXPECT_EQ(co_await read(cache, key), "v1");
        CO_ASSERT(co_await raw.exec(command("SET", key, "v2", "PX", 10000)));
        EXPECT_EQ(co_await read(cache, key), "v2");
        EXPECT_FALSE(client->tracking_active());
        EXPECT_EQ(cache.near_hits(), 0u);
        co_await client->quit();
        co_await raw.quit();
    });
}

TEST(guard_redis_cache, redis_killed_every_call_still_succeeds_logged_once_then_caching_resumes) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto gs = redis_guards(ex, server);
        co_await until_ready(*gs);
        int calls = 0;
        guard_set::tool_body handler = [&](lock_lease const&) -> asio::awaitable<json::object> {
            ++calls;
            co_return json::object{{"content", json::array{}}};
        };
        auto g = tool_guards{}.cache(1min);
        json::object args{{"k", 1}};
        co_await gs->run_tool({"t", "s", args}, g, handler);
        co_await gs->run_tool({"t", "s", args}, g, handler);
        EXPECT_EQ(calls, 1);

        // Killed while 20 calls for distinct keys are in their handlers: each still succeeds.
        int burst_ok = 0, burst_done = 0;
        guard_set::tool_body slow = [&](lock_lease const&) -> asio::awaitable<json::object> {
            co_await sleep_for(50ms);
            co_return json::object{{"content", json::array{}}};
        };
        auto burst_call = [&](int i) -> asio::awaitable<void> {
            json::object distinct{{"k", 100 + i}};
            auto r = co_await gs->run_tool({"t", "s", distinct}, g, slow);
            burst_ok += r.contains("isError") ? 0 : 1;
            ++burst_done;
        };
        for (int i = 0; i < 20; ++i)
            asio::co_spawn(ex, burst_call(i), asio::detached);
        co_await sleep_for(10ms);
        server.kill();
        while (burst_done < 20)
            co_await sleep_for(5ms);
        EXPECT_EQ(burst_ok, 20);

        for (int i = 0; i < 20; ++i) {
            auto r = co_await gs->run_tool({"t", "s", args}, g, handler);
            EXPECT_FALSE(r.contains("isError"));
        }
        EXPECT_EQ(calls, 21); // every call fell through to the handler
        auto s = gs->stats();
        EXPECT_EQ(s[guard::event::cache_outage], 1u); // logged once for the whole outage
        EXPECT_GE(s[guard::event::cache_error], 20u);

        server.start();
        CO_ASSERT(co_await gs->wait_ready(5s));
        co_await gs->run_tool({"t", "s", args}, g, handler); // miss (the restart lost it): stored
        co_await gs->run_tool({"t", "s", args}, g, handler); // hit
        EXPECT_EQ(calls, 22);

        EXPECT_EQ(gs->stats()[guard::event::cache_outage], 1u);
        co_await gs->close();
    });
}

// --- rate limits ---------------------------------------------------------------------------

class guard_redis_rate : public ::testing::TestWithParam<rate_algorithm> {};

TEST_P(guard_redis_rate, exact_counts_with_two_processes_calling_concurrently) {
    redis_server server;
    auto algorithm = GetParam();
    // Each process makes 40 concurrent calls for one session against a limit of 30 per minute:
    // exactly 30 of the 80 pass, whichever process made them.
    auto worker = [&](asio::io_context& io) {
        int allowed = 0;
        run_bounded(io, [&]() -> asio::awaitable<void> {
            auto gs = redis_guards(io.get_executor(), server);
            co_await gs->wait_ready(5s);
            int done = 0;
            auto one = [&]() -> asio::awaitable<void> {
                auto d =
                    co_await gs->check_rate_limit("session-1", "fetch_user", 30, 1min, algorithm);
                if (d.allowed && d.decided)
                    ++allowed;
                ++done;
            };
            for (int i = 0; i < 40; ++i)
                asio::co_spawn(io, one(), asio::detached);
            while (done < 40)
                co_await sleep_for(2ms);
            co_await gs->close();
        });
        return std::to_string(allowed);
    };
    auto a = fork_child(worker);
    auto b = fork_child(worker);
    auto ra = collect(a), rb = collect(b);
    EXPECT_EQ(std::stoi(ra) + std::stoi(rb), 30) << ra << " + " << rb;
}

TEST_P(guard_redis_rate, windows_slide_and_sessions_are_apart) {
    redis_server server;
    auto algorithm = GetParam();
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto gs = redis_guards(ex, server);
        co_await until_ready(*gs);
        auto window = 400ms;
        int allowed = 0;
        for (int i = 0; i < 5; ++i)
            allowed += (co_await gs->check_rate_limit("a", "t", 3, window, algorithm)) ? 1 : 0;
        EXPECT_EQ(allowed, 3);
        auto refused = co_await gs->check_rate_limit("a", "t", 3, window, algorithm);
        EXPECT_FALSE(refused.allowed);
        EXPECT_TRUE(refused.decided);
        EXPECT_GT(refused.retry_after, 0ms);
        EXPECT_LE(refused.retry_after, 2 * window);
        // Another session, and another tool, have their own windows.
        EXPECT_TRUE(co_await gs->check_rate_limit("b", "t", 3, window, algorithm));
        EXPECT_TRUE(co_await gs->check_rate_limit("a", "other", 3, window, algorithm));
        // After the advertised wait, a call passes again.
        co_await sleep_for(refused.retry_after + 20ms);
        EXPECT_TRUE(co_await gs->check_rate_limit("a", "t", 3, window, algorithm));
        co_await gs->close();
    });
}

namespace mcpd::guard {
// gtest prints a parameter in test listings (and names the instances by it).
void PrintTo(rate_algorithm a, std::ostream* os) {
    *os << (a == rate_algorithm::sliding_log ? "sliding_log" : "sliding_counter");
}
} // namespace mcpd::guard

INSTANTIATE_TEST_SUITE_P(algorithms, guard_redis_rate,
                         ::testing::Values(rate_algorithm::sliding_log,
                                           rate_algorithm::sliding_counter),
                         ::testing::PrintToStringParamName());

TEST(guard_redis_rate_layout, the_log_is_the_guides_sorted_set_under_the_prefix) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        guard_options opts;
        opts.key_prefix = "app1:";
        auto gs = redis_guards(ex, server, opts);
        co_await until_ready(*gs);
        redis::client raw(ex, target_config(server));
        co_await gs->check_rate_limit("sess", "send_email", 5, 1min);
        co_await gs->check_rate_limit("sess", "send_email", 5, 1min);
        auto type = co_await raw.exec(command("TYPE", "app1:ratelimit:sess:send_email"));
        EXPECT_EQ(text(type), "zset");
        auto count = co_await raw.exec(command("ZCARD", "app1:ratelimit:sess:send_email"));
        EXPECT_EQ(text(count), "2");
        auto ttl = co_await raw.exec(command("TTL", "app1:ratelimit:sess:send_email"));
        EXPECT_TRUE(ttl && ttl->integer > 0 && ttl->integer <= 61) << text(ttl);
        co_await gs->check_rate_limit("sess", "send_email", 5, 1min,
                                      rate_algorithm::sliding_counter);
        auto hash = co_await raw.exec(command("TYPE", "app1:ratecount:sess:send_email"));
        EXPECT_EQ(text(hash), "hash");
        co_await gs->close();
        co_await raw.quit();
    });
}

TEST(guard_redis_rate_failure, open_by_default_closed_when_configured_and_no_replay) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto open = redis_guards(ex, server);
        guard_options closed_opts;
        closed_opts.rate_unavailable = rate_failure::closed;
        auto closed = redis_guards(ex, server, closed_opts);
        co_await until_ready(*open);
        co_await until_ready(*closed);
        EXPECT_TRUE(co_await open->check_rate_limit("s", "t", 100, 1min));

        server.kill();
        int open_allowed = 0, closed_allowed = 0;
        for (int i = 0; i < 25; ++i) {
            auto d = co_await open->check_rate_limit("s", "t", 100, 1min);
            open_allowed += d.allowed ? 1 : 0;
            EXPECT_FALSE(d.decided);
            closed_allowed += (co_await closed->check_rate_limit("s", "t", 100, 1min)) ? 1 : 0;
        }
        EXPECT_EQ(open_allowed, 25);
        EXPECT_EQ(closed_allowed, 0);
        auto s = open->stats();
        EXPECT_EQ(s[guard::event::rate_failed_open], 25u);
        EXPECT_EQ(s[guard::event::rate_outage], 1u);
        EXPECT_EQ(closed->stats()[guard::event::rate_failed_closed], 25u);

        // Declared, fail closed: the text says so.
        guard_set::tool_body never = [](lock_lease const&) -> asio::awaitable<json::object> {
            ADD_FAILURE() << "the handler ran while the limit failed closed";
            co_return json::object{};
        };
        json::object none;
        auto refused =
            co_await closed->run_tool({"t", "s", none}, tool_guards{}.rate_limit(5, 1min), never);
        EXPECT_EQ(refused.at("content").at(0).at("text").as_string(),
                  rate_limit_unavailable_text("t"));

        server.start();
        CO_ASSERT(co_await open->wait_ready(5s));
        // Nothing from the outage was queued and replayed: the fresh server holds no log, and
        // the next call is the first in its window.
        redis::client raw(ex, target_config(server));
        auto exists = co_await raw.exec(command("EXISTS", "mcp:ratelimit:s:t"));
        EXPECT_EQ(text(exists), "0");
        auto d = co_await open->check_rate_limit("s", "t", 100, 1min);
        EXPECT_TRUE(d.decided);
        EXPECT_EQ(d.count, 1);
        co_await open->close();
        co_await closed->close();
        co_await raw.quit();
    });
}

// --- locks ---------------------------------------------------------------------------------

TEST(guard_redis_lock, two_processes_times_fifty_calls_never_overlap_and_fences_grow) {
    redis_server server;
    // Inside the section: INCR a shared counter (more than 1 = another holder is inside) and
    // swap the last fencing token seen (the previous one must be smaller), then DECR.
    auto worker = [&](asio::io_context& io) {
        int ran = 0, overlaps = 0, fence_regressions = 0, failures = 0;
        run_bounded(
            io,
            [&]() -> asio::awaitable<void> {
                auto gs = redis_guards(io.get_executor(), server);
                co_await gs->wait_ready(5s);
                redis::client raw(io.get_executor(), target_config(server));
                lock_policy p;
                p.ttl = 5s;
                p.when_busy = lock_wait::wait;
                p.wait_timeout = 50s;
                int done = 0;
                auto one = [&]() -> asio::awaitable<void> {
                    auto section = [&](lock_lease const& lease) -> asio::awaitable<void> {
                        auto inside = co_await raw.exec(command("INCR", "test:inside"));
                        if (!inside || inside->integer != 1)
                            ++overlaps;
                        auto prev =
                            co_await raw.exec(command("GETSET", "test:last-fence", lease.fence));
                        if (!prev || (!prev->is_null() &&
                                      prev->as_integer().value_or(INT64_MAX) >= lease.fence))
                            ++fence_regressions;
                        co_await sleep_for(1ms);
                        co_await raw.exec(command("DECR", "test:inside"));
                        ++ran;
                    };
                    try {
                        co_await gs->with_lock("send-email:user-123", p, section);
                    } catch (std::exception const&) {
                        ++failures;
                    }
                    ++done;
                };
                for (int i = 0; i < 50; ++i)
                    asio::co_spawn(io, one(), asio::detached);
                while (done < 50)
                    co_await sleep_for(5ms);
                co_await gs->close();
                co_await raw.quit();
            },
            60s);
        return std::to_string(ran) + " " + std::to_string(overlaps) + " " +
               std::to_string(fence_regressions) + " " + std::to_string(failures);
    };
    auto a = fork_child(worker);
    auto b = fork_child(worker);
    for (auto const& r : {collect(a), collect(b)})
        EXPECT_EQ(r, "50 0 0 0") << "ran overlaps fence-regressions failures";
}

TEST(guard_redis_lock, an_expired_owner_cannot_release_or_extend_the_new_owners_lock) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto gs = redis_guards(ex, server);
        co_await until_ready(*gs);
        redis::client raw(ex, target_config(server));
        auto& b = gs->locks().backend();
        auto key = gs->keys().lock_key("rename:a.txt");
        auto first = co_await b.try_acquire(key, "old-owner", 50ms);
        CO_ASSERT(first && *first);
        co_await sleep_for(100ms);
        auto second = co_await b.try_acquire(key, "new-owner", 1min);
        CO_ASSERT(second && *second);
        EXPECT_GT(**second, **first);
        auto released = co_await b.release(key, "old-owner");
        EXPECT_TRUE(released && !*released);
        auto extended = co_await b.extend(key, "old-owner", 1min);
        EXPECT_TRUE(extended && !*extended);
        EXPECT_EQ(text(co_await raw.exec(command("GET", key))), "new-owner");
        // The fencing counter sits in the lock's Cluster slot.
        EXPECT_EQ(text(co_await raw.exec(command("EXISTS", "{" + key + "}:fence"))), "1");
        co_await gs->close();
        co_await raw.quit();
    });
}

TEST(guard_redis_lock, extension_keeps_a_long_handlers_lock) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto gs = redis_guards(ex, server);
        auto other = redis_guards(ex, server);
        co_await until_ready(*gs);
        co_await until_ready(*other);
        // The TTL leaves a third of itself (200 ms) as slack for a late timer on a busy machine.
        lock_policy p;
        p.ttl = 600ms;
        int intruded = 0, refused = 0;
        bool lost = true;
        auto long_section = [&](lock_lease const& lease) -> asio::awaitable<void> {
            for (int i = 0; i < 12; ++i) { // 2.4 s: four TTLs
                co_await sleep_for(200ms);
                auto probe = []() -> asio::awaitable<void> { co_return; };
                try {
                    co_await other->with_lock("long-job", p, probe);
                    ++intruded;
                } catch (lock_busy const&) {
                    ++refused;
                }
            }
            lost = lease.lost();
        };
        co_await gs->with_lock("long-job", p, long_section);
        EXPECT_EQ(intruded, 0);
        EXPECT_EQ(refused, 12);
        EXPECT_FALSE(lost);
        EXPECT_GE(gs->stats()[guard::event::lock_extended], 3u);
        co_await gs->close();
        co_await other->close();
    });
}

TEST(guard_redis_lock, released_on_exception_and_on_cancellation) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto gs = redis_guards(ex, server);
        co_await until_ready(*gs);
        redis::client raw(ex, target_config(server));
        auto key = gs->keys().lock_key("job");
        auto throwing = []() -> asio::awaitable<void> {
            throw std::runtime_error("payment provider down");
            co_return;
        };
        bool threw = false;
        try {
            co_await gs->with_lock("job", 30s, throwing);
        } catch (std::runtime_error const&) {
            threw = true;
        }
        EXPECT_TRUE(threw);
        EXPECT_EQ(text(co_await raw.exec(command("EXISTS", key))), "0");

        asio::cancellation_signal cancel;
        bool entered = false, finished = false;
        std::exception_ptr outcome;
        auto slow = [&]() -> asio::awaitable<void> {
            entered = true;
            co_await sleep_for(30s);
        };
        asio::co_spawn(ex, gs->with_lock("job", 30s, slow),
                       asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
                           outcome = e;
                           finished = true;
                       }));
        while (!entered)
            co_await sleep_for(5ms);
        EXPECT_EQ(text(co_await raw.exec(command("EXISTS", key))), "1");
        cancel.emit(asio::cancellation_type::terminal);
        while (!finished)
            co_await sleep_for(5ms);
        EXPECT_TRUE(outcome);
        EXPECT_EQ(text(co_await raw.exec(command("EXISTS", key))), "0");
        co_await gs->close();
        co_await raw.quit();
    });
}

TEST(guard_redis_lock, redis_down_proceeds_by_default_or_refuses_when_configured) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto proceed = redis_guards(ex, server);
        guard_options refuse_opts;
        refuse_opts.lock_unavailable = lock_failure::refuse;
        auto refuse = redis_guards(ex, server, refuse_opts);
        co_await until_ready(*proceed);
        co_await until_ready(*refuse);
        server.kill();
        int ran = 0;
        bool held = true;
        auto body = [&](lock_lease const& lease) -> asio::awaitable<void> {
            ++ran;
            held = lease.held;
            co_return;
        };
        co_await proceed->with_lock("r", 30s, body);
        EXPECT_EQ(ran, 1);
        EXPECT_FALSE(held);
        bool refused = false;
        try {
            co_await refuse->with_lock("r", 30s, body);
        } catch (lock_unavailable const& e) {
            refused = true;
            EXPECT_EQ(std::string(e.what()), lock_unavailable_text);
        }
        EXPECT_TRUE(refused);
        EXPECT_EQ(ran, 1);
        EXPECT_EQ(proceed->stats()[guard::event::lock_proceeded], 1u);
        EXPECT_EQ(refuse->stats()[guard::event::lock_refused], 1u);
        co_await proceed->close();
        co_await refuse->close();
    });
}

// --- through the MCP dispatcher --------------------------------------------------------------

TEST(guard_redis_dispatch, a_cached_limited_locked_tool_end_to_end) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        server::server srv(server::server_options{.info = {.name = "t", .version = "1"},
                                                  .guards = redis_guards(ex, server)});
        CO_ASSERT(co_await srv.guards().wait_ready(5s));
        server::session_manager sessions(std::make_shared<server::memory_session_records>(), 10);
        server::dispatcher d(srv, sessions, ex);
        int calls = 0;
        json::object schema{
            {"type", "object"},
            {"properties", json::object{{"user_id", json::object{{"type", "string"}}}}}};
        srv.add_tool(
            server::tool{.name = "profile", .input_schema = schema}
                .cache(1min)
                .rate_limit(3, 1min)
                .lock("profile:{user_id}", 10s),
            [&](server::context& ctx, json::object args) -> asio::awaitable<server::tool_result> {
                ++calls;
                EXPECT_TRUE(ctx.lock_fence().has_value());
                co_return server::tool_result::text("profile of " +
                                                    std::string(args.at("user_id").as_string()));
            });
        auto s = sessions.create().value();
        server::message_sink sink = [](json::object const&) { return true; };
        int id = 0;
        auto call = [&](json::object params) -> asio::awaitable<json::object> {
            protocol::request r{++id, "tools/call", std::move(params)};
            auto out = co_await d.handle_request(s, std::move(r), sink);
            co_return out ? out->at("result").as_object() : json::object{};
        };
        json::object init{{"protocolVersion", "2025-11-25"}, {"capabilities", json::object{}}};
        protocol::request ir{0, "initialize", init};
        co_await d.handle_request(s, std::move(ir), sink);

        json::object params{{"name", "profile"}, {"arguments", json::object{{"user_id", "u-1"}}}};
        auto first = co_await call(params);
        auto second = co_await call(params);
        EXPECT_EQ(first.at("content").at(0).at("text"), "profile of u-1");
        EXPECT_EQ(first, second);
        EXPECT_EQ(calls, 1);
        co_await call(params);
        auto limited = co_await call(params);
        EXPECT_EQ(limited.at("isError"), true);
        auto text_of = std::string(limited.at("content").at(0).at("text").as_string());
        EXPECT_TRUE(text_of.starts_with(
            "Rate limit exceeded: max 3 profile calls per minute. Try again in "))
            << text_of;
        EXPECT_EQ(calls, 1);

        // Held elsewhere (another instance): the guide's text.
        redis::client raw(ex, target_config(server));
        co_await raw.exec(command("SET", "mcp:lock:profile:u-2", "other-instance", "PX", 60000));
        auto s2 = sessions.create().value();
        s = s2;
        protocol::request ir2{0, "initialize", init};
        co_await d.handle_request(s, std::move(ir2), sink);
        json::object busy_params{{"name", "profile"},
                                 {"arguments", json::object{{"user_id", "u-2"}}}};
        auto busy = co_await call(busy_params);
        EXPECT_EQ(busy.at("isError"), true);
        EXPECT_EQ(busy.at("content").at(0).at("text"),
                  "Operation in progress — try again in a moment");
        EXPECT_EQ(calls, 1);
        co_await srv.guards().close();
        co_await raw.quit();
    });
}
