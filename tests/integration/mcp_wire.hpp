// tests/integration/mcp_wire.hpp — raw HTTP/1.1 to a real mcpd, for tests that need to send
// what no well-behaved client sends (malformed JSON, wrong headers, half a request).
//
// An `http_client` is one TCP connection (kept alive between requests) with a bound on every
// read and write, so a server that does not answer fails the test instead of hanging it. Bytes
// go out as built requests or as raw text; answers come back parsed by Beast.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace mcpd::test {

namespace bhttp = boost::beast::http;
using http_request = bhttp::request<bhttp::string_body>;
using http_response = bhttp::response<bhttp::string_body>;

// The JSON-RPC error code in an answer's body ({"error":{"code":…}}), or 0 when there is none.
int rpc_error_code(http_response const& res);
// The body as JSON (null when it is not JSON); of an SSE answer, its last event's data.
boost::json::value body_json(http_response const& res);

class http_client {
public:
    static constexpr std::chrono::seconds io_limit{5};

    explicit http_client(boost::asio::any_io_executor ex);

    // To 127.0.0.1:port; from `from` (another loopback address, e.g. "127.0.0.2": another
    // client as the server counts clients) when given.
    boost::asio::awaitable<void> connect(std::uint16_t port, std::string const& from = {});
    boost::asio::awaitable<void> write_raw(std::string bytes);
    boost::asio::awaitable<void> write_request(http_request req);
    boost::asio::awaitable<http_response> read_response();
    // The head only (an SSE stream's body goes on; read it with further reads).
    boost::asio::awaitable<http_response> read_response_head();
    // write_request + read_response.
    boost::asio::awaitable<http_response> send(http_request req);
    // Waits (up to io_limit) for the server to end the connection: true on end of file or reset,
    // false if it sends more bytes instead.
    boost::asio::awaitable<bool> closed_by_server();
    // The connection, for a reader of its own (after a whole response: nothing is buffered).
    boost::beast::tcp_stream take_stream() { return std::move(stream_); }

private:
    boost::beast::tcp_stream stream_;
    boost::beast::flat_buffer buffer_;
};

// A POST /mcp as a Streamable HTTP client sends it: Host, JSON Content-Type, an Accept that
// lists both answer forms, and the session and revision headers when given.
http_request mcp_post(std::uint16_t port, std::string body, std::string const& session = {},
                      std::string const& version = {});
// GET or DELETE /mcp with the same headers.
http_request mcp_request(bhttp::verb verb, std::uint16_t port, std::string const& session = {},
                         std::string const& version = {});

std::string initialize_body(std::string_view version, int id = 1);

// initialize + notifications/initialized over one connection; the session id.
boost::asio::awaitable<std::string> open_session(std::uint16_t port, std::string version);

} // namespace mcpd::test
