// The guards without Redis: key layout and canonical arguments, refusal texts, the text form of
// declarations, the in-process backends (LRU bounds and TTLs, both rate-limit algorithms on a
// synthetic clock, locks), and the policies above them (single-flight, negative caching, XFetch,
// lock waiting / extension / release on exception and cancellation), on an io_context.
#include "mcpd/guard.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <map>
#include <stdexcept>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace mcpd;
using namespace mcpd::guard;
using namespace std::chrono_literals;

namespace {

// Runs `a` (and whatever it spawns) to completion on `io`, rethrowing its exception.
template <class T>
T run(asio::io_context& io, asio::awaitable<T> a) {
    std::optional<T> out;
    std::exception_ptr failure;
    asio::co_spawn(io, std::move(a), [&](std::exception_ptr e, T v) {
        failure = e;
        if (!e)
            out = std::move(v);
    });
    io.restart();
    io.run();
    if (failure)
        std::rethrow_exception(failure);
    return std::move(*out);
}
void run(asio::io_context& io, asio::awaitable<void> a) {
    std::exception_ptr failure;
    asio::co_spawn(io, std::move(a), [&](std::exception_ptr e) { failure = e; });
    io.restart();
    io.run();
    if (failure)
        std::rethrow_exception(failure);
}

asio::awaitable<void> sleep_for(duration d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

json::object obj(std::string_view text) {
    return json::parse(text).as_object();
}

} // namespace

// --- keys ----------------------------------------------------------------------------------

TEST(guard_keys, canonical_json_ignores_key_order_whitespace_and_number_spelling) {
    auto a = json::parse(R"({"b": [1, {"y": 2, "x": 1.0}], "a": "s"})");
    auto b = json::parse(R"({"a":"s","b":[1e0,{"x":1,"y":2}]})");
    EXPECT_EQ(canonical_json(a), canonical_json(b));
    EXPECT_EQ(canonical_json(a), R"({"a":"s","b":[1,{"x":1,"y":2}]})");
    EXPECT_NE(canonical_json(json::parse(R"({"a":1.5})")),
              canonical_json(json::parse(R"({"a":1})")));
    EXPECT_NE(canonical_json(json::parse(R"({"a":"1"})")),
              canonical_json(json::parse(R"({"a":1})")));
}

TEST(guard_keys, layout_follows_the_prefix_contract) {
    key_space k; // "mcp:"
    auto args = obj(R"({"id": 123})");
    auto key = k.tool_cache_key("get_user", args, cache_scope::shared, "s1");
    EXPECT_EQ(key, "mcp:cache:get_user:" + sha256_hex(R"({"id":123})"));
    EXPECT_EQ(key, k.tool_cache_key("get_user", args, cache_scope::shared, "other session"));
    EXPECT_NE(k.tool_cache_key("get_user", args, cache_scope::session, "s1"),
              k.tool_cache_key("get_user", args, cache_scope::session, "s2"));
    EXPECT_EQ(k.rate_log_key("abc", "fetch_user"), "mcp:ratelimit:abc:fetch_user");
    EXPECT_EQ(k.rate_counter_key("abc", "fetch_user"), "mcp:ratecount:abc:fetch_user");
    EXPECT_EQ(k.lock_key("send-email:user-123"), "mcp:lock:send-email:user-123");
    EXPECT_EQ(k.cache_key("user:1"), "mcp:cache:user:1");
    EXPECT_EQ(key_space("app:").lock_key("r"), "app:lock:r");
    EXPECT_EQ(sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(guard_keys, hash_slots_match_redis_cluster_and_fence_keys_share_the_lock_slot) {
    // Values from the Redis Cluster specification and CLUSTER KEYSLOT.
    EXPECT_EQ(hash_slot("123456789"), 0x31C3 % 16384);
    EXPECT_EQ(hash_slot("foo"), 12182);
    EXPECT_EQ(hash_slot("{user1000}.following"), hash_slot("{user1000}.followers"));
    EXPECT_EQ(hash_slot("foo{}{bar}"), hash_slot("foo{}{bar}")); // empty tag: the whole key
    EXPECT_NE(hash_slot("foo{}{bar}"), hash_slot("bar"));
    for (std::string lock : {"mcp:lock:send-email:user-123", "mcp:lock:{tenant-7}:rename",
                             "mcp:lock:open{only", "mcp:lock:x{a}{b}"}) {
        EXPECT_EQ(hash_slot(fence_key(lock)), hash_slot(lock)) << lock << " / " << fence_key(lock);
    }
    EXPECT_EQ(fence_key("mcp:lock:r"), "{mcp:lock:r}:fence");
    EXPECT_EQ(fence_key("mcp:lock:{t}:r"), "mcp:lock:{t}:r:fence");
}

TEST(guard_keys, templates_take_argument_values_and_name_what_is_missing) {
    auto args = obj(R"({"user_id": "u-1", "n": 7, "flag": true, "o": {"b": 1, "a": 2}})");
    EXPECT_EQ(fill_key_template("send-email:{user_id}", args).value(), "send-email:u-1");
    EXPECT_EQ(fill_key_template("{n}/{flag}/{o}", args).value(), R"(7/true/%7B"a":2,"b":1%7D)");
    EXPECT_EQ(fill_key_template("lit{{x}}:{n}", args).value(), "lit{x}:7");
    // Braces in values are escaped: an argument cannot choose the key's Cluster slot.
    auto tricky = obj(R"({"user_id": "{evil}%"})");
    EXPECT_EQ(fill_key_template("send-email:{user_id}", tricky).value(),
              "send-email:%7Bevil%7D%25");
    auto missing = fill_key_template("send-email:{to}", args);
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().detail.find("\"to\""), std::string::npos) << missing.error().detail;
    EXPECT_FALSE(key_template_fields("a:{b"));
    EXPECT_FALSE(key_template_fields("a:}"));
    EXPECT_FALSE(key_template_fields("a:{}"));
    EXPECT_EQ(key_template_fields("x:{a}:{b}").value(), (std::vector<std::string>{"a", "b"}));
}

// --- texts ---------------------------------------------------------------------------------

TEST(guard_texts, say_the_limit_window_and_when_to_retry) {
    EXPECT_EQ(rate_limit_exceeded_text(5, "send_email", 1min, 12'200ms),
              "Rate limit exceeded: max 5 send_email calls per minute. Try again in 13 seconds.");
    EXPECT_EQ(rate_limit_exceeded_text(30, "search", 30s, 400ms),
              "Rate limit exceeded: max 30 search calls per 30 seconds. Try again in 1 second.");
    EXPECT_EQ(window_in_words(1h), "hour");
    EXPECT_EQ(window_in_words(2h), "2 hours");
    EXPECT_EQ(window_in_words(5min), "5 minutes");
    EXPECT_EQ(window_in_words(1s), "second");
    EXPECT_EQ(window_in_words(1500ms), "1500 milliseconds");
    EXPECT_EQ(lock_busy_text, "Operation in progress — try again in a moment");
    EXPECT_STREQ(lock_busy().what(), "Operation in progress — try again in a moment");
}

// --- declarations --------------------------------------------------------------------------

TEST(guard_declarations, fluent_setters_check_their_values) {
    auto g = tool_guards{}.cache(300s).rate_limit(30, 1min).lock("send-email:{user_id}", 30s);
    ASSERT_TRUE(g.cached && g.limited && g.locked);
    EXPECT_EQ(g.cached->ttl, 300s);
    EXPECT_EQ(g.limited->max, 30);
    EXPECT_EQ(g.limited->window, 1min);
    EXPECT_EQ(g.locked->key_template, "send-email:{user_id}");
    EXPECT_EQ(describe(g), "cache 5min, rate 30 per minute (sliding log), lock "
                           "send-email:{user_id} for 30s");
    EXPECT_THROW(tool_guards{}.cache(0s), std::invalid_argument);
    EXPECT_THROW(tool_guards{}.rate_limit(0, 1min), std::invalid_argument);
    EXPECT_THROW(tool_guards{}.rate_limit(1, 0s), std::invalid_argument);
    EXPECT_THROW(tool_guards{}.lock("a:{b", 1s), std::invalid_argument);
    EXPECT_TRUE(tool_guards{}.empty());
}

TEST(guard_declarations, text_form_reads_every_option) {
    auto g = parse_tool_guards("cache:300s:session:errors=10s:fill-lock:no-early-refresh, "
                               "rate:30/1min:counter:closed,lock:send-email:{user_id}/30s:wait=5s:"
                               "refuse:no-extend")
                 .value();
    EXPECT_EQ(g.cached->ttl, 300s);
    EXPECT_EQ(g.cached->scope, cache_scope::session);
    EXPECT_EQ(g.cached->error_ttl, duration(10s));
    EXPECT_TRUE(g.cached->fill_lock);
    EXPECT_FALSE(g.cached->early_refresh);
    EXPECT_EQ(g.limited->algorithm, rate_algorithm::sliding_counter);
    EXPECT_EQ(g.limited->on_unavailable, rate_failure::closed);
    EXPECT_EQ(g.locked->key_template, "send-email:{user_id}");
    EXPECT_EQ(g.locked->ttl, 30s);
    EXPECT_EQ(g.locked->when_busy, lock_wait::wait);
    EXPECT_EQ(g.locked->wait_timeout, 5s);
    EXPECT_EQ(g.locked->on_unavailable, lock_failure::refuse);
    EXPECT_FALSE(g.locked->auto_extend);

    auto list = parse_guard_assignments("echo=cache:1min; add = rate:5/1s").value();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].first, "echo");
    EXPECT_EQ(list[1].first, "add");
    EXPECT_EQ(list[1].second.limited->max, 5);

    for (auto bad : {"", "cache", "cache:soon", "cache:0s", "rate:30", "rate:x/1min", "rate:0/1min",
                     "rate:3/1min:sometimes", "lock:30s", "lock:k:{a/30s", "lock:k/30s:maybe",
                     "shield:1s", "cache:1s:errors=0s"}) {
        auto r = parse_tool_guards(bad);
        EXPECT_FALSE(r) << bad;
        if (!r) {
            EXPECT_FALSE(r.error().detail.empty()) << bad;
        }
    }
    EXPECT_FALSE(parse_guard_assignments("echo"));
    EXPECT_FALSE(parse_guard_assignments("echo=rate:1"));
}

// --- in-process cache backend --------------------------------------------------------------

TEST(guard_memory_cache, lru_is_bounded_by_entries_and_bytes_and_honours_ttl) {
    memory_cache_backend by_count({.max_entries = 3, .max_bytes = 1 << 20});
    for (auto k : {"a", "b", "c"})
        by_count.store(k, "v", 1min);
    ASSERT_TRUE(by_count.lookup("a")); // a is now the most recently used
    by_count.store("d", "v", 1min);    // evicts b, the least recently used
    EXPECT_EQ(by_count.entries(), 3u);
    EXPECT_FALSE(by_count.lookup("b"));
    EXPECT_TRUE(by_count.lookup("a"));
    EXPECT_TRUE(by_count.lookup("c"));
    EXPECT_TRUE(by_count.lookup("d"));

    auto const per = memory_cache_backend::overhead_bytes + 1 + 100;
    memory_cache_backend by_bytes({.max_entries = 100, .max_bytes = 2 * per});
    by_bytes.store("x", std::string(100, 'x'), 1min);
    by_bytes.store("y", std::string(100, 'y'), 1min);
    by_bytes.store("z", std::string(100, 'z'), 1min);
    EXPECT_EQ(by_bytes.entries(), 2u);
    EXPECT_LE(by_bytes.bytes(), 2 * per);
    EXPECT_FALSE(by_bytes.lookup("x"));
    by_bytes.store("huge", std::string(4 * per, 'h'), 1min); // larger than the bound: not kept
    EXPECT_FALSE(by_bytes.lookup("huge"));
    EXPECT_EQ(by_bytes.entries(), 2u);

    memory_cache_backend ttl;
    ttl.store("k", "v", 30ms);
    auto e = ttl.lookup("k");
    ASSERT_TRUE(e);
    EXPECT_LE(e->ttl_left, 30ms);
    asio::io_context io;
    run(io, sleep_for(60ms));
    EXPECT_FALSE(ttl.lookup("k"));
    EXPECT_EQ(ttl.entries(), 0u);
}

// --- rate-limit algorithms -----------------------------------------------------------------

TEST(guard_rate_algorithms, sliding_log_is_exact_and_slides) {
    sliding_log_state s;
    for (int i = 0; i < 3; ++i)
        EXPECT_TRUE(sliding_log_hit(s, 1000 + i * 10, 3, 1000ms).allowed);
    auto refused = sliding_log_hit(s, 1500, 3, 1000ms);
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.count, 3);
    EXPECT_EQ(refused.retry_after, 500ms); // the call at 1000 leaves the window at 2000
    EXPECT_FALSE(sliding_log_hit(s, 1999, 3, 1000ms).allowed); // refusals are not counted
    auto later = sliding_log_hit(s, 2000, 3, 1000ms);          // exactly one window later
    EXPECT_TRUE(later.allowed);
    EXPECT_EQ(later.count, 3);
    EXPECT_FALSE(sliding_log_hit(s, 2005, 3, 1000ms).allowed);
    EXPECT_TRUE(sliding_log_hit(s, 2010, 3, 1000ms).allowed);
}

