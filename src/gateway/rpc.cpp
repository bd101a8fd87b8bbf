// gateway/rpc.cpp — the browser's RPC methods mapped onto the manager. See rpc.hpp.
#include "mcpd/gateway/rpc.hpp"

#include "mcpd/gateway/manager.hpp"
#include "mcpd/http/policy.hpp"

#include <boost/json/serialize.hpp>

namespace mcpd::gateway {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

json::object rpc_error(json::value const& id, std::string_view code, std::string message) {
    return json::object{{"id", id},
                        {"error", json::object{{"code", code}, {"message", std::move(message)}}}};
}

// A parameter problem, found before anything runs.
struct bad_params {
    std::string message;
};

std::string required_text(json::object const& params, std::string_view name) {
    auto const* v = params.if_contains(name);
    if (v == nullptr || !v->is_string() || v->get_string().empty())
        throw bad_params{std::string(name) + " is required (a non-empty string)"};
    return std::string(v->get_string());
}

std::string optional_text(json::object const& params, std::string_view name) {
    auto const* v = params.if_contains(name);
    if (v == nullptr || v->is_null())
        return {};
    if (!v->is_string())
        throw bad_params{std::string(name) + " must be a string"};
    return std::string(v->get_string());
}

json::object optional_object(json::object const& params, std::string_view name) {
    auto const* v = params.if_contains(name);
    if (v == nullptr || v->is_null())
        return {};
    if (!v->is_object())
        throw bad_params{std::string(name) + " must be an object"};
    return v->get_object();
}

connect_params connect_params_from(json::object const& params) {
    connect_params p;
    p.server_id = optional_text(params, "serverId");
    p.server_name = optional_text(params, "serverName");
    p.server_url = required_text(params, "serverUrl");
    p.callback_url = optional_text(params, "callbackUrl");
    auto transport = optional_text(params, "transportType");
    if (!transport.empty()) {
        p.transport = client::parse_transport_kind(transport);
        if (!p.transport)
            throw bad_params{"transportType must be \"streamable_http\" or \"sse\""};
    }
    // As the reference normalizes them: trimmed, empty names and values dropped.
    for (auto const& [name, value] : optional_object(params, "headers")) {
        auto trim = [](std::string s) {
            auto b = s.find_first_not_of(" \t");
            auto e = s.find_last_not_of(" \t");
            return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
        };
        std::string text =
            value.is_string() ? std::string(value.get_string()) : json::serialize(value);
        auto n = trim(std::string(name));
        auto v = trim(text);
        if (n.empty() || v.empty())
            continue;
        // Sent verbatim on every request to the server: no CR/LF, no framing headers.
        if (auto why = http::refused_extra_header(n, v); !why.empty())
            throw bad_params{"headers: " + why};
        p.headers.emplace_back(std::move(n), std::move(v));
    }
    return p;
}

} // namespace

asio::awaitable<json::object> handle_rpc(manager& m, std::string identity,
                                         json::value const& request, event_sink also) {
    if (!request.is_object())
        co_return rpc_error(nullptr, "INVALID_PARAMS", "the request must be a JSON object");
    auto const& req = request.get_object();
    json::value id = nullptr;
    if (auto const* v = req.if_contains("id"))
        id = *v;
    auto const* method_v = req.if_contains("method");
    if (method_v == nullptr || !method_v->is_string())
        co_return rpc_error(id, "INVALID_PARAMS", "method is required (a string)");
    std::string method(method_v->get_string());
    json::object params;
    if (auto const* p = req.if_contains("params"); p != nullptr && !p->is_null()) {
        if (!p->is_object())
            co_return rpc_error(id, "INVALID_PARAMS", "params must be an object");
        params = p->get_object();
    }

    result<json::object> r = json::object{};
    try {
        if (method == "getSessions") {
            r = co_await m.get_sessions(identity);
        } else if (method == "connect") {
            auto p = connect_params_from(params);
            r = co_await m.connect(identity, std::move(p), also);
        } else if (method == "disconnect") {
            auto sid = required_text(params, "sessionId");
            r = co_await m.disconnect(identity, std::move(sid), also);
        } else if (method == "restoreSession") {
            auto sid = required_text(params, "sessionId");
            r = co_await m.restore_session(identity, std::move(sid), also);
        } else if (method == "restoreSessions") {
            r = co_await m.restore_all(identity, also);
        } else if (method == "finishAuth") {
            auto sid = required_text(params, "sessionId");
            auto code = required_text(params, "code");
            auto state = optional_text(params, "state");
            auto iss = optional_text(params, "iss");
            r = co_await m.finish_auth(identity, std::move(sid), std::move(code), std::move(state),
                                       std::move(iss), also);
        } else if (method == "listTools") {
            auto sid = required_text(params, "sessionId");
            r = co_await m.list_tools(identity, std::move(sid), also);
        } else if (method == "callTool") {
            auto sid = required_text(params, "sessionId");
            auto tool = required_text(params, "toolName");
            auto args = optional_object(params, "toolArgs");
            r = co_await m.call_tool(identity, std::move(sid), std::move(tool), std::move(args),
                                     also);
        } else if (method == "listPrompts") {
            auto sid = required_text(params, "sessionId");
            r = co_await m.list_prompts(identity, std::move(sid), also);
        } else if (method == "getPrompt") {
            auto sid = required_text(params, "sessionId");
            auto name = required_text(params, "name");
            auto args = optional_object(params, "args");
            r = co_await m.get_prompt(identity, std::move(sid), std::move(name), std::move(args),
                                      also);
        } else if (method == "listResources") {
            auto sid = required_text(params, "sessionId");
            r = co_await m.list_resources(identity, std::move(sid), also);
        } else if (method == "readResource") {
            auto sid = required_text(params, "sessionId");
            auto uri = required_text(params, "uri");
            r = co_await m.read_resource(identity, std::move(sid), std::move(uri), also);
        } else {
            co_return rpc_error(id, "UNKNOWN_METHOD", "Unknown method: " + method);
        }
    } catch (bad_params const& b) {
        co_return rpc_error(id, "INVALID_PARAMS", b.message);
    } catch (std::exception const& e) {
        // Nothing may leave an RPC unanswered (the browser would wait forever).
        co_return rpc_error(id, "EXECUTION_ERROR", std::string("internal error: ") + e.what());
    } catch (...) {
        co_return rpc_error(id, "EXECUTION_ERROR", "internal error");
    }
    if (!r) {
        auto const& e = r.error();
        bool invalid = e.code == make_error_code(errc::invalid_params);
        co_return rpc_error(
            id, invalid ? "INVALID_PARAMS" : "EXECUTION_ERROR",
            e.code.category() == gateway_category() && !e.detail.empty() ? e.detail : e.message());
    }
    co_return json::object{{"id", id}, {"result", std::move(*r)}};
}

} // namespace mcpd::gateway
