// The dispatcher without a transport: requests in, responses and related messages out, on an
// in-process io_context. Covers each MCP method's success and error paths, cancellation,
// requests to the client, and the stateless (2026-07-28) forms.
#include "mcpd/protocol/jsonrpc.hpp"
#include "mcpd/server/context.hpp"
#include "mcpd/server/dispatcher.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace mcpd;
using namespace mcpd::server;

namespace {

json::object args_schema() {
    return json::object{{"type", "object"}};
}

tool named(std::string name) {
    tool t;
    t.name = std::move(name);
    t.description = "test tool";
    t.input_schema = args_schema();
    return t;
}

struct Dispatch : ::testing::Test {
    asio::io_context io;
    server::server srv{server_options{.info = {.name = "t", .version = "1"}, .page_size = 2}};
    session_manager sessions{std::make_shared<memory_session_records>(), 100};
    dispatcher d{srv, sessions, io.get_executor()};
    std::vector<json::object> related; // messages sent on the request's channel
    std::vector<json::object> unsolicited;

    std::shared_ptr<session> open(json::object caps = {}, std::string version = "2025-11-25") {
        auto s = sessions.create().value();
        s->unsolicited = [this](json::object const& m) {
            unsolicited.push_back(m);
            return true;
        };
        json::object params{{"protocolVersion", version},
                            {"capabilities", std::move(caps)},
                            {"clientInfo", json::object{{"name", "test"}, {"version", "0"}}}};
        auto r = call(s, "initialize", std::move(params));
        EXPECT_TRUE(r && r->contains("result")) << (r ? json::serialize(*r) : "cancelled");
        protocol::notification n{"notifications/initialized", {}};
        run(d.handle_notification(s, n));
        return s;
    }

    template <class T>
    T run(asio::awaitable<T> a) {
        std::optional<T> out;
        asio::co_spawn(io, std::move(a), [&](std::exception_ptr e, T v) {
            if (e)
                std::rethrow_exception(e);
            out = std::move(v);
        });
        io.restart();
        io.run();
        return std::move(*out);
    }
    void run(asio::awaitable<void> a) {
        asio::co_spawn(io, std::move(a), asio::detached);
        io.restart();
        io.run();
    }

    std::optional<json::object> call(std::shared_ptr<session> s, std::string method,
                                     json::object params = {}, json::value id = 1) {
        protocol::request r{std::move(id), std::move(method), std::move(params)};
        message_sink sink = [this](json::object const& m) {
            related.push_back(m);
            return true;
        };
        return run(d.handle_request(std::move(s), std::move(r), sink));
    }

    // By value: callers pass the temporary that call() returns.
    static json::object result(std::optional<json::object> const& r) {
        EXPECT_TRUE(r && r->contains("result")) << (r ? json::serialize(*r) : "no response");
        return r && r->contains("result") ? r->at("result").as_object() : json::object{};
    }
    static std::int64_t error_code(std::optional<json::object> const& r) {
        EXPECT_TRUE(r && r->contains("error")) << (r ? json::serialize(*r) : "no response");
        return r && r->contains("error") ? r->at("error").at("code").as_int64() : 0;
    }
};

} // namespace

TEST_F(Dispatch, InitializeNegotiatesAndDeclaresCapabilities) {
    auto s = sessions.create().value();
    json::object params{{"protocolVersion", "2025-06-18"}, {"capabilities", json::object{}}};
    auto const& r = result(call(s, "initialize", params));
    EXPECT_EQ(r.at("protocolVersion"), "2025-06-18");
    EXPECT_TRUE(r.at("capabilities").as_object().contains("tools"));
    EXPECT_EQ(r.at("serverInfo").at("name"), "t");
    EXPECT_EQ(error_code(call(s, "initialize", params)), protocol::code::invalid_request);
    auto fresh = sessions.create().value();
    json::object unknown{{"protocolVersion", "1999-01-01"}};
    EXPECT_EQ(result(call(fresh, "initialize", unknown)).at("protocolVersion"), "2025-11-25");
    auto bad = sessions.create().value();
    EXPECT_EQ(error_code(call(bad, "initialize", json::object{})), protocol::code::invalid_params);
}

