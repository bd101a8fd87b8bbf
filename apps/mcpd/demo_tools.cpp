// apps/mcpd/demo_tools.cpp — the tools `mcpd serve` offers by default: small, but each shows a
// feature a real tool needs (structured output, progress, logging, cancellation).
#include "fixtures.hpp"

#include "core/duration.hpp"
#include "server/context.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

namespace mcpd::app {

namespace json = boost::json;
namespace asio = boost::asio;
using server::context;
using server::tool_result;

void add_demo_tools(server::server& srv) {
    {
        server::tool t;
        t.name = "echo";
        t.title = "Echo";
        t.description = "Returns its text argument unchanged";
        t.input_schema = json::object{
            {"type", "object"},
            {"properties", json::object{{"text", json::object{{"type", "string"},
                                                              {"description", "What to echo"}}}}},
            {"required", json::array{"text"}}};
        t.annotations = json::object{{"readOnlyHint", true}, {"idempotentHint", true}};
        srv.add_tool(std::move(t), [](context&, json::object args) -> asio::awaitable<tool_result> {
            auto const* text = args.if_contains("text");
            if (text == nullptr || !text->is_string())
                co_return tool_result::error("argument \"text\": expected a string");
            co_return tool_result::text(std::string(text->get_string()));
        });
    }
    {
        server::tool t;
        t.name = "add";
        t.title = "Add";
        t.description = "Adds two numbers; the sum is also returned as structured content";
        json::object num{{"type", "number"}};
        t.input_schema = json::object{{"type", "object"},
                                      {"properties", json::object{{"a", num}, {"b", num}}},
                                      {"required", json::array{"a", "b"}}};
        t.output_schema = json::object{{"type", "object"},
                                       {"properties", json::object{{"sum", num}}},
                                       {"required", json::array{"sum"}}};
        t.annotations = json::object{{"readOnlyHint", true}};
        srv.add_tool(std::move(t), [](context&, json::object args) -> asio::awaitable<tool_result> {
            auto number = [&](char const* k) -> std::optional<double> {
                auto const* v = args.if_contains(k);
                if (v == nullptr || !v->is_number())
                    return std::nullopt;
                return v->to_number<double>();
            };
            auto a = number("a"), b = number("b");
            if (!a || !b)
                co_return tool_result::error(!a ? "argument \"a\": expected a number"
                                                : "argument \"b\": expected a number");
            json::object sum{{"sum", *a + *b}};
            auto r = tool_result::text(json::serialize(sum));
            r.structured_content = std::move(sum);
            co_return r;
        });
    }
    {
        server::tool t;
        t.name = "countdown";
        t.title = "Countdown";
        t.description = "Counts down from n (at most 100), one step per interval, reporting "
                        "progress and logging each step; stops when cancelled";
        t.input_schema = json::object{
            {"type", "object"},
            {"properties",
             json::object{
                 {"n", json::object{{"type", "integer"}, {"minimum", 1}, {"maximum", 100}}},
                 {"interval_ms",
                  json::object{
                      {"type", "integer"}, {"minimum", 0}, {"maximum", 10000}, {"default", 100}}}}},
            {"required", json::array{"n"}}};
        srv.add_tool(
            std::move(t), [](context& ctx, json::object args) -> asio::awaitable<tool_result> {
                auto const* n = args.if_contains("n");
                if (n == nullptr || !n->is_int64() || n->get_int64() < 1 || n->get_int64() > 100)
                    co_return tool_result::error(
                        "argument \"n\": expected an integer from 1 to 100");
                std::int64_t interval = 100;
                if (auto const* i = args.if_contains("interval_ms")) {
                    if (!i->is_int64() || i->get_int64() < 0 || i->get_int64() > 10000)
                        co_return tool_result::error(
                            "argument \"interval_ms\": expected an integer from 0 to 10000");
                    interval = i->get_int64();
                }
                auto total = n->get_int64();
                asio::steady_timer timer(ctx.executor());
                for (std::int64_t left = total; left > 0; --left) {
                    ctx.progress(static_cast<double>(total - left), static_cast<double>(total),
                                 std::to_string(left) + " to go");
                    ctx.log("debug", json::object{{"remaining", left}}, "countdown");
                    timer.expires_after(std::chrono::milliseconds(interval));
                    co_await timer.async_wait(asio::use_awaitable); // throws when cancelled
                }
                ctx.progress(static_cast<double>(total), static_cast<double>(total), "done");
                co_return tool_result::text("Liftoff after " + std::to_string(total) + " steps");
            });
    }
    {
        server::tool t;
        t.name = "server_time";
        t.title = "Server time";
        t.description = "The server's clock, as Unix milliseconds and ISO 8601";
        t.input_schema = json::object{{"type", "object"}, {"properties", json::object{}}};
        t.output_schema = json::object{
            {"type", "object"},
            {"properties", json::object{{"unix_ms", json::object{{"type", "integer"}}},
                                        {"iso8601", json::object{{"type", "string"}}}}},
            {"required", json::array{"unix_ms", "iso8601"}}};
        t.annotations = json::object{{"readOnlyHint", true}};
        srv.add_tool(std::move(t), [](context&, json::object) -> asio::awaitable<tool_result> {
            auto ms = unix_time_ms();
            std::time_t secs = static_cast<std::time_t>(ms / 1000);
            std::tm tm{};
            gmtime_r(&secs, &tm);
            char buf[32];
            std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
            json::object out{{"unix_ms", ms}, {"iso8601", buf}};
            auto r = tool_result::text(json::serialize(out));
            r.structured_content = std::move(out);
            co_return r;
        });
    }
}

} // namespace mcpd::app
