// gateway/manager.hpp — the MCP client gateway's multi-session manager: each identity (an
// opaque user id of the web app in front) holds connections to remote MCP servers, each one a
// client::session whose record lives in the session store (@mcp-ts/sdk's record), so that after
// a restart, or on another instance, it is restored rather than lost.
//
// What it does per identity, as @mcp-ts/sdk's server side does (sse-handler.ts,
// multi-session-client.ts, oauth-client.ts) with its RPC result shapes:
//   connect        → {sessionId, success}: a new record (active: false, short TTL) only while
//                    connecting; connected: active, the transport that worked, 12 h TTL, tools
//                    discovered. A failed connect removes the record (no ghost). A second
//                    connect to the same server (serverId or serverUrl) is refused, unless the
//                    first one waits for OAuth, which it then resumes. A 401 the OAuth layer
//                    can fix: `auth_required` with the URL to send the user to, the record kept
//                    (active: false) and {sessionId, success: true, requiresAuth: true, authUrl}.
//   disconnect     → {success}: closes the connection, removes the record.
//   getSessions    → {sessions: [{sessionId, serverId, serverName, serverUrl, transport,
//                    createdAt, active}]}.
//   restoreSession → {success, toolCount}: reconnects a stored session (its stored transport).
//   restore_all    → every active stored session, in batches, each bounded by a timeout and
//                    retried (multi-session-client.ts's connect()).
//   finishAuth     → {success, toolCount}: the OAuth callback; `sessionId` may be the OAuth
//                    state itself (the state names its session), then reconnects.
//   listTools, callTool (result's _meta.sessionId added), listPrompts, getPrompt,
//   listResources, readResource: on the live connection, restored first when there is none.
// Events (events.hpp) go to the sink given at construction (every open stream of the identity)
// and to the `also` sink of the call that caused them (the response stream of that request).
// A server's notifications/tools/list_changed is answered with a new discovery (tools_discovered
// with the new list). A connection that fails later (the server went away, a stream could not be
// resumed) moves to FAILED with an `error` event; its record stays, so a later call or restore
// reconnects.
//
// Threading: one executor; every call runs on it.
#pragma once

#include "mcpd/client/session.hpp"
#include "mcpd/gateway/authorizer.hpp"
#include "mcpd/gateway/error.hpp"
#include "mcpd/gateway/events.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <boost/asio/ip/address.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mcpd::store {
class session_store;
}

