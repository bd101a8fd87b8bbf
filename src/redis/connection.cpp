// redis/connection.cpp — the Asio glue of a Redis connection (see connection.hpp).
//
// Each loop makes one Asio call per step and hands every decision to the multiplexer or the
// handshake. A connection ends the same way whatever ended it: fail_connection() records why,
// closes the socket and wakes the timers, and the loops (reader, writer, health) return.
#include "redis/connection.hpp"

#include "core/log.hpp"
#include "mcpd/redis/command_keys.hpp"
#include "mcpd/redis/error.hpp"
#include "mcpd/redis/subscriber.hpp"
#include "redis/handshake.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <netinet/tcp.h>

namespace mcpd::redis::detail {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol::socket;
using tls_stream = asio::ssl::stream<tcp::socket>;

namespace {
inline auto use_nothrow(error_code& ec) {
    return asio::redirect_error(asio::use_awaitable, ec);
}
} // namespace

// One of: a TCP socket, a TLS stream over TCP, a Unix socket.
class stream {
public:
    std::unique_ptr<tcp::socket> tcp_;
    std::unique_ptr<tls_stream> tls_;
    std::unique_ptr<unix_socket> unix_;

    asio::awaitable<std::size_t> read_some(asio::mutable_buffer b, error_code& ec) {
        if (tls_)
            co_return co_await tls_->async_read_some(b, use_nothrow(ec));
        if (tcp_)
            co_return co_await tcp_->async_read_some(b, use_nothrow(ec));
        co_return co_await unix_->async_read_some(b, use_nothrow(ec));
    }
    asio::awaitable<std::size_t> write(asio::const_buffer b, error_code& ec) {
        if (tls_)
            co_return co_await asio::async_write(*tls_, b, use_nothrow(ec));
        if (tcp_)
            co_return co_await asio::async_write(*tcp_, b, use_nothrow(ec));
        co_return co_await asio::async_write(*unix_, b, use_nothrow(ec));
    }
    // Plain sockets can be written without blocking right now (TLS records need the async path).
    [[nodiscard]] bool can_write_now() const noexcept { return !tls_ && (tcp_ || unix_); }
    // Sends what the kernel takes at once; would_block when it takes nothing.
    // Precondition: the socket was put in non-blocking mode when it connected.
    std::size_t write_now(asio::const_buffer b, error_code& ec) {
        return tcp_ ? tcp_->write_some(b, ec) : unix_->write_some(b, ec);
    }
    template <class Handler>
    void async_write(asio::const_buffer b, Handler&& h) {
        if (tls_)
            asio::async_write(*tls_, b, std::forward<Handler>(h));
        else if (tcp_)
            asio::async_write(*tcp_, b, std::forward<Handler>(h));
        else
            asio::async_write(*unix_, b, std::forward<Handler>(h));
    }
    // Closes and forgets the socket, ready for the next connect (a sentinel, then the master).
    void reset() noexcept {
        close();
        tls_.reset();
        tcp_.reset();
        unix_.reset();
    }
    // Closes the socket: every pending operation on it completes with operation_aborted.
    void close() noexcept {
        error_code ignored;
        if (tls_)
            tls_->lowest_layer().close(ignored);
        if (tcp_)
            tcp_->close(ignored);
        if (unix_)
            unix_->close(ignored);
    }
};

connection::connection(asio::any_io_executor const& ex, config cfg)
    : strand_(asio::make_strand(ex))
    , cfg_(std::move(cfg))
    , stream_(std::make_shared<stream>())
    , deadline_timer_(strand_)
    , reconnect_timer_(strand_)
    , health_timer_(strand_) {}

connection::~connection() = default;

std::string connection::topology() const {
    if (!cfg_.unix_path.empty())
        return "standalone at unix:" + cfg_.unix_path;
    if (cfg_.sentinel.sentinels.empty())
        return "standalone at " + cfg_.host + ":" + std::to_string(cfg_.port);
    std::string out = "Sentinel master '" + cfg_.sentinel.master_name + "' (" +
                      std::to_string(cfg_.sentinel.sentinels.size()) + " sentinels)";
    std::lock_guard lock(master_mutex_);
    if (!master_.host.empty())
        out += " at " + master_.host + ":" + std::to_string(master_.port);
    return out;
}

client_stats connection::stats() const noexcept {
    return {counters_.requests.load(), counters_.failures.load(), counters_.reconnects.load(),
            counters_.connection_errors.load()};
}

// --- entry points (any thread) ------------------------------------------------------------

void connection::start() {
    asio::post(strand_, [self = shared_from_this()] { self->do_start(); });
}

void connection::submit(request_ptr r) {
    // A caller resumed by one of our completions runs on the strand: queue directly, so its
    // request can go out in the write that complete_finished() starts.
    if (strand_.running_in_this_thread()) {
        do_start();
        do_submit(std::move(r), false);
        return;
    }
    asio::post(strand_, [self = shared_from_this(), r = std::move(r)]() mutable {
        self->do_start();
        self->do_submit(std::move(r), false);
    });
}

void connection::cancel(std::weak_ptr<request_state> weak) {
    asio::post(strand_, [self = shared_from_this(), weak = std::move(weak)] {
        if (auto r = weak.lock()) {
            self->mux_.cancel(*r);
            self->complete_finished();
        }
    });
}

void connection::quit(quit_handler h) {
    asio::post(strand_, [self = shared_from_this(), h = std::move(h)]() mutable {
        if (self->closed_ || !self->started_) {
            self->closed_ = true;
            self->set_state(connection_state::closed);
            complete_with(std::move(h), result<void>());
            return;
        }
        self->quit_waiters_.push_back(std::move(h));
        self->closing_ = true;
        self->set_state(connection_state::closing);
        self->check_quit();
    });
}

void connection::disconnect() {
    asio::post(strand_, [self = shared_from_this()] {
        if (self->closed_)
            return;
        error why(client_errc::disconnected);
        self->mux_.fail_all(why);
        self->finalize_close(why);
        self->complete_finished(); // callers resume seeing the client closed
    });
}

// --- the connection's life ---------------------------------------------------------------

void connection::do_start() {
    if (started_ || closed_)
        return;
    started_ = true;
    auto on_exit = [self = shared_from_this()](std::exception_ptr const& e) {
        if (!e)
            return;
        log::error("redis: connection task failed: {}", log::what_of(e));
        self->mux_.fail_all(error(client_errc::disconnected, "internal error"));
        self->finalize_close(error(client_errc::disconnected, "internal error"));
    };
    asio::co_spawn(strand_, run(), on_exit);
    asio::co_spawn(strand_, deadline_loop(), on_exit);
    if (!cfg_.sentinel.sentinels.empty())
        asio::co_spawn(strand_, watch_sentinels(), [](std::exception_ptr const& e) {
            if (e)
                log::error("redis: the Sentinel watch failed; masters are still found on "
                           "every reconnect");
        });
}

asio::awaitable<void> connection::watch_sentinels() {
    auto self = shared_from_this();
    auto const& s = cfg_.sentinel;
    config asked = sentinel_config();
    asked.reconnect = nullptr; // a lost sentinel: move on to the next one
    asked.client_name = cfg_.client_name.empty() ? "" : cfg_.client_name + "-sentinel-watch";
    std::size_t i = sentinel_first_;
    while (!closed_) {
        node_address const& at = s.sentinels[i % s.sentinels.size()];
        asked.host = at.host;
        asked.port = at.port;
        auto sub = std::make_shared<redis::subscriber>(strand_, asked);
        sentinel_watch_ = sub;
        std::vector<std::string> channels{"+switch-master"}; // named: GCC 12 coroutine bug
        if (co_await sub->subscribe(std::move(channels)))
            for (;;) {
                auto m = co_await sub->receive();
                if (!m)
                    break;
                on_switch_master(m->payload);
            }
        sub->disconnect();
        sentinel_watch_.reset();
        if (closed_)
            break;
        ++i;
        asio::steady_timer pause(strand_, std::chrono::seconds(1));
        error_code ec;
        co_await pause.async_wait(use_nothrow(ec));
    }
}

void connection::on_switch_master(std::string_view payload) {
    // "<master name> <old ip> <old port> <new ip> <new port>"
    std::vector<std::string_view> words;
    while (!payload.empty()) {
        auto space = payload.find(' ');
        words.push_back(payload.substr(0, space));
        payload = space == std::string_view::npos ? std::string_view() : payload.substr(space + 1);
    }
    if (words.size() != 5 || words[0] != cfg_.sentinel.master_name)
        return;
    node_address to{std::string(words[3]), 0};
    auto [p, ec] = std::from_chars(words[4].data(), words[4].data() + words[4].size(), to.port);
    if (ec != std::errc() || to.port == 0)
        return;
    log::info("redis {}: the sentinels moved master '{}' to {}:{}", cfg_.redacted_url(),
              cfg_.sentinel.master_name, to.host, to.port);
    bool live = mux_.ready() && !conn_failed_;
    if (live && to == master_)
        return;
    if (live)
        fail_connection(error(client_errc::connection_lost,
                              "the sentinels moved master '" + cfg_.sentinel.master_name + "' to " +
                                  to.host + ":" + std::to_string(to.port)));
    else
        reconnect_timer_.cancel(); // waiting to retry: try the new master now
}

asio::awaitable<void> connection::run() {
    auto self = shared_from_this(); // the loops keep the connection alive until closed
    std::uint32_t attempt = 0;
    bool lost_after_ready = false;
    while (!closed_) {
        set_state(ever_ready_ ? connection_state::reconnecting : connection_state::connecting);
        if (closing_)
            set_state(connection_state::closing);
        error why;
        if (auto opened = co_await open()) {
            attempt = 0;
            if (ever_ready_)
                ++counters_.reconnects;
            conn_failed_ = false;
            conn_error_ = {};
            writing_ = false;
            ++generation_;
            last_read_ = steady_clock::now();
            became_ready(protocol_);
            why = co_await serve();
            lost_after_ready = true;
        } else {
            why = opened.error();
        }
        stream_->close();
        if (closed_)
            break;
        last_error_ = why;
        mux_.on_connection_lost(why, policy());
        complete_finished();
        ++counters_.connection_errors;
        // Log the first failure of an outage loudly, the retries quietly.
        if (lost_after_ready || attempt == 0)
            log::warn("redis {}: {}", cfg_.redacted_url(), why.message());
        else
            log::debug("redis {}: {}", cfg_.redacted_url(), why.message());
        lost_after_ready = false;
        emit({event::kind::error, attempt, {}, 0, why});
        if (closing_ && mux_.idle()) {
            finalize_close(why);
            break;
        }
        ++attempt;
        std::optional<duration> delay;
        if (cfg_.reconnect)
            delay = cfg_.reconnect(attempt, why);
        if (!delay) {
            error gave_up(client_errc::reconnect_gave_up,
                          "after " + std::to_string(attempt) + " attempts; last: " + why.message());
            mux_.fail_all(gave_up);
            finalize_close(gave_up);
            complete_finished(); // callers resume seeing the client closed
            break;
        }
        emit({event::kind::reconnecting, attempt, *delay, 0, why});
        reconnect_timer_.expires_after(*delay);
        error_code ec;
        co_await reconnect_timer_.async_wait(use_nothrow(ec));
    }
}

asio::awaitable<void> connection::deadline_loop() {
    auto self = shared_from_this();
    while (!closed_) {
        armed_deadline_ = mux_.next_deadline();
        deadline_timer_.expires_at(armed_deadline_);
        error_code ec;
        co_await deadline_timer_.async_wait(use_nothrow(ec));
        if (closed_)
            break;
        if (!ec) {
            // A request that waited for a connection that never came says why it never came.
            std::string waited;
            if (!mux_.ready() && last_error_.code)
                waited = "waited for a connection; last error: " + last_error_.message();
            mux_.expire(steady_clock::now(), waited);
            complete_finished();
        }
    }
}

namespace {

// Closes `s` when `limit` passes before the watchdog is destroyed: whatever step is running on
// it is aborted. Its state is shared because its handler may run after the watchdog is gone.
class watchdog {
public:
    watchdog(asio::strand<asio::any_io_executor> const& strand, std::shared_ptr<stream> s,
             duration limit)
        : fired_(std::make_shared<bool>(false))
        , timer_(strand, limit) {
        timer_.async_wait([fired = fired_, s = std::move(s)](error_code ec) {
            if (ec)
                return;
            *fired = true;
            s->close();
        });
    }
    ~watchdog() { timer_.cancel(); }
    watchdog(watchdog const&) = delete;
    watchdog& operator=(watchdog const&) = delete;
    [[nodiscard]] bool fired() const noexcept { return *fired_; }

private:
    std::shared_ptr<bool> fired_;
    asio::steady_timer timer_;
};

} // namespace

asio::awaitable<result<void>> connection::open() {
    stream_ = std::make_shared<stream>();
    watchdog wd(strand_, stream_, cfg_.connect_timeout);
    auto r = co_await open_steps();
    if (wd.fired())
        co_return error(client_errc::connect_timeout,
                        "no connection within " + format_duration(cfg_.connect_timeout));
    co_return r;
}

asio::awaitable<result<void>> connection::open_steps() {
    error_code ec;
    rbeg_ = rend_ = 0;
    if (!cfg_.unix_path.empty()) {
        stream_->unix_ = std::make_unique<unix_socket>(strand_);
        co_await stream_->unix_->async_connect(
            asio::local::stream_protocol::endpoint(cfg_.unix_path), use_nothrow(ec));
        if (ec)
            co_return error(ec, "connect unix:" + cfg_.unix_path);
        stream_->unix_->non_blocking(true, ec); // for write_now()
        if (ec)
            co_return error(ec, "non-blocking mode");
        co_return co_await run_handshake(cfg_);
    }

    node_address target{cfg_.host, cfg_.port};
    if (!cfg_.cluster.seeds.empty()) {
        // Pub/sub on a cluster: every node carries every channel, any seed will do; a lost
        // one is replaced by the next.
        target = cfg_.cluster.seeds[next_seed_++ % cfg_.cluster.seeds.size()];
    } else if (!cfg_.sentinel.sentinels.empty()) {
        auto master = co_await discover_master();
        if (!master)
            co_return master.error();
        target = std::move(*master);
    }
    if (auto connected = co_await connect_tcp(target); !connected)
        co_return connected.error();
    auto done = co_await run_handshake(cfg_, readonly_replica);
    if (done && !cfg_.sentinel.sentinels.empty() && !(target == master_)) {
        log::info("redis {}: master '{}' is at {}:{}", cfg_.redacted_url(),
                  cfg_.sentinel.master_name, target.host, target.port);
        std::lock_guard lock(master_mutex_);
        master_ = std::move(target);
    }
    co_return done;
}

asio::awaitable<result<void>> connection::connect_tcp(node_address const& to) {
    error_code ec;
    rbeg_ = rend_ = 0;
    stream_->reset();
    tcp::resolver resolver(strand_);
    auto endpoints =
        co_await resolver.async_resolve(to.host, std::to_string(to.port), use_nothrow(ec));
    if (ec)
        co_return error(ec, "resolve " + to.host);
    auto socket = std::make_unique<tcp::socket>(strand_);
    co_await asio::async_connect(*socket, endpoints, use_nothrow(ec));
    if (ec)
        co_return error(ec, "connect " + to.host + ":" + std::to_string(to.port));
    socket->set_option(tcp::no_delay(true), ec);
    if (cfg_.tcp_keepalive.count() > 0) {
        socket->set_option(asio::socket_base::keep_alive(true), ec);
        int idle = static_cast<int>(std::max<duration::rep>(1, cfg_.tcp_keepalive.count() / 1000));
        ::setsockopt(socket->native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    }

    if (!cfg_.tls.enabled) {
        socket->non_blocking(true, ec); // for write_now()
        if (ec)
            co_return error(ec, "non-blocking mode");
        stream_->tcp_ = std::move(socket);
        co_return result<void>();
    }

    if (!tls_context_) {
        auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
        ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                         asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                         asio::ssl::context::no_tlsv1_1);
        if (!cfg_.tls.ca_file.empty())
            ctx->load_verify_file(cfg_.tls.ca_file, ec);
        else
            ctx->set_default_verify_paths(ec);
        if (ec)
            co_return error(ec, "TLS CA " + cfg_.tls.ca_file);
        if (!cfg_.tls.cert_file.empty()) {
            ctx->use_certificate_chain_file(cfg_.tls.cert_file, ec);
            if (ec)
                co_return error(ec, "TLS client certificate " + cfg_.tls.cert_file);
            ctx->use_private_key_file(cfg_.tls.key_file.empty() ? cfg_.tls.cert_file
                                                                : cfg_.tls.key_file,
                                      asio::ssl::context::pem, ec);
            if (ec)
                co_return error(ec, "TLS client key " + cfg_.tls.key_file);
        }
        tls_context_ = std::move(ctx);
    }
    auto tls = std::make_unique<tls_stream>(std::move(*socket), *tls_context_);
    std::string const& name = cfg_.tls.server_name.empty() ? to.host : cfg_.tls.server_name;
    // SNI carries host names only; an IP address is verified against the certificate's IP SANs.
    error_code addr_ec;
    asio::ip::make_address(name, addr_ec);
    if (addr_ec)
        SSL_set_tlsext_host_name(tls->native_handle(), name.c_str());
    if (cfg_.tls.insecure_skip_verify) {
        tls->set_verify_mode(asio::ssl::verify_none);
    } else {
        tls->set_verify_mode(asio::ssl::verify_peer);
        tls->set_verify_callback(asio::ssl::host_name_verification(name));
    }
    stream_->tls_ = std::move(tls);
    co_await stream_->tls_->async_handshake(asio::ssl::stream_base::client, use_nothrow(ec));
    if (ec)
        co_return error(ec, "TLS handshake with " + name);
    co_return result<void>();
}

config connection::sentinel_config() const {
    // A sentinel is spoken to as a Redis with its own credentials and no database (TLS, the
    // timeouts and the client name as for the data nodes).
    config c = cfg_;
    c.sentinel = {};
    c.username = cfg_.sentinel.username;
    c.password = cfg_.sentinel.password;
    c.db = 0;
    c.unix_path.clear();
    return c;
}

asio::awaitable<result<node_address>> connection::discover_master() {
    auto const& s = cfg_.sentinel;
    config const asked = sentinel_config();
    // Each sentinel gets its share of the connect timeout, so one that swallows packets leaves
    // time to ask the others.
    auto share = std::max<duration>(cfg_.connect_timeout / static_cast<int>(s.sentinels.size() + 1),
                                    duration(200));
    std::string failures;
    for (std::size_t k = 0; k < s.sentinels.size() && !closed_; ++k) {
        std::size_t i = (sentinel_first_ + k) % s.sentinels.size();
        node_address const& at = s.sentinels[i];
        result<node_address> named = error(client_errc::no_master);
        {
            watchdog wd(strand_, stream_, share);
            named = co_await ask_sentinel(at, asked);
            if (wd.fired())
                named = error(client_errc::connect_timeout,
                              "no answer within " + format_duration(share));
        }
        stream_->reset();
        if (named) {
            sentinel_first_ = i;
            co_return named;
        }
        // An answer without the master says so in its detail; a failure needs its message.
        auto const& why = named.error();
        failures += (failures.empty() ? "" : "; ") + at.host + ":" + std::to_string(at.port) +
                    ": " + (why.code == client_errc::no_master ? why.detail : why.message());
    }
    co_return error(client_errc::no_master,
                    "no sentinel named master '" + s.master_name + "' (" + failures + ")");
}

asio::awaitable<result<node_address>> connection::ask_sentinel(node_address const& at,
                                                               config const& asked) {
    if (auto connected = co_await connect_tcp(at); !connected)
        co_return connected.error();
    if (auto hs = co_await run_handshake(asked); !hs)
        co_return hs.error();
    std::vector<command> ask;
    ask.emplace_back("SENTINEL", "get-master-addr-by-name", cfg_.sentinel.master_name);
    auto replies = co_await roundtrip(ask);
    if (!replies)
        co_return replies.error();
    value const& v = replies->front();
    if (v.is_error())
        co_return error(client_errc::no_master, std::string(v.as_string().value_or("")));
    if (v.is_null())
        co_return error(client_errc::no_master,
                        "it watches no master named '" + cfg_.sentinel.master_name + "'");
    auto host = v.elements.size() == 2 ? v.elements[0].as_string() : std::nullopt;
    auto port_text = v.elements.size() == 2 ? v.elements[1].as_string() : std::nullopt;
    std::uint16_t port = 0;
    if (port_text) {
        auto [p, ec] =
            std::from_chars(port_text->data(), port_text->data() + port_text->size(), port);
        if (ec != std::errc() || p != port_text->data() + port_text->size())
            port = 0;
    }
    if (!host || host->empty() || port == 0)
        co_return error(client_errc::unexpected_reply,
                        "SENTINEL get-master-addr-by-name: " + to_debug_string(v));
    co_return node_address{std::string(*host), port};
}

asio::awaitable<result<std::vector<value>>>
connection::roundtrip(std::vector<command> const& commands) {
    std::string out;
    for (auto const& c : commands)
        encode_command(out, c.args());
    error_code ec;
    co_await stream_->write(asio::buffer(out), ec);
    if (ec)
        co_return error(ec, "handshake write");
    resp_parser parser;
    std::vector<value> replies;
    while (replies.size() < commands.size()) {
        if (rbeg_ == rend_) {
            if (rbuf_.size() < 4096)
                rbuf_.resize(4096);
            rbeg_ = rend_ = 0;
            std::size_t n =
                co_await stream_->read_some(asio::buffer(rbuf_.data(), rbuf_.size()), ec);
            if (ec)
                co_return error(ec, "handshake read");
            rend_ = n;
        }
        std::size_t used = 0;
        auto st = parser.parse(std::string_view(rbuf_.data() + rbeg_, rend_ - rbeg_), used);
        rbeg_ += used;
        if (st == parse_status::error)
            co_return error(client_errc::protocol_error, std::string(parser.error_message()));
        if (st == parse_status::done) {
            value v = parser.take();
            if (v.type != resp_type::push) // a push cannot answer a command
                replies.push_back(std::move(v));
        } else if (rbeg_ < rend_ && used == 0) {
            // An incomplete element: move it to the front and read more behind it.
            std::memmove(rbuf_.data(), rbuf_.data() + rbeg_, rend_ - rbeg_);
            rend_ -= rbeg_;
            rbeg_ = 0;
            if (rend_ == rbuf_.size())
                rbuf_.resize(rbuf_.size() * 2);
            std::size_t n = co_await stream_->read_some(
                asio::buffer(rbuf_.data() + rend_, rbuf_.size() - rend_), ec);
            if (ec)
                co_return error(ec, "handshake read");
            rend_ += n;
        }
    }
    co_return replies;
}

asio::awaitable<result<void>> connection::run_handshake(config const& with, bool readonly) {
    handshake hs(with, readonly);
    auto act = hs.start();
    while (act == handshake::action::send) {
        auto replies = co_await roundtrip(hs.commands());
        if (!replies)
            co_return replies.error();
        act = hs.on_replies(*replies);
    }
    for (auto const& w : hs.warnings())
        log::warn("redis {}: {}", cfg_.redacted_url(), w);
    if (act == handshake::action::fail)
        co_return hs.failure();
    protocol_ = hs.protocol();
    co_return result<void>();
}

void connection::became_ready(int protocol) {
    mux_.set_subscriber_mode(subscriber_mode && protocol == 2);
    mux_.set_ready(true);
    if (on_ready) {
        auto first = on_ready(protocol);
        for (auto it = first.rbegin(); it != first.rend(); ++it)
            mux_.add(*it, true);
    }
    set_state(closing_ ? connection_state::closing : connection_state::ready);
    ever_ready_ = true;
    log::debug("redis {}: connected (RESP{})", cfg_.redacted_url(), protocol);
    emit({event::kind::connected, 0, {}, protocol, {}});
    start_write();
    check_quit();
}

asio::awaitable<error> connection::serve() {
    using namespace asio::experimental::awaitable_operators;
    co_await (reader() && health());
    co_return conn_error_;
}

void connection::fail_connection(error e) {
    if (conn_failed_)
        return;
    conn_failed_ = true;
    conn_error_ = std::move(e);
    stream_->close();
    health_timer_.cancel();
    if (on_lost)
        on_lost();
}

asio::awaitable<void> connection::reader() {
    // Room for a whole chunk before every read: a listing's reply is tens of kilobytes, and
    // every read is a system call and an ACK on the wire (4 KiB reads cost a third of a
    // list-of-50's time). A buffer that grew for a huge reply is given back once it drains.
    constexpr std::size_t read_chunk = std::size_t{64} * 1024;
    while (!conn_failed_) {
        if (rbeg_ == rend_) {
            rbeg_ = rend_ = 0;
            if (rbuf_.size() > 16 * read_chunk) {
                rbuf_.resize(read_chunk);
                rbuf_.shrink_to_fit();
            }
        } else if (rbuf_.size() - rend_ < read_chunk && rbeg_ > 0) {
            std::memmove(rbuf_.data(), rbuf_.data() + rbeg_, rend_ - rbeg_);
            rend_ -= rbeg_;
            rbeg_ = 0;
        }
        if (rbuf_.size() - rend_ < read_chunk)
            rbuf_.resize(rend_ + read_chunk);
        error_code ec;
        std::size_t n = co_await stream_->read_some(
            asio::buffer(rbuf_.data() + rend_, rbuf_.size() - rend_), ec);
        if (conn_failed_)
            break;
        if (ec) {
            fail_connection(error(client_errc::connection_lost,
                                  ec == asio::error::eof ? "the server closed the connection"
                                                         : "read: " + ec.message()));
            break;
        }
        rend_ += n;
        last_read_ = steady_clock::now();
        auto used = mux_.consume(std::string_view(rbuf_.data() + rbeg_, rend_ - rbeg_));
        if (!used) {
            fail_connection(used.error());
            break;
        }
        rbeg_ += *used;
        // Pushes first: an invalidation read together with a reply reaches the near cache
        // before that reply's caller resumes (and may keep a copy).
        deliver_pushes();
        complete_finished();
    }
}

void connection::start_write() {
    if (writing_ || conn_failed_ || !mux_.has_pending_write())
        return;
    std::string_view bytes = mux_.prepare_write(); // valid until committed: no other write starts
    std::size_t sent = 0;
    if (stream_->can_write_now()) {
        // Send here and now rather than from a completion handler that runs only after the
        // current batch of replies is handed out: the server starts on these at once.
        error_code ec;
        sent = stream_->write_now(asio::buffer(bytes.data(), bytes.size()), ec);
        if (ec && ec != asio::error::would_block) {
            fail_connection(error(client_errc::connection_lost, "write: " + ec.message()));
            return;
        }
        if (sent == bytes.size()) {
            mux_.commit_write();
            complete_finished(); // requests owing no reply finish on commit
            return;
        }
    }
    writing_ = true;
    bytes.remove_prefix(sent);
    stream_->async_write(asio::buffer(bytes.data(), bytes.size()),
                         [self = shared_from_this(), s = stream_, gen = generation_](
                             error_code ec, std::size_t) { self->on_write(gen, ec); });
}

void connection::on_write(std::uint64_t generation, error_code ec) {
    if (generation != generation_)
        return; // the connection this write belonged to is gone; its requests were handled then
    writing_ = false;
    if (conn_failed_)
        return;
    if (ec) {
        fail_connection(error(client_errc::connection_lost, "write: " + ec.message()));
        return;
    }
    mux_.commit_write();
    complete_finished();
    start_write();
}

asio::awaitable<void> connection::health() {
    auto const interval = cfg_.health_check_interval;
    while (!conn_failed_) {
        health_timer_.expires_after(interval.count() > 0 ? interval : duration::max());
        error_code ec;
        co_await health_timer_.async_wait(use_nothrow(ec));
        if (conn_failed_ || interval.count() <= 0)
            break;
        // Only an idle connection is probed: traffic proves it alive, and a PING queued behind
        // a slow command would time out and tear down a healthy connection. A busy one is dead
        // when the reply it waits for is owed to a caller that gave up, a whole interval past
        // that caller's deadline, with nothing read meanwhile: a silent network partition
        // (TCP retransmits for many minutes) or a hung server. Nothing else would notice, since
        // the requests owed keep the connection from ever being idle.
        auto now = steady_clock::now();
        if (now - last_read_ < interval)
            continue;
        if (auto deadline = mux_.abandoned_head_deadline();
            deadline != steady_clock::time_point::max() && now - interval >= deadline) {
            fail_connection(
                error(client_errc::connection_lost,
                      "no reply for " +
                          format_duration(std::chrono::duration_cast<duration>(now - last_read_)) +
                          " while " + std::to_string(mux_.in_flight()) +
                          " requests are owed, the oldest timed out or cancelled"));
            break;
        }
        if (!mux_.idle())
            continue;
        auto ping = std::make_shared<internal_request>();
        encode_command(ping->payload, command("PING").args());
        ping->expected_replies = 1;
        ping->retry_on_connection_lost = false;
        ping->deadline = now + interval;
        bool answered = false;
        ping->on_done = [this, &answered](internal_request& r) {
            answered = !r.failure.code;
            health_timer_.cancel();
        };
        do_submit(ping, true);
        if (ping->st != request_state::stage::finished) {
            health_timer_.expires_at(steady_clock::time_point::max());
            co_await health_timer_.async_wait(use_nothrow(ec));
        }
        ping->on_done = nullptr; // `answered` lives in this frame
        if (conn_failed_)
            break;
        if (!answered) {
            fail_connection(error(client_errc::connection_lost,
                                  "health check: no PONG within " + format_duration(interval)));
            break;
        }
    }
}

// --- requests ------------------------------------------------------------------------------

void connection::do_submit(request_ptr r, bool internal) {
    auto refuse = [&](client_errc why) {
        r->st = request_state::stage::finished;
        r->failure = error(why);
        ++counters_.failures;
        // Completed from a fresh handler: a caller retrying in a loop must not recurse.
        asio::post(strand_, [r] { r->complete(); });
    };
    if (closed_)
        return refuse(client_errc::disconnected);
    if (closing_ && !internal)
        return refuse(client_errc::closing);
    if (!mux_.ready() && !internal) {
        if (!cfg_.offline_queue)
            return refuse(client_errc::not_connected);
        if (mux_.queued() >= cfg_.offline_queue_max)
            return refuse(client_errc::offline_queue_full);
    }
    ++counters_.requests;
    bool earlier = r->deadline < armed_deadline_;
    mux_.add(std::move(r));
    if (earlier)
        deadline_timer_.cancel(); // the deadline loop re-arms for the new earliest deadline
    schedule_write();
}

void connection::schedule_write() {
    // Inside complete_finished() the loop sends every few requests; elsewhere one send per turn
    // of the event loop carries everything queued during that turn (automatic pipelining).
    if (completing_active_ || write_scheduled_)
        return;
    write_scheduled_ = true;
    asio::post(strand_, [self = shared_from_this()] {
        self->write_scheduled_ = false;
        self->start_write();
    });
}

void connection::complete_finished() {
    // Re-entered from a caller resumed below (its request was sent and finished at once): the
    // loop here picks those up.
    if (completing_active_)
        return;
    completing_active_ = true;
    while (!mux_.finished().empty()) {
        completing_.swap(mux_.finished());
        std::size_t n = 0;
        for (auto& r : completing_) {
            if (r->failure.code && r->failure.code.category() == client_category())
                ++counters_.failures;
            if (!cfg_.sentinel.sentinels.empty())
                drop_if_demoted(*r);
            r->complete(); // may resume the caller here, who may queue its next request
            // Send what the resumed callers queued so far when the server is about to run out
            // of work (it has less in flight than we hold): it works while we resume the rest.
            // Without this client and server take turns; sending every request alone would
            // cost a loopback send each.
            if (++n % 64 == 0 && mux_.queued() >= mux_.in_flight())
                start_write();
        }
        completing_.clear();
        start_write();
    }
    completing_active_ = false;
    check_quit();
}

void connection::drop_if_demoted(request_state const& r) {
    if (conn_failed_)
        return;
    for (auto const& v : r.replies)
        if (v.is_error() && v.as_string().value_or("").starts_with("READONLY")) {
            fail_connection(error(client_errc::connection_lost,
                                  "READONLY from " + master_.host + ":" +
                                      std::to_string(master_.port) +
                                      ": the master was demoted; asking the sentinels again"));
            return;
        }
}

void connection::deliver_pushes() {
    auto& pushes = mux_.pushes();
    if (pushes.empty())
        return;
    for (auto& v : pushes) {
        if (on_push)
            on_push(std::move(v));
        else if (v.is_error())
            log::warn("redis {}: error reply with no request waiting: {}", cfg_.redacted_url(),
                      to_debug_string(v));
    }
    pushes.clear();
}

// --- closing -------------------------------------------------------------------------------

void connection::check_quit() {
    if (!closing_ || closed_ || quit_sent_ || !mux_.idle())
        return;
    if (!mux_.ready()) {
        finalize_close({});
        return;
    }
    // Everything was answered: say goodbye. Servers that no longer take QUIT answer with an
    // error, which changes nothing: the socket is closed either way.
    quit_sent_ = true;
    auto q = std::make_shared<internal_request>();
    encode_command(q->payload, command("QUIT").args());
    q->expected_replies = 1;
    q->retry_on_connection_lost = false;
    q->deadline = steady_clock::now() + std::chrono::seconds(2);
    q->on_done = [self = shared_from_this()](internal_request&) { self->finalize_close({}); };
    do_submit(q, true);
}

void connection::finalize_close(error const& why) {
    if (closed_)
        return;
    closed_ = true;
    closing_ = true;
    fail_connection(why.code ? why : error(client_errc::disconnected));
    deadline_timer_.cancel();
    reconnect_timer_.cancel();
    if (sentinel_watch_)
        sentinel_watch_->disconnect();
    set_state(connection_state::closed);
    emit({event::kind::closed, 0, {}, 0, why});
    auto waiters = std::move(quit_waiters_);
    for (auto& h : waiters)
        complete_with(std::move(h), result<void>());
}

void connection::set_event_handler(std::function<void(event const&)> handler) {
    std::lock_guard lock(event_mutex_);
    on_event_ = std::move(handler);
}

void connection::detach() {
    set_event_handler(nullptr);
    disconnect();
}

void connection::emit(event const& e) {
    std::function<void(event const&)> handler;
    {
        std::lock_guard lock(event_mutex_);
        handler = on_event_;
    }
    if (handler)
        handler(e);
}

} // namespace mcpd::redis::detail

