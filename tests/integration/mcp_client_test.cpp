// tests/integration/mcp_client_test.cpp — the MCP client (src/client/) against a real
// `mcpd serve --conformance`, over every wire it speaks: Streamable HTTP answering with SSE
// streams and with JSON (--json-response), HTTP+SSE chosen explicitly, and HTTP+SSE reached by
// the fallback (POST to /sse is refused with 405). Every protocol item runs on each wire; then
// what only some wires have: resumption after a cut connection (a tcp_proxy between client and
// server), the transport choice, and a server that goes away (killed, or frozen).
#include "async_test.hpp"
#include "mcp_client_util.hpp"
#include "mcpd_process.hpp"
#include "tcp_proxy.hpp"

#include "http/client.hpp"
#include "mcpd/client/session.hpp"
#include "mcpd/protocol/version.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <csignal>
#include <set>

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using mcpd::test::mcpd_process;
using mcpd::test::run_async;
using mcpd::test::sleep_for;
using mcpd::test::tcp_proxy;
namespace client = mcpd::client;
using client::errc;

std::string url_for(std::uint16_t port, std::string_view path) {
    return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
}

client::session_options base_options() {
    return mcpd::test::client_test_options("mcpd-client-test");
}
using mcpd::test::eventually;
using mcpd::test::text_of;

// ---------------------------------------------------------------------------------------------
// Every protocol item, on every wire.

struct wire {
    char const* name;
    std::vector<std::string> serve_args;
    char const* path;
    client::transport_choice choice;
    client::transport_kind expected;
    // gtest prints a parameter in test listings; the name says it all, the bytes say nothing.
    friend void PrintTo(wire const& w, std::ostream* os) { *os << w.name; }
};

class over_every_wire : public ::testing::TestWithParam<wire> {
protected:
    // mcpd with small pages, so that lists need several requests.
    mcpd_process::options serve_options() const {
        mcpd_process::options o;
        o.args = GetParam().serve_args;
        o.args.insert(o.args.end(), {"--page-size", "4"});
        return o;
    }
    client::session_options options() const {
        auto o = base_options();
        o.transport = GetParam().choice;
        return o;
    }
    std::string url(std::uint16_t port) const { return url_for(port, GetParam().path); }
};

TEST_P(over_every_wire, initializes_and_says_which_transport_worked) {
    mcpd_process server(serve_options());
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await client::session::connect(url(server.port()), options());
        CO_ASSERT(s.has_value());
        EXPECT_TRUE(s->is_open());
        EXPECT_EQ(s->transport(), GetParam().expected);
        EXPECT_EQ(s->protocol_version(), mcpd::protocol::v2025_11_25);
        EXPECT_EQ(s->server_info().at("name"), json::value("mcpd"));
        EXPECT_TRUE(s->server_capabilities().contains("tools"));
        EXPECT_FALSE(s->session_id().empty());
        EXPECT_TRUE(co_await s->ping());
        co_await s->close();
        EXPECT_FALSE(s->is_open());
    });
}

TEST_P(over_every_wire, lists_every_page) {
    mcpd_process server(serve_options());
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await client::session::connect(url(server.port()), options());
        CO_ASSERT(s.has_value());
        auto first = co_await s->list_page(client::listing_kind::tools);
        CO_ASSERT(first.has_value());
        EXPECT_EQ(first->items.size(), 4u);
        EXPECT_FALSE(first->next_cursor.empty());

        auto tools = co_await s->list(client::listing_kind::tools);
        CO_ASSERT(tools.has_value());
        std::set<std::string> names;
        for (auto const& t : *tools)
            names.insert(std::string(t.at("name").as_string()));
        EXPECT_EQ(names.size(), tools->size()) << "no tool twice";
        EXPECT_GT(tools->size(), 12u) << "more than three pages";
        for (auto const* want : {"echo", "add", "countdown", "test_simple_text", "test_sampling",
                                 "test_elicitation", "test_tool_with_progress"})
            EXPECT_TRUE(names.contains(want)) << want;

        auto resources = co_await s->list(client::listing_kind::resources);
        CO_ASSERT(resources.has_value());
        EXPECT_GE(resources->size(), 3u);
        auto templates = co_await s->list(client::listing_kind::resource_templates);
        CO_ASSERT(templates.has_value());
        CO_ASSERT(!templates->empty());
        EXPECT_EQ(templates->front().at("uriTemplate"), "test://template/{id}/data");
        auto prompts = co_await s->list(client::listing_kind::prompts);
        CO_ASSERT(prompts.has_value());
        bool found = false;
        for (auto const& p : *prompts)
            found = found || p.at("name") == json::value("test_prompt_with_arguments");
        EXPECT_TRUE(found);
        co_await s->close();
    });
}

