// gateway/token.hpp — per-identity gateway tokens and the fan-out's message seal.
//
// An identity token lets a browser act as ONE identity of the web app, until it expires:
//   v1.<expiry, unix seconds>.<hex HMAC-SHA256(gateway-secret, identity + "." + expiry)>
// The app's backend mints it (mint_identity_token, `mcpd gateway token`, or the formula in any
// language) for the user it has authenticated and hands it to the page; /gateway checks it for
// the identity the request names, in constant time, and refuses it once expired.
//
// The Redis fan-out carries events between instances; fanout_seal() is an HMAC of each message
// under a key derived from the gateway secret, so that anyone who can PUBLISH on the Redis
// channel cannot inject events or disconnects.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mcpd::gateway {

// The token for `identity` expiring at `expiry_unix` (seconds since the epoch).
std::string mint_identity_token(std::string_view secret, std::string_view identity,
                                std::int64_t expiry_unix);

// Whether `token` is a well-formed, unexpired (at `now_unix`) token for `identity` under
// `secret` (an empty secret accepts nothing).
bool verify_identity_token(std::string_view secret, std::string_view identity,
                           std::string_view token, std::int64_t now_unix);

// Equal, in time that does not depend on where the texts differ (false for an empty `b`).
bool same_secret(std::string_view a, std::string_view b);

// The fan-out's HMAC-SHA256 (hex) of `message`, under a key derived from `secret`.
std::string fanout_seal(std::string_view secret, std::string_view message);

} // namespace mcpd::gateway
