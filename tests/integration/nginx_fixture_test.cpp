// tests/integration/nginx_fixture_test.cpp — the nginx load balancer fixture (nginx_server.hpp)
// checked on its own, in front of real `mcpd serve` instances (mcpd_process.hpp): requests are
// spread round-robin over every instance and its access log says which served each, a stopped
// instance's requests go to the next one, and Server-Sent Events stream through unbuffered.
#include "async_test.hpp"
#include "mcp_wire.hpp"
#include "mcpd_process.hpp"
#include "nginx_server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <string>
#include <vector>

using namespace mcpd::test;
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

std::string addr(std::uint16_t port) {
    return "127.0.0.1:" + std::to_string(port);
}

// GET `target` as a client of the balancer sends it: its Host names the balancer.
http_request get_via(nginx_server const& lb, std::string target) {
    http_request req{bhttp::verb::get, target, 11};
    req.set(bhttp::field::host, addr(lb.port()));
    return req;
}

std::string joined(std::vector<std::string> const& lines) {
    std::string out;
    for (auto const& l : lines)
        out += l + "\n";
    return out;
}

} // namespace

TEST(nginx_fixture, spreads_requests_round_robin_over_every_instance) {
    mcpd_process a({});
    mcpd_process b({});
    nginx_server lb({.upstreams = {a.port(), b.port()}});
    EXPECT_EQ(lb.url(), "http://" + addr(lb.port()));
    run_async(
        [&]() -> asio::awaitable<void> {
            // One client connection, kept alive: nginx balances requests, not connections.
            http_client c(co_await asio::this_coro::executor);
            co_await c.connect(lb.port());
            for (int i = 0; i < 6; ++i) {
                auto res = co_await c.send(get_via(lb, "/health"));
                EXPECT_EQ(res.result_int(), 200u) << res.body() << "\n" << lb.log();
                EXPECT_NE(res.body().find("\"ok\""), std::string::npos) << res.body();
            }
        },
        std::chrono::seconds(30));
    auto served = lb.wait_upstream_log(6);
    ASSERT_EQ(served.size(), 6u) << joined(served) << lb.log();
    // Equal weights, both healthy: strict alternation, three each.
    EXPECT_EQ(std::count(served.begin(), served.end(), addr(a.port())), 3) << joined(served);
    EXPECT_EQ(std::count(served.begin(), served.end(), addr(b.port())), 3) << joined(served);
    for (std::size_t i = 1; i < served.size(); ++i)
        EXPECT_NE(served[i], served[i - 1]) << joined(served);
    EXPECT_EQ(a.stop(), 0) << a.log();
    EXPECT_EQ(b.stop(), 0) << b.log();
}

TEST(nginx_fixture, a_stopped_instance_s_requests_go_to_the_next_one) {
    mcpd_process a({});
    mcpd_process b({});
    nginx_server lb({.upstreams = {a.port(), b.port()}});
    auto get_health = [&](int times) {
        run_async(
            [&]() -> asio::awaitable<void> {
                http_client c(co_await asio::this_coro::executor);
                co_await c.connect(lb.port());
                for (int i = 0; i < times; ++i) {
                    auto res = co_await c.send(get_via(lb, "/health"));
                    EXPECT_EQ(res.result_int(), 200u) << res.body() << "\n" << lb.log();
                }
            },
            std::chrono::seconds(30));
    };
    get_health(2); // both serve (and nginx keeps a connection to each)
    ASSERT_EQ(lb.wait_upstream_log(2).size(), 2u) << lb.log();
    EXPECT_EQ(b.stop(), 0) << b.log();

    get_health(4);
    auto served = lb.wait_upstream_log(6);
    ASSERT_EQ(served.size(), 6u) << joined(served) << lb.log();
    // Every request after the stop was served by a; those that tried b first list both.
    int retried = 0;
    for (std::size_t i = 2; i < served.size(); ++i) {
        EXPECT_TRUE(served[i].ends_with(addr(a.port()))) << joined(served);
        if (served[i] == addr(b.port()) + ", " + addr(a.port()))
            ++retried;
    }
    // max_fails=0: b stays in the rotation, so it is tried (and refused) every other request.
    EXPECT_EQ(retried, 2) << joined(served);
    EXPECT_NE(lb.log().find("Connection refused"), std::string::npos) << lb.log();
    EXPECT_EQ(a.stop(), 0) << a.log();
}

TEST(nginx_fixture, server_sent_events_reach_the_client_as_they_are_sent) {
    // One instance: mcpd's sessions live in its memory, and nginx is not sticky.
    mcpd_process server({});
    nginx_server lb({.upstreams = {server.port()}});
    constexpr char const* version = "2025-11-25";
    run_async(
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            // Through nginx, Host naming nginx's port: mcpd accepts it (a loopback name).
            auto sid = co_await open_session(lb.port(), version);
            CO_ASSERT(!sid.empty());

            // A tool call answered over SSE: a progress event at once, the answer 2 s later.
            json::object params{{"name", "countdown"},
                                {"arguments", json::object{{"n", 2}, {"interval_ms", 1000}}},
                                {"_meta", json::object{{"progressToken", "lb-1"}}}};
            auto body = json::serialize(json::object{
                {"jsonrpc", "2.0"}, {"id", 7}, {"method", "tools/call"}, {"params", params}});
            asio::ip::tcp::socket sock(ex);
            co_await sock.async_connect({asio::ip::make_address("127.0.0.1"), lb.port()},
                                        asio::use_awaitable);
            auto req = mcp_post(lb.port(), body, sid, version);
            req.prepare_payload();
            co_await bhttp::async_write(sock, req, asio::use_awaitable);

            std::string seen;
            std::array<char, 4096> buf{};
            auto first_event = [&] {
                auto at = seen.find("notifications/progress");
                return at != std::string::npos && seen.find("\n\n", at) != std::string::npos;
            };
            while (!first_event()) {
                auto n = co_await sock.async_read_some(asio::buffer(buf), asio::use_awaitable);
                seen.append(buf.data(), n);
            }
            auto first_at = std::chrono::steady_clock::now();
            EXPECT_NE(seen.find("text/event-stream"), std::string::npos) << seen;
            EXPECT_EQ(seen.find("Liftoff"), std::string::npos) << "buffered until the end:\n"
                                                               << seen;

            while (seen.find("Liftoff after 2 steps") == std::string::npos) {
                auto n = co_await sock.async_read_some(asio::buffer(buf), asio::use_awaitable);
                seen.append(buf.data(), n);
            }
            // The first event came about 2 s before the answer, not with it.
            EXPECT_GE(std::chrono::steady_clock::now() - first_at, std::chrono::milliseconds(1000))
                << seen;
        },
        std::chrono::seconds(30));
    auto served = lb.wait_upstream_log(3); // initialize, initialized, the call
    EXPECT_EQ(served.size(), 3u) << joined(served) << lb.log();
    for (auto const& s : served)
        EXPECT_EQ(s, addr(server.port()));
    EXPECT_EQ(server.stop(), 0) << server.log();
}
