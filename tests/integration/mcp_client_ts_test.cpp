// tests/integration/mcp_client_ts_test.cpp — the MCP client (src/client/) against a server no
// one here wrote: the official TypeScript SDK's StreamableHTTPServerTransport and
// SSEServerTransport (ts_mcp_server.mjs), over Streamable HTTP (SSE and JSON answers), HTTP+SSE
// chosen explicitly, and HTTP+SSE reached by the fallback (that server answers POST /sse with
// 404). Also: resuming a cut stream from the SDK's event store, and HTTPS with certificate
// verification and SNI.
#include "async_test.hpp"
#include "mcp_client_util.hpp"
#include "tcp_proxy.hpp"
#include "ts_mcp_server.hpp"

#include "http/client.hpp"
#include "mcpd/client/session.hpp"

#include <boost/beast/http/field.hpp>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using mcpd::test::run_async;
using mcpd::test::sleep_for;
using mcpd::test::tcp_proxy;
using mcpd::test::ts_mcp_server;
namespace client = mcpd::client;
using client::errc;

client::session_options base_options() {
    return mcpd::test::client_test_options("mcpd-client-ts-test");
}
using mcpd::test::eventually;
using mcpd::test::text_of;

// Polls the server's count of cancelled `slow` calls until it reaches `want`.
asio::awaitable<bool> cancellations_reach(client::session& s, std::string want) {
    for (int i = 0; i < 200; ++i) {
        auto r = co_await s.call_tool("cancellations");
        if (r && text_of(*r) == want)
            co_return true;
        co_await sleep_for(25ms);
    }
    co_return false;
}

struct wire {
    char const* name;
    bool json_response;
    char const* path;
    client::transport_choice choice;
    client::transport_kind expected;
    // gtest prints a parameter in test listings; the name says it all, the bytes say nothing.
    friend void PrintTo(wire const& w, std::ostream* os) { *os << w.name; }
};

class ts_sdk_server : public ::testing::TestWithParam<wire> {};

