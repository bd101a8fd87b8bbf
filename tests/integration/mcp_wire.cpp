// tests/integration/mcp_wire.cpp — the raw HTTP client for mcpd tests. See mcp_wire.hpp.
#include "mcp_wire.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <array>

namespace mcpd::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace json = boost::json;
using boost::system::error_code;

int rpc_error_code(http_response const& res) {
    auto v = body_json(res);
    auto const* o = v.if_object();
    if (o == nullptr)
        return 0;
    auto const* e = o->if_contains("error");
    if (e == nullptr || !e->is_object())
        return 0;
    auto const* c = e->get_object().if_contains("code");
    return c != nullptr && c->is_int64() ? static_cast<int>(c->get_int64()) : 0;
}

json::value body_json(http_response const& res) {
    std::string_view text = res.body();
    if (res[bhttp::field::content_type].starts_with("text/event-stream")) {
        // The answer is the last event with data (one `data:` line: mcpd sends JSON on one).
        auto at = text.rfind("\ndata: {");
        auto at_start = text.starts_with("data: {");
        if (at == std::string_view::npos && !at_start)
            return nullptr;
        text = text.substr(at == std::string_view::npos ? 6 : at + 7);
        text = text.substr(0, text.find('\n'));
    }
    error_code ec;
    auto v = json::parse(text, ec);
    return ec ? json::value(nullptr) : v;
}

http_client::http_client(asio::any_io_executor ex)
    : stream_(std::move(ex)) {}

asio::awaitable<void> http_client::connect(std::uint16_t port, std::string const& from) {
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    if (!from.empty()) {
        auto& sock = stream_.socket();
        sock.open(asio::ip::tcp::v4());
        sock.bind(asio::ip::tcp::endpoint(asio::ip::make_address(from), 0));
    }
    stream_.expires_after(io_limit);
    co_await stream_.async_connect(ep, asio::use_awaitable);
    stream_.expires_never();
}

asio::awaitable<void> http_client::write_raw(std::string bytes) {
    stream_.expires_after(io_limit);
    co_await asio::async_write(stream_, asio::buffer(bytes), asio::use_awaitable);
    stream_.expires_never();
}

asio::awaitable<http_response> http_client::read_response() {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    stream_.expires_after(io_limit);
    co_await bhttp::async_read(stream_, buffer_, parser, asio::use_awaitable);
    stream_.expires_never();
    co_return parser.release();
}

asio::awaitable<http_response> http_client::read_response_head() {
    bhttp::response_parser<bhttp::string_body> parser;
    stream_.expires_after(io_limit);
    co_await bhttp::async_read_header(stream_, buffer_, parser, asio::use_awaitable);
    stream_.expires_never();
    co_return parser.release();
}

asio::awaitable<void> http_client::write_request(http_request req) {
    req.prepare_payload();
    stream_.expires_after(io_limit);
    co_await bhttp::async_write(stream_, req, asio::use_awaitable);
    stream_.expires_never();
}

asio::awaitable<http_response> http_client::send(http_request req) {
    co_await write_request(std::move(req));
    co_return co_await read_response();
}

asio::awaitable<bool> http_client::closed_by_server() {
    if (buffer_.size() > 0)
        co_return false;
    std::array<char, 512> buf{};
    error_code ec;
    stream_.expires_after(io_limit);
    auto n = co_await stream_.async_read_some(asio::buffer(buf),
                                              asio::redirect_error(asio::use_awaitable, ec));
    stream_.expires_never();
    if (ec == beast::error::timeout)
        ADD_FAILURE() << "the server kept the connection open for " << io_limit.count() << " s";
    co_return ec&& ec != beast::error::timeout&& n == 0;
}

http_request mcp_request(bhttp::verb verb, std::uint16_t port, std::string const& session,
                         std::string const& version) {
    http_request req{verb, "/mcp", 11};
    req.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port));
    req.set(bhttp::field::accept, "application/json, text/event-stream");
    if (!session.empty())
        req.set("Mcp-Session-Id", session);
    if (!version.empty())
        req.set("MCP-Protocol-Version", version);
    return req;
}

http_request mcp_post(std::uint16_t port, std::string body, std::string const& session,
                      std::string const& version) {
    auto req = mcp_request(bhttp::verb::post, port, session, version);
    req.set(bhttp::field::content_type, "application/json");
    req.body() = std::move(body);
    return req;
}

std::string initialize_body(std::string_view version, int id) {
    json::object params{{"protocolVersion", version},
                        {"capabilities", json::object{}},
                        {"clientInfo", json::object{{"name", "mcpd-wire-test"}, {"version", "1"}}}};
    return json::serialize(json::object{
        {"jsonrpc", "2.0"}, {"id", id}, {"method", "initialize"}, {"params", std::move(params)}});
}

asio::awaitable<std::string> open_session(std::uint16_t port, std::string version) {
    http_client c(co_await asio::this_coro::executor);
    co_await c.connect(port);
    auto init = mcp_post(port, initialize_body(version));
    auto res = co_await c.send(std::move(init));
    EXPECT_EQ(res.result_int(), 200u) << res.body();
    std::string sid(res["Mcp-Session-Id"]);
    EXPECT_FALSE(sid.empty());
    auto v = body_json(res);
    error_code ec;
    auto const* negotiated = v.find_pointer("/result/protocolVersion", ec);
    EXPECT_TRUE(negotiated != nullptr && negotiated->is_string() &&
                negotiated->get_string() == version)
        << res.body();
    auto initialized =
        mcp_post(port, R"({"jsonrpc":"2.0","method":"notifications/initialized"})", sid, version);
    auto ack = co_await c.send(std::move(initialized));
    EXPECT_EQ(ack.result_int(), 202u) << ack.body();
    co_return sid;
}

} // namespace mcpd::test
