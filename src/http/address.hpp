// http/address.hpp — which addresses are not on the public Internet (the gateway's server
// address policy refuses them; SSRF defence).
#pragma once

#include <boost/asio/ip/address.hpp>

#include <string>

namespace mcpd::http {

// What kind of non-public address `a` is ("loopback", "private (RFC 1918)", "link-local",
// "unique local (fc00::/7)", "carrier-grade NAT (100.64.0.0/10)", "this network (0.0.0.0/8)",
// "benchmarking (198.18.0.0/15)", "documentation", "unspecified", "multicast", "broadcast",
// "reserved", …), or empty for a public one. An IPv6 address that carries an IPv4 one (mapped,
// compatible, NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16) is judged as the IPv4
// address it carries: a NAT64 gateway would forward 64:ff9b::7f00:1 to 127.0.0.1.
std::string non_public_address_kind(boost::asio::ip::address const& a);

} // namespace mcpd::http
