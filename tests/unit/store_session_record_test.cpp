// tests/unit/store_session_record_test.cpp — a listing's record read from its stored text: the
// top-level fields it reads, what it refuses (anything that is not one JSON object), and that
// the whole record comes back as parse_record() gives it; and the same record made from an
// object.
#include "mcpd/store/error.hpp"
#include "mcpd/store/session.hpp"
#include "mcpd/store/session_record.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

using namespace mcpd;
using namespace mcpd::store;
namespace json = boost::json;

namespace {

constexpr char const* full_record = R"({
    "sessionId": "AbCdEf123456", "identity": "user:1*", "serverId": "srv-1",
    "serverName": "Caf\u00e9 \"quoted\"", "serverUrl": "https://mcp.example.com/mcp",
    "transportType": "streamable_http", "callbackUrl": "https://app.example.com/cb",
    "createdAt": 1732000000123, "active": false,
    "headers": {"sessionId": "not-this-one", "active": true},
    "tokens": {"access_token": "t", "nested": [{"serverUrl": "deeper"}]},
    "clientInformation": null, "codeVerifier": "v", "clientId": "c",
    "futureField": {"kept": [1, 2, 3]}
})";

void expect_fields_of_full_record(session_record const& r) {
    EXPECT_EQ(r.session_id(), "AbCdEf123456");
    EXPECT_EQ(r.identity(), "user:1*");
    EXPECT_EQ(r.server_id(), "srv-1");
    EXPECT_EQ(r.server_name(), "Caf\xc3\xa9 \"quoted\""); // escapes decoded
    EXPECT_EQ(r.server_url(), "https://mcp.example.com/mcp");
    EXPECT_EQ(r.transport_type(), "streamable_http");
    EXPECT_EQ(r.callback_url(), "https://app.example.com/cb");
    EXPECT_EQ(r.created_at(), json::value(1732000000123));
    EXPECT_EQ(r.active(), false);
    EXPECT_FALSE(r.has_sealed_secret());
}

} // namespace

TEST(session_record, reads_the_top_level_fields_and_never_nested_ones) {
    auto r = session_record::parse(full_record);
    ASSERT_TRUE(r) << r.error().message();
    expect_fields_of_full_record(*r);
}

TEST(session_record, the_whole_record_is_the_parsed_text_unknown_fields_included) {
    auto r = session_record::parse(full_record);
    ASSERT_TRUE(r);
    auto whole = r->object();
    EXPECT_EQ(whole, json::parse(full_record).as_object());
    EXPECT_EQ(whole.at("futureField"), json::parse(R"({"kept": [1, 2, 3]})"));
    EXPECT_EQ(r->object(), whole); // asked again: the same
}

TEST(session_record, made_from_an_object_reads_the_same) {
    session_record r(json::parse(full_record).as_object());
    expect_fields_of_full_record(r);
    EXPECT_EQ(r.object(), json::parse(full_record).as_object());
}

TEST(session_record, absent_and_mistyped_fields_are_absent) {
    for (char const* text : {R"({})", R"({"sessionId": 7, "serverUrl": null, "active": "yes",
                                       "createdAt": "today", "serverName": {"a": 1},
                                       "serverId": ["x"]})"}) {
        auto r = session_record::parse(text);
        ASSERT_TRUE(r) << text;
        EXPECT_FALSE(r->session_id()) << text;
        EXPECT_FALSE(r->server_url()) << text;
        EXPECT_FALSE(r->server_name()) << text;
        EXPECT_FALSE(r->server_id()) << text;
        EXPECT_FALSE(r->active()) << text;
        EXPECT_TRUE(r->created_at().is_null()) << text;
        session_record same(json::parse(text).as_object());
        EXPECT_FALSE(same.session_id()) << text;
        EXPECT_FALSE(same.active()) << text;
    }
    // A number keeps its kind; an empty string is present.
    auto r = session_record::parse(R"({"createdAt": 1.5, "sessionId": ""})");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->created_at(), json::value(1.5));
    EXPECT_EQ(r->session_id(), "");
}

