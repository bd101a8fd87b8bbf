// core/wakeup.hpp — a coroutine waits until something else says "look again".
//
// One waiter at a time, on one executor (mcpd's I/O runs on one thread per io_context). notify()
// before wait() is not lost: the next wait() returns at once. Built on a timer that never
// expires and is cancelled to wake the waiter, so it needs no channel machinery. The timer is
// made at the first wait that has to wait: most wakeups (a POST's answer that is ready when it
// is looked for) never need one, and a timer costs a service lookup under a lock to make.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <optional>

namespace mcpd {

class wakeup {
public:
    explicit wakeup(boost::asio::any_io_executor ex)
        : ex_(std::move(ex)) {}

    void notify() {
        pending_ = true;
        if (waiting_) // cancelling a timer nobody waits on still costs a trip into Asio
            timer_->cancel();
    }

    boost::asio::awaitable<void> wait() {
        if (!pending_) {
            if (!timer_)
                timer_.emplace(ex_, boost::asio::steady_timer::time_point::max());
            boost::system::error_code ec;
            waiting_ = true;
            co_await timer_->async_wait(
                boost::asio::redirect_error(boost::asio::use_awaitable, ec));
            waiting_ = false;
        }
        pending_ = false;
    }

private:
    boost::asio::any_io_executor ex_;
    std::optional<boost::asio::steady_timer> timer_;
    bool pending_ = false;
    bool waiting_ = false;
};

} // namespace mcpd
