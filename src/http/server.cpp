// http/server.cpp — the accept loop, the per-connection request loop and SSE responses.
// See server.hpp.
#include "http/server.hpp"

#include "core/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <charconv>
#include <unordered_set>

namespace mcpd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using boost::system::error_code;

namespace {
auto use_ec(error_code& ec) {
    return asio::redirect_error(asio::use_awaitable, ec);
}

// A response head as text: start line, fields and the blank line.
template <class Body>
std::string head_text(bhttp::response<Body> const& head) {
    bhttp::response_serializer<Body> sr{head};
    sr.split(true);
    std::string out;
    error_code ec;
    while (!ec && !sr.is_header_done())
        sr.next(ec, [&](error_code&, auto const& buffers) {
            out += beast::buffers_to_string(buffers);
            sr.consume(beast::buffer_bytes(buffers));
        });
    return out;
}

// Appends `data` as one chunk of a chunked body (nothing when it is empty: an empty chunk
// would end the body).
void append_chunk(std::string& out, std::string_view data) {
    if (data.empty())
        return;
    std::array<char, 16> size{};
    auto end = std::to_chars(size.data(), size.data() + size.size(), data.size(), 16).ptr;
    out.append(size.data(), end);
    out += "\r\n";
    out += data;
    out += "\r\n";
}
} // namespace

response make_response(request const& req, status s, std::string body,
                       std::string_view content_type) {
    response res{s, req.version()};
    res.set(bhttp::field::content_type, content_type);
    res.body() = std::move(body);
    return res;
}

asio::any_io_executor exchange::executor() const {
    return stream_.get_executor();
}

asio::awaitable<void> exchange::respond(response res) {
    responded_ = true;
    res.version(req_.version());
    res.keep_alive(keep_alive_ && req_.keep_alive());
    keep_alive_ = res.keep_alive();
    res.prepare_payload();
    // One contiguous buffer: cheaper to write than Beast's serializer's buffer sequences.
    std::string out = head_text(res);
    out += res.body();
    error_code ec;
    stream_.expires_after(limits_.write_timeout);
    co_await asio::async_write(stream_, asio::buffer(out), use_ec(ec));
    stream_.expires_never();
    if (ec)
        keep_alive_ = false;
}

asio::awaitable<void> exchange::respond_sse(std::shared_ptr<sse_stream> stream,
                                            bhttp::fields extra) {
    responded_ = true;
    bhttp::response<bhttp::empty_body> head{status::ok, req_.version()};
    for (auto const& f : extra)
        head.set(f.name_string(), f.value());
    head.set(bhttp::field::content_type, "text/event-stream");
    head.set(bhttp::field::cache_control, "no-cache");
    head.keep_alive(keep_alive_ && req_.keep_alive());
    keep_alive_ = head.keep_alive();
    head.chunked(true);

    // Each write sends everything queued by then: the head with the first events, and the last
    // chunk with the last events, so that a quick answer costs one or two sends, not one per
    // piece.
    std::string out = head_text(head);
    std::string events;
    error_code ec;

    // While the stream waits for events, a read on the socket tells us when the client goes
    // away (EOF or reset): an idle stream would otherwise never notice. Started at the first
    // wait (a stream that ends at once needs none).
    struct probe_state {
        bool done = false;
        bool got_data = false;
        std::array<char, 256> buf{};
    };
    std::shared_ptr<probe_state> probe;

    // The stream's writers (a POST's request handlers) were usually started just before: one
    // turn of the event loop lets a quick one finish, and its answer then goes out with the head
    // and the last chunk in a single write, with no watch on the socket needed.
    co_await asio::post(stream_.get_executor(), asio::use_awaitable);

    bool clean_end = false;
    for (;;) {
        auto const state = stream->current();
        if (state != sse_stream::state::closed) {
            stream->take(events);
            append_chunk(out, events);
            if (state == sse_stream::state::finishing)
                out += "0\r\n\r\n"; // push() refuses events once finishing: this is the end
        }
        if (!out.empty()) {
            stream_.expires_after(limits_.write_timeout);
            co_await asio::async_write(stream_, asio::buffer(out), use_ec(ec));
            stream_.expires_never();
            if (ec)
                break;
            out.clear();
        }
        if (state == sse_stream::state::closed)
            break;
        if (state == sse_stream::state::finishing) {
            clean_end = true;
            break;
        }
        if (!probe) {
            probe = std::make_shared<probe_state>();
            stream_.socket().async_read_some(
                asio::buffer(probe->buf), [probe, stream](error_code const& rec, std::size_t n) {
                    if (probe->done)
                        return;
                    if (!rec && n > 0) {
                        probe->got_data = true; // a pipelined request: cannot serve it mid-stream
                        return;
                    }
                    stream->close();
                });
        }
        co_await stream->wait();
    }
    if (probe)
        probe->done = true;
    if (!clean_end || (probe && probe->got_data)) {
        keep_alive_ = false;
        error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    } else if (probe) {
        error_code ignored;
        stream_.socket().cancel(ignored); // the probe read
    }
    stream->writer_done();
}

struct server::state {
    state(asio::any_io_executor e, handler h, limits l, error_page p)
        : ex(std::move(e))
        , on_request(std::move(h))
        , lim(l)
        , page(std::move(p))
        , acceptor(ex) {}