TEST_P(ts_sdk_server, every_protocol_item) {
    ts_mcp_server server({.json_response = GetParam().json_response});
    run_async([&]() -> asio::awaitable<void> {
        auto opts = base_options();
        opts.transport = GetParam().choice;
        std::vector<std::string> asked;
        opts.on.elicitation = [&](json::object p) -> asio::awaitable<mcpd::result<json::value>> {
            asked.emplace_back(p.at("message").as_string());
            co_return json::value(
                json::object{{"action", "accept"}, {"content", json::object{{"answer", "42"}}}});
        };
        opts.on.sampling = [&](json::object) -> asio::awaitable<mcpd::result<json::value>> {
            json::object content{{"type", "text"}, {"text", "bonjour"}};
            co_return json::value(json::object{
                {"role", "assistant"}, {"content", std::move(content)}, {"model", "test-model"}});
        };
        opts.on.roots = [&](json::object) -> asio::awaitable<mcpd::result<json::value>> {
            json::array roots;
            roots.push_back(json::object{{"uri", "file:///a"}});
            roots.push_back(json::object{{"uri", "file:///b"}});
            co_return json::value(json::object{{"roots", std::move(roots)}});
        };
        auto url = server.base_url() + GetParam().path;
        auto s = co_await client::session::connect(url, opts);
        CO_ASSERT(s.has_value());
        EXPECT_EQ(s->transport(), GetParam().expected);
        EXPECT_EQ(s->protocol_version(), "2025-11-25");
        EXPECT_EQ(s->server_info().at("name"), json::value("ts-sdk-test-server"));
        EXPECT_EQ(s->instructions(), "A TypeScript SDK server for tests");
        EXPECT_FALSE(s->session_id().empty());
        EXPECT_TRUE(co_await s->ping());

        auto tools = co_await s->list(client::listing_kind::tools); // two per page: five pages
        CO_ASSERT(tools.has_value());
        EXPECT_EQ(tools->size(), 10u);
        auto first = co_await s->list_page(client::listing_kind::tools);
        CO_ASSERT(first.has_value());
        EXPECT_EQ(first->items.size(), 2u);
        EXPECT_EQ(first->next_cursor, "2");

        json::object echo_args{{"text", "across languages"}};
        auto echoed = co_await s->call_tool("echo", echo_args);
        CO_ASSERT(echoed.has_value());
        EXPECT_EQ(text_of(*echoed), "across languages");
        json::object add_args{{"a", 20}, {"b", 22}};
        auto sum = co_await s->call_tool("add", add_args);
        CO_ASSERT(sum.has_value());
        EXPECT_EQ(json::serialize(sum->at("structuredContent")), R"({"sum":42})");
        auto unknown = co_await s->call_tool("nope");
        CO_ASSERT(!unknown.has_value());
        EXPECT_EQ(client::rpc_code_of(unknown.error()), -32602) << unknown.error().message();

        std::vector<std::string> steps;
        client::request_options ro;
        ro.on_progress = [&](client::progress const& p) {
            steps.push_back(p.message);
            EXPECT_EQ(p.total, 3.0);
        };
        json::object progress_args{{"steps", 3}};
        auto progressed = co_await s->call_tool("progress", progress_args, ro);
        CO_ASSERT(progressed.has_value());
        EXPECT_EQ(text_of(*progressed), "3 steps");
        EXPECT_EQ(steps, (std::vector<std::string>{"step 1", "step 2", "step 3"}));

        json::object ask_args{{"message", "Meaning of life?"}};
        auto answered = co_await s->call_tool("ask", ask_args);
        CO_ASSERT(answered.has_value());
        EXPECT_EQ(text_of(*answered), R"(accept:{"answer":"42"})");
        EXPECT_EQ(asked, (std::vector<std::string>{"Meaning of life?"}));
        json::object sample_args{{"prompt", "Say hello in French"}};
        auto sampled = co_await s->call_tool("sample", sample_args);
        CO_ASSERT(sampled.has_value());
        EXPECT_EQ(text_of(*sampled), "model said: bonjour");
        auto roots = co_await s->call_tool("roots");
        CO_ASSERT(roots.has_value());
        EXPECT_EQ(text_of(*roots), "file:///a,file:///b");

        auto resources = co_await s->list(client::listing_kind::resources);
        CO_ASSERT(resources.has_value());
        CO_ASSERT(resources->size() == 1u);
        auto read = co_await s->read_resource("ts://hello");
        CO_ASSERT(read.has_value());
        EXPECT_EQ(read->at("contents").at(0).at("text"), json::value("hello from TypeScript"));
        auto missing = co_await s->read_resource("ts://missing");
        CO_ASSERT(!missing.has_value());
        EXPECT_EQ(client::rpc_code_of(missing.error()), -32002);
        auto templates = co_await s->list(client::listing_kind::resource_templates);
        CO_ASSERT(templates.has_value());
        EXPECT_EQ(templates->at(0).at("uriTemplate"), json::value("ts://item/{id}"));
        auto prompts = co_await s->list(client::listing_kind::prompts);
        CO_ASSERT(prompts.has_value());
        EXPECT_EQ(prompts->at(0).at("name"), json::value("greet"));
        json::object who{{"who", "TypeScript"}};
        auto prompt = co_await s->get_prompt("greet", who);
        CO_ASSERT(prompt.has_value());
        EXPECT_EQ(prompt->at("messages").at(0).at("content").at("text"),
                  json::value("Hello, TypeScript!"));
        EXPECT_TRUE(co_await s->set_logging_level("info"));

        // Cancellation, the Asio way: the call races a timer and loses. The SDK server aborts
        // the handler (its AbortSignal fires) and counts it.
        {
            using namespace asio::experimental::awaitable_operators;
            json::object slow_args{{"ms", 20000}};
            asio::steady_timer timer(co_await asio::this_coro::executor, 300ms);
            auto call = s->call_tool("slow", slow_args);
            auto wait = timer.async_wait(asio::use_awaitable);
            auto raced = co_await (std::move(call) || std::move(wait));
            CO_ASSERT(raced.index() == 1u); // the timer won; the call was cancelled
        }
        std::string const one = "1", two = "2";
        EXPECT_TRUE(co_await cancellations_reach(*s, one));
        // A timeout cancels on the server too.
        client::request_options quick;
        quick.timeout = 200ms;
        json::object slow_args{{"ms", 20000}};
        auto timed_out = co_await s->call_tool("slow", slow_args, quick);
        CO_ASSERT(!timed_out.has_value());
        EXPECT_EQ(timed_out.error(), errc::timeout);
        EXPECT_TRUE(co_await cancellations_reach(*s, two));

        co_await s->close();
        EXPECT_FALSE(s->is_open());
    });
}

