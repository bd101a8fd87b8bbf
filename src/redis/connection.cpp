// redis/connection.cpp — the Asio glue of a Redis connection (see connection.hpp).
//
// Each loop makes one Asio call per step and hands every decision to the multiplexer or the
// handshake. A connection ends the same way whatever ended it: fail_connection() records why,
// closes the socket and wakes the timers, and the loops (reader, writer, health) return.
#include "redis/connection.hpp"

#include "core/log.hpp"
#include "redis/command_keys.hpp"
#include "redis/error.hpp"
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

connection::connection(asio::any_io_executor ex, config cfg)
    : strand_(asio::make_strand(ex))
    , cfg_(std::move(cfg))
    , stream_(std::make_unique<stream>())
    , writer_signal_(strand_)
    , deadline_timer_(strand_)
    , reconnect_timer_(strand_)
    , health_timer_(strand_) {}

connection::~connection() = default;

client_stats connection::stats() const noexcept {
    return {counters_.requests.load(), counters_.failures.load(), counters_.reconnects.load(),
            counters_.connection_errors.load()};
}

// --- entry points (any thread) ------------------------------------------------------------

void connection::start() {
    asio::post(strand_, [self = shared_from_this()] { self->do_start(); });
}

void connection::submit(request_ptr r) {
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
    auto on_exit = [self = shared_from_this()](std::exception_ptr e) {
        if (!e)
            return;
        try {
            std::rethrow_exception(e);
        } catch (std::exception const& ex) {
            log::error("redis: connection task failed: {}", ex.what());
        }
        self->mux_.fail_all(error(client_errc::disconnected, "internal error"));
        self->finalize_close(error(client_errc::disconnected, "internal error"));
    };
    asio::co_spawn(strand_, run(), on_exit);
    asio::co_spawn(strand_, deadline_loop(), on_exit);
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
            became_ready(protocol_);
            why = co_await serve();
            lost_after_ready = true;
        } else {
            why = opened.error();
        }
        stream_->close();
        if (closed_)
            break;
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
            mux_.expire(steady_clock::now());
            complete_finished();
        }
    }
}

