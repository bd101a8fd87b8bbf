// tests/integration/redis_pubsub_test.cpp — the subscriber against a real redis-server:
// channels and patterns, unsubscribe, RESP2 and RESP3, and resubscription after a restart.
#include "async_test.hpp"
#include "redis_test_util.hpp"

#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;
using namespace mcpd;
using namespace mcpd::test;
using namespace std::chrono_literals;
using redis::command;

namespace {

// Publishes until someone receives (a subscription is live only once the server processed it).
asio::awaitable<std::int64_t> publish_until_received(redis::client& pub, std::string channel,
                                                     std::string payload) {
    for (int i = 0; i < 200; ++i) {
        auto n = co_await pub.exec(command("PUBLISH", channel, payload));
        if (n && n->integer > 0)
            co_return n->integer;
        co_await sleep_for(10ms);
    }
    co_return 0;
}

void receives_channel_and_pattern_messages(redis::protocol_version protocol) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto cfg = test_config(server);
        cfg.protocol = protocol;
        redis::subscriber sub(co_await asio::this_coro::executor, cfg);
        redis::client pub(co_await asio::this_coro::executor, test_config(server));
        // Named: GCC 12 cannot keep a braced list inside a co_await (docs/rough_edges.md).
        std::vector<std::string> channels{"news", "alerts"}, patterns{"user:*"}, news{"news"};
        CO_ASSERT(co_await sub.subscribe(channels));
        CO_ASSERT(co_await sub.psubscribe(patterns));
        EXPECT_EQ(co_await publish_until_received(pub, "news", "hello"), 1);
        auto m = co_await sub.receive();
        CO_ASSERT(m.has_value());
        EXPECT_EQ(m->channel, "news");
        EXPECT_EQ(m->payload, "hello");
        EXPECT_TRUE(m->pattern.empty());
        EXPECT_EQ(co_await publish_until_received(pub, "user:42", "signed in"), 1);
        m = co_await sub.receive();
        CO_ASSERT(m.has_value());
        EXPECT_EQ(m->pattern, "user:*");
        EXPECT_EQ(m->channel, "user:42");
        EXPECT_EQ(m->payload, "signed in");

        CO_ASSERT(co_await sub.unsubscribe(news));
        // Once the unsubscribe is processed nobody receives "news" any more.
        std::int64_t receivers = 1;
        for (int i = 0; i < 100 && receivers != 0; ++i) {
            receivers = (co_await pub.exec(command("PUBLISH", "news", "gone")))->integer;
            co_await sleep_for(5ms);
        }
        EXPECT_EQ(receivers, 0);
        // Messages published to "news" before the unsubscribe took effect may be buffered:
        // drain them, then the next must be from "alerts".
        EXPECT_EQ(co_await publish_until_received(pub, "alerts", "fire"), 1);
        for (;;) {
            m = co_await sub.receive();
            CO_ASSERT(m.has_value());
            if (m->channel != "news")
                break;
        }
        EXPECT_EQ(m->channel, "alerts");
        EXPECT_TRUE(co_await sub.quit());
        auto after = co_await sub.receive();
        EXPECT_FALSE(after);
    });
}

} // namespace

TEST(redis_pubsub, receives_channel_and_pattern_messages_over_resp3) {
    receives_channel_and_pattern_messages(redis::protocol_version::resp3);
}

TEST(redis_pubsub, receives_channel_and_pattern_messages_over_resp2) {
    receives_channel_and_pattern_messages(redis::protocol_version::resp2);
}

TEST(redis_pubsub, resubscribes_after_the_server_restarts) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        redis::subscriber sub(co_await asio::this_coro::executor, test_config(server));
        std::vector<std::string> channels{"events"}, patterns{"room:*"};
        CO_ASSERT(co_await sub.subscribe(channels));
        CO_ASSERT(co_await sub.psubscribe(patterns));
        {
            redis::client pub(co_await asio::this_coro::executor, test_config(server));
            EXPECT_EQ(co_await publish_until_received(pub, "events", "before"), 1);
            EXPECT_EQ((co_await sub.receive())->payload, "before");
        }
        server.kill();
        co_await sleep_for(50ms);
        server.start();
        redis::client pub(co_await asio::this_coro::executor, test_config(server));
        EXPECT_EQ(co_await publish_until_received(pub, "events", "after"), 1);
        auto m = co_await sub.receive();
        CO_ASSERT(m.has_value());
        EXPECT_EQ(m->payload, "after");
        EXPECT_EQ(co_await publish_until_received(pub, "room:1", "pattern too"), 1);
        m = co_await sub.receive();
        CO_ASSERT(m.has_value());
        EXPECT_EQ(m->payload, "pattern too");
    });
}
