// apps/mcpd/demo_tools.cpp — the tools `mcpd serve` offers by default: small, but each shows a
// feature a real tool needs (typed arguments with generated schemas, structured output,
// progress, logging, cancellation).
#include "fixtures.hpp"

#include "mcpd/core/duration.hpp"
#include "mcpd/server/context.hpp"
#include "mcpd/server/typed_tool.hpp"

#include <boost/describe/class.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

namespace mcpd::app {

namespace json = boost::json;
namespace asio = boost::asio;
using server::context;
using server::tool_result;

namespace demo {

struct echo_args {
    std::string text;
};
BOOST_DESCRIBE_STRUCT(echo_args, (), (text))
constexpr auto mcpd_schema_doc(protocol::type_tag<echo_args>) {
    return protocol::document("", "", protocol::field("text", "What to echo"));
}

struct add_args {
    double a = 0;
    double b = 0;
};
BOOST_DESCRIBE_STRUCT(add_args, (), (a, b))
struct sum {
    double sum = 0;
};
BOOST_DESCRIBE_STRUCT(sum, (), (sum))

struct countdown_args {
    int n = 0;
    int interval_ms = 100;
};
BOOST_DESCRIBE_STRUCT(countdown_args, (), (n, interval_ms))
constexpr auto mcpd_schema_doc(protocol::type_tag<countdown_args>) {
    using protocol::field;
    return protocol::document(
        "", "", field("n", "Where to start").range(1, 100),
        field("interval_ms", "Milliseconds per step").range(0, 10000).defaulted());
}

struct no_args {};
BOOST_DESCRIBE_STRUCT(no_args, (), ())
struct clock_reading {
    std::int64_t unix_ms = 0;
    std::string iso8601;
};
BOOST_DESCRIBE_STRUCT(clock_reading, (), (unix_ms, iso8601))

} // namespace demo

void add_demo_tools(server::server& srv) {
    server::add_tool<demo::echo_args>(
        srv,
        {.name = "echo",
         .title = "Echo",
         .description = "Returns its text argument unchanged",
         .annotations = json::object{{"readOnlyHint", true}, {"idempotentHint", true}}},
        [](context&, demo::echo_args a) -> asio::awaitable<std::string> { co_return a.text; });

    server::add_tool<demo::add_args>(
        srv,
        {.name = "add",
         .title = "Add",
         .description = "Adds two numbers; the sum is also returned as structured content",
         .annotations = json::object{{"readOnlyHint", true}}},
        [](context&, demo::add_args a) -> asio::awaitable<demo::sum> {
            co_return demo::sum{a.a + a.b};
        });

    server::add_tool<demo::countdown_args>(
        srv,
        {.name = "countdown",
         .title = "Countdown",
         .description = "Counts down from n, one step per interval, reporting progress and "
                        "logging each step; stops when cancelled"},
        [](context& ctx, demo::countdown_args a) -> asio::awaitable<std::string> {
            asio::steady_timer timer(ctx.executor());
            for (int left = a.n; left > 0; --left) {
                ctx.progress(a.n - left, a.n, std::to_string(left) + " to go");
                ctx.log("debug", json::object{{"remaining", left}}, "countdown");
                timer.expires_after(std::chrono::milliseconds(a.interval_ms));
                co_await timer.async_wait(asio::use_awaitable); // throws when cancelled
            }
            ctx.progress(a.n, a.n, "done");
            co_return "Liftoff after " + std::to_string(a.n) + " steps";
        });

    server::add_tool<demo::no_args>(
        srv,
        {.name = "server_time",
         .title = "Server time",
         .description = "The server's clock, as Unix milliseconds and ISO 8601",
         .annotations = json::object{{"readOnlyHint", true}}},
        [](context&, demo::no_args) -> asio::awaitable<demo::clock_reading> {
            auto ms = unix_time_ms();
            auto secs = static_cast<std::time_t>(ms / 1000);
            std::tm tm{};
            gmtime_r(&secs, &tm);
            char buf[32];
            std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
            co_return demo::clock_reading{ms, buf};
        });
}

} // namespace mcpd::app
