// tests/integration/oauth_test.cpp — mcpd's OAuth client (client/oauth.hpp) against the official
// TypeScript SDK's OAuth demo (oauth_demo_server.mjs: the demo MCP server and its demo
// authorization server). The test plays the user: it opens the authorization URL, takes code and
// state from the redirect, and hands them to finish(). Then: a restart (a new session_auth on
// the same store) needs no new login on every persistent store backend, plain and encrypted;
// an expired token is refreshed exactly once, also by two instances at once on one Redis store
// with a Redis lock service; a pending login survives other requests, concurrent first
// requests register one client and concurrent callbacks exchange one code; refused refreshes
// (invalid_grant, invalid_client) start over; step-up keeps earlier scopes after a restart; bad
// states, plain-http, mis-issued and broken authorization servers end in clear errors.
#include "async_test.hpp"
#include "mcp_client_util.hpp"
#include "oauth_demo_server.hpp"
#include "redis_test_util.hpp"
#include "store_backends.hpp"

#include "http/client.hpp"
#include "mcpd/client/oauth.hpp"
#include "mcpd/client/session.hpp"
#include "mcpd/gateway/authorizer.hpp"
#include "mcpd/gateway/manager.hpp"
#include "mcpd/guard/lock.hpp"
#include "store/backends.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace mcpd;
using namespace mcpd::test;
using namespace std::chrono_literals;
namespace oauth = mcpd::client::oauth;