TEST_P(over_every_wire, calls_tools) {
    mcpd_process server(serve_options());
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await client::session::connect(url(server.port()), options());
        CO_ASSERT(s.has_value());
        json::object echo_args{{"text", "hello, mcpd"}};
        auto echoed = co_await s->call_tool("echo", echo_args);
        CO_ASSERT(echoed.has_value());
        EXPECT_EQ(text_of(*echoed), "hello, mcpd");

        json::object add_args{{"a", 2}, {"b", 3}};
        auto sum = co_await s->call_tool("add", add_args);
        CO_ASSERT(sum.has_value());
        EXPECT_EQ(json::serialize(sum->at("structuredContent")), R"({"sum":5})");

        // A tool's own failure is a result with isError; a bad call is a JSON-RPC error.
        auto failing = co_await s->call_tool("test_error_handling");
        CO_ASSERT(failing.has_value());
        EXPECT_EQ(failing->at("isError"), json::value(true));
        auto unknown = co_await s->call_tool("no_such_tool");
        CO_ASSERT(!unknown.has_value());
        EXPECT_EQ(client::rpc_code_of(unknown.error()), -32602) << unknown.error().message();
        EXPECT_NE(unknown.error().message().find("no_such_tool"), std::string::npos)
            << unknown.error().message();
        co_await s->close();
    });
}

TEST_P(over_every_wire, reads_resources_and_gets_prompts) {
    mcpd_process server(serve_options());
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await client::session::connect(url(server.port()), options());
        CO_ASSERT(s.has_value());
        auto text = co_await s->read_resource("test://static-text");
        CO_ASSERT(text.has_value());
        EXPECT_EQ(text->at("contents").at(0).at("text"),
                  "This is the content of the static text resource.");
        auto templated = co_await s->read_resource("test://template/42/data");
        CO_ASSERT(templated.has_value());
        EXPECT_NE(json::serialize(templated->at("contents")).find("Data for ID: 42"),
                  std::string::npos);
        auto missing = co_await s->read_resource("test://nothing-here");
        CO_ASSERT(!missing.has_value());
        EXPECT_EQ(client::rpc_code_of(missing.error()), -32002) << missing.error().message();

        EXPECT_TRUE(co_await s->subscribe_resource("test://watched-resource"));
        EXPECT_TRUE(co_await s->unsubscribe_resource("test://watched-resource"));

        json::object prompt_args{{"arg1", "alpha"}, {"arg2", "beta"}};
        auto prompt = co_await s->get_prompt("test_prompt_with_arguments", prompt_args);
        CO_ASSERT(prompt.has_value());
        auto messages = json::serialize(prompt->at("messages"));
        EXPECT_NE(messages.find("alpha"), std::string::npos) << messages;
        EXPECT_NE(messages.find("beta"), std::string::npos) << messages;
        co_await s->close();
    });
}