TEST(guard_rate_algorithms, sliding_counter_weights_the_previous_window) {
    sliding_counter_state s;
    // Window [0, 1000): 4 calls allowed of 4.
    for (int i = 0; i < 4; ++i)
        EXPECT_TRUE(sliding_counter_hit(s, 100 + i, 4, 1000ms).allowed);
    auto full = sliding_counter_hit(s, 900, 4, 1000ms);
    EXPECT_FALSE(full.allowed);
    // Next window at 250ms in: 4 × 0.75 = 3 carried, so one more fits, then none.
    EXPECT_TRUE(sliding_counter_hit(s, 1250, 4, 1000ms).allowed);
    auto refused = sliding_counter_hit(s, 1260, 4, 1000ms);
    EXPECT_FALSE(refused.allowed);
    EXPECT_GT(refused.retry_after, 0ms);
    // At 1500: 4 × 0.5 + 1 = 3 → allowed.
    EXPECT_TRUE(sliding_counter_hit(s, 1500, 4, 1000ms).allowed);
    // Two windows later everything is forgotten.
    for (int i = 0; i < 4; ++i)
        EXPECT_TRUE(sliding_counter_hit(s, 3000 + i, 4, 1000ms).allowed);
}

TEST(guard_rate_algorithms, retry_after_is_when_a_call_would_pass) {
    for (auto algorithm : {rate_algorithm::sliding_log, rate_algorithm::sliding_counter}) {
        memory_rate_limit_backend b;
        double t = 10'000;
        for (int i = 0; i < 5; ++i)
            ASSERT_TRUE(b.hit_now("k", 5, 1000ms, algorithm, t + i * 37).allowed);
        auto refused = b.hit_now("k", 5, 1000ms, algorithm, t + 300);
        ASSERT_FALSE(refused.allowed);
        auto at = t + 300 + static_cast<double>(refused.retry_after.count());
        EXPECT_FALSE(b.hit_now("k", 5, 1000ms, algorithm, at - 2).allowed)
            << static_cast<int>(algorithm);
        EXPECT_TRUE(b.hit_now("k", 5, 1000ms, algorithm, at).allowed)
            << static_cast<int>(algorithm);
    }
}

