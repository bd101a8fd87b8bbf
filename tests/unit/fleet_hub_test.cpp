// tests/unit/fleet_hub_test.cpp — the fleet of one process's event loops (server/fleet.hpp's
// fleet_hub): members on one hub exchange messages for the sessions they watch, keep a stream's
// events for whoever replays it, expire what was not written for replay-ttl, and know who is
// alive. No Redis, no sockets: the members run on io_contexts of the test, one per thread in the
// last test.
#include "mcpd/server/fleet.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using mcpd::server::fleet;
using namespace std::chrono_literals;

// Runs `a` on `io` (which nothing else runs) to its end.
template <class T>
T run(asio::io_context& io, asio::awaitable<T> a) {
    auto f = asio::co_spawn(io, std::move(a), asio::use_future);
    io.restart();
    while (f.wait_for(0s) != std::future_status::ready)
        io.run_one_for(50ms);
    return f.get();
}

struct received {
    std::vector<std::pair<std::string, std::string>> messages; // (session, kind)
    fleet::handler handler() {
        return [this](std::string const& session, json::object const& msg) {
            messages.emplace_back(session, std::string(msg.at("k").as_string()));
        };
    }
};

void drain(asio::io_context& io) {
    io.restart();
    io.poll();
}

} // namespace

TEST(fleet_hub, members_exchange_messages_for_what_they_watch) {
    asio::io_context io;
    auto hub = mcpd::server::make_fleet_hub(2);
    fleet a(io.get_executor(), hub), b(io.get_executor(), hub);
    received at_a, at_b;
    a.on_message(at_a.handler());
    b.on_message(at_b.handler());
    ASSERT_TRUE(run(io, a.start()));
    ASSERT_TRUE(run(io, b.start()));
    EXPECT_NE(a.instance_id(), b.instance_id());
    EXPECT_EQ(a.instance_number(), 1u);
    EXPECT_EQ(b.instance_number(), 2u);

    a.publish("s1", json::object{{"k", "unwatched"}}); // b does not watch s1 yet
    b.watch("s1");
    a.publish("s1", json::object{{"k", "one"}});
    a.publish("", json::object{{"k", "all"}});
    a.publish("s2", json::object{{"k", "other session"}});
    drain(io);
    using msgs = std::vector<std::pair<std::string, std::string>>;
    EXPECT_EQ(at_b.messages, (msgs{{"s1", "one"}, {"", "all"}}));
    EXPECT_TRUE(at_a.messages.empty()) << "a member never gets its own messages";

    b.unwatch("s1");
    a.publish("s1", json::object{{"k", "after unwatch"}});
    drain(io);
    EXPECT_EQ(at_b.messages.size(), 2u);

    // Alive until it stops; a stopped member gets nothing more.
    EXPECT_EQ(run(io, a.alive(b.instance_id())).value(), true);
    EXPECT_EQ(run(io, a.alive("no-such-member")).value(), false);
    b.watch("s3");
    run(io, b.stop());
    EXPECT_EQ(run(io, a.alive(b.instance_id())).value(), false);
    a.publish("s3", json::object{{"k", "to a stopped member"}});
    a.publish("", json::object{{"k", "all again"}});
    drain(io);
    EXPECT_EQ(at_b.messages.size(), 2u);

    // The hub has room for as many members as it was made for.
    fleet c(io.get_executor(), hub);
    auto full = run(io, c.start());
    ASSERT_FALSE(full);
    EXPECT_NE(full.error().message().find("room for 2"), std::string::npos)
        << full.error().message();
}

TEST(fleet_hub, a_stream_is_replayed_by_another_member_within_its_budgets) {
    asio::io_context io;
    auto hub = mcpd::server::make_fleet_hub(2);
    mcpd::server::fleet_options opts;
    opts.events_per_stream = 3;
    fleet a(io.get_executor(), hub, opts), b(io.get_executor(), hub, opts);
    ASSERT_TRUE(run(io, a.start()));
    ASSERT_TRUE(run(io, b.start()));

    a.open_stream("s1", 7, {"\"r1\""});
    for (std::uint64_t seq = 1; seq <= 5; ++seq)
        a.append("s1", 7, seq, "event " + std::to_string(seq));
    auto running = run(io, b.replay("s1", 7, 3)).value();
    EXPECT_TRUE(running.known);
    EXPECT_FALSE(running.ended);
    EXPECT_EQ(running.owner, a.instance_id());
    EXPECT_EQ(running.owner_number, a.instance_number());
    EXPECT_EQ(running.request_ids, std::vector<std::string>{"\"r1\""});
    using events = std::vector<std::pair<std::uint64_t, std::string>>;
    EXPECT_EQ(running.events, (events{{4, "event 4"}, {5, "event 5"}}));
    // Only the newest events_per_stream are kept.
    EXPECT_EQ(run(io, b.replay("s1", 7, 0)).value().events.size(), 3u);

    a.end_stream("s1", 7, 5);
    EXPECT_TRUE(run(io, b.replay("s1", 7, 5)).value().ended);
    EXPECT_FALSE(run(io, b.replay("s1", 8, 0)).value().known) << "another stream";
    EXPECT_FALSE(run(io, b.replay("s2", 7, 0)).value().known) << "another session";

    a.open_standalone("s1", 1);
    EXPECT_TRUE(run(io, b.replay("s1", 1, 0)).value().known);
    a.forget_session("s1");
    EXPECT_FALSE(run(io, b.replay("s1", 7, 0)).value().known);
    EXPECT_FALSE(run(io, b.replay("s1", 1, 0)).value().known);
    EXPECT_EQ(a.bytes(), 0u);
}