TEST_F(Dispatch, RequestsBeforeInitializeAreRefusedButPingWorks) {
    auto s = sessions.create().value();
    EXPECT_EQ(error_code(call(s, "tools/list")), protocol::code::invalid_request);
    EXPECT_TRUE(result(call(s, "ping")).empty());
}

TEST_F(Dispatch, UnknownMethodIsMethodNotFound) {
    auto s = open();
    EXPECT_EQ(error_code(call(s, "tools/frobnicate")), protocol::code::method_not_found);
}

TEST_F(Dispatch, ListsArePagedWithOpaqueCursors) {
    for (auto n : {"a", "b", "c", "d", "e"})
        srv.add_tool(named(n), [](context&, json::object) -> asio::awaitable<tool_result> {
            co_return tool_result::text("x");
        });
    auto s = open();
    std::vector<std::string> names;
    json::object params;
    for (int pages = 0; pages < 10; ++pages) {
        auto const& r = result(call(s, "tools/list", params));
        for (auto const& t : r.at("tools").as_array())
            names.emplace_back(t.at("name").as_string());
        if (!r.contains("nextCursor"))
            break;
        params["cursor"] = r.at("nextCursor");
    }
    EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
    json::object bad{{"cursor", "not-a-cursor"}};
    EXPECT_EQ(error_code(call(s, "tools/list", bad)), protocol::code::invalid_params);
}

TEST_F(Dispatch, ToolCallsAndTheirErrors) {
    srv.add_tool(named("ok"), [](context&, json::object a) -> asio::awaitable<tool_result> {
        auto r = tool_result::text(json::serialize(a));
        r.structured_content = a;
        co_return r;
    });
    srv.add_tool(named("throws"), [](context&, json::object) -> asio::awaitable<tool_result> {
        throw std::runtime_error("disk on fire");
        co_return tool_result{};
    });
    srv.add_tool(named("protocol"), [](context&, json::object) -> asio::awaitable<tool_result> {
        throw protocol_error(protocol::code::invalid_params, "bad thing");
        co_return tool_result{};
    });
    auto s = open();
    json::object call_ok{{"name", "ok"}, {"arguments", json::object{{"x", 1}}}};
    auto const& r = result(call(s, "tools/call", call_ok));
    EXPECT_EQ(r.at("content").at(0).at("text"), R"({"x":1})");
    EXPECT_EQ(r.at("structuredContent").at("x"), 1);
    EXPECT_FALSE(r.contains("isError"));

    auto const& e = result(call(s, "tools/call", json::object{{"name", "throws"}}));
    EXPECT_EQ(e.at("isError"), true);
    EXPECT_EQ(e.at("content").at(0).at("text"), "disk on fire");

    EXPECT_EQ(error_code(call(s, "tools/call", json::object{{"name", "protocol"}})),
              protocol::code::invalid_params);
    EXPECT_EQ(error_code(call(s, "tools/call", json::object{{"name", "missing"}})),
              protocol::code::invalid_params);
    EXPECT_EQ(error_code(call(s, "tools/call", json::object{})), protocol::code::invalid_params);
    json::object not_object{{"name", "ok"}, {"arguments", json::array{1}}};
    EXPECT_EQ(error_code(call(s, "tools/call", not_object)), protocol::code::invalid_params);
}

TEST_F(Dispatch, RegistrationMistakesFailAtOnce) {
    auto noop = [](context&, json::object) -> asio::awaitable<tool_result> {
        co_return tool_result{};
    };
    EXPECT_THROW(srv.add_tool(named("has space"), noop), std::invalid_argument);
    EXPECT_THROW(srv.add_tool(named(std::string(129, 'a')), noop), std::invalid_argument);
    tool no_schema = named("x");
    no_schema.input_schema = json::object{{"type", "string"}};
    EXPECT_THROW(srv.add_tool(no_schema, noop), std::invalid_argument);
}

