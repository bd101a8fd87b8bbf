// tests/integration/fleet_store_test.cpp — the fleet's event store and messages (server/fleet.hpp)
// against a real redis-server: what a replay returns after each position, a stream's owner and
// end, DELETE's cleanup, heartbeats, and that a message follows the events written before it.
#include "async_test.hpp"
#include "redis_test_util.hpp"

#include "mcpd/server/fleet.hpp"

#include <boost/json/serialize.hpp>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace mcpd;
using namespace mcpd::test;
using namespace std::chrono_literals;
using redis::command;

namespace {

// Two members of one fleet (two instances) on `server`, started.
struct two_members {
    std::shared_ptr<redis::client> ca, cb;
    std::unique_ptr<server::fleet> a, b;
};

asio::awaitable<two_members> join_two(redis_server const& server, server::fleet_options opts = {}) {
    auto ex = co_await asio::this_coro::executor;
    two_members m;
    m.ca = std::make_shared<redis::client>(ex, test_config(server));
    m.cb = std::make_shared<redis::client>(ex, test_config(server));
    m.a = std::make_unique<server::fleet>(ex, m.ca, test_config(server), opts);
    m.b = std::make_unique<server::fleet>(ex, m.cb, test_config(server), opts);
    EXPECT_TRUE(co_await m.a->start());
    EXPECT_TRUE(co_await m.b->start());
    co_return m;
}

// Waits until the writes made so far have gone out (they are batched per turn of the loop).
asio::awaitable<void> settle() {
    co_await sleep_for(50ms);
}

} // namespace

TEST(fleet_store, instances_get_distinct_numbers_and_heartbeats) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto m = co_await join_two(server);
        EXPECT_NE(m.a->instance_number(), m.b->instance_number());
        EXPECT_GE(m.a->instance_number(), 1u);
        EXPECT_NE(m.a->instance_id(), m.b->instance_id());
        auto alive = co_await m.a->alive(m.b->instance_id());
        CO_ASSERT(alive.has_value());
        EXPECT_TRUE(*alive);
        auto unknown = co_await m.a->alive("no-such-instance");
        CO_ASSERT(unknown.has_value());
        EXPECT_FALSE(*unknown);
        // A counter that repeats (Redis lost it) does not hand out a number a live instance holds.
        CO_ASSERT(co_await m.ca->exec(command("SET", "fleet:instances", 0)));
        auto ex = co_await asio::this_coro::executor;
        server::fleet c(ex, m.ca, test_config(server));
        CO_ASSERT(co_await c.start());
        EXPECT_NE(c.instance_number(), m.a->instance_number());
        EXPECT_NE(c.instance_number(), m.b->instance_number());
        co_await c.stop();
        // A graceful stop deletes the heartbeat: the others know at once.
        co_await m.b->stop();
        alive = co_await m.a->alive(m.b->instance_id());
        CO_ASSERT(alive.has_value());
        EXPECT_FALSE(*alive);
    });
}

TEST(fleet_store, a_killed_instance_is_dead_at_once_and_its_heartbeat_expires) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        server::fleet_options opts;
        opts.heartbeat_interval = 100ms;
        opts.heartbeat_ttl = 300ms;
        auto m = co_await join_two(server, opts);
        co_await sleep_for(500ms); // beyond one TTL: the heartbeat was renewed
        auto alive = co_await m.a->alive(m.b->instance_id());
        CO_ASSERT(alive.has_value());
        EXPECT_TRUE(*alive);
        // As if killed: no stop(); its connections close, its heartbeats stop.
        auto id = m.b->instance_id();
        m.b.reset();
        co_await sleep_for(50ms);
        alive = co_await m.a->alive(id);
        CO_ASSERT(alive.has_value());
        EXPECT_FALSE(*alive) << "its pub/sub connection is gone";
        auto key = "fleet:instance:" + id;
        auto heartbeat = co_await m.ca->exec(command("EXISTS", key));
        CO_ASSERT(heartbeat.has_value());
        EXPECT_EQ(heartbeat->integer, 1); // not expired yet
        co_await sleep_for(500ms);
        heartbeat = co_await m.ca->exec(command("EXISTS", key));
        CO_ASSERT(heartbeat.has_value());
        EXPECT_EQ(heartbeat->integer, 0);
    });
}

