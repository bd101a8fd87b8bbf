// tests/integration/mcpd_hardening_test.cpp — what an attacker sent (issue 18's table), sent
// again to a real `mcpd serve`: each input gets its bounded answer, the process's memory stays
// bounded, and another client (from another loopback address, 127.0.0.2, as the server counts
// clients) is served meanwhile. Budgets are set small where that keeps a test short; each test
// names the row it replays.
#include "async_test.hpp"
#include "mcp_wire.hpp"
#include "mcpd_process.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using namespace mcpd::test;
namespace asio = boost::asio;
namespace json = boost::json;
using bhttp::verb;

namespace {

constexpr char const* other_client = "127.0.0.2";
constexpr char const* v2025_03_26 = "2025-03-26";
constexpr char const* v2025_11_25 = "2025-11-25";

// Resident memory of a process, in MiB (/proc/<pid>/status, VmRSS).
double rss_mib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with("VmRSS:"))
            return std::stod(line.substr(6)) / 1024.0;
    return 0;
}

std::string echo_body(int id, std::string_view text) {
    return json::serialize(json::object{
        {"jsonrpc", "2.0"},
        {"id", id},
        {"method", "tools/call"},
        {"params", json::object{{"name", "echo"}, {"arguments", json::object{{"text", text}}}}}});
}

std::string error_message(http_response const& res) {
    boost::system::error_code ec;
    auto v = body_json(res);
    auto const* m = v.find_pointer("/error/message", ec);
    return m != nullptr && m->is_string() ? std::string(m->get_string()) : std::string();
}

asio::awaitable<http_response> send_from(std::uint16_t port, std::string const& from,
                                         http_request req) {
    http_client c(co_await asio::this_coro::executor);
    co_await c.connect(port, from);
    co_return co_await c.send(std::move(req));
}

// Another client initializes and calls a tool: the server still serves others.
asio::awaitable<void> another_client_is_served(std::uint16_t port) {
    http_client c(co_await asio::this_coro::executor);
    co_await c.connect(port, other_client);
    auto init = co_await c.send(mcp_post(port, initialize_body(v2025_11_25)));
    EXPECT_EQ(init.result_int(), 200u) << init.body();
    std::string sid(init["Mcp-Session-Id"]);
    auto call = co_await c.send(mcp_post(port, echo_body(2, "still here"), sid, v2025_11_25));
    EXPECT_EQ(call.result_int(), 200u) << call.body();
    EXPECT_NE(call.body().find("still here"), std::string::npos) << call.body();
}

// The sample of a /metrics family with these labels ("" when absent).
std::string metric(std::uint16_t port, std::string const& line_start) {
    std::string value;
    run_async(
        [&]() -> asio::awaitable<void> {
            http_request req{verb::get, "/metrics", 11};
            req.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port));
            auto page = co_await send_from(port, other_client, std::move(req));
            std::istringstream lines(page.body());
            std::string line;
            while (std::getline(lines, line))
                if (line.starts_with(line_start + " "))
                    value = line.substr(line_start.size() + 1);
        },
        std::chrono::seconds(20));
    return value;
}

// Row 1: a 4 MB batch of two million invalid entries (revision 2025-03-26).
TEST(mcpd_hardening, a_huge_batch_is_refused_whole_without_holding_memory) {
    mcpd_process server({.args = {"--json-response"}});
    auto port = server.port();
    auto before = rss_mib(server.pid());
    std::string batch = "[";
    batch.reserve(4'000'002);
    for (int i = 0; i < 1'999'999; ++i)
        batch += "0,";
    batch += "0]";
    run_async(
        [&]() -> asio::awaitable<void> {
            auto sid = co_await open_session(port, v2025_03_26);
            auto res =
                co_await send_from(port, "127.0.0.1", mcp_post(port, batch, sid, v2025_03_26));
            EXPECT_EQ(res.result_int(), 400u);
            EXPECT_EQ(rpc_error_code(res), -32600);
            EXPECT_NE(error_message(res).find("2000000 messages is over the limit of 1000 "
                                              "(max-batch)"),
                      std::string::npos)
                << res.body();
            EXPECT_LT(res.body().size(), 1000u); // one error, not two million
            co_await another_client_is_served(port);
        },
        std::chrono::seconds(60));
    auto after = rss_mib(server.pid());
    EXPECT_LT(after - before, 64.0) << "RSS " << before << " -> " << after << " MiB";
    EXPECT_EQ(metric(port, "mcpd_limit_hits_total{limit=\"max-batch\"}"), "1");
    EXPECT_EQ(server.stop(), 0) << server.log();
}

