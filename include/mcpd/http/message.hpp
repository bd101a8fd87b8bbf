// http/message.hpp — mcpd's own small HTTP vocabulary: methods, the request fields mcpd reads,
// statuses, and a response to send.
//
// Public headers speak these instead of Beast's types, so that a program built on mcpd needs no
// Beast (nor its compile time); src/http/ turns them into bytes itself.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpd::http {

enum class verb : std::uint8_t { unknown, get, head, post, put, delete_, options, patch };
// The method a request line names (case-sensitive, as RFC 9110 9.1 says), unknown for others.
verb to_verb(std::string_view method) noexcept;

// The request fields mcpd reads, recognized once when a request is parsed so that finding one
// is a comparison of small numbers; any field can also be found by its name.
enum class field : std::uint8_t {
    other,
    host,
    origin,
    accept,
    authorization,
    connection,
    content_length,
    content_type,
    forwarded,
    last_event_id,
    mcp_method,
    mcp_name,
    mcp_protocol_version,
    mcp_session_id,
    transfer_encoding,
    user_agent,
    x_request_id,
};
// The field a name is (names compare ignoring case), other when mcpd does not read it by number.
field to_field(std::string_view name) noexcept;

enum class status : std::uint16_t {
    ok = 200,
    created = 201,
    accepted = 202,
    no_content = 204,
    bad_request = 400,
    unauthorized = 401,
    forbidden = 403,
    not_found = 404,
    method_not_allowed = 405,
    not_acceptable = 406,
    request_timeout = 408,
    conflict = 409,
    payload_too_large = 413,
    unsupported_media_type = 415,
    too_many_requests = 429,
    request_header_fields_too_large = 431,
    internal_server_error = 500,
    not_implemented = 501,
    bad_gateway = 502,
    service_unavailable = 503,
    gateway_timeout = 504,
};
// "Not Found" for 404; "" for a status without a reason phrase here.
std::string_view reason(status s) noexcept;

// Header fields to send, in order (a response's, or what an auth hook adds to a request).
class header_list {
public:
    using entry = std::pair<std::string, std::string>;
    // Replaces the field of that name (compared ignoring case), or adds it.
    void set(std::string_view name, std::string_view value);
    // The value of the field of that name, "" when there is none.
    [[nodiscard]] std::string_view operator[](std::string_view name) const noexcept;
    [[nodiscard]] auto begin() const noexcept { return entries_.begin(); }
    [[nodiscard]] auto end() const noexcept { return entries_.end(); }
    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
    [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }

private:
    std::vector<entry> entries_;
};

// A complete response. The server adds Content-Length, Connection, X-Request-Id and the
// status line; everything else is in `fields`.
struct response {
    http::status status = status::ok;
    std::string body;
    header_list fields;

    void set(std::string_view name, std::string_view value) { fields.set(name, value); }
};

// A response with a body of `content_type`.
response make_response(status s, std::string body,
                       std::string_view content_type = "text/plain; charset=utf-8");

} // namespace mcpd::http