namespace {

constexpr char const* identity = "user@example.com";
constexpr char const* redirect_url = "http://127.0.0.1:9/oauth/callback";

oauth::session_auth_options auth_options(std::shared_ptr<guard::lock_service> locks = nullptr) {
    oauth::session_auth_options o;
    o.client.redirect_url = redirect_url;
    o.client.client_name = "mcpd-oauth-test";
    o.http.connect_timeout = 5s;
    o.http.response_timeout = 10s;
    if (locks)
        o.lock = gateway::guarded_oauth_lock(std::move(locks));
    return o;
}

asio::awaitable<result<void>> create_record(store::session_store& st, std::string sid,
                                            std::string server_url) {
    json::object rec;
    rec["identity"] = identity;
    rec["sessionId"] = sid;
    rec["serverId"] = "demo";
    rec["serverName"] = "OAuth demo";
    rec["serverUrl"] = server_url;
    rec["transportType"] = "streamable_http";
    rec["callbackUrl"] = redirect_url;
    rec["createdAt"] = 1732000000000;
    co_return co_await st.create_session(std::move(rec));
}

asio::awaitable<json::object> record_of(store::session_store& st, std::string sid) {
    auto rec = co_await st.get_session(identity, sid);
    if (!rec || !*rec)
        co_return json::object();
    co_return std::move(**rec);
}

std::string field(json::object const& o, std::string_view path) {
    boost::system::error_code ec;
    json::value whole = o;
    auto const* v = whole.find_pointer(path, ec);
    if (v == nullptr)
        return {};
    return v->is_string() ? std::string(v->get_string()) : json::serialize(*v);
}

// The user at the authorization URL: the demo logs them in at once and redirects to the
// callback with code and state, which is all we take from its Location.
struct callback {
    std::string code;
    std::string state;
    std::string scope_asked; // the authorization URL's scope parameter
};
asio::awaitable<result<callback>> user_authorizes(std::string authorization_url) {
    auto ex = co_await asio::this_coro::executor;
    http::client web(ex);
    auto to = http::parse_url(authorization_url);
    if (!to)
        co_return to.error();
    http::beast_request req{http::bhttp::verb::get, "/", 11};
    auto res = co_await web.fetch(*to, std::move(req));
    if (!res)
        co_return res.error();
    if (res->result_int() != 302)
        co_return error{http::status_error(res->result_int()), res->body()};
    callback cb;
    std::string location_text((*res)[http::bhttp::field::location]);
    auto location = boost::urls::parse_uri(location_text); // a view into location_text
    if (!location)
        co_return error{http::client_errc::invalid_url, "Location"};
    for (auto p : location->params()) {
        if (p.key == "code")
            cb.code = p.value;
        if (p.key == "state")
            cb.state = p.value;
    }
    auto asked = boost::urls::parse_uri(authorization_url);
    for (auto p : asked->params())
        if (p.key == "scope")
            cb.scope_asked = p.value;
    co_return cb;
}

// The demo's request counters (GET /test/counts).
asio::awaitable<json::object> counts(oauth_demo_server const& demo) {
    auto ex = co_await asio::this_coro::executor;
    http::client web(ex);
    auto to = http::parse_url(demo.base_url() + "/test/counts").value();
    http::beast_request req{http::bhttp::verb::get, "/", 11};
    auto res = co_await web.fetch(to, std::move(req));
    if (!res)
        co_return json::object();
    co_return json::parse(res->body()).as_object();
}
std::int64_t count(json::object const& c, char const* name) {
    auto const* v = c.if_contains(name);
    return v != nullptr && v->is_int64() ? v->as_int64() : -1;
}

asio::awaitable<void> post_hook(oauth_demo_server const& demo, std::string path) {
    auto ex = co_await asio::this_coro::executor;
    http::client web(ex);
    auto to = http::parse_url(demo.base_url() + path).value();
    http::beast_request req{http::bhttp::verb::post, "/", 11};
    auto res = co_await web.fetch(to, std::move(req));
    EXPECT_TRUE(res && res->result_int() == 200) << path;
}

asio::awaitable<result<client::session>> connect(oauth_demo_server const& demo,
                                                 std::shared_ptr<oauth::session_auth> auth) {
    auto opts = client_test_options("mcpd-oauth-test");
    opts.transport = client::transport_choice::streamable_http;
    opts.auth = std::move(auth);
    co_return co_await client::session::connect(demo.mcp_url(), std::move(opts));
}

asio::awaitable<std::string> greet(client::session& s) {
    json::object args;
    args["name"] = "mcpd";
    auto r = co_await s.call_tool("greet", std::move(args));
    co_return r ? text_of(*r) : "error: " + r.error().message();
}

// The whole first login: connect (401), the user authorizes, finish(), connect again.
asio::awaitable<bool> log_in(oauth_demo_server const& demo,
                             std::shared_ptr<oauth::session_auth> auth) {
    auto first = co_await connect(demo, auth);
    EXPECT_FALSE(first);
    if (first)
        co_return false;
    EXPECT_EQ(http::status_of(first.error()), 401U) << first.error().message();
    EXPECT_TRUE(auth->authorization_url());
    if (!auth->authorization_url())
        co_return false;
    EXPECT_TRUE(auth->last_error() && *auth->last_error() == oauth::errc::authorization_required);
    auto cb = co_await user_authorizes(*auth->authorization_url());
    EXPECT_TRUE(cb) << cb.error().message();
    if (!cb)
        co_return false;
    auto done = co_await auth->finish(cb->code, cb->state);
    EXPECT_TRUE(done) << done.error().message();
    co_return done.has_value();
}

asio::awaitable<result<void>> update_record(store::session_store& st, std::string sid,
                                            json::object partial) {
    co_return co_await st.update_session(identity, std::move(sid), std::move(partial));
}

// Rewrites the stored expiry into the past (keeping the rest of the tokens).
asio::awaitable<void> expire_tokens(store::session_store& st, std::string sid) {
    auto rec = co_await record_of(st, sid);
    auto tokens = rec["tokens"].as_object();
    tokens["expires_at"] = 1000;
    json::object partial;
    partial["tokens"] = std::move(tokens);
    auto updated = co_await st.update_session(identity, sid, std::move(partial));
    EXPECT_TRUE(updated) << updated.error().message();
}

// --- every persistent store backend ---------------------------------------------------------

class oauth_store_suite : public ::testing::TestWithParam<backend_kind> {};

TEST_P(oauth_store_suite, LoginRestartAndOneRefresh) {
    oauth_demo_server demo({});
    run_async(
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            auto b = co_await GetParam().make(ex);
            std::shared_ptr<store::session_store> st = std::move(b.store);
            auto created = co_await create_record(*st, "s1", demo.mcp_url());
            CO_ASSERT(created);

            auto auth = std::make_shared<oauth::session_auth>(
                ex, gateway::stored_oauth_record(st, identity, "s1"), identity, "s1",
                auth_options());
            bool logged_in = co_await log_in(demo, auth);
            CO_ASSERT(logged_in);
            auto after_login = co_await record_of(*st, "s1");
            EXPECT_FALSE(field(after_login, "/tokens/access_token").empty());
            EXPECT_FALSE(field(after_login, "/tokens/refresh_token").empty());
            auto expires_at = std::stoll(field(after_login, "/tokens/expires_at"));
            auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
            EXPECT_GT(expires_at, now + 3000 * 1000);
            EXPECT_FALSE(after_login.contains("codeVerifier"));
            EXPECT_FALSE(after_login.contains("oauthState"));
            EXPECT_FALSE(field(after_login, "/clientInformation/client_id").empty());
            EXPECT_EQ(field(after_login, "/clientId"),
                      field(after_login, "/clientInformation/client_id"));

            {
                auto s = co_await connect(demo, auth);
                CO_ASSERT(s);
                auto tools = co_await s->list(client::listing_kind::tools);
                CO_ASSERT(tools);
                EXPECT_EQ(tools->size(), 3U);
                {
                    auto text = co_await greet(*s);
                    EXPECT_EQ(text, "Hello, mcpd!");
                }
                co_await s->close();
            }

            // A restart: a new object on the same store, no login.
            auto restarted = std::make_shared<oauth::session_auth>(
                ex, gateway::stored_oauth_record(st, identity, "s1"), identity, "s1",
                auth_options());
            {
                auto s = co_await connect(demo, restarted);
                CO_ASSERT(s);
                {
                    auto text = co_await greet(*s);
                    EXPECT_EQ(text, "Hello, mcpd!");
                }
                co_await s->close();
            }
            EXPECT_FALSE(restarted->authorization_url());

            // Expired: exactly one refresh, then the new tokens are stored.
            co_await expire_tokens(*st, "s1");
            auto after_expiry = std::make_shared<oauth::session_auth>(
                ex, gateway::stored_oauth_record(st, identity, "s1"), identity, "s1",
                auth_options());
            {
                auto s = co_await connect(demo, after_expiry);
                CO_ASSERT(s);
                {
                    auto text = co_await greet(*s);
                    EXPECT_EQ(text, "Hello, mcpd!");
                }
                {
                    auto text = co_await greet(*s);
                    EXPECT_EQ(text, "Hello, mcpd!");
                }
                co_await s->close();
            }
            auto c = co_await counts(demo);
            EXPECT_EQ(count(c, "register"), 1);
            EXPECT_EQ(count(c, "code"), 1);
            EXPECT_EQ(count(c, "refresh"), 1);
            auto refreshed = co_await record_of(*st, "s1");
            EXPECT_NE(field(refreshed, "/tokens/access_token"),
                      field(after_login, "/tokens/access_token"));
            EXPECT_GT(std::stoll(field(refreshed, "/tokens/expires_at")), now);
            co_await st->close();
        },
        120s);
}

INSTANTIATE_TEST_SUITE_P(backends, oauth_store_suite, ::testing::ValuesIn(persistent_backends()),
                         [](auto const& param_info) { return param_info.param.name; });

// --- refresh: one at a time -----------------------------------------------------------------