TEST_P(over_every_wire, reports_progress_and_logs) {
    mcpd_process server(serve_options());
    run_async([&]() -> asio::awaitable<void> {
        auto opts = options();
        std::vector<client::log_message> logs;
        opts.on.on_log = [&](client::log_message const& m) { logs.push_back(m); };
        auto s = co_await client::session::connect(url(server.port()), opts);
        CO_ASSERT(s.has_value());

        std::vector<client::progress> seen;
        client::request_options ro;
        ro.on_progress = [&](client::progress const& p) { seen.push_back(p); };
        json::object none;
        auto r = co_await s->call_tool("test_tool_with_progress", none, ro);
        CO_ASSERT(r.has_value());
        CO_ASSERT(seen.size() == 3u);
        for (std::size_t i = 0; i < 3; ++i) {
            EXPECT_EQ(seen[i].value, 50.0 * static_cast<double>(i));
            EXPECT_EQ(seen[i].total, 100.0);
        }
        EXPECT_EQ(seen[2].message, "Completed step 100 of 100");
        // The tool answers with the progress token it got: ours is the request id.
        EXPECT_FALSE(text_of(*r).empty());
        EXPECT_NE(text_of(*r), "no progress token");

        // Logs go before the answer, on the same stream: all there once the call returns.
        EXPECT_TRUE(co_await s->set_logging_level("debug"));
        json::object countdown{{"n", 3}, {"interval_ms", 10}};
        auto done = co_await s->call_tool("countdown", countdown);
        CO_ASSERT(done.has_value());
        EXPECT_EQ(text_of(*done), "Liftoff after 3 steps");
        std::vector<std::int64_t> remaining;
        for (auto const& l : logs)
            if (l.logger == "countdown") {
                EXPECT_EQ(l.level, "debug");
                remaining.push_back(l.data.at("remaining").as_int64());
            }
        EXPECT_EQ(remaining, (std::vector<std::int64_t>{3, 2, 1}));
        co_await s->close();
    });
}

TEST_P(over_every_wire, answers_elicitation_sampling_and_roots) {
    mcpd_process server(serve_options());
    run_async([&]() -> asio::awaitable<void> {
        auto opts = options();
        std::vector<json::object> asked;
        opts.on.elicitation =
            [&](json::object params) -> asio::awaitable<mcpd::result<json::value>> {
            asked.push_back(params);
            co_return json::value(json::object{{"action", "accept"},
                                               {"content", json::object{{"response", "blue-42"}}}});
        };
        opts.on.sampling = [&](json::object params) -> asio::awaitable<mcpd::result<json::value>> {
            asked.push_back(params);
            json::object content{{"type", "text"}, {"text", "Paris"}};
            co_return json::value(json::object{{"role", "assistant"},
                                               {"content", std::move(content)},
                                               {"model", "test-model"},
                                               {"stopReason", "endTurn"}});
        };
        opts.on.roots = [&](json::object) -> asio::awaitable<mcpd::result<json::value>> {
            json::array roots;
            roots.push_back(json::object{{"uri", "file:///work"}, {"name", "work"}});
            roots.push_back(json::object{{"uri", "file:///tmp"}, {"name", "tmp"}});
            co_return json::value(json::object{{"roots", std::move(roots)}});
        };
        auto s = co_await client::session::connect(url(server.port()), opts);
        CO_ASSERT(s.has_value());

        json::object elicit_args{{"message", "Pick a colour"}};
        auto e = co_await s->call_tool("test_elicitation", elicit_args);
        CO_ASSERT(e.has_value());
        EXPECT_EQ(text_of(*e), R"(User response: action=accept, content={"response":"blue-42"})");
        CO_ASSERT(asked.size() == 1u);
        EXPECT_EQ(asked[0].at("message"), "Pick a colour");

        json::object sampling_args{{"prompt", "Capital of France?"}};
        auto m = co_await s->call_tool("test_sampling", sampling_args);
        CO_ASSERT(m.has_value());
        EXPECT_EQ(text_of(*m), "LLM response: Paris");
        CO_ASSERT(asked.size() == 2u);
        EXPECT_NE(json::serialize(asked[1]).find("Capital of France?"), std::string::npos);

        auto roots = co_await s->call_tool("test_input_required_result_list_roots");
        CO_ASSERT(roots.has_value());
        EXPECT_EQ(text_of(*roots), "Found 2 root(s)");
        co_await s->close();
    });
}