INSTANTIATE_TEST_SUITE_P(
    typescript, ts_sdk_server,
    ::testing::Values(wire{"streamable_http_sse", false, "/mcp",
                           client::transport_choice::automatic,
                           client::transport_kind::streamable_http},
                      wire{"streamable_http_json", true, "/mcp",
                           client::transport_choice::streamable_http,
                           client::transport_kind::streamable_http},
                      wire{"legacy_sse", false, "/sse", client::transport_choice::sse,
                           client::transport_kind::sse},
                      wire{"fallback_to_sse", false, "/sse", client::transport_choice::automatic,
                           client::transport_kind::sse}),
    [](auto const& wire_info) { return std::string(wire_info.param.name); });

TEST(ts_sdk_server_resumption, a_cut_post_stream_is_replayed_from_the_sdk_event_store) {
    ts_mcp_server server({});
    run_async([&]() -> asio::awaitable<void> {
        tcp_proxy proxy(co_await asio::this_coro::executor, server.port());
        auto opts = base_options();
        opts.open_get_stream = false;
        auto url = "http://127.0.0.1:" + std::to_string(proxy.port()) + "/mcp";
        auto s = co_await client::session::connect(url, opts);
        CO_ASSERT(s.has_value());
        proxy.cut_when_downstream_has("step 3");
        std::vector<std::string> steps;
        client::request_options ro;
        ro.on_progress = [&](client::progress const& p) { steps.push_back(p.message); };
        json::object args{{"steps", 6}, {"interval_ms", 50}};
        auto r = co_await s->call_tool("progress", args, ro);
        CO_ASSERT(r.has_value());
        EXPECT_EQ(text_of(*r), "6 steps");
        EXPECT_EQ(proxy.cuts(), 1);
        EXPECT_EQ(steps, (std::vector<std::string>{"step 1", "step 2", "step 3", "step 4", "step 5",
                                                   "step 6"}));
        EXPECT_NE(proxy.upstream().find("Last-Event-ID: "), std::string::npos);
        co_await s->close();
    });
}

// ---------------------------------------------------------------------------------------------
// The authorization hook: what OAuth will plug into. A server that wants a bearer token
// answers 401 (and 403 insufficient_scope for one tool) with a WWW-Authenticate challenge.

class recording_auth final : public client::auth_provider {
public:
    std::string token; // sent as "Authorization: Bearer <token>" when set
    std::vector<client::auth_challenge> challenges;
    // The token to use after a refusal; empty: give up.
    std::function<std::string(client::auth_challenge const&)> next_token;

    asio::awaitable<mcpd::result<void>> authorize(mcpd::http::header_list& headers) override {
        ++authorized;
        if (!token.empty())
            headers.set("Authorization", "Bearer " + token);
        co_return mcpd::result<void>{};
    }
    asio::awaitable<bool> unauthorized(client::auth_challenge const& c) override {
        challenges.push_back(c);
        auto t = next_token ? next_token(c) : std::string();
        if (t.empty())
            co_return false;
        token = t;
        co_return true;
    }
    int authorized = 0;
};

TEST(ts_sdk_server_auth, without_an_auth_provider_a_401_is_a_clear_error) {
    ts_mcp_server server({.require_token = "secret"});
    run_async([&]() -> asio::awaitable<void> {
        auto url = server.base_url() + "/mcp";
        auto opts = base_options();
        auto s = co_await client::session::connect(url, opts);
        CO_ASSERT(!s.has_value());
        EXPECT_EQ(mcpd::http::status_of(s.error()), 401u) << s.error().message();
        EXPECT_NE(s.error().message().find(
                      R"(WWW-Authenticate: Bearer realm="mcp", resource_metadata="http)"),
                  std::string::npos)
            << s.error().message();
        // A static header is one way to send a token without a provider.
        opts.headers.emplace_back("Authorization", "Bearer secret");
        auto with_header = co_await client::session::connect(url, opts);
        CO_ASSERT(with_header.has_value());
        co_await with_header->close();
    });
}

