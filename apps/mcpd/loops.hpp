// apps/mcpd/loops.hpp — the event loops of `mcpd serve --threads N`: one io_context per thread,
// and how a loop reaches what lives on another.
//
// Each loop is a whole server of its own (docs/fleet.md, "Every core"); what they share lives on
// the home loop (loop 0) and is reached by running the work there: on_loop() runs a coroutine on
// another loop's executor and resumes the caller on its own with the result. The session storage
// is shared that way (home_loop_store), so a store needs no locks and its client or connection
// stays on one thread.
#pragma once

#include "mcpd/store/session_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <thread>
#include <vector>

namespace mcpd::app {

// Runs `work` on `loop` and resumes the caller on its own executor with what it returned (or
// threw). Straight through when the caller is on `loop` already.
template <class T>
boost::asio::awaitable<T> on_loop(boost::asio::any_io_executor const& loop,
                                  boost::asio::awaitable<T> work) {
    auto here = co_await boost::asio::this_coro::executor;
    if (here == loop)
        co_return co_await std::move(work);
    co_return co_await boost::asio::co_spawn(loop, std::move(work), boost::asio::use_awaitable);
}

// N io_contexts; run() runs the first on the calling thread and the others on threads of their
// own until stop().
class event_loops {
public:
    explicit event_loops(std::size_t n);
    ~event_loops();
    event_loops(event_loops const&) = delete;
    event_loops& operator=(event_loops const&) = delete;

    [[nodiscard]] std::size_t size() const noexcept { return contexts_.size(); }
    [[nodiscard]] boost::asio::any_io_executor executor(std::size_t i) const {
        return contexts_[i]->get_executor();
    }
    [[nodiscard]] boost::asio::io_context& home() { return *contexts_[0]; }
    // Returns once every loop has stopped.
    void run();
    // From any thread.
    void stop();

private:
    std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
    std::vector<std::thread> threads_;
};

// The session storage of the home loop for another loop: every call runs there. close() leaves
// the store open (the home loop closes it).
std::shared_ptr<store::session_store> home_loop_store(std::shared_ptr<store::session_store> inner,
                                                      boost::asio::any_io_executor home);

} // namespace mcpd::app