TEST(fleet_hub, what_was_not_written_for_replay_ttl_is_deleted) {
    asio::io_context io;
    auto hub = mcpd::server::make_fleet_hub(1);
    mcpd::server::fleet_options opts;
    opts.replay_ttl = 100ms;
    fleet a(io.get_executor(), hub, opts);
    ASSERT_TRUE(run(io, a.start()));
    a.open_standalone("quiet", 1); // a GET stream with no event: in the hub all the same
    a.append("busy", 5, 1, "x");
    std::this_thread::sleep_for(150ms);
    // A write expires what is older (as Redis would have)…
    a.append("busy", 5, 2, "y");
    EXPECT_FALSE(run(io, a.replay("quiet", 1, 0)).value().known);
    EXPECT_TRUE(run(io, a.replay("busy", 5, 0)).value().known);
    // …and so does the member's sweep when nothing is written (at most a second apart).
    auto deadline = std::chrono::steady_clock::now() + 3s;
    while (run(io, a.replay("busy", 5, 0)).value().known &&
           std::chrono::steady_clock::now() < deadline) {
        io.restart();
        io.run_for(50ms);
    }
    EXPECT_FALSE(run(io, a.replay("busy", 5, 0)).value().known);
    EXPECT_EQ(a.bytes(), 0u);
}

// Two members on two threads (as two event loops): each publishes to the session the other
// watches and appends to a stream of its own; every message arrives, in order, once.
TEST(fleet_hub, members_on_two_threads_get_every_message_in_order) {
    constexpr int count = 2000;
    asio::io_context io1, io2;
    auto hub = mcpd::server::make_fleet_hub(2);
    fleet a(io1.get_executor(), hub), b(io2.get_executor(), hub);
    std::vector<int> at_a, at_b; // each touched on its member's thread only
    a.on_message([&at_a](std::string const&, json::object const& m) {
        at_a.push_back(static_cast<int>(m.at("n").as_int64()));
    });
    b.on_message([&at_b](std::string const&, json::object const& m) {
        at_b.push_back(static_cast<int>(m.at("n").as_int64()));
    });
    ASSERT_TRUE(run(io1, a.start()));
    ASSERT_TRUE(run(io2, b.start()));
    a.watch("for-a");
    b.watch("for-b");
    auto work1 = asio::make_work_guard(io1);
    auto work2 = asio::make_work_guard(io2);
    std::thread t1([&io1] { io1.run(); });
    std::thread t2([&io2] { io2.run(); });
    std::atomic<int> done{0};
    asio::post(io1, [&] {
        for (int i = 0; i < count; ++i) {
            a.publish("for-b", json::object{{"n", i}});
            a.append("for-b", 1, static_cast<std::uint64_t>(i) + 1, "a");
        }
        ++done;
    });
    asio::post(io2, [&] {
        for (int i = 0; i < count; ++i) {
            b.publish("for-a", json::object{{"n", i}});
            b.append("for-a", 2, static_cast<std::uint64_t>(i) + 1, "b");
        }
        ++done;
    });
    auto deadline = std::chrono::steady_clock::now() + 10s;
    std::atomic<bool> all{false};
    while (!all && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
        auto f1 = asio::post(io1, asio::use_future([&] { return at_a.size(); }));
        auto f2 = asio::post(io2, asio::use_future([&] { return at_b.size(); }));
        all = done == 2 && f1.get() == count && f2.get() == count;
    }
    work1.reset();
    work2.reset();
    io1.stop();
    io2.stop();
    t1.join();
    t2.join();
    ASSERT_EQ(at_a.size(), static_cast<std::size_t>(count));
    ASSERT_EQ(at_b.size(), static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        ASSERT_EQ(at_a[static_cast<std::size_t>(i)], i);
        ASSERT_EQ(at_b[static_cast<std::size_t>(i)], i);
    }
}
