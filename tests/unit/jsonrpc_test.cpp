// JSON-RPC 2.0 parsing: every shape a peer can send, valid or not, and the reply each bad one
// gets.
#include "mcpd/protocol/jsonrpc.hpp"
#include "mcpd/protocol/version.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

namespace json = boost::json;
using namespace mcpd::protocol;

namespace {

message one(std::string_view text) {
    auto p = parse_body(text);
    EXPECT_FALSE(p.fatal) << text;
    EXPECT_EQ(p.messages.size(), 1u) << text;
    return p.messages.empty() ? message{invalid{}} : p.messages.front();
}

error_response const& rejected(message const& m) {
    static error_response const none;
    auto const* bad = std::get_if<invalid>(&m);
    EXPECT_NE(bad, nullptr);
    return bad ? bad->reply : none;
}

} // namespace

TEST(JsonRpc, RequestWithIntegerOrStringId) {
    auto m = one(R"({"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"cursor":"2"}})");
    auto const& r = std::get<request>(m);
    EXPECT_EQ(r.id, json::value(7));
    EXPECT_EQ(r.method, "tools/list");
    EXPECT_EQ(r.params.at("cursor"), "2");
    auto s = std::get<request>(one(R"({"jsonrpc":"2.0","id":"a-1","method":"ping"})"));
    EXPECT_EQ(s.id, json::value("a-1"));
    EXPECT_TRUE(s.params.empty());
}

TEST(JsonRpc, NotificationHasNoId) {
    auto n =
        std::get<notification>(one(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"));
    EXPECT_EQ(n.method, "notifications/initialized");
}

TEST(JsonRpc, ResponsesAndErrorsFromThePeer) {
    auto r = std::get<response>(one(R"({"jsonrpc":"2.0","id":3,"result":{"ok":true}})"));
    EXPECT_EQ(r.id, json::value(3));
    EXPECT_EQ(r.result.at("ok"), true);
    auto e = std::get<error_response>(
        one(R"({"jsonrpc":"2.0","id":4,"error":{"code":-32601,"message":"nope","data":[1]}})"));
    EXPECT_EQ(e.code, -32601);
    EXPECT_EQ(e.message, "nope");
    EXPECT_EQ(e.data, json::parse("[1]"));
}

TEST(JsonRpc, NotJsonIsAParseError) {
    for (auto text : {"", "{", "{\"jsonrpc\":\"2.0\",", "nul", "[1,2", "\"\\u12\""}) {
        auto p = parse_body(text);
        ASSERT_TRUE(p.fatal) << text;
        EXPECT_EQ(p.fatal->code, code::parse_error) << text;
        EXPECT_TRUE(p.fatal->id.is_null());
    }
}

// Found by jsonrpc_fuzz: Boost.JSON reads 1e400 as infinity and would write it back as
// "Infinity", which no JSON parser reads.
TEST(JsonRpc, NumbersTooLargeForADoubleAreAParseError) {
    for (auto text : {R"({"jsonrpc":"2.0","id":1,"method":"x","params":{"a":1e400}})",
                      R"({"jsonrpc":"2.0","id":0,"error":{"code":1,"data":{"x":-5e9991}}})",
                      R"([{"jsonrpc":"2.0","method":"y"},[[1E999]]])"}) {
        auto p = parse_body(text);
        ASSERT_TRUE(p.fatal) << text;
        EXPECT_EQ(p.fatal->code, code::parse_error) << text;
        EXPECT_TRUE(p.messages.empty());
    }
    auto fine =
        parse_body(R"({"jsonrpc":"2.0","id":1,"method":"x","params":{"a":1e308,"b":-0.0}})");
    EXPECT_FALSE(fine.fatal);
}

TEST(JsonRpc, DeepNestingIsRefusedNotRecursedInto) {
    std::string deep(100000, '[');
    auto p = parse_body(deep);
    ASSERT_TRUE(p.fatal);
    EXPECT_EQ(p.fatal->code, code::parse_error);
}

// Hardening (issue 18, row 1): a batch over the limit is refused as a whole, from its length,
// without an answer per entry.
TEST(JsonRpc, ABatchOverTheLimitIsRefusedWhole) {
    std::string big = "[";
    for (int i = 0; i < 1001; ++i)
        big += i == 0 ? "0" : ",0";
    big += "]";
    auto p = parse_body(big);
    ASSERT_TRUE(p.fatal);
    EXPECT_EQ(p.fatal->code, code::invalid_request);
    EXPECT_NE(p.fatal->message.find("1001 messages is over the limit of 1000 (max-batch)"),
              std::string::npos)
        << p.fatal->message;
    EXPECT_TRUE(p.messages.empty());
    // At the limit, and under a smaller one set by the caller.
    auto at_limit = parse_body(big.substr(0, big.size() - 3) + "]");
    EXPECT_FALSE(at_limit.fatal);
    EXPECT_EQ(at_limit.messages.size(), 1000u);
    auto small = parse_body(R"([{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"}])",
                            {.max_batch = 1});
    ASSERT_TRUE(small.fatal);
    EXPECT_NE(small.fatal->message.find("limit of 1 (max-batch)"), std::string::npos);
}

