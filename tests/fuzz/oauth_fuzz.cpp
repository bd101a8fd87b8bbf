// tests/fuzz/oauth_fuzz.cpp — libFuzzer target for what the OAuth client reads from servers it
// does not control (src/client/oauth_detail.hpp): WWW-Authenticate challenges, token endpoint
// answers, protected resource metadata (RFC 9728) and authorization server metadata (RFC 8414).
//
// Byte 0 picks what the rest is (low two bits) and an HTTP status / flag (the other bits):
//   0  a WWW-Authenticate header value;
//   1  a token endpoint's body (success: parse_token_response; failure: token_error and
//      classify_token_error with the status);
//   2  "<MCP server URL>\n<resource metadata JSON>";
//   3  "<issuer URL>\n<authorization server metadata JSON>" (empty JSON: every URL gave 4xx);
//      bit 2 says whether the issuer came from resource metadata.
// What must hold beyond "no crash, no sanitizer report" (a violation aborts):
//   - challenges: schemes and parameter names are lower case and non-empty; bearer_challenge is
//     the first challenge whose scheme is "bearer";
//   - tokens: an accepted answer has a non-empty access_token, only RFC 6749 fields plus
//     expires_at = now + expires_in seconds; an error's text is bounded and never carries the
//     body's access_token or refresh_token;
//   - resource metadata: an accepted document names an authorization server and a resource that
//     parses and covers the server; its scopes have no duplicates; the discovery URLs parse;
//   - authorization server metadata: an accepted document keeps only known fields, has endpoint
//     URLs the client may use and offers S256; its issuer is the one asked (from resource
//     metadata) or of the same origin.
//
// Built by run_fuzz.sh (see README.md) with clang++ -fsanitize=fuzzer,address,undefined, or
// without libFuzzer together with fuzz_driver.cpp.
#include "client/oauth_detail.hpp"
#include "fuzz_check.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

