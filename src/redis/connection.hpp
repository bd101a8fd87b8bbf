// redis/connection.hpp — INTERNAL: one multiplexed Redis connection on Asio coroutines, the
// I/O glue around multiplexer (requests, replies) and handshake (set-up). The public faces are
// client (commands) and subscriber (pub/sub); this header is included by their .cpp files only.
//
// Concurrency: every member is touched on strand_ only. The public entry points (start,
// submit, cancel, quit, disconnect) post to it and are safe from any thread.
//
// Life of a connection (run()): connect (resolve, TCP or Unix, TLS, handshake, all bounded by
// connect_timeout) → ready (the reader and the health check run until one fails; writes are
// started by whoever queues a request, one at a time: start_write()) →
// lost: the multiplexer applies the loss policy → the retry strategy picks a delay or gives up
// → connect again. quit() lets the multiplexer drain, sends QUIT, then closes; disconnect()
// closes at once and fails whatever is pending.
#pragma once

#include "mcpd/redis/command.hpp"
#include "mcpd/redis/config.hpp"
#include "mcpd/redis/event.hpp"
#include "redis/multiplexer.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>

namespace boost::asio::ssl {
class context;
}

namespace mcpd::redis {
class subscriber;
}

namespace mcpd::redis::detail {

class stream; // TCP, TLS over TCP, or Unix socket (connection.cpp)

// A request made by the connection itself (health PING, QUIT, resubscribe).
struct internal_request : request_state {
    std::function<void(internal_request&)> on_done;
    void complete() override {
        if (on_done)
            on_done(*this);
    }
};

class connection : public std::enable_shared_from_this<connection> {
public:
    using quit_handler = boost::asio::any_completion_handler<void(result<void>)>;

    connection(boost::asio::any_io_executor const& ex, config cfg);
    ~connection();
    connection(connection const&) = delete;
    connection& operator=(connection const&) = delete;

    // Hooks: set before start(); called on the strand. The event handler has a setter because
    // the owner's destructor must drop it at once (see detach()).
    void set_event_handler(std::function<void(event const&)> handler);
    std::function<void(value&&)> on_push;
    // Requests to send first after every successful handshake (resubscribe, client tracking);
    // given the protocol the handshake agreed (2 or 3).
    std::function<std::vector<request_ptr>(int protocol)> on_ready;
    // The live connection was lost or closed: what it promised (tracking) no longer holds.
    std::function<void()> on_lost;
    bool subscriber_mode = false;
    // A cluster replica read from: READONLY is sent in every handshake.
    bool readonly_replica = false;

    void start();
    // Queues r (starting the connection if needed), or finishes it at once with the error the
    // policy gives (closing, not_connected, offline_queue_full, disconnected).
    void submit(request_ptr r);
    void cancel(std::weak_ptr<request_state> r);
    void quit(quit_handler h);
    void disconnect();
    // disconnect(), and no event reaches the handler from now on: the owner is going away, and
    // whatever its handler captured with it.
    void detach();

    [[nodiscard]] config const& cfg() const noexcept { return cfg_; }
    // Where the connection goes, for status output (any thread): the node, or for Sentinel the
    // master's name and where it was last found.
    [[nodiscard]] std::string topology() const;
    [[nodiscard]] connection_state state() const noexcept { return state_.load(); }
    [[nodiscard]] client_stats stats() const noexcept;
    [[nodiscard]] boost::asio::strand<boost::asio::any_io_executor> const& strand() const noexcept {
        return strand_;
    }

private:
    boost::asio::awaitable<void> run();
    boost::asio::awaitable<void> deadline_loop();
    boost::asio::awaitable<result<void>> open();
    boost::asio::awaitable<result<void>> open_steps();
    boost::asio::awaitable<result<void>> connect_tcp(node_address const& to);
    // Writes `commands` and reads as many replies (set-up only: before the reader runs).
    boost::asio::awaitable<result<std::vector<value>>>
    roundtrip(std::vector<command> const& commands);
    boost::asio::awaitable<result<void>> run_handshake(config const& with, bool readonly = false);
    // Sentinel: the config a sentinel is spoken to with (its credentials, no database).
    [[nodiscard]] config sentinel_config() const;
    // Sentinel: the master's address from the first sentinel that names it.
    boost::asio::awaitable<result<node_address>> discover_master();
    boost::asio::awaitable<result<node_address>> ask_sentinel(node_address const& at,
                                                              config const& asked);
    // Sentinel: follows +switch-master on the sentinels' pub/sub while the connection lives.
    boost::asio::awaitable<void> watch_sentinels();
    void on_switch_master(std::string_view payload);
    boost::asio::awaitable<error> serve();
    boost::asio::awaitable<void> reader();
    boost::asio::awaitable<void> health();

