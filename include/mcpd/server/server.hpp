// server/server.hpp — an MCP server: what it offers (tools, resources, prompts, completions) and
// the handlers behind them. Transports (Streamable HTTP, legacy SSE, stdio) feed it messages
// through server/dispatcher.hpp; this file is what a user of the SDK writes against.
//
//     mcpd::server::server srv({.name = "weather", .version = "1.0.0"});
//     srv.add_tool({.name = "echo", .description = "Echoes its input",
//                   .input_schema = {{"type", "object"}}},
//                  [](mcpd::server::context& ctx, boost::json::object args)
//                      -> boost::asio::awaitable<mcpd::server::tool_result> {
//                      co_return mcpd::server::tool_result::text(boost::json::serialize(args));
//                  });
//
// Typed tools (arguments and results as described C++ structs, schemas generated from them)
// are in server/typed_tool.hpp. Guards (guard/guards.hpp: cache-aside, per-session rate limits,
// locks) are declared on the tool and enforced by the dispatcher around its handler:
//
//     srv.add_tool(mcpd::server::tool{.name = "send_email", .input_schema = schema}
//                      .rate_limit(5, 1min)
//                      .lock("send-email:{user_id}", 30s),
//                  handler);
//
// with the backends of server_options::guards (or set_guards; in process by default). A handler
// that throws makes the call an `isError` result with the exception's message; throwing
// protocol_error makes it a JSON-RPC error instead.
//
// Registration may happen while serving (all on the server's executor); each change sends
// `notifications/*/list_changed` to the sessions.
#pragma once

#include "mcpd/core/error.hpp"
#include "mcpd/guard/guards.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mcpd::server {

class context;

// An error the client sees as a JSON-RPC error (code, message) rather than a tool error.
class protocol_error : public std::runtime_error {
public:
    protocol_error(int code, std::string const& message, boost::json::value data = nullptr)
        : std::runtime_error(message)
        , code_(code)
        , data_(std::move(data)) {}
    [[nodiscard]] int code() const noexcept { return code_; }
    [[nodiscard]] boost::json::value const& data() const noexcept { return data_; }

private:
    int code_;
    boost::json::value data_;
};

// Thrown by a handler (of tools/call, prompts/get or resources/read) of a stateless
// (2026-07-28) request that needs input from the client first: the result becomes
// `{"resultType": "input_required", "inputRequests": …, "requestState": …}` and the client
// retries with `inputResponses`. context::elicit/create_message/list_roots throw it for you.
class input_required : public std::exception {
public:
    input_required(boost::json::object requests, std::string state)
        : requests_(std::move(requests))
        , state_(std::move(state)) {}
    [[nodiscard]] char const* what() const noexcept override { return "input required"; }
    [[nodiscard]] boost::json::object const& requests() const noexcept { return requests_; }
    [[nodiscard]] std::string const& state() const noexcept { return state_; }

private:
    boost::json::object requests_;
    std::string state_;
};

struct implementation {
    std::string name = "mcpd";
    std::string version;
    std::string title;       // optional, 2025-06-18+
    std::string description; // optional, 2025-11-25+
    std::string website_url; // optional, 2025-11-25+
};

// A CallToolResult.
struct tool_result {
    boost::json::array content;
    std::optional<boost::json::value> structured_content;
    bool is_error = false;
    boost::json::object meta;

    static tool_result text(std::string text, bool is_error = false);
    static tool_result error(std::string message) { return text(std::move(message), true); }
};

// Content blocks (tool results, prompt messages).
boost::json::object text_content(std::string_view text);
boost::json::object image_content(std::string_view base64, std::string_view mime_type);
boost::json::object audio_content(std::string_view base64, std::string_view mime_type);
boost::json::object embedded_text_resource(std::string_view uri, std::string_view mime_type,
                                           std::string_view text);
boost::json::object resource_link(std::string_view uri, std::string_view name,
                                  std::string_view mime_type = {},
                                  std::string_view description = {});

using tool_handler =
    std::function<boost::asio::awaitable<tool_result>(context&, boost::json::object arguments)>;

struct tool {
    std::string name;
    std::string title;
    std::string description;
    boost::json::object input_schema;  // must be {"type":"object", …}
    boost::json::object output_schema; // empty: none
    boost::json::object annotations;   // readOnlyHint, destructiveHint, …
    boost::json::array icons;
    boost::json::object meta;
    guard::tool_guards guards; // not sent to clients

    // Fluent guard declarations: tool{…}.cache(300s).rate_limit(30, 1min).lock("k:{id}", 30s).
    // Each throws std::invalid_argument on values that cannot work.
    tool& cache(duration ttl) & {
        guards.cache(ttl);
        return *this;
    }
    tool&& cache(duration ttl) && { return std::move(cache(ttl)); }
    tool& cache(guard::cache_policy p) & {
        guards.cache(p);
        return *this;
    }
    tool&& cache(guard::cache_policy p) && { return std::move(cache(p)); }
    tool& rate_limit(std::int64_t max, duration window) & {
        guards.rate_limit(max, window);
        return *this;
    }
    tool&& rate_limit(std::int64_t max, duration window) && {
        return std::move(rate_limit(max, window));
    }
    tool& rate_limit(guard::rate_policy p) & {
        guards.rate_limit(p);
        return *this;
    }
    tool&& rate_limit(guard::rate_policy p) && { return std::move(rate_limit(p)); }
    tool& lock(std::string key_template, duration ttl) & {
        guards.lock(std::move(key_template), ttl);
        return *this;
    }
    tool&& lock(std::string key_template, duration ttl) && {
        return std::move(lock(std::move(key_template), ttl));
    }
    tool& lock(guard::lock_policy p) & {
        guards.lock(std::move(p));
        return *this;
    }
    tool&& lock(guard::lock_policy p) && { return std::move(lock(std::move(p))); }
};

