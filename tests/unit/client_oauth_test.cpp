// tests/unit/client_oauth_test.cpp — the pure pieces of the OAuth client (client/oauth_detail):
// WWW-Authenticate parsing, PKCE against RFC 7636's own example, discovery URL lists, the state
// format, token responses and errors.
#include "client/oauth_detail.hpp"
#include "mcpd/client/oauth.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <random>
#include <set>

namespace {

using namespace mcpd;
using namespace mcpd::client::oauth;
namespace json = boost::json;

http::url url(std::string_view text) {
    return http::parse_url(text).value();
}

TEST(OAuthChallenge, BearerWithQuotedParams) {
    auto ch = detail::bearer_challenge(
        R"(Bearer realm="mcp", resource_metadata="https://a.example/.well-known/oauth-protected-resource/mcp", scope="files:read files:write")");
    ASSERT_TRUE(ch);
    EXPECT_EQ(ch->param("realm"), "mcp");
    EXPECT_EQ(ch->param("resource_metadata"),
              "https://a.example/.well-known/oauth-protected-resource/mcp");
    EXPECT_EQ(ch->param("scope"), "files:read files:write");
}

TEST(OAuthChallenge, EscapesCommasAndCaseInQuotedStrings) {
    auto ch = detail::bearer_challenge(
        R"(bearer Error="insufficient_scope", error_description="need \"admin\", sorry", scope=admin)");
    ASSERT_TRUE(ch);
    EXPECT_EQ(ch->param("error"), "insufficient_scope");
    EXPECT_EQ(ch->param("error_description"), R"(need "admin", sorry)");
    EXPECT_EQ(ch->param("scope"), "admin");
}

TEST(OAuthChallenge, SeveralChallenges) {
    auto all = detail::parse_www_authenticate(
        R"(Basic realm="x", Negotiate abc123==, Bearer scope="a", resource_metadata="https://m/x", DPoP algs="ES256")");
    ASSERT_EQ(all.size(), 4U);
    EXPECT_EQ(all[0].scheme, "basic");
    EXPECT_EQ(all[0].param("realm"), "x");
    EXPECT_EQ(all[1].scheme, "negotiate");
    EXPECT_EQ(all[1].token68, "abc123==");
    EXPECT_EQ(all[2].scheme, "bearer");
    EXPECT_EQ(all[2].param("scope"), "a");
    EXPECT_EQ(all[2].param("resource_metadata"), "https://m/x");
    EXPECT_EQ(all[3].scheme, "dpop");
    EXPECT_EQ(all[3].param("algs"), "ES256");
}

TEST(OAuthChallenge, BareSchemesAndEmptyHeader) {
    auto all = detail::parse_www_authenticate("Bearer, Basic");
    ASSERT_EQ(all.size(), 2U);
    EXPECT_EQ(all[0].scheme, "bearer");
    EXPECT_TRUE(all[0].params.empty());
    EXPECT_EQ(all[1].scheme, "basic");
    EXPECT_TRUE(detail::parse_www_authenticate("").empty());
    EXPECT_FALSE(detail::bearer_challenge("Basic realm=\"x\""));
}

TEST(OAuthChallenge, BrokenSyntaxKeepsWhatCameBefore) {
    auto all = detail::parse_www_authenticate(R"(Bearer scope="a", error="unterminated)");
    ASSERT_EQ(all.size(), 1U);
    EXPECT_EQ(all[0].param("scope"), "a");
    EXPECT_EQ(all[0].param("error"), "");
    EXPECT_TRUE(detail::parse_www_authenticate("=== ,").empty());
}

TEST(OAuthPkce, Rfc7636AppendixB) {
    EXPECT_EQ(detail::s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
              "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST(OAuthPkce, VerifiersAreLongUnreservedAndFresh) {
    std::set<std::string> seen;
    for (int i = 0; i < 50; ++i) {
        auto v = detail::make_code_verifier();
        EXPECT_GE(v.size(), 43U);
        EXPECT_LE(v.size(), 128U);
        for (char c : v)
            EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
                        c == '.' || c == '~')
                << v;
        seen.insert(v);
    }
    EXPECT_EQ(seen.size(), 50U);
}

TEST(OAuthEncoding, Base64AndForms) {
    EXPECT_EQ(detail::base64("any carnal pleas"), "YW55IGNhcm5hbCBwbGVhcw==");
    EXPECT_EQ(detail::base64url("\xfb\xff"), "-_8");
    EXPECT_EQ(detail::form_urlencode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    EXPECT_EQ(detail::form_body({{"grant_type", "authorization_code"}, {"code", "x+y"}}),
              "grant_type=authorization_code&code=x%2By");
    EXPECT_EQ(detail::sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(OAuthDiscovery, ResourceMetadataUrls) {
    using v = std::vector<std::string>;
    EXPECT_EQ(detail::resource_metadata_urls(url("https://a.example/public/mcp"), ""),
              (v{"https://a.example/.well-known/oauth-protected-resource/public/mcp",
                 "https://a.example/.well-known/oauth-protected-resource"}));
    EXPECT_EQ(detail::resource_metadata_urls(url("https://a.example/mcp/?x=1"), ""),
              (v{"https://a.example/.well-known/oauth-protected-resource/mcp",
                 "https://a.example/.well-known/oauth-protected-resource"}));
    EXPECT_EQ(detail::resource_metadata_urls(url("http://127.0.0.1:8080/"), ""),
              (v{"http://127.0.0.1:8080/.well-known/oauth-protected-resource"}));
    EXPECT_EQ(detail::resource_metadata_urls(url("https://a.example/mcp"), "https://m.example/prm"),
              (v{"https://m.example/prm"}));
}

TEST(OAuthDiscovery, AuthorizationServerMetadataUrls) {
    using v = std::vector<std::string>;
    EXPECT_EQ(detail::authorization_server_metadata_urls(url("https://auth.example")),
              (v{"https://auth.example/.well-known/oauth-authorization-server",
                 "https://auth.example/.well-known/openid-configuration"}));
    EXPECT_EQ(detail::authorization_server_metadata_urls(url("https://auth.example/tenant1/")),
              (v{"https://auth.example/.well-known/oauth-authorization-server/tenant1",
                 "https://auth.example/.well-known/openid-configuration/tenant1",
                 "https://auth.example/tenant1/.well-known/openid-configuration"}));
}

TEST(OAuthDiscovery, CanonicalResourceAndCoverage) {
    EXPECT_EQ(detail::canonical_resource(url("HTTPS://MCP.Example.com:443/mcp#frag")),
              "https://mcp.example.com/mcp");
    EXPECT_EQ(detail::canonical_resource(url("http://127.0.0.1:9000/")), "http://127.0.0.1:9000");
    // RFC 8707 §2: no query.
    EXPECT_EQ(detail::canonical_resource(url("https://a.example/mcp?tenant=1")),
              "https://a.example/mcp");
    EXPECT_EQ(detail::canonical_resource(url("https://a.example/?x")), "https://a.example");
    EXPECT_TRUE(detail::resource_covers(url("https://a.example/"), url("https://a.example/mcp")));
    EXPECT_TRUE(
        detail::resource_covers(url("https://a.example/mcp"), url("https://a.example/mcp")));
    EXPECT_TRUE(
        detail::resource_covers(url("https://a.example/api"), url("https://a.example/api/mcp")));
    EXPECT_FALSE(
        detail::resource_covers(url("https://a.example/api"), url("https://a.example/apix")));
    EXPECT_FALSE(detail::resource_covers(url("https://b.example/"), url("https://a.example/mcp")));
    EXPECT_FALSE(
        detail::resource_covers(url("https://a.example:8443/"), url("https://a.example/mcp")));
}

TEST(OAuthState, FormatAndSessionId) {
    auto s = detail::make_state("abc.DEF123");
    EXPECT_EQ(s.size(), std::string("abc.DEF123.").size() + 32);
    EXPECT_EQ(state_session_id(s), "abc.DEF123");
    EXPECT_NE(detail::make_state("abc"), detail::make_state("abc"));
    EXPECT_FALSE(state_session_id("nodot"));
    EXPECT_FALSE(state_session_id(".0123456789abcdef0123456789abcdef"));
    EXPECT_FALSE(state_session_id("s1.0123456789abcdef0123456789abcde"));   // short nonce
    EXPECT_FALSE(state_session_id("s1.0123456789abcdef0123456789abcdeg"));  // not hex
    EXPECT_FALSE(state_session_id("a:b.0123456789abcdef0123456789abcdef")); // not a session id
}

TEST(OAuthScopes, Union) {
    EXPECT_EQ(detail::scope_union("a b", "b c"), "a b c");
    EXPECT_EQ(detail::scope_union("", "x  y"), "x y");
    EXPECT_EQ(detail::scope_union("", ""), "");
}

TEST(OAuthTokens, ParsesAndAddsAbsoluteExpiry) {
    auto t = detail::parse_token_response(
        R"({"access_token":"at","token_type":"Bearer","expires_in":3600,"refresh_token":"rt","scope":"a b","id_token":"x"})",
        1000);
    ASSERT_TRUE(t) << t.error().message();
    EXPECT_EQ(t->at("access_token"), "at");
    EXPECT_EQ(t->at("expires_at").as_int64(), 1000 + 3600 * 1000);
    EXPECT_EQ(t->at("refresh_token"), "rt");
    EXPECT_EQ(t->at("id_token"), "x"); // kept as the server sent it
    auto no_expiry =
        detail::parse_token_response(R"({"access_token":"at","token_type":"bearer"})", 5);
    ASSERT_TRUE(no_expiry);
    EXPECT_FALSE(no_expiry->contains("expires_at"));
}

TEST(OAuthTokens, RefusesBadResponses) {
    for (std::string_view body : {
             R"(not json)",
             R"(["access_token"])",
             R"({"token_type":"Bearer"})",
             R"({"access_token":"","token_type":"Bearer"})",
             R"({"access_token":7,"token_type":"Bearer"})",
             R"({"access_token":"at"})",
             R"({"access_token":"at","token_type":"mac"})",
             R"({"access_token":"at","token_type":"Bearer","expires_in":"soon"})",
             R"({"access_token":"at","token_type":"Bearer","expires_in":" 3600"})",
             R"({"access_token":"at","token_type":"Bearer","expires_in":1e300})",
             R"({"access_token":"at","token_type":"Bearer","expires_in":true})",
             R"({"access_token":"at","token_type":"Bearer","expires_in":-1})",
             R"({"access_token":"at","token_type":"Bearer","refresh_token":1})",
             R"({"access_token":"at","token_type":"Bearer","scope":["a"]})",
         }) {
        auto t = detail::parse_token_response(body, 0);
        ASSERT_FALSE(t) << body;
        EXPECT_EQ(t.error(), errc::invalid_token_response) << body;
    }
}

TEST(OAuthTokens, ErrorResponses) {
    auto e = detail::token_error(
        400, R"({"error":"invalid_grant","error_description":"refresh token revoked"})",
        "token refresh");
    EXPECT_EQ(e, errc::invalid_grant);
    EXPECT_NE(e.message().find("refresh token revoked"), std::string::npos);
    auto other = detail::token_error(401, R"({"error":"invalid_client"})", "code exchange");
    EXPECT_EQ(other, errc::token_request_failed);
    EXPECT_NE(other.message().find("invalid_client"), std::string::npos);
    auto html = detail::token_error(502, "<html>bad gateway</html>", "code exchange");
    EXPECT_EQ(html, errc::token_request_failed);
    EXPECT_NE(html.message().find("502"), std::string::npos);
}

TEST(OAuthTokens, NumericStringExpiresInAndOnlyKnownFields) {
    auto t = detail::parse_token_response(
        R"({"access_token":"at","token_type":"Bearer","expires_in":"3600","junk":"x","nested":{"a":[1]}})",
        1000);
    ASSERT_TRUE(t) << t.error().message();
    EXPECT_EQ(t->at("expires_at").as_int64(), 1000 + 3600 * 1000);
    EXPECT_EQ(t->at("expires_in").as_int64(), 3600); // stored as a number
    EXPECT_FALSE(t->contains("junk"));
    EXPECT_FALSE(t->contains("nested"));
}

TEST(OAuthTokens, IntFieldsAreRangeChecked) {
    auto o =
        json::parse(
            R"({"a":5,"b":1e300,"c":-1e300,"d":12.9,"e":"42","f":"4x","g":18446744073709551615,"h":null,"i":"1e300"})")
            .as_object();
    EXPECT_EQ(detail::int_field(o, "a"), 5);
    EXPECT_FALSE(detail::int_field(o, "b"));
    EXPECT_FALSE(detail::int_field(o, "c"));
    EXPECT_EQ(detail::int_field(o, "d"), 12);
    EXPECT_FALSE(detail::int_field(o, "e")); // strings only when asked for
    EXPECT_EQ(detail::int_field(o, "e", true), 42);
    EXPECT_FALSE(detail::int_field(o, "f", true));
    EXPECT_FALSE(detail::int_field(o, "g"));
    EXPECT_FALSE(detail::int_field(o, "h"));
    EXPECT_FALSE(detail::int_field(o, "i", true));
    EXPECT_FALSE(detail::int_field(o, "missing"));
}

TEST(OAuthTokens, RefreshMarginAtMostHalfTheLifetime) {
    constexpr std::int64_t minute = 60'000;
    // A 30 s token with the 60 s default margin: due after 15 s, not at once.
    auto short_lived = detail::parse_token_response(
                           R"({"access_token":"a","token_type":"Bearer","expires_in":30})", 0)
                           .value();
    EXPECT_FALSE(detail::refresh_due(short_lived, 0, minute));
    EXPECT_FALSE(detail::refresh_due(short_lived, 14'999, minute));
    EXPECT_TRUE(detail::refresh_due(short_lived, 15'000, minute));
    // An hour's token: the whole margin.
    auto hour = detail::parse_token_response(
                    R"({"access_token":"a","token_type":"Bearer","expires_in":3600})", 0)
                    .value();
    EXPECT_FALSE(detail::refresh_due(hour, 3'600'000 - minute - 1, minute));
    EXPECT_TRUE(detail::refresh_due(hour, 3'600'000 - minute, minute));
    // Written by another client without expires_in: the margin as configured.
    auto bare = json::parse(R"({"access_token":"a","expires_at":100000})").as_object();
    EXPECT_TRUE(detail::refresh_due(bare, 100'000 - minute, minute));
    auto never = json::parse(R"({"access_token":"a"})").as_object();
    EXPECT_FALSE(detail::refresh_due(never, 1'000'000'000'000, minute));
}

TEST(OAuthTokens, RefusalsThatEndTheGrant) {
    using detail::refusal;
    EXPECT_EQ(detail::classify_token_error(400, R"({"error":"invalid_grant"})"), refusal::grant);
    EXPECT_EQ(detail::classify_token_error(400, R"({"error":"invalid_scope"})"), refusal::grant);
    EXPECT_EQ(detail::classify_token_error(400, R"({"error":"unauthorized_client"})"),
              refusal::grant);
    EXPECT_EQ(detail::classify_token_error(400, R"({"error":"invalid_client"})"), refusal::client);
    EXPECT_EQ(detail::classify_token_error(401, R"({"error":"invalid_client"})"), refusal::client);
    EXPECT_EQ(detail::classify_token_error(401, "Unauthorized"), refusal::client);
    EXPECT_EQ(detail::classify_token_error(500, R"({"error":"server_error"})"), refusal::transient);
    EXPECT_EQ(detail::classify_token_error(503, ""), refusal::transient);
    EXPECT_EQ(detail::classify_token_error(429, R"({"error":"slow_down"})"), refusal::transient);
    EXPECT_EQ(detail::classify_token_error(408, ""), refusal::transient);
}

TEST(OAuthTokens, ErrorTextIsCapped) {
    std::string huge(100'000, 'x');
    auto e = detail::token_error(
        400, R"({"error":")" + huge + R"(","error_description":")" + huge + R"("})", "refresh");
    EXPECT_LT(e.message().size(), 1000U);
}

TEST(OAuthEndpoints, HttpsOrLoopbackOnly) {
    EXPECT_TRUE(detail::secure_endpoint(url("https://auth.example/token")));
    EXPECT_TRUE(detail::secure_endpoint(url("http://127.0.0.1:8080/token")));
    EXPECT_TRUE(detail::secure_endpoint(url("http://127.1.2.3/token")));
    EXPECT_TRUE(detail::secure_endpoint(url("http://localhost:3000/")));
    EXPECT_TRUE(detail::secure_endpoint(url("http://LOCALHOST/")));
    EXPECT_TRUE(detail::secure_endpoint(url("http://[::1]:9/")));
    EXPECT_FALSE(detail::secure_endpoint(url("http://auth.example/token")));
    EXPECT_FALSE(detail::secure_endpoint(url("http://10.0.0.1/token")));
    EXPECT_FALSE(detail::secure_endpoint(url("http://127.evil.example/token")));
    EXPECT_FALSE(detail::secure_endpoint(url("http://localhost.evil.example/")));
    EXPECT_FALSE(detail::secure_endpoint(url("http://[::2]/")));
}

TEST(OAuthScopes, Covers) {
    EXPECT_TRUE(detail::scope_covers("a b c", "c a"));
    EXPECT_TRUE(detail::scope_covers("a", ""));
    EXPECT_FALSE(detail::scope_covers("a b", "a d"));
    EXPECT_FALSE(detail::scope_covers("", "a"));
}

// Arbitrary bytes (fixed seed, bounded count) built from the characters that matter: the
// parsers stay within their input and keep their promises (run under ASan in the asan preset).
TEST(OAuthRobustness, ChallengeParserOnArbitraryInput) {
    std::mt19937 rng(7);
    std::string_view alphabet = "Bearer bearer Basic realm scope=\"\\,,  \t=a-Z0_~+/%";
    for (int i = 0; i < 20000; ++i) {
        std::string input(rng() % 64, ' ');
        for (auto& c : input)
            c = rng() % 8 == 0 ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
        for (auto const& ch : detail::parse_www_authenticate(input)) {
            ASSERT_FALSE(ch.scheme.empty()) << input;
            for (char c : ch.scheme)
                ASSERT_FALSE(std::isupper(static_cast<unsigned char>(c))) << input;
            for (auto const& [name, value] : ch.params) {
                ASSERT_FALSE(name.empty()) << input;
                ASSERT_LE(value.size(), input.size()) << input;
            }
        }
    }
}

TEST(OAuthRobustness, TokenResponseOnArbitraryInput) {
    std::mt19937 rng(11);
    std::vector<std::string> pieces = {"{",
                                       "}",
                                       "\"access_token\"",
                                       "\"token_type\"",
                                       ":",
                                       ",",
                                       "\"Bearer\"",
                                       "\"x\"",
                                       "3600",
                                       "-1",
                                       "1e400",
                                       "null",
                                       "[",
                                       "]",
                                       "\"expires_in\"",
                                       "\"scope\""};
    for (int i = 0; i < 20000; ++i) {
        std::string body;
        for (auto n = rng() % 16; n > 0; --n)
            body += pieces[rng() % pieces.size()];
        auto t = detail::parse_token_response(body, 0);
        if (t) {
            ASSERT_FALSE(t->at("access_token").as_string().empty()) << body;
        } else {
            ASSERT_EQ(t.error(), errc::invalid_token_response) << body;
        }
    }
    // A fixed valid response is accepted, so the loop above is not only refusals by accident.
    EXPECT_TRUE(detail::parse_token_response(R"({"access_token":"x","token_type":"Bearer"})", 0));
}

} // namespace
