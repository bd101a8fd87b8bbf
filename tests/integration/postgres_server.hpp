// tests/integration/postgres_server.hpp — a real PostgreSQL server for one test.
//
// initdb makes a fresh cluster in a temporary directory (superuser "postgres", trust
// authentication on loopback, no fsync: a test's data need not survive a power cut); the server
// listens on an ephemeral 127.0.0.1 port, with its Unix socket in the same directory. PostgreSQL
// refuses to run as root (as CI runs): then initdb and the server run as "nobody", and the
// directory is handed to that user. Binaries: $MCPD_PG_BINDIR, else the newest
// /usr/lib/postgresql/<version>/bin (Debian's postgresql package), else PATH.
//
// The server runs in a process group of its own and dies with the test process. stop() is a
// fast shutdown (SIGINT: open sessions are ended; SIGTERM's "smart" shutdown would wait for
// every pooled connection to go away); kill() is SIGKILL to the whole group, a crash; start()
// again restarts on the same port and data (after a kill, with crash recovery).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace mcpd::test {

class postgres_server {
public:
    postgres_server();
    ~postgres_server();
    postgres_server(postgres_server const&) = delete;
    postgres_server& operator=(postgres_server const&) = delete;

    void start();
    void stop();
    void kill();
    [[nodiscard]] bool running() const noexcept { return pid_ > 0; }

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    // postgresql://<user>@127.0.0.1:<port>/<database>
    [[nodiscard]] std::string url(std::string const& database = "postgres",
                                  std::string const& user = "postgres") const;
    [[nodiscard]] std::string log() const; // the server's log so far, for failure messages

    using rows = std::vector<std::vector<std::optional<std::string>>>;
    // Runs SQL (one or more statements; the last one's rows come back) with libpq's blocking
    // API: for test set-up and checks. Throws std::runtime_error with the server's message.
    rows exec(std::string const& sql, std::string const& database = "postgres",
              std::string const& user = "postgres") const;
    // A new empty database with a name unique in this server; returns the name.
    std::string create_database();

private:
    void initdb();
    void wait_ready();

    std::string bindir_;
    std::string dir_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
    std::size_t log_offset_ = 0; // readiness is looked for after this offset (restarts)
    int databases_ = 0;
    std::optional<std::pair<uid_t, gid_t>> run_as_; // set when the test runs as root
};

} // namespace mcpd::test
