// Unit tests for the MCP client's state handling without sockets: URLs (parse, resolve, the
// Host header and origin), HTTP statuses as errors, the client's error categories, and
// client::stream_state (SSE streams → messages, which POST requests are still unanswered, and
// the decision after a stream ends: finished, reconnect after which delay, or give up).
#include "client/stream_state.hpp"
#include "core/url_text.hpp"
#include "http/client.hpp"
#include "mcpd/client/error.hpp"
#include "mcpd/client/transport.hpp"

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <string_view>

namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using mcpd::client::reconnect_policy;
using mcpd::client::stream_state;
using kind = stream_state::decision::kind;

// --- URLs ------------------------------------------------------------------------------------

TEST(client_url, parses_http_and_https) {
    // Percent-encoded letters in a name decode to a name.
    auto decoded = mcpd::http::parse_url("http://exa%41mple.com/");
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->host, "exaAmple.com");

    auto u = mcpd::http::parse_url("https://Example.com/mcp?x=1#frag");
    ASSERT_TRUE(u) << u.error().message();
    EXPECT_EQ(u->scheme, "https");
    EXPECT_EQ(u->host, "Example.com");
    EXPECT_EQ(u->port, 443);
    EXPECT_EQ(u->target, "/mcp?x=1");
    EXPECT_EQ(u->authority(), "Example.com");
    EXPECT_EQ(u->origin(), "https://Example.com");

    auto p = mcpd::http::parse_url("HTTP://127.0.0.1:8080");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->scheme, "http");
    EXPECT_EQ(p->port, 8080);
    EXPECT_EQ(p->target, "/");
    EXPECT_EQ(p->authority(), "127.0.0.1:8080");
    EXPECT_EQ(p->text(), "http://127.0.0.1:8080/");

    auto v6 = mcpd::http::parse_url("http://[::1]:3000/mcp");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->authority(), "[::1]:3000");

    auto default_port = mcpd::http::parse_url("http://h:80/a");
    ASSERT_TRUE(default_port);
    EXPECT_EQ(default_port->authority(), "h");
}

TEST(client_url, refuses_what_it_cannot_use) {
    using mcpd::http::client_errc;
    // The last three: hosts that decode to what is no DNS name (a CR LF, a space, a form feed
    // that would reach the Host header and the resolver), and an IPvFuture literal.
    for (auto bad : {"", "example.com/mcp", "/mcp", "http://", "http:///x", "not a url",
                     "http://host:0/", "http://host:99999/", "https://a%0d%0ab.example/",
                     "http://exa%20mple.com/", "https://auth.lsp%0com/t", "http://[v1.x]/"}) {
        auto r = mcpd::http::parse_url(bad);
        EXPECT_FALSE(r) << bad;
        if (!r) {
            EXPECT_EQ(r.error(), make_error_code(client_errc::invalid_url)) << bad;
        }
    }
    auto ftp = mcpd::http::parse_url("ftp://example.com/x");
    ASSERT_FALSE(ftp);
    EXPECT_EQ(ftp.error(), make_error_code(client_errc::unsupported_scheme));
    auto creds = mcpd::http::parse_url("https://user:secret@example.com/");
    ASSERT_FALSE(creds);
    EXPECT_EQ(creds.error().detail.find("secret"), std::string::npos)
        << "a credential must not end up in an error message: " << creds.error().message();
}

// Boost.URL 1.81 asserts on these (a scheme, then one character that cannot start a path); they
// are refused before it sees them (core/url_text.hpp). Every text "x:" + one or two bytes is
// tried with parse_url and as a reference resolve_url takes: none may abort.
TEST(client_url, a_scheme_followed_by_a_character_no_url_has_is_refused_not_an_abort) {
    using mcpd::http::client_errc;
    for (auto bad : {"http:^", "dp:\x8c", "x: ", "x:{", "https:\"", "x:#", "http:?"}) {
        auto r = mcpd::http::parse_url(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error(), make_error_code(client_errc::invalid_url)) << bad;
        EXPECT_FALSE(mcpd::url_text_parsable(bad)) << bad;
    }
    auto base = mcpd::http::parse_url("http://127.0.0.1:3000/sse");
    ASSERT_TRUE(base);
    for (int a = 0; a < 256; ++a) {
        std::string one = "x:";
        one += static_cast<char>(a);
        (void)mcpd::http::parse_url(one);
        (void)mcpd::http::resolve_url(*base, one);
        for (int b = 0; b < 256; ++b) {
            auto two = one + static_cast<char>(b);
            (void)mcpd::http::parse_url(two);
            (void)mcpd::http::resolve_url(*base, two);
        }
    }
    for (auto good : {"x:", "x:?a", "x:#a", "x:a^", "/relative:^", "http://h/?"})
        EXPECT_TRUE(mcpd::url_text_parsable(good)) << good;
}