// Two session_auth objects ask for a header at the same moment, both seeing an expired token.
asio::awaitable<void> refresh_twice_at_once(std::shared_ptr<oauth::session_auth> a,
                                            std::shared_ptr<oauth::session_auth> b,
                                            std::string& header_a, std::string& header_b) {
    auto ex = co_await asio::this_coro::executor;
    int done = 0;
    auto one = [&done](std::shared_ptr<oauth::session_auth> auth,
                       std::string& header) -> asio::awaitable<void> {
        http::header_list headers;
        auto r = co_await auth->authorize(headers);
        EXPECT_TRUE(r) << r.error().message();
        header = std::string(headers["Authorization"]);
        ++done;
    };
    asio::co_spawn(ex, one(a, header_a), asio::detached);
    asio::co_spawn(ex, one(b, header_b), asio::detached);
    bool finished = co_await eventually([&] { return done == 2; }, 30s);
    EXPECT_TRUE(finished);
}

TEST(oauth, TwoInstancesOnRedisRefreshOnce) {
    oauth_demo_server demo({});
    redis_server redis;
    run_async(
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            // Two "processes": each its own store client, Redis client and lock service.
            auto st_a = std::make_shared<store::redis_store>(ex, test_config(redis));
            auto st_b = std::make_shared<store::redis_store>(ex, test_config(redis));
            auto redis_a = std::make_shared<redis::client>(ex, test_config(redis));
            auto redis_b = std::make_shared<redis::client>(ex, test_config(redis));
            guard::counters metrics_a, metrics_b;
            auto locks_a = std::make_shared<guard::lock_service>(
                std::make_shared<guard::redis_lock_backend>(redis_a), metrics_a);
            auto locks_b = std::make_shared<guard::lock_service>(
                std::make_shared<guard::redis_lock_backend>(redis_b), metrics_b);
            auto created = co_await create_record(*st_a, "s2", demo.mcp_url());
            CO_ASSERT(created);
            auto first = std::make_shared<oauth::session_auth>(
                ex, gateway::stored_oauth_record(st_a, identity, "s2"), identity, "s2",
                auth_options(locks_a));
            bool logged_in = co_await log_in(demo, first);
            CO_ASSERT(logged_in);
            co_await expire_tokens(*st_a, "s2");

            auto a = std::make_shared<oauth::session_auth>(
                ex, gateway::stored_oauth_record(st_a, identity, "s2"), identity, "s2",
                auth_options(locks_a));
            auto b = std::make_shared<oauth::session_auth>(
                ex, gateway::stored_oauth_record(st_b, identity, "s2"), identity, "s2",
                auth_options(locks_b));
            std::string header_a, header_b;
            co_await refresh_twice_at_once(a, b, header_a, header_b);
            auto rec = co_await record_of(*st_b, "s2");
            EXPECT_EQ(header_a, "Bearer " + field(rec, "/tokens/access_token"));
            EXPECT_EQ(header_b, header_a);
            auto c = co_await counts(demo);
            EXPECT_EQ(count(c, "refresh"), 1);
            EXPECT_GE(metrics_a.snapshot()[guard::event::lock_acquired] +
                          metrics_b.snapshot()[guard::event::lock_acquired],
                      2U);
            std::vector<std::shared_ptr<oauth::session_auth>> both{a, b};
            for (auto const& auth : both) {
                auto s = co_await connect(demo, auth);
                CO_ASSERT(s);
                {
                    auto text = co_await greet(*s);
                    EXPECT_EQ(text, "Hello, mcpd!");
                }
                co_await s->close();
            }
            auto after = co_await counts(demo);
            EXPECT_EQ(count(after, "refresh"), 1);
            co_await st_a->close();
            co_await st_b->close();
            co_await redis_a->quit();
            co_await redis_b->quit();
        },
        120s);
}

TEST(oauth, TwoObjectsInOneProcessRefreshOnce) {
    oauth_demo_server demo({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto st = std::make_shared<store::memory_store>();
        auto created = co_await create_record(*st, "s3", demo.mcp_url());
        CO_ASSERT(created);
        auto first = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s3"), identity, "s3", auth_options());
        bool logged_in = co_await log_in(demo, first);
        CO_ASSERT(logged_in);
        co_await expire_tokens(*st, "s3");
        // One object's two requests, and a second object, all at once.
        auto a = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s3"), identity, "s3", auth_options());
        auto b = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s3"), identity, "s3", auth_options());
        std::string h1, h2, h3, h4;
        co_await refresh_twice_at_once(a, a, h1, h2);
        auto c = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s3"), identity, "s3", auth_options());
        co_await refresh_twice_at_once(b, c, h3, h4);
        EXPECT_FALSE(h1.empty());
        EXPECT_EQ(h2, h1);
        EXPECT_EQ(h3, h1);
        EXPECT_EQ(h4, h1);
        auto seen = co_await counts(demo);
        EXPECT_EQ(count(seen, "refresh"), 1);
    });
}

// --- the server refuses a token or a refresh ------------------------------------------------

TEST(oauth, RefreshOn401OfASentToken) {
    oauth_demo_server demo({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto st = std::make_shared<store::memory_store>();
        auto created = co_await create_record(*st, "s4", demo.mcp_url());
        CO_ASSERT(created);
        auto auth = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s4"), identity, "s4", auth_options());
        bool logged_in = co_await log_in(demo, auth);
        CO_ASSERT(logged_in);
        co_await post_hook(demo, "/test/expire"); // the server forgets every access token
        auto s = co_await connect(demo, auth);
        if (!s)
            ADD_FAILURE() << s.error().message() << " / "
                          << (auth->last_error() ? auth->last_error()->message() : "");
        CO_ASSERT(s);
        {
            auto text = co_await greet(*s);
            EXPECT_EQ(text, "Hello, mcpd!");
        }
        co_await s->close();
        auto c = co_await counts(demo);
        EXPECT_EQ(count(c, "refresh"), 1);
    });
}

