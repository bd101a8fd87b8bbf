// tests/unit/store_record_memo_test.cpp — the record memo never changes what a read returns: a
// remembered object is used only for the exact text it came from; bounds and forgetting hold.
#include "store/error.hpp"
#include "store/record_memo.hpp"

#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

using namespace mcpd;
using namespace mcpd::store;
namespace json = boost::json;

namespace {

std::string record_text(std::string_view id, std::string_view server) {
    return R"({"sessionId":")" + std::string(id) + R"(","identity":"u","serverUrl":")" +
           std::string(server) + R"(","tokens":{"access_token":"t"},"active":true})";
}

} // namespace

TEST(record_memo, the_same_text_is_served_from_memory_and_equals_a_fresh_parse) {
    record_memo memo;
    auto text = record_text("s1", "https://a.example/mcp");
    auto first = memo.parse("k1", text);
    ASSERT_TRUE(first);
    EXPECT_EQ(memo.hits(), 0u);
    auto second = memo.parse("k1", text);
    ASSERT_TRUE(second);
    EXPECT_EQ(memo.hits(), 1u);
    EXPECT_EQ(*first, *second);
    EXPECT_EQ(json::serialize(*second), text);
    // The copy is the caller's: changing it does not change what the memo hands out next.
    (*second)["active"] = false;
    auto third = memo.parse("k1", text);
    EXPECT_EQ(third->at("active"), true);
}

TEST(record_memo, changed_text_is_parsed_again_never_served_stale) {
    record_memo memo;
    ASSERT_TRUE(memo.parse("k1", record_text("s1", "https://a.example/mcp")));
    auto changed = memo.parse("k1", record_text("s1", "https://b.example/mcp"));
    ASSERT_TRUE(changed);
    EXPECT_EQ(changed->at("serverUrl"), "https://b.example/mcp");
    EXPECT_EQ(memo.hits(), 0u);
    EXPECT_EQ(memo.size(), 1u);
    // Another key with the first text is its own entry.
    ASSERT_TRUE(memo.parse("k2", record_text("s1", "https://a.example/mcp")));
    EXPECT_EQ(memo.size(), 2u);
}

TEST(record_memo, corrupt_text_is_an_error_and_is_not_remembered) {
    record_memo memo;
    auto bad = memo.parse("k1", "{not json");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, store_errc::corrupt_record);
    EXPECT_FALSE(memo.parse("k1", "[1,2]"));
    EXPECT_EQ(memo.size(), 0u);
}

TEST(record_memo, bounded_by_entries_and_bytes_least_recently_used_first) {
    record_memo by_count(2, 1 << 20);
    auto a = record_text("a", "x"), b = record_text("b", "x"), c = record_text("c", "x");
    by_count.parse("a", a);
    by_count.parse("b", b);
    by_count.parse("a", a); // a is now the most recent
    by_count.parse("c", c); // evicts b
    EXPECT_EQ(by_count.size(), 2u);
    auto hits = by_count.hits();
    by_count.parse("a", a);
    EXPECT_EQ(by_count.hits(), hits + 1);
    by_count.parse("b", b);
    EXPECT_EQ(by_count.hits(), hits + 1) << "b was evicted";

    record_memo by_bytes(100, a.size() * 2);
    by_bytes.parse("a", a);
    by_bytes.parse("b", b);
    by_bytes.parse("c", c);
    EXPECT_EQ(by_bytes.size(), 2u);
    // A record larger than the whole budget is parsed but not kept.
    record_memo tiny(100, 10);
    EXPECT_TRUE(tiny.parse("a", a));
    EXPECT_EQ(tiny.size(), 0u);
}

TEST(record_memo, forget_and_clear_drop_entries) {
    record_memo memo;
    auto a = record_text("a", "x");
    memo.parse("a", a);
    memo.parse("b", record_text("b", "x"));
    memo.forget("a");
    memo.forget("missing");
    EXPECT_EQ(memo.size(), 1u);
    memo.parse("a", a);
    EXPECT_EQ(memo.hits(), 0u);
    memo.clear();
    EXPECT_EQ(memo.size(), 0u);
}