TEST_F(Dispatch, ProgressNeedsATokenAndLogsFollowTheSessionLevel) {
    srv.add_tool(named("chatty"), [](context& ctx, json::object) -> asio::awaitable<tool_result> {
        ctx.progress(1, 2, "half");
        ctx.log("debug", "d");
        ctx.log("error", "e");
        co_return tool_result::text("done");
    });
    auto s = open();
    result(call(s, "tools/call", json::object{{"name", "chatty"}}));
    ASSERT_EQ(related.size(), 2u); // no token: no progress; no level set: every log
    related.clear();
    EXPECT_TRUE(result(call(s, "logging/setLevel", json::object{{"level", "warning"}})).empty());
    json::object with_token{{"name", "chatty"}, {"_meta", json::object{{"progressToken", "p1"}}}};
    result(call(s, "tools/call", with_token));
    ASSERT_EQ(related.size(), 2u);
    EXPECT_EQ(related[0].at("method"), "notifications/progress");
    EXPECT_EQ(related[0].at("params").at("progressToken"), "p1");
    EXPECT_EQ(related[0].at("params").at("message"), "half");
    EXPECT_EQ(related[1].at("params").at("level"), "error");
    EXPECT_EQ(error_code(call(s, "logging/setLevel", json::object{{"level", "loud"}})),
              protocol::code::invalid_params);
}

TEST_F(Dispatch, CancelledRequestsGetNoResponse) {
    bool finished = false;
    srv.add_tool(named("slow"), [&](context& ctx, json::object) -> asio::awaitable<tool_result> {
        asio::steady_timer t(ctx.executor(), std::chrono::seconds(30));
        co_await t.async_wait(asio::use_awaitable); // throws operation_aborted on cancel
        finished = true;
        co_return tool_result::text("late");
    });
    auto s = open();
    std::optional<std::optional<json::object>> response;
    protocol::request r{json::value(42), "tools/call", json::object{{"name", "slow"}}};
    auto task = d.handle_request(s, r, {});
    asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, std::optional<json::object> v) {
        ASSERT_FALSE(e);
        response = std::move(v);
    });
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
    ASSERT_FALSE(response);
    protocol::notification cancel{"notifications/cancelled", json::object{{"requestId", 42}}};
    auto c = d.handle_notification(s, cancel);
    asio::co_spawn(io, std::move(c), asio::detached);
    io.run_for(std::chrono::seconds(2));
    ASSERT_TRUE(response);
    EXPECT_FALSE(*response);
    EXPECT_FALSE(finished);
    EXPECT_TRUE(s->in_flight.empty());
}

TEST_F(Dispatch, RequestsToTheClientWaitForItsReply) {
    srv.add_tool(named("ask"), [](context& ctx, json::object) -> asio::awaitable<tool_result> {
        json::object ask{{"message", "name?"}}; // named: GCC 12, see docs/rough_edges.md
        auto r = co_await ctx.elicit(std::move(ask));
        if (!r)
            co_return tool_result::error(r.error().message());
        co_return tool_result::text(json::serialize(r->at("content")));
    });
    auto without = open();
    auto const& refused = result(call(without, "tools/call", json::object{{"name", "ask"}}));
    EXPECT_EQ(refused.at("isError"), true); // the client has no elicitation capability

    related.clear();
    auto s = open(json::object{{"elicitation", json::object{}}});
    std::optional<std::optional<json::object>> response;
    protocol::request r{json::value(9), "tools/call", json::object{{"name", "ask"}}};
    message_sink sink = [this](json::object const& m) {
        related.push_back(m);
        return true;
    };
    asio::co_spawn(
        io, d.handle_request(s, r, sink),
        [&](std::exception_ptr, std::optional<json::object> v) { response = std::move(v); });
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
    ASSERT_EQ(related.size(), 1u);
    EXPECT_EQ(related[0].at("method"), "elicitation/create");
    auto id = related[0].at("id");
    d.handle_response(
        *s, id,
        protocol::make_result(
            id, json::object{{"action", "accept"}, {"content", json::object{{"n", "Ada"}}}}));
    io.run_for(std::chrono::seconds(1));
    ASSERT_TRUE(response && *response);
    EXPECT_EQ(result(*response).at("content").at(0).at("text"), R"({"n":"Ada"})");
}

