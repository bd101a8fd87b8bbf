// tests/fuzz/http_request_fuzz.cpp — libFuzzer target for the HTTP request path: arbitrary
// bytes sent as HTTP requests to the real server code (http::server, server::http_transport,
// the dispatcher, the conformance fixtures and the typed demo tools), over loopback TCP, in
// this process.
//
// One server per mode runs for the life of the process on one io_context, as `mcpd serve
// --conformance` runs with MCP_TS_STORAGE_TYPE=memory (the same request handler, error page and
// session records in the storage layer):
//   byte 0, bit 0: SSE answers to POST (otherwise JSON when a handler sends nothing first);
//   byte 0, bit 1: tight limits (1 KiB headers, 2 KiB bodies) so that 413 and 431 are reached.
// The rest of the input is up to four connections' bytes, separated by "@@NEXT@@". They are
// opened one after the other: each gets its bytes written and the server is run until it has
// nothing more to do for now (every request answered, or waiting for more bytes or for a reply
// from the client), while the earlier connections stay open (a GET stream keeps receiving).
// Before a connection's bytes are sent, "@SID@" is replaced by the last Mcp-Session-Id the
// server sent on this input and "@LSID@" by the last legacy session id (from an `endpoint`
// event), so inputs reach the stateful paths: initialize, then calls in that session. Then
// every connection is half-closed and must be closed by the server.
//
// What must hold (a violation aborts, which libFuzzer reports as a crash):
//   - no crash, no sanitizer report, and the server settles within 5 s at each step (no hang);
//   - every connection ends (the server closes it after the client's end of input);
//   - what the server sent on each connection is a sequence of well-formed HTTP responses (a
//     stream may be cut short); none is a 500; every application/json body and every SSE
//     event's data (bar the legacy `endpoint` event) is valid JSON;
//   - after the input's sessions are deleted (DELETE /mcp, as a client would), nothing is left
//     behind: no connection, SSE stream, request in flight or live session.
// MCPD_FUZZ_VERBOSE=1 in the environment prints what each connection sent and received.
//
// Built by run_fuzz.sh (see README.md) with clang++ -fsanitize=fuzzer,address,undefined, or
// without libFuzzer together with fuzz_driver.cpp.
#include "../../apps/mcpd/fixtures.hpp"
#include "core/log.hpp"
#include "fuzz_check.hpp"
#include "mcpd/http/server.hpp"
#include "mcpd/server/dispatcher.hpp"
#include "mcpd/server/http_transport.hpp"
#include "mcpd/server/session.hpp"
#include "mcpd/server/stored_session_records.hpp"
#include "mcpd/store/memory_store.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
using asio::ip::tcp;
using boost::system::error_code;
using namespace mcpd;

constexpr std::string_view connection_separator = "@@NEXT@@";
constexpr std::size_t max_connections = 4;
constexpr auto settle_limit = std::chrono::seconds(5);

bool verbose() {
    static bool const on = std::getenv("MCPD_FUZZ_VERBOSE") != nullptr;
    return on;
}

using mcpd::fuzz::check;
using mcpd::fuzz::fail;

// Errors found before a request reaches MCP, in JSON-RPC's shape: as `mcpd serve` answers them.
http::response error_page(http::status s, std::string_view message) {
    json::object body{{"jsonrpc", "2.0"},
                      {"id", nullptr},
                      {"error", json::object{{"code", -32000}, {"message", message}}}};
    return http::make_response(s, json::serialize(body), "application/json");
}

// One server as `mcpd serve --conformance` builds it, in one response mode and with one set
// of limits.
struct stack {
    stack(asio::io_context& io, server::server& srv, bool json_response, http::limits lim)
        : storage(std::make_shared<store::memory_store>())
        , sessions(
              std::make_shared<server::stored_session_records>(storage, std::chrono::hours(12)),
              10000)
        , disp(srv, sessions, io.get_executor())
        , transport(disp, transport_options(json_response), io.get_executor())
        , http_server(io.get_executor(), handler(), lim, error_page) {
        auto bound = http_server.listen("127.0.0.1", 0);
        if (!bound)
            fail("listen: " + bound.error().message());
        endpoint = tcp::endpoint(asio::ip::make_address(bound->host), bound->port);
        http_server.start();
    }

