// Unit tests for src/http/sse_parser: the event-stream format as the WHATWG standard defines it
// (fields, multi-line data, id and retry, comments, the BOM, CR / LF / CRLF line ends), the same
// events whatever the pieces the bytes come in, and the limits.
#include "http/sse_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using mcpd::http::parse_sse;
using mcpd::http::sse_message;
using mcpd::http::sse_parser;
using mcpd::http::sse_parser_limits;

// Feeds `stream` in pieces of `n` bytes.
std::vector<sse_message> in_pieces(std::string_view stream, std::size_t n, sse_parser& p) {
    std::vector<sse_message> out;
    for (std::size_t at = 0; at < stream.size(); at += n)
        p.feed(stream.substr(at, n), out);
    return out;
}

TEST(sse_parser, one_event_with_every_field) {
    auto r = parse_sse("event: update\nid: 42\nretry: 1500\ndata: hello\n\n");
    ASSERT_EQ(r.events.size(), 1u);
    EXPECT_EQ(r.events[0].type, "update");
    EXPECT_EQ(r.events[0].data, "hello");
    EXPECT_EQ(r.events[0].last_event_id, "42");
    EXPECT_EQ(r.last_event_id, "42");
    EXPECT_EQ(r.retry_ms, 1500u);
    EXPECT_TRUE(r.error.empty());
}

TEST(sse_parser, data_lines_join_with_lf_and_the_type_defaults_to_message) {
    auto r = parse_sse("data: first\ndata: second\ndata:\ndata:  two spaces\n\n");
    ASSERT_EQ(r.events.size(), 1u);
    EXPECT_EQ(r.events[0].type, "message");
    // One space after the colon goes, the second stays; an empty data line is an empty line.
    EXPECT_EQ(r.events[0].data, "first\nsecond\n\n two spaces");
}

TEST(sse_parser, cr_lf_and_crlf_all_end_lines) {
    for (std::string_view nl : {"\n", "\r", "\r\n"}) {
        std::string s = "data: a" + std::string(nl) + "data: b" + std::string(nl) +
                        std::string(nl) + "data: c" + std::string(nl) + std::string(nl);
        auto r = parse_sse(s);
        ASSERT_EQ(r.events.size(), 2u) << "line end " << int(nl[0]) << "," << nl.size();
        EXPECT_EQ(r.events[0].data, "a\nb");
        EXPECT_EQ(r.events[1].data, "c");
    }
    // Mixed in one stream.
    auto r = parse_sse("data: x\r\ndata: y\rdata: z\n\r\n");
    ASSERT_EQ(r.events.size(), 1u);
    EXPECT_EQ(r.events[0].data, "x\ny\nz");
}

TEST(sse_parser, a_crlf_split_between_pieces_is_one_line_end) {
    sse_parser p;
    std::vector<sse_message> out;
    p.feed("data: a\r", out);
    p.feed("\ndata: b\r", out);
    p.feed("\n", out);
    EXPECT_TRUE(out.empty()) << "the LF completes the CRLF of line b, not an empty line";
    p.feed("\r\n", out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].data, "a\nb");
    // A lone CR followed (in the next piece) by a non-LF byte is a line end too.
    p.feed("data: c\r", out);
    p.feed("\r", out);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[1].data, "c");
}

TEST(sse_parser, comments_and_unknown_fields_are_ignored) {
    auto r = parse_sse(": keepalive\n\n:another\ndata: x\nfoo: bar\n: inside\n\n");
    ASSERT_EQ(r.events.size(), 1u);
    EXPECT_EQ(r.events[0].data, "x");
}

TEST(sse_parser, a_line_without_colon_is_a_field_with_an_empty_value) {
    auto r = parse_sse("data\ndata\n\n");
    ASSERT_EQ(r.events.size(), 1u);
    EXPECT_EQ(r.events[0].data, "\n");
    // "event" alone resets the type to the default.
    auto t = parse_sse("event\ndata: y\n\n");
    ASSERT_EQ(t.events.size(), 1u);
    EXPECT_EQ(t.events[0].type, "message");
}