TEST_F(Dispatch, ResourcesTemplatesAndNotFound) {
    resource r{.uri = "mem://a", .name = "a"};
    srv.add_resource(
        r, [](context&, std::string uri) -> asio::awaitable<std::vector<resource_contents>> {
            co_return std::vector<resource_contents>{
                {.uri = uri, .mime_type = "text/plain", .text = "A"}};
        });
    resource_template t{.uri_template = "mem://items/{id}/v{version}", .name = "item"};
    srv.add_resource_template(t,
                              [](context&, std::string uri, std::map<std::string, std::string> v)
                                  -> asio::awaitable<std::vector<resource_contents>> {
                                  co_return std::vector<resource_contents>{
                                      {.uri = uri, .text = v["id"] + "@" + v["version"]}};
                              });
    auto s = open();
    EXPECT_EQ(result(call(s, "resources/read", json::object{{"uri", "mem://a"}}))
                  .at("contents")
                  .at(0)
                  .at("text"),
              "A");
    EXPECT_EQ(result(call(s, "resources/read", json::object{{"uri", "mem://items/7/v2"}}))
                  .at("contents")
                  .at(0)
                  .at("text"),
              "7@2");
    auto missing = call(s, "resources/read", json::object{{"uri", "mem://nope"}});
    EXPECT_EQ(error_code(missing), protocol::code::resource_not_found);
    EXPECT_EQ(missing->at("error").at("data").at("uri"), "mem://nope");
    EXPECT_EQ(result(call(s, "resources/templates/list")).at("resourceTemplates").as_array().size(),
              1u);
}

TEST_F(Dispatch, SubscriptionsGetUpdatesAndListChangesReachSessions) {
    auto s = open();
    result(call(s, "resources/subscribe", json::object{{"uri", "mem://watched"}}));
    srv.resource_updated("mem://watched");
    srv.resource_updated("mem://other");
    ASSERT_EQ(unsolicited.size(), 1u);
    EXPECT_EQ(unsolicited[0].at("method"), "notifications/resources/updated");
    result(call(s, "resources/unsubscribe", json::object{{"uri", "mem://watched"}}));
    srv.resource_updated("mem://watched");
    EXPECT_EQ(unsolicited.size(), 1u);
    srv.add_tool(named("new_tool"), [](context&, json::object) -> asio::awaitable<tool_result> {
        co_return tool_result{};
    });
    ASSERT_EQ(unsolicited.size(), 2u);
    EXPECT_EQ(unsolicited[1].at("method"), "notifications/tools/list_changed");
}

TEST_F(Dispatch, PromptsCheckTheirArguments) {
    prompt p{.name = "greet",
             .description = "says hi",
             .arguments = {{.name = "who", .required = true}}};
    srv.add_prompt(
        p, [](context&, std::map<std::string, std::string> a) -> asio::awaitable<prompt_result> {
            prompt_result r;
            r.messages.push_back(prompt_message("user", text_content("hi " + a["who"])));
            co_return r;
        });
    auto s = open();
    json::object ok{{"name", "greet"}, {"arguments", json::object{{"who", "Bo"}}}};
    EXPECT_EQ(result(call(s, "prompts/get", ok)).at("messages").at(0).at("content").at("text"),
              "hi Bo");
    EXPECT_EQ(error_code(call(s, "prompts/get", json::object{{"name", "greet"}})),
              protocol::code::invalid_params);
    json::object not_string{{"name", "greet"}, {"arguments", json::object{{"who", 5}}}};
    EXPECT_EQ(error_code(call(s, "prompts/get", not_string)), protocol::code::invalid_params);
    EXPECT_EQ(error_code(call(s, "prompts/get", json::object{{"name", "nope"}})),
              protocol::code::invalid_params);
}

TEST_F(Dispatch, CompletionAnswersWithAtMostAHundredValues) {
    srv.set_completion_handler(
        [](context&, completion_request r) -> asio::awaitable<completion_result> {
            completion_result out;
            for (int i = 0; i < 150; ++i)
                out.values.push_back(r.value + std::to_string(i));
            co_return out;
        });
    auto s = open();
    json::object params{{"ref", json::object{{"type", "ref/prompt"}, {"name", "p"}}},
                        {"argument", json::object{{"name", "a"}, {"value", "x"}}}};
    auto const r = result(call(s, "completion/complete", params));
    auto const& c = r.at("completion");
    EXPECT_EQ(c.at("values").as_array().size(), 100u);
    EXPECT_EQ(c.at("hasMore"), true);
    EXPECT_EQ(c.at("total"), 150);
    json::object bad_ref{{"ref", json::object{{"type", "ref/other"}}},
                         {"argument", json::object{}}};
    EXPECT_EQ(error_code(call(s, "completion/complete", bad_ref)), protocol::code::invalid_params);
}

