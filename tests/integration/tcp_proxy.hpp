// tests/integration/tcp_proxy.hpp — a TCP relay between a client under test and a real server,
// that records what passes and cuts connections on cue.
//
// Tests of the MCP client's resumption need a connection to break in the middle of an SSE
// stream, at a known point, while the server lives on: the proxy cuts (closes both sides of)
// the next connection whose server → client bytes come to contain a marker, before passing those
// bytes on, so the client has seen everything before the marker and nothing after. Everything
// clients send is recorded, so a test can check what went over the wire (a Last-Event-ID
// header, a notifications/cancelled), and which request a server answered.
//
// It runs on the test's io_context (one thread), listens on an ephemeral 127.0.0.1 port, and
// closes everything when destroyed.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace mcpd::test {

class tcp_proxy {
public:
    tcp_proxy(boost::asio::any_io_executor ex, std::uint16_t upstream_port);
    ~tcp_proxy();
    tcp_proxy(tcp_proxy const&) = delete;
    tcp_proxy& operator=(tcp_proxy const&) = delete;

    [[nodiscard]] std::uint16_t port() const noexcept;

    // The next `count` connections whose server → client bytes come to contain `marker` are cut
    // before the bytes that complete the marker reach the client.
    void cut_when_downstream_has(std::string marker, int count = 1);
    [[nodiscard]] int cuts() const noexcept;
    // Cuts every open connection now.
    void cut_all();

    // Everything clients sent, over all connections, in order of arrival.
    [[nodiscard]] std::string upstream() const;
    // True when one connection carried `request_marker` from the client and, after it,
    // `answer_marker` from the server (e.g. a notification's POST, then "202 Accepted").
    [[nodiscard]] bool answered(std::string_view request_marker,
                                std::string_view answer_marker) const;
    [[nodiscard]] std::size_t connections_accepted() const noexcept;

    struct state;

private:
    std::shared_ptr<state> st_;
};

} // namespace mcpd::test
