// server/stdio_transport.cpp — newline-delimited JSON-RPC on file descriptors. See the header.
#include "mcpd/server/stdio_transport.hpp"

#include "core/log.hpp"
#include "core/wakeup.hpp"
#include "mcpd/protocol/jsonrpc.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/serialize.hpp>

#include <deque>
#include <map>
#include <unistd.h>

namespace mcpd::server {

namespace asio = boost::asio;
namespace json = boost::json;

struct stdio_transport::impl : std::enable_shared_from_this<impl> {
    impl(dispatcher& d, asio::any_io_executor e, stdio_options o)
        : disp(d)
        , ex(std::move(e))
        , opts(o)
        , in(ex, ::dup(o.in_fd))
        , out(ex, ::dup(o.out_fd))
        , out_wake(ex)
        , idle(ex) {}

    dispatcher& disp;
    asio::any_io_executor ex;
    stdio_options opts;
    asio::posix::stream_descriptor in;
    asio::posix::stream_descriptor out;
    std::deque<std::string> out_queue;
    wakeup out_wake;
    wakeup idle;
    bool writer_running = false;
    bool closed = false;
    std::size_t in_flight = 0;
    std::shared_ptr<session> sess;
    // Stateless (2026-07-28) requests in flight, by id: each has its own ephemeral session, so
    // a notifications/cancelled (the way a client ends a subscriptions/listen on stdio) is
    // routed to it rather than to `sess`.
    std::map<std::string, std::shared_ptr<session>> stateless_in_flight;

    // The ephemeral session serving the request a notifications/cancelled names, if any.
    std::shared_ptr<session> stateless_target(protocol::message const& m) const {
        auto const* n = std::get_if<protocol::notification>(&m);
        if (n == nullptr || n->method != "notifications/cancelled")
            return nullptr;
        auto const* id = n->params.if_contains("requestId");
        if (id == nullptr)
            return nullptr;
        auto it = stateless_in_flight.find(json::serialize(*id));
        return it == stateless_in_flight.end() ? nullptr : it->second;
    }

    bool send(json::object const& msg) {
        if (closed)
            return false;
        out_queue.push_back(json::serialize(msg) + "\n");
        out_wake.notify();
        return true;
    }

    asio::awaitable<void> writer() {
        auto self = shared_from_this();
        while (!closed || !out_queue.empty()) {
            if (out_queue.empty()) {
                co_await out_wake.wait();
                continue;
            }
            auto line = std::move(out_queue.front());
            out_queue.pop_front();
            boost::system::error_code ec;
            co_await asio::async_write(out, asio::buffer(line),
                                       asio::redirect_error(asio::use_awaitable, ec));
            if (ec) {
                log::error("stdio: writing to stdout failed: {}", ec.message());
                closed = true;
                out_queue.clear();
            }
        }
        writer_running = false;
        idle.notify();
    }

    void send_too_long() {
        send(protocol::make_error(nullptr, protocol::code::parse_error,
                                  "Parse error: message over " +
                                      std::to_string(opts.max_line_bytes) + " bytes"));
    }

    asio::awaitable<void> handle_line(std::string_view line) {
        if (line.find_first_not_of(" \t\r") == std::string_view::npos)
            co_return;
        auto parsed = protocol::parse_body(line);
        if (parsed.fatal) {
            send(to_json(*parsed.fatal));
            co_return;
        }
        if (parsed.batch && !protocol_allows_batch()) {
            send(protocol::make_error(nullptr, protocol::code::invalid_request,
                                      "Invalid Request: batches are not part of this protocol "
                                      "revision"));
            co_return;
        }
        auto self = shared_from_this();
        message_sink sink = [self](json::object const& m) { return self->send(m); };
        // JSON-RPC 2.0 answers a batch with one array, once every request in it has answered.
        // The batch counts as pending while this loop runs, so that requests which finish
        // during a notification's co_await do not send the array before later entries join it.
        std::shared_ptr<batch_answers> batch;
        if (parsed.batch) {
            batch = std::make_shared<batch_answers>();
            batch->pending = 1;
        }
        for (auto& m : parsed.messages) {
            if (auto* r = std::get_if<protocol::request>(&m)) {
                auto target = sess;
                if (r->method != "initialize" && sess->state.protocol_version.empty())
                    if (auto st = dispatcher::stateless_session(*r))
                        target = st;
                ++in_flight;
                if (batch)
                    ++batch->pending;
                std::string stateless_key;
                if (target != sess) {
                    stateless_key = json::serialize(r->id);
                    stateless_in_flight[stateless_key] = target;
                }
                // Bound to the request's cancellation: its handler runs in this coroutine.
                auto flight = std::make_shared<in_flight_request>();
                auto task = [self, target, sink, batch, stateless_key, flight,
                             r = std::move(*r)]() mutable -> asio::awaitable<void> {
                    std::optional<json::object> response;
                    auto id = r.id;
                    try {
                        response = co_await self->disp.handle_request(target, std::move(r), sink,
                                                                      {}, flight);
                    } catch (std::exception const& e) {
                        response =
                            protocol::make_error(id, protocol::code::internal_error, e.what());
                    }
                    if (!stateless_key.empty())
                        if (auto it = self->stateless_in_flight.find(stateless_key);
                            it != self->stateless_in_flight.end() && it->second == target)
                            self->stateless_in_flight.erase(it);
                    if (batch) {
                        if (response)
                            batch->answers.push_back(std::move(*response));
                        self->batch_entry_done(*batch);
                    } else if (response) {
                        self->send(*response);
                    }
                    if (--self->in_flight == 0)
                        self->idle.notify();
                };
                auto& slot_signal = flight->signal;
                asio::co_spawn(ex, std::move(task),
                               asio::bind_cancellation_slot(slot_signal.slot(), asio::detached));
            } else if (auto target = stateless_target(m)) {
                co_await disp.handle_notification(target, std::get<protocol::notification>(m));
            } else if (auto reply = co_await disp.handle_non_request(sess, std::move(m))) {
                if (batch)
                    batch->answers.push_back(std::move(*reply));
                else
                    send(*reply);
            }
        }
        if (batch)
            batch_entry_done(*batch);
    }