TEST(fleet_store, replay_returns_the_events_after_a_position_with_owner_and_end) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto m = co_await join_two(server);
        auto const sid = std::string("s1");
        std::vector<std::string> ids{"1", "\"two\""};
        m.a->open_stream(sid, 42, ids);
        for (std::uint64_t seq = 1; seq <= 4; ++seq)
            m.a->append(sid, 42, seq, "event " + std::to_string(seq));
        co_await settle();

        struct step {
            std::uint64_t after;
            std::vector<std::uint64_t> seqs;
        };
        for (auto const& c : std::vector<step>{{0, {1, 2, 3, 4}}, {2, {3, 4}}, {4, {}}, {9, {}}}) {
            auto st = co_await m.b->replay(sid, 42, c.after);
            CO_ASSERT(st.has_value());
            std::vector<std::uint64_t> seqs;
            for (auto const& [seq, data] : st->events) {
                seqs.push_back(seq);
                EXPECT_EQ(data, "event " + std::to_string(seq));
            }
            EXPECT_EQ(seqs, c.seqs) << "after " << c.after;
            EXPECT_TRUE(st->known);
            EXPECT_FALSE(st->ended);
            EXPECT_EQ(st->owner, m.a->instance_id());
            EXPECT_EQ(st->owner_number, m.a->instance_number());
            EXPECT_EQ(st->request_ids, ids);
        }

        m.a->end_stream(sid, 42, 4);
        co_await settle();
        for (std::uint64_t after : {0u, 3u, 4u}) {
            auto st = co_await m.b->replay(sid, 42, after);
            CO_ASSERT(st.has_value());
            EXPECT_TRUE(st->ended) << "after " << after;
            EXPECT_EQ(st->events.size(), 4 - after);
        }

        auto unknown = co_await m.b->replay(sid, 43, 0);
        CO_ASSERT(unknown.has_value());
        EXPECT_FALSE(unknown->known);
        EXPECT_TRUE(unknown->events.empty());
    });
}

TEST(fleet_store, a_stream_keeps_its_newest_events_and_expires) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        server::fleet_options opts;
        opts.events_per_stream = 3;
        opts.replay_ttl = 300ms;
        auto m = co_await join_two(server, opts);
        m.a->open_standalone("s", 7);
        for (std::uint64_t seq = 1; seq <= 5; ++seq)
            m.a->append("s", 7, seq, "e");
        co_await settle();
        auto st = co_await m.b->replay("s", 7, 0);
        CO_ASSERT(st.has_value());
        CO_ASSERT(st->events.size() == 3u);
        EXPECT_EQ(st->events.front().first, 3u);
        EXPECT_TRUE(st->owner.empty()); // a GET stream has no owner
        co_await sleep_for(500ms);
        st = co_await m.b->replay("s", 7, 0);
        CO_ASSERT(st.has_value());
        EXPECT_FALSE(st->known);
        auto keys = co_await m.ca->exec(command("KEYS", "events:*"));
        CO_ASSERT(keys.has_value());
        EXPECT_TRUE(keys->elements.empty());
    });
}

TEST(fleet_store, forgetting_a_session_deletes_its_streams_only) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto m = co_await join_two(server);
        m.a->open_standalone("gone", 1);
        m.a->append("gone", 1, 1, "x");
        m.a->open_stream("gone", (std::uint64_t{1} << 32) + 1, {});
        m.a->append("gone", (std::uint64_t{1} << 32) + 1, 1, "y");
        m.a->append("kept", 1, 1, "z");
        co_await settle();
        m.b->forget_session("gone");
        co_await settle();
        auto keys = co_await m.ca->exec(command("KEYS", "events:*"));
        CO_ASSERT(keys.has_value());
        std::vector<std::string> left;
        for (auto const& k : keys->elements)
            left.emplace_back(k.as_string().value_or(""));
        EXPECT_EQ(left, std::vector<std::string>{"events:{kept}:1"});
    });
}