namespace mcpd::gateway {

struct manager_options {
    // The base of every connection's options (client info, timeouts, TLS, ping interval).
    client::session_options client;
    duration connect_timeout = std::chrono::seconds(15); // one connect attempt
    unsigned max_retries = 2;                            // restore_all: attempts after the first
    duration retry_delay = std::chrono::seconds(1);
    std::size_t restore_batch = 5; // restore_all: sessions connected at once
    duration session_ttl = std::chrono::hours(12);
    duration pending_ttl = std::chrono::minutes(10); // connecting or waiting for OAuth
    // OAuth; without `make`, a server that answers 401 fails the connect.
    authorizer_factory oauth;
    // Which servers a browser may make the gateway reach (SSRF). allowed_servers: host names
    // ("mcp.example.com", "*.example.com" for its subdomains) or URL prefixes
    // ("https://mcp.example.com/v1/"); empty: any. Unless allow_private_servers, every address a
    // server's name resolves to must be public (server_address_policy), checked at connect time.
    std::vector<std::string> allowed_servers;
    bool allow_private_servers = false;
    // A remote server's tool list, as the gateway discovers it (tools/list, page by page): at
    // most this many tools, this many bytes (serialized), within this time overall; over a
    // limit the discovery fails with an error naming it (the connection stays).
    std::size_t max_tools = 1000;
    std::size_t max_tools_bytes = 4 * 1024 * 1024;
    duration discovery_timeout = std::chrono::seconds(30);
    // Caps: stored sessions per identity (connect refuses more), live connections per identity
    // and in all (a connection attempt beyond them fails; idle ones are closed first).
    std::size_t max_sessions_per_identity = 50;
    std::size_t max_live_per_identity = 20;
    std::size_t max_live_total = 1000;
    // The sweeper, every sweep_interval: closes connections unused for idle_timeout whose
    // identity has no open event stream (has_streams), drops what waited for OAuth longer than
    // pending_ttl, and closes connections whose record is gone (expired or removed elsewhere).
    // Zero idle_timeout: idle connections stay.
    duration idle_timeout = std::chrono::minutes(30);
    duration sweep_interval = std::chrono::minutes(1);
    std::function<bool(std::string const& identity)> has_streams;
};

// The HTTP client hook that refuses non-public addresses (loopback, RFC 1918, link-local, ULA,
// CGNAT, 0.0.0.0/8, unspecified, multicast): for the gateway's sessions and for the OAuth
// endpoints they reach. Null when `allow_private` (development).
std::function<std::string(boost::asio::ip::address const&)>
server_address_policy(bool allow_private);

// Why `url` is not among `allowed` (manager_options::allowed_servers), or empty when it is.
std::string server_not_allowed(std::vector<std::string> const& allowed, std::string_view url);

struct connect_params {
    std::string server_id; // at most 12 characters; else (or empty) one is generated
    std::string server_name;
    std::string server_url;
    std::string callback_url;                        // the OAuth redirect
    std::optional<client::transport_kind> transport; // unset: Streamable HTTP, then HTTP+SSE
    std::vector<std::pair<std::string, std::string>> headers;
};

class manager {
public:
    manager(boost::asio::any_io_executor ex, std::shared_ptr<store::session_store> store,
            manager_options opts, event_sink sink);
    ~manager();
    manager(manager const&) = delete;
    manager& operator=(manager const&) = delete;

    using json_result = boost::asio::awaitable<result<boost::json::object>>;

    json_result get_sessions(std::string identity);
    json_result connect(std::string identity, connect_params p, event_sink also = {});
    json_result disconnect(std::string identity, std::string session_id, event_sink also = {});
    json_result restore_session(std::string identity, std::string session_id, event_sink also = {});
    // {sessions: [{sessionId, success, toolCount | error}]}.
    json_result restore_all(std::string identity, event_sink also = {});
    // `iss`: the callback's issuer parameter (RFC 9207), checked when given.
    json_result finish_auth(std::string identity, std::string session_id_or_state, std::string code,
                            std::string state = {}, std::string iss = {}, event_sink also = {});
    json_result list_tools(std::string identity, std::string session_id, event_sink also = {});
    json_result call_tool(std::string identity, std::string session_id, std::string tool,
                          boost::json::object args, event_sink also = {});
    json_result list_prompts(std::string identity, std::string session_id, event_sink also = {});
    json_result get_prompt(std::string identity, std::string session_id, std::string name,
                           boost::json::object args, event_sink also = {});
    json_result list_resources(std::string identity, std::string session_id, event_sink also = {});
    json_result read_resource(std::string identity, std::string session_id, std::string uri,
                              event_sink also = {});

    // Another instance disconnected this session (its `disconnected` event came through the
    // fan-out): closes the connection held here, if any, without touching the store or
    // announcing anything (the other instance did both).
    boost::asio::awaitable<void> forget(std::string identity, std::string session_id);

    // The connection state of a session held here (DISCONNECTED when none).
    [[nodiscard]] connection_state state_of(std::string const& identity,
                                            std::string const& session_id) const;
    [[nodiscard]] std::size_t live_count() const noexcept;
    // One sweep now (the sweeper runs it every sweep_interval once a connection exists).
    boost::asio::awaitable<void> sweep();
    // Closes every connection (the records stay, for the next start).
    boost::asio::awaitable<void> close();

    struct impl;

private:
    std::shared_ptr<impl> impl_;
};

} // namespace mcpd::gateway