TEST(guard_rate_algorithms, keys_are_independent_and_idle_ones_are_swept) {
    memory_rate_limit_backend b({.sweep_above = 4});
    EXPECT_TRUE(b.hit_now("a", 1, 100ms, rate_algorithm::sliding_log, 0).allowed);
    EXPECT_FALSE(b.hit_now("a", 1, 100ms, rate_algorithm::sliding_log, 1).allowed);
    EXPECT_TRUE(b.hit_now("b", 1, 100ms, rate_algorithm::sliding_log, 1).allowed);
    EXPECT_TRUE(b.hit_now("c", 1, 100ms, rate_algorithm::sliding_log, 2).allowed);
    EXPECT_TRUE(b.hit_now("d", 1, 100ms, rate_algorithm::sliding_log, 3).allowed);
    EXPECT_EQ(b.keys(), 4u);
    EXPECT_TRUE(b.hit_now("e", 1, 100ms, rate_algorithm::sliding_log, 1000).allowed);
    EXPECT_EQ(b.keys(), 1u);
}

// --- response_cache ------------------------------------------------------------------------

struct GuardCache : ::testing::Test {
    asio::io_context io;
    counters m;
    std::shared_ptr<memory_cache_backend> backend = std::make_shared<memory_cache_backend>();
    response_cache cache{backend, m};
    int calls = 0;
};

