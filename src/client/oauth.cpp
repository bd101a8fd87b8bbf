// client/oauth.cpp — OAuth 2.1 for MCP client sessions. See oauth.hpp for the flow and the
// record fields; the pure pieces (parsing, PKCE, URL lists) are in oauth_detail.cpp.
//
// Concurrency: a session_auth is used from one executor, but several of its requests may be in
// flight (a POST and the GET stream), and other session_auth objects, here or in other
// processes, may serve the same record. Every refresh therefore runs under a lock on the
// record's key (the given lock_service, else one process-wide memory lock service), and re-reads
// the record once it holds it: tokens that another holder stored meanwhile are taken as they
// are, so a rotated refresh token is never used twice.
#include "client/oauth.hpp"

#include "client/oauth_detail.hpp"
#include "core/log.hpp"
#include "guard/keys.hpp"
#include "guard/lock.hpp"
#include "store/session.hpp"
#include "store/session_store.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <openssl/crypto.h>

#include <chrono>

namespace mcpd::client::oauth {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;

namespace {

// Boost's error_category has a protected non-virtual destructor by design.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class oauth_category_impl final : public boost::system::error_category {
public:
    [[nodiscard]] char const* name() const noexcept override { return "mcpd.oauth"; }
    [[nodiscard]] std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::discovery_failed:
            return "OAuth discovery failed";
        case errc::pkce_unsupported:
            return "authorization server does not support PKCE S256";
        case errc::resource_mismatch:
            return "protected resource metadata names another resource";
        case errc::registration_failed:
            return "OAuth client registration failed";
        case errc::authorization_required:
            return "user authorization required";
        case errc::invalid_state:
            return "invalid OAuth state";
        case errc::token_request_failed:
            return "token request failed";
        case errc::invalid_grant:
            return "authorization grant no longer valid";
        case errc::invalid_token_response:
            return "invalid token response";
        case errc::invalid_record:
            return "session record unusable for OAuth";
        }
        return "unknown OAuth error";
    }
};
#pragma GCC diagnostic pop