asio::awaitable<result<void>> connection::open() {
    // A watchdog bounds the whole set-up: when it fires it closes the socket, which aborts
    // whatever step is running. Its state is shared because its handler may run after we return.
    struct watchdog_state {
        bool fired = false;
    };
    auto wd = std::make_shared<watchdog_state>();
    stream_ = std::make_unique<stream>();
    asio::steady_timer watchdog(strand_);
    watchdog.expires_after(cfg_.connect_timeout);
    watchdog.async_wait([wd, s = stream_.get(), self = shared_from_this()](error_code ec) {
        if (ec || self->stream_.get() != s)
            return;
        wd->fired = true;
        s->close();
    });
    auto r = co_await open_steps();
    watchdog.cancel();
    if (wd->fired)
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
        co_return co_await run_handshake();
    }

    tcp::resolver resolver(strand_);
    auto endpoints =
        co_await resolver.async_resolve(cfg_.host, std::to_string(cfg_.port), use_nothrow(ec));
    if (ec)
        co_return error(ec, "resolve " + cfg_.host);
    auto socket = std::make_unique<tcp::socket>(strand_);
    co_await asio::async_connect(*socket, endpoints, use_nothrow(ec));
    if (ec)
        co_return error(ec, "connect " + cfg_.host + ":" + std::to_string(cfg_.port));
    socket->set_option(tcp::no_delay(true), ec);
    if (cfg_.tcp_keepalive.count() > 0) {
        socket->set_option(asio::socket_base::keep_alive(true), ec);
        int idle = static_cast<int>(std::max<duration::rep>(1, cfg_.tcp_keepalive.count() / 1000));
        ::setsockopt(socket->native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    }

    if (!cfg_.tls.enabled) {
        stream_->tcp_ = std::move(socket);
        co_return co_await run_handshake();
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
    std::string const& name = cfg_.tls.server_name.empty() ? cfg_.host : cfg_.tls.server_name;
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
    co_return co_await run_handshake();
}

asio::awaitable<result<void>> connection::run_handshake() {
    handshake hs(cfg_);
    auto act = hs.start();
    resp_parser parser;
    while (act == handshake::action::send) {
        std::string out;
        for (auto const& c : hs.commands())
            encode_command(out, c.args());
        error_code ec;
        co_await stream_->write(asio::buffer(out), ec);
        if (ec)
            co_return error(ec, "handshake write");
        std::vector<value> replies;
        while (replies.size() < hs.commands().size()) {
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
                if (v.type != resp_type::push) // a push cannot answer a handshake command
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
        act = hs.on_replies(replies);
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
        auto first = on_ready();
        for (auto it = first.rbegin(); it != first.rend(); ++it)
            mux_.add(*it, true);
    }
    set_state(closing_ ? connection_state::closing : connection_state::ready);
    ever_ready_ = true;
    log::debug("redis {}: connected (RESP{})", cfg_.redacted_url(), protocol);
    emit({event::kind::connected, 0, {}, protocol, {}});
    notify_writer();
    check_quit();
}

asio::awaitable<error> connection::serve() {
    using namespace asio::experimental::awaitable_operators;
    conn_failed_ = false;
    conn_error_ = {};
    last_read_ = steady_clock::now();
    co_await (reader() && writer() && health());
    co_return conn_error_;
}

void connection::fail_connection(error e) {
    if (conn_failed_)
        return;
    conn_failed_ = true;
    conn_error_ = std::move(e);
    stream_->close();
    writer_signal_.cancel();
    health_timer_.cancel();
}

asio::awaitable<void> connection::reader() {
    while (!conn_failed_) {
        if (rbeg_ == rend_) {
            rbeg_ = rend_ = 0;
        } else if (rbuf_.size() - rend_ < 1024 && rbeg_ > 0) {
            std::memmove(rbuf_.data(), rbuf_.data() + rbeg_, rend_ - rbeg_);
            rend_ -= rbeg_;
            rbeg_ = 0;
        }
        if (rbuf_.size() - rend_ < 1024)
            rbuf_.resize(std::max<std::size_t>(16 * 1024, rbuf_.size() * 2));
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
        complete_finished();
        deliver_pushes();
    }
}

asio::awaitable<void> connection::writer() {
    while (!conn_failed_) {
        while (mux_.has_pending_write()) {
            std::string_view bytes = mux_.prepare_write();
            error_code ec;
            co_await stream_->write(asio::buffer(bytes.data(), bytes.size()), ec);
            if (conn_failed_)
                co_return;
            if (ec) {
                fail_connection(error(client_errc::connection_lost, "write: " + ec.message()));
                co_return;
            }
            mux_.commit_write();
            complete_finished();
        }
        writer_signal_.expires_at(steady_clock::time_point::max());
        error_code ec;
        co_await writer_signal_.async_wait(use_nothrow(ec));
    }
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
        // a slow command would time out and tear down a healthy connection.
        auto now = steady_clock::now();
        if (now - last_read_ < interval || !mux_.idle())
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
        r->complete();
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
    notify_writer();
}

void connection::notify_writer() {
    if (mux_.has_pending_write())
        writer_signal_.cancel();
}

void connection::complete_finished() {
    if (mux_.finished().empty())
        return;
    completing_.swap(mux_.finished());
    for (auto& r : completing_) {
        if (r->failure.code && r->failure.code.category() == client_category())
            ++counters_.failures;
        r->complete();
    }
    completing_.clear();
    check_quit();
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

void connection::emit(event e) {
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

using exec_result = result<std::vector<value>>;
using exec_handler = asio::any_completion_handler<void(exec_result)>;

struct caller_request : request_state {
    // optional: Asio 1.81's any_completion_handler move-assignment recurses; only construct it.
    std::optional<exec_handler> handler;
    asio::cancellation_slot slot;

    void complete() override {
        if (!handler)
            return;
        if (slot.is_connected())
            slot.clear();
        exec_result res =
            failure.code ? exec_result(std::move(failure)) : exec_result(std::move(replies));
        exec_handler h(std::move(*handler));
        handler.reset();
        complete_with(std::move(h), std::move(res));
    }
};

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

} // namespace

asio::awaitable<result<std::vector<value>>> execute(std::shared_ptr<connection> conn, request req,
                                                    bool pubsub) {
    auto r = std::make_shared<caller_request>();
    config const& cfg = conn->cfg();
    bool prefixed = req.options.apply_prefix && !cfg.key_prefix.empty();
    for (auto const& c : req.commands) {
        if (c.empty())
            co_return error(client_errc::unsupported_command, "empty command");
        if (!pubsub && is_pubsub_command(c.name()))
            co_return error(client_errc::unsupported_command,
                            std::string(c.name()) + " needs redis::subscriber");
        if (prefixed)
            encode_command_prefixed(r->payload, c.args(), cfg.key_prefix);
        else
            encode_command(r->payload, c.args());
    }
    if (req.commands.empty())
        co_return std::vector<value>();
    r->expected_replies = pubsub ? 0 : static_cast<std::uint32_t>(req.commands.size());
    r->retry_on_connection_lost = req.options.retry_on_connection_lost;
    duration timeout = req.options.timeout.value_or(cfg.command_timeout);
    if (timeout.count() > 0)
        r->deadline = steady_clock::now() + timeout;

    // GCC 12 may destroy a temporary inside a co_await expression twice: keep it named.
    auto initiation = [conn, r](auto handler) mutable {
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected()) {
            r->slot = slot;
            slot.assign([conn, weak = std::weak_ptr<request_state>(r)](asio::cancellation_type) {
                conn->cancel(weak);
            });
        }
        r->handler.emplace(std::move(handler));
        conn->submit(std::move(r));
    };
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(exec_result)>(
        std::move(initiation), asio::use_awaitable);
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
