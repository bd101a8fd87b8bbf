// server/stdio_transport.hpp — MCP over stdin/stdout: one JSON-RPC message per line.
//
// One session for the process's lifetime (a stateless 2026-07-28 request is served statelessly
// on the same pipe). stdout carries protocol messages only; logs go to stderr. A line longer
// than the limit is answered with a parse error and skipped, not buffered.
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/server/dispatcher.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace mcpd::server {

struct stdio_options {
    int in_fd = 0;
    int out_fd = 1;
    std::size_t max_line_bytes = 4 * 1024 * 1024;
    // After end of input (or stop()), how long requests in flight may take to answer; those
    // still running then are cancelled.
    duration drain_timeout = std::chrono::seconds(30);
};

// Serves until stdin reaches end of file (or `stop()`), then waits (up to the drain timeout)
// for the requests in flight.
class stdio_transport {
public:
    stdio_transport(dispatcher& d, boost::asio::any_io_executor ex, stdio_options opts = {});
    ~stdio_transport();
    stdio_transport(stdio_transport const&) = delete;
    stdio_transport& operator=(stdio_transport const&) = delete;

    boost::asio::awaitable<void> run();
    void stop();

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace mcpd::server
