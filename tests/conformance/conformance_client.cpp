// tests/conformance/conformance_client.cpp — mcpd's MCP client (client::session with OAuth's
// client::oauth::session_auth) as the program the official conformance suite's client
// scenarios run: `conformance client --command "<this> " --scenario <name>` appends the
// server's URL and sets MCP_CONFORMANCE_SCENARIO (and MCP_CONFORMANCE_CONTEXT, JSON, for
// pre-registered credentials).
//
// It does what every scenario needs: connect, list the tools, call each (add_numbers with two
// numbers; json_schema_echo with the schema of the tool next to it, verbatim), accept
// elicitations with the schema's defaults, close. When the server wants authorization it plays
// the user as well: it opens the authorization URL without following the redirect, takes code,
// state and iss from the Location, finishes, and runs again — at most three times, so a server
// that keeps refusing does not keep it authorizing. Exit status 0 when everything worked (a
// tool the server lists but answers with a JSON-RPC error does not count against it).
#include "http/client.hpp"
#include "mcpd/client/oauth.hpp"
#include "mcpd/client/session.hpp"
#include "mcpd/gateway/authorizer.hpp"
#include "mcpd/store/memory_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace mcpd;
namespace oauth = mcpd::client::oauth;

namespace {

constexpr int max_authorizations = 3;

std::string env(char const* name) {
    char const* v = std::getenv(name);
    return v != nullptr ? v : "";
}

// Elicitation: accept with every default the requested schema offers.
asio::awaitable<result<json::value>> accept_defaults(json::object params) {
    json::object content;
    boost::system::error_code ec;
    json::value whole = params;
    auto const* props = whole.find_pointer("/requestedSchema/properties", ec);
    if (props != nullptr && props->is_object())
        for (auto const& [name, schema] : props->get_object())
            if (schema.is_object() && schema.get_object().contains("default"))
                content[name] = schema.get_object().at("default");
    json::object answer;
    answer["action"] = "accept";
    answer["content"] = std::move(content);
    co_return json::value(std::move(answer));
}

// One run of the scenario: connect, list, call, close.
asio::awaitable<result<void>> run_once(std::string const& url,
                                       std::shared_ptr<oauth::session_auth> auth) {
    client::session_options opts;
    opts.client_info.name = "mcpd-conformance-client";
    opts.request_timeout = std::chrono::seconds(20);
    opts.auth = std::move(auth);
    opts.on.elicitation = accept_defaults;
    auto s = co_await client::session::connect(url, std::move(opts));
    if (!s)
        co_return s.error();
    auto tools = co_await s->list(client::listing_kind::tools);
    if (!tools) {
        co_await s->close();
        co_return tools.error();
    }
    json::value focal_schema = json::object();
    for (auto const& t : *tools)
        if (t.at("name") == "json_schema_2020_12_tool")
            focal_schema = t.at("inputSchema");
    for (auto const& t : *tools) {
        std::string name(t.at("name").as_string());
        if (name == "json_schema_2020_12_tool")
            continue;
        json::object args;
        if (name == "add_numbers") {
            args["a"] = 5;
            args["b"] = 3;
        } else if (name == "json_schema_echo") {
            args["schema"] = focal_schema;
        }
        auto called = co_await s->call_tool(name, std::move(args));
        if (!called && client::rpc_code_of(called.error()) != 0) {
            // The server answered, with an error (a scenario's server may list a tool it does
            // not serve): the client did its part.
            std::printf("%s: %s\n", name.c_str(), called.error().message().c_str());
            continue;
        }
        if (!called) {
            co_await s->close();
            co_return called.error();
        }
        std::printf("called %s\n", name.c_str());
    }
    co_await s->close();
    co_return result<void>();
}

// The user at the authorization URL: the redirect's code, state and iss.
asio::awaitable<result<void>> play_user(std::string const& authorization_url,
                                        oauth::session_auth& auth) {
    auto ex = co_await asio::this_coro::executor;
    http::client web(ex);
    auto to = http::parse_url(authorization_url);
    if (!to)
        co_return to.error();
    http::beast_request req{http::bhttp::verb::get, "/", 11};
    http::exchange_options xo;
    auto res = co_await web.fetch(*to, std::move(req), xo);
    if (!res)
        co_return res.error();
    auto location = std::string((*res)[http::bhttp::field::location]);
    auto parsed = boost::urls::parse_uri(location);
    if (res->result_int() / 100 != 3 || !parsed)
        co_return error{http::status_error(res->result_int()),
                        "no redirect from " + authorization_url};
    std::string code, state, iss;
    for (auto p : parsed->params()) {
        if (p.key == "code")
            code = p.value;
        else if (p.key == "state")
            state = p.value;
        else if (p.key == "iss")
            iss = p.value;
    }
    co_return co_await auth.finish(std::move(code), std::move(state), std::move(iss));
}

asio::awaitable<int> run(std::string url) {
    auto ex = co_await asio::this_coro::executor;
    std::shared_ptr<store::session_store> st = std::make_shared<store::memory_store>();
    json::object rec;
    rec["identity"] = "conformance";
    rec["sessionId"] = "conformance1";
    rec["serverUrl"] = url;
    rec["transportType"] = "streamable_http";
    rec["createdAt"] = 0;
    auto created = co_await st->create_session(std::move(rec));
    if (!created) {
        std::fprintf(stderr, "store: %s\n", created.error().message().c_str());
        co_return 1;
    }
    oauth::session_auth_options ao;
    ao.client.redirect_url = "http://localhost:3000/callback";
    ao.client.client_name = "mcpd-conformance-client";
    ao.client.client_metadata_url = "https://conformance-test.local/client-metadata.json";
    if (auto ctx_text = env("MCP_CONFORMANCE_CONTEXT"); !ctx_text.empty()) {
        boost::system::error_code ec;
        auto ctx = json::parse(ctx_text, ec);
        if (!ec && ctx.is_object()) {
            auto const& o = ctx.get_object();
            if (auto const* id = o.if_contains("client_id"); id && id->is_string())
                ao.client.client_id = std::string(id->get_string());
            if (auto const* secret = o.if_contains("client_secret"); secret && secret->is_string())
                ao.client.client_secret = std::string(secret->get_string());
        }
    }
    ao.http.connect_timeout = std::chrono::seconds(5);
    ao.http.response_timeout = std::chrono::seconds(10);
    auto auth = std::make_shared<oauth::session_auth>(
        ex, gateway::stored_oauth_record(st, "conformance", "conformance1"), "conformance",
        "conformance1", ao);

    for (int authorizations = 0;;) {
        auto ran = co_await run_once(url, auth);
        if (ran) {
            std::printf("ok\n");
            co_return 0;
        }
        std::fprintf(stderr, "failed: %s\n", ran.error().message().c_str());
        if (auth->last_error())
            std::fprintf(stderr, "oauth: %s\n", auth->last_error()->message().c_str());
        if (!auth->authorization_url())
            co_return 1;
        if (authorizations == max_authorizations) {
            std::fprintf(stderr, "giving up after %d authorizations\n", authorizations);
            co_return 1;
        }
        ++authorizations;
        auto url_to_visit = *auth->authorization_url();
        auto finished = co_await play_user(url_to_visit, *auth);
        if (!finished) {
            std::fprintf(stderr, "authorization: %s\n", finished.error().message().c_str());
            co_return 1;
        }
    }
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: conformance_client <server url>\n");
        return 2;
    }
    std::string url = argv[argc - 1];
    std::fprintf(stderr, "scenario %s\n", env("MCP_CONFORMANCE_SCENARIO").c_str());
    asio::io_context io;
    int rc = 1;
    asio::co_spawn(io, run(url), [&](std::exception_ptr e, int code) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (std::exception const& ex) {
                std::fprintf(stderr, "exception: %s\n", ex.what());
            }
            rc = 1;
        } else {
            rc = code;
        }
    });
    io.run();
    return rc;
}