TEST_P(over_every_wire, without_a_handler_the_capability_is_not_declared) {
    mcpd_process server(serve_options());
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await client::session::connect(url(server.port()), options());
        CO_ASSERT(s.has_value());
        json::object elicit_args{{"message", "anyone?"}};
        auto e = co_await s->call_tool("test_elicitation", elicit_args);
        CO_ASSERT(e.has_value());
        EXPECT_EQ(text_of(*e).rfind("Elicitation not supported or error", 0), 0u) << text_of(*e);
        // Asked anyway (the MRTR fixture does not check): "method not found" goes back.
        auto roots = co_await s->call_tool("test_input_required_result_list_roots");
        CO_ASSERT(roots.has_value());
        EXPECT_EQ(roots->at("isError"), json::value(true));
        EXPECT_NE(text_of(*roots).find("Method not found: roots/list"), std::string::npos)
            << text_of(*roots);
        co_await s->close();
    });
}

TEST_P(over_every_wire, hears_notifications_that_belong_to_no_request) {
    mcpd_process server(serve_options());
    run_async([&]() -> asio::awaitable<void> {
        auto opts = options();
        std::vector<std::string> updated;
        opts.on.on_notification = [&](std::string const& method, json::object const& params) {
            if (method == "notifications/resources/updated")
                updated.emplace_back(params.at("uri").as_string());
        };
        auto s = co_await client::session::connect(url(server.port()), opts);
        CO_ASSERT(s.has_value());
        CO_ASSERT(co_await s->subscribe_resource("test://watched/1"));
        // The GET stream may still be on its way: touch until the notification arrives.
        json::object touch{{"uri", "test://watched/1"}};
        auto arrived = [&] { return !updated.empty(); };
        for (int i = 0; i < 100 && updated.empty(); ++i) {
            CO_ASSERT(co_await s->call_tool("test_notify_resource_updated", touch));
            co_await eventually(arrived, 100ms);
        }
        CO_ASSERT(!updated.empty());
        EXPECT_EQ(updated.front(), "test://watched/1");
        co_await s->close();
    });
}

TEST_P(over_every_wire, cancels_a_call_and_the_server_stops_it) {
    mcpd_process server(serve_options());
    run_async([&]() -> asio::awaitable<void> {
        // Through a proxy, to see the notification go out and the server take it.
        tcp_proxy proxy(co_await asio::this_coro::executor, server.port());
        auto s = co_await client::session::connect(url(proxy.port()), options());
        CO_ASSERT(s.has_value());

        asio::cancellation_signal cancel;
        int steps = 0;
        client::request_options ro;
        ro.on_progress = [&](client::progress const&) {
            if (++steps == 3)
                cancel.emit(asio::cancellation_type::terminal);
        };
        std::optional<mcpd::result<json::object>> outcome;
        // 100 steps of 100 ms: ten seconds if it ran to the end.
        json::object args{{"n", 100}, {"interval_ms", 100}};
        auto call = [&]() -> asio::awaitable<void> {
            outcome = co_await s->call_tool("countdown", args, ro);
        };
        asio::co_spawn(co_await asio::this_coro::executor, std::move(call),
                       asio::bind_cancellation_slot(cancel.slot(), asio::detached));
        auto finished = [&] { return outcome.has_value(); };
        CO_ASSERT(co_await eventually(finished));
        CO_ASSERT(!outcome->has_value());
        EXPECT_EQ(outcome->error(), errc::cancelled) << outcome->error().message();
        EXPECT_EQ(steps, 3);

        // The server heard it (202), and the session goes on.
        auto heard = [&] { return proxy.answered("notifications/cancelled", " 202 "); };
        CO_ASSERT(co_await eventually(heard));
        EXPECT_NE(proxy.upstream().find(R"("reason":"cancelled by the client")"),
                  std::string::npos);
        EXPECT_TRUE(co_await s->ping());
        co_await s->close();
    });
    // Nothing is left running on the server: its drain (1 s) has nothing to wait for.
    EXPECT_EQ(server.stop(), 0);
    EXPECT_EQ(server.log().find("still in flight"), std::string::npos) << server.log();
}

