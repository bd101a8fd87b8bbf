// client/oauth_detail.cpp — the pure pieces of the OAuth client. See oauth_detail.hpp.
#include "client/oauth_detail.hpp"

#include "core/ascii.hpp"
#include "core/hex.hpp"
#include "core/random.hpp"
#include "mcpd/client/oauth.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <stdexcept>

namespace mcpd::client::oauth::detail {

namespace json = boost::json;

namespace {

// RFC 9110 tchar.
bool is_tchar(char c) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0)
        return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
// token68 adds '/' and trailing '='.
bool is_token68_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("-._~+/").find(c) != std::string_view::npos;
}

struct cursor {
    std::string_view s;
    std::size_t i = 0;
    [[nodiscard]] bool done() const { return i >= s.size(); }
    [[nodiscard]] char peek() const { return s[i]; }
    void skip_ws() {
        while (!done() && (s[i] == ' ' || s[i] == '\t'))
            ++i;
    }
    std::string_view token() {
        auto start = i;
        while (!done() && is_tchar(s[i]))
            ++i;
        return s.substr(start, i - start);
    }
    // A quoted-string after its opening quote; nullopt when it never closes.
    std::optional<std::string> quoted() {
        std::string out;
        while (!done()) {
            char c = s[i++];
            if (c == '"')
                return out;
            if (c == '\\') {
                if (done())
                    return std::nullopt;
                c = s[i++];
            }
            out.push_back(c);
        }
        return std::nullopt;
    }
};

std::string path_of(http::url const& u) {
    auto q = u.target.find('?');
    std::string path = u.target.substr(0, q);
    if (path.empty())
        path = "/";
    return path;
}

std::string without_trailing_slash(std::string path) {
    while (path.size() > 1 && path.back() == '/')
        path.pop_back();
    return path;
}

} // namespace

std::string_view challenge::param(std::string_view name) const {
    auto it = params.find(name);
    return it == params.end() ? std::string_view() : std::string_view(it->second);
}

std::vector<challenge> parse_www_authenticate(std::string_view header) {
    std::vector<challenge> out;
    cursor c{header};
    auto skip_separators = [&] {
        while (!c.done() && (c.peek() == ' ' || c.peek() == '\t' || c.peek() == ','))
            ++c.i;
    };
    skip_separators();
    while (!c.done()) {
        auto scheme = c.token();
        if (scheme.empty())
            return out; // not a challenge: stop, keep what came before
        challenge ch;
        ch.scheme = ascii_lower(scheme);
        c.skip_ws();
        // token68 (e.g. "Basic dXNlcjpwYXNz" or "Negotiate abc=="): no '=' right after a name.
        if (!c.done() && c.peek() != ',') {
            auto save = c.i;
            auto name = c.token();
            c.skip_ws();
            bool is_param = !name.empty() && !c.done() && c.peek() == '=';
            if (is_param) {
                // Could still be token68 ending in '=': a param's '=' is followed by a value.
                auto after = c.i;
                while (after < header.size() && header[after] == '=')
                    ++after;
                auto rest = after;
                while (rest < header.size() && (header[rest] == ' ' || header[rest] == '\t'))
                    ++rest;
                if (after - c.i > 1 || rest >= header.size() || header[rest] == ',')
                    is_param = false;
            }
            c.i = save;
            if (!is_param) {
                auto start = c.i;
                while (!c.done() && is_token68_char(c.peek()))
                    ++c.i;
                while (!c.done() && c.peek() == '=')
                    ++c.i;
                ch.token68 = std::string(header.substr(start, c.i - start));
                out.push_back(std::move(ch));
                c.skip_ws();
                if (!c.done() && c.peek() != ',')
                    return out;
                skip_separators();
                continue;
            }
            // auth-params, comma separated, until a name without '=' starts the next challenge.
            while (true) {
                auto pname = c.token();
                c.skip_ws();
                if (pname.empty() || c.done() || c.peek() != '=')
                    return out.push_back(std::move(ch)), out;
                ++c.i; // '='
                c.skip_ws();
                std::string value;
                if (!c.done() && c.peek() == '"') {
                    ++c.i;
                    auto q = c.quoted();
                    if (!q)
                        return out.push_back(std::move(ch)), out;
                    value = std::move(*q);
                } else {
                    value = std::string(c.token());
                }
                ch.params.emplace(ascii_lower(pname), std::move(value));
                c.skip_ws();
                if (c.done())
                    break;
                if (c.peek() != ',')
                    return out.push_back(std::move(ch)), out;
                skip_separators();
                // The next name: a param of this challenge when '=' follows, else a new scheme.
                auto save2 = c.i;
                auto next = c.token();
                c.skip_ws();
                bool param_follows = !next.empty() && !c.done() && c.peek() == '=';
                c.i = save2;
                if (!param_follows)
                    break;
            }
        }
        out.push_back(std::move(ch));
        skip_separators();
    }
    return out;
}

