// client/oauth_detail.hpp — the pure pieces of the OAuth client (oauth.hpp): challenge parsing,
// PKCE, discovery URL lists, state, token responses, form encoding. No I/O here, so the unit
// tests check each against the RFCs' own examples.
#pragma once

#include "http/client.hpp"
#include "mcpd/core/error.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpd::client::oauth::detail {

// One challenge of a WWW-Authenticate header (RFC 9110 §11.6.1): its scheme (lower case), its
// auth-params (names lower case, quoted values unescaped) or its token68.
struct challenge {
    std::string scheme;
    std::map<std::string, std::string, std::less<>> params;
    std::string token68;
    [[nodiscard]] std::string_view param(std::string_view name) const;
};
// Every challenge of a header value; a syntax error ends the list where it happens (what came
// before is kept: a server's odd extension must not hide its Bearer challenge).
std::vector<challenge> parse_www_authenticate(std::string_view header);
// The Bearer challenge, if any.
std::optional<challenge> bearer_challenge(std::string_view header);

// PKCE (RFC 7636): a verifier of 64 unreserved characters from the CSPRNG, and its S256
// challenge, BASE64URL(SHA-256(verifier)) without padding.
std::string make_code_verifier();
std::string s256_challenge(std::string_view verifier);

std::string sha256_hex(std::string_view data);
std::string base64(std::string_view data);
std::string base64url(std::string_view data); // no padding

// "<sessionId>.<nonce>", the nonce 32 hex characters from the CSPRNG.
std::string make_state(std::string_view session_id);

// Where protected resource metadata may be (RFC 9728 §3.1, MCP 2025-11-25): the challenge's
// resource_metadata URL alone when given; else the path-aware well-known URL, then the root one.
std::vector<std::string> resource_metadata_urls(http::url const& server,
                                                std::string_view from_challenge);
// Where authorization server metadata may be, in the MCP spec's order: RFC 8414 then OpenID
// Connect Discovery, path-aware when the issuer has a path.
std::vector<std::string> authorization_server_metadata_urls(http::url const& issuer);

// The canonical URI of an MCP server (RFC 8707 resource): scheme and host in lower case, no
// query, no fragment, no trailing slash on a bare origin.
std::string canonical_resource(http::url const& server);
// Whether a resource metadata's `resource` covers the server: same origin, and the server's
// path is the resource's path or below it.
bool resource_covers(http::url const& resource, http::url const& server);

// application/x-www-form-urlencoded (spaces as %20, which every decoder accepts).
std::string form_urlencode(std::string_view text);
std::string form_body(std::vector<std::pair<std::string, std::string>> const& fields);

// Space-separated scope lists: the union, in first-seen order, without duplicates.
std::string scope_union(std::string_view a, std::string_view b);

// A token endpoint's 200 answer as the record's `tokens`: its RFC 6749 fields (access_token,
// token_type, expires_in as a number, refresh_token, scope, id_token; nothing else is kept) plus
// expires_at (ms since the epoch) when it has expires_in. Refuses what is not a JSON object, a
// missing or empty access_token, a token_type other than Bearer, a negative or non-numeric
// expires_in (a numeric string is taken), a refresh_token or scope that is not a string.
result<boost::json::object> parse_token_response(std::string_view body, std::int64_t now_ms);
// A token endpoint's error answer (RFC 6749 §5.2) as an error: invalid_grant as errc::
// invalid_grant, anything else token_request_failed; the detail names the error and its
// description (both capped), never a credential.
error token_error(unsigned status, std::string_view body, std::string_view what);

// What a refused refresh means. transient: try again later, keep the tokens (network, 5xx, 408,
// 429); grant: the token endpoint refused the grant (invalid_grant and any other OAuth 4xx
// error): drop the tokens and log in again; client: it does not know the client
// (invalid_client): also drop the client registration.
enum class refusal { transient, grant, client };
refusal classify_token_error(unsigned status, std::string_view body);

// An integer JSON field: a number in int64 range (fractions truncated), or with `numeric_strings`
// also a string holding one; anything else (1e300, "abc", true) is nullopt.
std::optional<std::int64_t> int_field(boost::json::object const& o, std::string_view key,
                                      bool numeric_strings = false);

// Whether tokens are due for a refresh at `now_ms`: expires_at minus a margin of refresh_margin,
// but at most half the token's lifetime (expires_in) so that short-lived tokens are not
// refreshed on every request. No expires_at: never due.
bool refresh_due(boost::json::object const& tokens, std::int64_t now_ms,
                 std::int64_t refresh_margin_ms);

// Authorization server endpoints must be https (MCP authorization, "Communication Security"),
// except on a loopback host (localhost, 127.0.0.0/8, ::1) for local servers and tests.
bool secure_endpoint(http::url const& u);

// Whether the space-separated scope list `have` holds every scope of `want`.
bool scope_covers(std::string_view have, std::string_view want);

// The fields of `o` named in `keep`, for storing what a server sent without what it added.
boost::json::object only_fields(boost::json::object const& o,
                                std::vector<std::string_view> const& keep);

} // namespace mcpd::client::oauth::detail