TEST_F(GuardCache, miss_then_hit_and_only_successes_are_stored) {
    response_cache::classifier is_error = [](json::value const& v) {
        return v.as_object().contains("isError");
    };
    auto compute = [this]() -> asio::awaitable<json::value> {
        ++calls;
        co_return json::object{{"n", calls}};
    };
    cache_settings s{.ttl = 1min};
    EXPECT_EQ(run(io, cache.get_or_compute("k", s, compute, is_error)),
              json::value(obj(R"({"n":1})")));
    EXPECT_EQ(run(io, cache.get_or_compute("k", s, compute, is_error)),
              json::value(obj(R"({"n":1})")));
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(m.snapshot()[guard::event::cache_hit], 1u);
    EXPECT_EQ(m.snapshot()[guard::event::cache_miss], 1u);

    auto failing = [this]() -> asio::awaitable<json::value> {
        ++calls;
        co_return json::object{{"isError", true}};
    };
    run(io, cache.get_or_compute("e", s, failing, is_error));
    run(io, cache.get_or_compute("e", s, failing, is_error));
    EXPECT_EQ(calls, 3); // not stored

    cache_settings negative{.ttl = 1min, .error_ttl = 1min};
    run(io, cache.get_or_compute("neg", negative, failing, is_error));
    run(io, cache.get_or_compute("neg", negative, failing, is_error));
    EXPECT_EQ(calls, 4); // stored for error_ttl

    auto throwing = [this]() -> asio::awaitable<json::value> {
        ++calls;
        throw std::runtime_error("boom");
        co_return json::value();
    };
    EXPECT_THROW(run(io, cache.get_or_compute("x", s, throwing)), std::runtime_error);
    EXPECT_THROW(run(io, cache.get_or_compute("x", s, throwing)), std::runtime_error);
    EXPECT_EQ(calls, 6);
}

TEST_F(GuardCache, concurrent_misses_run_the_computation_once) {
    auto compute = [this]() -> asio::awaitable<json::value> {
        ++calls;
        co_await sleep_for(20ms);
        co_return json::value("result");
    };
    int done = 0;
    // Outside the loop: the coroutines refer to this closure until they finish.
    response_cache::producer produce = compute;
    auto one = [&]() -> asio::awaitable<void> {
        auto v = co_await cache.get_or_compute("hot", {.ttl = 1min}, produce);
        EXPECT_EQ(v, json::value("result"));
        ++done;
    };
    for (int i = 0; i < 100; ++i)
        asio::co_spawn(io, one(), asio::detached);
    io.run();
    EXPECT_EQ(done, 100);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(m.snapshot()[guard::event::cache_coalesced], 99u);
}

