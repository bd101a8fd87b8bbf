// client/oauth.cpp — OAuth 2.1 for MCP client sessions. See oauth.hpp for the flow and the
// record fields; the pure pieces (parsing, PKCE, URL lists) are in oauth_detail.cpp.
//
// Concurrency: a session_auth is used from one executor, but several of its requests may be in
// flight (a POST and the GET stream), and other session_auth objects, here or in other
// processes, may serve the same record. Every refresh, client registration, start of an
// authorization, consumption of a state and drop of refused tokens therefore runs under a lock
// on the record's key (the given lock_service, else one process-wide memory lock service), and
// re-reads the record once it holds it: tokens that another holder stored meanwhile are taken as
// they are (a rotated refresh token is never used twice), a pending authorization is handed out
// again rather than replaced, a state is used once.
#include "mcpd/client/oauth.hpp"

#include "client/oauth_detail.hpp"
#include "core/log.hpp"
#include "core/url_text.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <openssl/crypto.h>

#include <chrono>
#include <mutex>
#include <set>

namespace mcpd::client::oauth {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;

namespace {

constexpr auto state_lifetime = std::chrono::minutes(10);

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

using detail::has_list;
using detail::int_field;
using detail::list_contains;
using detail::str;

// The lock session_auth uses when it is given none: one holder per key in this process. A
// waiter looks again every few milliseconds (refreshes are rare, and a holder may be on another
// thread's io_context).
class process_oauth_lock final : public oauth_lock {
public:
    asio::awaitable<result<void>> run(std::string key, duration /*ttl*/, duration wait,
                                      body_fn body) override {
        auto until = std::chrono::steady_clock::now() + wait;
        asio::steady_timer pause(co_await asio::this_coro::executor);
        while (!take(key)) {
            if (std::chrono::steady_clock::now() >= until)
                co_return error{errc::token_request_failed,
                                "another refresh of this session did not finish in time"};
            pause.expires_after(std::chrono::milliseconds(5));
            co_await pause.async_wait(asio::use_awaitable);
        }
        struct release {
            process_oauth_lock& self;
            std::string const& key;
            ~release() {
                std::lock_guard<std::mutex> hold(self.mu_);
                self.held_.erase(key);
            }
        } released{*this, key};
        co_await body();
        co_return result<void>();
    }

private:
    bool take(std::string const& key) {
        std::lock_guard<std::mutex> hold(mu_);
        return held_.insert(key).second;
    }
    std::mutex mu_;
    std::set<std::string> held_;
};

std::shared_ptr<oauth_lock> process_lock() {
    static auto const lock = std::make_shared<process_oauth_lock>();
    return lock;
}

// A session id as a state may carry one: what a session store accepts (1 to 255 bytes, no
// control character, no ':').
bool plausible_session_id(std::string_view id) {
    if (id.empty() || id.size() > 255)
        return false;
    for (unsigned char c : id)
        if (c < 0x20 || c == 0x7F || c == ':')
            return false;
    return true;
}

// What steps 2 and 3 found; stored as the record's oauthDiscovery.
struct discovery {
    std::string server_url;            // the MCP endpoint
    std::string resource;              // the RFC 8707 resource parameter
    std::string resource_metadata_url; // empty: none found (a 2025-03-26 server)
    std::string scopes_supported;      // from the resource metadata, space separated
    std::string issuer;                // the authorization server
    json::object metadata;             // its RFC 8414 metadata (the fields we use)
    // The scope of the last authorization started for this record: kept so that a step-up
    // after a restart still asks for it (token responses often carry no scope).
    std::string requested_scope;

