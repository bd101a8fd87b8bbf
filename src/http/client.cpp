// http/client.cpp — connections, the pool, requests and streamed bodies. See client.hpp.
#include "http/client.hpp"

#include "core/ascii.hpp"
#include "core/url_text.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <openssl/err.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <deque>
#include <sys/socket.h>

namespace mcpd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

auto use_ec(error_code& ec) {
    return asio::redirect_error(asio::use_awaitable, ec);
}

result<url> from_view(boost::urls::url_view const& u, std::string_view text) {
    auto scheme = ascii_lower(u.scheme());
    if (!u.has_scheme() || !u.has_authority() || u.encoded_host().empty())
        return error{client_errc::invalid_url, std::string(text)};
    if (scheme != "http" && scheme != "https")
        return error{client_errc::unsupported_scheme, std::string(text)};
    if (u.has_userinfo())
        return error{client_errc::invalid_url, "credentials in a URL are refused (use a header): " +
                                                   std::string(u.encoded_host())};
    url out;
    out.scheme = scheme;
    out.host = u.host_address();
    // A name is decoded ("a%0d%0ab" is "a\r\nb"): what reaches DNS and the Host header must be
    // a DNS name (found by tests/fuzz/oauth_fuzz.cpp: a control character in a decoded host).
    if (u.host_type() == boost::urls::host_type::ipvfuture)
        return error{client_errc::invalid_url, std::string(text)};
    if (u.host_type() == boost::urls::host_type::name)
        for (char c : out.host)
            if (!(ascii_alnum(c) || c == '-' || c == '.' || c == '_'))
                return error{client_errc::invalid_url,
                             "the host of " + std::string(text) + " is not a DNS name"};
    if (u.has_port()) {
        auto digits = std::string_view(u.port());
        unsigned port = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
        if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() ||
            port == 0 || port > 65535)
            return error{client_errc::invalid_url, "bad port in " + std::string(text)};
        out.port = static_cast<std::uint16_t>(port);
    } else {
        out.port = scheme == "https" ? 443 : 80;
    }
    out.target = u.encoded_target();
    if (out.target.empty() || out.target.front() != '/')
        out.target.insert(0, "/");
    return out;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// URLs

std::string url::authority() const {
    std::string a = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (port != (tls() ? 443 : 80))
        a += ":" + std::to_string(port);
    return a;
}

std::string url::origin() const {
    return scheme + "://" + authority();
}

std::string url::text() const {
    return origin() + target;
}

result<url> parse_url(std::string_view text) {
    if (!url_text_parsable(text))
        return error{client_errc::invalid_url, std::string(text)};
    auto parsed = boost::urls::parse_uri(text);
    if (!parsed)
        return error{client_errc::invalid_url, std::string(text)};
    return from_view(*parsed, text);
}

result<url> resolve_url(url const& base, std::string_view reference) {
    if (!url_text_parsable(reference))
        return error{client_errc::invalid_url, std::string(reference)};
    auto ref = boost::urls::parse_uri_reference(reference);
    if (!ref)
        return error{client_errc::invalid_url, std::string(reference)};
    auto const base_text = base.text(); // the view below points into it
    auto b = boost::urls::parse_absolute_uri(base_text);
    if (!b)
        return error{client_errc::invalid_url, base_text};
    boost::urls::url dest(*b);
    auto r = dest.resolve(*ref);
    if (!r)
        return error{r.error(), "resolving " + std::string(reference)};
    return from_view(dest, reference);
}

// ---------------------------------------------------------------------------------------------
// Connections

namespace {

struct client_connection {
    std::string origin;
    std::optional<beast::tcp_stream> tcp;
    std::optional<ssl::stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;
    std::chrono::steady_clock::time_point idle_since;

