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
#include <span>
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

// A string field of `o`, empty when absent or not a string.
std::string str(boost::json::object const& o, std::string_view key);
// Whether `o[key]` is an array holding the string `value`; whether it is a non-empty array.
bool list_contains(boost::json::object const& o, std::string_view key, std::string_view value);
bool has_list(boost::json::object const& o, std::string_view key);

// An endpoint or issuer URL the client may use: a URL, and https unless on a loopback host
// (discovery_failed naming `what` otherwise).
result<void> check_endpoint_url(std::string const& text, std::string_view what);

// What the client takes from a protected resource metadata document (RFC 9728) fetched from
// `where` for `server`: the first authorization server (REQUIRED), the resource (REQUIRED, and it
// must cover the server: resource_mismatch otherwise) and the union of scopes_supported.
struct resource_metadata {
    std::string authorization_server;
    std::string resource;
    std::string scopes_supported; // space separated
};
result<resource_metadata> read_resource_metadata(boost::json::object const& document,
                                                 http::url const& server, std::string_view where);

// An authorization server's metadata (RFC 8414) as the client stores it, for the issuer
// `issuer_text` (already a checked endpoint URL). `document` is what the metadata URLs gave
// (nullopt: every one answered 4xx). With resource metadata (`from_resource_metadata`) the
// document must exist and name exactly that issuer; without (a 2025-03-26 server, whose
// authorization server is its origin) a document must name an issuer of the same origin, which
// becomes the issuer, and no document means the default endpoints on the origin. Only the fields
// the client uses are kept; authorization and token endpoints must be valid endpoint URLs (a
// registration endpoint too when named) and S256 must be offered (pkce_unsupported).
struct authorization_server {
    std::string issuer;
    boost::json::object metadata;
};
// The metadata fields kept (RFC 8414, RFC 9207, CIMD).
std::span<std::string_view const> authorization_server_metadata_fields();
result<authorization_server>
read_authorization_server_metadata(std::optional<boost::json::object> document,
                                   std::string const& issuer_text, bool from_resource_metadata);

} // namespace mcpd::client::oauth::detail
