// server/http_route.cpp — the routing decisions of the MCP endpoints. See http_route.hpp.
#include "server/http_route.hpp"

#include "core/ascii.hpp"
#include "mcpd/protocol/version.hpp"

#include <boost/beast/core/detail/base64.hpp>
#include <boost/json/array.hpp>
#include <boost/url/parse.hpp>

#include <cctype>
#include <charconv>

namespace mcpd::server {

namespace json = boost::json;
using http::status;
namespace code = protocol::code;

namespace {

// "=?base64?<b64>?=" header values (2026-07-28) decode to their UTF-8 text.
std::optional<std::string> decode_header_value(std::string_view v) {
    v = trimmed(v);
    constexpr std::string_view pre = "=?base64?", post = "?=";
    if (v.size() < pre.size() + post.size() || v.substr(0, pre.size()) != pre ||
        v.substr(v.size() - post.size()) != post)
        return std::string(v);
    auto b64 = v.substr(pre.size(), v.size() - pre.size() - post.size());
    if (b64.size() % 4 != 0)
        return std::nullopt;
    for (char c : b64)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '='))
            return std::nullopt;
    std::string out(boost::beast::detail::base64::decoded_size(b64.size()), '\0');
    auto [written, read] = boost::beast::detail::base64::decode(out.data(), b64.data(), b64.size());
    if (read != b64.size())
        return std::nullopt;
    out.resize(written);
    return out;
}

// The revision an initialize request gets.
std::string negotiated(protocol::request const& init) {
    auto const* requested = init.params.if_contains("protocolVersion");
    return std::string(protocol::negotiate(requested != nullptr && requested->is_string()
                                               ? std::string_view(requested->get_string())
                                               : std::string_view{}));
}

bool is_session_version(std::string_view v) {
    return protocol::is_supported(v) && !protocol::is_stateless(v);
}

// "<session>.<stream>.<seq>" naming `session`: the position, or nullopt.
std::optional<stream_position> parse_event_id(std::string_view last, std::string_view session) {
    auto d1 = last.find('.');
    auto d2 = last.rfind('.');
    if (d1 == std::string_view::npos || d2 == d1 || last.substr(0, d1) != session)
        return std::nullopt;
    stream_position at;
    auto a = last.substr(d1 + 1, d2 - d1 - 1), b = last.substr(d2 + 1);
    auto [a_end, a_ec] = std::from_chars(a.data(), a.data() + a.size(), at.stream);
    auto [b_end, b_ec] = std::from_chars(b.data(), b.data() + b.size(), at.seq);
    if (a_ec != std::errc{} || b_ec != std::errc{} || a_end != a.data() + a.size() ||
        b_end != b.data() + b.size())
        return std::nullopt;
    return at;
}

} // namespace

std::string_view trimmed(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
        v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
        v.remove_suffix(1);
    return v;
}

bool accepts(std::string_view accept, std::string_view type) {
    auto family = type.substr(0, type.find('/') + 1); // "text/" of "text/event-stream"
    while (!accept.empty()) {
        auto comma = accept.find(',');
        auto item = trimmed(accept.substr(0, comma));
        item = trimmed(item.substr(0, item.find(';')));
        // Media types are case-insensitive (RFC 9110 8.3.1).
        if (iequals(item, type) || item == "*/*" ||
            (item.size() == family.size() + 1 && item.back() == '*' && istarts_with(item, family)))
            return true;
        if (comma == std::string_view::npos)
            break;
        accept.remove_prefix(comma + 1);
    }
    return false;
}

// Found by http_request_fuzz: a Host header with bytes >= 0x80 made a 403 body invalid JSON.
std::string printable(std::string_view header_value) {
    std::string out(header_value);
    for (char& c : out)
        if (c < 0x20 || c > 0x7e)
            c = '?';
    return out;
}