    [[nodiscard]] json::object to_json() const {
        json::object o;
        o["serverUrl"] = server_url;
        o["resource"] = resource;
        o["resourceMetadataUrl"] = resource_metadata_url;
        o["scopesSupported"] = scopes_supported;
        o["authorizationServerUrl"] = issuer;
        o["authorizationServerMetadata"] = metadata;
        o["requestedScope"] = requested_scope;
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
        d.requested_scope = str(o, "requestedScope");
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

// What of a registration answer (RFC 7591 §3.2.1) we use and store.
std::vector<std::string_view> const registration_fields = {"client_id",
                                                           "client_secret",
                                                           "client_id_issued_at",
                                                           "client_secret_expires_at",
                                                           "redirect_uris",
                                                           "token_endpoint_auth_method",
                                                           "grant_types",
                                                           "response_types",
                                                           "client_name",
                                                           "client_uri",
                                                           "scope",
                                                           "application_type"};

// OAuth answers are small documents: a bigger one is refused, not stored in the record.
constexpr std::size_t max_oauth_body = 64 * 1024;

http::client_options oauth_http_options(http::client_options o) {
    o.max_body_bytes = std::min(o.max_body_bytes, max_oauth_body);
    return o;
}

// Issuers compared as configured or stored (a trailing slash is no difference).
bool same_issuer(std::string_view a, std::string_view b) {
    auto trim = [](std::string_view s) {
        return !s.empty() && s.back() == '/' ? s.substr(0, s.size() - 1) : s;
    };
    return trim(a) == trim(b);
}

} // namespace

std::optional<std::string_view> state_session_id(std::string_view state) noexcept {
    auto dot = state.rfind('.');
    if (dot == std::string_view::npos || dot == 0 || state.size() - dot - 1 != 32)
        return std::nullopt;
    for (char c : state.substr(dot + 1))
        if ((c < '0' || c > '9') && (c < 'a' || c > 'f'))
            return std::nullopt;
    auto id = state.substr(0, dot);
    if (!plausible_session_id(id))
        return std::nullopt;
    return id;
}

struct session_auth::impl {
    asio::any_io_executor ex;
    std::shared_ptr<oauth_record> record;
    std::string identity;
    std::string session_id;
    session_auth_options opts;
    std::shared_ptr<http::client> http;
    std::shared_ptr<oauth_lock> lock;

    bool loaded = false;
    std::optional<json::object> tokens; // what the record held when last read
    std::string requested_scope;        // the scope of the last authorization we started
    std::optional<std::string> auth_url;
    std::optional<error> last_err;
    // While unauthorized() calls run: when the latest of them must be done (OAuth HTTP calls and
    // lock waits end by then).
    std::optional<std::chrono::steady_clock::time_point> deadline;
    int unauthorized_running = 0;

    impl(asio::any_io_executor e, std::shared_ptr<oauth_record> r, std::string id, std::string sid,
         session_auth_options o)
        : ex(std::move(e))
        , record(std::move(r))
        , identity(std::move(id))
        , session_id(std::move(sid))
        , opts(std::move(o))
        , http(std::make_shared<http::client>(ex, oauth_http_options(opts.http)))
        , lock(opts.lock ? opts.lock : process_lock()) {}

    error fail(error e) {
        last_err = e;
        log::debug("oauth: session {}: {}", session_id, e.message());
        return e;
    }

    // --- the record ---------------------------------------------------------------------------

    awaitable<result<json::object>> read_record() {
        auto rec = co_await record->read();
        if (!rec)
            co_return rec.error();
        if (!*rec)
            co_return error{errc::invalid_record, "no session record " + session_id};
        co_return std::move(**rec);
    }

    awaitable<result<void>> update(json::object partial) {
        co_return co_await record->update(std::move(partial));
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
        auto margin = std::chrono::duration_cast<std::chrono::milliseconds>(opts.refresh_margin);
        return detail::refresh_due(t, now_ms(), margin.count());
    }

    // How long a wait may last: `wanted`, cut to what is left before the deadline.
    [[nodiscard]] duration bounded(duration wanted) const {
        if (!deadline)
            return wanted;
        auto left =
            std::chrono::duration_cast<duration>(*deadline - std::chrono::steady_clock::now());
        return std::max(duration::zero(), std::min(wanted, left));
    }

    // Runs `body` holding the record's lock (the one lock service for refreshes, registration,
    // the pending authorization and the state), across instances when a lock service is given.
    awaitable<result<void>> with_record_lock(std::function<awaitable<void>()> body,
                                             std::string const& what) {
        // Hashed: identities may hold any character, and a '{' or '}' would upset Redis
        // Cluster's hash tags.
        auto key = "oauth-refresh:" + detail::sha256_hex(identity + '\n' + session_id);
        auto const& h = opts.http;
        auto wait = bounded(h.connect_timeout + h.response_timeout + std::chrono::seconds(5));
        try {
            auto held =
                co_await lock->run(std::move(key), std::chrono::seconds(30), wait, std::move(body));
            if (!held)
                co_return error{errc::token_request_failed,
                                what + " lock: " + held.error().message()};
        } catch (std::exception const& e) {
            co_return error{errc::token_request_failed, what + " lock: " + e.what()};
        }
        co_return result<void>();
    }

