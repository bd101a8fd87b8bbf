// redis/client.hpp — the async Redis client: one multiplexed connection, automatic pipelining.
//
//   boost::asio::io_context io;
//   auto cfg = redis::config_from_url("redis://127.0.0.1:6379/0").value();
//   redis::client c(io.get_executor(), cfg);
//   co_spawn(io, [&]() -> awaitable<void> {
//       auto ok = co_await c.exec(redis::command("SET", "greeting", "hello"));
//       auto v  = co_await c.exec(redis::command("GET", "greeting"));   // v->str == "hello"
//       co_await c.quit();
//   }, detached);
//   io.run();
//
// Any number of coroutines may call exec() at once: requests waiting while a write is in
// progress go out together in the next write (automatic pipelining), and each caller gets its
// own reply. The client connects on the first request (or start()), reconnects by its retry
// strategy, and applies the config's timeouts, key prefix, offline queue and retry policy.
//
// The same client speaks to a master found through Sentinel (config::sentinel) and to a Redis
// Cluster (config::cluster): there it keeps one such connection per node, sends each request to
// the node of its keys' slot (a command whose keys are in different slots fails at once, naming
// them), splits a pipeline per node and puts the replies back in order, follows MOVED and ASK,
// runs SCAN over every master, and tracks invalidations on every node. docs/redis.md.
//
// Threads: every member function may be called from any thread; the client's state lives on an
// internal strand and each call resumes on its caller's executor. Cancellation (per-operation
// cancellation slots, as `exec(...) || timer` uses) must be emitted on the caller's executor, as
// Asio requires; it finishes the call with operation_aborted, and a command already written may
// still run on the server.
#pragma once

#include "mcpd/core/error.hpp"
#include "mcpd/redis/command.hpp"
#include "mcpd/redis/config.hpp"
#include "mcpd/redis/event.hpp"
#include "mcpd/redis/resp.hpp"
#include "mcpd/redis/script.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mcpd::redis {

namespace detail {
class connection;
class cluster;
} // namespace detail
class client;

// SCAN over a pattern, as batches of keys (the key prefix is added to the pattern, escaped,
// and removed from the keys). Falls back to one KEYS call where SCAN is refused as an unknown
// command. SCAN may return a key more than once (Redis guarantees only that keys present for
// the whole iteration are returned at least once).
class scanner {
public:
    // The next batch (possibly empty), or nullopt when the iteration is over.
    boost::asio::awaitable<result<std::optional<std::vector<std::string>>>> next();
    // Every remaining key, de-duplicated.
    boost::asio::awaitable<result<std::vector<std::string>>> collect();

private:
    friend class client;
    scanner(client& c, std::string pattern, std::size_t count);
    // The next SCAN reply (nullopt: a cluster's masters are all scanned).
    boost::asio::awaitable<result<std::optional<value>>> scan_reply(command const& scan,
                                                                    request_options raw);

    client* client_;
    std::string pattern_; // with the escaped prefix
    std::size_t count_;
    std::string cursor_ = "0";
    bool done_ = false;
    // A cluster: every master is scanned in turn (each has its own cursor space).
    std::optional<std::vector<node_address>> nodes_;
    std::size_t node_ = 0;
};

class client {
public:
    client(boost::asio::any_io_executor const& ex, config cfg);
    // Disconnects (pending requests fail with client_errc::disconnected). Call quit() first for
    // a clean close.
    ~client();
    client(client&&) noexcept;
    client& operator=(client&&) noexcept;

    // Observes connection events; set before the first request. Called on the client's strand.
    void on_event(std::function<void(event const&)> handler);

    // Starts connecting now instead of on the first request.
    void start();

    // Client-side caching (Redis >= 6 on RESP3), for a cache kept in this process in front of
    // Redis. After every handshake the client sends CLIENT TRACKING ON BCAST NOLOOP PREFIX <p>…
    // (prefixes as the server sees them: the key prefix is added), and from then on hands
    // `on_invalidate` the keys (without the key prefix) that other clients changed or that
    // expired. Whenever tracking is not known to be on (before the first handshake, from the
    // moment a connection is lost, or when the server refuses it) it is called with nullopt:
    // forget everything. tracking_active() says whether a copy kept since can be trusted now.
    // Called on the client's strand. Set before the first request.
    using invalidation_handler = std::function<void(std::optional<std::vector<std::string>> keys)>;
    void track_prefixes(std::vector<std::string> prefixes, invalidation_handler on_invalidate);
    [[nodiscard]] bool tracking_active() const noexcept;

    // One command. A server error reply becomes an error whose code is its server_errc kind and
    // whose detail is the server's text. The command is encoded before this returns: it need not
    // outlive the call.
    boost::asio::awaitable<result<value>> exec(command const& cmd, request_options opts = {});
    // Several commands written together (e.g. MULTI … EXEC): one reply each, in order; error
    // replies stay values (value::is_error()). The error path is for client failures only.
    boost::asio::awaitable<result<std::vector<value>>> exec(request req);

    // EVALSHA, falling back to EVAL when the server answers NOSCRIPT. Keys get the prefix.
    boost::asio::awaitable<result<value>> eval(script const& s, std::vector<std::string> keys,
                                               std::vector<std::string> args,
                                               request_options opts = {});

    // SCAN MATCH pattern COUNT count (see scanner). `pattern` is a glob in the caller's key
    // space: the prefix is added for it.
    scanner scan(std::string_view pattern, std::size_t count = 256);

    // Stops taking requests, waits until every pending one is answered (or fails by its own
    // timeout), sends QUIT, closes. Idempotent.
    boost::asio::awaitable<result<void>> quit();
    // Closes now; pending requests fail with client_errc::disconnected.
    void disconnect();

    [[nodiscard]] connection_state state() const noexcept;
    [[nodiscard]] client_stats stats() const noexcept;
    [[nodiscard]] config const& cfg() const noexcept;
    // What the client connects to, for status output: "standalone at h:p", or "Sentinel master
    // 'm' (3 sentinels) at h:p" once the sentinels named it.
    [[nodiscard]] std::string topology() const;

private:
    struct tracking;
    friend class scanner;
    std::shared_ptr<detail::connection> conn_; // one node (or Sentinel's master); else null
    std::shared_ptr<detail::cluster> cluster_; // a Redis Cluster; else null
    std::shared_ptr<tracking> tracking_;
};

} // namespace mcpd::redis
