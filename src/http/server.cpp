// http/server.cpp — the accept loop, the per-connection request loop, SSE responses and the
// deadline sweep. See server.hpp.
#include "mcpd/http/server.hpp"

#include "mcpd/core/client_tally.hpp"

#include "http/sse.hpp"

#include "core/ascii.hpp"
#include "core/log.hpp"
#include "http/request_parser.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace mcpd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using boost::system::error_code;
using clock = std::chrono::steady_clock;

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
std::string_view method_label(verb v) {
    switch (v) {
    case verb::get:
        return "GET";
    case verb::post:
        return "POST";
    case verb::delete_:
        return "DELETE";
    case verb::options:
        return "OPTIONS";
    case verb::head:
        return "HEAD";
    case verb::put:
        return "PUT";
    case verb::patch:
        return "PATCH";
    default:
        return "other";
    }
}

// The path without the query (queries may carry session ids: they stay out of logs).
std::string_view path_of(server_request const& req) {
    auto t = req.target();
    return t.substr(0, t.find('?'));
}

// The start line of a response, "HTTP/1.1 200 OK\r\n".
void append_status_line(std::string& out, unsigned version, unsigned code,
                        std::string_view reason) {
    out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    std::array<char, 8> digits{};
    auto end = std::to_chars(digits.data(), digits.data() + digits.size(), code).ptr;
    out.append(digits.data(), end);
    out += ' ';
    out += reason;
    out += "\r\n";
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
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

std::string listen_address::url() const {
    return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

struct server::state {
    state(asio::any_io_executor e, handler h, limits l, error_page p)
        : ex(std::move(e))
        , on_request(std::move(h))
        , lim(l)
        , page(std::move(p))
        , acceptor(ex)
        , sweep_timer(ex) {}

    asio::any_io_executor ex;
    handler on_request;
    limits lim;
    error_page page;
    tcp::acceptor acceptor;
    asio::steady_timer sweep_timer;
    // The time as of the last sweep: deadlines are set from it, so that entering a phase reads
    // no clock (they are checked only at sweeps anyway, a quarter of the shortest limit apart).
    clock::time_point swept_at = clock::now();
    std::unordered_set<connection*> open;
    // Open connections per client address (one client must not take every connection), and
    // in all: of this server, or of every server sharing the tally (the loops of a process).
    std::shared_ptr<client_tally> clients = std::make_shared<client_tally>();
    bool draining = false;
    bool stopped = false; // the server is gone: the sweep ends

    // Set by set_metrics(); null: not measured.
    metrics::counter_family* requests = nullptr;
    metrics::histogram_family* durations = nullptr;
    metrics::gauge* connections = nullptr;
    metrics::counter* refused = nullptr;
    metrics::limit_meter limit_hits;

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

    // How often deadlines are checked: a quarter of the shortest limit, within 5 ms .. 1 s, so
    // that a timeout fires at most a quarter late.
    [[nodiscard]] duration sweep_interval() const {
        auto shortest = std::min({lim.request_timeout, lim.idle_timeout, lim.write_timeout});
        return std::clamp<duration>(shortest / 4, std::chrono::milliseconds(5),
                                    std::chrono::seconds(1));
    }
    void sweep();
    duration interval = sweep_interval();

    // Why a new connection cannot be served (the answer's text, naming the limit), or "".
    // Takes the connection's place in the tally when it can be served.
    std::string refusal(std::string const& client) {
        if (clients->total(client_tally::kind::connections) >= lim.max_connections) {
            limit_hits.hit("max-connections");
            return "503 Service Unavailable|the server holds its limit of " +
                   std::to_string(lim.max_connections) + " connections (max-connections)";
        }
        if (!clients->try_add(client, client_tally::kind::connections,
                              lim.max_connections_per_client)) {
            limit_hits.hit("max-connections-per-client");
            return "429 Too Many Requests|" + client + " holds its limit of " +
                   std::to_string(lim.max_connections_per_client) +
                   " connections (max-connections-per-client)";
        }
        return {};
    }
};

namespace {

// Answers a connection that will not be served ("<status line>|<reason>") and closes it. The
// answer is small: the socket's buffer takes it at once, or it is not sent at all.
void refuse_connection(tcp::socket sock, std::string why) {
    auto bar = why.find('|');
    auto body = why.substr(bar + 1) + "\n";
    auto text = "HTTP/1.1 " + why.substr(0, bar) +
                "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
                "Content-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body;
    error_code ec;
    sock.non_blocking(true, ec);
    if (!ec)
        sock.write_some(asio::buffer(text), ec);
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
}

} // namespace

// What a connection is waiting for; each phase but `serving` has a deadline.
enum class phase {
    idle,    // the first byte of the next request (idle_timeout)
    reading, // the rest of the request (request_timeout from its first byte)
    serving, // the handler (no deadline of ours; SSE streams wait here between writes)
    writing, // one write to the client (write_timeout)
};

class connection {
public:
    // `client`: its address, as the tally counted it (the connection uncounts the same).
    connection(std::shared_ptr<server::state> st, tcp::socket sock, std::string client)
        : st_(std::move(st))
        , socket_(std::move(sock))
        , remote_(std::move(client)) {
        st_->open.insert(this);
        if (st_->connections)
            st_->connections->inc();
    }
    ~connection() {
        st_->open.erase(this);
        st_->clients->remove(remote_, client_tally::kind::connections);
        if (st_->connections)
            st_->connections->dec();
    }
    connection(connection const&) = delete;
    connection& operator=(connection const&) = delete;

    asio::awaitable<void> run();

    // Called by the sweep: ends what the connection waits for when its deadline has passed.
    void check_deadline(clock::time_point now) {
        if (phase_ != phase::serving && now >= deadline_ && !timed_out_) {
            timed_out_ = true;
            error_code ignored;
            socket_.cancel(ignored);
        }
    }
    // Draining: an idle connection ends now.
    void end_if_idle() {
        if (phase_ == phase::idle) {
            error_code ignored;
            socket_.cancel(ignored);
        }
    }
    void close() {
        error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
    }

private:
    friend class exchange;
    void enter(phase p, duration limit) {
        phase_ = p;
        // From the last sweep, plus that sweep's interval: never earlier than `limit` from now.
        deadline_ = st_->swept_at + st_->interval + limit;
    }
    // One buffer to the client within write_timeout; false when it failed (the connection is
    // then not kept).
    asio::awaitable<bool> write(std::string_view bytes);
    asio::awaitable<void> send_error(status s, std::string_view message);

    std::shared_ptr<server::state> st_;
    tcp::socket socket_;
    beast::flat_buffer buffer_;
    server_request req_; // reused: its buffers keep their capacity from request to request
    std::string remote_;
    phase phase_ = phase::idle;
    clock::time_point deadline_ = clock::time_point::max();
    bool timed_out_ = false;
};

void server::state::sweep() {
    auto now = swept_at = clock::now();
    // check_deadline only cancels socket operations (their handlers run later): no connection
    // leaves the set while it is walked.
    for (auto* c : open)
        c->check_deadline(now);
}

asio::awaitable<bool> connection::write(std::string_view bytes) {
    auto const before = phase_;
    enter(phase::writing, st_->lim.write_timeout);
    error_code ec;
    co_await asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()), use_ec(ec));
    phase_ = before;
    if (timed_out_) {
        timed_out_ = false;
        ec = beast::error::timeout;
    }
    co_return !ec;
}

