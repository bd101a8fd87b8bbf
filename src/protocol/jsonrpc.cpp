// protocol/jsonrpc.cpp — parsing and writing JSON-RPC 2.0 messages. See jsonrpc.hpp.
#include "mcpd/protocol/jsonrpc.hpp"

#include "core/json_finite.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/serializer.hpp>

#include <array>
#include <cmath>
#include <type_traits>

namespace mcpd::protocol {

namespace json = boost::json;

namespace {

bool valid_id(json::value const& id) {
    return id.is_string() || id.is_int64() || id.is_uint64();
}

invalid bad(json::value id, int c, std::string msg) {
    return invalid{error_response{std::move(id), c, std::move(msg), nullptr}};
}

// Moves a part out of a body parse_body owns; copies it out of a value the caller keeps.
template <class T>
std::remove_const_t<T> take(T& part) {
    if constexpr (std::is_const_v<T>)
        return part;
    else
        return std::move(part);
}

// params must be an object when present (MCP never uses positional params).
template <class Object>
bool read_params(Object& o, json::object& out) {
    auto* p = o.if_contains("params");
    if (p == nullptr || p->is_null())
        return true;
    if (!p->is_object())
        return false;
    out = take(p->get_object());
    return true;
}

// `Value` is json::value (parse_body's own: parts are moved out) or json::value const.
template <class Value>
message read_message(Value& v) {
    auto* o = v.if_object();
    if (o == nullptr)
        return bad(nullptr, code::invalid_request,
                   "Invalid Request: a message must be a JSON object");
    json::value id = nullptr;
    auto const* idp = o->if_contains("id");
    if (idp != nullptr && valid_id(*idp))
        id = *idp;
    auto const* ver = o->if_contains("jsonrpc");
    if (ver == nullptr || !ver->is_string() || ver->get_string() != "2.0")
        return bad(id, code::invalid_request, "Invalid Request: \"jsonrpc\" must be \"2.0\"");

    if (auto const* m = o->if_contains("method")) {
        if (!m->is_string())
            return bad(id, code::invalid_request, "Invalid Request: \"method\" must be a string");
        std::string method(m->get_string());
        json::object params;
        if (!read_params(*o, params))
            return bad(id, code::invalid_request, "Invalid Request: \"params\" must be an object");
        if (idp == nullptr)
            return notification{std::move(method), std::move(params)};
        if (!valid_id(*idp))
            return bad(nullptr, code::invalid_request,
                       "Invalid Request: \"id\" must be a string or an integer");
        return request{*idp, std::move(method), std::move(params)};
    }
    // A response to one of our requests.
    if (idp == nullptr || !valid_id(*idp))
        return bad(nullptr, code::invalid_request,
                   "Invalid Request: neither a request (no \"method\") nor a response (no \"id\")");
    if (auto* r = o->if_contains("result"))
        return response{*idp, take(*r)};
    if (auto* e = o->if_contains("error"); e != nullptr && e->is_object()) {
        error_response er{*idp, code::internal_error, {}, nullptr};
        if (auto const* c = e->get_object().if_contains("code"); c != nullptr && c->is_int64())
            er.code = static_cast<int>(c->get_int64());
        if (auto const* msg = e->get_object().if_contains("message");
            msg != nullptr && msg->is_string())
            er.message = msg->get_string();
        if (auto* d = e->get_object().if_contains("data"))
            er.data = take(*d);
        return er;
    }
    return bad(id, code::invalid_request,
               "Invalid Request: a response needs \"result\" or \"error\"");
}

// How many items a JSON text's top-level array holds, by a scan that builds nothing (strings
// skipped, nesting tracked); 0 when the text is not an array. An approximation for malformed
// text, which the parser then refuses anyway.
std::size_t top_level_items(std::string_view text) {
    auto at = text.find_first_not_of(" \t\r\n");
    if (at == std::string_view::npos || text[at] != '[')
        return 0;
    std::size_t items = 0, depth = 0;
    bool in_string = false, any = false;
    for (auto i = at; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
            continue;
        }
        switch (c) {
        case '"':
            in_string = true;
            any = any || depth == 1;
            break;
        case '[':
        case '{':
            any = any || depth == 1;
            ++depth;
            break;
        case ']':
        case '}':
            if (--depth == 0)
                return any ? items + 1 : 0;
            break;
        case ',':
            items += depth == 1 ? 1 : 0;
            break;
        case ' ':
        case '\t':
        case '\r':
        case '\n':
            break;
        default:
            any = any || depth == 1;
        }
    }
    return any ? items + 1 : 0;
}

} // namespace