    // An authorization server URL (issuer, authorization, token or registration endpoint):
    // https, or http on a loopback host; nothing is sent to it otherwise.
    // --- HTTP ---------------------------------------------------------------------------------

    awaitable<result<http::beast_response>> send(std::string const& url_text,
                                                 http::beast_request req) {
        auto to = http::parse_url(url_text);
        if (!to)
            co_return to.error();
        req.set(http::bhttp::field::accept, "application/json");
        http::exchange_options xo; // the client's response_timeout bounds every call
        if (deadline) {
            auto left = bounded(opts.http.response_timeout);
            if (left <= duration::zero())
                co_return error{errc::discovery_failed,
                                url_text + ": no time left for OAuth in this request"};
            xo.timeout = left;
        }
        co_return co_await http->fetch(*to, std::move(req), xo);
    }

    // GET a JSON metadata document: the object, nullopt on a 4xx (try the next URL), or an
    // error (network, 5xx, not a JSON object).
    awaitable<result<std::optional<json::object>>> get_metadata(std::string const& url_text) {
        http::beast_request req{http::bhttp::verb::get, "/", 11};
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
            auto found = detail::read_resource_metadata(*prm, *server, d.resource_metadata_url);
            if (!found)
                co_return found.error();
            issuer_text = std::move(found->authorization_server);
            d.resource = std::move(found->resource);
            d.scopes_supported = std::move(found->scopes_supported);
        } else {
            // A 2025-03-26 server: the authorization server is the MCP server's origin.
            issuer_text = server->origin();
        }
        if (auto ok = detail::check_endpoint_url(issuer_text, "authorization server"); !ok)
            co_return ok.error();
        auto issuer = http::parse_url(issuer_text);
        if (!issuer)
            co_return error{errc::discovery_failed, "authorization server URL " + issuer_text};
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
        auto as =
            detail::read_authorization_server_metadata(std::move(md), issuer_text, prm.has_value());
        if (!as)
            co_return as.error();
        d.issuer = std::move(as->issuer);
        d.metadata = std::move(as->metadata);
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
    // A pre-registered client is registered at one authorization server: its id (and above all
    // its secret) goes only there. With `issuer` set, that one; else, with a secret, the first
    // one this record used (a resource server cannot send the secret elsewhere later).
    [[nodiscard]] result<std::optional<client_identity>>
    known_client(json::object const& rec, discovery const& d, bool authorizing) const {
        if (!opts.client.client_id.empty()) {
            auto const& bound = opts.client.issuer;
            std::string before;
            if (auto const* b = rec.if_contains("oauthDiscovery"); b != nullptr && b->is_object())
                before = str(b->get_object(), "authorizationServerUrl");
            if (!bound.empty() ? !same_issuer(bound, d.issuer)
                               : !opts.client.client_secret.empty() && !before.empty() &&
                                     !same_issuer(before, d.issuer))
                return error{errc::registration_failed, "the pre-registered client_id is for " +
                                                            (bound.empty() ? before : bound) +
                                                            ", not for " + d.issuer +
                                                            " (client_settings.issuer)"};
            client_identity c{opts.client.client_id, opts.client.client_secret, {}};
            c.auth_method = method_for(d.metadata, !c.secret.empty());
            return std::optional<client_identity>(std::move(c));
        }
        if (!opts.client.client_metadata_url.empty() &&
            d.metadata.contains("client_id_metadata_document_supported") &&
            d.metadata.at("client_id_metadata_document_supported") == true)
            return std::optional<client_identity>(
                client_identity{opts.client.client_metadata_url, {}, "none"});
        // SEP-2352: a client registered at another authorization server (the resource moved to
        // a new one) is not ours there: register again.
        auto const* before = rec.if_contains("oauthDiscovery");
        if (before != nullptr && before->is_object() &&
            str(before->get_object(), "authorizationServerUrl") != d.issuer)
            return std::optional<client_identity>();
        auto const* info = rec.if_contains("clientInformation");
        if (info != nullptr && info->is_object() && !str(info->get_object(), "client_id").empty()) {
            auto const& o = info->get_object();
            // Registered for another callback (the settings changed): the server would refuse
            // ours, so register again.
            if (authorizing && o.contains("redirect_uris") &&
                !list_contains(o, "redirect_uris", opts.client.redirect_url))
                return std::optional<client_identity>();
            client_identity c{str(o, "client_id"), str(o, "client_secret"), {}};
            auto m = str(o, "token_endpoint_auth_method");
            c.auth_method = !m.empty() && (m == "none") == c.secret.empty()
                                ? m
                                : method_for(d.metadata, !c.secret.empty());
            return std::optional<client_identity>(std::move(c));
        }
        if (auto id = str(rec, "clientId"); !id.empty())
            return std::optional<client_identity>(client_identity{id, {}, "none"});
        return std::optional<client_identity>();
    }

