// client/oauth.hpp — OAuth 2.1 for MCP client sessions, as the MCP authorization spec
// (2025-06-18, 2025-11-25) asks, with its state kept in the session's storage record so that a
// restarted mcpd, or another instance, carries on without a new login.
//
// The flow, driven through the auth_provider hook (transport.hpp):
//   1. A request gets 401 with `WWW-Authenticate: Bearer resource_metadata="…", scope="…"`.
//   2. Protected resource metadata (RFC 9728): the challenge's URL, else
//      /.well-known/oauth-protected-resource{/path} then /.well-known/oauth-protected-resource
//      on the server's origin. It names the authorization server(s) and the resource.
//   3. Authorization server metadata (RFC 8414), with the OpenID Connect Discovery fallback:
//      oauth-authorization-server{/path}, openid-configuration{/path},
//      {/path}/openid-configuration. Its issuer is required and must be the one asked. PKCE S256
//      must be offered (code_challenge_methods_supported), else a clear error. The authorization
//      server and its endpoints must be https unless on a loopback host.
//   4. The client: a pre-registered id/secret from the settings (only at its issuer), else the
//      client metadata
//      document URL as client_id when the server supports those, else the one stored in the
//      record (clientInformation / clientId) unless it was registered at another authorization
//      server, else dynamic client registration (RFC 7591) at the registration_endpoint, under
//      the record's lock; the result is stored (clientInformation, clientId). Token requests
//      authenticate the way the server lists (client_secret_basic, client_secret_post, none).
//   5. PKCE S256 (a 43+ character verifier from the CSPRNG), a fresh single-use `state`, and the
//      authorization URL with response_type=code, client_id, redirect_uri, code_challenge,
//      code_challenge_method=S256, state, resource (RFC 8707) and scope. The verifier and the
//      state's hash are stored in the record; the request fails with its 401 and
//      authorization_url() says where to send the user. While that authorization is pending
//      (a minute or more left, same server, client and callback, a scope covering the new one),
//      later 401s, here or in another instance, hand out the same URL (oauthPending).
//   6. The callback: finish(code, state) checks and consumes the state under the record's lock
//      (bound to this identity and session, single use even with concurrent callbacks),
//      exchanges the code (with the verifier and resource), stores the tokens with their
//      absolute expiry; the verifier, the state and the pending authorization are gone.
//   7. Every later request carries `Authorization: Bearer …`. Shortly before the stored expiry
//      (proactively) and on a 401 for a token that was sent, the refresh token is used: one
//      refresh per session at a time, across instances when a lock service is given (the
//      others wait, then read the tokens the winner stored). A refresh the server refuses (any
//      OAuth 4xx error; invalid_client also drops the registered client) drops the tokens and
//      starts over at step 5; network errors and 5xx keep them.
//   8. 403 with `error="insufficient_scope"` and a scope: step-up, i.e. step 5 again with the
//      union of the scopes.
//
// The record is @mcp-ts/sdk's session record (kept by an oauth_record, below): `tokens` is RFC
// 6749's token response (so the Node SDK reads it), plus `expires_at` (ms since the epoch) which
// mcpd adds and the Node SDK ignores; `clientInformation` is RFC 7591's response; `codeVerifier`;
// `clientId`. mcpd adds `oauthState` (a SHA-256 of the pending state, hex), `oauthStateExpiresAt`
// (ms since the epoch: a state is good for 10 minutes) and `oauthDiscovery` (what steps 2-3 found:
// the resource, the authorization server and its metadata, and the last requested scope, so that
// finish(), refreshes and step-ups after a restart need no discovery) and `oauthPending` (the
// pending authorization's URL, scope, issuer, client and callback). Tokens and client secrets are
// sealed at rest when the record lives in an encrypting session store (gateway/oauth_state.hpp).
//
// The state's text is "<sessionId>.<nonce>": state_session_id() recovers the session from a
// callback that only carries the state (a gateway's finishAuth given the state as its
// sessionId, as @mcp-ts/sdk's browser client does).
#pragma once

#include "mcpd/client/error.hpp"
#include "mcpd/client/transport.hpp"
#include "mcpd/core/duration.hpp"
#include "mcpd/http/client_options.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <functional>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mcpd::client::oauth {

// Who we are to authorization servers (RFC 7591 client metadata), or a pre-registered client.
struct client_settings {
    std::string redirect_url; // the OAuth callback; required
    std::string client_name = "mcpd";
    std::string client_uri; // empty: not sent
    // Asked for when neither the challenge nor the resource metadata names a scope.
    std::string scope;
    // Pre-registered client: no dynamic registration. With a secret: a confidential client
    // (client_secret_basic, or client_secret_post when the server supports only that).
    std::string client_id;
    std::string client_secret;
    // The authorization server (issuer) client_id and client_secret are registered at: they are
    // used with that one only (another one named by a resource is an error). Empty: with a
    // secret, the first authorization server this session's record used; without, any.
    std::string issuer;
    // The URL of this client's metadata document (Client ID Metadata Documents, MCP
    // 2025-11-25): used as the client_id, without registration, by authorization servers that
    // say client_id_metadata_document_supported. Empty: not used.
    std::string client_metadata_url;
};