TEST(fleet_store, a_message_reaches_the_watchers_after_the_events_written_before_it) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto m = co_await join_two(server);
        std::vector<std::pair<std::string, json::object>> got;
        m.b->on_message([&got](std::string const& sid, json::object const& msg) {
            got.emplace_back(sid, msg);
        });
        m.b->watch("s2");
        co_await settle(); // the SUBSCRIBE is processed
        for (std::uint64_t seq = 1; seq <= 50; ++seq)
            m.a->append("s2", 9, seq, "e");
        m.a->publish("s2", json::object{{"k", "attached"}, {"next", 51}});
        m.a->publish({}, json::object{{"k", "changed"}, {"m", "notifications/tools/list_changed"}});
        m.a->publish("other", json::object{{"k", "notify"}}); // nobody watches it
        for (int i = 0; i < 100 && got.size() < 2; ++i)
            co_await sleep_for(10ms);
        CO_ASSERT(got.size() == 2u);
        EXPECT_EQ(got[0].first, "s2");
        EXPECT_EQ(got[0].second.at("k"), "attached");
        EXPECT_EQ(got[0].second.at("o").as_string(), m.a->instance_id());
        EXPECT_EQ(got[1].first, "");
        EXPECT_EQ(got[1].second.at("k"), "changed");
        // Everything written before the message is readable once it arrived.
        auto st = co_await m.b->replay("s2", 9, 0);
        CO_ASSERT(st.has_value());
        EXPECT_EQ(st->events.size(), 50u);
        // An instance never hands itself its own messages; an unwatched session is quiet.
        m.b->unwatch("s2");
        co_await settle();
        m.a->publish("s2", json::object{{"k", "notify"}});
        m.b->publish("s2", json::object{{"k", "notify"}});
        co_await sleep_for(100ms);
        EXPECT_EQ(got.size(), 2u);
    });
}

TEST(fleet_store, without_redis_start_fails_with_the_reason) {
    redis_server server;
    auto cfg = test_config(server);
    server.stop();
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto c = cfg;
        c.connect_timeout = 300ms;
        c.offline_queue = false;
        auto client = std::make_shared<redis::client>(ex, c);
        server::fleet f(ex, client, c);
        auto r = co_await f.start();
        EXPECT_FALSE(r.has_value());
    });
}

TEST(fleet_store, the_replay_budgets_delete_the_oldest_ended_streams_first) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        server::fleet_options opts;
        opts.streams_per_session = 3;
        opts.bytes_per_session = 1000;
        opts.bytes_total = 1400;
        auto m = co_await join_two(server, opts);
        auto const big = std::string(300, 'x');
        auto exists = [&m](std::string const& sid, std::uint64_t stream) -> asio::awaitable<bool> {
            auto st = co_await m.b->replay(sid, stream, 0);
            co_return st && !st->events.empty();
        };
        // Count: a fourth stream of the session deletes the oldest that has ended.
        for (std::uint64_t stream = 1; stream <= 4; ++stream) {
            m.a->append("count", stream, 1, "e");
            if (stream < 4)
                m.a->end_stream("count", stream, 1);
        }
        co_await settle();
        EXPECT_FALSE(co_await exists("count", 1));
        for (std::uint64_t stream = 2; stream <= 4; ++stream)
            EXPECT_TRUE(co_await exists("count", stream)) << stream;

        // Bytes per session: 1200 bytes in two running streams stay (a running stream is never
        // deleted for a budget); once stream 1 has ended, the next write deletes it.
        m.a->append("bytes", 1, 1, big);
        m.a->append("bytes", 1, 2, big);
        m.a->append("bytes", 2, 1, big);
        m.a->append("bytes", 2, 2, big);
        co_await settle();
        EXPECT_TRUE(co_await exists("bytes", 1));
        m.a->end_stream("bytes", 1, 2);
        m.a->append("bytes", 2, 3, "e");
        co_await settle();
        EXPECT_FALSE(co_await exists("bytes", 1));
        EXPECT_TRUE(co_await exists("bytes", 2));
        EXPECT_EQ(m.a->dropped(), 3u); // count's one event, bytes' two

        // Bytes in all: the least recently written session's ended streams go.
        EXPECT_EQ(m.a->bytes(), 3u + 601u);
        m.a->end_stream("count", 4, 1);
        m.a->append("newest", 1, 1, std::string(800, 'y')); // 1404 in all: "count" goes
        co_await settle();
        EXPECT_EQ(m.a->bytes(), 1401u);
        EXPECT_FALSE(co_await exists("count", 4));
        EXPECT_TRUE(co_await exists("bytes", 2)); // running: kept, though over the total
        m.a->end_stream("bytes", 2, 3);
        m.a->append("newest2", 1, 1, big); // 1701: "bytes" goes
        co_await settle();
        EXPECT_EQ(m.a->bytes(), 1100u);
        EXPECT_FALSE(co_await exists("bytes", 2));
        EXPECT_TRUE(co_await exists("newest2", 1));
    });
}