TEST_P(over_every_wire, times_out_and_tells_the_server) {
    mcpd_process server(serve_options());
    run_async([&]() -> asio::awaitable<void> {
        tcp_proxy proxy(co_await asio::this_coro::executor, server.port());
        auto s = co_await client::session::connect(url(proxy.port()), options());
        CO_ASSERT(s.has_value());
        client::request_options ro;
        ro.timeout = 300ms;
        json::object args{{"n", 100}, {"interval_ms", 100}};
        auto r = co_await s->call_tool("countdown", args, ro);
        CO_ASSERT(!r.has_value());
        EXPECT_EQ(r.error(), errc::timeout) << r.error().message();
        EXPECT_NE(r.error().message().find("tools/call got no answer within 300ms"),
                  std::string::npos)
            << r.error().message();
        auto heard = [&] { return proxy.answered("\"reason\":\"timed out\"", " 202 "); };
        CO_ASSERT(co_await eventually(heard));

        // Progress can keep a request alive: 30 steps of 50 ms under a 1 s timeout…
        client::request_options patient;
        patient.timeout = 1s;
        patient.reset_timeout_on_progress = true;
        patient.on_progress = [](client::progress const&) {};
        json::object longer{{"n", 30}, {"interval_ms", 50}};
        auto kept = co_await s->call_tool("countdown", longer, patient);
        CO_ASSERT(kept.has_value());
        EXPECT_EQ(text_of(*kept), "Liftoff after 30 steps");
        // …but not beyond its total limit.
        patient.max_total_timeout = 500ms;
        auto capped = co_await s->call_tool("countdown", longer, patient);
        CO_ASSERT(!capped.has_value());
        EXPECT_EQ(capped.error(), errc::timeout);
        co_await s->close();
    });
    EXPECT_EQ(server.stop(), 0);
    EXPECT_EQ(server.log().find("still in flight"), std::string::npos) << server.log();
}

TEST_P(over_every_wire, close_ends_the_session_on_both_sides) {
    mcpd_process server(serve_options());
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await client::session::connect(url(server.port()), options());
        CO_ASSERT(s.has_value());
        auto id = s->session_id();
        co_await s->close();
        auto after = co_await s->ping();
        CO_ASSERT(!after.has_value());
        EXPECT_EQ(after.error(), errc::not_connected);
        if (GetParam().expected != client::transport_kind::streamable_http)
            co_return;
        // The server forgot the session (DELETE): a request naming it gets 404.
        // Not `http(co_await …)`: GCC 12 destroys the default options argument twice when the
        // same expression suspends (docs/rough_edges.md).
        auto ex = co_await asio::this_coro::executor;
        mcpd::http::client http(ex);
        auto target = mcpd::http::parse_url(url(server.port()));
        CO_ASSERT(target.has_value());
        mcpd::http::beast_request req{boost::beast::http::verb::post, "/mcp", 11};
        req.set("Mcp-Session-Id", id);
        req.set("Content-Type", "application/json");
        req.set("Accept", "application/json, text/event-stream");
        req.body() = R"({"jsonrpc":"2.0","id":1,"method":"ping"})";
        auto res = co_await http.fetch(*target, std::move(req));
        CO_ASSERT(res.has_value());
        EXPECT_EQ(res->result_int(), 404u) << res->body();
    });
}

