// Guards through the dispatcher, with in-process backends: a tool's declared cache, rate limit
// and lock around its handler (typed tools included), registration checks, and the same guards
// from handler code through the context.
#include "mcpd/protocol/jsonrpc.hpp"
#include "mcpd/server/context.hpp"
#include "mcpd/server/dispatcher.hpp"
#include "mcpd/server/typed_tool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/describe/class.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace mcpd;
using namespace mcpd::server;
using namespace std::chrono_literals;

namespace guarded_test {
struct email_args {
    std::string user_id;
    std::string body;
};
BOOST_DESCRIBE_STRUCT(email_args, (), (user_id, body))
} // namespace guarded_test

namespace {

json::object schema_with(std::initializer_list<char const*> props) {
    json::object p;
    for (auto const* name : props)
        p[name] = json::object{{"type", "string"}};
    return json::object{{"type", "object"}, {"properties", std::move(p)}};
}

struct GuardedDispatch : ::testing::Test {
    asio::io_context io;
    server::server srv{server_options{.info = {.name = "t", .version = "1"}}};
    session_manager sessions{std::make_shared<memory_session_records>(), 100};
    dispatcher d{srv, sessions, io.get_executor()};

    std::shared_ptr<session> open() {
        auto s = sessions.create().value();
        json::object params{{"protocolVersion", "2025-11-25"}, {"capabilities", json::object{}}};
        call(s, "initialize", params);
        protocol::notification n{"notifications/initialized", {}};
        asio::co_spawn(io, d.handle_notification(s, n), asio::detached);
        io.restart();
        io.run();
        return s;
    }

    json::object call(std::shared_ptr<session> s, std::string method, json::object params,
                      json::value id = 1) {
        protocol::request r{std::move(id), std::move(method), std::move(params)};
        message_sink sink = [](json::object const&) { return true; };
        std::optional<json::object> out;
        asio::co_spawn(io, d.handle_request(std::move(s), std::move(r), sink),
                       [&](std::exception_ptr e, std::optional<json::object> v) {
                           if (e)
                               std::rethrow_exception(e);
                           out = std::move(v);
                       });
        io.restart();
        io.run();
        EXPECT_TRUE(out && out->contains("result")) << (out ? json::serialize(*out) : "none");
        return out && out->contains("result") ? out->at("result").as_object() : json::object{};
    }

    json::object call_tool(std::shared_ptr<session> s, std::string name, json::object args) {
        return call(std::move(s), "tools/call",
                    json::object{{"name", std::move(name)}, {"arguments", std::move(args)}});
    }

    static std::string text_of(json::object const& result) {
        return std::string(result.at("content").at(0).at("text").as_string());
    }
};

} // namespace

TEST_F(GuardedDispatch, a_cached_tool_called_twice_runs_its_handler_once) {
    int calls = 0;
    srv.add_tool(tool{.name = "get_user", .input_schema = schema_with({"id"})}.cache(5min),
                 [&](context&, json::object args) -> asio::awaitable<tool_result> {
                     ++calls;
                     co_return tool_result::text("user " + json::serialize(args.at("id")) + " #" +
                                                 std::to_string(calls));
                 });
    auto a = open();
    auto b = open();
    auto first = call_tool(a, "get_user", json::object{{"id", "123"}});
    auto second = call_tool(b, "get_user", json::object{{"id", "123"}}); // another session
    EXPECT_EQ(first, second);
    EXPECT_EQ(text_of(first), "user \"123\" #1");
    EXPECT_EQ(calls, 1);
    call_tool(a, "get_user", json::object{{"id", "456"}});
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(srv.guards().stats()[guard::event::cache_hit], 1u);
}