std::optional<protocol::error_response> check_stateless(http::server_request const& req,
                                                        protocol::request const& r) {
    auto err = [&](int c, std::string msg, json::value data = nullptr) {
        return protocol::error_response{r.id, c, std::move(msg), std::move(data)};
    };
    auto const* meta = r.params.if_contains("_meta");
    if (meta == nullptr || !meta->is_object())
        return err(code::invalid_params, "Invalid params: \"_meta\" is required");
    auto const& m = meta->get_object();
    auto const* v = m.if_contains("io.modelcontextprotocol/protocolVersion");
    if (v == nullptr || !v->is_string())
        return err(
            code::invalid_params,
            "Invalid params: _meta[\"io.modelcontextprotocol/protocolVersion\"] is required");
    auto const* caps = m.if_contains("io.modelcontextprotocol/clientCapabilities");
    if (caps == nullptr || !caps->is_object())
        return err(code::invalid_params, "Invalid params: "
                                         "_meta[\"io.modelcontextprotocol/clientCapabilities\"] "
                                         "is required");
    std::string_view version = v->get_string();
    auto header = trimmed(req[http::field::mcp_protocol_version]);
    if (header.empty())
        return err(-32020, "Missing MCP-Protocol-Version header");
    if (header != version)
        return err(-32020, "Header mismatch: MCP-Protocol-Version header value '" +
                               printable(header) + "' does not match _meta value '" +
                               std::string(version) + "'");
    if (!protocol::is_stateless(version) || !protocol::is_supported(version)) {
        json::array supported;
        supported.emplace_back(protocol::v2026_07_28);
        json::object data{{"supported", std::move(supported)}, {"requested", version}};
        return err(-32022, "Unsupported protocol version: " + std::string(version),
                   std::move(data));
    }
    auto method_header = req[http::field::mcp_method];
    auto method = decode_header_value(method_header);
    if (method_header.empty() || !method || *method != r.method)
        return err(-32020,
                   "Header mismatch: Mcp-Method header must equal the method \"" + r.method + "\"");
    std::string_view name_field = r.method == "resources/read" ? "uri" : "name";
    if (r.method == "tools/call" || r.method == "prompts/get" || r.method == "resources/read") {
        auto const* body_name = r.params.if_contains(name_field);
        auto name_header = req[http::field::mcp_name];
        auto name = decode_header_value(name_header);
        if (name_header.empty() || !name || body_name == nullptr || !body_name->is_string() ||
            *name != std::string_view(body_name->get_string()))
            return err(-32020, "Header mismatch: Mcp-Name header must equal params." +
                                   std::string(name_field));
    }
    return std::nullopt;
}

http::status stateless_status(json::object const& response) {
    auto const* e = response.if_contains("error");
    if (e == nullptr || !e->is_object())
        return status::ok;
    auto const* c = e->get_object().if_contains("code");
    if (c == nullptr || !c->is_int64())
        return status::ok;
    auto v = c->get_int64();
    if (v == code::method_not_found)
        return status::not_found;
    if (v == -32020 || v == -32021 || v == -32022)
        return status::bad_request;
    return status::ok;
}

// ---------------------------------------------------------------------------------------------

http_route::http_route(route_settings const& settings, http::server_request const& req)
    : settings_(settings)
    , req_(req) {}

route_step http_route::create_within_budget() {
    auto const& c = settings_.client;
    if (c.sessions >= c.max_sessions) {
        refused_.limit = "max-sessions-per-client";
        return refuse(status::too_many_requests, code::connection_closed,
                      "Too Many Requests: this address has " + std::to_string(c.sessions) +
                          " sessions, its limit (max-sessions-per-client); end one (DELETE) first");
    }
    if (endpoint_ == endpoint::sse && c.streams >= c.max_streams) {
        refused_.limit = "max-streams-per-client";
        return refuse(status::too_many_requests, code::connection_closed,
                      "Too Many Requests: this address has " + std::to_string(c.streams) +
                          " open streams, its limit (max-streams-per-client)");
    }
    return route_step::create_session;
}

route_step http_route::refuse(status s, int c, std::string message) {
    refused_.status = s;
    refused_.code = c;
    refused_.message = std::move(message);
    return route_step::respond;
}

protocol::request const* http_route::stateless_request() const noexcept {
    if (parsed_.batch || parsed_.messages.size() != 1)
        return nullptr;
    return std::get_if<protocol::request>(&parsed_.messages.front());
}