// Where one session's OAuth state lives: the fields of its record named above. The gateway keeps
// them in the session's storage record (gateway/oauth_state.hpp), so that a restarted mcpd, or
// another instance, carries on without a new login; memory_oauth_record keeps them in this
// process.
class oauth_record {
public:
    virtual ~oauth_record() = default;
    // The record, or nullopt when there is none; an error when it cannot be read (never "none").
    virtual boost::asio::awaitable<result<std::optional<boost::json::object>>> read() = 0;
    // Each field of `partial` replaces the record's; a field set to null is removed.
    virtual boost::asio::awaitable<result<void>> update(boost::json::object partial) = 0;
};

// A record in this process's memory (nothing survives a restart).
class memory_oauth_record final : public oauth_record {
public:
    explicit memory_oauth_record(boost::json::object initial = {})
        : record_(std::move(initial)) {}
    boost::asio::awaitable<result<std::optional<boost::json::object>>> read() override;
    boost::asio::awaitable<result<void>> update(boost::json::object partial) override;

private:
    boost::json::object record_;
};

// One holder at a time of a session's OAuth state while it refreshes, registers, or starts or
// finishes an authorization: the others wait, then read what the holder stored. The gateway's
// spans a fleet (guard locks on Redis); without one, session_auth uses one within this process.
class oauth_lock {
public:
    virtual ~oauth_lock() = default;
    using body_fn = std::function<boost::asio::awaitable<void>()>;
    // Runs `body` holding the lock named `key` (held at most `ttl`), waiting up to `wait` for it;
    // an error when it could not be had in time. An exception from `body` propagates.
    virtual boost::asio::awaitable<result<void>> run(std::string key, duration ttl, duration wait,
                                                     body_fn body) = 0;
};

struct session_auth_options {
    client_settings client;
    http::client_options http; // TLS trust, timeouts and limits for the OAuth endpoints
    // Refresh this long before the stored expiry (at most half the token's lifetime).
    duration refresh_margin = std::chrono::seconds(60);
    // The whole handling of one 401/403 (discovery, registration, lock waits) ends within this,
    // so that it cannot outlast the request waiting on it.
    duration challenge_budget = std::chrono::seconds(30);
    // One refresh per session across instances (the gateway's, on Redis locks for a fleet).
    // Null: one per session within this process only.
    std::shared_ptr<oauth_lock> lock;
};

// OAuth for one session record (identity, sessionId), which `record` must hold. The object
// reads the record on first use and keeps the tokens it read or stored; it reads the record
// again on a 401 (tokens another object stored, e.g. the one whose finish() ran, are taken from
// there) and under the refresh lock before refreshing. One executor, like the session using it.
class session_auth final : public auth_provider {
public:
    session_auth(boost::asio::any_io_executor ex, std::shared_ptr<oauth_record> record,
                 std::string identity, std::string session_id, session_auth_options opts);
    ~session_auth() override;
    session_auth(session_auth const&) = delete;
    session_auth& operator=(session_auth const&) = delete;

    boost::asio::awaitable<result<void>> authorize(http::header_list& headers) override;
    boost::asio::awaitable<bool> unauthorized(auth_challenge const& challenge) override;

    // Set once a request failed because the user must authorize (steps 5 and 8): where to send
    // them. Cleared by finish().
    [[nodiscard]] std::optional<std::string> const& authorization_url() const noexcept;
    // The last OAuth failure (discovery, registration, exchange, refresh), for the error a
    // caller reports instead of a bare 401.
    [[nodiscard]] std::optional<error> const& last_error() const noexcept;

    // The callback: checks `state`, exchanges `code`, stores the tokens, deletes the verifier
    // and the state. A wrong, reused or expired state is an error and changes nothing. Fails
    // when the authorization server says it sends `iss` (RFC 9207): use the overload below.
    boost::asio::awaitable<result<void>> finish(std::string code, std::string state);
    // The same, also checking the callback's `iss` parameter (RFC 9207; empty when the callback
    // had none): it must name the authorization server that was asked, and must be there when
    // that server's metadata says authorization_response_iss_parameter_supported.
    boost::asio::awaitable<result<void>> finish(std::string code, std::string state,
                                                std::string iss);

    struct impl;

private:
    std::shared_ptr<impl> impl_;
};

// The session id a state names ("<sessionId>.<nonce>"), or nullopt when it is not one of ours.
std::optional<std::string_view> state_session_id(std::string_view state) noexcept;

} // namespace mcpd::client::oauth