    void do_start();
    void do_submit(request_ptr r, bool internal);
    void became_ready(int protocol);
    void fail_connection(error e);
    void complete_finished();
    void deliver_pushes();
    // Sentinel: a READONLY reply means the master was demoted: reconnect, asking again.
    void drop_if_demoted(request_state const& r);
    // Writes everything queued, unless a write is in progress (its completion writes the rest).
    // Asio tries the send at once, so a request queued while replies are being handed out goes
    // to the server before the rest of them are: the server works while we do.
    void start_write();
    void on_write(std::uint64_t generation, boost::system::error_code ec);
    void schedule_write(); // start_write() at the end of this turn of the event loop
    void check_quit();
    void finalize_close(error const& why);
    void emit(event const& e);
    void set_state(connection_state s) noexcept { state_.store(s); }
    [[nodiscard]] loss_policy policy() const noexcept {
        return {cfg_.offline_queue, cfg_.max_retries_per_request};
    }

    boost::asio::strand<boost::asio::any_io_executor> strand_;
    config cfg_;
    multiplexer mux_;
    std::shared_ptr<stream> stream_; // shared with a pending write's handler
    std::unique_ptr<boost::asio::ssl::context> tls_context_;

    boost::asio::steady_timer deadline_timer_; // fires at the earliest request deadline
    boost::asio::steady_timer reconnect_timer_;
    boost::asio::steady_timer health_timer_;
    steady_clock::time_point armed_deadline_ = steady_clock::time_point::max();

    std::string rbuf_; // read buffer: [rbeg_, rend_) holds unparsed bytes
    std::size_t rbeg_ = 0;
    std::size_t rend_ = 0;
    steady_clock::time_point last_read_{};

    std::atomic<connection_state> state_{connection_state::idle};
    bool started_ = false;
    bool ever_ready_ = false;
    bool conn_failed_ = false;     // the current connection is being torn down
    bool writing_ = false;         // a write of the current connection is in progress
    std::uint64_t generation_ = 0; // counts connections; a stale write completion is ignored
    error conn_error_;             // why
    error last_error_;             // why the last connection attempt failed or was lost
    bool closing_ = false;         // quit() called
    bool quit_sent_ = false;
    bool closed_ = false;
    int protocol_ = 0;
    node_address master_;             // Sentinel: where the master was last found
    mutable std::mutex master_mutex_; // guards master_ between the strand and topology()
    std::size_t sentinel_first_ = 0;  // Sentinel: the one asked first (it answered last)
    std::size_t next_seed_ = 0;       // cluster (a subscriber): the seed connected to next
    std::shared_ptr<redis::subscriber> sentinel_watch_; // Sentinel: the +switch-master feed
    std::vector<quit_handler> quit_waiters_;
    std::mutex event_mutex_; // guards on_event_ between the owner's thread and the strand
    std::function<void(event const&)> on_event_;
    std::vector<request_ptr> completing_; // scratch for complete_finished()
    bool completing_active_ = false;      // complete_finished() is on the stack
    bool write_scheduled_ = false;        // a start_write() is posted

    struct counters {
        std::atomic<std::uint64_t> requests{0}, failures{0}, reconnects{0}, connection_errors{0};
    } counters_;
};

// Encodes `req` for `conn` (key prefix, deadline, retry flag) and awaits its replies. The one
// place where a caller's coroutine is suspended on the connection's strand and resumed on its
// own executor. `pubsub`: the commands are (P|S)(UN)SUBSCRIBE, whose answers come as pushes.
boost::asio::awaitable<result<std::vector<value>>> execute(std::shared_ptr<connection> conn,
                                                           request req, bool pubsub = false);
// The same for one command (the common case, with one coroutine and no vectors): a server error
// reply becomes an error of its server_errc kind with the server's text as detail.
boost::asio::awaitable<result<value>> execute_one(std::shared_ptr<connection> conn,
                                                  command const& cmd, request_options opts);

// Hands a completion to the executor its handler is bound to (the caller's coroutine). When that
// is this thread's io_context, the handler runs here and now, as dispatch() would, without the
// type-erased executor round trip (a measurable share of a request's cost). Running the caller
// inline is safe: what it may call back into (submit, cancel, quit) only queues or posts, and
// complete_finished() tolerates being re-entered. (A lambda capturing an any_completion_handler
// would look copyable to Asio and be re-wrapped endlessly: asio::append binds arguments instead.)
template <class Handler, class... Args>
void complete_with(Handler h, Args&&... args) {
    auto ex = boost::asio::get_associated_executor(h);
    if constexpr (std::is_same_v<decltype(ex), boost::asio::any_io_executor>) {
        using io_executor = boost::asio::io_context::executor_type;
        if (auto const* io = ex.template target<io_executor>();
            io != nullptr && io->running_in_this_thread()) {
            std::move(h)(std::forward<Args>(args)...);
            return;
        }
    }
    boost::asio::dispatch(boost::asio::append(std::move(h), std::forward<Args>(args)...));
}

} // namespace mcpd::redis::detail
