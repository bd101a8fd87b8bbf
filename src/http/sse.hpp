// http/sse.hpp — Server-Sent Events: the wire format, and a stream's outgoing queue.
//
// An sse_stream is filled by whoever has messages (a request handler, a session's notifier) and
// drained by the connection that holds the HTTP response open (exchange::respond_sse). Pushing
// never blocks: the queue is bounded in bytes, and a reader too slow to keep it under the bound
// has its stream closed (it may reconnect and resume from the event store) rather than make the
// server buffer without end.
#pragma once

#include "core/wakeup.hpp"
#include "http/sse_event.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace mcpd::http {

class sse_stream {
public:
    enum class state { open, finishing, closed };

    sse_stream(boost::asio::any_io_executor ex, std::size_t max_buffered_bytes);
    sse_stream(sse_stream const&) = delete;
    sse_stream& operator=(sse_stream const&) = delete;

    // Queues an event (or raw text, e.g. a ": comment\n\n" keep-alive). False when the stream is
    // no longer open, or when the event would take the queue over its bound (the stream is
    // closed then).
    bool push(sse_event const& ev);
    bool push_raw(std::string_view text);
    // Ends the stream once what is queued has been written.
    void finish();
    // Ends it now (the client went away, the server is closing, the reader was too slow).
    void close();

    [[nodiscard]] state current() const noexcept { return state_; }
    [[nodiscard]] bool is_open() const noexcept { return state_ == state::open; }
    [[nodiscard]] bool has_output() const noexcept { return !pending_.empty(); }

    // Called once when the stream closes or finishes (from close() or the writer), e.g. to
    // detach it from a session.
    void on_end(std::function<void()> f) { on_end_ = std::move(f); }

    // For the writer (exchange::respond_sse): waits until there is output or the state changed,
    // then moves the queued text into `out`.
    boost::asio::awaitable<void> wait();
    void take(std::string& out);
    // The writer is done with the stream (it ended or the client went away).
    void writer_done();

private:
    void ended();
    // After text was appended to the queue from `before`: over the bound, it is taken back and
    // the stream closes (false); else the writer is woken.
    bool queued(std::size_t before);

    wakeup wake_;
    std::string pending_;
    std::size_t max_buffered_;
    state state_ = state::open;
    bool end_reported_ = false;
    std::function<void()> on_end_;
};

} // namespace mcpd::http