INSTANTIATE_TEST_SUITE_P(
    mcpd, over_every_wire,
    ::testing::Values(
        wire{"streamable_http_sse",
             {},
             "/mcp",
             client::transport_choice::automatic,
             client::transport_kind::streamable_http},
        wire{"streamable_http_json",
             {"--json-response"},
             "/mcp",
             client::transport_choice::streamable_http,
             client::transport_kind::streamable_http},
        wire{"legacy_sse", {}, "/sse", client::transport_choice::sse, client::transport_kind::sse},
        wire{"fallback_to_sse",
             {},
             "/sse",
             client::transport_choice::automatic,
             client::transport_kind::sse}),
    [](auto const& wire_info) { return std::string(wire_info.param.name); });

// ---------------------------------------------------------------------------------------------
// Choosing the transport

TEST(mcp_client_transport, neither_transport_at_a_url_says_what_each_answered) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        // POST /messages without a session: 404; GET /messages: 405.
        auto s =
            co_await client::session::connect(url_for(server.port(), "/messages"), base_options());
        CO_ASSERT(!s.has_value());
        EXPECT_EQ(s.error(), errc::transport_unavailable);
        auto text = s.error().message();
        EXPECT_NE(text.find("Streamable HTTP: POST"), std::string::npos) << text;
        EXPECT_NE(text.find("404"), std::string::npos) << text;
        EXPECT_NE(text.find("HTTP+SSE: GET"), std::string::npos) << text;
        EXPECT_NE(text.find("405"), std::string::npos) << text;
    });
}

TEST(mcp_client_transport, streamable_http_only_does_not_fall_back) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        auto opts = base_options();
        opts.transport = client::transport_choice::streamable_http;
        auto s = co_await client::session::connect(url_for(server.port(), "/sse"), opts);
        CO_ASSERT(!s.has_value());
        EXPECT_EQ(mcpd::http::status_of(s.error()), 405u) << s.error().message();
    });
}

TEST(mcp_client_transport, negotiates_an_older_revision_and_refuses_a_newer_one) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        auto opts = base_options();
        opts.protocol_version = "2025-03-26";
        auto old = co_await client::session::connect(url_for(server.port(), "/mcp"), opts);
        CO_ASSERT(old.has_value());
        EXPECT_EQ(old->protocol_version(), "2025-03-26");
        json::object echo_args{{"text", "old but fine"}};
        auto r = co_await old->call_tool("echo", echo_args);
        CO_ASSERT(r.has_value());
        EXPECT_EQ(text_of(*r), "old but fine");
        co_await old->close();

        // Offering a revision mcpd does not know: it answers with its own latest, newer than
        // what was offered, which the client must refuse.
        opts.protocol_version = "2024-10-01";
        auto odd = co_await client::session::connect(url_for(server.port(), "/mcp"), opts);
        CO_ASSERT(!odd.has_value());
        EXPECT_EQ(odd.error(), errc::unsupported_protocol_version) << odd.error().message();
    });
}

TEST(mcp_client_transport, a_closed_port_fails_at_once) {
    std::uint16_t port = 0;
    {
        mcpd_process server({});
        port = server.port();
    }
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await client::session::connect(url_for(port, "/mcp"), base_options());
        CO_ASSERT(!s.has_value());
        EXPECT_EQ(s.error(), asio::error::connection_refused) << s.error().message();
        EXPECT_NE(s.error().message().find("connecting to 127.0.0.1:"), std::string::npos)
            << s.error().message();
    });
}

// ---------------------------------------------------------------------------------------------
// Resumption: a cut connection loses nothing.

