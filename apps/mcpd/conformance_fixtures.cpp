// apps/mcpd/conformance_fixtures.cpp — the tools, resources and prompts the official MCP
// conformance suite calls (`mcpd serve --conformance`), with the names and results its
// scenarios check (the suite's everything-server is the reference). Each fixture is small on
// purpose: it shows one protocol feature working end to end.
#include "fixtures.hpp"

#include "mcpd/protocol/jsonrpc.hpp"
#include "mcpd/server/context.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace mcpd::app {

namespace json = boost::json;
namespace asio = boost::asio;
using server::context;
using server::tool_result;

namespace {

// A 1x1 PNG and a minimal WAV: the suite checks types and MIME types, not pixels or samples.
constexpr std::string_view png_base64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42m"
                                        "P8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
constexpr std::string_view wav_base64 =
    "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

json::object no_args() {
    return json::object{{"type", "object"}, {"properties", json::object{}}};
}

json::object string_arg(std::string_view name, std::string_view description) {
    json::object props{{name, json::object{{"type", "string"}, {"description", description}}}};
    json::array required;
    required.emplace_back(name);
    return json::object{
        {"type", "object"}, {"properties", std::move(props)}, {"required", std::move(required)}};
}

asio::awaitable<void> sleep_ms(int ms) {
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
    co_await t.async_wait(asio::use_awaitable);
}

server::tool make_tool(std::string name, std::string description, json::object schema = no_args()) {
    server::tool t;
    t.name = std::move(name);
    t.description = std::move(description);
    t.input_schema = std::move(schema);
    return t;
}

json::object elicit_params(std::string_view message, json::object schema) {
    return json::object{{"message", message}, {"requestedSchema", std::move(schema)}};
}

std::string action_and_content(json::value const& v) {
    std::string action = "unknown";
    json::value content = nullptr;
    if (auto const* o = v.if_object()) {
        if (auto const* a = o->if_contains("action"); a != nullptr && a->is_string())
            action = a->get_string();
        if (auto const* c = o->if_contains("content"))
            content = *c;
    }
    return "action=" + action + ", content=" + json::serialize(content);
}

void add_content_tools(server::server& srv) {
    srv.add_tool(make_tool("test_simple_text", "Tests simple text content response"),
                 [](context&, json::object) -> asio::awaitable<tool_result> {
                     co_return tool_result::text("This is a simple text response for testing.");
                 });
    srv.add_tool(make_tool("test_image_content", "Tests image content response"),
                 [](context&, json::object) -> asio::awaitable<tool_result> {
                     tool_result r;
                     r.content.push_back(server::image_content(png_base64, "image/png"));
                     co_return r;
                 });
    srv.add_tool(make_tool("test_audio_content", "Tests audio content response"),
                 [](context&, json::object) -> asio::awaitable<tool_result> {
                     tool_result r;
                     r.content.push_back(server::audio_content(wav_base64, "audio/wav"));
                     co_return r;
                 });
    srv.add_tool(make_tool("test_embedded_resource", "Tests embedded resource content response"),
                 [](context&, json::object) -> asio::awaitable<tool_result> {
                     tool_result r;
                     r.content.push_back(
                         server::embedded_text_resource("test://embedded-resource", "text/plain",
                                                        "This is an embedded resource content."));
                     co_return r;
                 });
    srv.add_tool(make_tool("test_multiple_content_types",
                           "Tests response with multiple content types (text, image, resource)"),
                 [](context&, json::object) -> asio::awaitable<tool_result> {
                     tool_result r;
                     r.content.push_back(server::text_content("Multiple content types test:"));
                     r.content.push_back(server::image_content(png_base64, "image/png"));
                     r.content.push_back(server::embedded_text_resource(
                         "test://mixed-content-resource", "application/json",
                         R"({"test":"data","value":123})"));
                     co_return r;
                 });
    srv.add_tool(make_tool("test_error_handling", "Tests error response handling"),
                 [](context&, json::object) -> asio::awaitable<tool_result> {
                     throw std::runtime_error(
                         "This tool intentionally returns an error for testing");
                     co_return tool_result{};
                 });
    srv.add_tool(
        make_tool("test_tool_with_logging", "Tests tool that emits log messages during execution"),
        [](context& ctx, json::object) -> asio::awaitable<tool_result> {
            ctx.log("info", "Tool execution started");
            co_await sleep_ms(50);
            ctx.log("info", "Tool processing data");
            co_await sleep_ms(50);
            ctx.log("info", "Tool execution completed");
            co_return tool_result::text("Tool with logging executed successfully");
        });
    srv.add_tool(
        make_tool("test_tool_with_progress", "Tests tool that reports progress notifications"),
        [](context& ctx, json::object) -> asio::awaitable<tool_result> {
            for (int step = 0; step <= 2; ++step) {
                ctx.progress(step * 50.0, 100.0,
                             "Completed step " + std::to_string(step * 50) + " of 100");
                if (step < 2)
                    co_await sleep_ms(50);
            }
            auto const* token = ctx.request_meta().if_contains("progressToken");
            std::string text = token == nullptr     ? "no progress token"
                               : token->is_string() ? std::string(token->get_string())
                                                    : json::serialize(*token);
            co_return tool_result::text(text);
        });
    // SEP-1699: the server ends the POST's SSE response mid-call; the answer, sent after that,
    // reaches the client when it comes back with Last-Event-ID (GET).
    srv.add_tool(make_tool("test_reconnection",
                           "Tests SSE stream disconnection and client reconnection (SEP-1699): "
                           "the server closes the stream mid-call and the result arrives after "
                           "the client reconnects"),
                 [](context& ctx, json::object) -> asio::awaitable<tool_result> {
                     ctx.close_sse_stream();
                     co_await sleep_ms(100);
                     co_return tool_result::text(
                         "Reconnection test completed successfully. If you received this, the "
                         "client properly reconnected after stream closure.");
                 });
    srv.add_tool(make_tool("test_logging_tool", "Emits log messages (only when the request asks)"),
                 [](context& ctx, json::object) -> asio::awaitable<tool_result> {
                     ctx.log("info", "Logging tool ran");
                     co_return tool_result::text("Logging tool executed");
                 });
    auto schema = json::parse(R"js({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {"address": {"$anchor": "addressDef", "type": "object",
                              "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
        "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"},
                       "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                       "phone": {"type": "string"}, "email": {"type": "string"}},
        "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
        "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
        "then": {"required": ["phone"]},
        "else": {"required": ["email"]},
        "additionalProperties": false})js");
    srv.add_tool(
        make_tool("json_schema_2020_12_tool",
                  "Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
                  schema.as_object()),
        [](context&, json::object args) -> asio::awaitable<tool_result> {
            co_return tool_result::text("JSON Schema 2020-12 tool called with: " +
                                        json::serialize(args));
        });
}