// Row 2: initialize with megabytes of capabilities, again and again.
TEST(mcpd_hardening, megabytes_of_client_capabilities_are_refused_and_not_kept) {
    mcpd_process server({.args = {"--json-response"}});
    auto port = server.port();
    auto before = rss_mib(server.pid());
    json::object caps;
    for (int i = 0; i < 200'000; ++i)
        caps["k" + std::to_string(i)] = i;
    auto body = json::serialize(json::object{
        {"jsonrpc", "2.0"},
        {"id", 1},
        {"method", "initialize"},
        {"params", json::object{{"protocolVersion", v2025_11_25},
                                {"capabilities", std::move(caps)},
                                {"clientInfo", json::object{{"name", "x"}, {"version", "1"}}}}}});
    ASSERT_GT(body.size(), 3'000'000u); // under max-body (4 MiB), over max-client-state
    ASSERT_LT(body.size(), 4'000'000u);
    run_async(
        [&]() -> asio::awaitable<void> {
            for (int i = 0; i < 10; ++i) {
                auto res = co_await send_from(port, "127.0.0.1", mcp_post(port, body));
                EXPECT_EQ(rpc_error_code(res), -32602) << res.body().substr(0, 300);
                EXPECT_NE(error_message(res).find("(max-client-state)"), std::string::npos)
                    << res.body().substr(0, 300);
                EXPECT_TRUE(res["Mcp-Session-Id"].empty()); // no session was kept
            }
            co_await another_client_is_served(port);
        },
        std::chrono::seconds(60));
    auto after = rss_mib(server.pid());
    EXPECT_LT(after - before, 64.0) << "RSS " << before << " -> " << after << " MiB";
    EXPECT_EQ(server.stop(), 0) << server.log();
}

// Row 3: large results answered over SSE, kept for replay: bounded in bytes per session.
TEST(mcpd_hardening, the_replay_store_keeps_a_sessions_bytes_within_its_budget) {
    mcpd_process server({.args = {"--replay-per-session", "2MiB"}});
    auto port = server.port();
    auto before = rss_mib(server.pid());
    std::string text(900 * 1024, 'x');
    run_async(
        [&]() -> asio::awaitable<void> {
            auto sid = co_await open_session(port, v2025_11_25);
            http_client c(co_await asio::this_coro::executor);
            co_await c.connect(port);
            for (int i = 0; i < 30; ++i) {
                auto res =
                    co_await c.send(mcp_post(port, echo_body(10 + i, text), sid, v2025_11_25));
                EXPECT_EQ(res.result_int(), 200u);
                EXPECT_GT(res.body().size(), text.size()); // the whole result, over SSE
            }
            co_await another_client_is_served(port);
        },
        std::chrono::seconds(60));
    auto kept = std::stod(metric(port, "mcpd_replay_bytes"));
    EXPECT_LE(kept, 3.0 * 1024 * 1024); // two sessions' budgets at most
    EXPECT_GE(std::stod(metric(port, "mcpd_replay_events_dropped_total")), 20.0);
    auto after = rss_mib(server.pid());
    EXPECT_LT(after - before, 48.0) << "RSS " << before << " -> " << after << " MiB";
    EXPECT_EQ(server.stop(), 0) << server.log();
}

// Rows 4 and 5: one client opens stream after stream, session after session.
TEST(mcpd_hardening, one_client_cannot_take_every_stream_session_or_connection) {
    mcpd_process server(
        {.args = {"--json-response", "--max-streams-per-client", "8", "--max-sessions-per-client",
                  "20", "--max-connections-per-client", "24"}});
    auto port = server.port();
    run_async(
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            // Legacy GET /sse streams: each is a session and a stream of this client.
            std::vector<std::unique_ptr<http_client>> held;
            int streams = 0, refused = 0;
            for (int i = 0; i < 12; ++i) {
                auto c = std::make_unique<http_client>(ex);
                co_await c->connect(port);
                http_request get{verb::get, "/sse", 11};
                get.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port));
                get.set(bhttp::field::accept, "text/event-stream");
                co_await c->write_request(std::move(get));
                auto head = co_await c->read_response_head();
                if (head.result_int() == 200)
                    ++streams;
                else if (head.result_int() == 429)
                    ++refused;
                held.push_back(std::move(c));
            }
            EXPECT_EQ(streams, 8);
            EXPECT_EQ(refused, 4);
            // Sessions: 8 are the legacy streams'; 12 more initialize, then 429.
            int sessions = 0, too_many = 0;
            for (int i = 0; i < 20; ++i) {
                auto res = co_await send_from(port, "127.0.0.1",
                                              mcp_post(port, initialize_body(v2025_11_25)));
                if (res.result_int() == 200)
                    ++sessions;
                else if (res.result_int() == 429) {
                    ++too_many;
                    EXPECT_NE(error_message(res).find("(max-sessions-per-client)"),
                              std::string::npos)
                        << res.body();
                }
            }
            EXPECT_EQ(sessions, 12);
            EXPECT_EQ(too_many, 8);
            // Connections: 12 held, 12 more, then the server answers 429 and closes.
            std::vector<std::unique_ptr<http_client>> idle;
            for (int i = 0; i < 12; ++i) {
                auto c = std::make_unique<http_client>(ex);
                co_await c->connect(port);
                idle.push_back(std::move(c));
            }
            http_client over(ex);
            co_await over.connect(port);
            auto res = co_await over.read_response();
            EXPECT_EQ(res.result_int(), 429u);
            EXPECT_NE(res.body().find("(max-connections-per-client)"), std::string::npos)
                << res.body();
            // Another client is served all the while.
            co_await another_client_is_served(port);
        },
        std::chrono::seconds(60));
    EXPECT_EQ(metric(port, "mcpd_limit_hits_total{limit=\"max-streams-per-client\"}"), "4");
    EXPECT_EQ(server.stop(), 0) << server.log();
}

