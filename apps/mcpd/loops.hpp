// apps/mcpd/loops.hpp — the event loops of `mcpd serve --threads N`: one io_context per thread,
// and how a loop reaches what lives on another.
//
// Each loop is a whole server of its own (docs/fleet.md, "Every core"); what they share lives on
// the home loop (loop 0) and is reached by running the work there (core/on_loop.hpp). The session
// storage is shared that way (home_loop_store), so a store needs no locks and its client or
// connection stays on one thread.
#pragma once

#include "core/on_loop.hpp"
#include "mcpd/store/session_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <memory>
#include <thread>
#include <vector>

namespace mcpd::app {

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

// The cores this process may use: those of its CPU affinity, fewer when its cgroup's CPU quota
// (cgroup v2 cpu.max, a container's CPU limit) allows fewer; at least 1.
std::size_t usable_cores();

// The session storage of the home loop for another loop: every call runs there. close() leaves
// the store open (the home loop closes it).
std::shared_ptr<store::session_store> home_loop_store(std::shared_ptr<store::session_store> inner,
                                                      boost::asio::any_io_executor home);

} // namespace mcpd::app