void add_client_request_tools(server::server& srv) {
    srv.add_tool(
        make_tool("test_sampling", "Tests server-initiated sampling (LLM completion request)",
                  string_arg("prompt", "The prompt to send to the LLM")),
        [](context& ctx, json::object args) -> asio::awaitable<tool_result> {
            auto const* p = args.if_contains("prompt");
            std::string prompt = p != nullptr && p->is_string() ? std::string(p->get_string()) : "";
            json::array messages;
            messages.push_back(server::prompt_message("user", server::text_content(prompt)));
            json::object params{{"messages", std::move(messages)}, {"maxTokens", 100}};
            auto r = co_await ctx.create_message(std::move(params));
            if (!r)
                co_return tool_result::text("Sampling not supported or error: " +
                                            r.error().message());
            std::string text;
            if (auto const* o = r->if_object())
                if (auto const* c = o->if_contains("content"); c != nullptr && c->is_object())
                    if (auto const* t = c->get_object().if_contains("text");
                        t != nullptr && t->is_string())
                        text = t->get_string();
            co_return tool_result::text("LLM response: " + text);
        });
    srv.add_tool(make_tool("test_elicitation",
                           "Tests server-initiated elicitation (user input request)",
                           string_arg("message", "The message to show the user")),
                 [](context& ctx, json::object args) -> asio::awaitable<tool_result> {
                     auto const* m = args.if_contains("message");
                     std::string message =
                         m != nullptr && m->is_string() ? std::string(m->get_string()) : "";
                     auto schema = string_arg("response", "User's response");
                     auto r = co_await ctx.elicit(elicit_params(message, std::move(schema)));
                     if (!r)
                         co_return tool_result::text("Elicitation not supported or error: " +
                                                     r.error().message());
                     co_return tool_result::text("User response: " + action_and_content(*r));
                 });
    srv.add_tool(
        make_tool("test_elicitation_sep1034_defaults",
                  "Tests elicitation with default values per SEP-1034"),
        [](context& ctx, json::object) -> asio::awaitable<tool_result> {
            auto schema = json::parse(R"js({"type": "object", "required": [], "properties": {
                         "name": {"type": "string", "description": "User name", "default": "John Doe"},
                         "age": {"type": "integer", "description": "User age", "default": 30},
                         "score": {"type": "number", "description": "User score", "default": 95.5},
                         "status": {"type": "string", "description": "User status",
                                    "enum": ["active", "inactive", "pending"], "default": "active"},
                         "verified": {"type": "boolean", "description": "Verification status",
                                      "default": true}}})js");
            auto params = elicit_params("Please review and update the form fields with defaults",
                                        schema.as_object());
            auto r = co_await ctx.elicit(std::move(params));
            if (!r)
                co_return tool_result::text("Elicitation failed: " + r.error().message());
            co_return tool_result::text("Elicitation completed: " + action_and_content(*r));
        });
    srv.add_tool(
        make_tool("test_elicitation_sep1330_enums",
                  "Tests elicitation with enum schema improvements per SEP-1330"),
        [](context& ctx, json::object) -> asio::awaitable<tool_result> {
            auto schema = json::parse(R"js({"type": "object", "required": [], "properties": {
                         "untitledSingle": {"type": "string", "description": "Select one option",
                                            "enum": ["option1", "option2", "option3"]},
                         "titledSingle": {"type": "string", "description": "Select one option with titles",
                                          "oneOf": [{"const": "value1", "title": "First Option"},
                                                    {"const": "value2", "title": "Second Option"},
                                                    {"const": "value3", "title": "Third Option"}]},
                         "legacyEnum": {"type": "string", "description": "Select one option (legacy)",
                                        "enum": ["opt1", "opt2", "opt3"],
                                        "enumNames": ["Option One", "Option Two", "Option Three"]},
                         "untitledMulti": {"type": "array", "description": "Select multiple options",
                                           "minItems": 1, "maxItems": 3,
                                           "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                         "titledMulti": {"type": "array", "description": "Select multiple options with titles",
                                         "minItems": 1, "maxItems": 3,
                                         "items": {"anyOf": [{"const": "value1", "title": "First Choice"},
                                                             {"const": "value2", "title": "Second Choice"},
                                                             {"const": "value3", "title": "Third Choice"}]}}}})js");
            auto params =
                elicit_params("Please select options from the enum fields", schema.as_object());
            auto r = co_await ctx.elicit(std::move(params));
            if (!r)
                co_return tool_result::text("Elicitation failed: " + r.error().message());
            co_return tool_result::text("Elicitation completed: " + action_and_content(*r));
        });
}

