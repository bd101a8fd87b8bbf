// http/policy.cpp — Host and Origin checks. See policy.hpp.
#include "http/policy.hpp"

#include <boost/url/parse.hpp>

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
    auto u = boost::urls::parse_absolute_uri(origin);
    if (!u || (u->scheme() != "http" && u->scheme() != "https"))
        return false;
    std::string host = lower(u->host_address());
    return listed(p.allowed_hosts, host);
}

} // namespace mcpd::http