namespace {
json::object stateless_meta(json::object caps = {}) {
    return json::object{{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
                        {"io.modelcontextprotocol/clientCapabilities", std::move(caps)}};
}
} // namespace

TEST_F(Dispatch, StatelessResultsCarryTheRevisionsDecorations) {
    protocol::request probe{1, "tools/list", json::object{{"_meta", stateless_meta()}}};
    auto s = dispatcher::stateless_session(probe);
    ASSERT_TRUE(s);
    auto const& list = result(call(s, "tools/list", probe.params));
    EXPECT_EQ(list.at("resultType"), "complete");
    EXPECT_EQ(list.at("ttlMs"), 0);
    EXPECT_EQ(list.at("cacheScope"), "private");
    EXPECT_EQ(list.at("_meta").at("io.modelcontextprotocol/serverInfo").at("name"), "t");
    auto const& discover = result(call(s, "server/discover", probe.params));
    EXPECT_EQ(discover.at("supportedVersions").at(0), "2026-07-28");
    for (auto m : {"initialize", "ping", "logging/setLevel", "resources/subscribe"})
        EXPECT_EQ(error_code(call(s, m, probe.params)), protocol::code::method_not_found) << m;
    protocol::request plain{1, "tools/list", {}};
    EXPECT_FALSE(dispatcher::stateless_session(plain));
}

TEST_F(Dispatch, StatelessInputRoundsAreSealed) {
    srv.add_tool(named("who"), [](context& ctx, json::object) -> asio::awaitable<tool_result> {
        json::object q1{{"message", "first?"}}, q2{{"message", "last?"}};
        auto first = co_await ctx.request("elicitation/create", std::move(q1),
                                          std::chrono::seconds(1), "first");
        auto second = co_await ctx.request("elicitation/create", std::move(q2),
                                           std::chrono::seconds(1), "last");
        co_return tool_result::text(json::serialize(first->at("content")) +
                                    json::serialize(second->at("content")));
    });
    json::object params{{"name", "who"}, {"_meta", stateless_meta()}};
    auto s = dispatcher::stateless_session(protocol::request{1, "tools/call", params});
    auto const& r1 = result(call(s, "tools/call", params));
    EXPECT_EQ(r1.at("resultType"), "input_required");
    EXPECT_EQ(r1.at("inputRequests").at("first").at("method"), "elicitation/create");
    // Round 2: answer "first"; the handler asks for "last", carrying "first" in requestState.
    params["inputResponses"] = json::object{{"first", json::object{{"content", "Ada"}}}};
    params["requestState"] = r1.at("requestState");
    auto const& r2 = result(call(s, "tools/call", params));
    ASSERT_EQ(r2.at("resultType"), "input_required");
    EXPECT_TRUE(r2.at("inputRequests").as_object().contains("last"));
    EXPECT_NE(r2.at("requestState"), r1.at("requestState"));
    params["inputResponses"] = json::object{{"last", json::object{{"content", "Lovelace"}}}};
    params["requestState"] = r2.at("requestState");
    auto const& r3 = result(call(s, "tools/call", params));
    EXPECT_EQ(r3.at("resultType"), "complete");
    EXPECT_EQ(r3.at("content").at(0).at("text"), R"("Ada""Lovelace")");
    // A changed requestState is refused.
    params["requestState"] = std::string(r2.at("requestState").as_string()) + "x";
    EXPECT_EQ(error_code(call(s, "tools/call", params)), protocol::code::invalid_params);
    // An answer that is not an object is refused, not used.
    params.erase("requestState");
    params["inputResponses"] = json::object{{"first", 12345}};
    EXPECT_EQ(error_code(call(s, "tools/call", params)), protocol::code::invalid_params);
}

TEST(UriTemplate, MatchesLevelOneTemplates) {
    auto v = match_uri_template("file:///{dir}/{name}.txt", "file:///docs/readme.txt");
    ASSERT_TRUE(v);
    EXPECT_EQ((*v)["dir"], "docs");
    EXPECT_EQ((*v)["name"], "readme");
    EXPECT_FALSE(match_uri_template("test://template/{id}/data", "test://template/1/2/data"));
    EXPECT_FALSE(match_uri_template("test://template/{id}/data", "test://template//data"));
    EXPECT_FALSE(match_uri_template("test://a", "test://ab"));
    EXPECT_TRUE(match_uri_template("test://a", "test://a"));
    auto tail = match_uri_template("users://{id}", "users://42");
    ASSERT_TRUE(tail);
    EXPECT_EQ((*tail)["id"], "42");
}

TEST_F(Dispatch, UrlElicitationNeedsTheUrlCapability) {
    srv.add_tool(named("login"), [](context& ctx, json::object) -> asio::awaitable<tool_result> {
        json::object ask{{"mode", "url"},
                         {"message", "Sign in"},
                         {"url", "https://example.com/login"},
                         {"elicitationId", "e1"}};
        auto r = co_await ctx.elicit(std::move(ask));
        co_return r ? tool_result::text("sent") : tool_result::error(r.error().message());
    });
    auto form_only = open(json::object{{"elicitation", json::object{}}});
    auto const r = result(call(form_only, "tools/call", json::object{{"name", "login"}}));
    EXPECT_EQ(r.at("isError"), true);
    EXPECT_NE(std::string(r.at("content").at(0).at("text").as_string()).find("elicitation.url"),
              std::string::npos);
}

TEST_F(Dispatch, IdleSessionsLeaveMemoryButNotTheStore) {
    auto idle = open();
    auto held = open();
    auto busy = open();
    auto const long_ago = std::chrono::steady_clock::now() - std::chrono::hours(2);
    idle->last_used = held->last_used = long_ago;
    auto forgotten = sessions.forget_idle(
        std::chrono::hours(1), [&](std::string const& id) { return id == held->state.id; });
    ASSERT_EQ(forgotten, std::vector<std::string>{idle->state.id});
    EXPECT_EQ(sessions.live_count(), 2u);
    // The client comes back: the session is restored from its record, state intact.
    auto back = run(sessions.find(idle->state.id));
    ASSERT_TRUE(back && *back);
    EXPECT_NE(back->get(), idle.get());
    EXPECT_EQ((*back)->state.protocol_version, "2025-11-25");
    EXPECT_TRUE((*back)->state.initialized);
    EXPECT_EQ(sessions.live_count(), 3u);
}

namespace {
constexpr char const* subscription_id = "io.modelcontextprotocol/subscriptionId";
}

TEST_F(Dispatch, StatelessListenDeliversWhatItAskedForUntilCancelled) {
    json::object params{
        {"_meta", stateless_meta()},
        {"notifications", json::object{{"toolsListChanged", true},
                                       {"promptsListChanged", false},
                                       {"resourceSubscriptions", json::array{"test://a"}}}}};
    auto s = dispatcher::stateless_session(protocol::request{7, "subscriptions/listen", params});
    std::vector<json::object> stream;
    message_sink sink = [&](json::object const& m) {
        stream.push_back(m);
        return true;
    };
    std::optional<std::optional<json::object>> response;
    protocol::request r{json::value(7), "subscriptions/listen", params};
    asio::co_spawn(io, d.handle_request(s, r, sink),
                   [&](std::exception_ptr e, std::optional<json::object> v) {
                       ASSERT_FALSE(e);
                       response = std::move(v);
                   });
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
    ASSERT_FALSE(response) << "a listen stays open";
    EXPECT_EQ(d.listens(), 1u);
    // First the acknowledgement, with only what was asked for and is supported.
    ASSERT_EQ(stream.size(), 1u);
    EXPECT_EQ(stream[0].at("method"), "notifications/subscriptions/acknowledged");
    EXPECT_EQ(stream[0].at("params").at("_meta").at(subscription_id), 7);
    EXPECT_EQ(stream[0].at("params").at("notifications"),
              (json::object{{"toolsListChanged", true},
                            {"resourceSubscriptions", json::array{"test://a"}}}));

    // Then the matching notifications, stamped with the subscription id; nothing else.
    srv.add_tool(named("late"), [](context&, json::object) -> asio::awaitable<tool_result> {
        co_return tool_result::text("x");
    });
    srv.resource_updated("test://a");
    srv.resource_updated("test://other");
    srv.add_prompt(
        prompt{.name = "p"},
        [](context&, std::map<std::string, std::string>) -> asio::awaitable<prompt_result> {
            co_return prompt_result{};
        });
    ASSERT_EQ(stream.size(), 3u);
    EXPECT_EQ(stream[1].at("method"), "notifications/tools/list_changed");
    EXPECT_EQ(stream[1].at("params").at("_meta").at(subscription_id), 7);
    EXPECT_EQ(stream[2].at("method"), "notifications/resources/updated");
    EXPECT_EQ(stream[2].at("params").at("uri"), "test://a");
    EXPECT_EQ(stream[2].at("params").at("_meta").at(subscription_id), 7);

    // The client cancels (on HTTP: closes the stream): no response, the listener is gone.
    protocol::notification cancel{"notifications/cancelled", json::object{{"requestId", 7}}};
    asio::co_spawn(io, d.handle_notification(s, cancel), asio::detached);
    io.run_for(std::chrono::seconds(1));
    ASSERT_TRUE(response);
    EXPECT_FALSE(*response);
    EXPECT_EQ(d.listens(), 0u);
    EXPECT_TRUE(s->in_flight.empty());
}

TEST_F(Dispatch, StatelessListenEndsWithItsResultAtShutdown) {
    json::object params{{"_meta", stateless_meta()},
                        {"notifications", json::object{{"resourcesListChanged", true}}}};
    auto s = dispatcher::stateless_session(protocol::request{"L1", "subscriptions/listen", params});
    std::optional<std::optional<json::object>> response;
    protocol::request r{json::value("L1"), "subscriptions/listen", params};
    message_sink sink = [](json::object const&) { return true; };
    asio::co_spawn(io, d.handle_request(s, r, sink),
                   [&](std::exception_ptr e, std::optional<json::object> v) {
                       ASSERT_FALSE(e);
                       response = std::move(v);
                   });
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
    ASSERT_FALSE(response);
    d.end_listens();
    io.run_for(std::chrono::seconds(1));
    ASSERT_TRUE(response && *response);
    auto const& res = (**response).at("result");
    EXPECT_EQ(res.at("resultType"), "complete");
    EXPECT_EQ(res.at("_meta").at(subscription_id), "L1");
    EXPECT_EQ(res.at("_meta").at("io.modelcontextprotocol/serverInfo").at("name"), "t");
    // Later listens are answered at once: nothing would ever come.
    related.clear();
    auto again = result(call(s, "subscriptions/listen", params, "L2"));
    EXPECT_EQ(again.at("_meta").at(subscription_id), "L2");
    EXPECT_TRUE(related.empty());
}

TEST_F(Dispatch, ListenChecksItsFilterAndIsStatelessOnly) {
    auto s = dispatcher::stateless_session(
        protocol::request{1, "subscriptions/listen", json::object{{"_meta", stateless_meta()}}});
    auto with = [](json::value notifications) {
        json::object p{{"_meta", stateless_meta()}};
        if (!notifications.is_null())
            p["notifications"] = std::move(notifications);
        return p;
    };
    for (auto const& bad : {json::value(nullptr), json::value("all"),
                            json::value(json::object{{"toolsListChanged", "yes"}}),
                            json::value(json::object{{"resourceSubscriptions", "test://a"}}),
                            json::value(json::object{{"resourceSubscriptions", json::array{1}}})})
        EXPECT_EQ(error_code(call(s, "subscriptions/listen", with(bad))),
                  protocol::code::invalid_params)
            << json::serialize(bad);
    EXPECT_EQ(d.listens(), 0u);
    // A session's client has its GET stream: the method is not part of its revision.
    EXPECT_EQ(error_code(call(open(), "subscriptions/listen",
                              json::object{{"notifications", json::object{}}})),
              protocol::code::method_not_found);
    // Stateless clients are told list changes and subscriptions are available.
    auto discovered = result(call(s, "server/discover", with(nullptr)));
    auto const& caps = discovered.at("capabilities");
    EXPECT_EQ(caps.at("tools").at("listChanged"), true);
    EXPECT_EQ(caps.at("resources").at("subscribe"), true);
}