TEST_F(GuardCache, a_cancelled_leader_hands_over_to_a_waiter) {
    asio::cancellation_signal cancel_leader;
    auto compute = [this]() -> asio::awaitable<json::value> {
        ++calls;
        co_await sleep_for(500ms); // far past the cancellation at 10 ms, even on a busy machine
        co_return json::value(calls);
    };
    std::optional<json::value> follower;
    bool leader_failed = false;
    auto lead = [&]() -> asio::awaitable<void> {
        co_await cache.get_or_compute("k", {.ttl = 1min}, compute);
    };
    auto follow = [&]() -> asio::awaitable<void> {
        follower = co_await cache.get_or_compute("k", {.ttl = 1min}, compute);
    };
    asio::co_spawn(io, lead(),
                   asio::bind_cancellation_slot(cancel_leader.slot(), [&](std::exception_ptr e) {
                       leader_failed = e != nullptr;
                   }));
    asio::co_spawn(io, follow(), asio::detached);
    asio::steady_timer t(io, 10ms);
    t.async_wait([&](auto) { cancel_leader.emit(asio::cancellation_type::terminal); });
    io.run();
    EXPECT_TRUE(leader_failed);
    ASSERT_TRUE(follower);
    EXPECT_EQ(*follower, json::value(2)); // the follower ran it itself
    EXPECT_EQ(calls, 2);
}

TEST(guard_xfetch, recomputes_early_only_near_expiry_and_for_costly_values) {
    // u = e^-1: -ln(u) = 1, so it is due when delta × beta ≥ ttl_left.
    double u = std::exp(-1.0);
    EXPECT_TRUE(response_cache::xfetch_due(100ms, 100ms, 1.0, u));
    EXPECT_FALSE(response_cache::xfetch_due(100ms, 101ms, 1.0, u));
    EXPECT_TRUE(response_cache::xfetch_due(100ms, 150ms, 2.0, u));
    EXPECT_FALSE(response_cache::xfetch_due(0ms, 0ms, 1.0, 0.0001));   // free to compute
    EXPECT_FALSE(response_cache::xfetch_due(10ms, 10min, 1.0, 0.999)); // far from expiry
}

TEST_F(GuardCache, early_refresh_replaces_a_value_close_to_expiry) {
    // A value that took 1 s to compute with 10 ms left is always due (−ln u ≥ 0.01 unless u
    // is above 0.99: 100 tries make a miss vanishingly unlikely, and none is asserted per try).
    backend->store("k", R"({"d":1000,"v":"old"})", 10ms);
    auto compute = [this]() -> asio::awaitable<json::value> {
        ++calls;
        co_return json::value("new");
    };
    json::value v;
    for (int i = 0; i < 100 && calls == 0; ++i) {
        backend->store("k", R"({"d":1000,"v":"old"})", 10ms);
        v = run(io, cache.get_or_compute("k", {.ttl = 1min}, compute));
    }
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(v, json::value("new"));
    EXPECT_EQ(m.snapshot()[guard::event::cache_early_refresh], 1u);
    // A refresh that fails keeps the value it was refreshing.
    auto failing = []() -> asio::awaitable<json::value> {
        throw std::runtime_error("upstream down");
        co_return json::value();
    };
    for (int i = 0; i < 20; ++i) {
        backend->store("k", R"({"d":1000,"v":"old"})", 10ms);
        EXPECT_EQ(run(io, cache.get_or_compute("k", {.ttl = 1min}, failing)), json::value("old"));
    }
    cache_settings off{.ttl = 1min, .early_refresh = false};
    backend->store("k", R"({"d":1000,"v":"old"})", 10ms);
    EXPECT_EQ(run(io, cache.get_or_compute("k", off, compute)), json::value("old"));
}

// --- locks ---------------------------------------------------------------------------------

struct GuardLock : ::testing::Test {
    asio::io_context io;
    counters m;
    std::shared_ptr<memory_lock_backend> backend = std::make_shared<memory_lock_backend>();
    lock_service locks{backend, m};
};

TEST_F(GuardLock, memory_backend_compares_tokens_and_expires) {
    auto fence1 = run(io, backend->try_acquire("k", "t1", 40ms)).value();
    ASSERT_TRUE(fence1);
    EXPECT_FALSE(run(io, backend->try_acquire("k", "t2", 40ms)).value());
    EXPECT_FALSE(run(io, backend->release("k", "t2")).value()); // not the owner's token
    EXPECT_TRUE(run(io, backend->extend("k", "t1", 40ms)).value());
    run(io, sleep_for(60ms));
    // Expired: a new owner takes it with a larger fencing token; the old one cannot delete it.
    auto fence2 = run(io, backend->try_acquire("k", "t2", 1min)).value();
    ASSERT_TRUE(fence2);
    EXPECT_GT(*fence2, *fence1);
    EXPECT_FALSE(run(io, backend->release("k", "t1")).value());
    EXPECT_FALSE(run(io, backend->extend("k", "t1", 1min)).value());
    EXPECT_EQ(backend->held(), 1u);
    EXPECT_TRUE(run(io, backend->release("k", "t2")).value());
    EXPECT_EQ(backend->held(), 0u);
}