std::string const& exchange::remote_address() const noexcept {
    return conn_.remote_;
}

asio::any_io_executor exchange::executor() const {
    return conn_.socket_.get_executor();
}

// The fields every response of ours ends its head with: X-Request-Id, Connection where the
// default does not say it (HTTP/1.1 says only close, HTTP/1.0 only keep-alive, as Beast's
// keep_alive() writes them).
static void append_closing_fields(std::string& out, std::string_view request_id, unsigned version,
                                  bool keep_alive) {
    if (!request_id.empty())
        append_field(out, "X-Request-Id", request_id);
    if (version == 10 && keep_alive)
        append_field(out, "Connection", "keep-alive");
    else if (version != 10 && !keep_alive)
        append_field(out, "Connection", "close");
}

// A whole response as one buffer: the status line, `fields` (then Content-Type when given), the
// closing fields, Content-Length and the body. Written directly: Beast's serializer took ~7k
// instructions per response for the same bytes.
static std::string response_text(unsigned version, status s, std::string_view content_type,
                                 std::span<exchange::header const> fields,
                                 std::string_view request_id, bool keep_alive,
                                 std::string_view body) {
    std::string out;
    out.reserve(160 + body.size());
    append_status_line(out, version, static_cast<unsigned>(s), reason(s));
    if (!content_type.empty())
        append_field(out, "Content-Type", content_type);
    for (auto const& [name, value] : fields)
        append_field(out, name, value);
    append_closing_fields(out, request_id, version, keep_alive);
    if (s != status::no_content) { // a 204 has no body, and says no length (RFC 9110 8.6)
        std::array<char, 24> length{};
        auto end = std::to_chars(length.data(), length.data() + length.size(), body.size()).ptr;
        append_field(out, "Content-Length", std::string_view(length.data(), end - length.data()));
    }
    out += "\r\n";
    if (s != status::no_content)
        out += body;
    return out;
}