    asio::any_io_executor ex;
    handler on_request;
    limits lim;
    error_page page;
    tcp::acceptor acceptor;
    std::unordered_set<beast::tcp_stream*> open;
};

class connection {
public:
    connection(std::shared_ptr<server::state> st, tcp::socket sock)
        : st_(std::move(st))
        , stream_(std::move(sock)) {
        error_code ec;
        auto ep = stream_.socket().remote_endpoint(ec);
        if (!ec)
            remote_ = ep.address().to_string();
        st_->open.insert(&stream_);
    }
    ~connection() { st_->open.erase(&stream_); }
    connection(connection const&) = delete;
    connection& operator=(connection const&) = delete;

    asio::awaitable<void> run();

private:
    asio::awaitable<void> send_error(status s, std::string_view message);

    std::shared_ptr<server::state> st_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::string remote_;
};

asio::awaitable<void> connection::send_error(status s, std::string_view message) {
    request dummy;
    dummy.version(11);
    response res =
        st_->page ? st_->page(s, message) : make_response(dummy, s, std::string(message));
    res.keep_alive(false);
    res.prepare_payload();
    error_code ec;
    stream_.expires_after(st_->lim.write_timeout);
    co_await bhttp::async_write(stream_, res, use_ec(ec));
}

asio::awaitable<void> connection::run() {
    auto const& lim = st_->lim;
    for (;;) {
        error_code ec;
        // Idle keep-alive: wait for the first byte of the next request.
        if (buffer_.size() == 0) {
            stream_.expires_after(lim.idle_timeout);
            auto n = co_await stream_.async_read_some(buffer_.prepare(4096), use_ec(ec));
            if (ec)
                break;
            buffer_.commit(n);
        }
        // From the first byte, the whole request must arrive in time (slow senders).
        stream_.expires_after(lim.request_timeout);
        bhttp::request_parser<bhttp::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(lim.max_header_bytes));
        parser.body_limit(lim.max_body_bytes);
        co_await bhttp::async_read(stream_, buffer_, parser, use_ec(ec));
        stream_.expires_never();
        if (ec == bhttp::error::body_limit) {
            co_await send_error(status::payload_too_large, "Request body too large");
            break;
        }
        if (ec == bhttp::error::header_limit) {
            co_await send_error(status::request_header_fields_too_large,
                                "Request header too large");
            break;
        }
        if (ec == beast::error::timeout) {
            co_await send_error(status::request_timeout, "Request not received in time");
            break;
        }
        if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
            ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
            break;
        if (ec) {
            co_await send_error(status::bad_request, "Malformed HTTP request: " + ec.message());
            break;
        }
        request req = parser.release();
        exchange ex(stream_, req, remote_, lim);
        try {
            co_await st_->on_request(ex);
        } catch (std::exception const& e) {
            log::error("http: handler failed for {} {}: {}", std::string_view(req.method_string()),
                       std::string_view(req.target()), e.what());
        }
        if (!ex.responded_) {
            auto res = make_response(req, status::internal_server_error, "Internal server error");
            co_await ex.respond(std::move(res));
        }
        if (!ex.keep_alive_)
            break;
    }
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
}

server::server(asio::any_io_executor ex, handler h, limits l, error_page page)
    : state_(std::make_shared<state>(std::move(ex), std::move(h), l, std::move(page))) {}

server::~server() {
    stop_accepting();
    close_connections();
}

result<tcp::endpoint> server::listen(std::string const& host, std::uint16_t port) {
    error_code ec;
    auto addr = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
    if (ec)
        return error{ec, "listen address \"" + host + "\""};
    tcp::endpoint ep{addr, port};
    auto& acc = state_->acceptor;
    acc.open(ep.protocol(), ec);
    if (!ec)
        acc.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec)
        acc.bind(ep, ec);
    if (!ec)
        acc.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        error_code ignored;
        acc.close(ignored);
        return error{ec, "listen on " + host + ":" + std::to_string(port)};
    }
    return acc.local_endpoint();
}

void server::start() {
    auto st = state_;
    auto loop = [st]() -> asio::awaitable<void> {
        while (st->acceptor.is_open()) {
            error_code ec;
            auto sock = co_await st->acceptor.async_accept(use_ec(ec));
            if (ec) {
                if (ec == asio::error::operation_aborted || !st->acceptor.is_open())
                    break;
                log::warn("http: accept failed: {}", ec.message());
                continue; // EMFILE and the like: the next accept may succeed
            }
            if (st->open.size() >= st->lim.max_connections) {
                error_code ignored;
                sock.close(ignored);
                continue;
            }
            sock.set_option(tcp::no_delay(true), ec);
            auto conn = std::make_shared<connection>(st, std::move(sock));
            auto run = [conn]() -> asio::awaitable<void> { co_await conn->run(); };
            asio::co_spawn(st->ex, std::move(run), asio::detached);
        }
    };
    asio::co_spawn(state_->ex, std::move(loop), asio::detached);
}

void server::stop_accepting() {
    error_code ignored;
    state_->acceptor.close(ignored);
}

void server::close_connections() {
    for (auto* s : state_->open) {
        error_code ignored;
        s->socket().shutdown(tcp::socket::shutdown_both, ignored);
        s->socket().close(ignored);
    }
}

std::size_t server::connection_count() const noexcept {
    return state_->open.size();
}
limits const& server::get_limits() const noexcept {
    return state_->lim;
}

} // namespace mcpd::http
