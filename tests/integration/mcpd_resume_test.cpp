// tests/integration/mcpd_resume_test.cpp — SSE resumability against a real `mcpd serve`: a
// client that loses a POST's stream mid-way reconnects with GET + Last-Event-ID and gets the
// rest of that stream (and only that stream's events after the id), then the response.
#include "async_test.hpp"
#include "mcp_wire.hpp"
#include "mcpd_process.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <regex>

using namespace mcpd::test;
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr char const* version = "2025-11-25";

std::string countdown_call(int id, int n) {
    json::object params{{"name", "countdown"},
                        {"arguments", json::object{{"n", n}, {"interval_ms", 150}}},
                        {"_meta", json::object{{"progressToken", "resume-1"}}}};
    return json::serialize(
        json::object{{"jsonrpc", "2.0"}, {"id", id}, {"method", "tools/call"}, {"params", params}});
}

std::vector<std::string> event_ids(std::string const& sse) {
    std::vector<std::string> ids;
    static std::regex const id_line("(^|\n)id: ([^\n]*)\n");
    for (std::sregex_iterator it(sse.begin(), sse.end(), id_line), end; it != end; ++it)
        ids.push_back((*it)[2]);
    return ids;
}

} // namespace

TEST(mcpd_resume, a_lost_post_stream_resumes_from_last_event_id) {
    mcpd_process server({.args = {"--json-response"}});
    auto port = server.port();
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto sid = co_await open_session(port, version);

        // The POST: read until the first progress event has arrived, then drop the connection.
        asio::ip::tcp::socket sock(ex);
        asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
        co_await sock.async_connect(ep, asio::use_awaitable);
        auto req = mcp_post(port, countdown_call(5, 4), sid, version);
        req.prepare_payload();
        co_await bhttp::async_write(sock, req, asio::use_awaitable);
        std::string seen;
        std::array<char, 4096> buf{};
        while (seen.find("notifications/progress") == std::string::npos ||
               seen.find("\n\n", seen.find("notifications/progress")) == std::string::npos) {
            auto n = co_await sock.async_read_some(asio::buffer(buf), asio::use_awaitable);
            seen.append(buf.data(), n);
        }
        sock.close();
        auto before = event_ids(seen);
        CO_ASSERT(!before.empty());
        auto last = before.back();
        // Ids are "<session>.<stream>.<seq>".
        EXPECT_EQ(last.rfind(sid + ".", 0), 0u) << last;
        EXPECT_EQ(seen.find("Liftoff"), std::string::npos) << "answered before the drop";

        // Resume: the rest of that stream, the answer last.
        http_client c(ex);
        co_await c.connect(port);
        auto get = mcp_request(bhttp::verb::get, port, sid, version);
        get.set(bhttp::field::accept, "text/event-stream");
        get.set("Last-Event-ID", last);
        auto rest = co_await c.send(std::move(get));
        EXPECT_EQ(rest.result_int(), 200u) << rest.body();
        auto after = event_ids(rest.body());
        CO_ASSERT(!after.empty());
        for (auto const& id : after)
            EXPECT_EQ(std::find(before.begin(), before.end(), id), before.end())
                << id << " was sent twice";
        EXPECT_NE(rest.body().find("Liftoff after 4 steps"), std::string::npos) << rest.body();
        EXPECT_NE(rest.body().find("\"id\":5"), std::string::npos) << rest.body();
        // Every event id continues the sequence of the same stream.
        auto stream_of = [](std::string const& id) { return id.substr(0, id.rfind('.')); };
        for (auto const& id : after)
            EXPECT_EQ(stream_of(id), stream_of(last)) << id;

        // An id from another session is refused, not replayed.
        auto other = co_await open_session(port, version);
        auto foreign = mcp_request(bhttp::verb::get, port, other, version);
        foreign.set(bhttp::field::accept, "text/event-stream");
        foreign.set("Last-Event-ID", last);
        http_client c2(ex);
        co_await c2.connect(port);
        auto refused = co_await c2.send(std::move(foreign));
        EXPECT_EQ(refused.result_int(), 400u) << refused.body();
    });
    EXPECT_EQ(server.stop(), 0) << server.log();
}

