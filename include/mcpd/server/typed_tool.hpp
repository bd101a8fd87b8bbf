// server/typed_tool.hpp — tools whose arguments (and results) are C++ structs.
//
//     struct add_args { double a = 0; double b = 0; };
//     BOOST_DESCRIBE_STRUCT(add_args, (), (a, b))
//     struct sum { double value = 0; };
//     BOOST_DESCRIBE_STRUCT(sum, (), (value))
//
//     mcpd::server::add_tool<add_args>(srv, {.name = "add", .description = "Adds two numbers"},
//         [](mcpd::server::context&, add_args a) -> boost::asio::awaitable<sum> {
//             co_return sum{a.a + a.b};
//         });
//
// What it does for you, in order:
// - inputSchema is generated from the argument struct (protocol/schema.hpp: names, types,
//   optional members, vectors, nested structs, enums, descriptions), unless the tool sets one;
// - each call's arguments are validated and converted before the handler runs; a bad argument
//   is a tool error (`isError: true`) whose text names every bad field, and the handler is not
//   called;
// - a handler that returns a described struct gets an outputSchema generated from it, and its
//   value becomes structuredContent (plus its JSON as text content, for clients older than
//   2025-06-18). A handler may also return std::string (text content) or tool_result (raw).
// Handler exceptions behave as for any tool (server.hpp): a tool error, or a JSON-RPC error for
// protocol_error.
#pragma once

#include "mcpd/protocol/schema.hpp"
#include "mcpd/server/context.hpp"
#include "mcpd/server/server.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <string>
#include <type_traits>

namespace mcpd::server {

namespace detail {
template <class A>
struct awaited;
template <class T>
struct awaited<boost::asio::awaitable<T>> {
    using type = T;
};
} // namespace detail

template <class Args, class Handler>
void add_tool(server& srv, tool t, Handler handler) {
    static_assert(protocol::described_struct<Args>,
                  "a typed tool's arguments are a struct described with BOOST_DESCRIBE_STRUCT");
    using returned = std::invoke_result_t<Handler&, context&, Args>;
    using R = typename detail::awaited<returned>::type;
    static_assert(std::is_same_v<R, tool_result> || std::is_convertible_v<R, std::string> ||
                      protocol::described_struct<R>,
                  "a typed tool returns awaitable<R>, R a described struct, std::string or "
                  "tool_result");
    if (t.input_schema.empty())
        t.input_schema = protocol::json_schema_for<Args>();
    if constexpr (protocol::described_struct<R>)
        if (t.output_schema.empty())
            t.output_schema = protocol::json_schema_for<R>();
    auto raw = [h = std::move(handler)](
                   context& ctx,
                   boost::json::object arguments) -> boost::asio::awaitable<tool_result> {
        boost::json::value v(std::move(arguments));
        auto parsed = protocol::from_json<Args>(v);
        if (!parsed)
            co_return tool_result::error("Invalid arguments: " + parsed.error().detail);
        if constexpr (std::is_same_v<R, tool_result>) {
            co_return co_await h(ctx, std::move(*parsed));
        } else if constexpr (protocol::described_struct<R>) {
            R r = co_await h(ctx, std::move(*parsed));
            auto structured = protocol::to_json(r);
            auto out = tool_result::text(boost::json::serialize(structured));
            out.structured_content = std::move(structured);
            co_return out;
        } else {
            R r = co_await h(ctx, std::move(*parsed));
            co_return tool_result::text(std::string(std::move(r)));
        }
    };
    srv.add_tool(std::move(t), std::move(raw));
}

} // namespace mcpd::server