TEST(mcp_client_resumption, a_cut_post_stream_resumes_with_last_event_id) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        tcp_proxy proxy(co_await asio::this_coro::executor, server.port());
        auto opts = base_options();
        opts.open_get_stream = false; // only the POST stream goes through the cut
        auto s = co_await client::session::connect(url_for(proxy.port(), "/mcp"), opts);
        CO_ASSERT(s.has_value());
        // The connection dies just before the client sees "5 to go".
        proxy.cut_when_downstream_has("5 to go");
        std::vector<std::string> messages;
        client::request_options ro;
        ro.on_progress = [&](client::progress const& p) { messages.push_back(p.message); };
        json::object args{{"n", 8}, {"interval_ms", 50}};
        auto r = co_await s->call_tool("countdown", args, ro);
        CO_ASSERT(r.has_value());
        EXPECT_EQ(text_of(*r), "Liftoff after 8 steps");
        EXPECT_EQ(proxy.cuts(), 1);
        EXPECT_EQ(messages,
                  (std::vector<std::string>{"8 to go", "7 to go", "6 to go", "5 to go", "4 to go",
                                            "3 to go", "2 to go", "1 to go", "done"}));
        EXPECT_NE(proxy.upstream().find("Last-Event-ID: "), std::string::npos);
        co_await s->close();
    });
}

TEST(mcp_client_resumption, a_cut_get_stream_resumes_and_loses_no_notification) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        tcp_proxy proxy(co_await asio::this_coro::executor, server.port());
        auto opts = base_options();
        std::vector<std::string> updated;
        opts.on.on_notification = [&](std::string const& method, json::object const& params) {
            if (method == "notifications/resources/updated")
                updated.emplace_back(params.at("uri").as_string());
        };
        auto s = co_await client::session::connect(url_for(proxy.port(), "/mcp"), opts);
        CO_ASSERT(s.has_value());
        // The GET stream is open once mcpd answered it (its first event is the priming one).
        auto get_open = [&] { return proxy.answered("GET /mcp", "text/event-stream"); };
        CO_ASSERT(co_await eventually(get_open));
        for (auto const* uri : {"test://watched/1", "test://watched/2", "test://watched/3"})
            CO_ASSERT(co_await s->subscribe_resource(uri));
        // The notification's method name travels on the GET stream only (the tool's answer
        // names the URI too).
        proxy.cut_when_downstream_has("notifications/resources/updated");
        for (auto const* uri : {"test://watched/1", "test://watched/2", "test://watched/3"}) {
            json::object touch{{"uri", uri}};
            CO_ASSERT(co_await s->call_tool("test_notify_resource_updated", touch));
        }
        auto all = [&] { return updated.size() >= 3; };
        CO_ASSERT(co_await eventually(all));
        co_await sleep_for(200ms); // a duplicate would come now
        EXPECT_EQ(updated, (std::vector<std::string>{"test://watched/1", "test://watched/2",
                                                     "test://watched/3"}));
        EXPECT_EQ(proxy.cuts(), 1);
        EXPECT_NE(proxy.upstream().find("Last-Event-ID: "), std::string::npos) << proxy.upstream();
        EXPECT_TRUE(s->is_open());
        co_await s->close();
    });
}

TEST(mcp_client_resumption, a_cut_json_answer_fails_the_call_once_and_not_the_session) {
    mcpd_process server({{"--json-response"}});
    run_async([&]() -> asio::awaitable<void> {
        tcp_proxy proxy(co_await asio::this_coro::executor, server.port());
        auto s = co_await client::session::connect(url_for(proxy.port(), "/mcp"), base_options());
        CO_ASSERT(s.has_value());
        // No logs: they would turn the answer into an SSE stream (which could be resumed).
        CO_ASSERT(co_await s->set_logging_level("emergency"));
        // A JSON answer has no event id to resume from: the call fails, and is not sent again
        // (the server did act on it).
        proxy.cut_when_downstream_has("Liftoff");
        json::object args{{"n", 2}, {"interval_ms", 0}};
        auto r = co_await s->call_tool("countdown", args);
        CO_ASSERT(!r.has_value());
        EXPECT_EQ(r.error(), mcpd::http::client_errc::connection_closed) << r.error().message();
        auto upstream = proxy.upstream();
        std::size_t calls = 0;
        for (auto at = upstream.find("\"countdown\""); at != std::string::npos;
             at = upstream.find("\"countdown\"", at + 1))
            ++calls;
        EXPECT_EQ(calls, 1u);
        EXPECT_TRUE(s->is_open());
        auto again = co_await s->call_tool("countdown", args);
        CO_ASSERT(again.has_value());
        EXPECT_EQ(text_of(*again), "Liftoff after 2 steps");
        co_await s->close();
    });
}