std::optional<challenge> bearer_challenge(std::string_view header) {
    for (auto& ch : parse_www_authenticate(header))
        if (ch.scheme == "bearer")
            return std::move(ch);
    return std::nullopt;
}

std::string sha256_raw(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned len = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &len, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("EVP_Digest(SHA-256) failed");
    return {reinterpret_cast<char const*>(digest.data()), len};
}

std::string sha256_hex(std::string_view data) {
    return to_hex(sha256_raw(data));
}

std::string base64(std::string_view data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                             reinterpret_cast<unsigned char const*>(data.data()),
                             static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::string base64url(std::string_view data) {
    auto out = base64(data);
    while (!out.empty() && out.back() == '=')
        out.pop_back();
    for (auto& c : out)
        c = c == '+' ? '-' : c == '/' ? '_' : c;
    return out;
}

std::string make_code_verifier() {
    // 48 random bytes → 64 base64url characters (RFC 7636 asks for 43 to 128, all unreserved).
    std::array<std::byte, 48> bytes{};
    fill_random(bytes);
    return base64url(std::string_view(reinterpret_cast<char const*>(bytes.data()), bytes.size()));
}

std::string s256_challenge(std::string_view verifier) {
    return base64url(sha256_raw(verifier));
}

std::string make_state(std::string_view session_id) {
    return std::string(session_id) + "." + random_hex(16);
}

std::vector<std::string> resource_metadata_urls(http::url const& server,
                                                std::string_view from_challenge) {
    if (!from_challenge.empty())
        return {std::string(from_challenge)};
    std::vector<std::string> urls;
    auto path = without_trailing_slash(path_of(server));
    auto const root = server.origin() + "/.well-known/oauth-protected-resource";
    if (path != "/")
        urls.push_back(root + path);
    urls.push_back(root);
    return urls;
}

std::vector<std::string> authorization_server_metadata_urls(http::url const& issuer) {
    auto path = without_trailing_slash(path_of(issuer));
    auto const origin = issuer.origin();
    if (path == "/")
        return {origin + "/.well-known/oauth-authorization-server",
                origin + "/.well-known/openid-configuration"};
    return {origin + "/.well-known/oauth-authorization-server" + path,
            origin + "/.well-known/openid-configuration" + path,
            origin + path + "/.well-known/openid-configuration"};
}

std::string canonical_resource(http::url const& server) {
    http::url u = server;
    u.scheme = ascii_lower(u.scheme);
    u.host = ascii_lower(u.host);
    std::string text = u.origin();
    auto path = path_of(u); // RFC 8707 §2: the resource has no query
    if (path != "/")
        text += path;
    return text;
}

bool resource_covers(http::url const& resource, http::url const& server) {
    if (ascii_lower(resource.scheme) != ascii_lower(server.scheme) ||
        ascii_lower(resource.host) != ascii_lower(server.host) || resource.port != server.port)
        return false;
    auto rpath = without_trailing_slash(path_of(resource));
    auto spath = without_trailing_slash(path_of(server));
    if (rpath == "/" || rpath == spath)
        return true;
    return spath.size() > rpath.size() && spath.compare(0, rpath.size(), rpath) == 0 &&
           spath[rpath.size()] == '/';
}

std::string form_urlencode(std::string_view text) {
    static constexpr char hexdigits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(hexdigits[c >> 4]);
            out.push_back(hexdigits[c & 15]);
        }
    }
    return out;
}

