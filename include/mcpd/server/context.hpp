// server/context.hpp — what a tool, resource or prompt handler can do besides returning.
//
// A context lives for one client request. Messages it sends (progress, log messages,
// requests to the client) travel on that request's channel: for Streamable HTTP the POST's
// response, which turns into an SSE stream at the first such message.
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"
#include "mcpd/guard/guards.hpp"
#include "mcpd/server/error.hpp"
#include "mcpd/server/session.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mcpd::server {

class server;

// RFC 5424 levels as MCP names them, lowest first.
int log_level_rank(std::string_view level); // -1 when unknown

class context {
public:
    context(server& srv, std::shared_ptr<session> s, boost::json::value request_id,
            boost::json::object request_params, message_sink related,
            std::shared_ptr<in_flight_request> flight, boost::asio::any_io_executor ex);

    [[nodiscard]] std::string const& session_id() const noexcept;
    // Stateless requests: the client's address (HTTP), or empty; a session's requests: empty.
    [[nodiscard]] std::string const& client() const noexcept;
    [[nodiscard]] std::string const& protocol_version() const noexcept;
    [[nodiscard]] boost::json::value const& request_id() const noexcept { return request_id_; }
    [[nodiscard]] boost::json::object const& request_meta() const noexcept;
    [[nodiscard]] boost::json::object const& request_params() const noexcept { return params_; }
    [[nodiscard]] boost::json::object const& client_capabilities() const noexcept;
    [[nodiscard]] boost::asio::any_io_executor executor() const noexcept { return ex_; }
    [[nodiscard]] server& owner() noexcept { return srv_; }

    // True once the client cancelled the request (notifications/cancelled). Awaited operations
    // in the handler are also cancelled then.
    [[nodiscard]] bool cancelled() const noexcept;

    // notifications/progress, when the request carried a progressToken (else nothing is sent).
    void progress(double progress, std::optional<double> total = {}, std::string_view message = {});
    // notifications/message at `level` ("debug" … "emergency"), when the session's level lets
    // it through.
    void log(std::string_view level, boost::json::value data, std::string_view logger = {});

    // Ends the HTTP response that carries this request's SSE stream now, while the handler
    // goes on (SEP-1699 polling: a server frees a connection during a long call). The client
    // reconnects after the stream's retry interval with Last-Event-ID and gets what was sent
    // since, the answer included. Only where that resumption works: a POST answered as an SSE
    // stream in a session at 2025-11-25 or later (its first event is the priming one). False
    // otherwise (JSON answers, stdio, legacy SSE, stateless requests), and nothing changes.
    bool close_sse_stream();

    // A request to the client on this request's channel; the reply's result, or an error.
    boost::asio::awaitable<result<boost::json::value>>
    request(std::string method, boost::json::object params,
            duration timeout = std::chrono::seconds(60));
    //
    // In a stateless (2026-07-28) request there is no channel back: the request becomes an
    // entry of an `input_required` result under `key` (default: "<method>#<n>", n counting the
    // context's requests), and the handler is run again when the client retries with the
    // answers. Answers of earlier rounds travel in the sealed requestState, so a handler that
    // asks several times in a row simply asks again each round and gets the answers it has.
    boost::asio::awaitable<result<boost::json::value>>
    request(std::string method, boost::json::object params, duration timeout, std::string key);
    // The same, after checking the client declared the capability the method needs
    // (elicitation in URL mode, `{"mode": "url", "url": …, "elicitationId": …}`, needs
    // elicitation.url).
    boost::asio::awaitable<result<boost::json::value>> create_message(boost::json::object params);
    boost::asio::awaitable<result<boost::json::value>> elicit(boost::json::object params);
    boost::asio::awaitable<result<boost::json::value>> list_roots();

    // Stateless input (MRTR): the answer the client gave under `key` this round or an earlier
    // one; nullptr when none. A requestState that fails its integrity check throws
    // protocol_error (-32602).
    boost::json::value const* input_response(std::string_view key);
    // The requestState to send with an input_required result: the answers so far, sealed.
    std::string sealed_state();

    // --- guards from handler code (the server's guard::guard_set; see guard/guards.hpp) ---
    guard::guard_set& guards();
    // Cache-aside on <prefix>cache:<key>: fn's value (JSON-convertible) for `ttl`.
    template <class F>
    auto with_cache(std::string key, duration ttl, F fn) {
        return guards().with_cache(std::move(key), ttl, std::move(fn));
    }
    // One call of `tool` by this request's session against `max` per `window`.
    boost::asio::awaitable<guard::rate_decision>
    check_rate_limit(std::string_view tool, std::int64_t max, duration window);
    // fn() or fn(lock_lease const&) holding <prefix>lock:<resource>; throws guard::lock_busy
    // (its message: "Operation in progress — try again in a moment") or lock_unavailable.
    template <class F>
    auto with_lock(std::string resource, duration ttl, F fn) {
        return guards().with_lock(std::move(resource), ttl, std::move(fn));
    }
    // The fencing token of the lock the tool declared, while its handler runs; nullopt when the
    // tool declares none or ran without it (lock backend down, policy: proceed).
    [[nodiscard]] std::optional<std::int64_t> lock_fence() const noexcept { return fence_; }
    // The lease of the tool's declared lock (the dispatcher sets it).
    void set_lock_lease(guard::lock_lease const& lease) {
        fence_ = lease.held ? std::optional<std::int64_t>(lease.fence) : std::nullopt;
    }

private:
    bool send(boost::json::object const& msg);
    void load_inputs();

    std::optional<std::int64_t> fence_;
    bool inputs_loaded_ = false;
    boost::json::object inputs_; // answers of this and earlier rounds, by key
    int next_key_ = 1;

    server& srv_;
    std::shared_ptr<session> session_;
    boost::json::value request_id_;
    boost::json::object params_;
    message_sink related_;
    std::shared_ptr<in_flight_request> flight_;
    boost::asio::any_io_executor ex_;
};

} // namespace mcpd::server