// ---------------------------------------------------------------------------------------------
// A server that goes away

TEST(mcp_client_server_gone, a_killed_server_fails_the_call_and_the_session) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        auto opts = base_options();
        std::vector<std::string> failures;
        opts.on.on_failed = [&](mcpd::error const& e) { failures.push_back(e.message()); };
        auto s = co_await client::session::connect(url_for(server.port(), "/mcp"), opts);
        CO_ASSERT(s.has_value());
        int steps = 0;
        client::request_options ro;
        ro.on_progress = [&](client::progress const&) {
            if (++steps == 2)
                ::kill(server.pid(), SIGKILL);
        };
        json::object args{{"n", 100}, {"interval_ms", 50}};
        auto r = co_await s->call_tool("countdown", args, ro);
        CO_ASSERT(!r.has_value());
        EXPECT_EQ(r.error(), errc::connection_lost) << r.error().message();
        // The GET stream cannot come back either: the session fails, once.
        auto failed = [&] { return !failures.empty(); };
        CO_ASSERT(co_await eventually(failed));
        EXPECT_EQ(failures.size(), 1u);
        EXPECT_FALSE(s->is_open());
        CO_ASSERT(s->failure().has_value());
        EXPECT_EQ(*s->failure(), errc::connection_lost);
        auto later = co_await s->ping();
        CO_ASSERT(!later.has_value());
        EXPECT_EQ(later.error(), errc::not_connected);
        EXPECT_NE(later.error().message().find("the session failed"), std::string::npos);
    });
}

TEST(mcp_client_server_gone, a_killed_legacy_server_fails_the_session) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        auto opts = base_options();
        opts.transport = client::transport_choice::sse;
        std::vector<std::string> failures;
        opts.on.on_failed = [&](mcpd::error const& e) { failures.push_back(e.message()); };
        auto s = co_await client::session::connect(url_for(server.port(), "/sse"), opts);
        CO_ASSERT(s.has_value());
        ::kill(server.pid(), SIGKILL);
        auto failed = [&] { return !failures.empty(); };
        CO_ASSERT(co_await eventually(failed));
        EXPECT_NE(failures[0].find("the HTTP+SSE stream"), std::string::npos) << failures[0];
        auto later = co_await s->call_tool("echo");
        CO_ASSERT(!later.has_value());
        EXPECT_EQ(later.error(), errc::not_connected);
    });
}

TEST(mcp_client_server_gone, a_frozen_server_is_found_by_the_keepalive_ping) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        auto opts = base_options();
        opts.ping_interval = 300ms;
        std::vector<std::string> failures;
        opts.on.on_failed = [&](mcpd::error const& e) { failures.push_back(e.message()); };
        auto s = co_await client::session::connect(url_for(server.port(), "/mcp"), opts);
        CO_ASSERT(s.has_value());
        // Stopped, not dead: no FIN, no reset, no answer. Only a ping notices.
        ::kill(server.pid(), SIGSTOP);
        auto failed = [&] { return !failures.empty(); };
        bool noticed = co_await eventually(failed);
        ::kill(server.pid(), SIGCONT);
        CO_ASSERT(noticed);
        EXPECT_NE(failures[0].find("keep-alive ping failed"), std::string::npos) << failures[0];
        EXPECT_EQ(*s->failure(), errc::connection_lost);
    });
}

} // namespace