TEST(ts_sdk_server_auth, the_provider_answers_401_and_steps_up_on_403) {
    ts_mcp_server server({.require_token = "secret"});
    for (auto const* path : {"/mcp", "/sse"}) {
        run_async([&]() -> asio::awaitable<void> {
            auto auth = std::make_shared<recording_auth>();
            auth->next_token = [](client::auth_challenge const& c) -> std::string {
                if (c.status == 401)
                    return "secret";
                if (c.www_authenticate.find("insufficient_scope") != std::string::npos)
                    return "secret-admin";
                return {};
            };
            auto opts = base_options();
            opts.auth = auth;
            auto url = server.base_url() + path;
            auto s = co_await client::session::connect(url, opts);
            CO_ASSERT(s.has_value());
            CO_ASSERT(auth->challenges.size() == 1u);
            EXPECT_EQ(auth->challenges[0].status, 401u);
            EXPECT_NE(auth->challenges[0].www_authenticate.find("resource_metadata="),
                      std::string::npos);
            EXPECT_EQ(auth->challenges[0].url.target, path);

            json::object echo_args{{"text", "authorized"}};
            auto echoed = co_await s->call_tool("echo", echo_args);
            CO_ASSERT(echoed.has_value());
            EXPECT_EQ(text_of(*echoed), "authorized");

            auto admin = co_await s->call_tool("admin_only");
            CO_ASSERT(admin.has_value());
            EXPECT_EQ(text_of(*admin), "admin tool ran");
            CO_ASSERT(auth->challenges.size() == 2u);
            EXPECT_EQ(auth->challenges[1].status, 403u);
            EXPECT_EQ(auth->challenges[1].method, "POST");
            EXPECT_GT(auth->authorized, 4) << "asked before every request";
            co_await s->close();
        });
    }
}

TEST(ts_sdk_server_auth, a_provider_that_gives_up_leaves_the_status) {
    ts_mcp_server server({.require_token = "secret"});
    run_async([&]() -> asio::awaitable<void> {
        auto auth = std::make_shared<recording_auth>();
        auth->token = "secret";
        auto opts = base_options();
        opts.auth = auth;
        auto url = server.base_url() + "/mcp";
        auto s = co_await client::session::connect(url, opts);
        CO_ASSERT(s.has_value());
        auto admin = co_await s->call_tool("admin_only");
        CO_ASSERT(!admin.has_value());
        EXPECT_EQ(mcpd::http::status_of(admin.error()), 403u);
        EXPECT_NE(admin.error().message().find(R"(error="insufficient_scope")"), std::string::npos)
            << admin.error().message();
        EXPECT_EQ(auth->challenges.size(), 1u);
        EXPECT_TRUE(s->is_open()) << "a refused call is not a dead session";
        co_await s->close();
    });
}

// ---------------------------------------------------------------------------------------------
// HTTPS: the certificate must chain to a trusted CA and name the host; SNI names it too.

TEST(ts_sdk_server_tls, verifies_the_certificate_and_sends_sni) {
    auto const& certs = mcpd::test::localhost_certificate_files();
    ts_mcp_server server({.tls_cert = certs.server_cert, .tls_key = certs.server_key});
    run_async([&]() -> asio::awaitable<void> {
        auto port = std::to_string(server.port());
        auto opts = base_options();
        opts.http.ca_file = certs.ca_cert;
        auto const by_name = "https://localhost:" + port + "/mcp";
        auto const by_address = "https://127.0.0.1:" + port + "/mcp";
        auto s = co_await client::session::connect(by_name, opts);
        CO_ASSERT(s.has_value());
        auto sni = co_await s->call_tool("tls_server_name");
        CO_ASSERT(sni.has_value());
        EXPECT_EQ(text_of(*sni), "localhost");
        json::object echo_args{{"text", "over TLS"}};
        auto echoed = co_await s->call_tool("echo", echo_args);
        CO_ASSERT(echoed.has_value());
        EXPECT_EQ(text_of(*echoed), "over TLS");
        co_await s->close();

        // The certificate names localhost, not 127.0.0.1.
        auto by_ip = co_await client::session::connect(by_address, opts);
        CO_ASSERT(!by_ip.has_value());
        EXPECT_EQ(by_ip.error().code.category(), asio::error::get_ssl_category())
            << by_ip.error().message();
        EXPECT_NE(by_ip.error().message().find("certificate verify failed"), std::string::npos)
            << by_ip.error().message();

        // Without our CA the system's trust store does not know the issuer.
        auto system_trust = base_options();
        auto untrusted = co_await client::session::connect(by_name, system_trust);
        CO_ASSERT(!untrusted.has_value());
        EXPECT_NE(untrusted.error().message().find("certificate verify failed"), std::string::npos)
            << untrusted.error().message();
        EXPECT_NE(untrusted.error().message().find("TLS handshake with localhost:"),
                  std::string::npos)
            << untrusted.error().message();

        // A CA file that does not exist is a clear error, not an empty trust store.
        auto bad_ca = base_options();
        bad_ca.http.ca_file = "/nonexistent/ca.pem";
        auto no_ca = co_await client::session::connect(by_name, bad_ca);
        CO_ASSERT(!no_ca.has_value());
        EXPECT_NE(no_ca.error().message().find("/nonexistent/ca.pem"), std::string::npos)
            << no_ca.error().message();
    });
}

} // namespace