route_step http_route::start() {
    auto target = req_.target();
    auto path = target.substr(0, target.find('?'));
    if (path == settings_.endpoint)
        endpoint_ = endpoint::mcp;
    else if (settings_.legacy_sse && path == "/sse")
        endpoint_ = endpoint::sse;
    else if (settings_.legacy_sse && path == "/messages")
        endpoint_ = endpoint::messages;
    else {
        refused_.cors = false;
        return refuse(status::not_found, 0, "Not found");
    }

    // No CORS fields on these refusals: the refused page must not read them either.
    auto host = req_[http::field::host];
    if (settings_.origins != nullptr && !http::host_allowed(*settings_.origins, host)) {
        refused_.cors = false;
        return refuse(status::forbidden, code::connection_closed,
                      "Forbidden: Host header \"" + printable(host) + "\" is not allowed");
    }
    auto origin = req_[http::field::origin];
    if (settings_.origins != nullptr && !http::origin_allowed(*settings_.origins, origin)) {
        refused_.cors = false;
        return refuse(status::forbidden, code::connection_closed,
                      "Forbidden: Origin \"" + printable(origin) + "\" is not allowed");
    }

    auto method = req_.method();
    if (method == http::verb::options)
        return route_step::preflight;
    switch (endpoint_) {
    case endpoint::mcp:
        if (method == http::verb::post)
            return start_post();
        if (method == http::verb::get) {
            if (!accepts(req_[http::field::accept], "text/event-stream"))
                return refuse(status::not_acceptable, code::connection_closed,
                              "Not Acceptable: Accept must list text/event-stream");
            session_id_ = trimmed(req_[http::field::mcp_session_id]);
            if (session_id_.empty()) {
                refused_.allow = "POST, GET, DELETE";
                return refuse(status::method_not_allowed, code::connection_closed,
                              "Method Not Allowed: GET needs an Mcp-Session-Id (stateless "
                              "servers have no GET stream)");
            }
            return route_step::find_session;
        }
        if (method == http::verb::delete_) {
            session_id_ = trimmed(req_[http::field::mcp_session_id]);
            if (session_id_.empty())
                return refuse(status::bad_request, code::connection_closed,
                              "Bad Request: Mcp-Session-Id header is required");
            return route_step::find_session;
        }
        refused_.allow = "GET, POST, DELETE";
        break;
    case endpoint::sse:
        if (method == http::verb::get) {
            if (settings_.draining)
                return refuse(status::service_unavailable, code::connection_closed,
                              "Server is shutting down: no new sessions");
            return create_within_budget();
        }
        refused_.allow = "GET";
        break;
    case endpoint::messages:
        if (method == http::verb::post) {
            if (auto u = boost::urls::parse_origin_form(req_.target())) {
                auto params = u->params();
                if (auto it = params.find("sessionId"); it != params.end())
                    session_id_ = (*it).value;
            }
            if (session_id_.empty())
                return refuse(status::not_found, -32001, "Session not found");
            return route_step::find_session;
        }
        refused_.allow = "POST";
        break;
    }
    return refuse(status::method_not_allowed, code::connection_closed, "Method Not Allowed");
}

route_step http_route::start_post() {
    auto ctype = req_[http::field::content_type];
    if (!accepts(ctype, "application/json") || ctype.find('*') != std::string_view::npos)
        return refuse(status::unsupported_media_type, code::connection_closed,
                      "Unsupported Media Type: Content-Type must be application/json");
    auto accept = req_[http::field::accept];
    if (!accepts(accept, "application/json") || !accepts(accept, "text/event-stream"))
        return refuse(status::not_acceptable, code::connection_closed,
                      "Not Acceptable: Accept must list application/json and text/event-stream");
    return read_body();
}

route_step http_route::read_body() {
    if (req_.body().size() > settings_.parse_on_loop_bytes)
        return route_step::parse_body;
    return body_parsed(protocol::parse_body(req_.body(), settings_.body));
}

route_step http_route::body_parsed(protocol::parsed_body parsed) {
    parsed_ = std::move(parsed);
    refused_.limit = parsed_.refused_by;
    if (parsed_.fatal) {
        refused_.id = parsed_.fatal->id;
        refused_.data = parsed_.fatal->data;
        return refuse(status::bad_request, parsed_.fatal->code, parsed_.fatal->message);
    }
    return endpoint_ == endpoint::messages ? route_step::serve_legacy_post : post_body();
}

