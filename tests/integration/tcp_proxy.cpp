// tests/integration/tcp_proxy.cpp — the recording, cutting TCP relay. See tcp_proxy.hpp.
#include "tcp_proxy.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <list>
#include <vector>

namespace mcpd::test {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

struct link {
    explicit link(asio::any_io_executor ex)
        : client(ex)
        , server(ex) {}
    tcp::socket client;
    tcp::socket server;
    std::string downstream;                           // everything the server sent
    std::vector<std::pair<bool, std::string>> chunks; // (from the client?, bytes) in order
    bool cut = false;

    void close() {
        error_code ignored;
        client.shutdown(tcp::socket::shutdown_both, ignored);
        client.close(ignored);
        server.shutdown(tcp::socket::shutdown_both, ignored);
        server.close(ignored);
    }
};

} // namespace

struct tcp_proxy::state {
    explicit state(asio::any_io_executor e)
        : ex(std::move(e))
        , acceptor(ex) {}

    asio::any_io_executor ex;
    tcp::acceptor acceptor;
    std::uint16_t upstream_port = 0;
    std::list<std::shared_ptr<link>> links;
    std::string upstream_bytes;
    std::string marker;
    int cuts_left = 0;
    int cuts_done = 0;
    std::size_t accepted = 0;
    bool stopped = false;
};

namespace {

asio::awaitable<void> pipe(std::shared_ptr<tcp_proxy::state> st, std::shared_ptr<link> l,
                           bool from_client) {
    auto& from = from_client ? l->client : l->server;
    auto& to = from_client ? l->server : l->client;
    std::array<char, 16 * 1024> buf{};
    for (;;) {
        error_code ec;
        auto n = co_await from.async_read_some(asio::buffer(buf),
                                               asio::redirect_error(asio::use_awaitable, ec));
        if (ec || l->cut)
            break;
        std::string_view data(buf.data(), n);
        if (from_client) {
            st->upstream_bytes.append(data);
        } else {
            l->downstream.append(data);
            if (st->cuts_left > 0 && l->downstream.find(st->marker) != std::string::npos) {
                --st->cuts_left;
                ++st->cuts_done;
                l->cut = true;
                break;
            }
        }
        l->chunks.emplace_back(from_client, std::string(data));
        co_await asio::async_write(to, asio::buffer(data),
                                   asio::redirect_error(asio::use_awaitable, ec));
        if (ec)
            break;
    }
    l->close();
}

asio::awaitable<void> serve(std::shared_ptr<tcp_proxy::state> st) {
    while (!st->stopped) {
        error_code ec;
        auto client =
            co_await st->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec)
            break;
        ++st->accepted;
        auto l = std::make_shared<link>(st->ex);
        l->client = std::move(client);
        tcp::endpoint upstream(asio::ip::make_address("127.0.0.1"), st->upstream_port);
        co_await l->server.async_connect(upstream, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            l->close();
            continue;
        }
        st->links.push_back(l);
        asio::co_spawn(st->ex, pipe(st, l, true), asio::detached);
        asio::co_spawn(st->ex, pipe(st, l, false), asio::detached);
    }
}

} // namespace

tcp_proxy::tcp_proxy(asio::any_io_executor ex, std::uint16_t upstream_port)
    : st_(std::make_shared<state>(std::move(ex))) {
    st_->upstream_port = upstream_port;
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    st_->acceptor.open(ep.protocol());
    st_->acceptor.set_option(asio::socket_base::reuse_address(true));
    st_->acceptor.bind(ep);
    st_->acceptor.listen();
    asio::co_spawn(st_->ex, serve(st_), asio::detached);
}

tcp_proxy::~tcp_proxy() {
    st_->stopped = true;
    error_code ignored;
    st_->acceptor.close(ignored);
    cut_all();
}

std::uint16_t tcp_proxy::port() const noexcept {
    return st_->acceptor.local_endpoint().port();
}

void tcp_proxy::cut_when_downstream_has(std::string marker, int count) {
    st_->marker = std::move(marker);
    st_->cuts_left = count;
}

int tcp_proxy::cuts() const noexcept {
    return st_->cuts_done;
}

void tcp_proxy::cut_all() {
    for (auto& l : st_->links) {
        l->cut = true;
        l->close();
    }
}

std::string tcp_proxy::upstream() const {
    return st_->upstream_bytes;
}

bool tcp_proxy::answered(std::string_view request_marker, std::string_view answer_marker) const {
    for (auto const& l : st_->links) {
        bool asked = false;
        for (auto const& [from_client, bytes] : l->chunks) {
            if (from_client && bytes.find(request_marker) != std::string::npos)
                asked = true;
            else if (asked && !from_client && bytes.find(answer_marker) != std::string::npos)
                return true;
        }
    }
    return false;
}

std::size_t tcp_proxy::connections_accepted() const noexcept {
    return st_->accepted;
}

} // namespace mcpd::test
