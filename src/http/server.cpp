// http/server.cpp — the accept loop, the per-connection request loop and SSE responses.
// See server.hpp.
#include "http/server.hpp"

#include "core/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <cctype>
#include <charconv>
#include <map>
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

// A client's X-Request-Id is adopted when it is a plain token (it goes into logs and headers).
bool sane_request_id(std::string_view v) {
    if (v.empty() || v.size() > 64)
        return false;
    for (char c : v)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
              c == ':'))
            return false;
    return true;
}

// A bounded set: anything else is "other", so that clients cannot grow the metrics page.
std::string_view method_label(bhttp::verb v) {
    switch (v) {
    case bhttp::verb::get:
        return "GET";
    case bhttp::verb::post:
        return "POST";
    case bhttp::verb::delete_:
        return "DELETE";
    case bhttp::verb::options:
        return "OPTIONS";
    case bhttp::verb::head:
        return "HEAD";
    case bhttp::verb::put:
        return "PUT";
    case bhttp::verb::patch:
        return "PATCH";
    default:
        return "other";
    }
}

// The path without the query (queries may carry session ids: they stay out of logs).
std::string_view path_of(request const& req) {
    auto t = std::string_view(req.target());
    return t.substr(0, t.find('?'));
}

// A response head as text: start line, fields and the blank line, with room for `then` more
// bytes (the body that follows it in the same buffer). Written directly: Beast's serializer
// took ~7k instructions per response for the same bytes.
template <class Body>
std::string head_text(bhttp::response<Body> const& head, std::size_t then = 0) {
    auto reason = head.reason();
    if (reason.empty())
        reason = bhttp::obsolete_reason(head.result());
    std::string out;
    out.reserve(128 + then);
    out += head.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    std::array<char, 8> code{};
    auto end = std::to_chars(code.data(), code.data() + code.size(), head.result_int()).ptr;
    out.append(code.data(), end);
    out += ' ';
    out += reason;
    out += "\r\n";
    for (auto const& f : head) {
        out += f.name_string();
        out += ": ";
        out += f.value();
        out += "\r\n";
    }
    out += "\r\n";
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
    status_ = res.result();
    res.version(req_.version());
    res.set("X-Request-Id", id_);
    res.keep_alive(keep_alive_ && req_.keep_alive() && !draining_);
    keep_alive_ = res.keep_alive();
    res.prepare_payload();
    // One contiguous buffer: cheaper to write than Beast's serializer's buffer sequences.
    std::string out = head_text(res, res.body().size());
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
    status_ = status::ok;
    bhttp::response<bhttp::empty_body> head{status::ok, req_.version()};
    for (auto const& f : extra)
        head.set(f.name_string(), f.value());
    head.set(bhttp::field::content_type, "text/event-stream");
    head.set(bhttp::field::cache_control, "no-cache");
    head.set("X-Request-Id", id_);
    head.keep_alive(keep_alive_ && req_.keep_alive() && !draining_);
    keep_alive_ = head.keep_alive();
    head.chunked(true);

    // Each write sends everything queued by then: the head with the first events, and the last
    // chunk with the last events, so that a quick answer costs one or two sends, not one per
    // piece.
    std::string out = head_text(head);
    std::string events;
    error_code ec;
    if (on_sse_head_)
        on_sse_head_(); // the response is decided: SSE (metrics time the request to here)

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
    std::unordered_set<beast::tcp_stream*> idle; // waiting for a request's first byte
    bool draining = false;

    // Set by set_metrics(); null: not measured.
    metrics::counter_family* requests = nullptr;
    metrics::histogram_family* durations = nullptr;
    metrics::gauge* connections = nullptr;
    metrics::counter* refused = nullptr;

    // The children of a (method, status) pair, resolved once: with() builds label strings and
    // takes the family's lock, too much for every request. Methods come from method_label()
    // and statuses from our own responses, so the map stays small.
    struct children {
        metrics::counter* requests;
        metrics::histogram* duration;
    };
    std::map<std::pair<std::string_view, unsigned>, children> resolved;

    void count(std::string_view method, status s, double seconds) {
        if (requests == nullptr)
            return;
        auto code = static_cast<unsigned>(s);
        auto it = resolved.find({method, code});
        if (it == resolved.end()) {
            std::vector<std::string> labels{std::string(method), std::to_string(code)};
            children c{&requests->with(labels), nullptr};
            labels.pop_back();
            c.duration = &durations->with(labels);
            it = resolved.emplace(std::pair{method, code}, c).first;
        }
        it->second.requests->inc();
        it->second.duration->observe(seconds);
    }
};

class connection {
public:
    connection(std::shared_ptr<server::state> st, tcp::socket sock)
        : st_(std::move(st))
        , stream_(std::move(sock))
        , request_deadline_(stream_.get_executor()) {
        error_code ec;
        auto ep = stream_.socket().remote_endpoint(ec);
        if (!ec)
            remote_ = ep.address().to_string();
        st_->open.insert(&stream_);
        if (st_->connections)
            st_->connections->inc();
    }
    ~connection() {
        st_->open.erase(&stream_);
        st_->idle.erase(&stream_);
        if (st_->connections)
            st_->connections->dec();
    }
    connection(connection const&) = delete;
    connection& operator=(connection const&) = delete;

    asio::awaitable<void> run();

private:
    asio::awaitable<void> send_error(status s, std::string_view message);

