// tests/integration/mcpd_resume_test.cpp — SSE resumability against a real `mcpd serve`: a
// client that loses a POST's stream mid-way reconnects with GET + Last-Event-ID and gets the
// rest of that stream (and only that stream's events after the id), then the response.
#include "async_test.hpp"
#include "mcp_wire.hpp"
#include "mcpd_process.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
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