TEST(JsonRpc, InvalidRequestsKeepTheirIdWhenReadable) {
    auto const& no_version = rejected(one(R"({"id":1,"method":"ping"})"));
    EXPECT_EQ(no_version.code, code::invalid_request);
    EXPECT_EQ(no_version.id, json::value(1));
    EXPECT_EQ(rejected(one(R"({"jsonrpc":"1.0","id":1,"method":"ping"})")).code,
              code::invalid_request);
    EXPECT_EQ(rejected(one(R"({"jsonrpc":"2.0","id":1,"method":5})")).code, code::invalid_request);
    auto const& positional =
        rejected(one(R"({"jsonrpc":"2.0","id":"x","method":"m","params":[1]})"));
    EXPECT_EQ(positional.code, code::invalid_request);
    EXPECT_EQ(positional.id, json::value("x"));
    // An id that is neither a string nor an integer cannot be echoed.
    auto const& float_id = rejected(one(R"({"jsonrpc":"2.0","id":1.5,"method":"ping"})"));
    EXPECT_TRUE(float_id.id.is_null());
    EXPECT_EQ(rejected(one(R"({"jsonrpc":"2.0","id":{},"method":"ping"})")).code,
              code::invalid_request);
    EXPECT_EQ(rejected(one("42")).code, code::invalid_request);
    EXPECT_EQ(rejected(one(R"({"jsonrpc":"2.0"})")).code, code::invalid_request);
    EXPECT_EQ(rejected(one(R"({"jsonrpc":"2.0","id":2})")).code, code::invalid_request);
}

TEST(JsonRpc, BatchesKeepOrderAndAnswerBadEntriesAlone) {
    auto p = parse_body(
        R"([{"jsonrpc":"2.0","id":1,"method":"ping"},17,{"jsonrpc":"2.0","method":"n"}])");
    ASSERT_FALSE(p.fatal);
    EXPECT_TRUE(p.batch);
    ASSERT_EQ(p.messages.size(), 3u);
    EXPECT_TRUE(std::holds_alternative<request>(p.messages[0]));
    EXPECT_TRUE(std::holds_alternative<invalid>(p.messages[1]));
    EXPECT_TRUE(std::holds_alternative<notification>(p.messages[2]));
    auto empty = parse_body("[]");
    ASSERT_TRUE(empty.fatal);
    EXPECT_EQ(empty.fatal->code, code::invalid_request);
}

TEST(JsonRpc, WireFormsRoundTrip) {
    auto r = make_result(json::value("id-1"), json::object{{"x", 1}});
    EXPECT_EQ(json::serialize(r), R"({"jsonrpc":"2.0","id":"id-1","result":{"x":1}})");
    auto e = make_error(nullptr, code::method_not_found, "Method not found: x");
    EXPECT_EQ(
        json::serialize(e),
        R"({"jsonrpc":"2.0","id":null,"error":{"code":-32601,"message":"Method not found: x"}})");
    auto n = make_notification("notifications/progress", json::object{{"progress", 1}});
    auto back = std::get<notification>(one(json::serialize(n)));
    EXPECT_EQ(back.params.at("progress"), 1);
    EXPECT_EQ(json::serialize(make_notification("notifications/initialized")),
              R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
}

TEST(Versions, NegotiationAndFeatureGates) {
    EXPECT_EQ(negotiate("2025-06-18"), "2025-06-18");
    EXPECT_EQ(negotiate("2024-11-05"), "2024-11-05");
    EXPECT_EQ(negotiate("1999-01-01"), latest_session_version);
    EXPECT_EQ(negotiate("2026-07-28"), latest_session_version); // stateless has no initialize
    EXPECT_TRUE(allows_batches("2025-03-26"));
    EXPECT_TRUE(allows_batches("2024-11-05"));
    EXPECT_FALSE(allows_batches("2025-06-18"));
    EXPECT_TRUE(is_stateless("2026-07-28"));
    EXPECT_FALSE(is_stateless("2025-11-25"));
}