TEST_F(GuardedDispatch, over_the_limit_is_a_tool_error_with_the_exact_text) {
    int calls = 0;
    srv.add_tool(tool{.name = "send_email", .input_schema = schema_with({})}.rate_limit(2, 1min),
                 [&](context&, json::object) -> asio::awaitable<tool_result> {
                     ++calls;
                     co_return tool_result::text("sent");
                 });
    auto s = open();
    EXPECT_FALSE(call_tool(s, "send_email", {}).contains("isError"));
    EXPECT_FALSE(call_tool(s, "send_email", {}).contains("isError"));
    auto refused = call_tool(s, "send_email", {});
    EXPECT_EQ(refused.at("isError"), true);
    auto text = text_of(refused);
    EXPECT_TRUE(text.starts_with("Rate limit exceeded: max 2 send_email calls per minute. Try "
                                 "again in "))
        << text;
    EXPECT_TRUE(text == "Rate limit exceeded: max 2 send_email calls per minute. Try again in "
                        "60 seconds." ||
                text == "Rate limit exceeded: max 2 send_email calls per minute. Try again in "
                        "59 seconds.")
        << text;
    EXPECT_EQ(calls, 2);
    // Another session is not blocked.
    EXPECT_FALSE(call_tool(open(), "send_email", {}).contains("isError"));
    EXPECT_EQ(calls, 3);
}

TEST_F(GuardedDispatch, stateless_requests_are_limited_per_client_not_all_together) {
    int calls = 0;
    srv.add_tool(tool{.name = "send_email", .input_schema = schema_with({})}.rate_limit(1, 1min),
                 [&](context&, json::object) -> asio::awaitable<tool_result> {
                     ++calls;
                     co_return tool_result::text("sent");
                 });
    // A 2026-07-28 request carries its revision in _meta and has no session.
    auto stateless_from = [&](std::string client) {
        json::object meta{{"io.modelcontextprotocol/protocolVersion", "2026-07-28"}};
        protocol::request r{1, "tools/call",
                            json::object{{"name", "send_email"},
                                         {"arguments", json::object{}},
                                         {"_meta", std::move(meta)}}};
        auto s = dispatcher::stateless_session(r);
        s->client = std::move(client);
        return s;
    };
    EXPECT_FALSE(call_tool(stateless_from("10.0.0.1"), "send_email", {}).contains("isError"));
    EXPECT_EQ(call_tool(stateless_from("10.0.0.1"), "send_email", {}).at("isError"), true);
    // Another client has its own window.
    EXPECT_FALSE(call_tool(stateless_from("10.0.0.2"), "send_email", {}).contains("isError"));
    EXPECT_EQ(calls, 2);
    // A result cached per session is private to it: a stateless caller has none, so it is not
    // cached for them (a shared-scope tool still is).
    int private_calls = 0;
    srv.add_tool(tool{.name = "my_inbox", .input_schema = schema_with({})}.cache(
                     guard::cache_policy{.ttl = 5min, .scope = guard::cache_scope::session}),
                 [&](context&, json::object) -> asio::awaitable<tool_result> {
                     ++private_calls;
                     co_return tool_result::text("inbox");
                 });
    call_tool(stateless_from("10.0.0.1"), "my_inbox", {});
    call_tool(stateless_from("10.0.0.1"), "my_inbox", {});
    EXPECT_EQ(private_calls, 2);
    auto s = open();
    call_tool(s, "my_inbox", {});
    call_tool(s, "my_inbox", {});
    EXPECT_EQ(private_calls, 3);
    EXPECT_EQ(guard::rate_limit_subject("", "10.0.0.2"), "stateless:10.0.0.2");
    EXPECT_EQ(guard::rate_limit_subject("", ""), "stateless");
    EXPECT_EQ(guard::rate_limit_subject("abc", "10.0.0.2"), "abc");
}

