// server/operations.hpp — what an operator's tools ask a running server: is it alive
// (GET /health), may it take traffic (GET /ready), and how is it doing (GET /metrics).
//
// Readiness is decided in the background: every `interval` each dependency is checked at once
// (storage: ping(); each Redis client: PING), each with its own `timeout`; /ready answers from
// the last round, so a probe never waits on a dependency and never hangs. A check still
// running from an earlier round is not started again (a hung backend does not pile up
// checks); it counts as failed until it answers in time. Overall:
//
//   ok        every check passes                                            200
//   degraded  an optional dependency fails (Redis of guards that fail open:  200
//             the server works without it), flagged in the answer
//   fail      a required dependency fails (the session storage)             503
//   draining  shutting down: no new sessions                                503
//
// /ready's body: {"status": "ok", "checked_at_ms": …, "age_ms": …, "checks": {"storage":
// {"kind": "storage", "backend": "sqlite", "required": true, "status": "ok", "latency_ms":
// 0.21}, "redis:guards": {"kind": "redis", "required": false, "status": "fail", "error": …,
// "effect": "rate limits fail open", "url": "redis://…", "state": "reconnecting"}}}.
//
// Metrics this adds: mcpd_readiness{status} (1 for the current one), mcpd_dependency_up
// {dependency,kind}, and for each Redis client mcpd_redis_rtt_seconds{client} (the checks'
// PING round trips), mcpd_redis_commands_total, mcpd_redis_command_errors_total,
// mcpd_redis_reconnects_total, mcpd_redis_connection_errors_total and mcpd_redis_connected.
//
// Threads: everything here runs on `ex`, which must be one thread (mcpd's I/O thread); the
// metrics it feeds may be read from anywhere.
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"
#include "mcpd/core/metrics.hpp"
#include "mcpd/http/policy.hpp"
#include "mcpd/http/server.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <functional>
#include <memory>
#include <string>

namespace mcpd::redis {
class client;
}
namespace mcpd::store {
class session_store;
}

namespace mcpd::server {

struct operations_options {
    duration interval = std::chrono::seconds(5); // between rounds of checks
    duration timeout = std::chrono::seconds(1);  // each check's own limit
    // The Host and Origin checks of /mcp apply here too (a page that rebinds a name to a
    // loopback mcpd must not read /metrics or /ready); the default accepts any Host.
    http::origin_policy origins;
};

enum class readiness { ok, degraded, fail, draining };
std::string_view to_string(readiness r) noexcept;

class operations {
public:
    operations(boost::asio::any_io_executor ex, metrics::registry& reg,
               operations_options opts = {});
    ~operations();
    operations(operations const&) = delete;
    operations& operator=(operations const&) = delete;

    // --- dependencies (add them before start()) ---

    // The session storage: required; checked with ping(). A Redis storage's client is added
    // with add_redis("storage", …, required) as well, for its connection state and metrics.
    void add_storage(std::shared_ptr<store::session_store> s);
    // A Redis client, checked with PING, its stats exported. `required`: its failure makes the
    // server not ready; otherwise only degraded, and `effect` says what the server does
    // meanwhile ("rate limits fail open"). `owner` keeps the client alive as long as this.
    void add_redis(std::string name, redis::client& c, bool required, std::string effect,
                   std::shared_ptr<void const> owner = {});
    // Any other dependency: `check` answers with details for /ready, or an error.
    using check_fn = std::function<boost::asio::awaitable<result<boost::json::object>>()>;
    void add_check(std::string name, std::string kind, bool required, std::string effect,
                   check_fn check);

    // --- running ---

    // One round of checks; returns when each has answered or timed out.
    boost::asio::awaitable<void> check_now();
    // A round every interval from now on, until stop().
    void start();
    void stop();
    // Shutting down: /ready answers 503 "draining" from now on.
    void set_draining();

    [[nodiscard]] readiness state() const noexcept;
    [[nodiscard]] boost::json::object report() const;

    // Runs before each /metrics page is rendered, on this object's executor: where numbers kept
    // on other event loops are gathered into gauges (counters need nothing: they are atomics).
    void on_render(std::function<boost::asio::awaitable<void>()> refresh);

    // GET /health, /ready and /metrics; false (nothing sent) for other paths. Any event loop
    // may call it: the answer is made on this object's executor and sent from the caller's.
    boost::asio::awaitable<bool> handle(http::exchange& ex);
    // Whether handle() serves this path (the target without its query).
    [[nodiscard]] static bool serves(std::string_view path) noexcept;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace mcpd::server
