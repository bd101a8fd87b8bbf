// http/client_options.hpp — what a user of mcpd's HTTP client sets: URLs, trust, timeouts and
// limits (the client itself, on Beast, is private: src/http/client.hpp).
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"

#include <boost/asio/ip/address.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace mcpd::http {

// An absolute http or https URL, split the way a request needs it.
struct url {
    std::string scheme;     // "http" or "https"
    std::string host;       // a name, an IPv4 address, or an IPv6 address without brackets
    std::uint16_t port = 0; // always set (80 / 443 when the URL has none)
    std::string target;     // path and query, at least "/"; the fragment is dropped

    [[nodiscard]] bool tls() const noexcept { return scheme == "https"; }
    // host[:port] as the Host header wants it: the port only when not the scheme's default,
    // IPv6 addresses in brackets.
    [[nodiscard]] std::string authority() const;
    [[nodiscard]] std::string origin() const; // scheme://authority
    [[nodiscard]] std::string text() const;   // origin + target
    friend bool operator==(url const&, url const&) = default;
};

// Parses an absolute http:// or https:// URL (userinfo is refused: credentials do not belong in
// a URL that ends up in logs and records).
result<url> parse_url(std::string_view text);
// Resolves a reference (absolute, or relative like "/messages?sessionId=1") against `base`,
// RFC 3986 §5.
result<url> resolve_url(url const& base, std::string_view reference);

struct client_options {
    duration connect_timeout = std::chrono::seconds(10);  // DNS + TCP + TLS handshake
    duration response_timeout = std::chrono::seconds(30); // per request, unless it says otherwise
    // A streamed body (read_some) that sends no byte for this long fails; zero: no limit (an
    // SSE stream may be quiet for long; the MCP layer has its own liveness checks).
    duration stream_idle_timeout = duration::zero();
    std::size_t max_body_bytes = std::size_t{16} * 1024 * 1024; // fetch() and read_body()
    std::size_t max_header_bytes = std::size_t{64} * 1024;
    std::string ca_file; // PEM file of CAs to trust instead of the system's store
    std::string user_agent = "mcpd";
    std::size_t max_idle_connections = 8;
    // An idle kept-alive connection older than this is not reused (servers close theirs: Node's
    // default is 5 s).
    duration idle_connection_ttl = std::chrono::seconds(4);
    // Consulted on every address a host name resolves to, after resolution (so a name that
    // resolves to a private address later, DNS rebinding, is caught at connect time): a reason
    // refuses that address, an empty string allows it. Unset: every address is allowed.
    std::function<std::string(boost::asio::ip::address const&)> refuse_address;
};

// How much of a server-sent event stream the client holds at once (the MCP client's streams).
struct sse_parser_limits {
    std::size_t max_line_bytes = std::size_t{1024} * 1024;
    std::size_t max_event_bytes = std::size_t{16} * 1024 * 1024;
};

} // namespace mcpd::http