TEST(oauth, InvalidGrantStartsOver) {
    oauth_demo_server demo({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto st = std::make_shared<store::memory_store>();
        auto created = co_await create_record(*st, "s5", demo.mcp_url());
        CO_ASSERT(created);
        auto auth = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s5"), identity, "s5", auth_options());
        bool logged_in = co_await log_in(demo, auth);
        CO_ASSERT(logged_in);
        co_await expire_tokens(*st, "s5");
        co_await post_hook(demo, "/test/revoke"); // every refresh token is now invalid_grant
        // A restarted instance (this one's cache would still send the old, unexpired token).
        auth = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s5"), identity, "s5", auth_options());
        auto again = co_await connect(demo, auth);
        CO_ASSERT(!again);
        EXPECT_EQ(http::status_of(again.error()), 401U) << again.error().message();
        CO_ASSERT(auth->authorization_url());
        auto dropped = co_await record_of(*st, "s5");
        EXPECT_FALSE(dropped.contains("tokens"));
        // The new login works, with the client registered the first time.
        auto cb = co_await user_authorizes(*auth->authorization_url());
        CO_ASSERT(cb);
        auto done = co_await auth->finish(cb->code, cb->state);
        CO_ASSERT(done);
        auto s = co_await connect(demo, auth);
        CO_ASSERT(s);
        {
            auto text = co_await greet(*s);
            EXPECT_EQ(text, "Hello, mcpd!");
        }
        co_await s->close();
        auto c = co_await counts(demo);
        EXPECT_EQ(count(c, "register"), 1);
        EXPECT_EQ(count(c, "code"), 2);
    });
}

TEST(oauth, NewCallbackUrlRegistersAgain) {
    oauth_demo_server demo({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto st = std::make_shared<store::memory_store>();
        auto created = co_await create_record(*st, "s14", demo.mcp_url());
        CO_ASSERT(created);
        auto auth = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s14"), identity, "s14", auth_options());
        bool logged_in = co_await log_in(demo, auth);
        CO_ASSERT(logged_in);
        auto before = co_await record_of(*st, "s14");
        auto first_client = field(before, "/clientId");
        co_await post_hook(demo, "/test/expire");
        co_await post_hook(demo, "/test/revoke");
        auto moved = auth_options();
        moved.client.redirect_url = "http://127.0.0.1:9/elsewhere";
        auto again = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s14"), identity, "s14", moved);
        auto refused = co_await connect(demo, again);
        CO_ASSERT(!refused);
        if (!again->authorization_url())
            ADD_FAILURE() << refused.error().message() << " / "
                          << (again->last_error() ? again->last_error()->message() : "");
        CO_ASSERT(again->authorization_url());
        auto cb = co_await user_authorizes(*again->authorization_url()); // the AS takes it
        CO_ASSERT(cb);
        auto done = co_await again->finish(cb->code, cb->state);
        CO_ASSERT(done);
        auto after = co_await record_of(*st, "s14");
        auto second_client = field(after, "/clientId");
        EXPECT_NE(second_client, first_client);
        auto c = co_await counts(demo);
        EXPECT_EQ(count(c, "register"), 2);
    });
}

TEST(oauth, StepUpAsksForTheUnionOfScopes) {
    oauth_demo_server demo({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto st = std::make_shared<store::memory_store>();
        auto created = co_await create_record(*st, "s6", demo.mcp_url());
        CO_ASSERT(created);
        auto auth = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s6"), identity, "s6", auth_options());
        bool logged_in = co_await log_in(demo, auth);
        CO_ASSERT(logged_in);
        auto s = co_await connect(demo, auth);
        CO_ASSERT(s);
        auto refused = co_await s->call_tool("admin_only");
        CO_ASSERT(!refused);
        EXPECT_EQ(http::status_of(refused.error()), 403U) << refused.error().message();
        CO_ASSERT(auth->authorization_url());
        auto cb = co_await user_authorizes(*auth->authorization_url());
        CO_ASSERT(cb);
        EXPECT_EQ(cb->scope_asked, "mcp:tools mcp:admin");
        auto done = co_await auth->finish(cb->code, cb->state);
        CO_ASSERT(done);
        co_await s->close();
        auto s2 = co_await connect(demo, auth);
        CO_ASSERT(s2);
        auto ok = co_await s2->call_tool("admin_only");
        CO_ASSERT(ok);
        EXPECT_EQ(text_of(*ok), "admin ok");
        co_await s2->close();
    });
}

// --- the state -------------------------------------------------------------------------------

TEST(oauth, StateIsBoundAndSingleUse) {
    oauth_demo_server demo({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto st = std::make_shared<store::memory_store>();
        auto created7 = co_await create_record(*st, "s7", demo.mcp_url());
        CO_ASSERT(created7);
        auto created8 = co_await create_record(*st, "s8", demo.mcp_url());
        CO_ASSERT(created8);
        auto auth = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s7"), identity, "s7", auth_options());
        auto other = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s8"), identity, "s8", auth_options());
        auto first = co_await connect(demo, auth);
        CO_ASSERT(!first);
        CO_ASSERT(auth->authorization_url());
        auto cb = co_await user_authorizes(*auth->authorization_url());
        CO_ASSERT(cb);
        EXPECT_EQ(oauth::state_session_id(cb->state), "s7");

        // Another session's callback object, a tampered nonce: refused, nothing consumed.
        auto wrong_session = co_await other->finish(cb->code, cb->state);
        CO_ASSERT(!wrong_session);
        EXPECT_EQ(wrong_session.error(), oauth::errc::invalid_state);
        auto tampered = cb->state;
        tampered.back() = tampered.back() == '0' ? '1' : '0';
        auto mismatch = co_await auth->finish(cb->code, tampered);
        CO_ASSERT(!mismatch);
        EXPECT_EQ(mismatch.error(), oauth::errc::invalid_state);
        EXPECT_TRUE(auth->last_error() && *auth->last_error() == oauth::errc::invalid_state);
        auto pending = co_await record_of(*st, "s7");
        EXPECT_TRUE(pending.contains("oauthState"));

        auto done = co_await auth->finish(cb->code, cb->state);
        CO_ASSERT(done);
        auto reused = co_await auth->finish(cb->code, cb->state);
        CO_ASSERT(!reused);
        EXPECT_EQ(reused.error(), oauth::errc::invalid_state);
        auto c = co_await counts(demo);
        EXPECT_EQ(count(c, "code"), 1);
    });
}