// resources/read answers with a list of contents (usually one).
struct resource_contents {
    std::string uri;
    std::string mime_type;
    std::optional<std::string> text;
    std::optional<std::string> blob; // base64
    boost::json::object meta;
};

struct resource {
    std::string uri;
    std::string name;
    std::string title;
    std::string description;
    std::string mime_type;
    std::optional<std::int64_t> size;
    boost::json::object annotations;
    boost::json::array icons;
};

struct resource_template {
    std::string uri_template; // RFC 6570 level 1: "test://template/{id}/data"
    std::string name;
    std::string title;
    std::string description;
    std::string mime_type;
    boost::json::array icons;
};

using resource_handler = std::function<boost::asio::awaitable<std::vector<resource_contents>>(
    context&, std::string uri)>;
// For a template: the variables matched from the URI.
using template_handler = std::function<boost::asio::awaitable<std::vector<resource_contents>>(
    context&, std::string uri, std::map<std::string, std::string> vars)>;

struct prompt_argument {
    std::string name;
    std::string title;
    std::string description;
    bool required = false;
};

struct prompt {
    std::string name;
    std::string title;
    std::string description;
    std::vector<prompt_argument> arguments;
    boost::json::array icons;
};

// GetPromptResult: description plus messages ({role, content}).
struct prompt_result {
    std::string description;
    boost::json::array messages;
};
boost::json::object prompt_message(std::string_view role, boost::json::object content);

using prompt_handler = std::function<boost::asio::awaitable<prompt_result>(
    context&, std::map<std::string, std::string> arguments)>;

// completion/complete: given the argument being typed and its value so far (and the other
// arguments already chosen), the suggestions.
struct completion_request {
    std::string ref_type; // "ref/prompt" or "ref/resource"
    std::string ref;      // prompt name or resource template URI
    std::string argument;
    std::string value;
    std::map<std::string, std::string> context_arguments;
};
struct completion_result {
    std::vector<std::string> values; // at most 100 are sent
    std::optional<std::int64_t> total;
    bool has_more = false;
};
using completion_handler =
    std::function<boost::asio::awaitable<completion_result>(context&, completion_request)>;

// What one protocol session may make the server keep (docs/operations.md's budgets): a client
// that asks for more gets an error that names the setting.
struct session_limits {
    std::size_t max_client_state_bytes = 64 * 1024; // clientInfo + capabilities, as JSON text
    std::size_t max_subscriptions = 1000;           // resources/subscribe URIs
    std::size_t max_uri_bytes = 8 * 1024;           // one subscribed URI
    std::size_t max_pending_client_requests = 64;   // sampling/elicitation/roots unanswered
};

struct server_options {
    implementation info;
    std::string instructions;
    std::size_t page_size = 100; // items per tools/list, resources/list, … page
    // 64 hex characters: the key that seals stateless requests' requestState. Instances of a
    // fleet share it so that a retry may reach any of them; empty: a random key per process.
    std::string state_key;
    // The backends that enforce tools' guards (guard::guard_set::with_redis for a fleet, or
    // guard::guard_set_from_env); unset: in-process ones, made when first needed.
    std::shared_ptr<guard::guard_set> guards;
    session_limits limits;
};

// Matches a URI against an RFC 6570 level-1 template ("{name}" segments match [^/]+ ... or any
// run of characters up to the next literal). Exposed for tests.
std::optional<std::map<std::string, std::string>> match_uri_template(std::string_view tmpl,
                                                                     std::string_view uri);

class server {
public:
    explicit server(server_options opts);
    ~server();
    server(server const&) = delete;
    server& operator=(server const&) = delete;

    // Registration replaces an entry with the same name/URI. Names are checked (tools: 1–128
    // characters of [A-Za-z0-9_.-]) and an invalid one throws std::invalid_argument: a mistake
    // is caught when the server starts, not when a model first calls the tool.
    // A tool's lock key template may only name properties its input schema declares.
    void add_tool(tool t, tool_handler h);
    bool remove_tool(std::string_view name);
    // Replaces the guards of a registered tool (configuration applied after registration);
    // false when there is no such tool. Checked as add_tool checks them.
    bool set_tool_guards(std::string_view name, guard::tool_guards g);
    // The guards' backends (see server_options::guards). Set before serving.
    void set_guards(std::shared_ptr<guard::guard_set> g);
    [[nodiscard]] guard::guard_set& guards();
    void add_resource(resource r, resource_handler h);
    bool remove_resource(std::string_view uri);
    void add_resource_template(resource_template t, template_handler h);
    void add_prompt(prompt p, prompt_handler h);
    bool remove_prompt(std::string_view name);
    void set_completion_handler(completion_handler h);

    // Notifies subscribed sessions that a resource changed (notifications/resources/updated).
    void resource_updated(std::string_view uri);

    [[nodiscard]] server_options const& options() const noexcept;

    // For the dispatcher.
    struct registry;
    [[nodiscard]] registry& reg() noexcept { return *reg_; }

private:
    std::unique_ptr<registry> reg_;
};

} // namespace mcpd::server
