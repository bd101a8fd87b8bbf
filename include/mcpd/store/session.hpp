// store/session.hpp — the session record shared with @mcp-ts/sdk, and the rules every backend
// applies to it.
//
// A record is a JSON object. The fields mcpd and @mcp-ts/sdk know are `sessionId, serverId,
// serverName, serverUrl, transportType ("sse" | "streamable_http"), callbackUrl, createdAt (ms
// since the epoch), identity, headers, clientInformation, tokens, codeVerifier, clientId,
// active`; any other field is kept as it is, so a record written by a newer client survives a
// round trip through mcpd. Backends store it as the JSON text serialize() gives.
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace mcpd::store {

using namespace std::chrono_literals;

// Sessions live this long unless the caller says otherwise (as in @mcp-ts/sdk).
inline constexpr duration default_session_ttl = std::chrono::hours(12);

// Limits that keep keys and rows sane; the reference's own ids are 12 characters.
inline constexpr std::size_t max_identity_length = 512;
inline constexpr std::size_t max_session_id_length = 128;

// 12 characters, a letter first, then [A-Za-z0-9], from the CSPRNG.
std::string generate_session_id();

// Identity: non-empty, at most max_identity_length bytes, no control characters. Any other
// character is allowed (':' '*' '?' '[' included: backends must store and find them as is).
result<void> validate_identity(std::string_view identity);
// Session id: non-empty, at most max_session_id_length bytes, no control characters, no ':'
// (the separator of get_all_session_ids()'s "identity:sessionId" strings).
result<void> validate_session_id(std::string_view id);

// Identities that start with "mcpd:" belong to mcpd itself (its protocol sessions are records
// of "mcpd:protocol-sessions"): whoever may choose an identity (a gateway's browser user, a
// token) must not be given one of these, or it could list and remove mcpd's own records.
inline constexpr std::string_view reserved_identity_prefix = "mcpd:";
[[nodiscard]] constexpr bool is_reserved_identity(std::string_view identity) noexcept {
    return identity.starts_with(reserved_identity_prefix);
}

// Both of the above: the key of one session.
result<void> validate_keys(std::string_view identity, std::string_view session_id);

// A record about to be created: identity and sessionId present and valid, known fields of the
// right JSON type (strings, createdAt a number, active a boolean, headers/clientInformation/
// tokens objects or null).
result<void> validate_record(boost::json::object const& record);

// Shallow merge for update_session: each field of `partial` replaces the record's; a field
// set to null is removed. identity and sessionId cannot be changed (invalid_record).
result<void> merge_into(boost::json::object& record, boost::json::object const& partial);

// Reads a stored JSON text back into a record (corrupt_record if it is not a JSON object). The
// record's memory comes from an arena of its own (a shared monotonic_resource), freed with the
// record; what is added to it later comes from that arena too.
result<boost::json::object> parse_record(std::string_view text);

// `identity` and `sessionId` of a record (empty when absent or not strings).
std::string_view record_identity(boost::json::object const& record);
std::string_view record_session_id(boost::json::object const& record);

} // namespace mcpd::store
