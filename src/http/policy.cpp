// http/policy.cpp — Host and Origin checks. See policy.hpp.
#include "mcpd/http/policy.hpp"

#include "http/address.hpp"

#include "core/ascii.hpp"

#include <algorithm>
#include <cctype>

namespace mcpd::http {

namespace {

bool listed(std::vector<std::string> const& list, std::string_view value) {
    return std::any_of(list.begin(), list.end(),
                       [&](std::string const& e) { return e == "*" || iequals(e, value); });
}

} // namespace

bool is_loopback_host(std::string_view host) {
    return host == "localhost" || host == "::1" || host == "127.0.0.1" ||
           (host.size() > 4 && host.substr(0, 4) == "127." &&
            host.find_first_not_of("0123456789.") == std::string_view::npos);
}

origin_policy origin_policy::for_bind_address(std::string_view bind_host) {
    origin_policy p;
    if (is_loopback_host(ascii_lower(bind_host)))
        p.allowed_hosts = {"localhost", "127.0.0.1", "::1"};
    return p;
}

namespace {

// The host of a Host header as written (no port, no brackets, no surrounding blanks); empty
// when it is malformed.
std::string_view host_part(std::string_view h) {
    while (!h.empty() && (h.back() == ' ' || h.back() == '\t'))
        h.remove_suffix(1);
    while (!h.empty() && (h.front() == ' ' || h.front() == '\t'))
        h.remove_prefix(1);
    if (!h.empty() && h.front() == '[') {
        auto end = h.find(']');
        if (end == std::string_view::npos)
            return {};
        return h.substr(1, end - 1);
    }
    auto colon = h.rfind(':');
    if (colon != std::string_view::npos)
        h = h.substr(0, colon);
    return h;
}

} // namespace

std::string host_of(std::string_view h) {
    return ascii_lower(host_part(h));
}

bool host_allowed(origin_policy const& p, std::string_view host_header) {
    if (p.allowed_hosts.empty())
        return true;
    auto host = host_part(host_header); // compared ignoring case: no lowered copy
    return !host.empty() && listed(p.allowed_hosts, host);
}

bool origin_allowed(origin_policy const& p, std::string_view origin_header) {
    if (origin_header.empty() || (p.allowed_hosts.empty() && p.allowed_origins.empty()))
        return true;
    auto origin = ascii_lower(origin_header);
    if (listed(p.allowed_origins, origin))
        return true;
    // An Origin is scheme "://" host [":" port] and nothing else (RFC 6454), read by hand:
    // Boost.URL 1.81 parses "http://127.0.0.1.evil.example" as host 127.0.0.1 followed by a path
    // (boostorg/url#755), which would let that page through as a loopback origin.
    std::string_view rest = origin;
    if (rest.starts_with("http://"))
        rest.remove_prefix(7);
    else if (rest.starts_with("https://"))
        rest.remove_prefix(8);
    else
        return false;
    if (rest.empty() || rest.find_first_of("/?#@\\ \t") != std::string_view::npos)
        return false;
    std::string_view port; // ":digits" or nothing
    if (rest.front() == '[') {
        auto close = rest.find(']');
        if (close == std::string_view::npos)
            return false;
        port = rest.substr(close + 1);
    } else if (auto colon = rest.find(':'); colon != std::string_view::npos) {
        port = rest.substr(colon);
    }
    if (!port.empty() && (port.size() == 1 || port.front() != ':' ||
                          port.find_first_not_of("0123456789", 1) != std::string_view::npos))
        return false;
    auto host = host_of(rest);
    return !host.empty() && listed(p.allowed_hosts, host);
}

std::string refused_extra_header(std::string_view name, std::string_view value) {
    if (name.empty())
        return "a header name is empty";
    // tchar (RFC 9110 §5.6.2).
    constexpr std::string_view tchar_punct = "!#$%&'*+-.^_`|~";
    for (char c : name) {
        auto u = static_cast<unsigned char>(c);
        if (!(std::isalnum(u) != 0 && u < 0x80) && tchar_punct.find(c) == std::string_view::npos)
            return "header name \"" + std::string(name.substr(0, 64)) +
                   "\" is not a valid HTTP token";
    }
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
        return "header " + std::string(name) + ": the value contains CR, LF or NUL";
    static constexpr std::string_view reserved[] = {
        "host",         "content-length",   "transfer-encoding",
        "connection",   "upgrade",          "te",
        "keep-alive",   "proxy-connection", "trailer",
        "expect",       "mcp-session-id",   "mcp-protocol-version",
        "last-event-id"};
    auto lowered = ascii_lower(name);
    for (auto r : reserved)
        if (lowered == r)
            return "header " + std::string(name) +
                   " is set by the client itself and cannot be given";
    return {};
}

std::string non_public_address_kind(boost::asio::ip::address const& a) {
    namespace ip = boost::asio::ip;
    auto v4_kind = [](ip::address_v4 const& v4) -> std::string {
        auto b = v4.to_bytes();
        if (b[0] == 127)
            return "loopback";
        if (b[0] == 0)
            return v4.is_unspecified() ? "unspecified" : "this network (0.0.0.0/8)";
        if (b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168))
            return "private (RFC 1918)";
        if (b[0] == 169 && b[1] == 254)
            return "link-local";
        if (b[0] == 100 && (b[1] & 0xc0) == 64)
            return "carrier-grade NAT (100.64.0.0/10)";
        if (b[0] == 198 && (b[1] & 0xfe) == 18)
            return "benchmarking (198.18.0.0/15)";
        if ((b[0] == 192 && b[1] == 0 && b[2] == 2) || (b[0] == 198 && b[1] == 51 && b[2] == 100) ||
            (b[0] == 203 && b[1] == 0 && b[2] == 113))
            return "documentation (TEST-NET)";
        if (b[0] >= 224 && b[0] <= 239)
            return "multicast";
        if (v4 == ip::address_v4::broadcast())
            return "broadcast";
        if (b[0] >= 240)
            return "reserved";
        if (b[0] == 192 && b[1] == 0 && b[2] == 0)
            return "reserved"; // IETF protocol assignments (192.0.0.0/24)
        if (b[0] == 192 && b[1] == 88 && b[2] == 99)
            return "reserved"; // the former 6to4 relay anycast (192.88.99.0/24)
        return {};
    };
    if (a.is_v4())
        return v4_kind(a.to_v4());
    auto v6 = a.to_v6();
    auto b = v6.to_bytes();
    // The IPv4 address in bytes [at, at + 4) of `b`.
    auto carried = [&b](std::size_t at) {
        return ip::address_v4(ip::address_v4::bytes_type{b[at], b[at + 1], b[at + 2], b[at + 3]});
    };
    auto zeros = [&b](std::size_t from, std::size_t to) {
        for (auto i = from; i < to; ++i)
            if (b[i] != 0)
                return false;
        return true;
    };
    if (v6.is_v4_mapped())
        return v4_kind(ip::make_address_v4(ip::v4_mapped, v6));
    if (v6.is_loopback())
        return "loopback";
    if (v6.is_unspecified())
        return "unspecified";
    if (zeros(0, 12)) // ::a.b.c.d, IPv4-compatible (deprecated, RFC 4291 2.5.5.1)
        return "IPv4-compatible (::/96)";
    if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
        if (zeros(4, 12)) { // NAT64 well-known prefix (RFC 6052)
            auto kind = v4_kind(carried(12));
            return kind.empty() ? std::string() : "NAT64 to " + kind;
        }
        if (b[4] == 0x00 && b[5] == 0x01) // 64:ff9b:1::/48, local-use NAT64 (RFC 8215)
            return "local-use NAT64 (64:ff9b:1::/48)";
    }
    if (b[0] == 0x20 && b[1] == 0x02) { // 6to4 (RFC 3056): the IPv4 address in bits 16-47
        auto kind = v4_kind(carried(2));
        return kind.empty() ? std::string() : "6to4 to " + kind;
    }
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00)
        return "Teredo (2001::/32)";
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
        return "documentation (2001:db8::/32)";
    if (b[0] == 0x01 && zeros(1, 8))
        return "discard-only (100::/64)";
    if (v6.is_multicast())
        return "multicast";
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return "link-local";
    if ((b[0] & 0xfe) == 0xfc)
        return "unique local (fc00::/7)";
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
        return "site-local";
    return {};
}

} // namespace mcpd::http
