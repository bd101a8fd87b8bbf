// tests/unit/http_request_test.cpp — the HTTP server's request tokenizer (http/request.hpp):
// what it reads, however the bytes are split, and what it refuses.
#include "http/request_parser.hpp"
#include "mcpd/http/error.hpp"

#include <boost/beast/http/error.hpp>
#include <gtest/gtest.h>

#include <string>
#include <string_view>

using namespace mcpd::http;
namespace error = boost::beast::http;
using boost::system::error_code;

namespace {

constexpr request_parser::limits test_limits{.max_header_bytes = 1024, .max_body_bytes = 64};

struct outcome {
    error_code ec;
    std::size_t used = 0; // of the input, in all
    bool done = false;
};

// Feeds `input` in pieces of `step` bytes (0: all at once), as a connection would: what the
// parser leaves unused stays at the front of the next call.
outcome feed(server_request& req, std::string_view input, std::size_t step = 0,
             request_parser::limits l = test_limits) {
    request_parser p(req, l);
    outcome o;
    std::string buffered;
    std::size_t given = 0;
    while (!p.is_done()) {
        auto n = step == 0 ? input.size() - given : std::min(step, input.size() - given);
        buffered.append(input.substr(given, n));
        given += n;
        error_code ec;
        auto used = p.put(buffered, ec);
        buffered.erase(0, used);
        o.used += used;
        if (ec == error::error::need_more) {
            if (given < input.size())
                continue;
            ec = {};
        }
        if (ec) {
            o.ec = ec;
            break;
        }
        if (!p.is_done() && given == input.size()) {
            p.put_eof(ec);
            o.ec = ec;
            break;
        }
    }
    o.done = p.is_done();
    return o;
}

constexpr std::string_view post =
    "POST /mcp?x=1 HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nContent-Type: application/json\r\n"
    "mcp-session-id: abc\r\nX-Empty:\r\nContent-Length: 11\r\n\r\n{\"a\":\"b c\"}";

} // namespace

TEST(http_request, reads_a_post_however_its_bytes_are_split) {
    for (std::size_t step : {0, 1, 2, 7, 64}) {
        SCOPED_TRACE(step);
        server_request req;
        auto o = feed(req, post, step);
        ASSERT_FALSE(o.ec) << o.ec.message();
        EXPECT_TRUE(o.done);
        EXPECT_EQ(o.used, post.size());
        EXPECT_EQ(req.method(), mcpd::http::verb::post);
        EXPECT_EQ(req.method_string(), "POST");
        EXPECT_EQ(req.target(), "/mcp?x=1");
        EXPECT_EQ(req.version(), 11u);
        EXPECT_TRUE(req.keep_alive());
        EXPECT_EQ(req[mcpd::http::field::host], "127.0.0.1:3000");
        EXPECT_EQ(req["content-type"], "application/json"); // a known name, any case
        EXPECT_EQ(req["Mcp-Session-Id"], "abc");            // an unknown one, any case
        EXPECT_TRUE(req.has("X-Empty"));
        EXPECT_EQ(req["X-Empty"], "");
        EXPECT_FALSE(req.has("X-Missing"));
        EXPECT_EQ(req[mcpd::http::field::origin], "");
        EXPECT_EQ(req.body(), "{\"a\":\"b c\"}");
    }
}

TEST(http_request, values_keep_tabs_and_obs_text) {
    server_request req;
    auto o = feed(
        req,
        "GET / HTTP/1.1\r\nHost: h\r\nX-Value: \ta\tlong\tvalue\t\xc3\xa9t\xc3\xa9 \t\r\n\r\n");
    ASSERT_FALSE(o.ec) << o.ec.message();
    EXPECT_EQ(req["x-value"], "a\tlong\tvalue\t\xc3\xa9t\xc3\xa9"); // without the blanks around
}

TEST(http_request, a_reused_request_forgets_the_last_one) {
    server_request req;
    ASSERT_FALSE(feed(req, post).ec);
    auto get = std::string_view("GET /health HTTP/1.0\r\n\r\n");
    auto o = feed(req, get);
    ASSERT_FALSE(o.ec) << o.ec.message();
    EXPECT_EQ(req.method_string(), "GET");
    EXPECT_EQ(req.version(), 10u);
    EXPECT_FALSE(req.keep_alive()); // HTTP/1.0 closes unless asked
    EXPECT_FALSE(req.has("Host"));
    EXPECT_EQ(req.body(), "");
}