// The process-wide session cap and a session's requests-in-flight cap: each refusal names its
// setting and is counted, like every other budget.
TEST(mcpd_hardening, the_session_cap_and_the_in_flight_cap_name_their_limits) {
    mcpd_process server(
        {.args = {"--json-response", "--max-sessions", "3", "--max-in-flight", "2"}});
    auto port = server.port();
    run_async(
        [&]() -> asio::awaitable<void> {
            std::string sid;
            for (int i = 0; i < 3; ++i) {
                auto res = co_await send_from(port, "127.0.0.1",
                                              mcp_post(port, initialize_body(v2025_03_26)));
                EXPECT_EQ(res.result_int(), 200u) << res.body();
                if (sid.empty())
                    sid = std::string(res["Mcp-Session-Id"]);
            }
            auto full = co_await send_from(port, other_client,
                                           mcp_post(port, initialize_body(v2025_11_25)));
            EXPECT_EQ(full.result_int(), 503u) << full.body();
            EXPECT_NE(error_message(full).find("(max-sessions)"), std::string::npos) << full.body();
            // Three calls in one batch where two may run at once.
            auto batch = "[" + echo_body(10, "a") + "," + echo_body(11, "b") + "," +
                         echo_body(12, "c") + "]";
            auto over =
                co_await send_from(port, "127.0.0.1", mcp_post(port, batch, sid, v2025_03_26));
            EXPECT_EQ(over.result_int(), 429u) << over.body();
            EXPECT_NE(error_message(over).find("(max-in-flight)"), std::string::npos)
                << over.body();
        },
        std::chrono::seconds(60));
    EXPECT_EQ(metric(port, "mcpd_limit_hits_total{limit=\"max-sessions\"}"), "1");
    EXPECT_EQ(metric(port, "mcpd_limit_hits_total{limit=\"max-in-flight\"}"), "1");
    EXPECT_EQ(server.stop(), 0) << server.log();
}

// Row 6: keep-alive connections that each sent one 4 MiB body, then idle.
TEST(mcpd_hardening, idle_connections_do_not_keep_their_largest_request) {
    mcpd_process server({.args = {"--json-response"}});
    auto port = server.port();
    auto before = rss_mib(server.pid());
    std::string big = echo_body(1, std::string(4 * 1024 * 1024 - 200, 'y'));
    run_async(
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            std::vector<std::unique_ptr<http_client>> idle;
            for (int i = 0; i < 60; ++i) {
                auto c = std::make_unique<http_client>(ex);
                co_await c->connect(port);
                auto res = co_await c->send(mcp_post(port, big)); // no session: 400, kept alive
                EXPECT_EQ(res.result_int(), 400u);
                idle.push_back(std::move(c));
            }
            auto held = rss_mib(server.pid());
            EXPECT_LT(held - before, 64.0)
                << "60 idle connections after 4 MiB each: RSS " << before << " -> " << held;
            co_await another_client_is_served(port);
        },
        std::chrono::seconds(90));
    EXPECT_EQ(server.stop(), 0) << server.log();
}