TEST_F(GuardLock, fail_fast_refuses_while_held_and_wait_gets_it_after_release) {
    int inside = 0, max_inside = 0, ran = 0, busy = 0;
    lock_request fast{.key = "r", .ttl = 1min};
    lock_request patient{.key = "r",
                         .ttl = 1min,
                         .when_busy = lock_wait::wait,
                         .wait_timeout = 5s,
                         .retry_min = 5ms,
                         .retry_max = 20ms};
    auto section = [&](lock_lease const& lease) -> asio::awaitable<void> {
        EXPECT_TRUE(lease.held);
        EXPECT_GT(lease.fence, 0);
        max_inside = std::max(max_inside, ++inside);
        co_await sleep_for(30ms);
        --inside;
        ++ran;
    };
    auto attempt = [&](lock_request r) -> asio::awaitable<void> {
        try {
            co_await locks.run(r, section);
        } catch (lock_busy const&) {
            ++busy;
        }
    };
    asio::co_spawn(io, attempt(fast), asio::detached);
    asio::co_spawn(io, attempt(fast), asio::detached);    // busy at once
    asio::co_spawn(io, attempt(patient), asio::detached); // waits, then runs
    asio::co_spawn(io, attempt(patient), asio::detached);
    io.run();
    EXPECT_EQ(max_inside, 1);
    EXPECT_EQ(ran, 3);
    EXPECT_EQ(busy, 1);
    EXPECT_EQ(m.snapshot()[guard::event::lock_busy], 1u);
    EXPECT_EQ(m.snapshot()[guard::event::lock_waited], 2u);
    EXPECT_EQ(backend->held(), 0u);
}

TEST_F(GuardLock, a_wait_that_runs_out_is_busy) {
    lock_request patient{.key = "r",
                         .ttl = 1min,
                         .when_busy = lock_wait::wait,
                         .wait_timeout = 50ms,
                         .retry_min = 5ms,
                         .retry_max = 10ms};
    ASSERT_TRUE(run(io, backend->try_acquire("r", "someone", 1min)).value());
    auto body = [](lock_lease const&) -> asio::awaitable<void> { co_return; };
    EXPECT_THROW(run(io, locks.run(patient, body)), lock_busy);
}

TEST_F(GuardLock, extension_keeps_a_long_section_exclusive) {
    // The TTL leaves a third of itself (200 ms) as slack for a late timer on a busy machine.
    lock_request r{.key = "long", .ttl = 600ms};
    bool lost = false;
    auto body = [&](lock_lease const& lease) -> asio::awaitable<void> {
        co_await sleep_for(2s); // more than three TTLs
        lost = lease.lost();
    };
    int intruded = 0;
    auto intruder = [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 18; ++i) {
            co_await sleep_for(100ms);
            auto got = co_await backend->try_acquire("long", "intruder", 1min);
            if (!got || *got)
                ++intruded;
        }
    };
    asio::co_spawn(io, locks.run(r, body), asio::detached);
    asio::co_spawn(io, intruder(), asio::detached);
    io.run();
    EXPECT_EQ(intruded, 0);
    EXPECT_FALSE(lost);
    EXPECT_GE(m.snapshot()[guard::event::lock_extended], 3u);
    EXPECT_EQ(backend->held(), 0u);
}

TEST_F(GuardLock, released_on_exception_and_on_cancellation) {
    lock_request r{.key = "k", .ttl = 1min};
    auto throwing = [](lock_lease const&) -> asio::awaitable<void> {
        throw std::runtime_error("handler failed");
        co_return;
    };
    EXPECT_THROW(run(io, locks.run(r, throwing)), std::runtime_error);
    EXPECT_EQ(backend->held(), 0u);

    asio::cancellation_signal cancel;
    bool entered = false;
    auto slow = [&](lock_lease const&) -> asio::awaitable<void> {
        entered = true;
        co_await sleep_for(10s);
    };
    std::exception_ptr outcome;
    asio::co_spawn(
        io, locks.run(r, slow),
        asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) { outcome = e; }));
    asio::steady_timer t(io, 20ms);
    t.async_wait([&](auto) {
        EXPECT_EQ(backend->held(), 1u);
        cancel.emit(asio::cancellation_type::terminal);
    });
    io.restart();
    io.run();
    EXPECT_TRUE(entered);
    EXPECT_TRUE(outcome);
    EXPECT_EQ(backend->held(), 0u);
}

// --- guard_set in process ------------------------------------------------------------------

