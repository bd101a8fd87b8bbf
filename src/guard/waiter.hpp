// guard/waiter.hpp — a coroutine waits for a notification that may come from another thread.
//
// Single-flight followers wait for their leader's result with one. The timer lives on the
// waiting coroutine's executor and notify() posts its cancel there, so the notifier may run on
// any thread. A notification before the wait starts is not lost. The waiting coroutine is
// expected on a single-threaded executor or a strand, as all of mcpd's I/O is.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <memory>

namespace mcpd::guard {

class waiter : public std::enable_shared_from_this<waiter> {
public:
    explicit waiter(boost::asio::any_io_executor ex)
        : timer_(std::move(ex), boost::asio::steady_timer::time_point::max()) {}

    // True when notified, false when `deadline` passed first. Cancelling the awaiting coroutine
    // throws operation_aborted, as any cancelled wait does.
    boost::asio::awaitable<bool> wait_until(std::chrono::steady_clock::time_point deadline) {
        if (notified_)
            co_return true;
        timer_.expires_at(deadline);
        boost::system::error_code ec;
        co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
        if (notified_)
            co_return true;
        if (ec == boost::asio::error::operation_aborted)
            throw boost::system::system_error(ec);
        co_return false;
    }

    void notify() {
        boost::asio::post(timer_.get_executor(), [self = shared_from_this()] {
            self->notified_ = true;
            self->timer_.cancel();
        });
    }

private:
    boost::asio::steady_timer timer_;
    bool notified_ = false;
};

} // namespace mcpd::guard
