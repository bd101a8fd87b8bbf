// http/server.hpp — an HTTP/1.1 server on Asio: keep-alive, limits, and SSE responses.
//
// One coroutine per connection, on the server's executor (mcpd runs its I/O on one thread, so a
// handler never races another handler). For each request the handler gets an `exchange` and
// answers it either with one complete response or with an SSE stream that it fills from
// anywhere (exchange::respond_sse returns when the stream ends or the client goes away).
// Requests are parsed by our own tokenizer (request_parser.hpp) into a flat server_request
// (request.hpp) that the connection reuses; responses (message.hpp) are written as one buffer
// each.
//
// What it protects against: bodies over the limit (413), headers over the limit (431), malformed
// requests (400), clients that send slowly (the whole request must arrive within
// request_timeout), idle keep-alive connections (idle_timeout), clients that stop reading
// (write_timeout per write; SSE queues bounded in bytes), and too many connections (new ones are
// accepted and closed at once beyond max_connections). Deadlines are times kept per connection
// and checked by one sweep timer for the whole server, so a request arms no timer of its own.
//
// Each request gets an id (exchange::request_id(): the client's X-Request-Id when it is a sane
// token, else a new one), sent back in X-Request-Id and put on the log lines about it. With
// set_metrics(), requests are counted by method and status and timed, and open connections are
// a gauge. Draining (stop_accepting()): the listener closes, idle keep-alive connections are
// closed, and every response from then on says `Connection: close`, so each connection ends
// after the request it is serving.
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"
#include "mcpd/core/metrics.hpp"
#include "mcpd/http/message.hpp"
#include "mcpd/http/request.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace mcpd {
class client_tally;
}

namespace mcpd::http {

class sse_stream; // http/sse.hpp

struct limits {
    std::size_t max_body_bytes = 4 * 1024 * 1024;
    std::size_t max_header_bytes = 16 * 1024;
    duration request_timeout = std::chrono::seconds(10); // from first byte to complete request
    duration idle_timeout = std::chrono::seconds(60);    // keep-alive, between requests
    duration write_timeout = std::chrono::seconds(30);   // one write to a client
    std::size_t max_connections = 4096;                  // max-connections
    std::size_t max_connections_per_client = 256; // from one address: max-connections-per-client
    // A keep-alive connection frees its buffers beyond this after each request: 100 idle
    // connections that each once sent a 4 MiB body hold 100 × this, not 400 MiB.
    std::size_t max_idle_buffer_bytes = 64 * 1024;
    std::size_t sse_max_buffered_bytes = 1024 * 1024;
};

class connection;

// One request and its answer.
class exchange {
public:
    [[nodiscard]] server_request const& req() const noexcept { return req_; }
    [[nodiscard]] std::string const& remote_address() const noexcept;
    // Ties this request's log lines together (and to the client's, via X-Request-Id).
    [[nodiscard]] std::string const& request_id() const noexcept { return id_; }
    [[nodiscard]] bool responded() const noexcept { return responded_; }
    [[nodiscard]] boost::asio::any_io_executor executor() const;

    // Sends a complete response (keep-alive and the HTTP version follow the request).
    boost::asio::awaitable<void> respond(response res);
    // The same, written straight from its parts without building a message first (for answers
    // on the hot path): `fields` are header fields besides Content-Type, Content-Length,
    // Connection and X-Request-Id, which this sets.
    using header = std::pair<std::string_view, std::string_view>;
    boost::asio::awaitable<void> respond(status s, std::string_view content_type,
                                         std::string_view body,
                                         std::span<header const> fields = {});
    // Sends the SSE response head (plus `extra` header fields, whose views must last until it
    // returns), then everything pushed to `stream`
    // until it finishes or closes or the client disconnects. After it returns, the connection
    // is kept for the next request if the stream finished cleanly.
    boost::asio::awaitable<void> respond_sse(std::shared_ptr<sse_stream> stream,
                                             std::span<header const> extra = {});

private:
    friend class connection;
    exchange(connection& c, server_request const& r, std::string id)
        : conn_(c)
        , req_(r)
        , id_(std::move(id)) {}

    connection& conn_;
    server_request const& req_;
    std::string id_;
    bool responded_ = false;
    bool keep_alive_ = true;
    bool sse_ = false;                              // answered with a stream
    metrics::stopwatch watch_;                      // from the request's arrival
    double head_seconds_ = 0;                       // when the stream's head went out
    status status_ = status::internal_server_error; // what was sent, for the log and metrics
};

using handler = std::function<boost::asio::awaitable<void>(exchange&)>;
// Builds the response for errors found before the handler runs (413, 431, 400).
using error_page = std::function<response(status, std::string_view message)>;

// Where a server listens, once it does.
struct listen_address {
    std::string host; // the address as text: "127.0.0.1", "::1"
    std::uint16_t port = 0;
    bool v6 = false;
    [[nodiscard]] std::string url() const; // http://host:port, an IPv6 host in brackets
};

class server {
public:
    server(boost::asio::any_io_executor ex, handler h, limits l = {}, error_page page = {});
    ~server();
    server(server const&) = delete;
    server& operator=(server const&) = delete;

    // Binds and listens; port 0 picks a free one. Call once, before start(). `shared_port`
    // (SO_REUSEPORT): servers on several event loops of one process listen on the same port and
    // the kernel spreads the connections among them; each must ask for it.
    result<listen_address> listen(std::string const& host, std::uint16_t port,
                                  bool shared_port = false);
    // Accepts connections until stop_accepting().
    void start();
    // Draining: closes the listener and the idle keep-alive connections; connections serving a
    // request (or an SSE stream) go on and close after their response.
    void stop_accepting();
    // Counts requests (mcpd_http_requests_total{method,code}), times them
    // (mcpd_http_request_duration_seconds{method}: to the last byte of a response, to the head
    // of an SSE stream) and tracks connections (mcpd_http_connections). Call before start().
    void set_metrics(metrics::registry& reg);
    // Counts connections (max-connections, max-connections-per-client) in `clients`, shared
    // with the servers of the process's other event loops. Call before start().
    void share_clients(std::shared_ptr<client_tally> clients);
    // Closes every connection now.
    void close_connections();

    [[nodiscard]] std::size_t connection_count() const noexcept;
    [[nodiscard]] limits const& get_limits() const noexcept;

    struct state; // shared with the connections (server.cpp)

private:
    std::shared_ptr<state> state_;
};

} // namespace mcpd::http