TEST(guard_set_in_process, declared_guards_around_a_tool) {
    asio::io_context io;
    auto gs = guard_set::in_process();
    auto g = tool_guards{}.cache(1min).rate_limit(3, 1min).lock("t:{id}", 10s);
    int calls = 0;
    std::int64_t last_fence = 0;
    guard_set::tool_body handler = [&](lock_lease const& lease) -> asio::awaitable<json::object> {
        ++calls;
        last_fence = lease.fence;
        co_return json::object{
            {"content", json::array{json::object{{"type", "text"}, {"text", "ok"}}}}};
    };
    auto args = obj(R"({"id": 1})");
    auto call = [&](std::string_view session) {
        return run(io, gs->run_tool({"tool_a", session, args}, g, handler));
    };
    EXPECT_FALSE(call("s1").contains("isError"));
    EXPECT_FALSE(call("s1").contains("isError")); // cached
    EXPECT_EQ(calls, 1);
    EXPECT_GT(last_fence, 0);
    EXPECT_FALSE(call("s1").contains("isError"));
    auto over = call("s1");
    ASSERT_TRUE(over.contains("isError"));
    auto text = std::string(over.at("content").at(0).at("text").as_string());
    EXPECT_TRUE(
        text.starts_with("Rate limit exceeded: max 3 tool_a calls per minute. Try again in "))
        << text;
    EXPECT_GT(over.at("_meta").at("io.mcpd/retryAfterMs").as_int64(), 0);
    EXPECT_FALSE(call("s2").contains("isError")); // another session is not blocked
    EXPECT_EQ(gs->stats()[guard::event::rate_denied], 1u);

    auto missing = run(io, gs->run_tool({"tool_a", "s3", json::object{}}, g, handler));
    EXPECT_EQ(missing.at("content").at(0).at("text"),
              "Invalid arguments: the lock key \"t:{id}\" needs the argument \"id\"");
}

TEST(guard_set_in_process, lock_busy_is_the_guides_text_and_never_cached) {
    asio::io_context io;
    auto gs = guard_set::in_process();
    auto g = tool_guards{}.cache(cache_policy{.ttl = 1min, .error_ttl = 1min}).lock("x", 10s);
    ASSERT_TRUE(run(io, gs->locks().backend().try_acquire("mcp:lock:x", "other", 1min)).value());
    int calls = 0;
    guard_set::tool_body handler = [&](lock_lease const&) -> asio::awaitable<json::object> {
        ++calls;
        co_return json::object{{"content", json::array{}}};
    };
    json::object none;
    auto busy = run(io, gs->run_tool({"t", "s", none}, g, handler));
    EXPECT_EQ(busy.at("isError"), true);
    EXPECT_EQ(busy.at("content").at(0).at("text"), "Operation in progress — try again in a moment");
    ASSERT_TRUE(run(io, gs->locks().backend().release("mcp:lock:x", "other")).value());
    auto ok = run(io, gs->run_tool({"t", "s", none}, g, handler));
    EXPECT_FALSE(ok.contains("isError"));
    EXPECT_EQ(calls, 1);
}

TEST(guard_set_in_process, handler_level_api) {
    asio::io_context io;
    auto gs = guard_set::in_process();
    int calls = 0;
    auto body = [&]() -> asio::awaitable<void> {
        auto compute = [&]() -> asio::awaitable<std::string> {
            ++calls;
            co_return std::string("user-123");
        };
        auto a = co_await gs->with_cache("user:123", 1min, compute);
        auto b = co_await gs->with_cache("user:123", 1min, compute);
        EXPECT_EQ(a, "user-123");
        EXPECT_EQ(b, "user-123");
        EXPECT_EQ(calls, 1);

        auto first = co_await gs->check_rate_limit("s", "send_email", 1, 1min);
        auto second = co_await gs->check_rate_limit("s", "send_email", 1, 1min);
        EXPECT_TRUE(first);
        EXPECT_FALSE(second);
        EXPECT_TRUE(co_await gs->check_rate_limit("other", "send_email", 1, 1min));

        auto with_fence = [](lock_lease const& lease) -> asio::awaitable<std::int64_t> {
            co_return lease.fence;
        };
        auto f1 = co_await gs->with_lock("send-email:user-123", 30s, with_fence);
        auto f2 = co_await gs->with_lock("send-email:user-123", 30s, with_fence);
        EXPECT_GT(f2, f1);
        auto plain = []() -> asio::awaitable<void> { co_return; };
        co_await gs->with_lock("r", 30s, plain);
    };
    run(io, body());
}

