// tests/integration/redis_server.hpp — a real redis-server for one test.
//
// Starts `redis-server` as a child process on an ephemeral 127.0.0.1 port (or a Unix socket, or
// TLS with certificates generated for the test by the openssl CLI), in a temporary directory,
// without persistence; waits until it logs that it is ready; stops it by PID. A test may stop and
// start it again on the same port (restart), kill it, or freeze it (SIGSTOP) to fake a hung
// server.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace mcpd::test {

// CA, server and client certificates for TLS tests, made once per process.
struct tls_files {
    std::string ca_cert, server_cert, server_key, client_cert, client_key;
};
tls_files const& test_certificates();

class redis_server {
public:
    struct options {
        std::vector<std::string> args; // extra config directives: {"--requirepass", "pw"}
        bool tls = false;              // TLS only (the plain port is off)
        bool tls_client_certs = false; // require client certificates (mTLS)
        bool unix_socket = false;      // a Unix socket only
        // Non-empty: a Sentinel (redis-server --sentinel) with these lines in its config file
        // ("sentinel monitor mymaster 127.0.0.1 6379 2", …) after its port and bind address.
        std::vector<std::string> sentinel_config;
    };

    redis_server();
    explicit redis_server(options opts);
    ~redis_server();
    redis_server(redis_server const&) = delete;
    redis_server& operator=(redis_server const&) = delete;

    void start();  // on the same port/socket as before
    void stop();   // SIGTERM and wait
    void kill();   // SIGKILL and wait: nothing is flushed, connections drop
    void freeze(); // SIGSTOP: the server stops answering, sockets stay open
    void thaw();   // SIGCONT
    [[nodiscard]] bool running() const noexcept { return pid_ > 0; }

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] std::string const& socket_path() const noexcept { return socket_; }
    // redis://127.0.0.1:port, rediss://… or unix://… (no credentials).
    [[nodiscard]] std::string url() const;
    [[nodiscard]] std::string log() const; // the server's log so far, for failure messages

private:
    void wait_ready(std::chrono::milliseconds limit);

    options opts_;
    std::string dir_;
    std::string socket_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
    std::size_t log_offset_ = 0; // readiness is looked for after this offset (restarts)
    std::string ready_text_;     // what the log says when the server is ready
};

// A free TCP port on 127.0.0.1 (bound then released; the caller binds it next).
std::uint16_t free_port();

} // namespace mcpd::test
