// http/policy.cpp — Host and Origin checks. See policy.hpp.
#include "http/policy.hpp"

#include <algorithm>
#include <cctype>

namespace mcpd::http {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

bool listed(std::vector<std::string> const& list, std::string_view value) {
    return std::any_of(list.begin(), list.end(),
                       [&](std::string const& e) { return e == "*" || lower(e) == value; });
}

} // namespace

bool is_loopback_host(std::string_view host) {
    return host == "localhost" || host == "::1" || host == "127.0.0.1" ||
           (host.size() > 4 && host.substr(0, 4) == "127." &&
            host.find_first_not_of("0123456789.") == std::string_view::npos);
}

origin_policy origin_policy::for_bind_address(std::string_view bind_host) {
    origin_policy p;
    if (is_loopback_host(lower(bind_host)))
        p.allowed_hosts = {"localhost", "127.0.0.1", "::1"};
    return p;
}

std::string host_of(std::string_view h) {
    while (!h.empty() && (h.back() == ' ' || h.back() == '\t'))
        h.remove_suffix(1);
    while (!h.empty() && (h.front() == ' ' || h.front() == '\t'))
        h.remove_prefix(1);
    if (!h.empty() && h.front() == '[') {
        auto end = h.find(']');
        if (end == std::string_view::npos)
            return {};
        return lower(h.substr(1, end - 1));
    }
    auto colon = h.rfind(':');
    if (colon != std::string_view::npos)
        h = h.substr(0, colon);
    return lower(h);
}

bool host_allowed(origin_policy const& p, std::string_view host_header) {
    if (p.allowed_hosts.empty())
        return true;
    auto host = host_of(host_header);
    return !host.empty() && listed(p.allowed_hosts, host);
}

bool origin_allowed(origin_policy const& p, std::string_view origin_header) {
    if (origin_header.empty() || (p.allowed_hosts.empty() && p.allowed_origins.empty()))
        return true;
    auto origin = lower(origin_header);
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

} // namespace mcpd::http