TEST(client_url, resolves_the_legacy_endpoint_against_the_stream_url) {
    auto base = mcpd::http::parse_url("http://127.0.0.1:4000/sse");
    ASSERT_TRUE(base);
    auto rel = mcpd::http::resolve_url(*base, "/messages?sessionId=abc");
    ASSERT_TRUE(rel) << rel.error().message();
    EXPECT_EQ(rel->text(), "http://127.0.0.1:4000/messages?sessionId=abc");
    auto sibling = mcpd::http::resolve_url(*base, "messages?sessionId=1");
    ASSERT_TRUE(sibling);
    EXPECT_EQ(sibling->target, "/messages?sessionId=1");
    auto absolute = mcpd::http::resolve_url(*base, "https://elsewhere.example/m");
    ASSERT_TRUE(absolute);
    EXPECT_EQ(absolute->origin(), "https://elsewhere.example");
    EXPECT_FALSE(mcpd::http::resolve_url(*base, "ftp://x/y"));
}

TEST(client_errors, http_statuses_read_back_and_say_what_they_are) {
    mcpd::error e{mcpd::http::status_error(404), "POST http://h/mcp"};
    EXPECT_EQ(mcpd::http::status_of(e), 404u);
    EXPECT_EQ(e.message(), "POST http://h/mcp: 404 Not Found");
    EXPECT_EQ(mcpd::http::status_of(mcpd::error{mcpd::client::errc::timeout}), 0u);
}

TEST(client_errors, json_rpc_errors_keep_code_message_and_data) {
    json::value const data = json::object{{"field", "x"}};
    auto e = mcpd::client::rpc_error(-32602, "Invalid params: x", &data);
    EXPECT_EQ(mcpd::client::rpc_code_of(e), -32602);
    EXPECT_EQ(e.detail, R"(Invalid params: x (data: {"field":"x"}))");
    EXPECT_EQ(e.message(), R"(Invalid params: x (data: {"field":"x"}): invalid params)");
    // Code 0 would read as success: it becomes an internal error.
    EXPECT_TRUE(mcpd::client::rpc_error(0, "odd").code);
    EXPECT_EQ(mcpd::client::rpc_code_of(mcpd::error{mcpd::client::errc::cancelled}), 0);
}

TEST(client_errors, transport_kinds_have_the_gateway_names) {
    using mcpd::client::transport_kind;
    EXPECT_EQ(mcpd::client::to_string(transport_kind::sse), "sse");
    EXPECT_EQ(mcpd::client::to_string(transport_kind::streamable_http), "streamable_http");
    EXPECT_EQ(mcpd::client::parse_transport_kind("sse"), transport_kind::sse);
    EXPECT_EQ(mcpd::client::parse_transport_kind("streamable_http"),
              transport_kind::streamable_http);
    EXPECT_FALSE(mcpd::client::parse_transport_kind("websocket"));
}

// --- stream_state ------------------------------------------------------------------------------

std::vector<json::value> ids(std::initializer_list<std::int64_t> list) {
    std::vector<json::value> out;
    for (auto i : list)
        out.emplace_back(i);
    return out;
}

reconnect_policy fast_policy() {
    reconnect_policy p;
    p.initial_delay = 100ms;
    p.max_delay = 1s;
    p.growth = 2.0;
    p.max_attempts = 3;
    return p;
}

TEST(client_stream_state, turns_events_into_messages_and_tracks_answers) {
    stream_state st(ids({1, 2}), fast_policy());
    EXPECT_TRUE(st.is_post_stream());
    std::vector<json::object> out;
    auto fed = st.feed("id: s.1.0\nretry: 500\ndata:\n\n"
                       "id: s.1.1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
                       "progress\",\"params\":{}}\n\n"
                       "id: s.1.2\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n",
                       out);
    ASSERT_TRUE(fed);
    ASSERT_EQ(out.size(), 2u) << "the priming event carries no message";
    EXPECT_EQ(out[0].at("method"), "notifications/progress");
    EXPECT_EQ(st.last_event_id(), "s.1.2");
    ASSERT_EQ(st.unanswered().size(), 1u);
    EXPECT_EQ(st.unanswered()[0], 2);
    EXPECT_FALSE(st.all_answered());

    // A server → client request with the same id as ours is not our answer.
    st.feed("data: {\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n\n", out);
    EXPECT_EQ(st.unanswered().size(), 1u);
    st.feed("data: {\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-1,\"message\":\"x\"}}\n\n",
            out);
    EXPECT_TRUE(st.all_answered());
    EXPECT_EQ(st.ended(nullptr).what, kind::finished);
}

