// http/sse.cpp — the SSE stream queue. See sse.hpp.
#include "http/sse.hpp"

namespace mcpd::http {

sse_stream::sse_stream(boost::asio::any_io_executor ex, std::size_t max_buffered_bytes)
    : wake_(std::move(ex))
    , max_buffered_(max_buffered_bytes) {}

bool sse_stream::push(sse_event const& ev) {
    if (state_ != state::open)
        return false;
    auto const before = pending_.size();
    encode_to(pending_, ev); // straight into the queue
    return queued(before);
}

bool sse_stream::push_raw(std::string_view text) {
    if (state_ != state::open)
        return false;
    auto const before = pending_.size();
    pending_ += text;
    return queued(before);
}

bool sse_stream::queued(std::size_t before) {
    if (pending_.size() > max_buffered_) {
        pending_.resize(before); // not sent: the stream closes instead
        close();
        return false;
    }
    wake_.notify();
    return true;
}

void sse_stream::finish() {
    if (state_ != state::open)
        return;
    state_ = state::finishing;
    wake_.notify();
}

void sse_stream::close() {
    if (state_ == state::closed)
        return;
    state_ = state::closed;
    pending_.clear();
    wake_.notify();
    ended();
}

boost::asio::awaitable<void> sse_stream::wait() {
    if (pending_.empty() && state_ == state::open)
        co_await wake_.wait();
}

void sse_stream::take(std::string& out) {
    out.clear();
    out.swap(pending_);
}

void sse_stream::writer_done() {
    state_ = state::closed;
    pending_.clear();
    ended();
}

void sse_stream::ended() {
    if (end_reported_)
        return;
    end_reported_ = true;
    if (auto f = std::move(on_end_))
        f();
}

} // namespace mcpd::http
