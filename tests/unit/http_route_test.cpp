// tests/unit/http_route_test.cpp — the MCP endpoints' routing decisions (server/http_route.hpp),
// without sockets: each row is a request (and what the transport reports back about its
// session), and the step and answer the route must decide.
#include "server/http_route.hpp"

#include "http/request_parser.hpp"

#include <boost/beast/http/error.hpp>
#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

using namespace mcpd;
using namespace mcpd::server;
using http::status;

namespace mcpd::server {
// Readable failures.
std::ostream& operator<<(std::ostream& os, route_step s) {
    constexpr std::string_view names[] = {
        "respond",    "preflight",   "find_session", "create_session",     "serve_stateless",
        "serve_post", "open_stream", "end_session",  "open_legacy_stream", "serve_legacy_post"};
    return os << names[static_cast<int>(s)];
}
} // namespace mcpd::server

namespace {

constexpr std::string_view json_types = "Content-Type: application/json\r\n"
                                        "Accept: application/json, text/event-stream\r\n";
constexpr std::string_view init_body =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
    R"("capabilities":{},"clientInfo":{"name":"t","version":"1"}}})";
constexpr std::string_view call_body =
    R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo"}})";
constexpr std::string_view stateless_body =
    R"({"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"_meta":{)"
    R"("io.modelcontextprotocol/protocolVersion":"2026-07-28",)"
    R"("io.modelcontextprotocol/clientCapabilities":{}}}})";

using outcome = session_facts::outcome;

struct found_as {
    outcome what = outcome::found;
    std::string_view version = "2025-11-25";
    bool legacy = false;
    bool stream_open = false;
};

struct row {
    std::string name;
    std::string method;
    std::string target;
    std::string fields; // header lines, each ending in \r\n (Host is added)
    std::string body;
    route_step first;                               // what start() decides
    std::optional<found_as> found = {};             // then session_found() with this (find_session)
    std::optional<std::string> create_failure = {}; // then session_created() (create_session)
    route_step last = route_step::respond;          // what the second step decides
    status code = status::ok;                       // respond: the status
    int rpc = 0;                                    // respond: the JSON-RPC code (0: none)
    std::string message = {};                       // respond: a part of the message
    std::string allow = {};                         // respond: the Allow field
};

std::vector<row> const& rows() {
    static std::vector<row> const all = {
        // --- every endpoint ---
        {"an unknown path is 404",
         "GET",
         "/nope",
         "",
         "",
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::not_found,
         0,
         "Not found"},
        {"a foreign Host is 403",
         "POST",
         "/mcp",
         "X-Host: evil\r\n",
         "",
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::forbidden,
         -32000,
         "Host header \"evil.example\""},
        {"a foreign Origin is 403",
         "POST",
         "/mcp",
         "Origin: https://evil.example\r\n",
         "",
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::forbidden,
         -32000,
         "Origin \"https://evil.example\" is not allowed"},
        {"OPTIONS is a preflight", "OPTIONS", "/mcp", "", "", route_step::preflight},
        {"PUT on /mcp is 405",
         "PUT",
         "/mcp",
         "",
         "",
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::method_not_allowed,
         -32000,
         "Method Not Allowed",
         "GET, POST, DELETE"},
        {"POST on /sse is 405",
         "POST",
         "/sse",
         "",
         "",
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::method_not_allowed,
         -32000,
         "",
         "GET"},
        {"GET on /messages is 405",
         "GET",
         "/messages",
         "",
         "",
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::method_not_allowed,
         -32000,
         "",
         "POST"},
        // --- POST /mcp: headers and body ---
        {"a POST that is not JSON is 415",
         "POST",
         "/mcp",
         "Content-Type: text/plain\r\nAccept: application/json, text/event-stream\r\n",
         std::string(call_body),
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::unsupported_media_type,
         -32000,
         "Content-Type must be application/json"},
        {"a POST that does not accept SSE is 406",
         "POST",
         "/mcp",
         "Content-Type: application/json\r\nAccept: application/json\r\n",
         std::string(call_body),
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::not_acceptable,
         -32000,
         "Accept must list application/json and text/event-stream"},
        {"a body that is not JSON is 400 parse error",
         "POST",
         "/mcp",
         std::string(json_types),
         "{nope",
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::bad_request,
         -32700},
        {"one message that is not JSON-RPC is 400",
         "POST",
         "/mcp",
         std::string(json_types),
         R"({"id":1})",
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::bad_request,
         -32600},
        {"a request without a session is 400",
         "POST",
         "/mcp",
         std::string(json_types),
         std::string(call_body),
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::bad_request,
         -32000,
         "Mcp-Session-Id header is required"},
        // --- POST /mcp: initialize ---
        {"initialize creates a session and is served in the negotiated revision",
         "POST",
         "/mcp",
         std::string(json_types),
         std::string(init_body),
         route_step::create_session,
         {},
         "",
         route_step::serve_post},
        {"initialize while the store refuses new sessions is 503",
         "POST",
         "/mcp",
         std::string(json_types),
         std::string(init_body),
         route_step::create_session,
         {},
         "the server holds its limit of 10000 sessions (max-sessions)",
         route_step::respond,
         status::service_unavailable,
         -32000,
         "(max-sessions)"},
        {"initialize in a batch is 400",
         "POST",
         "/mcp",
         std::string(json_types),
         "[" + std::string(init_body) + "," + std::string(call_body) + "]",
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::bad_request,
         -32600,
         "initialize must be sent alone"},
        // --- POST /mcp: a session ---
        {"a live session is served",
         "POST",
         "/mcp",
         std::string(json_types) + "Mcp-Session-Id: s1\r\n",
         std::string(call_body),
         route_step::find_session,
         found_as{},
         {},
         route_step::serve_post},
        {"an unknown session is 404",
         "POST",
         "/mcp",
         std::string(json_types) + "Mcp-Session-Id: s1\r\n",
         std::string(call_body),
         route_step::find_session,
         found_as{.what = outcome::unknown},
         {},
         route_step::respond,
         status::not_found,
         -32001,
         "Session not found"},
        {"a store that fails is 503, not 404",
         "POST",
         "/mcp",
         std::string(json_types) + "Mcp-Session-Id: s1\r\n",
         std::string(call_body),
         route_step::find_session,
         found_as{.what = outcome::store_failed},
         {},
         route_step::respond,
         status::service_unavailable,
         -32603,
         "Session store unavailable"},
        {"an unsupported revision header is 400",
         "POST",
         "/mcp",
         std::string(json_types) + "Mcp-Session-Id: s1\r\nMCP-Protocol-Version: 1999-01-01\r\n",
         std::string(call_body),
         route_step::find_session,
         found_as{},
         {},
         route_step::respond,
         status::bad_request,
         -32000,
         "Unsupported protocol version: 1999-01-01"},
        {"a batch in a revision without batches is 400",
         "POST",
         "/mcp",
         std::string(json_types) + "Mcp-Session-Id: s1\r\n",
         "[" + std::string(call_body) + "]",
         route_step::find_session,
         found_as{},
         {},
         route_step::respond,
         status::bad_request,
         -32600,
         "batches are not part of protocol revision 2025-11-25"},
        {"a batch in 2025-03-26 is served",
         "POST",
         "/mcp",
         std::string(json_types) + "Mcp-Session-Id: s1\r\n",
         "[" + std::string(call_body) + "]",
         route_step::find_session,
         found_as{.version = "2025-03-26"},
         {},
         route_step::serve_post},
        // --- POST /mcp: stateless (2026-07-28) ---
        {"a stateless request with its headers is served without a session", "POST", "/mcp",
         std::string(json_types) + "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/list\r\n",
         std::string(stateless_body), route_step::serve_stateless},
        {"a stateless request without MCP-Protocol-Version is 400",
         "POST",
         "/mcp",
         std::string(json_types) + "Mcp-Method: tools/list\r\n",
         std::string(stateless_body),
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::bad_request,
         -32020,
         "Missing MCP-Protocol-Version header"},
        {"a stateless request whose Mcp-Method disagrees is 400",
         "POST",
         "/mcp",
         std::string(json_types) + "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\n",
         std::string(stateless_body),
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::bad_request,
         -32020,
         "Mcp-Method header must equal"},
        {"a stateless notification is 202",
         "POST",
         "/mcp",
         std::string(json_types) + "MCP-Protocol-Version: 2026-07-28\r\n",
         R"({"jsonrpc":"2.0","method":"notifications/initialized"})",
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::accepted,
         0},
        // --- GET /mcp ---
        {"GET without SSE in Accept is 406",
         "GET",
         "/mcp",
         "Accept: application/json\r\nMcp-Session-Id: s1\r\n",
         "",
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::not_acceptable,
         -32000,
         "Accept must list text/event-stream"},
        {"GET without a session is 405 (stateless servers have no GET stream)",
         "GET",
         "/mcp",
         "Accept: text/event-stream\r\n",
         "",
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::method_not_allowed,
         -32000,
         "GET needs an Mcp-Session-Id",
         "POST, GET, DELETE"},
        {"GET opens the standalone stream",
         "GET",
         "/mcp",
         "Accept: text/event-stream\r\nMcp-Session-Id: s1\r\n",
         "",
         route_step::find_session,
         found_as{},
         {},
         route_step::open_stream},
        {"a second GET stream is 409",
         "GET",
         "/mcp",
         "Accept: text/event-stream\r\nMcp-Session-Id: s1\r\n",
         "",
         route_step::find_session,
         found_as{.stream_open = true},
         {},
         route_step::respond,
         status::conflict,
         -32000,
         "already has a GET stream"},
        {"GET with Last-Event-ID resumes even while a stream is open",
         "GET",
         "/mcp",
         "Accept: text/event-stream\r\nMcp-Session-Id: s1\r\nLast-Event-ID: s1.7.3\r\n",
         "",
         route_step::find_session,
         found_as{.stream_open = true},
         {},
         route_step::open_stream},
        {"a Last-Event-ID of another session is 400",
         "GET",
         "/mcp",
         "Accept: text/event-stream\r\nMcp-Session-Id: s1\r\nLast-Event-ID: s2.7.3\r\n",
         "",
         route_step::find_session,
         found_as{},
         {},
         route_step::respond,
         status::bad_request,
         -32000,
         "Last-Event-ID does not belong to this session"},
        {"a Last-Event-ID that is not one is 400",
         "GET",
         "/mcp",
         "Accept: text/event-stream\r\nMcp-Session-Id: s1\r\nLast-Event-ID: s1.x.3\r\n",
         "",
         route_step::find_session,
         found_as{},
         {},
         route_step::respond,
         status::bad_request,
         -32000,
         "Last-Event-ID"},
        {"GET on an unknown session is 404",
         "GET",
         "/mcp",
         "Accept: text/event-stream\r\nMcp-Session-Id: s1\r\n",
         "",
         route_step::find_session,
         found_as{.what = outcome::unknown},
         {},
         route_step::respond,
         status::not_found,
         -32001},
        {"GET when the store fails is 503",
         "GET",
         "/mcp",
         "Accept: text/event-stream\r\nMcp-Session-Id: s1\r\n",
         "",
         route_step::find_session,
         found_as{.what = outcome::store_failed},
         {},
         route_step::respond,
         status::service_unavailable,
         -32603},
        // --- DELETE /mcp ---
        {"DELETE without a session is 400",
         "DELETE",
         "/mcp",
         "",
         "",
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::bad_request,
         -32000,
         "Mcp-Session-Id header is required"},
        {"DELETE ends a found session",
         "DELETE",
         "/mcp",
         "Mcp-Session-Id: s1\r\n",
         "",
         route_step::find_session,
         found_as{},
         {},
         route_step::end_session},
        {"DELETE of an unknown session is 404",
         "DELETE",
         "/mcp",
         "Mcp-Session-Id: s1\r\n",
         "",
         route_step::find_session,
         found_as{.what = outcome::unknown},
         {},
         route_step::respond,
         status::not_found,
         -32001},
        {"DELETE when the store fails is 503",
         "DELETE",
         "/mcp",
         "Mcp-Session-Id: s1\r\n",
         "",
         route_step::find_session,
         found_as{.what = outcome::store_failed},
         {},
         route_step::respond,
         status::service_unavailable,
         -32603},
        // --- legacy HTTP+SSE ---
        {"GET /sse creates a legacy session",
         "GET",
         "/sse",
         "",
         "",
         route_step::create_session,
         {},
         "",
         route_step::open_legacy_stream},
        {"POST /messages without a sessionId is 404",
         "POST",
         "/messages",
         "",
         "{}",
         route_step::respond,
         {},
         {},
         route_step::respond,
         status::not_found,
         -32001},
        {"POST /messages to a legacy session is served",
         "POST",
         "/messages?sessionId=s1",
         "Content-Type: application/json\r\n",
         std::string(call_body),
         route_step::find_session,
         found_as{.version = "2024-11-05", .legacy = true},
         {},
         route_step::serve_legacy_post},
        {"POST /messages to a Streamable HTTP session is 404",
         "POST",
         "/messages?sessionId=s1",
         "",
         std::string(call_body),
         route_step::find_session,
         found_as{},
         {},
         route_step::respond,
         status::not_found,
         -32001},
        {"POST /messages when the store fails is 503, not 404",
         "POST",
         "/messages?sessionId=s1",
         "",
         std::string(call_body),
         route_step::find_session,
         found_as{.what = outcome::store_failed, .legacy = true},
         {},
         route_step::respond,
         status::service_unavailable,
         -32603},
        {"POST /messages with a body that is not JSON is 400",
         "POST",
         "/messages?sessionId=s1",
         "",
         "{nope",
         route_step::find_session,
         found_as{.legacy = true},
         {},
         route_step::respond,
         status::bad_request,
         -32700},
    };
    return all;
}

http::server_request parsed(row const& r) {
    http::server_request req;
    http::request_parser p(req, {.max_header_bytes = 65536, .max_body_bytes = 1 << 20});
    std::string host = r.fields.find("X-Host: evil") != std::string::npos
                           ? "Host: evil.example\r\n"
                           : "Host: 127.0.0.1:3000\r\n";
    auto fields = r.fields;
    if (auto at = fields.find("X-Host: evil\r\n"); at != std::string::npos)
        fields.erase(at, 14);
    std::string text = r.method + " " + r.target + " HTTP/1.1\r\n" + host + fields +
                       "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n" + r.body;
    boost::system::error_code ec;
    p.put(text, ec);
    EXPECT_TRUE(p.is_done()) << r.name << ": " << ec.message();
    return req;
}

TEST(http_route, every_request_gets_its_step_and_answer) {
    auto origins = http::origin_policy::for_bind_address("127.0.0.1");
    route_settings settings{.endpoint = "/mcp", .legacy_sse = true, .origins = &origins};
    for (auto const& r : rows()) {
        SCOPED_TRACE(r.name);
        auto req = parsed(r);
        http_route route(settings, req);
        auto step = route.start();
        ASSERT_EQ(step, r.first);
        if (step == route_step::find_session) {
            ASSERT_TRUE(r.found.has_value());
            EXPECT_EQ(route.session_id(), "s1");
            session_facts facts;
            facts.what = r.found->what;
            facts.store_error = "Redis is down";
            facts.protocol_version = r.found->version;
            facts.legacy = r.found->legacy;
            facts.stream_open = r.found->stream_open;
            step = route.session_found(facts);
        } else if (step == route_step::create_session) {
            ASSERT_TRUE(r.create_failure.has_value());
            step = route.session_created(*r.create_failure);
        }
        // A row with one step decides in start(); a row with two, in the second.
        ASSERT_EQ(step, r.found || r.create_failure ? r.last : r.first);
        if (step != route_step::respond)
            continue;
        auto const& refused = route.refused();
        EXPECT_EQ(refused.status, r.code);
        EXPECT_EQ(refused.code, r.rpc);
        EXPECT_NE(refused.message.find(r.message), std::string::npos) << refused.message;
        EXPECT_EQ(refused.allow, r.allow);
    }
}

TEST(http_route, initialize_negotiates_the_revision_it_is_served_in) {
    auto origins = http::origin_policy::for_bind_address("127.0.0.1");
    route_settings settings{.origins = &origins};
    row r{
        "",
        "POST",
        "/mcp",
        std::string(json_types),
        R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2099-01-01"}})",
        route_step::create_session};
    auto req = parsed(r);
    http_route route(settings, req);
    ASSERT_EQ(route.start(), route_step::create_session);
    ASSERT_EQ(route.session_created(""), route_step::serve_post);
    EXPECT_NE(route.initialize(), nullptr);
    EXPECT_FALSE(route.version().empty()); // the newest the server speaks, not 2099-01-01
    EXPECT_NE(route.version(), "2099-01-01");
    EXPECT_EQ(route.take_messages().size(), 1u);
}

// Hardening (issue 18, row 1): a large body is parsed off the loop, and what follows is the
// same as for a small one; a batch over the limit is a 400 that names it.
TEST(http_route, a_large_body_is_parsed_elsewhere_then_routed_as_any_other) {
    auto origins = http::origin_policy::for_bind_address("127.0.0.1");
    route_settings settings{.origins = &origins, .parse_on_loop_bytes = 16};
    row r{"",
          "POST",
          "/mcp",
          std::string(json_types) + "Mcp-Session-Id: s1\r\n",
          std::string(call_body),
          route_step::find_session};
    auto req = parsed(r);
    http_route route(settings, req);
    ASSERT_EQ(route.start(), route_step::parse_body);
    ASSERT_EQ(route.body_parsed(protocol::parse_body(req.body(), route.body_limits())),
              route_step::find_session);
    EXPECT_EQ(route.session_found({.what = outcome::found, .protocol_version = "2025-11-25"}),
              route_step::serve_post);

    settings.body.max_batch = 2;
    settings.parse_on_loop_bytes = 1 << 20;
    row batch{"",
              "POST",
              "/mcp",
              std::string(json_types) + "Mcp-Session-Id: s1\r\n",
              "[" + std::string(call_body) + "," + std::string(call_body) + "," +
                  std::string(call_body) + "]",
              route_step::respond};
    auto batch_req = parsed(batch);
    http_route batch_route(settings, batch_req);
    ASSERT_EQ(batch_route.start(), route_step::respond);
    EXPECT_EQ(batch_route.refused().status, status::bad_request);
    EXPECT_EQ(batch_route.refused().code, -32600);
    EXPECT_NE(batch_route.refused().message.find("(max-batch)"), std::string::npos);
}

TEST(http_route, draining_refuses_new_sessions_and_streams_but_serves_existing_ones) {
    auto origins = http::origin_policy::for_bind_address("127.0.0.1");
    route_settings settings{.origins = &origins, .draining = true};
    auto check = [&](row const& r, route_step expected, status code) {
        SCOPED_TRACE(r.name);
        auto req = parsed(r);
        http_route route(settings, req);
        auto step = route.start();
        if (step == route_step::find_session)
            step = route.session_found({.what = outcome::found, .protocol_version = "2025-11-25"});
        EXPECT_EQ(step, expected);
        if (step == route_step::respond) {
            EXPECT_EQ(route.refused().status, code);
        }
    };
    check({"initialize", "POST", "/mcp", std::string(json_types), std::string(init_body),
           route_step::respond},
          route_step::respond, status::service_unavailable);
    check({"GET /sse", "GET", "/sse", "", "", route_step::respond}, route_step::respond,
          status::service_unavailable);
    check({"GET /mcp", "GET", "/mcp", "Accept: text/event-stream\r\nMcp-Session-Id: s1\r\n", "",
           route_step::find_session},
          route_step::respond, status::service_unavailable);
    check({"a call in a session", "POST", "/mcp",
           std::string(json_types) + "Mcp-Session-Id: s1\r\n", std::string(call_body),
           route_step::find_session},
          route_step::serve_post, status::ok);
}

} // namespace
