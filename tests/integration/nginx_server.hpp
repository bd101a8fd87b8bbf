// tests/integration/nginx_server.hpp — a real nginx load balancer in front of local servers, for
// tests of an mcpd fleet.
//
// Starts nginx (Debian's `nginx` package) as a child process in the foreground, on an ephemeral
// 127.0.0.1 port, with every file it writes (config, pid, logs, temp dirs) in a temporary
// directory: an HTTP reverse proxy that spreads requests round-robin over the given upstream
// ports on 127.0.0.1, with no stickiness (consecutive requests of one session may reach
// different instances), keep-alive connections to the upstreams, the client's Host header passed
// through unchanged (mcpd checks it against DNS rebinding), no buffering either way (SSE streams
// through at once) and hour-long read and send timeouts (long-lived SSE streams). A connection
// refused by an instance (one that was killed) is retried on the next one; a killed instance is
// never taken out of the rotation (max_fails=0), so it serves again once restarted on its port.
// Its access log records which upstream served each request. Stops it by PID.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace mcpd::test {

class nginx_server {
public:
    struct options {
        std::vector<std::uint16_t> upstreams; // ports on 127.0.0.1, at least one
    };

    explicit nginx_server(options opts);
    // SIGQUIT (graceful: open streams are closed after worker_shutdown_timeout), then SIGKILL
    // to its whole process group (master and worker) if it has not exited in time.
    ~nginx_server();
    nginx_server(nginx_server const&) = delete;
    nginx_server& operator=(nginx_server const&) = delete;

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; } // on 127.0.0.1
    [[nodiscard]] std::string url() const;                              // http://127.0.0.1:port
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }           // the master process

    // Which upstream served each request so far, in order, from the access log: one entry per
    // request, "127.0.0.1:port" (nginx's $upstream_addr; several, ", "-separated, when it tried
    // more than one: "127.0.0.1:1111, 127.0.0.1:2222"). nginx logs a request after its response
    // is sent (an SSE stream when it ends), so the last answer a client got may not be in it yet:
    // wait_upstream_log waits for it.
    [[nodiscard]] std::vector<std::string> upstream_log() const;
    // upstream_log() once it has at least `count` entries, or as it is after `limit`.
    [[nodiscard]] std::vector<std::string>
    wait_upstream_log(std::size_t count,
                      std::chrono::milliseconds limit = std::chrono::seconds(5)) const;

    [[nodiscard]] std::string log() const; // the error log so far, for failure messages
    [[nodiscard]] std::string const& dir() const noexcept { return dir_; } // its temp directory

private:
    void start();
    void wait_ready(std::chrono::milliseconds limit);
    void stop(std::chrono::milliseconds limit);

    options opts_;
    std::string dir_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

} // namespace mcpd::test