TEST_F(GuardedDispatch, a_locked_typed_tool_gets_its_fencing_token_and_refuses_while_held) {
    std::optional<std::int64_t> fence;
    server::add_tool<guarded_test::email_args>(
        srv, tool{.name = "send"}.lock("send-email:{user_id}", 30s),
        [&](context& ctx, guarded_test::email_args a) -> asio::awaitable<std::string> {
            fence = ctx.lock_fence();
            co_return "sent to " + a.user_id;
        });
    auto s = open();
    auto ok = call_tool(s, "send", json::object{{"user_id", "u1"}, {"body", "hi"}});
    EXPECT_EQ(text_of(ok), "sent to u1");
    ASSERT_TRUE(fence);
    EXPECT_GT(*fence, 0);

    // Held by someone else: the guide's text, and the handler does not run.
    fence.reset();
    auto held = srv.guards().locks().backend().try_acquire("mcp:lock:send-email:u1", "other", 1min);
    std::optional<std::int64_t> other;
    asio::co_spawn(io, std::move(held),
                   [&](std::exception_ptr, result<std::optional<std::int64_t>> r) {
                       other = r ? r->value_or(0) : 0;
                   });
    io.restart();
    io.run();
    ASSERT_TRUE(other && *other > 0);
    auto busy = call_tool(s, "send", json::object{{"user_id", "u1"}, {"body", "hi"}});
    EXPECT_EQ(busy.at("isError"), true);
    EXPECT_EQ(text_of(busy), "Operation in progress — try again in a moment");
    EXPECT_FALSE(fence);
    // Another resource is free.
    EXPECT_EQ(text_of(call_tool(s, "send", json::object{{"user_id", "u2"}, {"body", "x"}})),
              "sent to u2");
}

TEST_F(GuardedDispatch, registration_checks_lock_templates_against_the_arguments) {
    auto handler = [](context&, json::object) -> asio::awaitable<tool_result> {
        co_return tool_result::text("x");
    };
    EXPECT_THROW(
        srv.add_tool(tool{.name = "t", .input_schema = schema_with({"a"})}.lock("k:{b}", 1s),
                     handler),
        std::invalid_argument);
    srv.add_tool(tool{.name = "t", .input_schema = schema_with({"a"})}, handler);
    EXPECT_FALSE(srv.set_tool_guards("missing", guard::tool_guards{}.cache(1s)));
    EXPECT_THROW(srv.set_tool_guards("t", guard::tool_guards{}.lock("k:{b}", 1s)),
                 std::invalid_argument);
    EXPECT_TRUE(srv.set_tool_guards("t", guard::tool_guards{}.lock("k:{a}", 1s).cache(1s)));
}

TEST_F(GuardedDispatch, handler_code_uses_the_same_guards_through_the_context) {
    int computed = 0;
    srv.add_tool(tool{.name = "lookup", .input_schema = schema_with({})},
                 [&](context& ctx, json::object) -> asio::awaitable<tool_result> {
                     auto fetch = [&]() -> asio::awaitable<std::string> {
                         ++computed;
                         co_return std::string("value");
                     };
                     auto v = co_await ctx.with_cache("lookup:1", 1min, fetch);
                     auto allowed = co_await ctx.check_rate_limit("lookup", 2, 1min);
                     if (!allowed)
                         co_return tool_result::error("limited");
                     co_return tool_result::text(v);
                 });
    srv.add_tool(tool{.name = "exclusive", .input_schema = schema_with({})},
                 [&](context& ctx, json::object) -> asio::awaitable<tool_result> {
                     auto inner = [&]() -> asio::awaitable<std::string> {
                         // Re-entering the same resource from inside is refused: held.
                         auto nested = []() -> asio::awaitable<std::string> { co_return "no"; };
                         co_return co_await ctx.with_lock("res", 10s, nested);
                     };
                     co_return tool_result::text(co_await ctx.with_lock("res", 10s, inner));
                 });
    auto s = open();
    EXPECT_EQ(text_of(call_tool(s, "lookup", {})), "value");
    EXPECT_EQ(text_of(call_tool(s, "lookup", {})), "value");
    EXPECT_EQ(text_of(call_tool(s, "lookup", {})), "limited");
    EXPECT_EQ(computed, 1);
    auto nested = call_tool(s, "exclusive", {});
    EXPECT_EQ(nested.at("isError"), true);
    EXPECT_EQ(text_of(nested), "Operation in progress — try again in a moment");
}