std::string form_body(std::vector<std::pair<std::string, std::string>> const& fields) {
    std::string out;
    for (auto const& [name, value] : fields) {
        if (!out.empty())
            out.push_back('&');
        out += form_urlencode(name) + "=" + form_urlencode(value);
    }
    return out;
}

std::string scope_union(std::string_view a, std::string_view b) {
    std::vector<std::string> order;
    std::set<std::string, std::less<>> seen;
    for (auto list : {a, b}) {
        std::size_t i = 0;
        while (i < list.size()) {
            auto end = list.find(' ', i);
            if (end == std::string_view::npos)
                end = list.size();
            auto s = list.substr(i, end - i);
            if (!s.empty() && seen.insert(std::string(s)).second)
                order.emplace_back(s);
            i = end + 1;
        }
    }
    std::string out;
    for (auto const& s : order)
        out += (out.empty() ? "" : " ") + s;
    return out;
}

result<json::object> parse_token_response(std::string_view body, std::int64_t now_ms) {
    auto bad = [](std::string what) {
        return error{errc::invalid_token_response, "token response: " + std::move(what)};
    };
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    if (ec)
        return bad("not JSON (" + ec.message() + ")");
    if (!v.is_object())
        return bad("not a JSON object");
    // Only RFC 6749's fields (and OpenID's id_token) go into the record; expires_at is ours.
    auto tokens = only_fields(v.get_object(), {"access_token", "token_type", "expires_in",
                                               "refresh_token", "scope", "id_token"});
    auto const* access = tokens.if_contains("access_token");
    if (access == nullptr || !access->is_string() || access->get_string().empty())
        return bad("no access_token");
    auto const* type = tokens.if_contains("token_type");
    if (type == nullptr || !type->is_string())
        return bad("no token_type");
    if (ascii_lower(type->get_string()) != "bearer")
        return bad("token_type " + std::string(type->get_string()).substr(0, 64) +
                   " is not Bearer");
    for (auto const* name : {"refresh_token", "scope", "id_token"}) {
        auto const* f = tokens.if_contains(name);
        if (f != nullptr && !f->is_string())
            return bad(std::string(name) + " is not a string");
    }
    if (tokens.contains("expires_in")) {
        auto seconds = int_field(tokens, "expires_in", true);
        if (!seconds)
            return bad("expires_in is not a number");
        if (*seconds < 0 || *seconds > 10'000'000'000)
            return bad("expires_in out of range");
        tokens["expires_in"] = *seconds;
        tokens["expires_at"] = now_ms + *seconds * 1000;
    }
    return tokens;
}

error token_error(unsigned status, std::string_view body, std::string_view what) {
    std::string detail = std::string(what) + ": HTTP " + std::to_string(status);
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    std::string code;
    if (!ec && v.is_object()) {
        auto const& o = v.get_object();
        if (auto const* e = o.if_contains("error"); e != nullptr && e->is_string())
            code = std::string(e->get_string()).substr(0, 100);
        if (!code.empty())
            detail += ", error " + code;
        if (auto const* d = o.if_contains("error_description"); d != nullptr && d->is_string())
            detail += " (" + std::string(d->get_string()).substr(0, 300) + ")";
    }
    return error{code == "invalid_grant" ? errc::invalid_grant : errc::token_request_failed,
                 std::move(detail)};
}

refusal classify_token_error(unsigned status, std::string_view body) {
    if (status < 400 || status >= 500 || status == 408 || status == 429)
        return refusal::transient;
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    if (!ec && v.is_object()) {
        auto const* e = v.get_object().if_contains("error");
        if (e != nullptr && e->is_string() && e->get_string() == "invalid_client")
            return refusal::client;
    }
    // RFC 6749 §5.2: a 401 is the client failing authentication, whatever the body says.
    return status == 401 ? refusal::client : refusal::grant;
}

std::optional<std::int64_t> int_field(json::object const& o, std::string_view key,
                                      bool numeric_strings) {
    auto const* v = o.if_contains(key);
    if (v == nullptr)
        return std::nullopt;
    if (v->is_int64())
        return v->get_int64();
    if (v->is_uint64())
        return v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)
                   ? std::optional<std::int64_t>(static_cast<std::int64_t>(v->get_uint64()))
                   : std::nullopt;
    double n = 0;
    if (v->is_double()) {
        n = v->get_double();
    } else if (numeric_strings && v->is_string()) {
        std::string text(v->get_string());
        if (text.empty() || text.size() > 32)
            return std::nullopt;
        char* end = nullptr;
        n = std::strtod(text.c_str(), &end);
        if (end != text.c_str() + text.size() ||
            std::isspace(static_cast<unsigned char>(text[0])) != 0)
            return std::nullopt;
    } else {
        return std::nullopt;
    }
    // 2^63 is the first double out of range; NaN fails both comparisons.
    if (!(n >= -9.2233720368547758e18 && n < 9.2233720368547758e18))
        return std::nullopt;
    return static_cast<std::int64_t>(n);
}