// --- broken authorization servers ------------------------------------------------------------

asio::awaitable<error> failed_login(oauth_demo_server const& demo, std::string sid) {
    auto ex = co_await asio::this_coro::executor;
    auto st = std::make_shared<store::memory_store>();
    auto created = co_await create_record(*st, sid, demo.mcp_url());
    EXPECT_TRUE(created);
    auto auth = std::make_shared<oauth::session_auth>(
        ex, gateway::stored_oauth_record(st, identity, sid), identity, sid, auth_options());
    auto s = co_await connect(demo, auth);
    EXPECT_FALSE(s);
    if (s)
        co_return error{};
    EXPECT_EQ(http::status_of(s.error()), 401U);
    EXPECT_FALSE(auth->authorization_url());
    EXPECT_TRUE(auth->last_error());
    co_return auth->last_error().value_or(error{});
}

TEST(oauth, AuthorizationServerWithoutS256IsRefused) {
    oauth_demo_server demo({.no_s256 = true});
    run_async([&]() -> asio::awaitable<void> {
        auto e = co_await failed_login(demo, "s9");
        EXPECT_EQ(e, oauth::errc::pkce_unsupported) << e.message();
        EXPECT_NE(e.message().find("S256"), std::string::npos) << e.message();
    });
}

TEST(oauth, RegistrationFailureIsClear) {
    oauth_demo_server demo({.dcr_fails = true});
    run_async([&]() -> asio::awaitable<void> {
        auto e = co_await failed_login(demo, "s10");
        EXPECT_EQ(e, oauth::errc::registration_failed) << e.message();
        EXPECT_NE(e.message().find("registration is closed in this test"), std::string::npos)
            << e.message();
    });
}

TEST(oauth, UnreachableAuthorizationServerIsClear) {
    oauth_demo_server demo({.unreachable_as = true});
    run_async([&]() -> asio::awaitable<void> {
        auto e = co_await failed_login(demo, "s11");
        EXPECT_EQ(e, oauth::errc::discovery_failed) << e.message();
        EXPECT_NE(e.message().find("127.0.0.1:1"), std::string::npos) << e.message();
    });
}

TEST(oauth, HangingTokenEndpointTimesOut) {
    oauth_demo_server demo({.token_hangs = true});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto st = std::make_shared<store::memory_store>();
        auto created = co_await create_record(*st, "s12", demo.mcp_url());
        CO_ASSERT(created);
        auto opts = auth_options();
        opts.http.response_timeout = 1s;
        auto auth = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s12"), identity, "s12", opts);
        auto first = co_await connect(demo, auth);
        CO_ASSERT(!first);
        CO_ASSERT(auth->authorization_url());
        auto cb = co_await user_authorizes(*auth->authorization_url());
        CO_ASSERT(cb);
        auto done = co_await auth->finish(cb->code, cb->state);
        CO_ASSERT(!done);
        EXPECT_NE(done.error().message().find("code exchange at"), std::string::npos)
            << done.error().message();
        EXPECT_TRUE(auth->last_error());
        auto rec = co_await record_of(*st, "s12");
        EXPECT_FALSE(rec.contains("tokens"));
        EXPECT_FALSE(rec.contains("oauthState")); // used up: a new login starts over
    });
}

// --- a pending login, one client, one exchange -----------------------------------------------

TEST(oauth, PendingLoginSurvivesOtherRequests) {
    oauth_demo_server demo({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto st = std::make_shared<store::memory_store>();
        auto created = co_await create_record(*st, "s20", demo.mcp_url());
        CO_ASSERT(created);
        auto auth = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s20"), identity, "s20", auth_options());
        auto first = co_await connect(demo, auth);
        CO_ASSERT(!first);
        CO_ASSERT(auth->authorization_url());
        auto url1 = *auth->authorization_url();
        // While the user is at url1: another request of this session, and a restarted instance.
        auto second = co_await connect(demo, auth);
        CO_ASSERT(!second);
        CO_ASSERT(auth->authorization_url());
        EXPECT_EQ(*auth->authorization_url(), url1);
        auto restarted = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s20"), identity, "s20", auth_options());
        auto third = co_await connect(demo, restarted);
        CO_ASSERT(!third);
        CO_ASSERT(restarted->authorization_url());
        EXPECT_EQ(*restarted->authorization_url(), url1);
        auto cb = co_await user_authorizes(url1);
        CO_ASSERT(cb);
        auto done = co_await auth->finish(cb->code, cb->state);
        EXPECT_TRUE(done) << done.error().message();
        auto rec = co_await record_of(*st, "s20");
        EXPECT_FALSE(rec.contains("oauthPending"));
        // Only the metadata fields we use are stored (the demo's also has introspection).
        EXPECT_EQ(field(rec, "/oauthDiscovery/authorizationServerMetadata/introspection_endpoint"),
                  "");
        EXPECT_NE(field(rec, "/oauthDiscovery/authorizationServerMetadata/token_endpoint"), "");
        auto c = co_await counts(demo);
        EXPECT_EQ(count(c, "register"), 1);
    });
}