    static server::http_transport_options transport_options(bool json_response) {
        server::http_transport_options o;
        o.json_response = json_response;
        o.origins = http::origin_policy::for_bind_address("127.0.0.1");
        return o;
    }

    // The request handler of `mcpd serve`: MCP endpoints, /health, else 404.
    http::handler handler() {
        return [this](http::exchange& x) -> asio::awaitable<void> {
            auto& req = x.req();
            auto target = std::string_view(req.target());
            if (transport.serves(target.substr(0, target.find('?')))) {
                co_await transport.handle(x);
                co_return;
            }
            if (target.substr(0, target.find('?')) == "/health") {
                auto ok =
                    http::make_response(http::status::ok, R"({"status":"ok"})", "application/json");
                co_await x.respond(std::move(ok));
                co_return;
            }
            auto missing = http::make_response(http::status::not_found, "Not found");
            co_await x.respond(std::move(missing));
        };
    }

    // Client requests waiting for a reply from the client (they wait until it comes).
    std::size_t waiting_for_client() {
        std::size_t n = 0;
        sessions.for_each([&](server::session& s) { n += s.outgoing.size(); });
        return n;
    }

    std::shared_ptr<store::memory_store> storage;
    server::session_manager sessions;
    server::dispatcher disp;
    server::http_transport transport;
    http::server http_server;
    tcp::endpoint endpoint;
};

struct world {
    world()
        : srv(options()) {
        log::set_level(log::level::off);
        app::add_conformance_fixtures(srv);
        // The demo tools have typed (validated) arguments; countdown is left out because it
        // may run for minutes, which a stateless request cannot cancel.
        app::add_demo_tools(srv);
        srv.remove_tool("countdown");
        for (int mode = 0; mode < 4; ++mode) {
            http::limits lim;
            if ((mode & 2) != 0) {
                lim.max_header_bytes = 1024;
                lim.max_body_bytes = 2048;
            }
            stacks[mode] = std::make_unique<stack>(io, srv, (mode & 1) == 0, lim);
        }
    }
    static server::server_options options() {
        server::server_options o;
        o.info.name = "mcpd-fuzz";
        o.info.version = "0";
        o.state_key = std::string(64, '7'); // fixed, so that runs repeat
        return o;
    }

    asio::io_context io{1};
    server::server srv;
    std::array<std::unique_ptr<stack>, 4> stacks;
};

world& the_world() {
    static world w;
    return w;
}

// The client end of one connection: writes its bytes and collects everything the server sends
// until the server closes it.
struct client : std::enable_shared_from_this<client> {
    explicit client(asio::io_context& io)
        : sock(io) {}

    void start(std::string bytes) {
        out = std::move(bytes);
        auto self = shared_from_this();
        asio::async_write(sock, asio::buffer(out), [self](error_code, std::size_t) {});
        read_more();
    }
    void read_more() {
        auto self = shared_from_this();
        sock.async_read_some(asio::buffer(buf), [self](error_code ec, std::size_t n) {
            self->in.append(self->buf.data(), n);
            if (ec) {
                self->closed = true;
                return;
            }
            self->read_more();
        });
    }

    tcp::socket sock;
    std::string out;
    std::string in;
    std::array<char, 16384> buf{};
    bool closed = false;
};

// Runs the server until `done()` holds and there is nothing ready to run; aborts after 5 s.
template <class Done>
void run_until(asio::io_context& io, Done done, std::string_view what) {
    auto const deadline = std::chrono::steady_clock::now() + settle_limit;
    for (;;) {
        if (io.stopped())
            io.restart();
        if (io.poll() > 0)
            continue;
        if (done())
            return;
        if (std::chrono::steady_clock::now() > deadline)
            fail(std::string(what) + " did not happen within 5 s");
        io.run_one_for(std::chrono::milliseconds(2));
    }
}

