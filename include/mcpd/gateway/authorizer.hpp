// gateway/authorizer.hpp — OAuth for one gateway session, as the manager needs it.
//
// The manager only needs four things from OAuth: an auth_provider for the session's requests,
// where to send the user after a 401 (authorization_url), why OAuth failed (last_error), and the
// callback (finish). This seam keeps the manager independent of how OAuth is done:
// oauth_authorizers() (oauth_authorizer.cpp) binds it to client::oauth::session_auth, the MCP
// authorization spec's flow with its state in the session record.
#pragma once

#include "mcpd/client/oauth.hpp"
#include "mcpd/client/transport.hpp"
#include "mcpd/core/error.hpp"
#include "mcpd/http/client_options.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mcpd::store {
class session_store;
}
namespace mcpd::guard {
class lock_service;
}

namespace mcpd::gateway {

class session_authorizer {
public:
    virtual ~session_authorizer() = default;
    // For client::session_options::auth.
    [[nodiscard]] virtual std::shared_ptr<client::auth_provider> provider() = 0;
    // Set once a request failed because the user must authorize.
    [[nodiscard]] virtual std::optional<std::string> authorization_url() const = 0;
    [[nodiscard]] virtual std::optional<error> last_error() const = 0;
    // The OAuth callback: checks `state` (and `iss`, RFC 9207, when not empty), exchanges
    // `code`, stores the tokens.
    virtual boost::asio::awaitable<result<void>> finish(std::string code, std::string state,
                                                        std::string iss) = 0;
};

struct authorizer_factory {
    // OAuth for the stored session (identity, sessionId) whose redirect is `callback_url`.
    std::function<std::shared_ptr<session_authorizer>(std::string identity, std::string session_id,
                                                      std::string callback_url)>
        make;
    // The session an OAuth `state` belongs to, or nullopt when it is not one of ours.
    std::function<std::optional<std::string>(std::string_view state)> session_of_state;
};

struct oauth_settings {
    std::string client_name = "mcpd";
    std::string client_uri;
    std::string scope;
    std::string client_id; // pre-registered client (else dynamic registration)
    std::string client_secret;
    // One token refresh per session across instances (the guards' Redis locks for a fleet).
    std::shared_ptr<guard::lock_service> locks;
    // TLS trust, limits and the address policy (manager.hpp's server_address_policy) for the
    // OAuth endpoints a remote server sends the gateway to.
    http::client_options http;
};

// A session's OAuth state in its storage record (identity, sessionId): what session_auth reads
// and updates, sealed at rest when the store encrypts.
std::shared_ptr<client::oauth::oauth_record>
stored_oauth_record(std::shared_ptr<store::session_store> store, std::string identity,
                    std::string session_id);

// One OAuth refresh per session at a time through guard locks (on Redis: across a fleet); while
// the lock backend is unavailable the refresh goes ahead without it (a lock is a safety net here:
// at worst two instances refresh and the later token wins).
std::shared_ptr<client::oauth::oauth_lock>
guarded_oauth_lock(std::shared_ptr<guard::lock_service> locks);

// OAuth 2.1 through client::oauth::session_auth on `store`.
authorizer_factory oauth_authorizers(boost::asio::any_io_executor ex,
                                     std::shared_ptr<store::session_store> store,
                                     oauth_settings settings);

} // namespace mcpd::gateway