TEST(client_stream_state, skips_data_that_is_not_json_rpc) {
    stream_state st(ids({1}), fast_policy());
    std::vector<json::object> out;
    ASSERT_TRUE(st.feed("data: not json\n\ndata: [1, {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"
                        "{}}]\n\nevent: other\ndata: {}\n\n",
                        out));
    EXPECT_EQ(out.size(), 1u) << "a batch's objects are messages; other event types are not MCP";
    EXPECT_EQ(st.skipped(), 2u);
    EXPECT_TRUE(st.all_answered());
}

TEST(client_stream_state, a_broken_post_stream_with_an_event_id_is_resumed) {
    stream_state st(ids({7}), fast_policy());
    std::vector<json::object> out;
    st.feed("id: s.3.0\nretry: 250\ndata:\n\n", out);
    mcpd::error reset{boost::asio::error::connection_reset};
    auto d = st.ended(&reset);
    ASSERT_EQ(d.what, kind::reconnect);
    EXPECT_EQ(d.last_event_id, "s.3.0");
    EXPECT_EQ(d.delay, 250ms) << "the server's retry comes first";
    // Failed attempts wait longer each time, then give up.
    auto d2 = st.reconnect_failed(reset);
    ASSERT_EQ(d2.what, kind::reconnect);
    EXPECT_EQ(d2.delay, 500ms);
    auto d3 = st.reconnect_failed(reset);
    ASSERT_EQ(d3.what, kind::reconnect);
    EXPECT_EQ(d3.delay, 1000ms) << "capped at max_delay";
    auto d4 = st.reconnect_failed(reset);
    ASSERT_EQ(d4.what, kind::give_up);
    EXPECT_EQ(d4.why, make_error_code(mcpd::client::errc::connection_lost));
    EXPECT_NE(d4.why.detail.find("3 attempts"), std::string::npos) << d4.why.detail;
}

TEST(client_stream_state, progress_after_resuming_resets_the_attempts) {
    stream_state st(ids({7}), fast_policy());
    std::vector<json::object> out;
    st.feed("id: s.3.1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n\n", out);
    for (int round = 0; round < 10; ++round) {
        auto d = st.ended(nullptr); // the server closes the stream each time (polling)
        ASSERT_EQ(d.what, kind::reconnect) << round;
        EXPECT_EQ(d.delay, 100ms) << "no failure in a row: the first delay each time";
        st.resumed();
        // Only a new event id arrives (a priming event): that is progress too.
        auto line = "id: s.3." + std::to_string(round + 2) + "\n\n";
        st.feed(line, out);
    }
    EXPECT_EQ(st.last_event_id(), "s.3.11");
}

TEST(client_stream_state, a_post_stream_without_event_ids_cannot_be_resumed) {
    stream_state st(ids({1}), fast_policy());
    std::vector<json::object> out;
    st.feed("data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n", out);
    auto d = st.ended(nullptr);
    ASSERT_EQ(d.what, kind::give_up);
    EXPECT_NE(d.why.detail.find("without an event id"), std::string::npos) << d.why.detail;
    ASSERT_EQ(st.unanswered().size(), 1u);
}

TEST(client_stream_state, the_get_stream_reconnects_even_without_an_id) {
    stream_state st({}, fast_policy());
    EXPECT_FALSE(st.is_post_stream());
    EXPECT_FALSE(st.all_answered()) << "the GET stream has no end of its own";
    auto d = st.ended(nullptr);
    ASSERT_EQ(d.what, kind::reconnect);
    EXPECT_EQ(d.last_event_id, "");
    EXPECT_EQ(d.delay, 100ms);
}

TEST(client_stream_state, forgetting_the_last_request_finishes_a_post_stream) {
    stream_state st(ids({1, 2}), fast_policy());
    st.forget(json::value(1));
    EXPECT_FALSE(st.all_answered());
    st.forget(json::value(2));
    EXPECT_TRUE(st.all_answered());
    EXPECT_EQ(st.ended(nullptr).what, kind::finished);
}

TEST(client_stream_state, a_stream_over_the_limits_is_an_error) {
    mcpd::http::sse_parser_limits limits;
    limits.max_event_bytes = 8;
    stream_state st(ids({1}), fast_policy(), limits);
    std::vector<json::object> out;
    auto fed = st.feed("data: 0123456789\n\n", out);
    ASSERT_FALSE(fed);
    EXPECT_EQ(fed.error(), make_error_code(mcpd::client::errc::invalid_response));
}

} // namespace