std::shared_ptr<client> open(stack& st, std::string bytes) {
    auto& io = the_world().io;
    auto c = std::make_shared<client>(io);
    // Asynchronously: libFuzzer's timer signal would interrupt a blocking connect.
    bool connected = false;
    error_code ec;
    c->sock.async_connect(st.endpoint, [&](error_code e) {
        ec = e;
        connected = true;
    });
    run_until(
        io, [&] { return connected; }, "connecting");
    check(!ec, "connect: " + ec.message());
    c->start(std::move(bytes));
    return c;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    if (to.empty())
        return;
    for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// The value of the last `name: value` header line in raw response bytes (name lower-case).
std::string last_header(std::string_view bytes, std::string_view name) {
    std::string found;
    for (std::size_t line = 0; line < bytes.size();) {
        auto end = bytes.find('\n', line);
        auto text = bytes.substr(line, end == std::string_view::npos ? end : end - line);
        if (text.size() > name.size() && text[name.size()] == ':') {
            bool same = true;
            for (std::size_t i = 0; i < name.size() && same; ++i)
                same = lower(text[i]) == name[i];
            if (same) {
                auto v = text.substr(name.size() + 1);
                while (!v.empty() && (v.front() == ' ' || v.back() == '\r' || v.back() == ' '))
                    v = v.front() == ' ' ? v.substr(1) : v.substr(0, v.size() - 1);
                found = std::string(v);
            }
        }
        if (end == std::string_view::npos)
            break;
        line = end + 1;
    }
    return found;
}

// The session id of the last legacy `endpoint` event ("…/messages?sessionId=<hex>").
std::string last_legacy_session(std::string_view bytes) {
    constexpr std::string_view key = "sessionId=";
    auto at = bytes.rfind(key);
    if (at == std::string_view::npos)
        return {};
    auto v = bytes.substr(at + key.size());
    std::size_t n = 0;
    while (n < v.size() && std::isxdigit(static_cast<unsigned char>(v[n])))
        ++n;
    return std::string(v.substr(0, n));
}

void check_json(std::string_view text, std::string_view where) {
    error_code ec;
    json::parse(text, ec);
    check(!ec, std::string(where) + " is not JSON: " + std::string(text.substr(0, 200)));
}

// Every complete event of an SSE body carries JSON data (or none, or is the legacy endpoint).
void check_sse(std::string_view body) {
    for (auto end = body.find("\n\n"); end != std::string_view::npos; end = body.find("\n\n")) {
        auto event = body.substr(0, end);
        body.remove_prefix(end + 2);
        std::string data;
        bool endpoint = false;
        for (std::size_t line = 0; line <= event.size();) {
            auto stop = event.find('\n', line);
            auto text = event.substr(line, stop == std::string_view::npos ? stop : stop - line);
            if (text.starts_with("data:")) {
                auto v = text.substr(5);
                if (v.starts_with(' '))
                    v.remove_prefix(1);
                data += data.empty() ? "" : "\n";
                data += v;
            } else if (text == "event: endpoint") {
                endpoint = true;
            }
            if (stop == std::string_view::npos)
                break;
            line = stop + 1;
        }
        if (!endpoint && !data.empty())
            check_json(data, "an SSE event's data");
    }
}

// What the server sent on one connection is a sequence of well-formed responses.
void check_responses(std::string_view bytes) {
    while (!bytes.empty()) {
        bhttp::response_parser<bhttp::string_body> p;
        p.eager(true);
        p.body_limit(boost::none);
        error_code ec;
        while (!bytes.empty() && !p.is_done()) {
            auto n = p.put(asio::buffer(bytes.data(), bytes.size()), ec);
            bytes.remove_prefix(n);
            if (ec == bhttp::error::need_more) {
                ec = {};
                if (n == 0)
                    break;
                continue;
            }
            if (ec)
                break;
        }
        if (!ec && !p.is_done())
            p.put_eof(ec);
        check(p.is_header_done(), "the server sent a malformed response head: " + ec.message());
        auto const& res = p.get();
        check(res.result() != bhttp::status::internal_server_error,
              "the server answered 500: " + res.body().substr(0, 200));
        auto type = res[bhttp::field::content_type];
        bool const sse = type.starts_with("text/event-stream");
        // An SSE stream may be cut short (the client went away); nothing else may.
        check(!ec || (sse && ec == bhttp::error::partial_message),
              "the server sent a malformed response: " + ec.message());
        if (sse)
            check_sse(res.body());
        else if (type.starts_with("application/json") && p.is_done())
            check_json(res.body(), "an application/json body");
        if (ec)
            break;
    }
}

std::vector<std::string> split_connections(std::string_view data) {
    std::vector<std::string> parts;
    while (parts.size() + 1 < max_connections) {
        auto at = data.find(connection_separator);
        if (at == std::string_view::npos)
            break;
        parts.emplace_back(data.substr(0, at));
        data.remove_prefix(at + connection_separator.size());
    }
    parts.emplace_back(data);
    return parts;
}

// Ends every session the input left, the way a client does (DELETE /mcp).
void delete_sessions(stack& st) {
    std::vector<std::string> ids;
    st.sessions.for_each([&](server::session& s) { ids.push_back(s.state.id); });
    if (ids.empty())
        return;
    std::string requests;
    for (std::size_t i = 0; i < ids.size(); ++i)
        requests += "DELETE /mcp HTTP/1.1\r\nHost: localhost\r\nMcp-Session-Id: " + ids[i] +
                    (i + 1 == ids.size() ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
    auto c = open(st, std::move(requests));
    auto& io = the_world().io;
    run_until(
        io, [&] { return c->closed; }, "DELETE of the input's sessions");
    check_responses(c->in);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size == 0)
        return 0;
    world& w = the_world();
    stack& st = *w.stacks[data[0] & 3];
    auto& io = w.io;
    std::string_view const rest(reinterpret_cast<char const*>(data + 1), size - 1);

    std::vector<std::shared_ptr<client>> clients;
    std::string session_id, legacy_session_id;
    for (auto& bytes : split_connections(rest)) {
        replace_all(bytes, "@SID@", session_id);
        replace_all(bytes, "@LSID@", legacy_session_id);
        clients.push_back(open(st, std::move(bytes)));
        // Settled: nothing ready to run, and every request in flight is waiting for the client.
        run_until(
            io, [&] { return st.transport.in_flight() <= st.waiting_for_client(); },
            "settling after a connection's bytes");
        for (auto const& c : clients) {
            if (auto id = last_header(c->in, "mcp-session-id"); !id.empty())
                session_id = id;
            if (auto id = last_legacy_session(c->in); !id.empty())
                legacy_session_id = id;
        }
    }
    // The client has said everything: the server must close every connection.
    for (auto const& c : clients) {
        error_code ignored;
        c->sock.shutdown(tcp::socket::shutdown_send, ignored);
    }
    run_until(
        io,
        [&] {
            for (auto const& c : clients)
                if (!c->closed)
                    return false;
            return true;
        },
        "the server closing every connection after the client's end of input");

    for (std::size_t i = 0; i < clients.size(); ++i) {
        if (verbose())
            std::fprintf(stderr, "--- connection %zu sent:\n%s\n--- received:\n%s\n", i,
                         clients[i]->out.c_str(), clients[i]->in.c_str());
        check_responses(clients[i]->in);
    }

    delete_sessions(st);
    run_until(
        io,
        [&] {
            return st.http_server.connection_count() == 0 && st.transport.open_streams() == 0 &&
                   st.transport.in_flight() == 0 && st.sessions.live_count() == 0;
        },
        "releasing every connection, stream, request and session of the input");
    return 0;
}