// A response's fields as views, without Content-Length, Connection and X-Request-Id (the
// writer's own).
static std::vector<exchange::header> fields_of(response const& res) {
    std::vector<exchange::header> out;
    out.reserve(res.fields.size());
    for (auto const& [name, value] : res.fields)
        if (!iequals(name, "Content-Length") && !iequals(name, "Connection") &&
            !iequals(name, "X-Request-Id"))
            out.emplace_back(name, value);
    return out;
}

asio::awaitable<void> exchange::respond(response res) {
    auto fields = fields_of(res);
    co_await respond(res.status, {}, res.body, fields);
}

asio::awaitable<void> exchange::respond(status s, std::string_view content_type,
                                        std::string_view body, std::span<header const> fields) {
    responded_ = true;
    status_ = s;
    keep_alive_ = keep_alive_ && req_.keep_alive() && !conn_.st_->draining;
    auto out = response_text(req_.version(), s, content_type, fields, id_, keep_alive_, body);
    if (!co_await conn_.write(out))
        keep_alive_ = false;
}

asio::awaitable<void> exchange::respond_sse(std::shared_ptr<sse_stream> stream,
                                            std::span<header const> extra) {
    responded_ = true;
    status_ = status::ok;
    keep_alive_ = keep_alive_ && req_.keep_alive() && !conn_.st_->draining;
    std::string out;
    out.reserve(256);
    append_status_line(out, req_.version(), 200, "OK");
    for (auto const& [name, value] : extra)
        append_field(out, name, value);
    append_field(out, "Content-Type", "text/event-stream");
    append_field(out, "Cache-Control", "no-cache");
    append_closing_fields(out, id_, req_.version(), keep_alive_);
    append_field(out, "Transfer-Encoding", "chunked");
    out += "\r\n";

    // Each write sends everything queued by then: the head with the first events, and the last
    // chunk with the last events, so that a quick answer costs one or two sends, not one per
    // piece.
    std::string events;
    sse_ = true; // the response is decided: SSE (metrics time the request to here)
    head_seconds_ = watch_.seconds();

    // While the stream waits for events, a read on the socket tells us when the client goes
    // away (EOF or reset): an idle stream would otherwise never notice. Started at the first
    // wait (a stream that ends at once needs none).
    struct probe_state {
        bool done = false;
        bool got_data = false;
        std::array<char, 256> buf{};
    };
    std::shared_ptr<probe_state> probe;
    auto& socket = conn_.socket_;

    // The stream's writers (a POST's request handlers) were usually started just before: one
    // turn of the event loop lets a quick one finish, and its answer then goes out with the head
    // and the last chunk in a single write, with no watch on the socket needed. A stream that
    // is already finishing (its handlers finished as they started) has nothing to wait for.
    if (stream->current() == sse_stream::state::open)
        co_await asio::post(socket.get_executor(), asio::use_awaitable);

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
            if (!co_await conn_.write(out))
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
            socket.async_read_some(asio::buffer(probe->buf),
                                   [probe, stream](error_code const& rec, std::size_t n) {
                                       if (probe->done)
                                           return;
                                       if (!rec && n > 0) {
                                           // A pipelined request: cannot serve it mid-stream.
                                           probe->got_data = true;
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
        socket.shutdown(tcp::socket::shutdown_both, ignored);
    } else if (probe) {
        error_code ignored;
        socket.cancel(ignored); // the probe read
    }
    stream->writer_done();
}

asio::awaitable<void> connection::send_error(status s, std::string_view message) {
    response res = st_->page ? st_->page(s, message) : make_response(s, std::string(message));
    auto fields = fields_of(res);
    auto out = response_text(11, res.status, {}, fields, {}, false, res.body);
    bool sent = co_await write(out);
    st_->count("unparsed", s, 0);
    if (!sent)
        co_return;
    // Lingering close: the client may still be sending the request we refused (a body over the
    // limit, a header that does not end). Closing with its bytes unread makes the kernel send a
    // reset, which can destroy our answer before the client reads it. So stop sending, and
    // read and drop what comes for a short while, until the client closes.
    constexpr auto linger_time = std::chrono::seconds(1);
    constexpr std::size_t linger_bytes = 1024 * 1024;
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    std::array<char, 16 * 1024> sink{};
    std::size_t dropped = buffer_.size();
    buffer_.consume(buffer_.size());
    enter(phase::reading, linger_time);
    timed_out_ = false;
    while (!ec && !timed_out_ && dropped < linger_bytes)
        dropped += co_await socket_.async_read_some(asio::buffer(sink), use_ec(ec));
    phase_ = phase::serving;
}

asio::awaitable<void> connection::run() {
    auto const& lim = st_->lim;
    request_parser::limits const parse_limits{static_cast<std::uint32_t>(lim.max_header_bytes),
                                              lim.max_body_bytes};
    for (;;) {
        error_code ec;
        // Draining: the last response said Connection: close.
        if (st_->draining)
            break;
        timed_out_ = false;
        // Idle keep-alive: wait for the first byte of the next request.
        if (buffer_.size() == 0) {
            enter(phase::idle, lim.idle_timeout);
            auto n = co_await socket_.async_read_some(buffer_.prepare(4096), use_ec(ec));
            if (ec || timed_out_)
                break;
            buffer_.commit(n);
        }
        // From the first byte, the whole request must arrive in time (slow senders): the sweep
        // cancels the read at the deadline, and the 408 can still go out.
        enter(phase::reading, lim.request_timeout);
        request_parser parser(req_, parse_limits);
        for (;;) {
            if (buffer_.size() > 0) {
                auto data = buffer_.data();
                auto used = parser.put(
                    std::string_view(static_cast<char const*>(data.data()), data.size()), ec);
                buffer_.consume(used);
                if (ec && ec != beast::http::error::need_more)
                    break;
                ec = {};
                if (parser.is_done())
                    break;
            }
            auto n = co_await socket_.async_read_some(
                buffer_.prepare(std::max<std::size_t>(4096, buffer_.capacity() / 2)), use_ec(ec));
            if (timed_out_) {
                ec = beast::error::timeout;
                break;
            }
            if (ec == asio::error::eof) {
                // The end of input may end a body that has no length (HTTP/1.0 style).
                parser.put_eof(ec);
                if (!ec && !parser.is_done())
                    ec = beast::http::error::partial_message;
                break;
            }
            if (ec)
                break;
            buffer_.commit(n);
        }
        phase_ = phase::serving;
        if (ec == beast::http::error::body_limit) {
            co_await send_error(status::payload_too_large, "Request body too large");
            break;
        }
        if (ec == beast::http::error::header_limit) {
            co_await send_error(status::request_header_fields_too_large,
                                "Request header too large");
            break;
        }
        if (ec == beast::error::timeout) {
            co_await send_error(status::request_timeout, "Request not received in time");
            break;
        }
        if (ec == asio::error::eof || ec == asio::error::connection_reset ||
            ec == asio::error::operation_aborted)
            break;
        if (ec) {
            co_await send_error(status::bad_request, "Malformed HTTP request: " + ec.message());
            break;
        }
        auto given_id = req_["X-Request-Id"];
        std::string id = sane_request_id(given_id) ? std::string(given_id) : log::new_request_id();
        exchange ex(*this, req_, std::move(id));
        try {
            co_await st_->on_request(ex);
        } catch (std::exception const& e) {
            log::for_request(log::level::error, ex.request_id(),
                             "http: handler failed for {} {}: {}", req_.method_string(),
                             path_of(req_), e.what());
        }
        if (!ex.responded_) {
            auto res = make_response(status::internal_server_error, "Internal server error");
            co_await ex.respond(std::move(res));
        }
        auto method = method_label(req_.method());
        auto const seconds = ex.watch_.seconds();
        // An SSE stream is timed to its head: its length is the client's business.
        st_->count(method, ex.status_, ex.sse_ ? ex.head_seconds_ : seconds);
        log::for_request(log::level::debug, ex.request_id(), "http: {} {} {}{} in {:.2f} ms",
                         req_.method_string(), path_of(req_), static_cast<unsigned>(ex.status_),
                         ex.sse_ ? " (SSE stream ended)" : "", seconds * 1000);
        if (!ex.keep_alive_)
            break;
        req_.release_buffers_over(lim.max_idle_buffer_bytes);
        if (buffer_.capacity() > lim.max_idle_buffer_bytes)
            buffer_.shrink_to_fit(); // keeps what a pipelined next request already sent
    }
    close();
}

server::server(asio::any_io_executor ex, handler h, limits l, error_page page)
    : state_(std::make_shared<state>(std::move(ex), std::move(h), l, std::move(page))) {}

server::~server() {
    stop_accepting();
    close_connections();
    state_->stopped = true;
    state_->sweep_timer.cancel();
}

result<listen_address> server::listen(std::string const& host, std::uint16_t port,
                                      bool shared_port) {
    error_code ec;
    auto addr = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
    if (ec)
        return error{ec, "listen address \"" + host + "\""};
    tcp::endpoint ep{addr, port};
    auto& acc = state_->acceptor;
    acc.open(ep.protocol(), ec);
    if (!ec)
        acc.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && shared_port)
        acc.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
    if (!ec)
        acc.bind(ep, ec);
    if (!ec)
        acc.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        error_code ignored;
        acc.close(ignored);
        return error{ec, "listen on " + host + ":" + std::to_string(port)};
    }
    auto bound = acc.local_endpoint();
    return listen_address{bound.address().to_string(), bound.port(), bound.address().is_v6()};
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
            auto remote = sock.remote_endpoint(ec);
            std::string client = ec ? std::string() : remote.address().to_string();
            if (auto why = st->refusal(client); !why.empty()) {
                if (st->refused)
                    st->refused->inc();
                refuse_connection(std::move(sock), std::move(why));
                continue;
            }
            sock.set_option(tcp::no_delay(true), ec);
            auto conn = std::make_shared<connection>(st, std::move(sock), std::move(client));
            auto run = [conn]() -> asio::awaitable<void> { co_await conn->run(); };
            asio::co_spawn(st->ex, std::move(run), asio::detached);
        }
    };
    asio::co_spawn(state_->ex, std::move(loop), asio::detached);

    // The deadlines of every connection, checked a few times per shortest limit. It ends with
    // the server, or once the listener is closed and the last connection has gone (so that an
    // io_context with nothing else to do returns).
    auto sweep = [st]() -> asio::awaitable<void> {
        auto const interval = st->interval;
        while (!st->stopped && (st->acceptor.is_open() || !st->open.empty())) {
            error_code ec;
            st->sweep_timer.expires_after(interval);
            co_await st->sweep_timer.async_wait(use_ec(ec));
            if (st->stopped)
                break;
            st->sweep();
        }
    };
    asio::co_spawn(state_->ex, std::move(sweep), asio::detached);
}

void server::stop_accepting() {
    error_code ignored;
    state_->acceptor.close(ignored);
    state_->draining = true;
    // Idle keep-alive connections end now; their read fails and the connection closes.
    for (auto* c : state_->open)
        c->end_if_idle();
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
                              "Connections answered and closed at once: max-connections open, or "
                              "max-connections-per-client from one address")
                      .get();
    st.limit_hits.attach(reg);
}

void server::close_connections() {
    for (auto* c : state_->open)
        c->close();
}

void server::share_clients(std::shared_ptr<client_tally> clients) {
    state_->clients = std::move(clients);
}

std::size_t server::connection_count() const noexcept {
    return state_->open.size();
}
limits const& server::get_limits() const noexcept {
    return state_->lim;
}

} // namespace mcpd::http