    awaitable<result<client_identity>> register_client(discovery const& d) {
        auto endpoint = str(d.metadata, "registration_endpoint");
        if (endpoint.empty())
            co_return error{errc::registration_failed,
                            d.issuer + " has no registration_endpoint and no client_id is "
                                       "configured"};
        if (auto ok = detail::check_endpoint_url(endpoint, "registration_endpoint"); !ok)
            co_return error{errc::registration_failed, ok.error().detail};
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
        http::beast_request req{http::bhttp::verb::post, "/", 11};
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
        auto info = detail::only_fields(v.get_object(), registration_fields);
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

    // Discovery runs first (read only); then, holding the record's lock, a pending
    // authorization that is still good (same authorization server, client and callback, a
    // scope that covers this one, a minute or more left) is handed out again, so that a
    // request failing while the user is at the first URL does not void it; else the client is
    // registered if needed and a new one written. Two of these at once on a fresh record thus
    // register one client and hand out one URL.
    awaitable<result<void>> begin_authorization(std::string const& challenge_scope,
                                                std::string const& metadata_hint, bool step_up,
                                                std::string const& fallback_url) {
        auth_url.reset();
        auto first = co_await read_record();
        if (!first)
            co_return first.error();
        auto server_url = str(*first, "serverUrl");
        if (server_url.empty())
            server_url = fallback_url;
        auto found = co_await discover(server_url, metadata_hint);
        if (!found)
            co_return found.error();
        result<void> outcome = error{errc::discovery_failed, "authorization not started"};
        std::function<awaitable<void>()> body = [&]() -> awaitable<void> {
            outcome = co_await begin_authorization_locked(*found, challenge_scope, step_up);
        };
        std::string what = "authorization";
        auto ran = co_await with_record_lock(std::move(body), what);
        if (!ran)
            co_return ran.error();
        co_return outcome;
    }

    awaitable<result<void>> begin_authorization_locked(discovery const& found,
                                                       std::string const& challenge_scope,
                                                       bool step_up) {
        discovery d = found;
        auto rec = co_await read_record();
        if (!rec)
            co_return rec.error();
        auto client = known_client(*rec, d, true);
        if (!client)
            co_return client.error();
        if (!*client) {
            auto registered = co_await register_client(d);
            if (!registered)
                co_return registered.error();
            *client = std::move(*registered);
        }
        auto const& c = **client;
        std::string scope = challenge_scope;
        if (scope.empty())
            scope = d.scopes_supported;
        if (scope.empty())
            scope = opts.client.scope;
        if (step_up) {
            // What was granted and what was asked before (kept in the record, as the token
            // response often names no scope), and the challenge's.
            std::string asked_before = requested_scope;
            if (auto before = discovery::from_json(rec->if_contains("oauthDiscovery")))
                asked_before = detail::scope_union(before->requested_scope, asked_before);
            auto granted = tokens ? str(*tokens, "scope") : std::string();
            scope = detail::scope_union(detail::scope_union(granted, asked_before), scope);
        }

        if (auto pending = pending_authorization(*rec, d, c, scope)) {
            requested_scope = std::move(pending->second);
            auth_url = std::move(pending->first);
            co_return result<void>();
        }
        requested_scope = scope;
        d.requested_scope = scope;

        auto verifier = detail::make_code_verifier();
        auto state = detail::make_state(session_id);
        auto endpoint = str(d.metadata, "authorization_endpoint");
        if (!url_text_parsable(endpoint))
            co_return error{errc::discovery_failed, "authorization_endpoint " + endpoint};
        auto parsed = boost::urls::parse_uri(endpoint);
        if (!parsed)
            co_return error{errc::discovery_failed, "authorization_endpoint " + endpoint};
        boost::urls::url u(*parsed);
        auto params = u.params();
        params.append({"response_type", "code"});
        params.append({"client_id", c.id});
        params.append({"redirect_uri", opts.client.redirect_url});
        params.append({"code_challenge", detail::s256_challenge(verifier)});
        params.append({"code_challenge_method", "S256"});
        params.append({"state", state});
        params.append({"resource", d.resource});
        if (!scope.empty())
            params.append({"scope", scope});
        std::string url_text(u.buffer());

        json::object pending;
        pending["url"] = url_text;
        pending["scope"] = scope;
        pending["issuer"] = d.issuer;
        pending["clientId"] = c.id;
        pending["redirectUri"] = opts.client.redirect_url;
        json::object partial;
        partial["codeVerifier"] = verifier;
        partial["oauthState"] = detail::sha256_hex(state);
        partial["oauthStateExpiresAt"] =
            now_ms() +
            std::chrono::duration_cast<std::chrono::milliseconds>(state_lifetime).count();
        partial["oauthPending"] = std::move(pending);
        partial["oauthDiscovery"] = d.to_json();
        auto stored = co_await update(std::move(partial));
        if (!stored)
            co_return stored.error();
        auth_url = std::move(url_text);
        co_return result<void>();
    }

    // The record's pending authorization (its URL and scope) when it can serve this one.
    [[nodiscard]] std::optional<std::pair<std::string, std::string>>
    pending_authorization(json::object const& rec, discovery const& d, client_identity const& c,
                          std::string const& scope) const {
        auto const* p = rec.if_contains("oauthPending");
        if (p == nullptr || !p->is_object() || str(rec, "oauthState").empty() ||
            str(rec, "codeVerifier").empty())
            return std::nullopt;
        auto const& o = p->get_object();
        auto expires = int_field(rec, "oauthStateExpiresAt");
        auto minute =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::minutes(1)).count();
        if (!expires || *expires < now_ms() + minute)
            return std::nullopt;
        if (str(o, "url").empty() || str(o, "issuer") != d.issuer || str(o, "clientId") != c.id ||
            str(o, "redirectUri") != opts.client.redirect_url ||
            !detail::scope_covers(str(o, "scope"), scope))
            return std::nullopt;
        return std::make_pair(str(o, "url"), str(o, "scope"));
    }