namespace {

namespace json = boost::json;
namespace detail = mcpd::client::oauth::detail;
namespace http = mcpd::http;

using mcpd::fuzz::check;
using mcpd::fuzz::fail;

bool lower_case(std::string_view s) {
    return std::none_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

void challenges(std::string_view header) {
    auto all = detail::parse_www_authenticate(header);
    for (auto const& c : all) {
        check(!c.scheme.empty() && lower_case(c.scheme), "a scheme is empty or not lower case");
        for (auto const& [name, value] : c.params)
            check(!name.empty() && lower_case(name), "a parameter name is empty or upper case");
    }
    auto bearer = detail::bearer_challenge(header);
    auto first =
        std::find_if(all.begin(), all.end(), [](auto const& c) { return c.scheme == "bearer"; });
    check(bearer.has_value() == (first != all.end()),
          "bearer_challenge disagrees with parse_www_authenticate");
    if (bearer) {
        check(bearer->params == first->params && bearer->token68 == first->token68,
              "bearer_challenge is not the first bearer challenge");
        auto scope = bearer->param("scope");
        check(detail::scope_covers(scope, scope), "a scope list does not cover itself");
    }
}

void token_answer(std::string_view body, unsigned status) {
    constexpr std::int64_t now = 1'700'000'000'000;
    if (auto tokens = detail::parse_token_response(body, now)) {
        static std::set<std::string_view> const known = {
            "access_token", "token_type", "expires_in", "refresh_token",
            "scope",        "id_token",   "expires_at"};
        for (auto const& kv : *tokens)
            check(known.contains(kv.key()), "a token answer kept an unknown field");
        auto const* access = tokens->if_contains("access_token");
        check(access && access->is_string() && !access->get_string().empty(),
              "an accepted token answer has no access_token");
        auto in = detail::int_field(*tokens, "expires_in");
        auto at = detail::int_field(*tokens, "expires_at");
        check(in.has_value() == at.has_value(), "expires_at without expires_in or the reverse");
        if (in && *in < 1'000'000'000'000)
            check(*at == now + *in * 1000, "expires_at is not now + expires_in");
    }
    auto err = detail::token_error(status, body, "token request");
    auto text = err.message();
    check(text.size() <= 2048, "a token error's text is unbounded");
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    if (!ec && v.is_object()) {
        // The same answer with tokens in it: its error text must not show them (what the
        // server wrote into error and error_description is shown, so the marker is not there).
        auto o = v.get_object();
        constexpr std::string_view marker = "Zq7-token-marker";
        if ((detail::str(o, "error") + detail::str(o, "error_description")).find(marker) ==
            std::string::npos) {
            o["access_token"] = std::string(marker) + "-access";
            o["refresh_token"] = std::string(marker) + "-refresh";
            auto with_tokens = detail::token_error(status, json::serialize(o), "token request");
            check(with_tokens.message().find(marker) == std::string::npos,
                  "a token error's text carries a token");
        }
    }
    auto a = detail::classify_token_error(status, body);
    check(a == detail::classify_token_error(status, body), "classify_token_error is not stable");
}

void resource_metadata(std::string_view server_text, json::object const& doc) {
    auto server = http::parse_url(server_text);
    if (!server)
        return;
    for (auto const& u : detail::resource_metadata_urls(*server, {}))
        check(http::parse_url(u).has_value(), "a resource metadata URL does not parse");
    auto found = detail::read_resource_metadata(doc, *server, "fuzz");
    if (!found)
        return;
    check(!found->authorization_server.empty(), "no authorization server");
    auto resource = http::parse_url(found->resource);
    check(resource && detail::resource_covers(*resource, *server),
          "the resource does not cover the server");
    std::set<std::string_view> seen;
    std::string_view scopes = found->scopes_supported;
    while (!scopes.empty()) {
        auto end = scopes.find(' ');
        auto one = scopes.substr(0, end);
        check(!one.empty() && seen.insert(one).second, "scopes_supported has a duplicate");
        scopes = end == std::string_view::npos ? std::string_view() : scopes.substr(end + 1);
    }
}

void authorization_server_metadata(std::string const& issuer_text, std::optional<json::object> doc,
                                   bool from_resource_metadata) {
    // discover() only asks for metadata of an issuer it may use.
    if (!detail::check_endpoint_url(issuer_text, "issuer"))
        return;
    auto issuer = http::parse_url(issuer_text);
    check(issuer.has_value(), "a checked issuer does not parse");
    for (auto const& u : detail::authorization_server_metadata_urls(*issuer))
        check(http::parse_url(u).has_value(),
              "an authorization server metadata URL does not parse");
    auto as = detail::read_authorization_server_metadata(std::move(doc), issuer_text,
                                                         from_resource_metadata);
    if (!as)
        return;
    auto const known = detail::authorization_server_metadata_fields();
    for (auto const& kv : as->metadata)
        check(std::find(known.begin(), known.end(), std::string_view(kv.key())) != known.end(),
              "authorization server metadata kept an unknown field");
    for (auto const* f : {"authorization_endpoint", "token_endpoint"})
        check(detail::check_endpoint_url(detail::str(as->metadata, f), f).has_value(),
              "an accepted endpoint is not a usable URL");
    check(detail::list_contains(as->metadata, "code_challenge_methods_supported", "S256"),
          "accepted without S256");
    if (from_resource_metadata) {
        check(as->issuer == issuer_text, "the issuer is not the one asked");
    } else {
        auto named = http::parse_url(as->issuer);
        check(named && named->origin() == issuer->origin(), "the issuer is of another origin");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size == 0)
        return 0;
    std::uint8_t const selector = data[0];
    std::string_view text(reinterpret_cast<char const*>(data) + 1, size - 1);
    switch (selector & 3U) {
    case 0:
        challenges(text);
        break;
    case 1:
        // Statuses a token endpoint sends: 200, 4xx, 5xx, and odd ones.
        token_answer(text, 200U + (selector >> 2U) * 5U);
        break;
    default: {
        auto nl = text.find('\n');
        if (nl == std::string_view::npos)
            return 0;
        std::string first(text.substr(0, nl));
        auto rest = text.substr(nl + 1);
        std::optional<json::object> doc;
        boost::system::error_code ec;
        if (!rest.empty()) {
            auto v = json::parse(rest, ec);
            if (ec || !v.is_object())
                return 0; // get_metadata refuses what is not a JSON object
            doc = std::move(v.get_object());
        }
        if ((selector & 3U) == 2) {
            if (doc)
                resource_metadata(first, *doc);
        } else {
            authorization_server_metadata(first, std::move(doc), (selector & 4U) != 0);
        }
        break;
    }
    }
    return 0;
}