TEST(sse_parser, no_space_after_the_colon_is_fine) {
    auto r = parse_sse("event:ping\ndata:{\"a\":1}\nid:7\n\n");
    ASSERT_EQ(r.events.size(), 1u);
    EXPECT_EQ(r.events[0].type, "ping");
    EXPECT_EQ(r.events[0].data, "{\"a\":1}");
    EXPECT_EQ(r.events[0].last_event_id, "7");
}

TEST(sse_parser, an_event_without_data_is_not_dispatched_but_its_id_counts) {
    // The MCP priming event: an id and an empty data line… or no data line at all.
    auto r = parse_sse("id: s.1.0\nretry: 1000\n\n");
    EXPECT_TRUE(r.events.empty());
    EXPECT_EQ(r.last_event_id, "s.1.0");
    EXPECT_EQ(r.retry_ms, 1000u);
    // With "data:" (empty value) the data buffer is "\n": an event with empty data.
    auto d = parse_sse("id: s.1.0\ndata:\n\n");
    ASSERT_EQ(d.events.size(), 1u);
    EXPECT_EQ(d.events[0].data, "");
}

TEST(sse_parser, the_id_persists_and_an_empty_id_resets_it) {
    auto r = parse_sse("id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 3\ndata: d\n\n");
    ASSERT_EQ(r.events.size(), 4u);
    EXPECT_EQ(r.events[0].last_event_id, "1");
    EXPECT_EQ(r.events[1].last_event_id, "1");
    EXPECT_EQ(r.events[2].last_event_id, "");
    EXPECT_EQ(r.events[3].last_event_id, "3");
}

TEST(sse_parser, an_id_with_nul_is_ignored) {
    std::string s = "id: good\ndata: a\n\nid: b";
    s += '\0';
    s += "d\ndata: b\n\n";
    auto r = parse_sse(s);
    ASSERT_EQ(r.events.size(), 2u);
    EXPECT_EQ(r.events[1].last_event_id, "good");
}

TEST(sse_parser, retry_takes_only_ascii_digits) {
    EXPECT_EQ(parse_sse("retry: 250\n\n").retry_ms, 250u);
    EXPECT_FALSE(parse_sse("retry: 25x\n\n").retry_ms);
    EXPECT_FALSE(parse_sse("retry: -5\n\n").retry_ms);
    EXPECT_FALSE(parse_sse("retry:\n\n").retry_ms);
    EXPECT_FALSE(parse_sse("retry: 1.5\n\n").retry_ms);
    // Too large for 64 bits: ignored, the previous value stays.
    EXPECT_EQ(parse_sse("retry: 10\nretry: 99999999999999999999999\n\n").retry_ms, 10u);
}

TEST(sse_parser, a_bom_at_the_start_is_dropped_once) {
    auto r = parse_sse("\xEF\xBB\xBF"
                       "data: a\n\n");
    ASSERT_EQ(r.events.size(), 1u);
    EXPECT_EQ(r.events[0].data, "a");
    // A BOM later is data like any other bytes; a second BOM at the start makes the first line
    // a field named "\xEF\xBB\xBF" + "data", which is ignored.
    auto later = parse_sse("data: \xEF\xBB\xBFx\n\n");
    ASSERT_EQ(later.events.size(), 1u);
    EXPECT_EQ(later.events[0].data, "\xEF\xBB\xBFx");
    auto twice = parse_sse("\xEF\xBB\xBF\xEF\xBB\xBF"
                           "data: a\n\ndata: b\n\n");
    ASSERT_EQ(twice.events.size(), 1u);
    EXPECT_EQ(twice.events[0].data, "b");
}

TEST(sse_parser, a_bom_split_over_pieces_is_still_dropped) {
    sse_parser p;
    auto out = in_pieces("\xEF\xBB\xBF"
                         "data: a\n\n",
                         1, p);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].data, "a");
}