namespace {

std::string reconnection_call(int id) {
    return json::serialize(json::object{
        {"jsonrpc", "2.0"},
        {"id", id},
        {"method", "tools/call"},
        {"params", json::object{{"name", "test_reconnection"}, {"arguments", json::object{}}}}});
}

constexpr std::string_view reconnection_answer = "Reconnection test completed successfully";

} // namespace

// SEP-1699 polling: a handler ends its POST's SSE response (context::close_sse_stream) and
// finishes later; the response ends cleanly after the priming event, and the answer reaches
// the client that comes back with Last-Event-ID, whether it comes back before the answer is
// ready (the rest of the stream follows on the GET) or after (replayed from the store).
TEST(mcpd_resume, a_handler_ends_its_post_stream_and_the_client_polls_for_the_answer) {
    mcpd_process server({.args = {"--conformance"}});
    auto port = server.port();
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto sid = co_await open_session(port, version);
        for (bool come_back_late : {false, true}) {
            SCOPED_TRACE(come_back_late ? "after the answer" : "before the answer");
            http_client c(ex);
            co_await c.connect(port);
            int const id = come_back_late ? 12 : 11;
            auto first = co_await c.send(mcp_post(port, reconnection_call(id), sid, version));
            EXPECT_EQ(first.result_int(), 200u) << first.body();
            EXPECT_EQ(first[bhttp::field::content_type], "text/event-stream");
            EXPECT_NE(first.body().find("retry: "), std::string::npos) << first.body();
            EXPECT_EQ(first.body().find(reconnection_answer), std::string::npos)
                << "the answer came on the ended stream";
            auto ids = event_ids(first.body());
            CO_ASSERT(ids.size() == 1u); // the priming event only
            EXPECT_EQ(ids[0].substr(ids[0].rfind('.')), ".0");

            if (come_back_late) {
                asio::steady_timer wait(ex, std::chrono::milliseconds(400));
                co_await wait.async_wait(asio::use_awaitable);
            }
            // The same connection: the ended stream left it usable.
            auto get = mcp_request(bhttp::verb::get, port, sid, version);
            get.set(bhttp::field::accept, "text/event-stream");
            get.set("Last-Event-ID", ids[0]);
            auto rest = co_await c.send(std::move(get));
            EXPECT_EQ(rest.result_int(), 200u) << rest.body();
            EXPECT_NE(rest.body().find(reconnection_answer), std::string::npos) << rest.body();
            EXPECT_NE(rest.body().find("\"id\":" + std::to_string(id)), std::string::npos)
                << rest.body();
            auto after = event_ids(rest.body());
            CO_ASSERT(!after.empty());
            EXPECT_EQ(after.back().substr(0, after.back().rfind('.')),
                      ids[0].substr(0, ids[0].rfind('.')))
                << "the answer belongs to the POST's stream";
        }
    });
    EXPECT_EQ(server.stop(), 0) << server.log();
}

// Where the client could not resume, ending the stream is refused and the answer comes on the
// POST as usual: JSON answers, and revisions before 2025-11-25 (no priming event to resume
// from).
TEST(mcpd_resume, ending_a_stream_the_client_cannot_resume_is_refused) {
    for (auto const& [args, v] :
         {std::pair{std::vector<std::string>{"--conformance", "--json-response"}, version},
          std::pair{std::vector<std::string>{"--conformance"}, "2025-06-18"}}) {
        SCOPED_TRACE(std::string(v) + (args.size() > 1 ? " JSON" : " SSE"));
        mcpd_process server({.args = args});
        auto port = server.port();
        run_async([&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            auto sid = co_await open_session(port, v);
            http_client c(ex);
            co_await c.connect(port);
            auto res = co_await c.send(mcp_post(port, reconnection_call(3), sid, v));
            EXPECT_EQ(res.result_int(), 200u) << res.body();
            EXPECT_NE(res.body().find(reconnection_answer), std::string::npos) << res.body();
        });
        EXPECT_EQ(server.stop(), 0) << server.log();
    }
}