TEST(http_request, pipelined_requests_are_read_one_at_a_time) {
    std::string two = std::string(post) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    server_request req;
    request_parser p(req, test_limits);
    error_code ec;
    auto used = p.put(two, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_TRUE(p.is_done());
    EXPECT_EQ(used, post.size());
    request_parser next(req, test_limits);
    EXPECT_EQ(next.put(std::string_view(two).substr(used), ec), two.size() - post.size());
    EXPECT_FALSE(ec);
    EXPECT_EQ(req.target(), "/");
}

TEST(http_request, keep_alive_follows_the_connection_field) {
    server_request req;
    ASSERT_FALSE(feed(req, "GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n").ec);
    EXPECT_FALSE(req.keep_alive());
    ASSERT_FALSE(feed(req, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").ec);
    EXPECT_TRUE(req.keep_alive());
    ASSERT_FALSE(
        feed(req, "GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade, keep-alive\r\n\r\n").ec);
    EXPECT_TRUE(req.keep_alive());
}

TEST(http_request, reads_a_chunked_body_with_extensions_and_trailers) {
    constexpr std::string_view chunked =
        "POST /mcp HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
        "5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";
    for (std::size_t step : {0, 1, 3}) {
        SCOPED_TRACE(step);
        server_request req;
        auto o = feed(req, chunked, step);
        ASSERT_FALSE(o.ec) << o.ec.message();
        EXPECT_TRUE(o.done);
        EXPECT_EQ(o.used, chunked.size());
        EXPECT_EQ(req.body(), "hello 0123456789");
    }
}

TEST(http_request, the_limits_hold_for_heads_and_for_both_kinds_of_body) {
    server_request req;
    std::string big_head =
        "GET / HTTP/1.1\r\nHost: h\r\nX-Filler: " + std::string(2000, 'a') + "\r\n\r\n";
    EXPECT_EQ(feed(req, big_head).ec, error::error::header_limit);
    EXPECT_EQ(feed(req, big_head, 100).ec, error::error::header_limit); // before its end arrives
    // A declared length over the limit is refused from the head alone.
    EXPECT_EQ(feed(req, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65\r\n\r\n").ec,
              error::error::body_limit);
    EXPECT_FALSE(
        feed(req, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 64\r\n\r\n" + std::string(64, 'x'))
            .ec);
    EXPECT_EQ(feed(req, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "40\r\n" +
                            std::string(64, 'x') + "\r\n1\r\nx\r\n0\r\n\r\n")
                  .ec,
              error::error::body_limit);
    EXPECT_EQ(feed(req, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "ffffffffffffffffff\r\n")
                  .ec,
              make_error_code(mcpd::http::request_errc::bad_chunk_size));
}

TEST(http_request, refuses_what_is_malformed_or_ambiguous) {
    struct bad_case {
        std::string_view input;
        error::error expected;
    };
    for (auto const& [input, expected] : std::initializer_list<bad_case>{
             {"G@T / HTTP/1.1\r\n\r\n", error::error::bad_method},
             {"GET\r\n\r\n", error::error::bad_method},
             {"GET  HTTP/1.1\r\n\r\n", error::error::bad_target},
             {"GET / HTTP/2.0\r\n\r\n", error::error::bad_version},
             {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", error::error::bad_field},
             {"GET / HTTP/1.1\r\nHost: h\r\nNo colon\r\n\r\n", error::error::bad_field},
             {"GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", error::error::bad_field},
             {std::string_view("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", 35),
              error::error::bad_value},
             {"GET / HTTP/1.1\r\nHost: h\r\nX: a long value with a DEL \x7f in it\r\n\r\n",
              error::error::bad_value},
             {"GET / HTTP/1.1\r\nHost: h\r\nX: a long value with a VT \x0b in it\r\n\r\n",
              error::error::bad_value},
             {"GET / HTTP/1.1\nHost: a\n\n", error::error::bad_line_ending},
             {"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", error::error::bad_value},
             {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n",
              error::error::bad_content_length},
             {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
              error::error::bad_content_length},
             {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
              error::error::bad_content_length},
             {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: "
              "chunked\r\n\r\n",
              error::error::bad_content_length},
             {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
              error::error::bad_transfer_encoding},
             {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy",
              error::error::bad_chunk},
         }) {
        server_request req;
        EXPECT_EQ(feed(req, input).ec, expected) << input;
    }
}

// What nginx refuses with 400 and RFC 9112 says a server must not read two ways.
TEST(http_request, refuses_a_missing_or_second_host_transfer_encoding_in_http10_and_blank_sizes) {
    struct bad_case {
        std::string_view input;
        mcpd::http::request_errc expected;
    };
    using mcpd::http::request_errc;
    for (auto const& [input, expected] : std::initializer_list<bad_case>{
             {"GET / HTTP/1.1\r\n\r\n", request_errc::missing_host},
             {"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", request_errc::missing_host},
             {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", request_errc::duplicate_host},
             {"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", request_errc::duplicate_host},
             {"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", request_errc::duplicate_host},
             {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
              request_errc::transfer_encoding_in_http10},
             {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
              request_errc::bad_chunk_size},
             {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n"
              "0\r\n\r\n",
              request_errc::bad_chunk_size},
             {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\t5\r\nhello\r\n"
              "0\r\n\r\n",
              request_errc::bad_chunk_size},
             {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n"
              "0\r\n\r\n",
              request_errc::bad_chunk_size},
             {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n"
              "0\r\n\r\n",
              request_errc::bad_chunk_size},
         }) {
        server_request req;
        EXPECT_EQ(feed(req, input).ec, make_error_code(expected)) << input;
    }
    // Their neighbours are read: HTTP/1.0 without Host, one Host, a blank before an extension.
    server_request req;
    EXPECT_FALSE(feed(req, "GET / HTTP/1.0\r\n\r\n").ec);
    EXPECT_FALSE(feed(req, "GET / HTTP/1.1\r\nHost: a\r\n\r\n").ec);
    auto extension = feed(req, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "5 ;x=y\r\nhello\r\n0\r\n\r\n");
    EXPECT_FALSE(extension.ec) << extension.ec.message();
    EXPECT_EQ(req.body(), "hello");
}

TEST(http_request, the_end_of_input_inside_a_request_is_a_partial_message) {
    server_request req;
    EXPECT_EQ(feed(req, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab").ec,
              error::error::partial_message);
    EXPECT_EQ(feed(req, "GET / HTTP/1.1\r\nHost").ec, error::error::partial_message);
    // Repeating the same length is allowed.
    EXPECT_FALSE(
        feed(req, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab")
            .ec);
}