// Two gateway managers on one store (two instances, or two event loops of one process), each step
// of a login through either: connect, connect again (resumes the pending login), finish, a call.
// Whichever held the pending login's entry, the call uses the tokens the finish stored (an entry
// that is not open is made again from the record, not reused with its pending authorizer).
TEST(oauth, ALoginFinishedThroughOneManagerServesTheOther) {
    oauth_demo_server demo({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto st = std::make_shared<store::memory_store>();
        auto manager_options = [&] {
            gateway::manager_options o;
            o.client = client_test_options("mcpd-oauth-test");
            o.allow_private_servers = true;
            o.oauth = gateway::oauth_authorizers(ex, st, {});
            return o;
        };
        gateway::manager a(ex, st, manager_options(), {});
        gateway::manager b(ex, st, manager_options(), {});
        gateway::connect_params p;
        p.server_name = "protected";
        p.server_url = demo.mcp_url();
        p.callback_url = "http://127.0.0.1:9/oauth/callback";
        // Bit i of `route`: step i through B, else A.
        for (unsigned route = 0; route < 16; ++route) {
            auto through = [&](unsigned step) -> gateway::manager& {
                return (route >> step & 1U) != 0 ? b : a;
            };
            auto const who = "user-" + std::to_string(route);
            SCOPED_TRACE(who);
            auto pending = co_await through(0).connect(who, p);
            CO_ASSERT(pending.has_value());
            std::string sid(pending->at("sessionId").as_string());
            auto again = co_await through(1).connect(who, p);
            CO_ASSERT(again.has_value());
            EXPECT_EQ(again->at("sessionId").as_string(), sid) << json::serialize(*again);
            CO_ASSERT(again->contains("authUrl"));
            auto cb = co_await user_authorizes(std::string(again->at("authUrl").as_string()));
            CO_ASSERT(cb);
            auto done = co_await through(2).finish_auth(who, cb->state, cb->code);
            CO_ASSERT(done.has_value());
            EXPECT_EQ(done->at("success").as_bool(), true) << json::serialize(*done);
            json::object args;
            args["name"] = who;
            auto called = co_await through(3).call_tool(who, sid, "greet", args);
            EXPECT_TRUE(called.has_value()) << called.error().message();
            if (called) {
                EXPECT_NE(text_of(*called).find(who), std::string::npos)
                    << json::serialize(*called);
            }
        }
        co_await a.close();
        co_await b.close();
    });
}

TEST(oauth, ConcurrentFirstRequestsRegisterOnce) {
    oauth_demo_server demo({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto st = std::make_shared<store::memory_store>();
        auto created = co_await create_record(*st, "s21", demo.mcp_url());
        CO_ASSERT(created);
        auto a = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s21"), identity, "s21", auth_options());
        auto b = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s21"), identity, "s21", auth_options());
        int done = 0;
        auto one = [&](std::shared_ptr<oauth::session_auth> auth) -> asio::awaitable<void> {
            auto s = co_await connect(demo, auth);
            EXPECT_FALSE(s);
            ++done;
        };
        asio::co_spawn(ex, one(a), asio::detached);
        asio::co_spawn(ex, one(b), asio::detached);
        bool finished = co_await eventually([&] { return done == 2; }, 30s);
        CO_ASSERT(finished);
        CO_ASSERT(a->authorization_url());
        CO_ASSERT(b->authorization_url());
        EXPECT_EQ(*a->authorization_url(), *b->authorization_url());
        auto c = co_await counts(demo);
        EXPECT_EQ(count(c, "register"), 1);
        auto cb = co_await user_authorizes(*b->authorization_url());
        CO_ASSERT(cb);
        auto ok = co_await a->finish(cb->code, cb->state);
        EXPECT_TRUE(ok) << ok.error().message();
    });
}

TEST(oauth, ConcurrentFinishExchangesOnce) {
    oauth_demo_server demo({});
    redis_server redis;
    run_async(
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            // Two "processes" on one Redis store and lock service.
            auto st_a = std::make_shared<store::redis_store>(ex, test_config(redis));
            auto st_b = std::make_shared<store::redis_store>(ex, test_config(redis));
            auto redis_a = std::make_shared<redis::client>(ex, test_config(redis));
            auto redis_b = std::make_shared<redis::client>(ex, test_config(redis));
            guard::counters metrics_a, metrics_b;
            auto locks_a = std::make_shared<guard::lock_service>(
                std::make_shared<guard::redis_lock_backend>(redis_a), metrics_a);
            auto locks_b = std::make_shared<guard::lock_service>(
                std::make_shared<guard::redis_lock_backend>(redis_b), metrics_b);
            auto created = co_await create_record(*st_a, "s22", demo.mcp_url());
            CO_ASSERT(created);
            auto a = std::make_shared<oauth::session_auth>(
                ex, gateway::stored_oauth_record(st_a, identity, "s22"), identity, "s22",
                auth_options(locks_a));
            auto b = std::make_shared<oauth::session_auth>(
                ex, gateway::stored_oauth_record(st_b, identity, "s22"), identity, "s22",
                auth_options(locks_b));
            auto first = co_await connect(demo, a);
            CO_ASSERT(!first);
            CO_ASSERT(a->authorization_url());
            auto cb = co_await user_authorizes(*a->authorization_url());
            CO_ASSERT(cb);
            auto before = co_await counts(demo);
            int done = 0, succeeded = 0;
            auto one = [&](std::shared_ptr<oauth::session_auth> auth) -> asio::awaitable<void> {
                auto r = co_await auth->finish(cb->code, cb->state);
                if (r)
                    ++succeeded;
                else
                    EXPECT_EQ(r.error(), oauth::errc::invalid_state) << r.error().message();
                ++done;
            };
            asio::co_spawn(ex, one(a), asio::detached);
            asio::co_spawn(ex, one(b), asio::detached);
            bool finished = co_await eventually([&] { return done == 2; }, 30s);
            CO_ASSERT(finished);
            EXPECT_EQ(succeeded, 1);
            auto after = co_await counts(demo);
            EXPECT_EQ(count(after, "token") - count(before, "token"), 1);
            co_await st_a->close();
            co_await st_b->close();
            co_await redis_a->quit();
            co_await redis_b->quit();
        },
        120s);
}

