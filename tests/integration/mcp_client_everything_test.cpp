// tests/integration/mcp_client_everything_test.cpp — the MCP client (src/client/) against
// @modelcontextprotocol/server-everything, the MCP project's reference server that exercises
// every protocol feature (everything_server.mjs), over Streamable HTTP and over HTTP+SSE: tools
// with pagination-free listing, structured output, progress, elicitation, sampling and roots
// answered by our handlers, resources and templates, prompts with arguments, logging level.
#include "async_test.hpp"
#include "mcp_client_util.hpp"
#include "ts_mcp_server.hpp"

#include "mcpd/client/session.hpp"

#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <algorithm>

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using mcpd::test::run_async;
using mcpd::test::text_of;
using mcpd::test::ts_mcp_server;
namespace client = mcpd::client;

struct wire {
    char const* name;
    char const* transport; // everything_server.mjs's argument
    char const* path;
    client::transport_choice choice;
    client::transport_kind expected;
    friend void PrintTo(wire const& w, std::ostream* os) { *os << w.name; }
};

class everything_server : public ::testing::TestWithParam<wire> {};

bool has_tool(std::vector<json::object> const& tools, std::string_view name) {
    return std::any_of(tools.begin(), tools.end(), [&](json::object const& t) {
        auto const* n = t.if_contains("name");
        return n != nullptr && n->is_string() && n->get_string() == name;
    });
}

TEST_P(everything_server, every_protocol_item_our_client_offers) {
    ts_mcp_server server({.script = MCPD_EVERYTHING_SERVER_SCRIPT, .args = {GetParam().transport}});
    run_async([&]() -> asio::awaitable<void> {
        auto opts = mcpd::test::client_test_options("mcpd-client-everything-test");
        opts.transport = GetParam().choice;
        std::vector<std::string> asked;
        opts.on.elicitation = [&](json::object p) -> asio::awaitable<mcpd::result<json::value>> {
            asked.emplace_back(p.at("message").as_string());
            json::object content{{"name", "Ada Lovelace"}, {"check", true}};
            co_return json::value(
                json::object{{"action", "accept"}, {"content", std::move(content)}});
        };
        opts.on.sampling = [&](json::object) -> asio::awaitable<mcpd::result<json::value>> {
            json::object content{{"type", "text"}, {"text", "bonjour from mcpd"}};
            co_return json::value(json::object{
                {"role", "assistant"}, {"content", std::move(content)}, {"model", "test-model"}});
        };
        opts.on.roots = [&](json::object) -> asio::awaitable<mcpd::result<json::value>> {
            json::array roots;
            roots.push_back(json::object{{"uri", "file:///srv/a"}, {"name", "first"}});
            co_return json::value(json::object{{"roots", std::move(roots)}});
        };
        auto url = server.base_url() + GetParam().path;
        auto s = co_await client::session::connect(url, opts);
        CO_ASSERT(s.has_value());
        EXPECT_EQ(s->transport(), GetParam().expected);
        EXPECT_EQ(s->protocol_version(), "2025-11-25");
        EXPECT_TRUE(co_await s->ping());

        auto tools = co_await s->list(client::listing_kind::tools);
        CO_ASSERT(tools.has_value());
        for (auto name :
             {"echo", "get-sum", "trigger-long-running-operation", "trigger-elicitation-request",
              "trigger-sampling-request", "get-roots-list"})
            EXPECT_TRUE(has_tool(*tools, name)) << name << " missing (capabilities not seen?)";

        json::object echo_args{{"message", "hello everything"}};
        auto echoed = co_await s->call_tool("echo", echo_args);
        CO_ASSERT(echoed.has_value());
        EXPECT_EQ(text_of(*echoed), "Echo: hello everything");
        json::object sum_args{{"a", 20}, {"b", 22}};
        auto sum = co_await s->call_tool("get-sum", sum_args);
        CO_ASSERT(sum.has_value());
        EXPECT_EQ(text_of(*sum), "The sum of 20 and 22 is 42.");
        json::object bad_sum{{"a", "twenty"}, {"b", 22}};
        auto refused = co_await s->call_tool("get-sum", bad_sum);
        // The SDK answers a schema violation as a tool error or as invalid params.
        EXPECT_TRUE(!refused.has_value() || refused->contains("isError"));

        std::vector<double> progress;
        client::request_options ro;
        ro.on_progress = [&](client::progress const& p) { progress.push_back(p.value); };
        json::object long_args{{"duration", 1}, {"steps", 4}};
        auto done = co_await s->call_tool("trigger-long-running-operation", long_args, ro);
        CO_ASSERT(done.has_value());
        EXPECT_EQ(text_of(*done),
                  "Long running operation completed. Duration: 1 seconds, Steps: 4.");
        EXPECT_EQ(progress, (std::vector<double>{1, 2, 3, 4}));

        auto elicited = co_await s->call_tool("trigger-elicitation-request");
        CO_ASSERT(elicited.has_value());
        EXPECT_EQ(asked,
                  (std::vector<std::string>{"Please provide inputs for the following fields:"}));
        EXPECT_NE(json::serialize(*elicited).find("Ada Lovelace"), std::string::npos)
            << json::serialize(*elicited);
        json::object sample_args{{"prompt", "Say hello in French"}};
        auto sampled = co_await s->call_tool("trigger-sampling-request", sample_args);
        CO_ASSERT(sampled.has_value());
        EXPECT_NE(text_of(*sampled).find("bonjour from mcpd"), std::string::npos)
            << text_of(*sampled);
        auto roots = co_await s->call_tool("get-roots-list");
        CO_ASSERT(roots.has_value());
        EXPECT_NE(text_of(*roots).find("URI: file:///srv/a"), std::string::npos) << text_of(*roots);

        auto templates = co_await s->list(client::listing_kind::resource_templates);
        CO_ASSERT(templates.has_value());
        CO_ASSERT(!templates->empty());
        auto read = co_await s->read_resource("demo://resource/dynamic/text/7");
        CO_ASSERT(read.has_value());
        auto text = std::string(read->at("contents").at(0).at("text").as_string());
        EXPECT_TRUE(text.starts_with("Resource 7: This is a plaintext resource")) << text;
        auto resources = co_await s->list(client::listing_kind::resources);
        CO_ASSERT(resources.has_value());

        auto prompts = co_await s->list(client::listing_kind::prompts);
        CO_ASSERT(prompts.has_value());
        json::object where{{"city", "Paris"}};
        auto prompt = co_await s->get_prompt("args-prompt", where);
        CO_ASSERT(prompt.has_value());
        EXPECT_EQ(prompt->at("messages").at(0).at("content").at("text"),
                  json::value("What's weather in Paris?"));
        EXPECT_TRUE(co_await s->set_logging_level("debug"));
        co_await s->close();
        EXPECT_FALSE(s->is_open());
    });
}

INSTANTIATE_TEST_SUITE_P(reference, everything_server,
                         ::testing::Values(wire{"streamable_http", "streamableHttp", "/mcp",
                                                client::transport_choice::automatic,
                                                client::transport_kind::streamable_http},
                                           wire{"sse", "sse", "/sse", client::transport_choice::sse,
                                                client::transport_kind::sse}),
                         [](auto const& param_info) { return std::string(param_info.param.name); });

} // namespace