constexpr auto state_lifetime = std::chrono::minutes(10);

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string str(json::object const& o, std::string_view key) {
    auto const* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::optional<std::int64_t> int_field(json::object const& o, std::string_view key) {
    auto const* v = o.if_contains(key);
    if (v == nullptr || !v->is_number())
        return std::nullopt;
    boost::system::error_code ec;
    auto n = v->to_number<double>(ec);
    if (ec)
        return std::nullopt;
    return static_cast<std::int64_t>(n);
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

std::shared_ptr<guard::lock_service> process_locks() {
    static guard::metrics m;
    static auto const svc =
        std::make_shared<guard::lock_service>(std::make_shared<guard::memory_lock_backend>(), m);
    return svc;
}

// What steps 2 and 3 found; stored as the record's oauthDiscovery.
struct discovery {
    std::string server_url;            // the MCP endpoint
    std::string resource;              // the RFC 8707 resource parameter
    std::string resource_metadata_url; // empty: none found (a 2025-03-26 server)
    std::string scopes_supported;      // from the resource metadata, space separated
    std::string issuer;                // the authorization server
    json::object metadata;             // its RFC 8414 metadata

    [[nodiscard]] json::object to_json() const {
        json::object o;
        o["serverUrl"] = server_url;
        o["resource"] = resource;
        o["resourceMetadataUrl"] = resource_metadata_url;
        o["scopesSupported"] = scopes_supported;
        o["authorizationServerUrl"] = issuer;
        o["authorizationServerMetadata"] = metadata;
        return o;
    }
    static std::optional<discovery> from_json(json::value const* v) {
        if (v == nullptr || !v->is_object())
            return std::nullopt;
        auto const& o = v->get_object();
        auto const* md = o.if_contains("authorizationServerMetadata");
        if (md == nullptr || !md->is_object())
            return std::nullopt;
        discovery d;
        d.server_url = str(o, "serverUrl");
        d.resource = str(o, "resource");
        d.resource_metadata_url = str(o, "resourceMetadataUrl");
        d.scopes_supported = str(o, "scopesSupported");
        d.issuer = str(o, "authorizationServerUrl");
        d.metadata = md->get_object();
        if (str(d.metadata, "token_endpoint").empty())
            return std::nullopt;
        return d;
    }
};

// The client as the token endpoint knows it.
struct client_identity {
    std::string id;
    std::string secret;
    std::string auth_method; // client_secret_basic, client_secret_post, none
};

enum class refresh_outcome { refreshed, adopted, need_authorization };

} // namespace

boost::system::error_category const& oauth_category() noexcept {
    static oauth_category_impl const c;
    return c;
}

std::optional<std::string_view> state_session_id(std::string_view state) noexcept {
    auto dot = state.rfind('.');
    if (dot == std::string_view::npos || dot == 0 || state.size() - dot - 1 != 32)
        return std::nullopt;
    for (char c : state.substr(dot + 1))
        if ((c < '0' || c > '9') && (c < 'a' || c > 'f'))
            return std::nullopt;
    auto id = state.substr(0, dot);
    if (!store::validate_session_id(id))
        return std::nullopt;
    return id;
}

struct session_auth::impl {
    asio::any_io_executor ex;
    std::shared_ptr<store::session_store> store;
    std::string identity;
    std::string session_id;
    session_auth_options opts;
    std::shared_ptr<http::client> http;
    std::shared_ptr<guard::lock_service> locks;

    bool loaded = false;
    std::optional<json::object> tokens; // what the record held when last read
    std::string requested_scope;        // the scope of the last authorization we started
    std::optional<std::string> auth_url;
    std::optional<error> last_err;

    impl(asio::any_io_executor e, std::shared_ptr<store::session_store> s, std::string id,
         std::string sid, session_auth_options o)
        : ex(std::move(e))
        , store(std::move(s))
        , identity(std::move(id))
        , session_id(std::move(sid))
        , opts(std::move(o))
        , http(std::make_shared<http::client>(ex, opts.http))
        , locks(opts.locks ? opts.locks : process_locks()) {}

    error fail(error e) {
        last_err = e;
        log::debug("oauth: session {}: {}", session_id, e.message());
        return e;
    }

    // --- the record ---------------------------------------------------------------------------

    awaitable<result<json::object>> read_record() {
        auto rec = co_await store->get_session(identity, session_id);
        if (!rec)
            co_return rec.error();
        if (!*rec)
            co_return error{errc::invalid_record, "no session record " + session_id};
        co_return std::move(**rec);
    }

    awaitable<result<void>> update(json::object partial) {
        co_return co_await store->update_session(identity, session_id, std::move(partial));
    }

    static std::optional<json::object> tokens_of(json::object const& rec) {
        auto const* t = rec.if_contains("tokens");
        if (t == nullptr || !t->is_object() || str(t->get_object(), "access_token").empty())
            return std::nullopt;
        return t->get_object();
    }

    awaitable<result<void>> load() {
        auto rec = co_await read_record();
        if (!rec)
            co_return rec.error();
        tokens = tokens_of(*rec);
        loaded = true;
        co_return result<void>();
    }

    [[nodiscard]] bool due(json::object const& t) const {
        auto at = int_field(t, "expires_at");
        if (!at)
            return false;
        auto margin = std::chrono::duration_cast<std::chrono::milliseconds>(opts.refresh_margin);
        return now_ms() + margin.count() >= *at;
    }

    // --- HTTP ---------------------------------------------------------------------------------

    awaitable<result<http::response>> send(std::string const& url_text, http::request req) {
        auto to = http::parse_url(url_text);
        if (!to)
            co_return to.error();
        req.set(http::bhttp::field::accept, "application/json");
        http::exchange_options xo; // the client's response_timeout bounds every call
        co_return co_await http->fetch(*to, std::move(req), xo);
    }

    // GET a JSON metadata document: the object, nullopt on a 4xx (try the next URL), or an
    // error (network, 5xx, not a JSON object).
    awaitable<result<std::optional<json::object>>> get_metadata(std::string const& url_text) {
        http::request req{http::bhttp::verb::get, "/", 11};
        req.set("MCP-Protocol-Version", "2025-11-25");
        auto res = co_await send(url_text, std::move(req));
        if (!res)
            co_return error{res.error().code, url_text + ": " + res.error().message()};
        auto status = res->result_int();
        if (status >= 400 && status < 500)
            co_return std::optional<json::object>();
        if (status != 200)
            co_return error{errc::discovery_failed, url_text + ": HTTP " + std::to_string(status)};
        boost::system::error_code ec;
        auto v = json::parse(res->body(), ec);
        if (ec || !v.is_object())
            co_return error{errc::discovery_failed, url_text + ": not a JSON object"};
        co_return std::optional<json::object>(std::move(v.get_object()));
    }

    // --- steps 2 and 3: discovery ------------------------------------------------------------

    awaitable<result<discovery>> discover(std::string const& server_url,
                                          std::string const& metadata_hint) {
        auto server = http::parse_url(server_url);
        if (!server)
            co_return error{errc::discovery_failed, "server URL " + server_url};
        discovery d;
        d.server_url = server_url;
        d.resource = detail::canonical_resource(*server);
        std::optional<json::object> prm;
        for (auto const& u : detail::resource_metadata_urls(*server, metadata_hint)) {
            auto got = co_await get_metadata(u);
            if (!got)
                co_return error{errc::discovery_failed,
                                "protected resource metadata at " + got.error().message()};
            if (*got) {
                prm = std::move(**got);
                d.resource_metadata_url = u;
                break;
            }
        }
        std::string issuer_text;
        if (prm) {
            auto const* servers = prm->if_contains("authorization_servers");
            if (servers != nullptr && servers->is_array() && !servers->get_array().empty() &&
                servers->get_array()[0].is_string())
                issuer_text = std::string(servers->get_array()[0].get_string());
            if (issuer_text.empty())
                co_return error{errc::discovery_failed,
                                d.resource_metadata_url + " names no authorization_servers"};
            if (auto r = str(*prm, "resource"); !r.empty()) {
                auto ru = http::parse_url(r);
                if (!ru || !detail::resource_covers(*ru, *server))
                    co_return error{errc::resource_mismatch,
                                    "resource " + r + " does not cover " + d.resource};
                d.resource = r;
            }
            if (auto const* sc = prm->if_contains("scopes_supported"); sc && sc->is_array())
                for (auto const& s : sc->get_array())
                    if (s.is_string())
                        d.scopes_supported =
                            detail::scope_union(d.scopes_supported, s.get_string());
        } else {
            // A 2025-03-26 server: the authorization server is the MCP server's origin.
            issuer_text = server->origin();
        }
        auto issuer = http::parse_url(issuer_text);
        if (!issuer)
            co_return error{errc::discovery_failed, "authorization server URL " + issuer_text};
        d.issuer = issuer_text;
        std::optional<json::object> md;
        for (auto const& u : detail::authorization_server_metadata_urls(*issuer)) {
            auto got = co_await get_metadata(u);
            if (!got)
                co_return error{errc::discovery_failed,
                                "authorization server metadata at " + got.error().message()};
            if (*got) {
                md = std::move(**got);
                break;
            }
        }
        // RFC 8414 §3.3: the metadata is the issuer's own (a resource server could otherwise send
        // us to an authorization server that speaks for another issuer).
        if (md && prm && md->contains("issuer") && str(*md, "issuer") != issuer_text)
            co_return error{errc::discovery_failed, "authorization server metadata names issuer " +
                                                        str(*md, "issuer") + ", not " +
                                                        issuer_text};
        if (!md) {
            if (prm)
                co_return error{errc::discovery_failed,
                                "no authorization server metadata for " + issuer_text};
            // 2025-03-26: the default endpoints on the server's origin, PKCE assumed.
            md.emplace();
            (*md)["authorization_endpoint"] = issuer->origin() + "/authorize";
            (*md)["token_endpoint"] = issuer->origin() + "/token";
            (*md)["registration_endpoint"] = issuer->origin() + "/register";
            (*md)["code_challenge_methods_supported"] = json::array{"S256"};
        }
        for (auto const* f : {"authorization_endpoint", "token_endpoint"})
            if (str(*md, f).empty() || !http::parse_url(str(*md, f)))
                co_return error{errc::discovery_failed,
                                "authorization server metadata has no valid " + std::string(f)};
        if (!list_contains(*md, "code_challenge_methods_supported", "S256"))
            co_return error{errc::pkce_unsupported,
                            issuer_text +
                                " does not list S256 in code_challenge_methods_supported"};
        d.metadata = std::move(*md);
        co_return d;
    }

    // --- step 4: the client ------------------------------------------------------------------

    // RFC 8414: client_secret_basic when the server lists no methods; else the first of basic,
    // post, none that it lists (a secret the server gave but does not want used stays unsent).
    [[nodiscard]] static std::string method_for(json::object const& md, bool has_secret) {
        if (!has_list(md, "token_endpoint_auth_methods_supported"))
            return has_secret ? "client_secret_basic" : "none";
        for (auto const* m : {"client_secret_basic", "client_secret_post"})
            if (has_secret && list_contains(md, "token_endpoint_auth_methods_supported", m))
                return m;
        return "none";
    }

    // The stored or pre-registered client, if any.
    // `authorizing`: for a new authorization, which a client registered for another callback
    // cannot start (token requests it can still make).
    [[nodiscard]] std::optional<client_identity>
    known_client(json::object const& rec, discovery const& d, bool authorizing) const {
        if (!opts.client.client_id.empty()) {
            client_identity c{opts.client.client_id, opts.client.client_secret, {}};
            c.auth_method = method_for(d.metadata, !c.secret.empty());
            return c;
        }
        if (!opts.client.client_metadata_url.empty() &&
            d.metadata.contains("client_id_metadata_document_supported") &&
            d.metadata.at("client_id_metadata_document_supported") == true)
            return client_identity{opts.client.client_metadata_url, {}, "none"};
        // SEP-2352: a client registered at another authorization server (the resource moved to
        // a new one) is not ours there: register again.
        auto const* before = rec.if_contains("oauthDiscovery");
        if (before != nullptr && before->is_object() &&
            str(before->get_object(), "authorizationServerUrl") != d.issuer)
            return std::nullopt;
        auto const* info = rec.if_contains("clientInformation");
        if (info != nullptr && info->is_object() && !str(info->get_object(), "client_id").empty()) {
            auto const& o = info->get_object();
            // Registered for another callback (the settings changed): the server would refuse
            // ours, so register again.
            if (authorizing && o.contains("redirect_uris") &&
                !list_contains(o, "redirect_uris", opts.client.redirect_url))
                return std::nullopt;
            client_identity c{str(o, "client_id"), str(o, "client_secret"), {}};
            auto m = str(o, "token_endpoint_auth_method");
            c.auth_method = !m.empty() && (m == "none") == c.secret.empty()
                                ? m
                                : method_for(d.metadata, !c.secret.empty());
            return c;
        }
        if (auto id = str(rec, "clientId"); !id.empty())
            return client_identity{id, {}, "none"};
        return std::nullopt;
    }

    awaitable<result<client_identity>> register_client(discovery const& d) {
        auto endpoint = str(d.metadata, "registration_endpoint");
        if (endpoint.empty())
            co_return error{errc::registration_failed,
                            d.issuer + " has no registration_endpoint and no client_id is "
                                       "configured"};
        std::string method = "none";
        if (has_list(d.metadata, "token_endpoint_auth_methods_supported") &&
            !list_contains(d.metadata, "token_endpoint_auth_methods_supported", "none"))
            method = method_for(d.metadata, true);
        json::object body;
        body["client_name"] = opts.client.client_name;
        body["redirect_uris"] = json::array{json::value(opts.client.redirect_url)};
        body["grant_types"] = json::array{"authorization_code", "refresh_token"};
        body["response_types"] = json::array{"code"};
        body["token_endpoint_auth_method"] = method;
        // SEP-837: a loopback redirect is a native application's, anything else a web one's.
        auto redirect = http::parse_url(opts.client.redirect_url);
        bool loopback = redirect && (redirect->host == "localhost" ||
                                     redirect->host == "127.0.0.1" || redirect->host == "::1");
        body["application_type"] = loopback ? "native" : "web";
        if (!opts.client.client_uri.empty())
            body["client_uri"] = opts.client.client_uri;
        http::request req{http::bhttp::verb::post, "/", 11};
        req.set(http::bhttp::field::content_type, "application/json");
        req.body() = json::serialize(body);
        auto res = co_await send(endpoint, std::move(req));
        if (!res)
            co_return error{errc::registration_failed,
                            "registration at " + endpoint + ": " + res.error().message()};
        auto status = res->result_int();
        if (status != 200 && status != 201) {
            auto e = detail::token_error(status, res->body(), "registration at " + endpoint);
            co_return error{errc::registration_failed, e.detail};
        }
        boost::system::error_code ec;
        auto v = json::parse(res->body(), ec);
        if (ec || !v.is_object() || str(v.get_object(), "client_id").empty())
            co_return error{errc::registration_failed,
                            "registration at " + endpoint + ": no client_id in the answer"};
        auto info = v.get_object();
        json::object partial;
        partial["clientInformation"] = info;
        partial["clientId"] = str(info, "client_id");
        auto stored = co_await update(std::move(partial));
        if (!stored)
            co_return stored.error();
        client_identity c{str(info, "client_id"), str(info, "client_secret"), {}};
        auto m = str(info, "token_endpoint_auth_method");
        c.auth_method = !m.empty() && (m == "none") == c.secret.empty()
                            ? m
                            : method_for(d.metadata, !c.secret.empty());
        co_return c;
    }

    // --- step 5: the authorization URL -------------------------------------------------------

    awaitable<result<void>> begin_authorization(std::string const& challenge_scope,
                                                std::string const& metadata_hint, bool step_up,
                                                std::string const& fallback_url) {
        auth_url.reset();
        auto rec = co_await read_record();
        if (!rec)
            co_return rec.error();
        auto server_url = str(*rec, "serverUrl");
        if (server_url.empty())
            server_url = fallback_url;
        auto d = co_await discover(server_url, metadata_hint);
        if (!d)
            co_return d.error();
        auto client = known_client(*rec, *d, true);
        if (!client) {
            auto registered = co_await register_client(*d);
            if (!registered)
                co_return registered.error();
            client = std::move(*registered);
        }
        std::string scope = challenge_scope;
        if (scope.empty())
            scope = d->scopes_supported;
        if (scope.empty())
            scope = opts.client.scope;
        if (step_up) {
            auto granted = tokens ? str(*tokens, "scope") : std::string();
            scope = detail::scope_union(detail::scope_union(granted, requested_scope), scope);
        }
        requested_scope = scope;

        auto verifier = detail::make_code_verifier();
        auto state = detail::make_state(session_id);
        auto endpoint = str(d->metadata, "authorization_endpoint");
        auto parsed = boost::urls::parse_uri(endpoint);
        if (!parsed)
            co_return error{errc::discovery_failed, "authorization_endpoint " + endpoint};
        boost::urls::url u(*parsed);
        auto params = u.params();
        params.append({"response_type", "code"});
        params.append({"client_id", client->id});
        params.append({"redirect_uri", opts.client.redirect_url});
        params.append({"code_challenge", detail::s256_challenge(verifier)});
        params.append({"code_challenge_method", "S256"});
        params.append({"state", state});
        params.append({"resource", d->resource});
        if (!scope.empty())
            params.append({"scope", scope});

        json::object partial;
        partial["codeVerifier"] = verifier;
        partial["oauthState"] = detail::sha256_hex(state);
        partial["oauthStateExpiresAt"] =
            now_ms() +
            std::chrono::duration_cast<std::chrono::milliseconds>(state_lifetime).count();
        partial["oauthDiscovery"] = d->to_json();
        auto stored = co_await update(std::move(partial));
        if (!stored)
            co_return stored.error();
        auth_url = std::string(u.buffer());
        co_return result<void>();
    }

    // --- token endpoint ----------------------------------------------------------------------

    awaitable<result<json::object>>
    token_request(discovery const& d, client_identity const& c,
                  std::vector<std::pair<std::string, std::string>> fields,
                  std::string const& what) {
        http::request req{http::bhttp::verb::post, "/", 11};
        req.set(http::bhttp::field::content_type, "application/x-www-form-urlencoded");
        if (c.auth_method == "client_secret_basic") {
            auto creds = detail::form_urlencode(c.id) + ":" + detail::form_urlencode(c.secret);
            req.set(http::bhttp::field::authorization, "Basic " + detail::base64(creds));
        } else {
            fields.emplace_back("client_id", c.id);
            if (c.auth_method == "client_secret_post")
                fields.emplace_back("client_secret", c.secret);
        }
        req.body() = detail::form_body(fields);
        auto endpoint = str(d.metadata, "token_endpoint");
        auto res = co_await send(endpoint, std::move(req));
        if (!res)
            co_return error{res.error().code,
                            what + " at " + endpoint + ": " + res.error().message()};
        if (res->result_int() != 200)
            co_return detail::token_error(res->result_int(), res->body(), what + " at " + endpoint);
        co_return detail::parse_token_response(res->body(), now_ms());
    }

    // The discovery and client a token request needs, from the record (rediscovered from its
    // serverUrl when the record has none, e.g. one written by the Node SDK).
    awaitable<result<std::pair<discovery, client_identity>>>
    token_context(json::object const& rec) {
        auto d = discovery::from_json(rec.if_contains("oauthDiscovery"));
        if (!d) {
            auto server_url = str(rec, "serverUrl");
            if (server_url.empty())
                co_return error{errc::invalid_record, "the record has no serverUrl"};
            std::string no_hint;
            auto found = co_await discover(server_url, no_hint);
            if (!found)
                co_return found.error();
            d = std::move(*found);
        }
        auto c = known_client(rec, *d, false);
        if (!c)
            co_return error{errc::invalid_record, "the record has no OAuth client"};
        co_return std::make_pair(std::move(*d), std::move(*c));
    }

    // --- step 7: refresh ---------------------------------------------------------------------

    // Refreshes unless the record already holds other tokens than `stale` that are not due.
    awaitable<result<refresh_outcome>> refresh(std::string stale) {
        result<refresh_outcome> outcome = error{errc::token_request_failed, "refresh not run"};
        guard::lock_request lr;
        // Hashed: identities may hold any character, and a '{' or '}' would upset Redis
        // Cluster's hash tags.
        lr.key = guard::key_space().lock_key("oauth-refresh:" +
                                             detail::sha256_hex(identity + '\n' + session_id));
        lr.ttl = std::chrono::seconds(30);
        lr.when_busy = guard::lock_wait::wait;
        auto const& h = opts.http;
        lr.wait_timeout = h.connect_timeout + h.response_timeout + std::chrono::seconds(5);
        lr.on_unavailable = guard::lock_failure::proceed;
        guard::lock_service::body_fn body = [this, &outcome,
                                             &stale](guard::lock_lease const&) -> awaitable<void> {
            outcome = co_await refresh_locked(stale);
        };
        try {
            co_await locks->run(std::move(lr), std::move(body));
        } catch (std::exception const& e) {
            co_return error{errc::token_request_failed, std::string("refresh lock: ") + e.what()};
        }
        co_return outcome;
    }

    awaitable<result<refresh_outcome>> refresh_locked(std::string const& stale) {
        auto rec = co_await read_record();
        if (!rec)
            co_return rec.error();
        auto current = tokens_of(*rec);
        if (current && str(*current, "access_token") != stale && !due(*current)) {
            tokens = std::move(current);
            last_err.reset();
            co_return refresh_outcome::adopted;
        }
        auto refresh_token = current ? str(*current, "refresh_token") : std::string();
        if (refresh_token.empty()) {
            co_return refresh_outcome::need_authorization;
        }
        auto ctx = co_await token_context(*rec);
        if (!ctx)
            co_return ctx.error();
        std::vector<std::pair<std::string, std::string>> fields{{"grant_type", "refresh_token"},
                                                                {"refresh_token", refresh_token},
                                                                {"resource", ctx->first.resource}};
        std::string what = "token refresh";
        auto fresh = co_await token_request(ctx->first, ctx->second, std::move(fields), what);
        if (!fresh) {
            if (fresh.error() == errc::invalid_grant) {
                json::object partial;
                partial["tokens"] = nullptr;
                auto dropped = co_await update(std::move(partial));
                if (!dropped)
                    co_return dropped.error();
                tokens.reset();
                last_err = fresh.error();
                co_return refresh_outcome::need_authorization;
            }
            co_return fresh.error();
        }
        if (str(*fresh, "refresh_token").empty())
            (*fresh)["refresh_token"] = refresh_token; // RFC 6749 §6: the old one stays valid
        json::object partial;
        partial["tokens"] = *fresh;
        auto stored = co_await update(std::move(partial));
        if (!stored)
            co_return stored.error();
        tokens = std::move(*fresh);
        last_err.reset();
        co_return refresh_outcome::refreshed;
    }

    // --- the hooks ---------------------------------------------------------------------------

    awaitable<result<void>> authorize(http::request& req) {
        if (!loaded) {
            auto l = co_await load();
            if (!l)
                co_return fail(l.error());
        }
        if (tokens && due(*tokens) && !str(*tokens, "refresh_token").empty()) {
            auto stale = str(*tokens, "access_token");
            auto r = co_await refresh(stale);
            if (!r) {
                fail(r.error());
                auto at = int_field(*tokens, "expires_at");
                if (at && *at <= now_ms())
                    co_return r.error(); // expired and not renewable now: say why
            } else if (*r == refresh_outcome::need_authorization) {
                tokens.reset(); // the server's 401 starts the authorization
            }
        }
        if (tokens)
            req.set(http::bhttp::field::authorization, "Bearer " + str(*tokens, "access_token"));
        co_return result<void>();
    }

    awaitable<bool> unauthorized(auth_challenge const& ch) {
        auto bearer = detail::bearer_challenge(ch.www_authenticate);
        std::string scope, hint, err;
        if (bearer) {
            scope = std::string(bearer->param("scope"));
            hint = std::string(bearer->param("resource_metadata"));
            err = std::string(bearer->param("error"));
        }
        auto fallback_url = ch.url.text();
        if (ch.status == 403) {
            if (err != "insufficient_scope")
                co_return false;
            auto started = co_await begin_authorization(scope, hint, true, fallback_url);
            fail(started ? error{errc::authorization_required,
                                 "step-up to scope \"" + requested_scope + "\""}
                         : started.error());
            co_return false;
        }
        if (ch.status != 401)
            co_return false;
        // The token the refused request carried (several requests may be in flight, some with
        // an older token than the last one sent).
        std::string sent;
        if (ch.authorization.size() > 7 && ch.authorization.compare(0, 7, "Bearer ") == 0)
            sent = ch.authorization.substr(7);
        if (!sent.empty()) {
            // The server refused a token we sent: renew it (or take another holder's).
            auto r = co_await refresh(sent);
            if (r && *r != refresh_outcome::need_authorization)
                co_return true;
            if (!r) {
                fail(r.error());
                co_return false;
            }
            json::object partial;
            partial["tokens"] = nullptr;
            auto dropped = co_await update(std::move(partial));
            if (!dropped) {
                fail(dropped.error());
                co_return false;
            }
            tokens.reset();
        } else {
            // We sent none: maybe the callback stored tokens meanwhile (another object or
            // instance ran finish()).
            auto l = co_await load();
            if (!l) {
                fail(l.error());
                co_return false;
            }
            if (tokens && !due(*tokens))
                co_return true;
        }
        auto started = co_await begin_authorization(scope, hint, false, fallback_url);
        fail(started ? error{errc::authorization_required, "the user must authorize"}
                     : started.error());
        co_return false;
    }

    awaitable<result<void>> finish(std::string code, std::string state,
                                   std::optional<std::string> iss) {
        auto named = state_session_id(state);
        if (!named || *named != session_id)
            co_return fail(error{errc::invalid_state, "the state names another session"});
        auto rec = co_await read_record();
        if (!rec)
            co_return fail(rec.error());
        auto expected = str(*rec, "oauthState");
        auto given = detail::sha256_hex(state);
        if (expected.size() != given.size() ||
            CRYPTO_memcmp(expected.data(), given.data(), given.size()) != 0)
            co_return fail(error{errc::invalid_state, "no pending authorization with this state"});
        auto expires = int_field(*rec, "oauthStateExpiresAt");
        // Single use: the state goes before anything else can fail.
        json::object consumed;
        consumed["oauthState"] = nullptr;
        consumed["oauthStateExpiresAt"] = nullptr;
        auto gone = co_await update(std::move(consumed));
        if (!gone)
            co_return fail(gone.error());
        if (expires && *expires < now_ms())
            co_return fail(error{errc::invalid_state, "the authorization took too long"});
        auto verifier = str(*rec, "codeVerifier");
        if (verifier.empty())
            co_return fail(error{errc::invalid_record, "the record has no codeVerifier"});
        auto ctx = co_await token_context(*rec);
        if (!ctx)
            co_return fail(ctx.error());
        // RFC 9207, when the caller passes what the callback had (empty: no iss): the iss must
        // be the issuer we asked, and a server that says it sends one must have sent it.
        if (iss) {
            auto const& md = ctx->first.metadata;
            auto issuer = str(md, "issuer");
            bool promised = md.contains("authorization_response_iss_parameter_supported") &&
                            md.at("authorization_response_iss_parameter_supported") == true;
            if (iss->empty() ? promised : *iss != issuer)
                co_return fail(error{errc::invalid_state,
                                     iss->empty()
                                         ? "the callback has no iss though " + issuer + " sends one"
                                         : "the callback's iss " + *iss + " is not " + issuer});
        }
        std::vector<std::pair<std::string, std::string>> fields{
            {"grant_type", "authorization_code"},
            {"code", code},
            {"redirect_uri", opts.client.redirect_url},
            {"code_verifier", verifier},
            {"resource", ctx->first.resource}};
        std::string what = "code exchange";
        auto fresh = co_await token_request(ctx->first, ctx->second, std::move(fields), what);
        if (!fresh)
            co_return fail(fresh.error());
        json::object partial;
        partial["tokens"] = *fresh;
        partial["codeVerifier"] = nullptr;
        auto stored = co_await update(std::move(partial));
        if (!stored)
            co_return fail(stored.error());
        tokens = std::move(*fresh);
        loaded = true;
        auth_url.reset();
        last_err.reset();
        co_return result<void>();
    }
};

session_auth::session_auth(asio::any_io_executor ex, std::shared_ptr<store::session_store> store,
                           std::string identity, std::string session_id, session_auth_options opts)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(store), std::move(identity),
                                   std::move(session_id), std::move(opts))) {}

session_auth::~session_auth() = default;

awaitable<result<void>> session_auth::authorize(http::request& req) {
    auto keep = impl_;
    co_return co_await keep->authorize(req);
}

awaitable<bool> session_auth::unauthorized(auth_challenge const& challenge) {
    auto keep = impl_;
    co_return co_await keep->unauthorized(challenge);
}

std::optional<std::string> const& session_auth::authorization_url() const noexcept {
    return impl_->auth_url;
}

std::optional<error> const& session_auth::last_error() const noexcept {
    return impl_->last_err;
}

awaitable<result<void>> session_auth::finish(std::string code, std::string state) {
    auto keep = impl_;
    std::optional<std::string> no_iss;
    co_return co_await keep->finish(std::move(code), std::move(state), std::move(no_iss));
}

awaitable<result<void>> session_auth::finish(std::string code, std::string state, std::string iss) {
    auto keep = impl_;
    std::optional<std::string> given(std::move(iss));
    co_return co_await keep->finish(std::move(code), std::move(state), std::move(given));
}

} // namespace mcpd::client::oauth