// The 2026-07-28 (stateless) fixtures: capability errors and input_required rounds.
void add_stateless_tools(server::server& srv) {
    srv.add_tool(make_tool("test_missing_capability", "Test tool requiring sampling"),
                 [](context& ctx, json::object) -> asio::awaitable<tool_result> {
                     auto const* s = ctx.client_capabilities().if_contains("sampling");
                     if (s == nullptr || !s->is_object()) {
                         json::object need{{"sampling", json::object{}}};
                         throw server::protocol_error(
                             -32021, "Missing required client capability: sampling",
                             json::object{{"requiredCapabilities", std::move(need)}});
                     }
                     co_return tool_result::text("Success");
                 });
    srv.add_tool(
        make_tool("test_streaming_elicitation",
                  "Asks the user for input (an input_required round when stateless)"),
        [](context& ctx, json::object) -> asio::awaitable<tool_result> {
            auto schema = string_arg("answer", "Your answer");
            auto r = co_await ctx.elicit(elicit_params("Please answer", std::move(schema)));
            if (!r)
                co_return tool_result::text("Elicitation failed: " + r.error().message());
            co_return tool_result::text("Elicitation completed: " + action_and_content(*r));
        });

    auto ask_name = [](context& ctx) -> asio::awaitable<result<json::value>> {
        json::object props{{"name", json::object{{"type", "string"}}}};
        json::array required;
        required.emplace_back("name");
        json::object schema{{"type", "object"},
                            {"properties", std::move(props)},
                            {"required", std::move(required)}};
        co_return co_await ctx.request("elicitation/create",
                                       elicit_params("What is your name?", std::move(schema)),
                                       std::chrono::seconds(60), "user_name");
    };
    srv.add_tool(make_tool("test_input_required_result_elicitation",
                           "MRTR: asks for the user's name through elicitation"),
                 [ask_name](context& ctx, json::object) -> asio::awaitable<tool_result> {
                     auto r = co_await ask_name(ctx);
                     if (!r)
                         co_return tool_result::error(r.error().message());
                     std::string name = "stranger";
                     if (auto const* c = r->as_object().if_contains("content");
                         c != nullptr && c->is_object())
                         if (auto const* n = c->get_object().if_contains("name");
                             n != nullptr && n->is_string())
                             name = n->get_string();
                     co_return tool_result::text("Hello, " + name + "!");
                 });
    srv.add_tool(make_tool("test_input_required_result_sampling", "MRTR: asks the client's LLM"),
                 [](context& ctx, json::object) -> asio::awaitable<tool_result> {
                     json::array messages;
                     messages.push_back(server::prompt_message(
                         "user", server::text_content("What is the capital of France?")));
                     json::object params{{"messages", std::move(messages)}, {"maxTokens", 100}};
                     auto r = co_await ctx.request("sampling/createMessage", std::move(params),
                                                   std::chrono::seconds(60), "sample_request");
                     if (!r)
                         co_return tool_result::error(r.error().message());
                     co_return tool_result::text("Sampling result: " + json::serialize(*r));
                 });
    srv.add_tool(
        make_tool("test_input_required_result_list_roots", "MRTR: asks for the client's roots"),
        [](context& ctx, json::object) -> asio::awaitable<tool_result> {
            json::object none;
            auto r = co_await ctx.request("roots/list", std::move(none), std::chrono::seconds(60),
                                          "roots_request");
            if (!r)
                co_return tool_result::error(r.error().message());
            std::size_t n = 0;
            if (auto const* roots = r->as_object().if_contains("roots");
                roots != nullptr && roots->is_array())
                n = roots->get_array().size();
            co_return tool_result::text("Found " + std::to_string(n) + " root(s)");
        });
    srv.add_tool(make_tool("test_input_required_result_request_state",
                           "MRTR: asks for confirmation, keeping state in requestState"),
                 [](context& ctx, json::object) -> asio::awaitable<tool_result> {
                     json::object props{{"ok", json::object{{"type", "boolean"}}}};
                     json::array required;
                     required.emplace_back("ok");
                     json::object schema{{"type", "object"},
                                         {"properties", std::move(props)},
                                         {"required", std::move(required)}};
                     auto r = co_await ctx.request(
                         "elicitation/create", elicit_params("Please confirm", std::move(schema)),
                         std::chrono::seconds(60), "confirm");
                     if (!r)
                         co_return tool_result::error(r.error().message());
                     co_return tool_result::text("Confirmed: " + action_and_content(*r));
                 });
    srv.add_tool(
        make_tool("test_input_required_result_multiple_inputs",
                  "MRTR: asks for several inputs in one round"),
        [](context& ctx, json::object) -> asio::awaitable<tool_result> {
            json::object wanted;
            json::object name_schema{
                {"type", "object"},
                {"properties", json::object{{"name", json::object{{"type", "string"}}}}}};
            wanted["user_name"] = json::object{
                {"method", "elicitation/create"},
                {"params", elicit_params("What is your name?", std::move(name_schema))}};
            json::array messages;
            messages.push_back(server::prompt_message("user", server::text_content("Say hello")));
            wanted["greeting"] = json::object{
                {"method", "sampling/createMessage"},
                {"params", json::object{{"messages", std::move(messages)}, {"maxTokens", 50}}}};
            wanted["client_roots"] =
                json::object{{"method", "roots/list"}, {"params", json::object{}}};
            json::object missing;
            for (auto const& [key, req] : wanted)
                if (ctx.input_response(key) == nullptr)
                    missing[key] = req;
            if (!missing.empty())
                throw server::input_required(std::move(missing), ctx.sealed_state());
            co_return tool_result::text("Received all " + std::to_string(wanted.size()) +
                                        " inputs");
        });
    srv.add_tool(
        make_tool("test_input_required_result_multi_round",
                  "MRTR: asks for input over several rounds"),
        [](context& ctx, json::object) -> asio::awaitable<tool_result> {
            std::string answers;
            for (int round = 1; round <= 2; ++round) {
                auto key = "step" + std::to_string(round);
                json::object schema{
                    {"type", "object"},
                    {"properties", json::object{{"value", json::object{{"type", "string"}}}}}};
                auto r = co_await ctx.request(
                    "elicitation/create",
                    elicit_params("Round " + std::to_string(round) + ": your input?",
                                  std::move(schema)),
                    std::chrono::seconds(60), key);
                if (!r)
                    co_return tool_result::error(r.error().message());
                answers += key + "=" + action_and_content(*r) + "; ";
            }
            co_return tool_result::text("All rounds complete: " + answers);
        });
    srv.add_tool(make_tool("test_input_required_result_tampered_state",
                           "MRTR: rejects a requestState that was changed"),
                 [ask_name](context& ctx, json::object) -> asio::awaitable<tool_result> {
                     auto r = co_await ask_name(ctx);
                     if (!r)
                         co_return tool_result::error(r.error().message());
                     co_return tool_result::text("State intact: " + action_and_content(*r));
                 });
    srv.add_tool(
        make_tool("test_input_required_result_capabilities",
                  "MRTR: asks only for what the client declared"),
        [](context& ctx, json::object) -> asio::awaitable<tool_result> {
            auto const& caps = ctx.client_capabilities();
            json::object missing;
            if (caps.contains("elicitation") && ctx.input_response("elicit_input") == nullptr)
                missing["elicit_input"] = json::object{
                    {"method", "elicitation/create"},
                    {"params", elicit_params("Your input?", string_arg("value", "Input"))}};
            if (caps.contains("sampling") && ctx.input_response("sample_input") == nullptr) {
                json::array messages;
                messages.push_back(server::prompt_message("user", server::text_content("Hello?")));
                missing["sample_input"] = json::object{
                    {"method", "sampling/createMessage"},
                    {"params", json::object{{"messages", std::move(messages)}, {"maxTokens", 50}}}};
            }
            if (!missing.empty())
                throw server::input_required(std::move(missing), ctx.sealed_state());
            co_return tool_result::text("Done with the declared capabilities");
        });
}