route_step http_route::post_body() {
    // A body that is one message, and not JSON-RPC, is refused as a whole whatever its session
    // headers say: there is nothing to serve, and "session required" would hide why.
    if (!parsed_.batch && parsed_.messages.size() == 1)
        if (auto const* bad = std::get_if<protocol::invalid>(&parsed_.messages.front())) {
            refused_.id = bad->reply.id;
            refused_.data = bad->reply.data;
            return refuse(status::bad_request, bad->reply.code, bad->reply.message);
        }

    session_id_ = trimmed(req_[http::field::mcp_session_id]);
    auto version_header = trimmed(req_[http::field::mcp_protocol_version]);
    for (auto const& m : parsed_.messages)
        if (auto const* r = std::get_if<protocol::request>(&m);
            r != nullptr && r->method == "initialize")
            init_ = r;

    // Stateless (2026-07-28): no session, and the request names a modern revision in its _meta
    // or its MCP-Protocol-Version header. Checked first: a modern `initialize` is a method that
    // no longer exists, not the start of a session.
    bool legacy_header = !version_header.empty() && is_session_version(version_header);
    if (session_id_.empty() && !parsed_.batch && parsed_.messages.size() == 1) {
        auto const& m = parsed_.messages.front();
        if (auto const* r = std::get_if<protocol::request>(&m)) {
            auto const* meta = r->params.if_contains("_meta");
            bool has_meta = meta != nullptr && meta->is_object() &&
                            meta->get_object().contains("io.modelcontextprotocol/protocolVersion");
            if (has_meta || (!version_header.empty() && !legacy_header)) {
                if (auto bad = check_stateless(req_, *r)) {
                    refused_.id = bad->id;
                    refused_.data = bad->data;
                    auto st = bad->code == code::invalid_params || bad->code <= -32020
                                  ? status::bad_request
                                  : status::ok;
                    return refuse(st, bad->code, bad->message);
                }
                init_ = nullptr;
                return route_step::serve_stateless;
            }
        } else if (std::holds_alternative<protocol::notification>(m) && !version_header.empty() &&
                   !legacy_header) {
            return refuse(status::accepted, 0, {});
        }
    }
    if (!session_id_.empty())
        return route_step::find_session;
    if (init_ == nullptr)
        return refuse(status::bad_request, code::connection_closed,
                      "Bad Request: Mcp-Session-Id header is required");
    if (settings_.draining)
        return refuse(status::service_unavailable, code::connection_closed,
                      "Server is shutting down: no new sessions");
    if (parsed_.messages.size() > 1)
        return refuse(status::bad_request, code::invalid_request,
                      "Invalid Request: initialize must be sent alone");
    return create_within_budget();
}

route_step http_route::session_found(session_facts const& facts) {
    // One answer for every endpoint: a store that failed is not a session that is unknown.
    if (facts.what == session_facts::outcome::store_failed)
        return refuse(status::service_unavailable, code::internal_error,
                      "Session store unavailable: " + std::string(facts.store_error));
    if (facts.what == session_facts::outcome::unknown ||
        (endpoint_ == endpoint::messages && !facts.legacy))
        return refuse(status::not_found, -32001, "Session not found");
    if (endpoint_ == endpoint::messages)
        return read_body();
    if (req_.method() == http::verb::delete_)
        return route_step::end_session;
    if (req_.method() == http::verb::get) {
        if (settings_.draining)
            return refuse(status::service_unavailable, code::connection_closed,
                          "Server is shutting down: no new streams");
        auto last = trimmed(req_[http::field::last_event_id]);
        if (!last.empty()) {
            resume_ = parse_event_id(last, session_id_);
            if (!resume_)
                return refuse(status::bad_request, code::connection_closed,
                              "Bad Request: Last-Event-ID does not belong to this session");
        } else if (facts.stream_open) {
            return refuse(status::conflict, code::connection_closed,
                          "Conflict: this session already has a GET stream");
        }
        if (settings_.client.streams >= settings_.client.max_streams) {
            refused_.limit = "max-streams-per-client";
            return refuse(status::too_many_requests, code::connection_closed,
                          "Too Many Requests: this address has " +
                              std::to_string(settings_.client.streams) +
                              " open streams, its limit (max-streams-per-client)");
        }
        return route_step::open_stream;
    }
    // POST
    auto version_header = trimmed(req_[http::field::mcp_protocol_version]);
    if (!version_header.empty() && !is_session_version(version_header))
        return refuse(status::bad_request, code::connection_closed,
                      "Bad Request: Unsupported protocol version: " + printable(version_header));
    version_ = init_ != nullptr ? negotiated(*init_) : std::string(facts.protocol_version);
    return post_with_session();
}

route_step http_route::session_created(std::string_view failure) {
    if (!failure.empty())
        return refuse(status::service_unavailable, code::connection_closed, std::string(failure));
    if (endpoint_ == endpoint::sse)
        return route_step::open_legacy_stream;
    version_ = negotiated(*init_);
    return post_with_session();
}

route_step http_route::post_with_session() {
    if (parsed_.batch && !protocol::allows_batches(version_))
        return refuse(status::bad_request, code::invalid_request,
                      "Invalid Request: batches are not part of protocol revision " + version_);
    return route_step::serve_post;
}

} // namespace mcpd::server
