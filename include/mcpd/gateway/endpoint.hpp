// gateway/endpoint.hpp — the gateway's browser-facing HTTP endpoints on mcpd's HTTP server,
// wire-compatible with @mcp-ts/sdk's browser client (SSEClient, useMcp):
//
//   GET  /gateway?identity=…   an SSE stream of the identity's events: `connected` first, then
//                              `connection` (state_changed, tools_discovered, auth_required,
//                              error, disconnected, progress), `observability` (logs and a
//                              heartbeat every heartbeat interval) and `rpc-response` (the
//                              answer to every RPC of the identity, as the reference's
//                              createSSEHandler sends them). Several tabs may hold one each.
//   POST /gateway?identity=…   one RPC `{id, method, params}` (rpc.hpp). With
//                              `Accept: text/event-stream` (what SSEClient 1.6 sends) the answer
//                              is an SSE stream: `connected`, the events this call causes, then
//                              `rpc-response` and the end; otherwise `{id, result}` or
//                              `{id, error}` as JSON. Either way the response also goes to the
//                              identity's GET streams, on every instance.
//   OPTIONS /gateway           CORS preflight, for the allowed origins.
//
// Who may act as an identity (`Authorization: Bearer <token>` or `X-Gateway-Token: <token>`,
// compared in constant time, never logged): a per-identity token (token.hpp) for the identity
// the request names, minted by the app's backend for the user it authenticated; or the trusted
// backend's token (any identity: server-to-server only); or, with the development setting, a
// loopback peer on a loopback bind with no Forwarded / X-Forwarded-For / X-Real-IP header. A token
// in the URL (`?token=`, which SSEClient also sends next to the header) is ignored: URLs end up
// in logs.
//
// Browsers of other origins: on a loopback bind, the server's origin policy (loopback origins by
// default); otherwise only origins listed in allowed-origin (or hosts in allowed-host) get CORS
// headers and are served; a page of the gateway's own origin always is.
//
// Fan-out: events and RPC responses are delivered to this instance's streams of the identity
// and, with enable_fanout(), published on a Redis channel that every instance subscribes to, so
// a POST served by one instance reaches the GET stream another instance holds. A `disconnected`
// that comes from another instance also closes this instance's connection of that session.
// Each message is `<hex HMAC>.<json>` under fanout_key: one published by anyone else on the
// Redis channel (without the key) is dropped, and the first such one is logged.
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"
#include "mcpd/gateway/events.hpp"
#include "mcpd/http/policy.hpp"
#include "mcpd/http/server.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <string>

namespace mcpd::redis {
class client;
struct config;
} // namespace mcpd::redis

namespace mcpd::gateway {

class manager;

struct endpoint_options {
    std::string path = "/gateway";
    // The trusted backend's token: acts as ANY identity. For server-to-server calls only
    // (never put it in a browser). Empty: none.
    std::string token;
    // gateway-secret: the key of per-identity tokens (token.hpp), which browsers carry.
    std::string identity_secret;
    // The key of the fan-out's message seal (token.hpp's fanout_seal): every instance of a
    // fleet has the same. Messages that do not verify are dropped. Empty: unsealed.
    std::string fanout_key;
    bool allow_loopback_dev = false; // development: no token needed on a loopback bind
    bool bind_is_loopback = false;   // set from the bind address
    duration heartbeat = std::chrono::seconds(30);
    std::size_t max_streams_per_identity = 32;
    // RPCs of one identity being answered at once; more get 429 TOO_MANY_REQUESTS.
    std::size_t max_rpcs_per_identity = 16;
    // A GET stream's buffer: a slow reader over it is dropped.
    std::size_t sse_max_buffered_bytes = 1024 * 1024;
    // The largest RPC answer (serialized): a bigger one becomes an EXECUTION_ERROR naming the
    // limit. The POST response stream holds that much plus sse_max_buffered_bytes of events.
    std::size_t max_result_bytes = 16 * 1024 * 1024;
    // Events and RPC answers bigger than this are not copied to the identity's GET streams nor
    // to other instances (the POST that caused them still gets them): one large tool result
    // must not overflow, and so close, every tab's stream.
    std::size_t broadcast_max_bytes = 256 * 1024;
    http::origin_policy origins; // Host and Origin checks; allowed origins also get CORS
};

class endpoint {
public:
    endpoint(boost::asio::any_io_executor ex, manager& m, endpoint_options opts);
    ~endpoint();
    endpoint(endpoint const&) = delete;
    endpoint& operator=(endpoint const&) = delete;

    // For the manager's event sink: delivers here and, with fan-out, to the other instances.
    void publish(event const& ev);

    // Handles requests to the path (true), leaves others alone (false).
    boost::asio::awaitable<bool> handle(http::exchange& x);
    // Whether handle() serves this path (the target without its query): a router asks first
    // and spends no coroutine on requests that are not for it.
    [[nodiscard]] bool serves(std::string_view path) const noexcept;

    // Publishes on `channel` with `publisher` and subscribes to it on a connection of its own
    // (redis/subscriber.hpp) made from `cfg`. Returns once subscribed.
    boost::asio::awaitable<result<void>>
    enable_fanout(redis::client& publisher, redis::config const& cfg, std::string channel);
    // Fan-out by other means (the event loops of one process): `send` carries each message to
    // the other instances, which hand it to their receiver() on their own executor.
    void enable_fanout(std::function<void(std::string)> send);
    // Takes a message `send` carried here (on this endpoint's executor); nothing once closed.
    [[nodiscard]] std::function<void(std::string_view)> receiver() const;

    // Draining: new streams and RPCs are refused (503); close_streams() ends the open ones.
    void stop_accepting();
    void close_streams();
    [[nodiscard]] std::size_t open_streams() const noexcept;
    [[nodiscard]] std::size_t in_flight() const noexcept;
    // Whether the identity has an open event stream here (the manager's idle sweeper asks).
    [[nodiscard]] bool has_streams(std::string const& identity) const;
    // Stops the fan-out subscriber.
    boost::asio::awaitable<void> close();

    struct impl;

private:
    std::shared_ptr<impl> impl_;
};

} // namespace mcpd::gateway
