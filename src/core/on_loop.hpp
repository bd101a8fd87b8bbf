// core/on_loop.hpp — runs a coroutine on another event loop's executor and resumes the caller
// on its own with what it returned (or threw): how the event loops of one process (`mcpd serve
// --threads N`) reach what lives on one of them.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace mcpd {

// Straight through when the caller is on `loop` already. `work` must not refer to the caller's
// locals by reference unless the caller awaits this (it does, by construction).
template <class T>
boost::asio::awaitable<T> on_loop(boost::asio::any_io_executor const& loop,
                                  boost::asio::awaitable<T> work) {
    auto here = co_await boost::asio::this_coro::executor;
    if (here == loop)
        co_return co_await std::move(work);
    co_return co_await boost::asio::co_spawn(loop, std::move(work), boost::asio::use_awaitable);
}

} // namespace mcpd
