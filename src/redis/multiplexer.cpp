// redis/multiplexer.cpp — request queueing, reply routing and loss policy (see the header).
#include "redis/multiplexer.hpp"

#include "mcpd/redis/error.hpp"

#include <boost/asio/error.hpp>

#include <algorithm>

namespace mcpd::redis {

multiplexer::multiplexer(parser_limits limits)
    : parser_(limits) {}

void multiplexer::add(request_ptr r, bool front) {
    r->st = request_state::stage::queued;
    if (front)
        queue_.push_front(std::move(r));
    else
        queue_.push_back(std::move(r));
}

std::string_view multiplexer::prepare_write() {
    write_buffer_.clear();
    while (!queue_.empty() && (write_buffer_.empty() || write_buffer_.size() < max_write_bytes)) {
        request_ptr r = std::move(queue_.front());
        queue_.pop_front();
        write_buffer_ += r->payload;
        r->st = request_state::stage::staged;
        r->received = 0;
        if (r->expected_replies == 0)
            staged_no_reply_.push_back(std::move(r));
        else
            written_.push_back(std::move(r));
    }
    return write_buffer_;
}

void multiplexer::commit_write() {
    // Staged requests sit at the back of written_ (a fast reply may have finished some already,
    // and abandoned ones keep their stage).
    for (auto it = written_.rbegin(); it != written_.rend(); ++it) {
        if ((*it)->st == request_state::stage::staged)
            (*it)->st = request_state::stage::written;
        else if ((*it)->st == request_state::stage::written)
            break;
    }
    for (auto& r : staged_no_reply_)
        finish(*r, {});
    staged_no_reply_.clear();
}

bool multiplexer::is_push(value const& v) const noexcept {
    if (v.type == resp_type::push)
        return true;
    if (!subscriber_mode_ || v.type != resp_type::array || v.elements.empty())
        return false;
    auto kind = v.elements.front().as_string();
    if (!kind)
        return false;
    static constexpr std::string_view kinds[] = {"message",     "pmessage",     "smessage",
                                                 "subscribe",   "psubscribe",   "ssubscribe",
                                                 "unsubscribe", "punsubscribe", "sunsubscribe"};
    return std::find(std::begin(kinds), std::end(kinds), *kind) != std::end(kinds);
}

void multiplexer::route(value v) {
    if (is_push(v) || written_.empty()) {
        // A reply nobody waits for (an error answering SUBSCRIBE, which owes no reply) goes
        // out with the pushes so the glue can report it rather than pin it on a request.
        pushes_.push_back(std::move(v));
        return;
    }
    request_state& r = *written_.front();
    ++r.received;
    if (!r.abandoned)
        r.replies.push_back(std::move(v));
    if (r.received < r.expected_replies)
        return;
    request_ptr done = std::move(written_.front());
    written_.pop_front();
    if (!done->abandoned)
        finish(*done, {});
}

result<std::size_t> multiplexer::consume(std::string_view bytes) {
    std::size_t total = 0;
    while (total < bytes.size()) {
        std::size_t used = 0;
        auto st = parser_.parse(bytes.substr(total), used);
        total += used;
        if (st == parse_status::error)
            return error(client_errc::protocol_error, std::string(parser_.error_message()));
        if (st == parse_status::need_more)
            break;
        route(parser_.take());
    }
    return total;
}

void multiplexer::finish(request_state& r, error e) {
    if (r.st == request_state::stage::finished)
        return;
    r.st = request_state::stage::finished;
    r.failure = std::move(e);
    finished_.push_back(r.shared_from_this());
}

void multiplexer::on_connection_lost(error const& why, loss_policy policy) {
    ready_ = false;
    parser_.reset();
    std::deque<request_ptr> requeue;
    auto lose = [&](request_ptr& r) {
        if (r->abandoned || r->st == request_state::stage::finished)
            return;
        if (!policy.offline_queue || !r->retry_on_connection_lost || policy.max_retries == 0) {
            finish(*r, error(client_errc::connection_lost, why.message()));
        } else if (r->retries >= policy.max_retries) {
            finish(*r, error(client_errc::max_retries_exceeded,
                             "connection lost " + std::to_string(r->retries + 1) +
                                 " times before the reply; last: " + why.message()));
        } else {
            ++r->retries;
            r->received = 0;
            r->replies.clear();
            r->st = request_state::stage::queued;
            requeue.push_back(std::move(r));
        }
    };
    for (auto& r : written_)
        lose(r);
    for (auto& r : staged_no_reply_)
        lose(r);
    written_.clear();
    staged_no_reply_.clear();
    if (!policy.offline_queue) {
        for (auto& r : queue_)
            finish(*r, error(client_errc::connection_lost, why.message()));
        queue_.clear();
    }
    // Re-sent requests keep their original order, ahead of those that were never written.
    queue_.insert(queue_.begin(), std::make_move_iterator(requeue.begin()),
                  std::make_move_iterator(requeue.end()));
}

void multiplexer::fail_all(error const& why) {
    for (auto* q : {&queue_, &written_})
        for (auto& r : *q)
            finish(*r, why);
    for (auto& r : staged_no_reply_)
        finish(*r, why);
    queue_.clear();
    written_.clear();
    staged_no_reply_.clear();
    parser_.reset();
}

void multiplexer::expire(steady_clock::time_point now, std::string const& queued_detail) {
    auto timed_out = [&](request_ptr const& r) {
        return r->deadline <= now && r->st != request_state::stage::finished;
    };
    auto timeout_error = [] { return error(client_errc::timeout); };
    // Unwritten: drop from the queue. Written: finish now, keep to absorb the reply.
    for (auto& r : queue_)
        if (timed_out(r))
            finish(*r, error(client_errc::timeout, queued_detail));
    std::erase_if(queue_,
                  [](request_ptr const& r) { return r->st == request_state::stage::finished; });
    // Staged or written: finish now; the request stays to absorb its reply (or its commit).
    for (auto* q : {&written_, &staged_no_reply_}) {
        for (auto& r : *q) {
            if (timed_out(r)) {
                r->abandoned = true;
                finish(*r, timeout_error());
            }
        }
    }
}

steady_clock::time_point multiplexer::next_deadline() const noexcept {
    auto next = steady_clock::time_point::max();
    for (auto const* q : {&queue_, &written_, &staged_no_reply_})
        for (auto const& r : *q)
            if (r->st != request_state::stage::finished && r->deadline < next)
                next = r->deadline;
    return next;
}

void multiplexer::cancel(request_state& r) {
    switch (r.st) {
    case request_state::stage::finished:
        return;
    case request_state::stage::queued:
        finish(r, error(boost::asio::error::operation_aborted));
        std::erase_if(queue_, [&](request_ptr const& q) { return q.get() == &r; });
        return;
    case request_state::stage::staged:
    case request_state::stage::written:
        r.abandoned = true;
        finish(r, error(boost::asio::error::operation_aborted));
        return;
    }
}

} // namespace mcpd::redis