    beast::tcp_stream& lowest() { return tls ? tls->next_layer() : *tcp; }
    [[nodiscard]] bool is_open() { return lowest().socket().is_open(); }
    void close() {
        error_code ignored;
        lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
        lowest().socket().close(ignored);
    }
    // An idle connection is usable when nothing arrived on it: a FIN (the server closed it) or
    // stray bytes (a TLS alert, garbage) both mean it must not carry another request.
    [[nodiscard]] bool looks_reusable() {
        if (!is_open() || buffer.size() != 0)
            return false;
        char byte = 0;
        auto n = ::recv(lowest().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
};

bool connection_dropped(error_code const& ec) {
    return ec == asio::error::eof || ec == asio::error::connection_reset ||
           ec == asio::error::broken_pipe || ec == bhttp::error::end_of_stream ||
           ec == ssl::error::stream_truncated;
}

} // namespace

struct client::state {
    state(asio::any_io_executor e, client_options o)
        : ex(std::move(e))
        , opts(std::move(o))
        , tls_context(ssl::context::tls_client) {}

    asio::any_io_executor ex;
    client_options opts;
    ssl::context tls_context;
    std::optional<error> tls_setup_error;
    std::deque<std::shared_ptr<client_connection>> idle;

    std::shared_ptr<client_connection> take_idle(std::string const& origin) {
        auto now = std::chrono::steady_clock::now();
        for (auto it = idle.begin(); it != idle.end();) {
            auto& c = *it;
            bool expired = now - c->idle_since > opts.idle_connection_ttl;
            if (c->origin == origin || expired) {
                auto conn = std::move(c);
                it = idle.erase(it);
                if (!expired && conn->looks_reusable())
                    return conn;
                conn->close();
                continue;
            }
            ++it;
        }
        return nullptr;
    }

    void put_idle(std::shared_ptr<client_connection> c) {
        if (opts.max_idle_connections == 0 || !c->looks_reusable()) {
            c->close();
            return;
        }
        c->idle_since = std::chrono::steady_clock::now();
        idle.push_back(std::move(c));
        while (idle.size() > opts.max_idle_connections) {
            idle.front()->close();
            idle.pop_front();
        }
    }
};

// ---------------------------------------------------------------------------------------------
// Responses

struct client_response::state {
    std::weak_ptr<client::state> owner;
    std::shared_ptr<client_connection> conn;
    std::shared_ptr<abort_handle> abort;
    bhttp::response_parser<bhttp::buffer_body> parser;
    std::array<char, std::size_t{16} * 1024> chunk{};
    bool aborted = false;
    bool failed = false;

    ~state() {
        if (abort)
            abort->on_abort(nullptr);
        if (!conn)
            return;
        auto o = owner.lock();
        if (o && !failed && !aborted && parser.is_done() && parser.keep_alive() && conn->is_open())
            o->put_idle(std::move(conn));
        else
            conn->close();
    }

    error fail(error_code ec, std::string what) {
        failed = true;
        conn->close();
        if (aborted || (abort && abort->aborted()))
            return error{client_errc::aborted, std::move(what)};
        return error{ec, std::move(what)};
    }