// A 401 for a token that cannot be refreshed drops it only while the record still holds it.
TEST(oauth, RefusedTokenDropKeepsNewerTokens) {
    oauth_demo_server demo({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto st = std::make_shared<store::memory_store>();
        auto created = co_await create_record(*st, "s23", demo.mcp_url());
        CO_ASSERT(created);
        auto auth = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s23"), identity, "s23", auth_options());
        bool logged_in = co_await log_in(demo, auth);
        CO_ASSERT(logged_in);
        auto rec = co_await record_of(*st, "s23");
        auto old_token = field(rec, "/tokens/access_token");
        // Meanwhile another instance stored other tokens (due, with no refresh token).
        json::object newer;
        newer["access_token"] = "newer-token";
        newer["token_type"] = "Bearer";
        newer["expires_at"] = 1000;
        json::object partial;
        partial["tokens"] = std::move(newer);
        auto updated = co_await update_record(*st, "s23", std::move(partial));
        CO_ASSERT(updated);
        client::auth_challenge ch;
        ch.status = 401;
        ch.www_authenticate = "Bearer error=\"invalid_token\"";
        ch.url = http::parse_url(demo.mcp_url()).value();
        ch.method = "POST";
        ch.authorization = "Bearer " + old_token;
        auto retry = co_await auth->unauthorized(ch);
        EXPECT_FALSE(retry);
        auto after = co_await record_of(*st, "s23");
        EXPECT_EQ(field(after, "/tokens/access_token"), "newer-token");
    });
}

// --- refused refreshes and scopes -----------------------------------------------------------

TEST(oauth, InvalidClientOnRefreshStartsOver) {
    oauth_demo_server demo({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto st = std::make_shared<store::memory_store>();
        auto created = co_await create_record(*st, "s24", demo.mcp_url());
        CO_ASSERT(created);
        auto auth = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s24"), identity, "s24", auth_options());
        bool logged_in = co_await log_in(demo, auth);
        CO_ASSERT(logged_in);
        co_await expire_tokens(*st, "s24");
        co_await post_hook(demo, "/test/forget-clients"); // the refresh is now invalid_client
        auth = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s24"), identity, "s24", auth_options());
        auto again = co_await connect(demo, auth);
        CO_ASSERT(!again);
        EXPECT_EQ(http::status_of(again.error()), 401U) << again.error().message();
        if (!auth->authorization_url())
            ADD_FAILURE() << (auth->last_error() ? auth->last_error()->message() : "");
        CO_ASSERT(auth->authorization_url());
        auto rec = co_await record_of(*st, "s24");
        EXPECT_FALSE(rec.contains("tokens"));
        auto cb = co_await user_authorizes(*auth->authorization_url());
        CO_ASSERT(cb);
        auto done = co_await auth->finish(cb->code, cb->state);
        CO_ASSERT(done);
        auto s = co_await connect(demo, auth);
        CO_ASSERT(s);
        co_await s->close();
        auto c = co_await counts(demo);
        EXPECT_EQ(count(c, "register"), 2); // the forgotten client was registered again
    });
}

TEST(oauth, StepUpAfterRestartKeepsEarlierScopes) {
    oauth_demo_server demo({.scopeless = true});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto st = std::make_shared<store::memory_store>();
        auto created = co_await create_record(*st, "s25", demo.mcp_url());
        CO_ASSERT(created);
        auto auth = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s25"), identity, "s25", auth_options());
        bool logged_in = co_await log_in(demo, auth);
        CO_ASSERT(logged_in);
        auto restarted = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s25"), identity, "s25", auth_options());
        auto s = co_await connect(demo, restarted);
        CO_ASSERT(s);
        auto refused = co_await s->call_tool("admin_only");
        CO_ASSERT(!refused);
        CO_ASSERT(restarted->authorization_url());
        auto cb = co_await user_authorizes(*restarted->authorization_url());
        CO_ASSERT(cb);
        EXPECT_EQ(cb->scope_asked, "mcp:tools mcp:admin");
        co_await s->close();
    });
}

// --- what is sent where ----------------------------------------------------------------------

TEST(oauth, PlainHttpAuthorizationServerIsRefused) {
    oauth_demo_server demo({.insecure_as = true});
    run_async([&]() -> asio::awaitable<void> {
        auto e = co_await failed_login(demo, "s26");
        EXPECT_EQ(e, oauth::errc::discovery_failed) << e.message();
        EXPECT_NE(e.message().find("is not https"), std::string::npos) << e.message();
    });
}

TEST(oauth, PreRegisteredClientOnlyAtItsIssuer) {
    oauth_demo_server demo({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto st = std::make_shared<store::memory_store>();
        auto created = co_await create_record(*st, "s27", demo.mcp_url());
        CO_ASSERT(created);
        // Configured for another issuer than the one the resource names.
        auto opts = auth_options();
        opts.client.client_id = "pre-registered";
        opts.client.client_secret = "secret";
        opts.client.issuer = "https://as.example/";
        auto auth = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s27"), identity, "s27", opts);
        auto s = co_await connect(demo, auth);
        CO_ASSERT(!s);
        EXPECT_FALSE(auth->authorization_url());
        CO_ASSERT(auth->last_error());
        EXPECT_EQ(*auth->last_error(), oauth::errc::registration_failed);
        EXPECT_NE(auth->last_error()->message().find("https://as.example/"), std::string::npos)
            << auth->last_error()->message();
        // No issuer configured, a secret, and a record that used another server before.
        auto created2 = co_await create_record(*st, "s28", demo.mcp_url());
        CO_ASSERT(created2);
        json::object before;
        before["authorizationServerUrl"] = "https://earlier.example/";
        json::object partial;
        partial["oauthDiscovery"] = std::move(before);
        auto updated = co_await update_record(*st, "s28", std::move(partial));
        CO_ASSERT(updated);
        opts.client.issuer.clear();
        auto tofu = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s28"), identity, "s28", opts);
        auto s2 = co_await connect(demo, tofu);
        CO_ASSERT(!s2);
        EXPECT_FALSE(tofu->authorization_url());
        CO_ASSERT(tofu->last_error());
        EXPECT_NE(tofu->last_error()->message().find("https://earlier.example/"), std::string::npos)
            << tofu->last_error()->message();
        // The right issuer: the authorization starts with the pre-registered client.
        opts.client.issuer = demo.auth_url();
        auto right = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s27"), identity, "s27", opts);
        auto s3 = co_await connect(demo, right);
        CO_ASSERT(!s3);
        CO_ASSERT(right->authorization_url());
        EXPECT_NE(right->authorization_url()->find("client_id=pre-registered"), std::string::npos);
    });
}

