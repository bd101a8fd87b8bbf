// redis/multiplexer.hpp — sans-I/O core of a Redis connection: which requests wait, which are
// on the wire, which reply belongs to which request, and what a lost connection does to each.
//
// The connection (connection.cpp) is the I/O glue around it:
//   writer: while has_pending_write(): write(prepare_write()); commit_write();
//   reader: read some bytes; consume(bytes); then take_finished() and take_pushes();
//   on a lost connection: on_connection_lost(); on a deadline: expire(); on cancel: cancel().
// Every call happens on the connection's strand; nothing here blocks or touches a socket.
//
// Data structures: queue_ holds requests not yet written, in submission order (priority ones at
// the front). written_ holds requests whose bytes were handed to the writer and that still owe
// replies, in wire order: Redis answers in order, so each reply belongs to the oldest request
// in written_ that still expects one. A request that finished early (timeout, cancel) while on
// the wire stays in written_, `abandoned`, to absorb its replies, which are dropped: a caller
// is completed exactly once and replies never shift onto the wrong request.
#pragma once

#include "mcpd/core/error.hpp"
#include "mcpd/redis/resp.hpp"

#include <boost/container/small_vector.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace mcpd::redis {

using steady_clock = std::chrono::steady_clock;

// Most requests are one command: its reply is kept inside the request (no allocation).
using reply_list = boost::container::small_vector<value, 1>;

struct request_state : std::enable_shared_from_this<request_state> {
    enum class stage : std::uint8_t { queued, staged, written, finished };

    std::string payload;                // the encoded commands, written as one unit
    std::uint32_t expected_replies = 0; // replies that complete it (SUBSCRIBE & co. owe none)
    reply_list replies;                 // one per expected reply, in order
    bool retry_on_connection_lost = true;
    std::uint32_t retries = 0; // times re-queued after a lost connection
    steady_clock::time_point deadline = steady_clock::time_point::max();

    stage st = stage::queued;
    bool abandoned = false;     // finished while written: its replies are still owed, then dropped
    std::uint32_t received = 0; // replies received on the current connection
    error failure;              // set when it finished with an error

    virtual ~request_state() = default;
    // Called by the glue (never by the multiplexer) once the request is finished.
    virtual void complete() {}
};
using request_ptr = std::shared_ptr<request_state>;

// What on_connection_lost() does with requests that were written but not answered.
struct loss_policy {
    bool offline_queue = true;     // keep unwritten requests; re-queue retryable written ones
    std::uint32_t max_retries = 3; // re-queue a written request at most this many times
};

class multiplexer {
public:
    explicit multiplexer(parser_limits limits = {});

    // Queues `r` for writing; `front` puts it before every queued request (resubscribe after a
    // reconnect). Precondition: r->st == queued and r is not in the multiplexer already.
    void add(request_ptr r, bool front = false);

    // Only a ready connection (handshake done) writes queued requests.
    void set_ready(bool ready) noexcept { ready_ = ready; }
    [[nodiscard]] bool ready() const noexcept { return ready_; }
    // RESP2 pub/sub: arrays starting with message/pmessage/subscribe/… are pushes, not replies.
    void set_subscriber_mode(bool on) noexcept { subscriber_mode_ = on; }

    // --- writer
    [[nodiscard]] bool has_pending_write() const noexcept { return ready_ && !queue_.empty(); }
    // Concatenates the payloads of the queued requests (up to about max_write_bytes, at least one
    // request) into one buffer: automatic pipelining. They become `staged`. The view is valid
    // until the next prepare_write() or on_connection_lost().
    std::string_view prepare_write();
    // The staged bytes were written: staged → written; requests owing no replies finish now.
    void commit_write();

    // --- reader
    // Parses every complete reply in `bytes` and routes it. Returns the bytes consumed (the
    // rest is an incomplete reply: keep it and offer it again with more), or a protocol error
    // after which the connection must be dropped.
    result<std::size_t> consume(std::string_view bytes);

    // --- failures, deadlines, cancellation
    // The connection is gone: not ready; written requests are re-queued (in their order, before
    // queued ones) at most policy.max_retries times, then fail with max_retries_exceeded (with
    // max_retries 0, or retry turned off for the request, they fail with connection_lost);
    // unwritten ones stay queued only with the offline queue. `why` becomes the errors' detail.
    void on_connection_lost(error const& why, loss_policy policy);
    // Finishes every request with `why` (disconnect, reconnect gave up).
    void fail_all(error const& why);
    // Finishes with client_errc::timeout every request whose deadline is ≤ now. `queued_detail`
    // becomes the detail of those never written (why they waited: the connection's last error).
    void expire(steady_clock::time_point now, std::string const& queued_detail = {});
    [[nodiscard]] steady_clock::time_point next_deadline() const noexcept;
    // The caller gave up: finish `r` with operation_aborted unless already finished.
    void cancel(request_state& r);

    // --- outputs, drained by the glue after each call above
    std::vector<request_ptr>& finished() noexcept { return finished_; }
    std::vector<value>& pushes() noexcept { return pushes_; }

    [[nodiscard]] std::size_t queued() const noexcept { return queue_.size(); }
    // Written (or staged) requests still owing replies, abandoned ones included.
    [[nodiscard]] std::size_t in_flight() const noexcept { return written_.size(); }
    [[nodiscard]] bool idle() const noexcept {
        return queue_.empty() && written_.empty() && staged_no_reply_.empty();
    }
    // The deadline of the request whose reply comes next, if its caller gave up on it (timed
    // out or cancelled); time_point::max() otherwise. A reply owed long past it, with nothing
    // read meanwhile, means the connection is dead (the health check's test while busy).
    [[nodiscard]] steady_clock::time_point abandoned_head_deadline() const noexcept {
        return !written_.empty() && written_.front()->abandoned ? written_.front()->deadline
                                                                : steady_clock::time_point::max();
    }

    static constexpr std::size_t max_write_bytes = 1 << 20;

private:
    void finish(request_state& r, error e);
    void route(value v);
    [[nodiscard]] bool is_push(value const& v) const noexcept;

    resp_parser parser_;
    std::deque<request_ptr> queue_;           // not yet written
    std::deque<request_ptr> written_;         // staged or written, owing replies, in wire order
    std::deque<request_ptr> staged_no_reply_; // staged requests that owe no reply
    std::string write_buffer_;
    bool ready_ = false;
    bool subscriber_mode_ = false;
    std::vector<request_ptr> finished_;
    std::vector<value> pushes_;
};

} // namespace mcpd::redis
