// http/policy.hpp — which Host and Origin headers a server accepts (DNS-rebinding defence).
//
// A browser page on evil.example can make a victim's browser send requests to a server bound
// on 127.0.0.1 by resolving evil.example to 127.0.0.1; the request then carries
// `Host: evil.example` and `Origin: http://evil.example`. So a server bound to loopback accepts
// only loopback host names by default, and a request with an Origin header must come from an
// allowed origin. Requests without Origin (non-browser clients) are not refused for lacking it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mcpd::http {

struct origin_policy {
    // Host names (without port) allowed in the Host header; empty: any. "*" also means any.
    std::vector<std::string> allowed_hosts;
    // Origins ("scheme://host[:port]", or "*") allowed in the Origin header. An origin whose host
    // is in allowed_hosts is also allowed.
    std::vector<std::string> allowed_origins;

    // The default for a bind address: loopback binds accept only localhost, 127.0.0.1 and ::1.
    static origin_policy for_bind_address(std::string_view bind_host);
};

// The host part of a Host header value ("[::1]:8080" → "::1", "Example.COM:80" → "example.com").
std::string host_of(std::string_view host_header);

bool host_allowed(origin_policy const& p, std::string_view host_header);
bool origin_allowed(origin_policy const& p, std::string_view origin_header);
bool is_loopback_host(std::string_view host);

// Why a header a caller adds to outgoing requests (the MCP client's extra headers, the gateway's
// per-session headers) is refused, or empty when it may be sent: the name must be an RFC 9110
// token, the value free of CR, LF and NUL (Beast writes both verbatim, so either would split the
// request), and the name none of the framing or MCP transport headers the client sets itself
// (Host, Content-Length, Transfer-Encoding, Connection, Upgrade, TE, Keep-Alive,
// Proxy-Connection, Trailer, Expect, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID).
// Authorization is allowed: a static API key is what these headers are for.
std::string refused_extra_header(std::string_view name, std::string_view value);

} // namespace mcpd::http