TEST(session_record, a_repeated_field_reads_as_the_parsed_object_has_it) {
    for (char const* text :
         {R"({"serverUrl": "a", "serverUrl": "b"})", R"({"serverUrl": "a", "serverUrl": 1})",
          R"({"active": true, "active": null})"}) {
        auto r = session_record::parse(text);
        ASSERT_TRUE(r) << text;
        session_record from_object(r->object());
        EXPECT_EQ(r->server_url(), from_object.server_url()) << text;
        EXPECT_EQ(r->active(), from_object.active()) << text;
    }
}

TEST(session_record, anything_but_one_json_object_is_a_corrupt_record) {
    for (char const* text :
         {"", "[]", "\"text\"", "42", "null", "{", R"({"a": })", R"({"a": 1} {"b": 2})",
          R"({"a": 1} x)", "{\"a\": \"\x01\"}", R"({"a": [1, 2})"}) {
        auto r = session_record::parse(text);
        ASSERT_FALSE(r) << text;
        EXPECT_EQ(r.error().code, store_errc::corrupt_record) << text;
    }
    // Trailing whitespace is not extra data.
    EXPECT_TRUE(session_record::parse("{\"a\": 1}  \n"));
}

// Boost.JSON 1.81 reads these as infinities or NaN and would write them back as `Infinity` or
// `NaN`, which no reader takes: both readers refuse them, at any depth (found by
// tests/fuzz/session_record_fuzz.cpp).
TEST(session_record, a_number_too_large_for_a_double_is_a_corrupt_record) {
    for (char const* text :
         {R"({"identity": "u", "sessionId": "s", "createdAt": 1e400})", R"({"createdAt": 0e3082})",
          R"({"tokens": {"expires_in": -1e999}})", R"({"headers": [[0.0e400]]})"}) {
        auto streamed = session_record::parse(text);
        ASSERT_FALSE(streamed) << text;
        EXPECT_EQ(streamed.error().code, store_errc::corrupt_record) << text;
        auto whole = parse_record(text);
        ASSERT_FALSE(whole) << text;
        EXPECT_EQ(whole.error().code, store_errc::corrupt_record) << text;
    }
    EXPECT_TRUE(session_record::parse(R"({"createdAt": 1e308, "x": -1e-400})"));
    EXPECT_TRUE(parse_record(R"({"createdAt": 1e308, "x": -1e-400})"));
    // Replaced by a later duplicate, it is not in the record: both readers take it (found by
    // the fuzzer, where they disagreed).
    constexpr char const* shadowed = R"({"createdAt": 1e400, "createdAt": 7})";
    auto streamed = session_record::parse(shadowed);
    ASSERT_TRUE(streamed);
    EXPECT_EQ(streamed->created_at(), json::value(7));
    EXPECT_TRUE(parse_record(shadowed));
}

TEST(session_record, a_sealed_secret_is_noticed_where_the_encryption_layer_needs_it) {
    for (char const* field : {"headers", "tokens", "clientInformation"}) {
        auto text = std::string(R"({"sessionId": "s", ")") + field + R"(": "enc:1:00:11:22"})";
        auto r = session_record::parse(text);
        ASSERT_TRUE(r) << text;
        EXPECT_TRUE(r->has_sealed_secret()) << text;
        EXPECT_TRUE(session_record(r->object()).has_sealed_secret()) << text;
    }
    // Only those fields, only strings with the prefix, only at the top.
    for (char const* text : {R"({"codeVerifier": "enc:1:00:11:22"})", R"({"tokens": "plain"})",
                             R"({"tokens": {"access_token": "enc:1:00:11:22"}})"}) {
        auto r = session_record::parse(text);
        ASSERT_TRUE(r) << text;
        EXPECT_FALSE(r->has_sealed_secret()) << text;
    }
}

TEST(session_record, a_string_too_long_for_one_piece_reads_whole) {
    std::string long_url(100'000, 'u');
    json::object o{{"serverUrl", long_url}, {"sessionId", "s"}};
    auto r = session_record::parse(json::serialize(o));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->server_url(), long_url);
}