server::resource make_resource(std::string uri, std::string name, std::string title,
                               std::string description, std::string mime) {
    server::resource r;
    r.uri = std::move(uri);
    r.name = std::move(name);
    r.title = std::move(title);
    r.description = std::move(description);
    r.mime_type = std::move(mime);
    return r;
}

server::resource_contents text_contents(std::string uri, std::string mime, std::string text) {
    server::resource_contents c;
    c.uri = std::move(uri);
    c.mime_type = std::move(mime);
    c.text = std::move(text);
    return c;
}

void add_resources(server::server& srv) {
    srv.add_resource(
        make_resource("test://static-text", "static-text", "Static Text Resource",
                      "A static text resource for testing", "text/plain"),
        [](context&, std::string uri) -> asio::awaitable<std::vector<server::resource_contents>> {
            co_return std::vector{text_contents(
                uri, "text/plain", "This is the content of the static text resource.")};
        });
    srv.add_resource(
        make_resource("test://static-binary", "static-binary", "Static Binary Resource",
                      "A static binary resource (image) for testing", "image/png"),
        [](context&, std::string uri) -> asio::awaitable<std::vector<server::resource_contents>> {
            server::resource_contents c;
            c.uri = uri;
            c.mime_type = "image/png";
            c.blob = std::string(png_base64);
            co_return std::vector{std::move(c)};
        });
    srv.add_resource(
        make_resource("test://watched-resource", "watched-resource", "Watched Resource",
                      "A resource that changes while clients watch it", "text/plain"),
        [](context&, std::string uri) -> asio::awaitable<std::vector<server::resource_contents>> {
            co_return std::vector{text_contents(uri, "text/plain", "Watched resource content")};
        });
    // Not a conformance suite fixture: lets a client test see notifications/resources/updated
    // arrive on its GET stream, on cue.
    srv.add_tool(make_tool("test_notify_resource_updated",
                           "Tells the sessions subscribed to a resource that it changed "
                           "(notifications/resources/updated, on their GET stream)",
                           string_arg("uri", "The resource that changed")),
                 [](context& ctx, json::object args) -> asio::awaitable<tool_result> {
                     auto const* u = args.if_contains("uri");
                     std::string uri =
                         u != nullptr && u->is_string() ? std::string(u->get_string()) : "";
                     ctx.owner().resource_updated(uri);
                     co_return tool_result::text("Notified the subscribers of " + uri);
                 });
    server::resource_template t;
    t.uri_template = "test://template/{id}/data";
    t.name = "template";
    t.title = "Resource Template";
    t.description = "A resource template with parameter substitution";
    t.mime_type = "application/json";
    srv.add_resource_template(
        std::move(t),
        [](context&, std::string uri, std::map<std::string, std::string> vars)
            -> asio::awaitable<std::vector<server::resource_contents>> {
            auto id = vars["id"];
            json::object body{{"id", id}, {"templateTest", true}, {"data", "Data for ID: " + id}};
            co_return std::vector{text_contents(uri, "application/json", json::serialize(body))};
        });
}