message parse_message(json::value const& v) {
    return read_message(v);
}

parsed_body parse_body(std::string_view text, body_limits limits) {
    parsed_body out;
    // A batch over the limit is refused from a scan of the text, before the parser builds its
    // array: "[0,0,…]" in 4 MB is two million values, 32 MB as JSON, and as many answers.
    if (auto items = top_level_items(text); items > limits.max_batch) {
        out.fatal = error_response{nullptr, code::invalid_request,
                                   "Invalid Request: a batch of " + std::to_string(items) +
                                       " messages is over the limit of " +
                                       std::to_string(limits.max_batch) + " (max-batch)",
                                   nullptr};
        out.refused_by = "max-batch";
        return out;
    }
    json::parse_options opts;
    opts.max_depth = limits.max_depth;
    boost::system::error_code ec;
    json::value v = json::parse(text, ec, {}, opts);
    if (ec) {
        out.fatal =
            error_response{nullptr, code::parse_error, "Parse error: " + ec.message(), nullptr};
        return out;
    }
    if (!all_numbers_finite(v)) {
        out.fatal = error_response{nullptr, code::parse_error,
                                   "Parse error: " + std::string(number_out_of_range), nullptr};
        return out;
    }
    if (auto* arr = v.if_array()) {
        if (arr->empty()) {
            out.fatal = error_response{nullptr, code::invalid_request,
                                       "Invalid Request: empty batch", nullptr};
            return out;
        }
        out.batch = true;
        out.messages.reserve(arr->size());
        for (auto& e : *arr)
            out.messages.push_back(read_message(e));
        return out;
    }
    out.messages.push_back(read_message(v));
    return out;
}

namespace {

template <class Json>
std::size_t count_serialized(Json const& j, std::size_t stop_after) {
    json::serializer out;
    out.reset(&j);
    std::array<char, 4096> chunk{};
    std::size_t n = 0;
    while (!out.done() && n <= stop_after)
        n += out.read(chunk.data(), chunk.size()).size();
    return n;
}

} // namespace

std::size_t serialized_size(json::value const& v, std::size_t stop_after) {
    return count_serialized(v, stop_after);
}

std::size_t serialized_size(json::object const& o, std::size_t stop_after) {
    return count_serialized(o, stop_after);
}

json::object to_json(request const& r) {
    json::object o{{"jsonrpc", "2.0"}, {"id", r.id}, {"method", r.method}};
    if (!r.params.empty())
        o["params"] = r.params;
    return o;
}

json::object to_json(notification const& n) {
    return make_notification(n.method, n.params);
}

json::object to_json(response const& r) {
    return make_result(r.id, r.result);
}

json::object to_json(error_response const& e) {
    return make_error(e.id, e.code, e.message, e.data);
}

json::object make_result(json::value const& id, json::value result) {
    return json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

json::object make_error(json::value const& id, int c, std::string_view text, json::value data) {
    json::object err{{"code", c}, {"message", text}};
    if (!data.is_null())
        err["data"] = std::move(data);
    return json::object{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(err)}};
}

json::object make_notification(std::string_view method, json::object params) {
    json::object o{{"jsonrpc", "2.0"}, {"method", method}};
    if (!params.empty())
        o["params"] = std::move(params);
    return o;
}

} // namespace mcpd::protocol