// Row 7: a gateway identity that names mcpd's own protocol sessions.
TEST(mcpd_hardening, the_gateway_refuses_identities_reserved_for_mcpd) {
    mcpd_process server({.args = {"--gateway-dev"}});
    auto port = server.port();
    run_async(
        [&]() -> asio::awaitable<void> {
            for (auto identity : {"mcpd:protocol-sessions", "mcpd:anything"}) {
                http_request req{verb::post, std::string("/gateway?identity=") + identity, 11};
                req.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port));
                req.set(bhttp::field::content_type, "application/json");
                req.body() = R"({"id":"1","method":"getSessions","params":{}})";
                req.prepare_payload();
                auto res = co_await send_from(port, "127.0.0.1", std::move(req));
                EXPECT_EQ(res.result_int(), 400u) << res.body();
                EXPECT_NE(res.body().find("reserved"), std::string::npos) << res.body();
            }
        },
        std::chrono::seconds(20));
    EXPECT_EQ(server.stop(), 0) << server.log();
}

// Row 8: a result over 1 MiB answered over SSE (the default) arrives whole; one over
// max-response is an error that names it.
TEST(mcpd_hardening, large_results_arrive_over_sse_and_a_result_over_the_limit_is_an_error) {
    mcpd_process server({.args = {"--max-response", "2MiB"}});
    auto port = server.port();
    run_async(
        [&]() -> asio::awaitable<void> {
            auto sid = co_await open_session(port, v2025_11_25);
            std::string text(1'100'000, 'z');
            auto res = co_await send_from(port, "127.0.0.1",
                                          mcp_post(port, echo_body(3, text), sid, v2025_11_25));
            EXPECT_EQ(res.result_int(), 200u);
            EXPECT_NE(res.body().find(text), std::string::npos) << res.body().size();
            std::string too_big(2'200'000, 'z');
            auto over = co_await send_from(port, "127.0.0.1",
                                           mcp_post(port, echo_body(4, too_big), sid, v2025_11_25));
            EXPECT_EQ(over.result_int(), 200u);
            EXPECT_NE(error_message(over).find("(max-response)"), std::string::npos)
                << over.body().substr(0, 300);
        },
        std::chrono::seconds(30));
    EXPECT_EQ(server.stop(), 0) << server.log();
}

// Row 9: the operations endpoints check Host like /mcp (a DNS-rebinding page reads nothing).
TEST(mcpd_hardening, operations_endpoints_refuse_a_foreign_host) {
    mcpd_process server({});
    auto port = server.port();
    run_async(
        [&]() -> asio::awaitable<void> {
            for (auto path : {"/metrics", "/ready", "/health"}) {
                http_request req{verb::get, path, 11};
                req.set(bhttp::field::host, "evil.example");
                auto res = co_await send_from(port, "127.0.0.1", std::move(req));
                EXPECT_EQ(res.result_int(), 403u) << path;
                http_request ok{verb::get, path, 11};
                ok.set(bhttp::field::host, "localhost:" + std::to_string(port));
                auto fine = co_await send_from(port, "127.0.0.1", std::move(ok));
                EXPECT_EQ(fine.result_int(), 200u) << path;
            }
        },
        std::chrono::seconds(20));
    EXPECT_EQ(server.stop(), 0) << server.log();
}

// Row 12: requests nginx refuses with 400, sent to mcpd as bytes.
TEST(mcpd_hardening, ambiguous_requests_are_400_like_nginx_answers_them) {
    mcpd_process server({});
    auto port = server.port();
    auto host = "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
    std::vector<std::pair<std::string, std::string>> cases = {
        {"GET /health HTTP/1.1\r\n" + host + host + "\r\n", "more than one Host field"},
        {"GET /health HTTP/1.1\r\n\r\n", "needs a Host field"},
        {"POST /mcp HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         "Transfer-Encoding on an HTTP/1.0 request"},
        {"POST /mcp HTTP/1.1\r\n" + host +
             "Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n "
             "2\r\n{}\r\n0\r\n\r\n",
         "chunk size"},
    };
    run_async(
        [&]() -> asio::awaitable<void> {
            for (auto const& [bytes, why] : cases) {
                http_client c(co_await asio::this_coro::executor);
                co_await c.connect(port);
                co_await c.write_raw(bytes);
                auto res = co_await c.read_response();
                EXPECT_EQ(res.result_int(), 400u) << bytes;
                EXPECT_NE(res.body().find(why), std::string::npos) << res.body();
            }
            co_await another_client_is_served(port);
        },
        std::chrono::seconds(20));
    EXPECT_EQ(server.stop(), 0) << server.log();
}

} // namespace
