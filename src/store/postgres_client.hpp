// store/postgres_client.hpp — a small PostgreSQL client on the Asio loop, for postgres_store.
//
// libpq's asynchronous API (PQconnectStartParams/PQconnectPoll, PQsendQueryParams, PQflush,
// PQconsumeInput/PQisBusy/PQgetResult) driven by waits on libpq's socket: nothing blocks an I/O
// thread. Host names are resolved with Asio's resolver before libpq sees them (libpq would call
// getaddrinfo() itself, which blocks), and passed as hostaddr next to the name (which TLS
// still verifies).
//
// A tiny pool: up to max_connections connections, opened when needed, reused when idle. A
// connection that breaks is dropped and the next query opens a new one (reconnect on demand,
// so a restarted server is picked up without a restart of mcpd). A connection that died while
// idle (server restart, idle timeout of a pooler) is noticed before it is used. A statement the
// caller marks retry_safe (its effect is the same when applied twice) is sent once more on a new
// connection when the connection it went out on turns out dead; any other statement reports the
// lost connection, since it may or may not have run.
//
// Every statement has its parameters sent separately from the SQL text ($1, $2, … in text
// format): values never become SQL. Results come back as text.
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace mcpd::store::pg {

// Failures of the client itself. Errors the server reports carry their SQLSTATE instead
// (server_category(), see sqlstate_error()).
enum class client_errc {
    invalid_conninfo = 1, // the connection string does not parse
    connect_failed,       // no connection could be made (detail: libpq's reason)
    connection_lost,      // the connection broke during the statement; it may or may not have run
    timeout,              // the statement or the connection did not finish in time
    closed,               // close() was called
    unexpected_result,    // a result kind this client does not handle (COPY)
};

boost::system::error_category const& client_category() noexcept;
inline boost::system::error_code make_error_code(client_errc e) noexcept {
    return {static_cast<int>(e), client_category()};
}

// A server error's code: its five-character SQLSTATE ("42501" insufficient_privilege, "23505"
// unique_violation, …), so callers can compare: e.code == sqlstate_error("42501").
boost::system::error_category const& server_category() noexcept;
boost::system::error_code sqlstate_error(std::string_view sqlstate) noexcept;
// The SQLSTATE of a server error code ("" for any other code).
std::string sqlstate_of(boost::system::error_code const& code);

struct options {
    std::string conninfo;            // "postgresql://user:pw@host:port/db?sslmode=…" or "k=v …"
    std::size_t max_connections = 4; // the pool's size
    duration connect_timeout = std::chrono::seconds(10); // DNS + TCP + TLS + authentication
    duration query_timeout = std::chrono::seconds(30);   // one statement, send to last result
};

// One statement's outcome: its rows (text values; nullopt is SQL NULL) and, for INSERT, UPDATE
// and DELETE, how many rows it touched.
struct rows {
    std::vector<std::vector<std::optional<std::string>>> values;
    std::size_t affected = 0;
};

using param = std::optional<std::string>; // nullopt sends SQL NULL

// "postgresql://user@host:port/dbname" for logs: never the password.
std::string describe_conninfo(std::string const& conninfo);

class client {
public:
    client(boost::asio::any_io_executor const& ex, options opts);
    ~client();
    client(client const&) = delete;
    client& operator=(client const&) = delete;

    // Runs one statement with $1…$n bound to `params`. Thread-safe: runs on the client's strand.
    boost::asio::awaitable<result<rows>> query(std::string sql, std::vector<param> params,
                                               bool retry_safe);
    // Runs several statements without parameters as one implicit transaction (the simple query
    // protocol): all of them or none.
    boost::asio::awaitable<result<void>> script(std::string sql);

    // Lets the statements in flight finish, then closes every connection. Later calls fail with
    // client_errc::closed.
    boost::asio::awaitable<void> close();

    [[nodiscard]] std::string const& description() const noexcept { return description_; }

    class pool; // the strand-bound state (postgres_client.cpp)

private:
    std::string description_;
    std::shared_ptr<pool> pool_;
};

} // namespace mcpd::store::pg

template <>
struct boost::system::is_error_code_enum<mcpd::store::pg::client_errc> : std::true_type {};