TEST(sse_parser, an_unfinished_event_at_the_end_is_not_dispatched) {
    auto r = parse_sse("data: a\n\ndata: b\n");
    ASSERT_EQ(r.events.size(), 1u);
    EXPECT_EQ(r.events[0].data, "a");
    auto no_newline = parse_sse("data: a\n\ndata: b");
    EXPECT_EQ(no_newline.events.size(), 1u);
}

TEST(sse_parser, every_piece_size_gives_the_same_events) {
    std::string const stream =
        "\xEF\xBB\xBF: hello\r\nevent: a\r\nid: 1\r\ndata: {\"x\":\r\ndata: 1}"
        "\r\n\r\nretry: 300\rdata: two\r\rdata:three\n\nid: 9\nevent: "
        "z\ndata: 4\n\n";
    auto whole = parse_sse(stream);
    ASSERT_EQ(whole.events.size(), 4u);
    for (std::size_t n = 1; n <= stream.size(); ++n) {
        sse_parser p;
        auto out = in_pieces(stream, n, p);
        ASSERT_EQ(out.size(), whole.events.size()) << "pieces of " << n;
        for (std::size_t i = 0; i < out.size(); ++i) {
            EXPECT_EQ(out[i].type, whole.events[i].type) << n;
            EXPECT_EQ(out[i].data, whole.events[i].data) << n;
            EXPECT_EQ(out[i].last_event_id, whole.events[i].last_event_id) << n;
        }
        EXPECT_EQ(p.last_event_id(), "9");
        EXPECT_EQ(p.retry_ms(), 300u);
    }
}

TEST(sse_parser, a_line_over_the_limit_fails_the_stream) {
    sse_parser_limits limits;
    limits.max_line_bytes = 16;
    auto r = parse_sse("data: short\n\ndata: this line is far too long\n\ndata: after\n\n", limits);
    ASSERT_EQ(r.events.size(), 1u) << "events before the long line are kept";
    EXPECT_NE(r.error.find("longer than 16 bytes"), std::string::npos) << r.error;

    // Arriving in pieces, an unterminated line fails as soon as it is too long.
    sse_parser p(limits);
    std::vector<sse_message> out;
    EXPECT_TRUE(p.feed("data: 0123456789", out));
    EXPECT_FALSE(p.feed("abcdef", out));
    EXPECT_TRUE(p.failed());
    EXPECT_FALSE(p.feed("\n\ndata: ok\n\n", out)) << "a failed parser stays failed";
    EXPECT_TRUE(out.empty());
}

TEST(sse_parser, event_data_over_the_limit_fails_the_stream) {
    sse_parser_limits limits;
    limits.max_event_bytes = 10;
    auto r = parse_sse("data: 12345\ndata: 67890\n\n", limits);
    EXPECT_TRUE(r.events.empty());
    EXPECT_NE(r.error.find("event data longer than 10 bytes"), std::string::npos) << r.error;
    // Many small events never add up: the limit is per event.
    std::string many;
    for (int i = 0; i < 100; ++i)
        many += "data: 12345\n\n";
    auto ok = parse_sse(many, limits);
    EXPECT_EQ(ok.events.size(), 100u);
    EXPECT_TRUE(ok.error.empty());
}

TEST(sse_parser, an_mcp_stream_as_mcpd_writes_it) {
    auto r = parse_sse("id: abc.17.0\nretry: 1000\ndata: \n\n"
                       "id: abc.17.1\ndata: "
                       "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
                       "progress\",\"params\":{\"progress\":1}}\n\n"
                       ": keepalive\n\n"
                       "id: abc.17.2\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n");
    ASSERT_EQ(r.events.size(), 3u);
    EXPECT_EQ(r.events[0].data, "");
    EXPECT_EQ(r.events[2].data, R"({"jsonrpc":"2.0","id":1,"result":{}})");
    EXPECT_EQ(r.last_event_id, "abc.17.2");
}

} // namespace