TEST(oauth, FinishWithoutIssIsRefusedWhenTheServerSendsIt) {
    oauth_demo_server demo({.iss_supported = true});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto st = std::make_shared<store::memory_store>();
        auto created = co_await create_record(*st, "s29", demo.mcp_url());
        CO_ASSERT(created);
        auto auth = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s29"), identity, "s29", auth_options());
        auto first = co_await connect(demo, auth);
        CO_ASSERT(!first);
        CO_ASSERT(auth->authorization_url());
        auto cb = co_await user_authorizes(*auth->authorization_url());
        CO_ASSERT(cb);
        auto done = co_await auth->finish(cb->code, cb->state);
        CO_ASSERT(!done);
        EXPECT_EQ(done.error(), oauth::errc::invalid_state);
        EXPECT_NE(done.error().message().find("iss"), std::string::npos) << done.error().message();
        auto c = co_await counts(demo);
        EXPECT_EQ(count(c, "token"), 0);
    });
}

TEST(oauth, MetadataWithoutIssuerIsRefused) {
    oauth_demo_server demo({.no_issuer = true});
    run_async([&]() -> asio::awaitable<void> {
        auto e = co_await failed_login(demo, "s30");
        EXPECT_EQ(e, oauth::errc::discovery_failed) << e.message();
        EXPECT_NE(e.message().find("names no issuer"), std::string::npos) << e.message();
    });
}

TEST(oauth, ResourceMetadataWithoutResourceIsRefused) {
    oauth_demo_server demo({.prm_no_resource = true});
    run_async([&]() -> asio::awaitable<void> {
        auto e = co_await failed_login(demo, "s31");
        EXPECT_EQ(e, oauth::errc::discovery_failed) << e.message();
        EXPECT_NE(e.message().find("names no resource"), std::string::npos) << e.message();
    });
}

TEST(oauth, OversizedMetadataIsRefused) {
    oauth_demo_server demo({.huge_metadata = true});
    run_async([&]() -> asio::awaitable<void> {
        auto e = co_await failed_login(demo, "s32");
        EXPECT_EQ(e, oauth::errc::discovery_failed) << e.message();
    });
}

// A 2025-03-26 server (no resource metadata): the metadata on its origin must name an issuer
// on that origin.
TEST(oauth, LegacyMetadataForAnotherOriginIsRefused) {
    oauth_demo_server demo({.no_prm = true});
    run_async([&]() -> asio::awaitable<void> {
        auto e = co_await failed_login(demo, "s34");
        EXPECT_EQ(e, oauth::errc::discovery_failed) << e.message();
        EXPECT_NE(e.message().find("names issuer " + demo.auth_url()), std::string::npos)
            << e.message();
    });
}

// The request's whole 401 handling is bounded, whatever the HTTP timeouts allow.
TEST(oauth, ChallengeHandlingIsBounded) {
    oauth_demo_server demo({.metadata_hangs = true});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto st = std::make_shared<store::memory_store>();
        auto created = co_await create_record(*st, "s33", demo.mcp_url());
        CO_ASSERT(created);
        auto opts = auth_options();
        opts.http.response_timeout = 300s; // longer than run_async's limit
        opts.challenge_budget = 1s;
        auto auth = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s33"), identity, "s33", opts);
        auto s = co_await connect(demo, auth);
        CO_ASSERT(!s);
        EXPECT_FALSE(auth->authorization_url());
        CO_ASSERT(auth->last_error());
        EXPECT_EQ(*auth->last_error(), oauth::errc::discovery_failed)
            << auth->last_error()->message();
    });
}

// --- secrets at rest -------------------------------------------------------------------------

TEST(oauth, TokensAndClientSealedAtRest) {
    oauth_demo_server demo({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto plain = std::make_unique<store::memory_store>();
        auto* raw = plain.get(); // owned by the encrypting store below
        auto box = store::secret_box::from_key_text(std::string(64, 'b')).value();
        std::shared_ptr<store::session_store> st =
            std::make_shared<store::encrypting_store>(std::move(plain), box);
        auto created = co_await create_record(*st, "s13", demo.mcp_url());
        CO_ASSERT(created);
        auto auth = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s13"), identity, "s13", auth_options());
        bool logged_in = co_await log_in(demo, auth);
        CO_ASSERT(logged_in);
        auto opened = co_await record_of(*st, "s13");
        auto token = field(opened, "/tokens/access_token");
        auto client_id = field(opened, "/clientInformation/client_id");
        CO_ASSERT(!token.empty());
        CO_ASSERT(!client_id.empty());
        auto at_rest = co_await record_of(*raw, "s13");
        EXPECT_EQ(field(at_rest, "/tokens").rfind("enc:1:", 0), 0U);
        EXPECT_EQ(field(at_rest, "/clientInformation").rfind("enc:1:", 0), 0U);
        auto text = json::serialize(at_rest);
        EXPECT_EQ(text.find(token), std::string::npos);
        EXPECT_EQ(text.find(field(opened, "/tokens/refresh_token")), std::string::npos);
        // And the sealed record still works after a restart.
        auto restarted = std::make_shared<oauth::session_auth>(
            ex, gateway::stored_oauth_record(st, identity, "s13"), identity, "s13", auth_options());
        auto s = co_await connect(demo, restarted);
        CO_ASSERT(s);
        auto text_back = co_await greet(*s);
        EXPECT_EQ(text_back, "Hello, mcpd!");
        co_await s->close();
    });
}

} // namespace