server::prompt make_prompt(std::string name, std::string title, std::string description,
                           std::vector<server::prompt_argument> args = {}) {
    server::prompt p;
    p.name = std::move(name);
    p.title = std::move(title);
    p.description = std::move(description);
    p.arguments = std::move(args);
    return p;
}

void add_prompts(server::server& srv) {
    using args_t = std::map<std::string, std::string>;
    srv.add_prompt(make_prompt("test_simple_prompt", "Simple Test Prompt",
                               "A simple prompt without arguments"),
                   [](context&, args_t) -> asio::awaitable<server::prompt_result> {
                       server::prompt_result r;
                       r.messages.push_back(server::prompt_message(
                           "user", server::text_content("This is a simple prompt for testing.")));
                       co_return r;
                   });
    std::vector<server::prompt_argument> two{{"arg1", "", "First test argument", true},
                                             {"arg2", "", "Second test argument", true}};
    srv.add_prompt(
        make_prompt("test_prompt_with_arguments", "Prompt With Arguments",
                    "A prompt with required arguments", two),
        [](context&, args_t a) -> asio::awaitable<server::prompt_result> {
            server::prompt_result r;
            r.messages.push_back(server::prompt_message(
                "user", server::text_content("Prompt with arguments: arg1='" + a["arg1"] +
                                             "', arg2='" + a["arg2"] + "'")));
            co_return r;
        });
    std::vector<server::prompt_argument> uri{
        {"resourceUri", "", "URI of the resource to embed", true}};
    srv.add_prompt(
        make_prompt("test_prompt_with_embedded_resource", "Prompt With Embedded Resource",
                    "A prompt that includes an embedded resource", uri),
        [](context&, args_t a) -> asio::awaitable<server::prompt_result> {
            server::prompt_result r;
            r.messages.push_back(server::prompt_message(
                "user", server::embedded_text_resource(a["resourceUri"], "text/plain",
                                                       "Embedded resource content for testing.")));
            r.messages.push_back(server::prompt_message(
                "user", server::text_content("Please process the embedded resource above.")));
            co_return r;
        });
    srv.add_prompt(make_prompt("test_prompt_with_image", "Prompt With Image",
                               "A prompt that includes image content"),
                   [](context&, args_t) -> asio::awaitable<server::prompt_result> {
                       server::prompt_result r;
                       r.messages.push_back(server::prompt_message(
                           "user", server::image_content(png_base64, "image/png")));
                       r.messages.push_back(server::prompt_message(
                           "user", server::text_content("Please analyze the image above.")));
                       co_return r;
                   });
    srv.add_prompt(
        make_prompt("test_input_required_result_prompt", "Prompt Needing Input",
                    "MRTR: prompt that requires elicitation input"),
        [](context& ctx, args_t) -> asio::awaitable<server::prompt_result> {
            json::object schema{
                {"type", "object"},
                {"properties", json::object{{"context", json::object{{"type", "string"}}}}}};
            auto r = co_await ctx.request(
                "elicitation/create",
                elicit_params("What context should the prompt use?", std::move(schema)),
                std::chrono::seconds(60), "user_context");
            if (!r)
                throw server::protocol_error(protocol::code::internal_error, r.error().message());
            server::prompt_result p;
            p.messages.push_back(server::prompt_message(
                "user", server::text_content("Use this context: " + action_and_content(*r))));
            co_return p;
        });
}

} // namespace

void add_conformance_fixtures(server::server& srv) {
    add_content_tools(srv);
    add_client_request_tools(srv);
    add_stateless_tools(srv);
    add_resources(srv);
    add_prompts(srv);
}

} // namespace mcpd::app
