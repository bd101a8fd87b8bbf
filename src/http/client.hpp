// http/client.hpp — an HTTP/1.1 client on Beast: http and https (certificate and host name
// verification, SNI), keep-alive connection reuse, timeouts, body limits, streamed bodies.
//
// The MCP client (src/client/) sends every request through it. Two ways to ask:
//   - fetch(): the whole response, its body bounded by max_body_bytes;
//   - open(): the response head only; the body is then read piece by piece from the returned
//     client_response (an SSE stream that lasts as long as the server keeps it open), or whole
//     with read_body().
// A connection whose response was read to the end, and that both sides keep alive, goes back to
// a small pool for the next request to the same origin. An idle connection that the server has
// closed meanwhile is noticed before reuse (a peek at the socket); if the server closes one just
// as we send, the request is sent once more on a fresh connection when that is safe: it did not
// go out whole, or its method is idempotent (a POST that went out may have been acted on).
//
// Timeouts: connect_timeout covers DNS, TCP and the TLS handshake; a request's timeout covers
// writing it and reading the head (fetch: and the body); a streamed body can have an idle
// timeout. An abort_handle lets another coroutine end an exchange at any point (an MCP request
// that was cancelled or timed out while its POST is still waiting for an answer).
//
// One executor, one thread: a client and its responses are used from the executor they were
// made on (mcpd runs its I/O on one thread per io_context).
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"
#include "mcpd/http/client_options.hpp"
#include "mcpd/http/error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace mcpd::http {

namespace bhttp = boost::beast::http;
using beast_request = bhttp::request<bhttp::string_body>;
using beast_response = bhttp::response<bhttp::string_body>;

// Ends an exchange from elsewhere: while connecting, while waiting for the head, or while the
// body is read. The pending operation then fails with client_errc::aborted.
class abort_handle {
public:
    void abort();
    [[nodiscard]] bool aborted() const noexcept { return aborted_; }

    // For the client: what abort() does at this stage of the exchange (close the socket, cancel
    // the DNS lookup); empty when nothing is in progress.
    void on_abort(std::function<void()> f) { on_abort_ = std::move(f); }

private:
    bool aborted_ = false;
    std::function<void()> on_abort_;
};

struct exchange_options {
    // Writing the request and reading the head (fetch: and the body). Unset: the client's
    // response_timeout; zero: no limit (the caller bounds it, e.g. with an abort_handle).
    std::optional<duration> timeout;
    std::shared_ptr<abort_handle> abort;
};

// A response whose head has arrived; the body is read from it. Destroying it returns the
// connection to the pool when the body was read to the end and the connection is kept alive;
// otherwise the connection is closed.
class client_response {
public:
    client_response(client_response&&) noexcept;
    client_response& operator=(client_response&&) noexcept;
    client_response(client_response const&) = delete;
    client_response& operator=(client_response const&) = delete;
    ~client_response();

    [[nodiscard]] unsigned status() const noexcept;
    [[nodiscard]] bhttp::fields const& headers() const noexcept;
    // A header's value, empty when absent.
    [[nodiscard]] std::string_view header(std::string_view name) const;
    // The media type of Content-Type, lower case, without parameters ("text/event-stream").
    [[nodiscard]] std::string media_type() const;

    // The next piece of the body (valid until the next call); an empty view at its end.
    boost::asio::awaitable<result<std::string_view>> read_some();
    // The rest of the body, at most max_body_bytes, within the client's response_timeout.
    boost::asio::awaitable<result<std::string>> read_body();
    [[nodiscard]] bool body_done() const noexcept;
    // Closes the connection now; a pending read fails with client_errc::aborted.
    void abort();

    struct state;

private:
    friend class client;
    explicit client_response(std::unique_ptr<state> s);
    std::unique_ptr<state> st_;
};

class client {
public:
    explicit client(boost::asio::any_io_executor ex, client_options opts = {});
    ~client();
    client(client const&) = delete;
    client& operator=(client const&) = delete;

    // Sends `req` to `to` (the target, Host and User-Agent are set here; the body's length too)
    // and reads the response head.
    boost::asio::awaitable<result<client_response>> open(url const& to, beast_request req,
                                                         exchange_options opts = {});
    // open() + the whole body.
    boost::asio::awaitable<result<beast_response>> fetch(url const& to, beast_request req,
                                                         exchange_options opts = {});

    // Closes the pooled idle connections.
    void close_idle();
    [[nodiscard]] std::size_t idle_connections() const noexcept;
    [[nodiscard]] client_options const& options() const noexcept;
    [[nodiscard]] boost::asio::any_io_executor executor() const;

    struct state;

private:
    std::shared_ptr<state> st_;
};

} // namespace mcpd::http
