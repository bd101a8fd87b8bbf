// core/blocking_pool.hpp — where blocking work (SQLite, file I/O) runs, so that no I/O thread
// ever blocks.
//
// run(f) executes f() on one of the pool's threads and resumes the awaiting coroutine on its
// own executor with f's result. A pool of one thread also serialises everything run on it,
// which is what a single SQLite connection needs.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>
#include <type_traits>

namespace mcpd {

class blocking_pool {
public:
    explicit blocking_pool(std::size_t threads)
        : pool_(threads) {}
    ~blocking_pool() { join(); }
    blocking_pool(blocking_pool const&) = delete;
    blocking_pool& operator=(blocking_pool const&) = delete;

    template <class F>
    boost::asio::awaitable<std::invoke_result_t<F&>> run(F f) {
        using R = std::invoke_result_t<F&>;
        // Named, not a temporary inside co_await: see docs/rough_edges.md (GCC 12).
        auto task = [f = std::move(f)]() mutable -> boost::asio::awaitable<R> { co_return f(); };
        co_return co_await boost::asio::co_spawn(pool_.get_executor(), std::move(task),
                                                 boost::asio::use_awaitable);
    }

    // Waits for the work already started, then stops the threads. Idempotent.
    void join() { pool_.join(); }

private:
    boost::asio::thread_pool pool_;
};

} // namespace mcpd