    // --- token endpoint ----------------------------------------------------------------------

    awaitable<result<json::object>>
    token_request(discovery const& d, client_identity const& c,
                  std::vector<std::pair<std::string, std::string>> fields, std::string const& what,
                  detail::refusal* refused = nullptr) {
        http::beast_request req{http::bhttp::verb::post, "/", 11};
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
        if (auto ok = detail::check_endpoint_url(endpoint, "token_endpoint"); !ok)
            co_return ok.error();
        auto res = co_await send(endpoint, std::move(req));
        if (!res)
            co_return error{res.error().code,
                            what + " at " + endpoint + ": " + res.error().message()};
        if (res->result_int() != 200) {
            if (refused != nullptr)
                *refused = detail::classify_token_error(res->result_int(), res->body());
            co_return detail::token_error(res->result_int(), res->body(), what + " at " + endpoint);
        }
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
            co_return c.error();
        if (!*c)
            co_return error{errc::invalid_record, "the record has no OAuth client"};
        co_return std::make_pair(std::move(*d), std::move(**c));
    }

    // --- step 7: refresh ---------------------------------------------------------------------

    // Refreshes unless the record already holds other tokens than `stale` that are not due.
    // `refused`: the server refused `stale` (a 401), so when there is nothing to refresh it with
    // it is dropped from the record, under the lock and only if the record still holds it (a
    // finish() may just have stored fresh ones).
    awaitable<result<refresh_outcome>> refresh(std::string stale, bool refused) {
        result<refresh_outcome> outcome = error{errc::token_request_failed, "refresh not run"};
        std::function<awaitable<void>()> body = [this, &outcome, &stale,
                                                 refused]() -> awaitable<void> {
            outcome = co_await refresh_locked(stale, refused);
        };
        std::string what = "refresh";
        auto ran = co_await with_record_lock(std::move(body), what);
        if (!ran)
            co_return ran.error();
        co_return outcome;
    }

