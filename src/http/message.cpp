// http/message.cpp — methods, fields and statuses by name. See message.hpp.
#include "mcpd/http/message.hpp"

#include "core/ascii.hpp"

#include <array>

namespace mcpd::http {

verb to_verb(std::string_view method) noexcept {
    static constexpr std::array<std::pair<std::string_view, verb>, 7> methods{{
        {"GET", verb::get},
        {"POST", verb::post},
        {"DELETE", verb::delete_},
        {"OPTIONS", verb::options},
        {"HEAD", verb::head},
        {"PUT", verb::put},
        {"PATCH", verb::patch},
    }};
    for (auto const& [name, v] : methods)
        if (method == name)
            return v;
    return verb::unknown;
}

field to_field(std::string_view name) noexcept {
    static constexpr std::array<std::pair<std::string_view, field>, 16> fields{{
        {"Host", field::host},
        {"Origin", field::origin},
        {"Accept", field::accept},
        {"Authorization", field::authorization},
        {"Connection", field::connection},
        {"Content-Length", field::content_length},
        {"Content-Type", field::content_type},
        {"Forwarded", field::forwarded},
        {"Last-Event-ID", field::last_event_id},
        {"Mcp-Method", field::mcp_method},
        {"Mcp-Name", field::mcp_name},
        {"MCP-Protocol-Version", field::mcp_protocol_version},
        {"Mcp-Session-Id", field::mcp_session_id},
        {"Transfer-Encoding", field::transfer_encoding},
        {"User-Agent", field::user_agent},
        {"X-Request-Id", field::x_request_id},
    }};
    // The size first: most names are told apart without looking at a character.
    for (auto const& [known, f] : fields)
        if (known.size() == name.size() && iequals(known, name))
            return f;
    return field::other;
}

std::string_view reason(status s) noexcept {
    switch (s) {
    case status::ok:
        return "OK";
    case status::created:
        return "Created";
    case status::accepted:
        return "Accepted";
    case status::no_content:
        return "No Content";
    case status::bad_request:
        return "Bad Request";
    case status::unauthorized:
        return "Unauthorized";
    case status::forbidden:
        return "Forbidden";
    case status::not_found:
        return "Not Found";
    case status::method_not_allowed:
        return "Method Not Allowed";
    case status::not_acceptable:
        return "Not Acceptable";
    case status::request_timeout:
        return "Request Timeout";
    case status::conflict:
        return "Conflict";
    case status::payload_too_large:
        return "Payload Too Large";
    case status::unsupported_media_type:
        return "Unsupported Media Type";
    case status::too_many_requests:
        return "Too Many Requests";
    case status::request_header_fields_too_large:
        return "Request Header Fields Too Large";
    case status::internal_server_error:
        return "Internal Server Error";
    case status::not_implemented:
        return "Not Implemented";
    case status::bad_gateway:
        return "Bad Gateway";
    case status::service_unavailable:
        return "Service Unavailable";
    case status::gateway_timeout:
        return "Gateway Timeout";
    }
    return {};
}

void header_list::set(std::string_view name, std::string_view value) {
    for (auto& [n, v] : entries_)
        if (iequals(n, name)) {
            v.assign(value);
            return;
        }
    entries_.emplace_back(name, value);
}

std::string_view header_list::operator[](std::string_view name) const noexcept {
    for (auto const& [n, v] : entries_)
        if (iequals(n, name))
            return v;
    return {};
}

response make_response(status s, std::string body, std::string_view content_type) {
    response res;
    res.status = s;
    res.body = std::move(body);
    res.fields.set("Content-Type", content_type);
    return res;
}

} // namespace mcpd::http
