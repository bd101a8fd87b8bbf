// The in-memory SSE event store behind Last-Event-ID resumption: what it keeps for replay and
// what it lets go, so that a long session's memory stays bounded.
#include "mcpd/server/http_transport.hpp"

#include <gtest/gtest.h>

using mcpd::server::event_store_limits;
using mcpd::server::make_memory_event_store;

TEST(MemoryEventStore, ReplaysAStreamAfterAGivenEvent) {
    auto store = make_memory_event_store({.events_per_stream = 16, .streams_per_session = 4});
    store->append("s", 1, 1, "a");
    store->append("s", 1, 2, "b");
    store->append("s", 2, 1, "other stream");
    auto events = store->replay("s", 1, 1);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].first, 2u);
    EXPECT_EQ(events[0].second, "b");
    EXPECT_TRUE(store->replay("t", 1, 0).empty());
}

TEST(MemoryEventStore, KeepsTheLastEventsOfAStream) {
    auto store = make_memory_event_store({.events_per_stream = 3, .streams_per_session = 4});
    for (std::uint64_t seq = 1; seq <= 10; ++seq)
        store->append("s", 1, seq, std::to_string(seq));
    auto events = store->replay("s", 1, 0);
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events.front().first, 8u);
}

// Each POST opens a stream; a session that makes thousands of calls must not keep them all.
TEST(MemoryEventStore, KeepsTheNewestPostStreamsOfASessionAndItsGetStream) {
    auto store = make_memory_event_store({.events_per_stream = 16, .streams_per_session = 3});
    store->append("s", 0, 1, "standalone");
    for (std::uint64_t stream = 1; stream <= 1000; ++stream)
        store->append("s", stream, 1, "answer " + std::to_string(stream));
    EXPECT_EQ(store->replay("s", 0, 0).size(), 1u);
    EXPECT_TRUE(store->replay("s", 997, 0).empty());
    for (std::uint64_t stream = 998; stream <= 1000; ++stream)
        EXPECT_EQ(store->replay("s", stream, 0).size(), 1u) << stream;
    // A stream that is still being written keeps its events while it is among the newest.
    store->append("s", 1000, 2, "more");
    EXPECT_EQ(store->replay("s", 1000, 0).size(), 2u);
    store->forget_session("s");
    EXPECT_TRUE(store->replay("s", 1000, 0).empty());
}

// The store drops a stream's oldest events by moving a start index and compacts now and then:
// across many compactions, what a replay gives is exactly the newest events after the one named.
TEST(MemoryEventStore, ALongStreamKeepsExactlyItsNewestEvents) {
    auto store = make_memory_event_store({.events_per_stream = 5, .streams_per_session = 4});
    for (std::uint64_t seq = 1; seq <= 1000; ++seq) {
        store->append("s", 0, seq, "event " + std::to_string(seq));
        auto events = store->replay("s", 0, 0);
        auto const kept = std::min<std::uint64_t>(seq, 5);
        ASSERT_EQ(events.size(), kept) << seq;
        for (std::uint64_t i = 0; i < kept; ++i) {
            EXPECT_EQ(events[i].first, seq - kept + 1 + i);
            EXPECT_EQ(events[i].second, "event " + std::to_string(seq - kept + 1 + i));
        }
        auto after = store->replay("s", 0, seq >= 2 ? seq - 2 : 0);
        EXPECT_EQ(after.size(), std::min<std::uint64_t>(seq, 2)) << seq;
    }
}

// Hardening (issue 18, row 3): the replay store is bounded in bytes, per session and in all. A
// session's own oldest events go first; over the total, the least recently written sessions'.
TEST(MemoryEventStore, ASessionKeepsAtMostItsBytesOldestEventsFirst) {
    auto store = make_memory_event_store({.bytes_per_session = 1000, .bytes_total = 1u << 30});
    std::string kib(100, 'x');
    for (std::uint64_t stream = 1; stream <= 30; ++stream)
        store->append("s", stream, 1, kib); // 3,000 bytes written
    EXPECT_LE(store->bytes(), 1000u);
    EXPECT_EQ(store->dropped(), 20u);
    EXPECT_TRUE(store->replay("s", 20, 0).empty());  // the oldest went
    EXPECT_EQ(store->replay("s", 30, 0).size(), 1u); // the newest stayed
    EXPECT_EQ(store->replay("s", 21, 0).size(), 1u);
    // An event larger than the budget is kept alone rather than lost as it is written.
    store->append("s", 31, 1, std::string(5000, 'y'));
    EXPECT_EQ(store->replay("s", 31, 0).size(), 1u);
    EXPECT_EQ(store->bytes(), 5000u);
    store->forget_session("s");
    EXPECT_EQ(store->bytes(), 0u);
}

TEST(MemoryEventStore, AllSessionsTogetherKeepAtMostTheTotalLeastRecentlyWrittenFirst) {
    auto store = make_memory_event_store({.bytes_per_session = 1u << 20, .bytes_total = 2000});
    std::string hundred(100, 'x');
    for (int i = 0; i < 10; ++i)
        store->append("old", 0, static_cast<std::uint64_t>(i + 1), hundred);
    for (int i = 0; i < 10; ++i)
        store->append("mid", 0, static_cast<std::uint64_t>(i + 1), hundred);
    for (int i = 0; i < 10; ++i)
        store->append("new", 0, static_cast<std::uint64_t>(i + 1), hundred);
    EXPECT_LE(store->bytes(), 2000u);
    EXPECT_TRUE(store->replay("old", 0, 0).empty());   // written least recently: gone
    EXPECT_EQ(store->replay("mid", 0, 0).size(), 10u); // kept whole
    EXPECT_EQ(store->replay("new", 0, 0).size(), 10u);
    // Writing to "mid" again makes "new" the least recently written.
    store->append("mid", 0, 11, hundred);
    EXPECT_EQ(store->replay("mid", 0, 0).size(), 11u);
    EXPECT_EQ(store->replay("new", 0, 0).size(), 9u);
    EXPECT_EQ(store->replay("new", 0, 0).front().first, 2u);
}

// Its bookkeeping stays bounded too: a long stream trimmed by count leaves no trail behind.
TEST(MemoryEventStore, AMillionEventsOnOneStreamKeepItsBookkeepingSmall) {
    auto store = make_memory_event_store({.events_per_stream = 5});
    for (std::uint64_t seq = 1; seq <= 100000; ++seq)
        store->append("s", 0, seq, "e");
    EXPECT_EQ(store->bytes(), 5u);
    EXPECT_EQ(store->replay("s", 0, 0).size(), 5u);
    EXPECT_EQ(store->replay("s", 0, 0).front().first, 99996u);
}