// --- execute: a caller's request from its coroutine to the strand and back -----------------

namespace mcpd::redis::detail {
namespace {

// A request that resumes its caller. Holding the caller's concrete handler (no type erasure)
// keeps a request to one allocation; `Result` is what the caller gets, made by `convert`.
template <class Handler, class Result>
struct caller_request final : request_state {
    Handler handler;
    bool armed = true; // the handler has not been called
    asio::cancellation_slot slot;
    Result (*convert)(request_state&);

    caller_request(Handler h, Result (*c)(request_state&))
        : handler(std::move(h))
        , convert(c) {}

    void complete() override {
        if (!armed)
            return;
        armed = false;
        if (slot.is_connected())
            slot.clear();
        complete_with(std::move(handler), convert(*this));
    }
};

result<std::vector<value>> all_replies(request_state& r) {
    if (r.failure.code)
        return std::move(r.failure);
    return std::vector<value>(std::make_move_iterator(r.replies.begin()),
                              std::make_move_iterator(r.replies.end()));
}

result<value> one_reply(request_state& r) {
    if (r.failure.code)
        return std::move(r.failure);
    value& v = r.replies.front();
    if (v.is_error()) {
        std::string text(v.as_string().value_or(""));
        auto kind = classify_server_error(text); // before text is moved from
        return error(kind, std::move(text));
    }
    return std::move(v);
}

bool is_pubsub_command(std::string_view name) {
    static constexpr std::string_view names[] = {"SUBSCRIBE",   "PSUBSCRIBE",   "SSUBSCRIBE",
                                                 "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE",
                                                 "MONITOR"};
    for (auto n : names)
        if (name.size() == n.size() &&
            std::equal(name.begin(), name.end(), n.begin(), [](char a, char b) {
                return std::toupper(static_cast<unsigned char>(a)) == b;
            }))
            return true;
    return false;
}

// What a request needs besides its handler, prepared in the caller's coroutine.
struct prepared {
    std::string payload;
    std::uint32_t expected = 0;
    bool retry = true;
    steady_clock::time_point deadline = steady_clock::time_point::max();
};

result<void> encode_into(prepared& p, config const& cfg, command const& c, bool prefixed,
                         bool pubsub) {
    if (c.empty())
        return error(client_errc::unsupported_command, "empty command");
    if (!pubsub && is_pubsub_command(c.name()))
        return error(client_errc::unsupported_command,
                     std::string(c.name()) + " needs redis::subscriber");
    if (prefixed)
        encode_command_prefixed(p.payload, c.args(), cfg.key_prefix);
    else
        encode_command(p.payload, c.args());
    return {};
}

void apply_options(prepared& p, config const& cfg, request_options const& o) {
    p.retry = o.retry_on_connection_lost;
    duration timeout = o.timeout.value_or(cfg.command_timeout);
    if (timeout.count() > 0)
        p.deadline = steady_clock::now() + timeout;
}

// Suspends the caller until the request finishes; resumes it with convert(request). A plain
// function (no coroutine frame of its own): the initiation owns what it needs by value.
template <class Result>
asio::awaitable<Result> submit_and_wait(std::shared_ptr<connection> conn, prepared p,
                                        Result (*convert)(request_state&)) {
    auto initiation = [conn = std::move(conn), p = std::move(p), convert](auto handler) mutable {
        using request_type = caller_request<decltype(handler), Result>;
        auto r = std::make_shared<request_type>(std::move(handler), convert);
        r->payload = std::move(p.payload);
        r->expected_replies = p.expected;
        r->retry_on_connection_lost = p.retry;
        r->deadline = p.deadline;
        auto slot = asio::get_associated_cancellation_slot(r->handler);
        if (slot.is_connected()) {
            r->slot = slot;
            slot.assign([conn, weak = std::weak_ptr<request_state>(r)](asio::cancellation_type) {
                conn->cancel(weak);
            });
        }
        conn->submit(std::move(r));
    };
    return asio::async_initiate<decltype(asio::use_awaitable), void(Result)>(std::move(initiation),
                                                                             asio::use_awaitable);
}

template <class Result>
asio::awaitable<Result> fail_now(error e) {
    co_return e;
}

} // namespace

asio::awaitable<result<std::vector<value>>> execute(std::shared_ptr<connection> conn, request req,
                                                    bool pubsub) {
    config const& cfg = conn->cfg();
    bool prefixed = req.options.apply_prefix && !cfg.key_prefix.empty();
    prepared p;
    for (auto const& c : req.commands)
        if (auto ok = encode_into(p, cfg, c, prefixed, pubsub); !ok)
            co_return ok.error();
    if (req.commands.empty())
        co_return std::vector<value>();
    p.expected = pubsub ? 0 : static_cast<std::uint32_t>(req.commands.size());
    apply_options(p, cfg, req.options);
    co_return co_await submit_and_wait(std::move(conn), std::move(p), &all_replies);
}

asio::awaitable<result<value>> execute_one(std::shared_ptr<connection> conn, command const& cmd,
                                           request_options opts) {
    // Not a coroutine: the common path costs no frame of ours, only the wait itself.
    config const& cfg = conn->cfg();
    prepared p;
    if (auto ok = encode_into(p, cfg, cmd, opts.apply_prefix && !cfg.key_prefix.empty(), false);
        !ok)
        return fail_now<result<value>>(std::move(ok.error()));
    p.expected = 1;
    apply_options(p, cfg, opts);
    return submit_and_wait(std::move(conn), std::move(p), &one_reply);
}

} // namespace mcpd::redis::detail

namespace mcpd::redis {

std::string_view to_string(connection_state s) noexcept {
    switch (s) {
    case connection_state::idle:
        return "idle";
    case connection_state::connecting:
        return "connecting";
    case connection_state::ready:
        return "ready";
    case connection_state::reconnecting:
        return "reconnecting";
    case connection_state::closing:
        return "closing";
    case connection_state::closed:
        return "closed";
    }
    return "unknown";
}

std::string_view to_string(event::kind k) noexcept {
    switch (k) {
    case event::kind::connected:
        return "connected";
    case event::kind::reconnecting:
        return "reconnecting";
    case event::kind::error:
        return "error";
    case event::kind::closed:
        return "closed";
    }
    return "unknown";
}

} // namespace mcpd::redis