    std::shared_ptr<server::state> st_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::string remote_;
    asio::steady_timer request_deadline_;
    std::uint64_t request_reads_ = 0;
    bool reading_request_ = false;
    bool request_timed_out_ = false;
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
    stream_.expires_never();
    st_->count("unparsed", s, 0);
    if (ec)
        co_return;
    // Lingering close: the client may still be sending the request we refused (a body over the
    // limit, a header that does not end). Closing with its bytes unread makes the kernel send a
    // reset, which can destroy our answer before the client reads it. So stop sending, and
    // read and drop what comes for a short while, until the client closes.
    constexpr auto linger_time = std::chrono::seconds(1);
    constexpr std::size_t linger_bytes = 1024 * 1024;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    std::array<char, 16 * 1024> sink{};
    std::size_t dropped = buffer_.size();
    buffer_.consume(buffer_.size());
    stream_.expires_after(linger_time);
    while (!ec && dropped < linger_bytes)
        dropped += co_await stream_.async_read_some(asio::buffer(sink), use_ec(ec));
    stream_.expires_never();
}

asio::awaitable<void> connection::run() {
    auto const& lim = st_->lim;
    for (;;) {
        error_code ec;
        // Draining: the last response said Connection: close.
        if (st_->draining)
            break;
        // Idle keep-alive: wait for the first byte of the next request.
        if (buffer_.size() == 0) {
            stream_.expires_after(lim.idle_timeout);
            st_->idle.insert(&stream_);
            auto n = co_await stream_.async_read_some(buffer_.prepare(4096), use_ec(ec));
            st_->idle.erase(&stream_);
            if (ec)
                break;
            buffer_.commit(n);
        }
        // From the first byte, the whole request must arrive in time (slow senders). Our own
        // timer, not the stream's expiry: that one closes the socket, and the 408 could not go.
        // The generation keeps a timer that fires just as its read completes from cancelling
        // the next one.
        stream_.expires_never();
        auto generation = ++request_reads_;
        request_timed_out_ = false;
        request_deadline_.expires_after(lim.request_timeout);
        request_deadline_.async_wait([this, generation](error_code const& tec) {
            if (tec || generation != request_reads_ || !reading_request_)
                return;
            request_timed_out_ = true;
            error_code ignored;
            stream_.socket().cancel(ignored);
        });
        bhttp::request_parser<bhttp::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(lim.max_header_bytes));
        parser.body_limit(lim.max_body_bytes);
        reading_request_ = true;
        co_await bhttp::async_read(stream_, buffer_, parser, use_ec(ec));
        reading_request_ = false;
        request_deadline_.cancel();
        if (request_timed_out_)
            ec = beast::error::timeout;
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
        auto given_id = req["X-Request-Id"];
        std::string id = sane_request_id(given_id) ? std::string(given_id) : log::new_request_id();
        exchange ex(stream_, req, remote_, lim, st_->draining, std::move(id));
        metrics::stopwatch watch;
        bool sse = false;
        double head_seconds = 0;
        ex.on_sse_head_ = [&] {
            sse = true;
            head_seconds = watch.seconds();
        };
        try {
            co_await st_->on_request(ex);
        } catch (std::exception const& e) {
            log::for_request(log::level::error, ex.request_id(),
                             "http: handler failed for {} {}: {}",
                             std::string_view(req.method_string()), path_of(req), e.what());
        }
        if (!ex.responded_) {
            auto res = make_response(req, status::internal_server_error, "Internal server error");
            co_await ex.respond(std::move(res));
        }
        auto method = method_label(req.method());
        // An SSE stream is timed to its head: its length is the client's business.
        st_->count(method, ex.status_, sse ? head_seconds : watch.seconds());
        log::for_request(log::level::debug, ex.request_id(), "http: {} {} {}{} in {:.2f} ms",
                         std::string_view(req.method_string()), path_of(req),
                         static_cast<unsigned>(ex.status_), sse ? " (SSE stream ended)" : "",
                         watch.seconds() * 1000);
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
                // EMFILE and the like: the next accept may succeed, but not at once; pause
                // rather than spin.
                log::warn("http: accept failed: {}", ec.message());
                asio::steady_timer pause(st->ex, std::chrono::milliseconds(50));
                co_await pause.async_wait(use_ec(ec));
                continue;
            }
            if (st->open.size() >= st->lim.max_connections) {
                error_code ignored;
                sock.close(ignored);
                if (st->refused)
                    st->refused->inc();
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
    state_->draining = true;
    // Idle keep-alive connections end now; their read fails and the connection closes.
    for (auto* s : state_->idle)
        s->socket().cancel(ignored);
}

void server::set_metrics(metrics::registry& reg) {
    auto& st = *state_;
    st.requests =
        &reg.counter("mcpd_http_requests_total",
                     "HTTP requests answered, by method and status code", {"method", "code"});
    st.durations = &reg.histogram("mcpd_http_request_duration_seconds",
                                  "Time from a request's arrival to the last byte of its response "
                                  "(to the head of an SSE stream)",
                                  {"method"});
    st.connections = &reg.gauge("mcpd_http_connections", "Open HTTP connections").get();
    st.refused = &reg.counter("mcpd_http_connections_refused_total",
                              "Connections closed at once because max_connections were open")
                      .get();
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