    struct batch_answers {
        std::size_t pending = 0;
        json::array answers;
    };

    // One entry of a batch (or the loop over it) is done; the last one sends the array, if
    // there is anything to answer (a batch of notifications gets no answer).
    void batch_entry_done(batch_answers& b) {
        if (--b.pending > 0 || b.answers.empty() || closed)
            return;
        out_queue.push_back(json::serialize(b.answers) + "\n");
        out_wake.notify();
    }

    bool protocol_allows_batch() const;

    asio::awaitable<void> run() {
        auto self = shared_from_this();
        auto made = disp.sessions().create();
        if (!made) {
            log::error("stdio: {}", made.error().message());
            co_return;
        }
        sess = *made;
        sess->unsolicited = [self](json::object const& m) { return self->send(m); };
        writer_running = true;
        auto w = [self]() -> asio::awaitable<void> { co_await self->writer(); };
        asio::co_spawn(ex, std::move(w), asio::detached);

        std::string buf;
        std::array<char, 64 * 1024> chunk{};
        bool skipping = false; // inside an over-long line
        for (;;) {
            boost::system::error_code ec;
            auto n = co_await in.async_read_some(asio::buffer(chunk),
                                                 asio::redirect_error(asio::use_awaitable, ec));
            if (ec)
                break;
            std::string_view data(chunk.data(), n);
            while (!data.empty()) {
                auto nl = data.find('\n');
                if (nl == std::string_view::npos) {
                    if (!skipping)
                        buf.append(data);
                    if (buf.size() > opts.max_line_bytes) {
                        send_too_long();
                        buf.clear();
                        skipping = true;
                    }
                    break;
                }
                if (!skipping) {
                    buf.append(data.substr(0, nl));
                    if (buf.size() > opts.max_line_bytes)
                        send_too_long();
                    else
                        co_await handle_line(buf);
                }
                buf.clear();
                skipping = false;
                data.remove_prefix(nl + 1);
            }
        }
        if (!buf.empty() && !skipping)
            co_await handle_line(buf);
        // End of input: let the requests in flight answer (up to the drain timeout: a watchdog
        // then cancels what is left, whose handlers return without answering), then close.
        // Listens would wait for that timeout: they end now, with their result.
        disp.end_listens();
        auto watchdog = std::make_shared<asio::steady_timer>(ex, opts.drain_timeout);
        auto self_w = shared_from_this();
        watchdog->async_wait([self_w](boost::system::error_code ec) {
            if (ec || self_w->in_flight == 0)
                return;
            log::warn("stdio: drain timeout: cancelling {} requests in flight", self_w->in_flight);
            for (auto& [id, flight] : self_w->sess->in_flight) {
                flight->cancelled = true;
                flight->signal.emit(asio::cancellation_type::terminal);
            }
        });
        while (in_flight > 0)
            co_await idle.wait();
        watchdog->cancel();
        closed = true;
        out_wake.notify();
        while (writer_running)
            co_await idle.wait();
        auto ended = co_await disp.sessions().end(sess->state.id);
        (void)ended;
    }
};

bool stdio_transport::impl::protocol_allows_batch() const {
    auto const& v = sess->state.protocol_version;
    return v.empty() || v <= "2025-03-26";
}

stdio_transport::stdio_transport(dispatcher& d, asio::any_io_executor ex, stdio_options opts)
    : impl_(std::make_shared<impl>(d, std::move(ex), opts)) {}

stdio_transport::~stdio_transport() = default;

asio::awaitable<void> stdio_transport::run() {
    auto self = impl_;
    co_await self->run();
}

void stdio_transport::stop() {
    boost::system::error_code ignored;
    impl_->in.cancel(ignored);
}

} // namespace mcpd::server