    // One piece of the body. The stream's expiry is the caller's.
    asio::awaitable<result<std::string_view>> piece() {
        for (;;) {
            if (parser.is_done())
                co_return std::string_view{};
            if (failed || !conn->is_open())
                co_return fail(aborted ? asio::error::operation_aborted
                                       : asio::error::not_connected,
                               "reading the response body");
            auto& body = parser.get().body();
            body.data = chunk.data();
            body.size = chunk.size();
            body.more = true;
            error_code ec;
            if (conn->tls)
                co_await bhttp::async_read_some(*conn->tls, conn->buffer, parser, use_ec(ec));
            else
                co_await bhttp::async_read_some(*conn->tcp, conn->buffer, parser, use_ec(ec));
            if (ec == bhttp::error::need_buffer)
                ec = {};
            if (ec == ssl::error::stream_truncated && parser.need_eof()) {
                // A TLS peer that closes without close_notify, on a body that ends at EOF.
                ec = {};
                parser.put_eof(ec);
            }
            std::size_t n = chunk.size() - parser.get().body().size;
            if (ec) {
                if (connection_dropped(ec))
                    co_return fail(client_errc::connection_closed, "reading the response body");
                co_return fail(ec, "reading the response body");
            }
            if (n > 0)
                co_return std::string_view(chunk.data(), n);
        }
    }
};

client_response::client_response(std::unique_ptr<state> s)
    : st_(std::move(s)) {}
client_response::client_response(client_response&&) noexcept = default;
client_response& client_response::operator=(client_response&&) noexcept = default;
client_response::~client_response() = default;

unsigned client_response::status() const noexcept {
    return st_->parser.get().result_int();
}

bhttp::fields const& client_response::headers() const noexcept {
    return st_->parser.get().base();
}

std::string_view client_response::header(std::string_view name) const {
    auto const& h = st_->parser.get().base();
    auto it = h.find(name);
    return it == h.end() ? std::string_view{} : std::string_view(it->value());
}

std::string client_response::media_type() const {
    auto v = header("Content-Type");
    v = v.substr(0, v.find(';'));
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
        v.remove_suffix(1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
        v.remove_prefix(1);
    return ascii_lower(v);
}

bool client_response::body_done() const noexcept {
    return st_->parser.is_done();
}

void client_response::abort() {
    st_->aborted = true;
    if (st_->conn)
        st_->conn->close();
}

asio::awaitable<result<std::string_view>> client_response::read_some() {
    auto o = st_->owner.lock();
    auto idle = o ? o->opts.stream_idle_timeout : duration::zero();
    if (idle > duration::zero())
        st_->conn->lowest().expires_after(idle);
    else
        st_->conn->lowest().expires_never();
    auto r = co_await st_->piece();
    if (!r && r.error() == beast::error::timeout)
        co_return error{beast::error::timeout,
                        "no data on the response stream for " + format_duration(idle)};
    co_return r;
}

asio::awaitable<result<std::string>> client_response::read_body() {
    auto o = st_->owner.lock();
    auto limit = o ? o->opts.max_body_bytes : std::size_t{16} * 1024 * 1024;
    auto timeout = o ? o->opts.response_timeout : std::chrono::seconds(30);
    st_->conn->lowest().expires_after(timeout);
    std::string body;
    for (;;) {
        auto r = co_await st_->piece();
        if (!r) {
            if (r.error() == beast::error::timeout)
                co_return error{beast::error::timeout,
                                "response body not received within " + format_duration(timeout)};
            co_return r.error();
        }
        if (r->empty())
            break;
        if (body.size() + r->size() > limit) {
            co_return st_->fail(client_errc::body_too_large,
                                "response body over " + std::to_string(limit) + " bytes");
        }
        body.append(*r);
    }
    st_->conn->lowest().expires_never();
    co_return body;
}

// ---------------------------------------------------------------------------------------------
// The client

void abort_handle::abort() {
    aborted_ = true;
    if (auto f = on_abort_)
        f();
}

client::client(asio::any_io_executor ex, client_options opts)
    : st_(std::make_shared<state>(std::move(ex), std::move(opts))) {
    auto& ctx = st_->tls_context;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    error_code ec;
    if (!st_->opts.ca_file.empty())
        ctx.load_verify_file(st_->opts.ca_file, ec);
    else
        ctx.set_default_verify_paths(ec);
    if (ec)
        st_->tls_setup_error =
            error{ec, "TLS trust store " + (st_->opts.ca_file.empty() ? std::string("(system)")
                                                                      : st_->opts.ca_file)};
}

client::~client() {
    close_idle();
}

void client::close_idle() {
    for (auto& c : st_->idle)
        c->close();
    st_->idle.clear();
}

std::size_t client::idle_connections() const noexcept {
    return st_->idle.size();
}

client_options const& client::options() const noexcept {
    return st_->opts;
}

asio::any_io_executor client::executor() const {
    return st_->ex;
}

namespace {

// DNS, TCP and (https) the TLS handshake, within the connect timeout.
asio::awaitable<result<std::shared_ptr<client_connection>>>
connect_to(client::state& st, url const& to, std::shared_ptr<abort_handle> const& abort) {
    auto conn = std::make_shared<client_connection>();
    conn->origin = to.origin();
    auto where = to.authority();

    auto resolver = std::make_shared<tcp::resolver>(st.ex);
    auto timer = std::make_shared<asio::steady_timer>(st.ex, st.opts.connect_timeout);
    auto resolve_timed_out = std::make_shared<bool>(false);
    timer->async_wait([resolver, resolve_timed_out](error_code ec) {
        if (!ec) {
            *resolve_timed_out = true;
            resolver->cancel();
        }
    });
    if (abort)
        abort->on_abort([resolver] { resolver->cancel(); });
    error_code ec;
    auto endpoints = co_await resolver->async_resolve(to.host, std::to_string(to.port), use_ec(ec));
    timer->cancel();
    if (abort && abort->aborted())
        co_return error{client_errc::aborted, "connecting to " + where};
    if (*resolve_timed_out)
        co_return error{beast::error::timeout, "resolving " + to.host + " took over " +
                                                   format_duration(st.opts.connect_timeout)};
    if (ec)
        co_return error{ec, "resolving " + to.host};
    // Only the addresses the policy allows are tried.
    std::vector<tcp::endpoint> allowed;
    std::string refusal;
    for (auto const& entry : endpoints) {
        auto ep = entry.endpoint();
        if (st.opts.refuse_address) {
            if (auto why = st.opts.refuse_address(ep.address()); !why.empty()) {
                if (refusal.empty())
                    refusal = why;
                continue;
            }
        }
        allowed.push_back(ep);
    }
    if (allowed.empty())
        co_return error{client_errc::address_refused,
                        to.host + " resolves to " +
                            (refusal.empty() ? std::string("no address") : refusal)};

    conn->tcp.emplace(st.ex);
    std::weak_ptr<client_connection> weak = conn;
    if (abort)
        abort->on_abort([weak] {
            if (auto c = weak.lock())
                c->close();
        });
    auto deadline = std::chrono::steady_clock::now() + st.opts.connect_timeout;
    conn->tcp->expires_at(deadline);
    co_await conn->tcp->async_connect(allowed, use_ec(ec));
    if (abort && abort->aborted())
        co_return error{client_errc::aborted, "connecting to " + where};
    if (ec == beast::error::timeout)
        co_return error{ec, "connecting to " + where + " took over " +
                                format_duration(st.opts.connect_timeout)};
    if (ec)
        co_return error{ec, "connecting to " + where};
    conn->tcp->socket().set_option(tcp::no_delay(true), ec);

    if (!to.tls()) {
        conn->tcp->expires_never();
        co_return conn;
    }
    if (st.tls_setup_error)
        co_return *st.tls_setup_error;
    auto plain = std::move(*conn->tcp);
    conn->tcp.reset();
    conn->tls.emplace(std::move(plain), st.tls_context);
    // SNI carries host names only; an IP address is checked against the certificate's IP SANs.
    error_code not_ip;
    asio::ip::make_address(to.host, not_ip);
    if (not_ip && !SSL_set_tlsext_host_name(conn->tls->native_handle(), to.host.c_str()))
        co_return error{
            error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()),
            "TLS server name " + to.host};
    conn->tls->set_verify_mode(ssl::verify_peer);
    conn->tls->set_verify_callback(ssl::host_name_verification(to.host));
    conn->tls->next_layer().expires_at(deadline);
    co_await conn->tls->async_handshake(ssl::stream_base::client, use_ec(ec));
    if (abort && abort->aborted())
        co_return error{client_errc::aborted, "TLS handshake with " + where};
    if (ec == beast::error::timeout)
        co_return error{ec, "TLS handshake with " + where + " took over " +
                                format_duration(st.opts.connect_timeout)};
    if (ec)
        co_return error{ec, "TLS handshake with " + where};
    conn->tls->next_layer().expires_never();
    co_return conn;
}

} // namespace

asio::awaitable<result<client_response>> client::open(url const& to, beast_request req,
                                                      exchange_options opts) {
    auto st = st_;
    auto what = std::string(req.method_string()) + " " + to.text();
    req.target(to.target);
    req.set(bhttp::field::host, to.authority());
    if (req[bhttp::field::user_agent].empty() && !st->opts.user_agent.empty())
        req.set(bhttp::field::user_agent, st->opts.user_agent);
    req.version(11);
    req.keep_alive(true);
    req.prepare_payload();
    auto timeout = opts.timeout.value_or(st->opts.response_timeout);

    for (int attempt = 0;; ++attempt) {
        if (opts.abort && opts.abort->aborted())
            co_return error{client_errc::aborted, what};
        auto conn = st->take_idle(to.origin());
        bool reused = conn != nullptr;
        if (!conn) {
            auto made = co_await connect_to(*st, to, opts.abort);
            if (!made) {
                if (opts.abort)
                    opts.abort->on_abort(nullptr);
                co_return made.error();
            }
            conn = std::move(*made);
        }
        if (opts.abort) {
            std::weak_ptr<client_connection> weak = conn;
            opts.abort->on_abort([weak] {
                if (auto c = weak.lock())
                    c->close();
            });
        }
        auto rs = std::make_unique<client_response::state>();
        rs->owner = st;
        rs->conn = conn;
        rs->abort = opts.abort;
        rs->parser.header_limit(static_cast<std::uint32_t>(st->opts.max_header_bytes));
        rs->parser.body_limit(boost::none); // bounded by read_body() or by the SSE parser

        if (timeout > duration::zero())
            conn->lowest().expires_after(timeout);
        else
            conn->lowest().expires_never();
        error_code ec;
        if (conn->tls)
            co_await bhttp::async_write(*conn->tls, req, use_ec(ec));
        else
            co_await bhttp::async_write(*conn->tcp, req, use_ec(ec));
        bool write_failed = static_cast<bool>(ec);
        if (!ec) {
            if (conn->tls)
                co_await bhttp::async_read_header(*conn->tls, conn->buffer, rs->parser, use_ec(ec));
            else
                co_await bhttp::async_read_header(*conn->tcp, conn->buffer, rs->parser, use_ec(ec));
        }
        if (ec) {
            bool nothing_back = !rs->parser.got_some();
            if (opts.abort && opts.abort->aborted())
                co_return rs->fail(ec, what);
            // A kept-alive connection the server closed just as we reused it. Sent again on a
            // new connection only when that cannot make the server act twice: the request did
            // not go out whole, or its method is idempotent. A POST that went out may have been
            // acted on (the server died after): that is the caller's error to see.
            bool idempotent =
                req.method() == bhttp::verb::get || req.method() == bhttp::verb::head ||
                req.method() == bhttp::verb::delete_ || req.method() == bhttp::verb::put;
            if (reused && attempt == 0 && nothing_back && connection_dropped(ec) &&
                (write_failed || idempotent)) {
                rs->failed = true;
                continue;
            }
            if (ec == beast::error::timeout)
                co_return rs->fail(ec, what + ": no response within " + format_duration(timeout));
            if (connection_dropped(ec))
                co_return rs->fail(client_errc::connection_closed, what);
            co_return rs->fail(ec, what);
        }
        conn->lowest().expires_never();
        co_return client_response(std::move(rs));
    }
}

asio::awaitable<result<beast_response>> client::fetch(url const& to, beast_request req,
                                                      exchange_options opts) {
    auto opened = co_await open(to, std::move(req), opts);
    if (!opened)
        co_return opened.error();
    auto body = co_await opened->read_body();
    if (!body)
        co_return body.error();
    beast_response res{static_cast<bhttp::status>(opened->status()), 11};
    for (auto const& f : opened->headers())
        res.insert(f.name_string(), f.value());
    res.body() = std::move(*body);
    co_return res;
}

} // namespace mcpd::http