    // Drops the record's tokens (and, for a client the server does not know, its registration
    // and the pending authorization made with it). Under the record's lock.
    awaitable<result<void>> drop_tokens(bool and_client) {
        json::object partial;
        partial["tokens"] = nullptr;
        if (and_client) {
            partial["clientInformation"] = nullptr;
            partial["clientId"] = nullptr;
            partial["oauthPending"] = nullptr;
            partial["oauthState"] = nullptr;
            partial["oauthStateExpiresAt"] = nullptr;
        }
        auto dropped = co_await update(std::move(partial));
        if (!dropped)
            co_return dropped.error();
        tokens.reset();
        co_return result<void>();
    }

    awaitable<result<refresh_outcome>> refresh_locked(std::string const& stale, bool refused) {
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
            if (refused && current && str(*current, "access_token") == stale) {
                auto dropped = co_await drop_tokens(false);
                if (!dropped)
                    co_return dropped.error();
            }
            co_return refresh_outcome::need_authorization;
        }
        auto ctx = co_await token_context(*rec);
        if (!ctx)
            co_return ctx.error();
        std::vector<std::pair<std::string, std::string>> fields{{"grant_type", "refresh_token"},
                                                                {"refresh_token", refresh_token},
                                                                {"resource", ctx->first.resource}};
        std::string what = "token refresh";
        auto refusal = detail::refusal::transient;
        auto fresh =
            co_await token_request(ctx->first, ctx->second, std::move(fields), what, &refusal);
        if (!fresh) {
            // The token endpoint refused (invalid_grant, invalid_client, invalid_scope, …): the
            // tokens are no good, and for invalid_client the registration neither; the next
            // request gets a new authorization. Network errors and 5xx keep them.
            if (fresh.error() == errc::invalid_grant || refusal != detail::refusal::transient) {
                bool pre_registered = !opts.client.client_id.empty();
                auto dropped =
                    co_await drop_tokens(refusal == detail::refusal::client && !pre_registered);
                if (!dropped)
                    co_return dropped.error();
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

    awaitable<result<void>> authorize(http::header_list& headers) {
        if (!loaded) {
            auto l = co_await load();
            if (!l)
                co_return fail(l.error());
        }
        if (tokens && due(*tokens) && !str(*tokens, "refresh_token").empty()) {
            auto stale = str(*tokens, "access_token");
            auto expiry = int_field(*tokens, "expires_at");
            auto r = co_await refresh(stale, false);
            // `tokens` may have changed meanwhile (another request of this session refreshed,
            // or dropped them): only what was read before the wait is used here.
            if (!r) {
                fail(r.error());
                if (expiry && *expiry <= now_ms())
                    co_return r.error(); // expired and not renewable now: say why
            } else if (*r == refresh_outcome::need_authorization) {
                tokens.reset(); // the server's 401 starts the authorization
            }
        }
        if (tokens)
            headers.set("Authorization", "Bearer " + str(*tokens, "access_token"));
        co_return result<void>();
    }

    awaitable<bool> unauthorized(auth_challenge const& ch) {
        // One budget for discovery, registration and lock waits, so that this cannot outlast
        // the request waiting on it.
        auto until = std::chrono::steady_clock::now() + opts.challenge_budget;
        if (!deadline || *deadline < until)
            deadline = until;
        ++unauthorized_running;
        auto handled = co_await unauthorized_bounded(ch);
        if (--unauthorized_running == 0)
            deadline.reset();
        co_return handled;
    }

    awaitable<bool> unauthorized_bounded(auth_challenge const& ch) {
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
            // The server refused a token we sent: renew it (or take another holder's); with
            // nothing to renew it with, it is dropped (under the lock, if still the record's).
            auto r = co_await refresh(sent, true);
            if (r && *r != refresh_outcome::need_authorization)
                co_return true;
            if (!r) {
                fail(r.error());
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

    // Checks the state against the record's pending one and consumes it, under the record's
    // lock: of two finish() with one state, exactly one gets the record (and exchanges the code).
    awaitable<result<json::object>> take_state(std::string const& state) {
        result<json::object> taken = error{errc::invalid_state, "state not checked"};
        std::function<awaitable<void>()> body = [this, &taken, &state]() -> awaitable<void> {
            auto rec = co_await read_record();
            if (!rec) {
                taken = rec.error();
                co_return;
            }
            auto expected = str(*rec, "oauthState");
            auto given = detail::sha256_hex(state);
            if (expected.size() != given.size() ||
                CRYPTO_memcmp(expected.data(), given.data(), given.size()) != 0) {
                taken = error{errc::invalid_state, "no pending authorization with this state"};
                co_return;
            }
            // Single use: the state goes before anything else can fail.
            json::object consumed;
            consumed["oauthState"] = nullptr;
            consumed["oauthStateExpiresAt"] = nullptr;
            consumed["oauthPending"] = nullptr;
            consumed["codeVerifier"] = nullptr; // this copy of the record keeps it
            auto gone = co_await update(std::move(consumed));
            if (!gone) {
                taken = gone.error();
                co_return;
            }
            taken = std::move(*rec);
        };
        std::string what = "callback";
        auto ran = co_await with_record_lock(std::move(body), what);
        if (!ran)
            co_return ran.error();
        co_return taken;
    }

    awaitable<result<void>> finish(std::string code, std::string state,
                                   std::optional<std::string> iss) {
        auto named = state_session_id(state);
        if (!named || *named != session_id)
            co_return fail(error{errc::invalid_state, "the state names another session"});
        auto rec = co_await take_state(state);
        if (!rec)
            co_return fail(rec.error());
        auto expires = int_field(*rec, "oauthStateExpiresAt");
        if (expires && *expires < now_ms())
            co_return fail(error{errc::invalid_state, "the authorization took too long"});
        auto verifier = str(*rec, "codeVerifier");
        if (verifier.empty())
            co_return fail(error{errc::invalid_record, "the record has no codeVerifier"});
        auto ctx = co_await token_context(*rec);
        if (!ctx)
            co_return fail(ctx.error());
        // RFC 9207: the iss must be the issuer we asked, and a server that says it sends one
        // must have sent it (the overload without iss cannot have it: refused then).
        auto const& md = ctx->first.metadata;
        auto issuer = str(md, "issuer");
        bool promised = md.contains("authorization_response_iss_parameter_supported") &&
                        md.at("authorization_response_iss_parameter_supported") == true;
        if (!iss && promised)
            co_return fail(error{errc::invalid_state,
                                 issuer + " sends iss in its callbacks: pass it to finish()"});
        if (iss && (iss->empty() ? promised : *iss != issuer))
            co_return fail(error{errc::invalid_state,
                                 iss->empty()
                                     ? "the callback has no iss though " + issuer + " sends one"
                                     : "the callback's iss " + *iss + " is not " + issuer});
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

asio::awaitable<result<std::optional<json::object>>> memory_oauth_record::read() {
    co_return std::optional<json::object>(record_);
}

asio::awaitable<result<void>> memory_oauth_record::update(json::object partial) {
    for (auto& [key, value] : partial) {
        if (value.is_null())
            record_.erase(key);
        else
            record_[key] = std::move(value);
    }
    co_return result<void>();
}

session_auth::session_auth(asio::any_io_executor ex, std::shared_ptr<oauth_record> record,
                           std::string identity, std::string session_id, session_auth_options opts)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(record), std::move(identity),
                                   std::move(session_id), std::move(opts))) {}

session_auth::~session_auth() = default;

awaitable<result<void>> session_auth::authorize(http::header_list& headers) {
    auto keep = impl_;
    co_return co_await keep->authorize(headers);
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