TEST(guard_configuration, from_the_environment) {
    asio::io_context io;
    auto env = [](std::map<std::string, std::string> vars) {
        return [vars = std::move(vars)](char const* name) -> char const* {
            auto it = vars.find(name);
            return it == vars.end() ? nullptr : it->second.c_str();
        };
    };
    auto plain = guard_set_from_env(io.get_executor(), env({})).value();
    EXPECT_EQ(plain->backend_name(), "in-process");
    EXPECT_EQ(plain->keys().prefix(), "mcp:");
    EXPECT_EQ(plain->options().rate_unavailable, rate_failure::open);
    EXPECT_EQ(plain->options().lock_unavailable, lock_failure::proceed);

    auto tuned = guard_set_from_env(io.get_executor(), env({{"REDIS_KEY_PREFIX", ""},
                                                            {"MCPD_RATE_LIMIT_FAILURE", "closed"},
                                                            {"MCPD_LOCK_FAILURE", "refuse"},
                                                            {"MCPD_CACHE_MAX_ENTRIES", "5"}}))
                     .value();
    EXPECT_EQ(tuned->keys().prefix(), "");
    EXPECT_EQ(tuned->options().rate_unavailable, rate_failure::closed);
    EXPECT_EQ(tuned->options().lock_unavailable, lock_failure::refuse);

    // Redis is chosen by REDIS_URL; constructing does not wait for it.
    auto shared = guard_set_from_env(io.get_executor(), env({{"REDIS_URL", "redis://127.0.0.1:1"},
                                                             {"REDIS_KEY_PREFIX", "app:"}}))
                      .value();
    EXPECT_EQ(shared->backend_name(), "redis");
    EXPECT_EQ(shared->keys().lock_key("r"), "app:lock:r");
    EXPECT_TRUE(shared->options().cache.near_cache); // on by default, bounded like the LRU
    auto far_only = guard_set_from_env(io.get_executor(), env({{"REDIS_URL", "redis://127.0.0.1:1"},
                                                               {"MCPD_NEAR_CACHE", "off"},
                                                               {"MCPD_CACHE_MAX_ENTRIES", "7"}}))
                        .value();
    EXPECT_FALSE(far_only->options().cache.near_cache);
    EXPECT_EQ(far_only->options().cache.near_limits.max_entries, 7u);
    auto forced = guard_set_from_env(io.get_executor(), env({{"REDIS_URL", "redis://127.0.0.1:1"},
                                                             {"MCPD_GUARD_BACKEND", "memory"}}))
                      .value();
    EXPECT_EQ(forced->backend_name(), "in-process");

    for (auto const& [name, value] :
         std::vector<std::pair<std::string, std::string>>{{"MCPD_GUARD_BACKEND", "etcd"},
                                                          {"MCPD_RATE_LIMIT_FAILURE", "maybe"},
                                                          {"MCPD_LOCK_FAILURE", "later"},
                                                          {"MCPD_NEAR_CACHE", "sometimes"},
                                                          {"MCPD_CACHE_MAX_BYTES", "lots"},
                                                          {"REDIS_URL", "http://x"}}) {
        auto r = guard_set_from_env(io.get_executor(), env({{name, value}}));
        ASSERT_FALSE(r) << name;
        EXPECT_NE(r.error().message().find(name == "REDIS_URL" ? "REDIS_URL" : name),
                  std::string::npos)
            << r.error().message();
    }
}

// --- metrics --------------------------------------------------------------------------------

namespace {

bool page_has_line(std::string const& page, std::string const& line) {
    return page.find("\n" + line + "\n") != std::string::npos || page.starts_with(line + "\n");
}

} // namespace

TEST(guard_metrics, every_event_appears_under_its_family_and_label) {
    mcpd::metrics::registry reg;
    guard::counters counts;
    for (int i = 0; i < 5; ++i)
        counts.add(event::cache_hit);
    counts.add(event::rate_failed_open);
    counts.add(event::rate_failed_open);
    counts.add(event::lock_busy);
    counts.add(event::lock_extended);
    counts.add(event::rate_outage);
    export_metrics(reg, [&] { return counts.snapshot(); });
    auto page = reg.render();
    EXPECT_TRUE(page_has_line(page, "mcpd_cache_requests_total{result=\"hit\"} 5")) << page;
    EXPECT_TRUE(page_has_line(page, "mcpd_rate_limit_decisions_total{result=\"failed_open\"} 2"));
    EXPECT_TRUE(page_has_line(page, "mcpd_lock_acquisitions_total{result=\"contended\"} 1"));
    EXPECT_TRUE(page_has_line(page, "mcpd_lock_extensions_total{result=\"extended\"} 1"));
    EXPECT_TRUE(page_has_line(page, "mcpd_guard_outages_total{guard=\"rate_limit\"} 1"));
    EXPECT_TRUE(page_has_line(page, "mcpd_cache_errors_total 0"));
    // Every event has its line, so a new one cannot be forgotten on /metrics.
    std::size_t samples = 0;
    for (std::size_t at = 0; (at = page.find("\nmcpd_", at)) != std::string::npos; ++at)
        ++samples;
    EXPECT_EQ(samples + (page.starts_with("mcpd_") ? 1 : 0), event_count) << page;
}
