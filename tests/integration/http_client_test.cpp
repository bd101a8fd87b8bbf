// tests/integration/http_client_test.cpp — the HTTP/1.1 client (src/http/client.hpp) against
// real sockets: a real mcpd (through a tcp_proxy that counts connections) for keep-alive and
// limits, and small scripted servers in the test for what a well-behaved server does not do
// (never answer, close an idle connection, stall a streamed body, end a body at EOF, send
// garbage).
#include "async_test.hpp"
#include "mcpd_process.hpp"
#include "tcp_proxy.hpp"

#include "http/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include <functional>

namespace {

namespace asio = boost::asio;
namespace http = mcpd::http;
using asio::ip::tcp;
using namespace std::chrono_literals;
using mcpd::test::mcpd_process;
using mcpd::test::run_async;
using mcpd::test::sleep_for;
using mcpd::test::tcp_proxy;

http::url url_on(std::uint16_t port, std::string const& path) {
    return http::parse_url("http://127.0.0.1:" + std::to_string(port) + path).value();
}

http::beast_request get(std::string const& target = "/") {
    return http::beast_request{boost::beast::http::verb::get, target, 11};
}

// A server that runs `script` on each connection it accepts (on 127.0.0.1, ephemeral port).
class scripted_server {
public:
    using script = std::function<asio::awaitable<void>(tcp::socket&)>;

    scripted_server(asio::any_io_executor ex, script s)
        : acceptor_(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0))
        , script_(std::move(s)) {
        asio::co_spawn(ex, serve(), asio::detached);
    }
    ~scripted_server() {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
    }
    [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    [[nodiscard]] int accepted() const { return accepted_; }

    // Reads until the end of a request head (our requests in these tests have no body).
    static asio::awaitable<bool> read_head(tcp::socket& sock) {
        std::string got;
        char c = 0;
        while (got.find("\r\n\r\n") == std::string::npos) {
            boost::system::error_code ec;
            co_await sock.async_read_some(asio::buffer(&c, 1),
                                          asio::redirect_error(asio::use_awaitable, ec));
            if (ec)
                co_return false;
            got += c;
        }
        co_return true;
    }
    static asio::awaitable<void> send(tcp::socket& sock, std::string bytes) {
        boost::system::error_code ec;
        co_await asio::async_write(sock, asio::buffer(bytes),
                                   asio::redirect_error(asio::use_awaitable, ec));
    }

private:
    asio::awaitable<void> serve() {
        for (;;) {
            boost::system::error_code ec;
            auto sock =
                co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
            if (ec)
                co_return;
            ++accepted_;
            auto s = std::make_shared<tcp::socket>(std::move(sock));
            auto run = [s, f = script_]() -> asio::awaitable<void> { co_await f(*s); };
            asio::co_spawn(acceptor_.get_executor(), std::move(run), asio::detached);
        }
    }

    tcp::acceptor acceptor_;
    script script_;
    int accepted_ = 0;
};

TEST(http_client, keeps_connections_alive_and_reuses_them) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        tcp_proxy proxy(ex, server.port());
        http::client c(ex);
        for (int i = 0; i < 3; ++i) {
            auto r = co_await c.fetch(url_on(proxy.port(), "/health"), get());
            CO_ASSERT(r.has_value());
            EXPECT_EQ(r->result_int(), 200u);
            EXPECT_EQ(r->body().rfind(R"({"status":"ok")", 0), 0u) << r->body();
        }
        EXPECT_EQ(proxy.connections_accepted(), 1u);
        EXPECT_EQ(c.idle_connections(), 1u);
        // A 404 is an answer, not an error: fetch returns it.
        auto missing = co_await c.fetch(url_on(proxy.port(), "/nowhere"), get());
        CO_ASSERT(missing.has_value());
        EXPECT_EQ(missing->result_int(), 404u);
        EXPECT_EQ(proxy.connections_accepted(), 1u);
    });
}

TEST(http_client, a_connection_the_server_closed_while_idle_is_not_reused) {
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        // Says keep-alive, then closes after each answer.
        scripted_server server(ex, [](tcp::socket& s) -> asio::awaitable<void> {
            if (co_await scripted_server::read_head(s))
                co_await scripted_server::send(
                    s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok");
            boost::system::error_code ignored;
            s.shutdown(tcp::socket::shutdown_both, ignored);
            s.close(ignored);
        });
        http::client c(ex);
        for (int i = 0; i < 3; ++i) {
            auto r = co_await c.fetch(url_on(server.port(), "/"), get());
            CO_ASSERT(r.has_value());
            EXPECT_EQ(r->body(), "ok");
        }
        EXPECT_EQ(server.accepted(), 3);
    });
}