bool refresh_due(json::object const& tokens, std::int64_t now_ms, std::int64_t refresh_margin_ms) {
    auto at = int_field(tokens, "expires_at");
    if (!at)
        return false;
    auto margin = refresh_margin_ms;
    if (auto lifetime = int_field(tokens, "expires_in", true);
        lifetime && *lifetime >= 0 && *lifetime < INT64_MAX / 1000)
        margin = std::min(margin, *lifetime * 1000 / 2);
    return now_ms >= *at - margin;
}

bool secure_endpoint(http::url const& u) {
    if (ascii_lower(u.scheme) == "https")
        return true;
    auto host = ascii_lower(u.host);
    if (host == "localhost" || host == "::1")
        return true;
    // 127.0.0.0/8, written as a dotted quad.
    if (host.rfind("127.", 0) != 0)
        return false;
    int dots = 0;
    for (char c : host) {
        if (c == '.')
            ++dots;
        else if (c < '0' || c > '9')
            return false;
    }
    return dots == 3;
}

bool scope_covers(std::string_view have, std::string_view want) {
    return scope_union(have, want).size() == scope_union(have, "").size();
}

json::object only_fields(json::object const& o, std::vector<std::string_view> const& keep) {
    json::object out;
    for (auto k : keep)
        if (auto const* v = o.if_contains(k))
            out[k] = *v;
    return out;
}

std::string str(json::object const& o, std::string_view key) {
    auto const* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

bool list_contains(json::object const& o, std::string_view key, std::string_view value) {
    auto const* v = o.if_contains(key);
    if (v == nullptr || !v->is_array())
        return false;
    for (auto const& e : v->get_array())
        if (e.is_string() && e.get_string() == value)
            return true;
    return false;
}

bool has_list(json::object const& o, std::string_view key) {
    auto const* v = o.if_contains(key);
    return v != nullptr && v->is_array() && !v->get_array().empty();
}

result<void> check_endpoint_url(std::string const& text, std::string_view what) {
    auto u = http::parse_url(text);
    if (!u)
        return error{errc::discovery_failed, std::string(what) + " " + text + " is not a URL"};
    if (!secure_endpoint(*u))
        return error{errc::discovery_failed,
                     std::string(what) + " " + text +
                         " is not https (only loopback hosts may use http)"};
    return {};
}

result<resource_metadata> read_resource_metadata(json::object const& document,
                                                 http::url const& server, std::string_view where) {
    resource_metadata found;
    auto const* servers = document.if_contains("authorization_servers");
    if (servers != nullptr && servers->is_array() && !servers->get_array().empty() &&
        servers->get_array()[0].is_string())
        found.authorization_server = std::string(servers->get_array()[0].get_string());
    if (found.authorization_server.empty())
        return error{errc::discovery_failed,
                     std::string(where) + " names no authorization_servers"};
    // RFC 9728 §2: `resource` is REQUIRED.
    found.resource = str(document, "resource");
    if (found.resource.empty())
        return error{errc::discovery_failed, std::string(where) + " names no resource"};
    auto ru = http::parse_url(found.resource);
    if (!ru || !resource_covers(*ru, server))
        return error{errc::resource_mismatch, "resource " + found.resource.substr(0, 200) +
                                                  " does not cover " + canonical_resource(server)};
    if (auto const* sc = document.if_contains("scopes_supported"); sc && sc->is_array())
        for (auto const& s : sc->get_array())
            if (s.is_string())
                found.scopes_supported = scope_union(found.scopes_supported, s.get_string());
    return found;
}

namespace {

// What of an authorization server's metadata (RFC 8414, RFC 9207, CIMD) we use and store.
constexpr std::array<std::string_view, 11> metadata_fields = {
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "registration_endpoint",
    "scopes_supported",
    "response_types_supported",
    "grant_types_supported",
    "token_endpoint_auth_methods_supported",
    "code_challenge_methods_supported",
    "client_id_metadata_document_supported",
    "authorization_response_iss_parameter_supported"};

} // namespace

std::span<std::string_view const> authorization_server_metadata_fields() {
    return metadata_fields;
}

result<authorization_server>
read_authorization_server_metadata(std::optional<json::object> document,
                                   std::string const& issuer_text, bool from_resource_metadata) {
    auto issuer = http::parse_url(issuer_text);
    if (!issuer)
        return error{errc::discovery_failed, "authorization server URL " + issuer_text};
    authorization_server as{issuer_text, {}};
    // RFC 8414 §3.3: the metadata names its issuer (REQUIRED), and it is the issuer asked (a
    // resource server could otherwise send us to an authorization server that speaks for another
    // issuer). A 2025-03-26 server's authorization server is its origin, whose metadata may name
    // an issuer with a path there (as the conformance suite's does): the same origin is required
    // then, and that issuer is the one we use.
    if (document) {
        auto named = str(*document, "issuer");
        if (named.empty())
            return error{errc::discovery_failed,
                         "authorization server metadata of " + issuer_text + " names no issuer"};
        auto named_url = http::parse_url(named);
        bool same = from_resource_metadata ? named == issuer_text
                                           : named_url && named_url->origin() == issuer->origin();
        if (!same)
            return error{errc::discovery_failed, "authorization server metadata names issuer " +
                                                     named.substr(0, 200) + ", not " + issuer_text};
        if (!from_resource_metadata)
            as.issuer = named;
        as.metadata = only_fields(*document, {metadata_fields.begin(), metadata_fields.end()});
    } else {
        if (from_resource_metadata)
            return error{errc::discovery_failed,
                         "no authorization server metadata for " + issuer_text};
        // 2025-03-26: the default endpoints on the server's origin, PKCE assumed.
        as.metadata["authorization_endpoint"] = issuer->origin() + "/authorize";
        as.metadata["token_endpoint"] = issuer->origin() + "/token";
        as.metadata["registration_endpoint"] = issuer->origin() + "/register";
        as.metadata["code_challenge_methods_supported"] = json::array{"S256"};
    }
    for (auto const* f : {"authorization_endpoint", "token_endpoint"})
        if (str(as.metadata, f).empty() || !http::parse_url(str(as.metadata, f)))
            return error{errc::discovery_failed,
                         "authorization server metadata has no valid " + std::string(f)};
    for (auto const* f : {"authorization_endpoint", "token_endpoint", "registration_endpoint"})
        if (auto url = str(as.metadata, f); !url.empty())
            if (auto ok = check_endpoint_url(url, f); !ok)
                return ok.error();
    if (!list_contains(as.metadata, "code_challenge_methods_supported", "S256"))
        return error{errc::pkce_unsupported,
                     issuer_text + " does not list S256 in code_challenge_methods_supported"};
    return as;
}

} // namespace mcpd::client::oauth::detail