TEST(http_client, bodies_and_headers_over_the_limits_fail) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        http::client_options small_body;
        small_body.max_body_bytes = 8;
        http::client c(ex, small_body);
        auto r = co_await c.fetch(url_on(server.port(), "/health"), get());
        CO_ASSERT(!r.has_value());
        EXPECT_EQ(r.error(), http::client_errc::body_too_large) << r.error().message();
        EXPECT_EQ(c.idle_connections(), 0u) << "a half-read connection is not reused";

        http::client_options small_head;
        small_head.max_header_bytes = 16;
        http::client h(ex, small_head);
        auto head = co_await h.fetch(url_on(server.port(), "/health"), get());
        CO_ASSERT(!head.has_value());
        EXPECT_EQ(head.error(), boost::beast::http::error::header_limit) << head.error().message();
    });
}

TEST(http_client, a_server_that_never_answers_times_out) {
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        scripted_server server(ex, [](tcp::socket& s) -> asio::awaitable<void> {
            co_await scripted_server::read_head(s);
            co_await sleep_for(10s); // holds the connection, says nothing
        });
        http::client c(ex);
        http::exchange_options xo;
        xo.timeout = 200ms;
        auto r = co_await c.fetch(url_on(server.port(), "/"), get(), xo);
        CO_ASSERT(!r.has_value());
        EXPECT_EQ(r.error(), boost::beast::error::timeout) << r.error().message();
        EXPECT_NE(r.error().message().find("no response within 200ms"), std::string::npos)
            << r.error().message();
    });
}

TEST(http_client, an_abort_handle_ends_a_waiting_request) {
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        scripted_server server(ex, [](tcp::socket& s) -> asio::awaitable<void> {
            co_await scripted_server::read_head(s);
            co_await sleep_for(10s);
        });
        http::client c(ex);
        http::exchange_options xo;
        xo.timeout = mcpd::duration::zero();
        xo.abort = std::make_shared<http::abort_handle>();
        auto aborter = [h = xo.abort]() -> asio::awaitable<void> {
            co_await sleep_for(100ms);
            h->abort();
        };
        asio::co_spawn(ex, std::move(aborter), asio::detached);
        auto r = co_await c.open(url_on(server.port(), "/"), get(), xo);
        CO_ASSERT(!r.has_value());
        EXPECT_EQ(r.error(), http::client_errc::aborted) << r.error().message();
    });
}

TEST(http_client, a_stalled_stream_hits_the_idle_timeout) {
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        scripted_server server(ex, [](tcp::socket& s) -> asio::awaitable<void> {
            co_await scripted_server::read_head(s);
            co_await scripted_server::send(s, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream"
                                              "\r\nTransfer-Encoding: chunked\r\n\r\n"
                                              "6\r\ndata:\n\r\n");
            co_await sleep_for(10s);
        });
        http::client_options opts;
        opts.stream_idle_timeout = 200ms;
        http::client c(ex, opts);
        auto r = co_await c.open(url_on(server.port(), "/"), get());
        CO_ASSERT(r.has_value());
        EXPECT_EQ(r->media_type(), "text/event-stream");
        auto piece = co_await r->read_some();
        CO_ASSERT(piece.has_value());
        EXPECT_EQ(*piece, "data:\n");
        auto stalled = co_await r->read_some();
        CO_ASSERT(!stalled.has_value());
        EXPECT_EQ(stalled.error(), boost::beast::error::timeout) << stalled.error().message();
        EXPECT_NE(stalled.error().message().find("no data on the response stream for 200ms"),
                  std::string::npos);
    });
}

TEST(http_client, a_body_that_ends_at_eof_and_a_reply_that_is_not_http) {
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        scripted_server old_style(ex, [](tcp::socket& s) -> asio::awaitable<void> {
            co_await scripted_server::read_head(s);
            co_await scripted_server::send(s, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                                              "until the end");
            boost::system::error_code ignored;
            s.shutdown(tcp::socket::shutdown_both, ignored);
        });
        http::client c(ex);
        auto r = co_await c.fetch(url_on(old_style.port(), "/"), get());
        CO_ASSERT(r.has_value());
        EXPECT_EQ(r->body(), "until the end");
        EXPECT_EQ(c.idle_connections(), 0u);

        scripted_server garbage(ex, [](tcp::socket& s) -> asio::awaitable<void> {
            co_await scripted_server::read_head(s);
            co_await scripted_server::send(s, "SSH-2.0-OpenSSH_9.2\r\n\r\n");
        });
        auto bad = co_await c.fetch(url_on(garbage.port(), "/"), get());
        CO_ASSERT(!bad.has_value());
        EXPECT_EQ(bad.error().code.category(),
                  make_error_code(boost::beast::http::error::bad_version).category())
            << bad.error().message();
    });
}

} // namespace
