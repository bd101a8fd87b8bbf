// Unit tests for the sans-I/O Redis Cluster pieces (src/redis/cluster_slots.hpp), table-driven:
//  - key_slot: CRC16/XMODEM and the hash tag rules, against values from a real server's
//    CLUSTER KEYSLOT, against a bit-by-bit reference over every short key, and with a key prefix
//    joined at every split point;
//  - command_slot / request_slot: keys found by key_indices, the prefix applied, keys of MULTI/EXEC
//    together, and the refusal of keys in different slots (naming the command and the keys);
//  - slot_map: CLUSTER SHARDS (RESP2 and RESP3) and CLUSTER SLOTS replies captured from a real
//    Redis 7.0 cluster (ip, hostname and unknown-endpoint modes, a loading replica, a failed
//    master, a shard with two ranges and one with none), the host rules (null, "", "?"), the port
//    with TLS, replica health, the stable order, lookups, and malformed replies with the path of
//    what is wrong;
//  - parse_redirect: MOVED and ASK, IPv6, an empty or "?" host, and what is not a redirect.
#include "redis/cluster_slots.hpp"

#include "mcpd/redis/command.hpp"
#include "mcpd/redis/error.hpp"
#include "mcpd/redis/resp.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace mcpd::redis::detail {
namespace {

using args_t = std::vector<std::string>;

// --- Building replies

value bulk(std::string_view s) {
    return value{.type = resp_type::bulk_string, .str = std::string(s)};
}
value simple(std::string_view s) {
    return value{.type = resp_type::simple_string, .str = std::string(s)};
}
value num(std::int64_t n) {
    return value{.type = resp_type::integer, .integer = n};
}
value nil() {
    return value{};
}
value arr(std::vector<value> elements) {
    return value{.type = resp_type::array, .elements = std::move(elements)};
}
value nums(std::vector<std::int64_t> const& ns) {
    std::vector<value> out;
    out.reserve(ns.size());
    for (auto n : ns)
        out.push_back(num(n));
    return arr(std::move(out));
}

// Named fields, rendered as a RESP3 map or as a RESP2 flat array.
using fields = std::vector<std::pair<std::string, value>>;

value object(fields const& f, bool resp3) {
    value v{.type = resp3 ? resp_type::map : resp_type::array};
    for (auto const& [k, x] : f) {
        v.elements.push_back(bulk(k));
        v.elements.push_back(x);
    }
    return v;
}
fields with(fields f, std::string const& name, value v) {
    for (auto& [k, x] : f)
        if (k == name) {
            x = std::move(v);
            return f;
        }
    f.emplace_back(name, std::move(v));
    return f;
}
fields without(fields f, std::string const& name) {
    std::erase_if(f, [&](auto const& kv) { return kv.first == name; });
    return f;
}

// A CLUSTER SHARDS node as Redis 7.0 sends it.
fields shard_node(std::string const& id, std::int64_t port, std::string const& role,
                  std::string const& ip, std::string const& health = "online") {
    return {{"id", bulk(id)},        {"port", num(port)},  {"ip", bulk(ip)},
            {"endpoint", bulk(ip)},  {"role", bulk(role)}, {"replication-offset", num(14)},
            {"health", bulk(health)}};
}
fields m1() {
    return shard_node("m1", 7000, "master", "10.0.0.1");
}
fields m2() {
    return shard_node("m2", 7002, "master", "10.0.0.2");
}
fields r1() {
    return shard_node("r1", 7001, "replica", "10.0.0.11");
}
fields r2() {
    return shard_node("r2", 7003, "replica", "10.0.0.12");
}

value shard(bool resp3, value slots, std::vector<fields> const& nodes) {
    std::vector<value> ns;
    ns.reserve(nodes.size());
    for (auto const& n : nodes)
        ns.push_back(object(n, resp3));
    return object({{"slots", std::move(slots)}, {"nodes", arr(std::move(ns))}}, resp3);
}
value shard(bool resp3, std::vector<std::int64_t> const& slots, std::vector<fields> const& nodes) {
    return shard(resp3, nums(slots), nodes);
}

// A CLUSTER SLOTS node: [host, port, id].
value slots_node(std::string_view host, std::int64_t port, std::string_view id) {
    return arr({bulk(host), num(port), bulk(id)});
}
value slots_entry(std::int64_t first, std::int64_t last, std::vector<value> nodes) {
    std::vector<value> e{num(first), num(last)};
    for (auto& n : nodes)
        e.push_back(std::move(n));
    return arr(std::move(e));
}

// RESP bytes written one element per whitespace-separated token ("" stands for an empty line):
// "*2 :1 $3 foo" is "*2\r\n:1\r\n$3\r\nfoo\r\n". Captured replies are kept in this form.
value wire(std::string_view text) {
    std::istringstream in{std::string(text)};
    std::string bytes;
    for (std::string token; in >> token;)
        bytes += (token == "\"\"" ? std::string() : token) + "\r\n";
    resp_parser p;
    std::size_t used = 0;
    EXPECT_EQ(p.parse(bytes, used), parse_status::done) << p.error_message();
    EXPECT_EQ(used, bytes.size());
    return p.take();
}

// --- Looking at maps

// "first-last[,first-last…] host:port#id8 [+replica…]" per shard, " | " between shards.
std::string describe(slot_map const& m) {
    auto node = [](cluster_node const& n) {
        return n.host + ":" + std::to_string(n.port) + "#" + n.id.substr(0, 8);
    };
    std::string out;
    for (auto const& s : m.shards()) {
        if (!out.empty())
            out += " | ";
        std::string ranges;
        for (auto const& [a, b] : s.ranges)
            ranges += (ranges.empty() ? "" : ",") + std::to_string(a) + "-" + std::to_string(b);
        out += (ranges.empty() ? "(none)" : ranges) + " " + node(s.master);
        for (auto const& r : s.replicas)
            out += " +" + node(r);
    }
    return out;
}

// What every map must satisfy, whatever it was built from.
void check_invariants(slot_map const& m) {
    std::vector<int> owner(cluster_slot_count, -1);
    std::size_t covered = 0;
    ASSERT_EQ(m.masters().size(), m.shards().size());
    for (std::size_t i = 0; i < m.shards().size(); ++i) {
        auto const& s = m.shards()[i];
        EXPECT_TRUE(s.master.master);
        EXPECT_FALSE(s.master.host.empty());
        EXPECT_NE(s.master.port, 0);
        EXPECT_EQ(m.masters()[i], s.master);
        for (auto const& r : s.replicas) {
            EXPECT_FALSE(r.master);
            EXPECT_FALSE(r.host.empty());
            EXPECT_NE(r.port, 0);
        }
        EXPECT_TRUE(std::is_sorted(s.replicas.begin(), s.replicas.end(), [](auto& a, auto& b) {
            return std::tie(a.host, a.port, a.id) < std::tie(b.host, b.port, b.id);
        }));
        for (std::size_t k = 0; k < s.ranges.size(); ++k) {
            auto const [a, b] = s.ranges[k];
            ASSERT_LE(a, b);
            ASSERT_LT(b, cluster_slot_count);
            if (k > 0) { // sorted, and adjacent ranges merged
                EXPECT_GT(a, s.ranges[k - 1].second + 1);
            }
            for (std::size_t slot = a; slot <= b; ++slot) {
                EXPECT_EQ(owner[slot], -1) << "slot " << slot;
                owner[slot] = static_cast<int>(i);
                ++covered;
            }
        }
        if (i > 0 && !s.ranges.empty()) { // by first slot, slotless shards last
            ASSERT_FALSE(m.shards()[i - 1].ranges.empty());
            EXPECT_LT(m.shards()[i - 1].ranges.front().first, s.ranges.front().first);
        }
    }
    for (std::size_t slot = 0; slot < cluster_slot_count; ++slot) {
        auto const s = static_cast<std::uint16_t>(slot);
        if (owner[slot] < 0) {
            EXPECT_EQ(m.shard_of(s), nullptr);
            EXPECT_EQ(m.master_of(s), nullptr);
            EXPECT_TRUE(m.replicas_of(s).empty());
        } else {
            auto const& sh = m.shards()[static_cast<std::size_t>(owner[slot])];
            ASSERT_EQ(m.shard_of(s), &sh);
            EXPECT_EQ(m.master_of(s), &sh.master);
            EXPECT_EQ(m.replicas_of(s).data(), sh.replicas.data());
            EXPECT_EQ(m.replicas_of(s).size(), sh.replicas.size());
        }
    }
    EXPECT_EQ(m.master_of(cluster_slot_count), nullptr);
    EXPECT_EQ(m.covered_slots(), covered);
    EXPECT_EQ(m.covers_all_slots(), covered == cluster_slot_count);
    EXPECT_EQ(m.empty(), m.shards().empty());
}

// The parsed map, with its invariants checked; an empty map after a failure that was reported.
slot_map parsed(result<slot_map> const& r) {
    EXPECT_TRUE(r.has_value()) << r.error().detail;
    if (!r)
        return {};
    check_invariants(*r);
    return *r;
}

// The error detail of a failed parse; checks its code.
std::string failure(result<slot_map> const& r) {
    if (r) {
        ADD_FAILURE() << "parsed: " << describe(*r);
        return {};
    }
    EXPECT_EQ(r.error().code, make_error_code(client_errc::unexpected_reply));
    return r.error().detail;
}

// --- Replies captured from Redis 7.0.15 (3 masters, 3 replicas), written for wire()

constexpr std::string_view slots3_initial = R"(
    *3
      *3 :0 :5460
        *4 $9 127.0.0.1 :36034 $40 c667cf38caf68ab9d0fad8c5f51a5a989cb7a325
          %0
      *4 :5461 :10922
        *4 $9 127.0.0.1 :26789 $40 4325742eddddf9b6b63e4bbf0975f389b0cc9043
          %0
        *4 $9 127.0.0.1 :35805 $40 75490020656bbefad33a8799f1961cef3d400ce7
          %0
      *4 :10923 :16383
        *4 $9 127.0.0.1 :21380 $40 f019fa5eed456099230eb9a3a026da0419a10042
          %0
        *4 $9 127.0.0.1 :26839 $40 36c84cb4ec818d785604c14f5b8ed42c5c376d0a
          %0
)";

constexpr std::string_view shards2_initial = R"(
    *3
      *4 $5 slots
        *2 :5461 :10922
        $5 nodes
        *2
          *14 $2 id $40 4325742eddddf9b6b63e4bbf0975f389b0cc9043 $4 port :26789 $2 ip
            $9 127.0.0.1 $8 endpoint $9 127.0.0.1 $4 role $6 master $18 replication-offset :14
            $6 health $6 online
          *14 $2 id $40 75490020656bbefad33a8799f1961cef3d400ce7 $4 port :35805 $2 ip
            $9 127.0.0.1 $8 endpoint $9 127.0.0.1 $4 role $7 replica $18 replication-offset :14
            $6 health $6 online
      *4 $5 slots
        *2 :0 :5460
        $5 nodes
        *2
          *14 $2 id $40 c667cf38caf68ab9d0fad8c5f51a5a989cb7a325 $4 port :36034 $2 ip
            $9 127.0.0.1 $8 endpoint $9 127.0.0.1 $4 role $6 master $18 replication-offset :14
            $6 health $6 online
          *14 $2 id $40 4d1a44565bbdcba8ee9e1817ccd68ecc6e669553 $4 port :32668 $2 ip
            $9 127.0.0.1 $8 endpoint $9 127.0.0.1 $4 role $7 replica $18 replication-offset :0
            $6 health $7 loading
      *4 $5 slots
        *2 :10923 :16383
        $5 nodes
        *2
          *14 $2 id $40 f019fa5eed456099230eb9a3a026da0419a10042 $4 port :21380 $2 ip
            $9 127.0.0.1 $8 endpoint $9 127.0.0.1 $4 role $6 master $18 replication-offset :14
            $6 health $6 online
          *14 $2 id $40 36c84cb4ec818d785604c14f5b8ed42c5c376d0a $4 port :26839 $2 ip
            $9 127.0.0.1 $8 endpoint $9 127.0.0.1 $4 role $7 replica $18 replication-offset :14
            $6 health $6 online
)";

constexpr std::string_view shards3_initial = R"(
    *3
      %2 $5 slots
        *2 :5461 :10922
        $5 nodes
        *2
          %7 $2 id $40 4325742eddddf9b6b63e4bbf0975f389b0cc9043 $4 port :26789 $2 ip $9 127.0.0.1
            $8 endpoint $9 127.0.0.1 $4 role $6 master $18 replication-offset :14 $6 health
            $6 online
          %7 $2 id $40 75490020656bbefad33a8799f1961cef3d400ce7 $4 port :35805 $2 ip $9 127.0.0.1
            $8 endpoint $9 127.0.0.1 $4 role $7 replica $18 replication-offset :14 $6 health
            $6 online
      %2 $5 slots
        *2 :0 :5460
        $5 nodes
        *2
          %7 $2 id $40 c667cf38caf68ab9d0fad8c5f51a5a989cb7a325 $4 port :36034 $2 ip $9 127.0.0.1
            $8 endpoint $9 127.0.0.1 $4 role $6 master $18 replication-offset :14 $6 health
            $6 online
          %7 $2 id $40 4d1a44565bbdcba8ee9e1817ccd68ecc6e669553 $4 port :32668 $2 ip $9 127.0.0.1
            $8 endpoint $9 127.0.0.1 $4 role $7 replica $18 replication-offset :14 $6 health
            $6 online
      %2 $5 slots
        *2 :10923 :16383
        $5 nodes
        *2
          %7 $2 id $40 f019fa5eed456099230eb9a3a026da0419a10042 $4 port :21380 $2 ip $9 127.0.0.1
            $8 endpoint $9 127.0.0.1 $4 role $6 master $18 replication-offset :14 $6 health
            $6 online
          %7 $2 id $40 36c84cb4ec818d785604c14f5b8ed42c5c376d0a $4 port :26839 $2 ip $9 127.0.0.1
            $8 endpoint $9 127.0.0.1 $4 role $7 replica $18 replication-offset :14 $6 health
            $6 online
)";

constexpr std::string_view slots2_hostname = R"(
    *3
      *4 :0 :5460
        *4 $1 ? :36034 $40 c667cf38caf68ab9d0fad8c5f51a5a989cb7a325
          *2 $2 ip $9 127.0.0.1
        *4 $1 ? :32668 $40 4d1a44565bbdcba8ee9e1817ccd68ecc6e669553
          *2 $2 ip $9 127.0.0.1
      *4 :5461 :10922
        *4 $14 host-b.example :26789 $40 4325742eddddf9b6b63e4bbf0975f389b0cc9043
          *2 $2 ip $9 127.0.0.1
        *4 $1 ? :35805 $40 75490020656bbefad33a8799f1961cef3d400ce7
          *2 $2 ip $9 127.0.0.1
      *4 :10923 :16383
        *4 $1 ? :21380 $40 f019fa5eed456099230eb9a3a026da0419a10042
          *2 $2 ip $9 127.0.0.1
        *4 $1 ? :26839 $40 36c84cb4ec818d785604c14f5b8ed42c5c376d0a
          *2 $2 ip $9 127.0.0.1
)";

constexpr std::string_view slots3_hostname = R"(
    *3
      *4 :0 :5460
        *4 $1 ? :36034 $40 c667cf38caf68ab9d0fad8c5f51a5a989cb7a325
          %1 $2 ip $9 127.0.0.1
        *4 $1 ? :32668 $40 4d1a44565bbdcba8ee9e1817ccd68ecc6e669553
          %1 $2 ip $9 127.0.0.1
      *4 :5461 :10922
        *4 $14 host-b.example :26789 $40 4325742eddddf9b6b63e4bbf0975f389b0cc9043
          %1 $2 ip $9 127.0.0.1
        *4 $1 ? :35805 $40 75490020656bbefad33a8799f1961cef3d400ce7
          %1 $2 ip $9 127.0.0.1
      *4 :10923 :16383
        *4 $1 ? :21380 $40 f019fa5eed456099230eb9a3a026da0419a10042
          %1 $2 ip $9 127.0.0.1
        *4 $1 ? :26839 $40 36c84cb4ec818d785604c14f5b8ed42c5c376d0a
          %1 $2 ip $9 127.0.0.1
)";

constexpr std::string_view shards3_hostname = R"(
    *3
      %2 $5 slots
        *2 :5461 :10922
        $5 nodes
        *2
          %8 $2 id $40 4325742eddddf9b6b63e4bbf0975f389b0cc9043 $4 port :26789 $2 ip $9 127.0.0.1
            $8 endpoint $14 host-b.example $8 hostname $14 host-b.example $4 role $6 master
            $18 replication-offset :42 $6 health $6 online
          %7 $2 id $40 75490020656bbefad33a8799f1961cef3d400ce7 $4 port :35805 $2 ip $9 127.0.0.1
            $8 endpoint $1 ? $4 role $7 replica $18 replication-offset :42 $6 health $6 online
      %2 $5 slots
        *2 :0 :5460
        $5 nodes
        *2
          %7 $2 id $40 c667cf38caf68ab9d0fad8c5f51a5a989cb7a325 $4 port :36034 $2 ip $9 127.0.0.1
            $8 endpoint $1 ? $4 role $6 master $18 replication-offset :42 $6 health $6 online
          %7 $2 id $40 4d1a44565bbdcba8ee9e1817ccd68ecc6e669553 $4 port :32668 $2 ip $9 127.0.0.1
            $8 endpoint $1 ? $4 role $7 replica $18 replication-offset :42 $6 health $6 online
      %2 $5 slots
        *2 :10923 :16383
        $5 nodes
        *2
          %7 $2 id $40 f019fa5eed456099230eb9a3a026da0419a10042 $4 port :21380 $2 ip $9 127.0.0.1
            $8 endpoint $1 ? $4 role $6 master $18 replication-offset :42 $6 health $6 online
          %7 $2 id $40 36c84cb4ec818d785604c14f5b8ed42c5c376d0a $4 port :26839 $2 ip $9 127.0.0.1
            $8 endpoint $1 ? $4 role $7 replica $18 replication-offset :42 $6 health $6 online
)";

constexpr std::string_view slots2_unknown_endpoint = R"(
    *3
      *4 :0 :5460
        *4 $-1 :36034 $40 c667cf38caf68ab9d0fad8c5f51a5a989cb7a325
          *2 $2 ip $9 127.0.0.1
        *4 $-1 :32668 $40 4d1a44565bbdcba8ee9e1817ccd68ecc6e669553
          *2 $2 ip $9 127.0.0.1
      *4 :5461 :10922
        *4 $-1 :26789 $40 4325742eddddf9b6b63e4bbf0975f389b0cc9043
          *4 $2 ip $9 127.0.0.1 $8 hostname $14 host-b.example
        *4 $-1 :35805 $40 75490020656bbefad33a8799f1961cef3d400ce7
          *2 $2 ip $9 127.0.0.1
      *4 :10923 :16383
        *4 $-1 :21380 $40 f019fa5eed456099230eb9a3a026da0419a10042
          *2 $2 ip $9 127.0.0.1
        *4 $-1 :26839 $40 36c84cb4ec818d785604c14f5b8ed42c5c376d0a
          *2 $2 ip $9 127.0.0.1
)";

constexpr std::string_view shards3_unknown_endpoint = R"(
    *3
      %2 $5 slots
        *2 :5461 :10922
        $5 nodes
        *2
          %8 $2 id $40 4325742eddddf9b6b63e4bbf0975f389b0cc9043 $4 port :26789 $2 ip $9 127.0.0.1
            $8 endpoint $0 "" $8 hostname $14 host-b.example $4 role $6 master
            $18 replication-offset :70 $6 health $6 online
          %7 $2 id $40 75490020656bbefad33a8799f1961cef3d400ce7 $4 port :35805 $2 ip $9 127.0.0.1
            $8 endpoint $0 "" $4 role $7 replica $18 replication-offset :70 $6 health $6 online
      %2 $5 slots
        *2 :0 :5460
        $5 nodes
        *2
          %7 $2 id $40 c667cf38caf68ab9d0fad8c5f51a5a989cb7a325 $4 port :36034 $2 ip $9 127.0.0.1
            $8 endpoint $0 "" $4 role $6 master $18 replication-offset :70 $6 health $6 online
          %7 $2 id $40 4d1a44565bbdcba8ee9e1817ccd68ecc6e669553 $4 port :32668 $2 ip $9 127.0.0.1
            $8 endpoint $0 "" $4 role $7 replica $18 replication-offset :70 $6 health $6 online
      %2 $5 slots
        *2 :10923 :16383
        $5 nodes
        *2
          %7 $2 id $40 f019fa5eed456099230eb9a3a026da0419a10042 $4 port :21380 $2 ip $9 127.0.0.1
            $8 endpoint $0 "" $4 role $6 master $18 replication-offset :70 $6 health $6 online
          %7 $2 id $40 36c84cb4ec818d785604c14f5b8ed42c5c376d0a $4 port :26839 $2 ip $9 127.0.0.1
            $8 endpoint $0 "" $4 role $7 replica $18 replication-offset :70 $6 health $6 online
)";

constexpr std::string_view shards2_failed_master = R"(
    *3
      *4 $5 slots
        *2 :5461 :10922
        $5 nodes
        *2
          *16 $2 id $40 4325742eddddf9b6b63e4bbf0975f389b0cc9043 $4 port :26789 $2 ip
            $9 127.0.0.1 $8 endpoint $9 127.0.0.1 $8 hostname $14 host-b.example $4 role
            $6 master $18 replication-offset :112 $6 health $6 online
          *14 $2 id $40 75490020656bbefad33a8799f1961cef3d400ce7 $4 port :35805 $2 ip
            $9 127.0.0.1 $8 endpoint $9 127.0.0.1 $4 role $7 replica $18 replication-offset :112
            $6 health $6 online
      *4 $5 slots
        *2 :0 :5460
        $5 nodes
        *2
          *14 $2 id $40 c667cf38caf68ab9d0fad8c5f51a5a989cb7a325 $4 port :36034 $2 ip
            $9 127.0.0.1 $8 endpoint $9 127.0.0.1 $4 role $6 master $18 replication-offset :126
            $6 health $6 online
          *14 $2 id $40 4d1a44565bbdcba8ee9e1817ccd68ecc6e669553 $4 port :32668 $2 ip
            $9 127.0.0.1 $8 endpoint $9 127.0.0.1 $4 role $7 replica $18 replication-offset :112
            $6 health $6 online
      *4 $5 slots
        *2 :10923 :16383
        $5 nodes
        *2
          *14 $2 id $40 f019fa5eed456099230eb9a3a026da0419a10042 $4 port :21380 $2 ip
            $9 127.0.0.1 $8 endpoint $9 127.0.0.1 $4 role $6 master $18 replication-offset :84
            $6 health $4 fail
          *14 $2 id $40 36c84cb4ec818d785604c14f5b8ed42c5c376d0a $4 port :26839 $2 ip
            $9 127.0.0.1 $8 endpoint $9 127.0.0.1 $4 role $7 replica $18 replication-offset :84
            $6 health $4 fail
)";

constexpr std::string_view slots2_failed_master = R"(
    *3
      *4 :0 :5460
        *4 $9 127.0.0.1 :36034 $40 c667cf38caf68ab9d0fad8c5f51a5a989cb7a325
          *0
        *4 $9 127.0.0.1 :32668 $40 4d1a44565bbdcba8ee9e1817ccd68ecc6e669553
          *0
      *4 :5461 :10922
        *4 $9 127.0.0.1 :26789 $40 4325742eddddf9b6b63e4bbf0975f389b0cc9043
          *2 $8 hostname $14 host-b.example
        *4 $9 127.0.0.1 :35805 $40 75490020656bbefad33a8799f1961cef3d400ce7
          *0
      *3 :10923 :16383
        *4 $9 127.0.0.1 :21380 $40 f019fa5eed456099230eb9a3a026da0419a10042
          *0
)";

constexpr std::string_view shards3_migrated = R"(
    *4
      %2 $5 slots
        *0
        $5 nodes
        *1
          %7 $2 id $40 fb1144f1060b7c5cf92067cbefc4a2fb4de1de5d $4 port :35829 $2 ip $9 127.0.0.1
            $8 endpoint $9 127.0.0.1 $4 role $6 master $18 replication-offset :0 $6 health
            $6 online
      %2 $5 slots
        *4 :0 :0 :5461 :10922
        $5 nodes
        *2
          %8 $2 id $40 4325742eddddf9b6b63e4bbf0975f389b0cc9043 $4 port :26789 $2 ip $9 127.0.0.1
            $8 endpoint $9 127.0.0.1 $8 hostname $14 host-b.example $4 role $6 master
            $18 replication-offset :140 $6 health $6 online
          %7 $2 id $40 75490020656bbefad33a8799f1961cef3d400ce7 $4 port :35805 $2 ip $9 127.0.0.1
            $8 endpoint $9 127.0.0.1 $4 role $7 replica $18 replication-offset :140 $6 health
            $6 online
      %2 $5 slots
        *2 :1 :5460
        $5 nodes
        *2
          %7 $2 id $40 c667cf38caf68ab9d0fad8c5f51a5a989cb7a325 $4 port :36034 $2 ip $9 127.0.0.1
            $8 endpoint $9 127.0.0.1 $4 role $6 master $18 replication-offset :140 $6 health
            $6 online
          %7 $2 id $40 4d1a44565bbdcba8ee9e1817ccd68ecc6e669553 $4 port :32668 $2 ip $9 127.0.0.1
            $8 endpoint $9 127.0.0.1 $4 role $7 replica $18 replication-offset :140 $6 health
            $6 online
      %2 $5 slots
        *2 :10923 :16383
        $5 nodes
        *2
          %7 $2 id $40 f019fa5eed456099230eb9a3a026da0419a10042 $4 port :21380 $2 ip $9 127.0.0.1
            $8 endpoint $9 127.0.0.1 $4 role $6 master $18 replication-offset :84 $6 health
            $4 fail
          %7 $2 id $40 36c84cb4ec818d785604c14f5b8ed42c5c376d0a $4 port :26839 $2 ip $9 127.0.0.1
            $8 endpoint $9 127.0.0.1 $4 role $7 replica $18 replication-offset :84 $6 health
            $4 fail
)";

constexpr std::string_view slots2_migrated = R"(
    *4
      *4 :0 :0
        *4 $9 127.0.0.1 :26789 $40 4325742eddddf9b6b63e4bbf0975f389b0cc9043
          *2 $8 hostname $14 host-b.example
        *4 $9 127.0.0.1 :35805 $40 75490020656bbefad33a8799f1961cef3d400ce7
          *0
      *4 :1 :5460
        *4 $9 127.0.0.1 :36034 $40 c667cf38caf68ab9d0fad8c5f51a5a989cb7a325
          *0
        *4 $9 127.0.0.1 :32668 $40 4d1a44565bbdcba8ee9e1817ccd68ecc6e669553
          *0
      *4 :5461 :10922
        *4 $9 127.0.0.1 :26789 $40 4325742eddddf9b6b63e4bbf0975f389b0cc9043
          *2 $8 hostname $14 host-b.example
        *4 $9 127.0.0.1 :35805 $40 75490020656bbefad33a8799f1961cef3d400ce7
          *0
      *3 :10923 :16383
        *4 $9 127.0.0.1 :21380 $40 f019fa5eed456099230eb9a3a026da0419a10042
          *0
)";

// --- key_slot

// Bit by bit, straight from the definition: a check on the table-driven implementation.
std::uint16_t reference_crc16(std::string_view s) {
    std::uint16_t crc = 0;
    for (char c : s) {
        crc ^= static_cast<std::uint16_t>(static_cast<unsigned char>(c) << 8);
        for (int bit = 0; bit < 8; ++bit)
            crc = (crc & 0x8000U) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021U)
                                       : static_cast<std::uint16_t>(crc << 1);
    }
    return crc;
}

std::uint16_t reference_slot(std::string_view key) {
    auto const open = key.find('{');
    if (open != std::string_view::npos) {
        auto const close = key.find('}', open + 1);
        if (close != std::string_view::npos && close != open + 1)
            key = key.substr(open + 1, close - open - 1);
    }
    return static_cast<std::uint16_t>(reference_crc16(key) % 16384);
}

TEST(cluster_slots, crc16_is_xmodem) {
    struct crc_case {
        std::string_view data;
        std::uint16_t crc;
    };
    for (auto const& c : std::vector<crc_case>{
             {"123456789", 0x31C3}, // the check value, and the Redis Cluster specification's
             {"", 0x0000},
             {"A", 0x58E5},
             {std::string_view("\0", 1), 0x0000},
             {"\xff", 0x1EF0},
         }) {
        SCOPED_TRACE(std::string(c.data));
        EXPECT_EQ(crc16(c.data), c.crc);
        EXPECT_EQ(reference_crc16(c.data), c.crc);
    }
}

TEST(cluster_slots, key_slot_matches_cluster_keyslot_of_a_real_server) {
    // redis-cli CLUSTER KEYSLOT <key> on Redis 7.0.15.
    struct slot_case {
        std::string_view key;
        std::uint16_t slot;
    };
    for (auto const& c : std::vector<slot_case>{
             {"123456789", 12739}, // CRC16 0x31C3
             {"foo", 12182},
             {"bar", 5061},
             {"{user1000}.following", 3443},
             {"{user1000}.followers", 3443},
             {"foo{}{bar}", 8363}, // "{}" is no tag: the whole key
             {"foo{{bar}}zap", 4015},
             {"{bar", 4015},
             {"foo{bar}{zap}", 5061}, // the first tag only: "bar"
             {"", 0},
             {"a", 15495},
             {"b", 3300},
             {"c", 7365},
             {"{}", 15257},
             {"{", 4092},
             {"}", 12090},
             {"}{", 12793},
             {"{a}", 15495},
             {"x{a}y", 15495},
             {"{a", 10276},
             {"a}", 5921},
             {"foo{bar", 15278},
             {"foo}bar{zap}", 6469},
             {"{{}}", 4092},
             {"{}}", 14790},
             {"{}{x}", 3257},
             {"{ }", 9314},
             {"pfx:{tag}:x", 8338},
             {"tag", 8338},
             {"pfx:tag", 11747},
             {"pfx:a", 1213},
             {"pfx:b", 13534},
             {"mykey", 14687},
             {"user:1", 10778},
             {"{user:1}:a", 10778},
             {"hello world", 15332},
             {"\xc3\xa9", 10180}, // "é" in UTF-8
         }) {
        SCOPED_TRACE(std::string(c.key));
        EXPECT_EQ(key_slot(c.key), c.slot);
        EXPECT_EQ(key_slot({}, c.key), c.slot);
        EXPECT_EQ(key_slot(c.key, {}), c.slot);
    }
}

TEST(cluster_slots, key_slot_hashes_the_hash_tag_only) {
    struct tag_case {
        std::string_view key;
        std::string_view hashed; // what the specification says is hashed
    };
    for (auto const& c : std::vector<tag_case>{
             {"{user1000}.following", "user1000"},
             {"{user1000}.followers", "user1000"},
             {"foo{}{bar}", "foo{}{bar}"},
             {"foo{{bar}}zap", "{bar"},
             {"foo{bar}{zap}", "bar"},
             {"{}", "{}"},
             {"{", "{"},
             {"}", "}"},
             {"}{", "}{"},
             {"}a{b}", "b"},
             {"{{}}", "{"},
             {"{}}", "{}}"},
             {"{}{x}", "{}{x}"},
             {"{ }", " "},
             {"a{b}c{d}e", "b"},
             {"{a}{b}", "a"},
             {"x{y}", "y"},
             {"x{yz", "x{yz"},
             {"{\xff}", "\xff"},
         }) {
        SCOPED_TRACE(std::string(c.key));
        EXPECT_EQ(key_slot(c.key), crc16(c.hashed) % 16384);
    }
}

TEST(cluster_slots, key_slot_agrees_with_the_reference_on_every_short_key_and_prefix_split) {
    // Every key of up to 6 bytes over { } a \xff, hashed whole and split at every point into a
    // prefix and a key (a hash tag may then start in the prefix and end in the key).
    constexpr std::string_view alphabet = "{}a\xff";
    std::vector<std::string> keys{""};
    for (std::size_t begin = 0, length = 1; length <= 6; ++length) {
        std::size_t const end = keys.size();
        for (std::size_t i = begin; i < end; ++i)
            for (char c : alphabet)
                keys.push_back(keys[i] + c);
        begin = end;
    }
    ASSERT_EQ(keys.size(), 5461U); // 4^0 + … + 4^6
    for (auto const& k : keys) {
        auto const expected = reference_slot(k);
        ASSERT_EQ(key_slot(k), expected) << k;
        for (std::size_t split = 0; split <= k.size(); ++split)
            ASSERT_EQ(
                key_slot(std::string_view(k).substr(0, split), std::string_view(k).substr(split)),
                expected)
                << k << " split at " << split;
    }
}

TEST(cluster_slots, key_slot_with_a_prefix_is_the_slot_of_the_joined_key) {
    struct prefix_case {
        std::string_view prefix;
        std::string_view key;
        std::uint16_t slot;
    };
    for (auto const& c : std::vector<prefix_case>{
             {"pfx:", "a", 1213},
             {"pfx:", "b", 13534},
             {"pfx:{", "tag}:x", 8338},    // the tag spans the prefix and the key
             {"pfx:", "{tag}:x", 8338},    // the key's tag
             {"{tag}:", "anything", 8338}, // the prefix's tag wins for every key
             {"{tag}:", "{other}", 8338},  // the first '{' is in the prefix
             {"{", "}", 15257},            // "{}": no tag
             {"x{", "a}y", 15495},         // "a"
             {"", "foo", 12182},
             {"fo", "o", 12182},
         }) {
        SCOPED_TRACE(std::string(c.prefix) + "|" + std::string(c.key));
        EXPECT_EQ(key_slot(c.prefix, c.key), c.slot);
        EXPECT_EQ(key_slot(std::string(c.prefix) + std::string(c.key)), c.slot);
    }
}

// --- command_slot, request_slot

std::string join(args_t const& args) {
    std::string s;
    for (auto const& a : args)
        s += (s.empty() ? "" : " ") + a;
    return s;
}

std::string text_of(result<slot_routing> const& r) {
    if (!r)
        return "error: " + r.error().detail;
    return r->slot ? std::to_string(*r->slot) : "any";
}

TEST(cluster_slots, command_slot_is_the_slot_of_every_key) {
    struct command_case {
        args_t args;
        std::string_view prefix;
        std::optional<std::uint16_t> slot;
    };
    auto const u = key_slot("u");
    auto const t = key_slot("t");
    for (auto const& c : std::vector<command_case>{
             {{"GET", "foo"}, "", 12182},
             {{"get", "foo"}, "", 12182},    // any case
             {{"SET", "a", "b"}, "", 15495}, // "b" is a value, not a key
             {{"SET", "a", "b", "EX", "10"}, "", 15495},
             {{"MSET", "{u}a", "1", "{u}b", "2"}, "", u},
             {{"MGET", "{u}a", "{u}b", "{u}c"}, "", u},
             {{"MSET", "a", "1", "a", "2"}, "", 15495}, // the same key twice
             {{"DEL", "{a}x", "a", "x{a}"}, "", 15495},
             {{"EVAL", "return 1", "2", "{t}a", "{t}b", "arg"}, "", t},
             {{"EVAL", "return 1", "1", "a", "b"}, "", 15495}, // "b" is an argument
             {{"EVAL", "return 1", "0", "a", "b"}, "", std::nullopt},
             {{"XREAD", "STREAMS", "{t}a", "{t}b", "0", "0"}, "", t},
             {{"PING"}, "", std::nullopt},
             {{"INFO", "server"}, "", std::nullopt},
             {{"PUBLISH", "a", "b"}, "", std::nullopt}, // channels are not keys
             {{"NOTACOMMAND", "a", "b"}, "", std::nullopt},
             {{}, "", std::nullopt},
             {{"GET", "a"}, "pfx:", 1213}, // the prefix is part of the key on the wire
             {{"GET", "b"}, "pfx:", 13534},
             {{"MSET", "a", "1", "b", "2"}, "{tag}:", 8338}, // a tag in the prefix: one slot
             {{"GET", "tag}:x"}, "pfx:{", 8338},
             {{"PING"}, "pfx:", std::nullopt},
         }) {
        SCOPED_TRACE(join(c.args) + " prefix " + std::string(c.prefix));
        auto const r = command_slot(c.args, c.prefix);
        ASSERT_TRUE(r.has_value()) << r.error().detail;
        EXPECT_EQ(r->slot, c.slot) << text_of(r);
    }
}

TEST(cluster_slots, command_slot_refuses_keys_in_different_slots) {
    struct cross_case {
        args_t args;
        std::string_view prefix;
        std::string detail;
    };
    std::string const long_key(100, 'k');
    auto const k = key_slot(long_key);
    for (auto const& c : std::vector<cross_case>{
             {{"MSET", "a", "1", "b", "2"},
              "",
              R"(MSET keys in different slots: "a" (15495) and "b" (3300); use a hash tag )"
              R"(({…}) to keep them together)"},
             {{"mset", "a", "1", "b", "2"},
              "",
              R"(MSET keys in different slots: "a" (15495) and "b" (3300); use a hash tag )"
              R"(({…}) to keep them together)"},
             {{"MSET", "a", "1", "b", "2"},
              "pfx:",
              R"(MSET keys in different slots: "a" (1213) and "b" (13534), with the key prefix )"
              R"("pfx:"; use a hash tag ({…}) to keep them together)"},
             // the first key that disagrees with the first key
             {{"DEL", "a", "{a}z", "b", "c"},
              "",
              R"(DEL keys in different slots: "a" (15495) and "b" (3300); use a hash tag )"
              R"(({…}) to keep them together)"},
             {{"XREAD", "COUNT", "1", "STREAMS", "a", "b", "0", "0"},
              "",
              R"(XREAD keys in different slots: "a" (15495) and "b" (3300); use a hash tag )"
              R"(({…}) to keep them together)"},
             {{"EVAL", "return 1", "2", "a", "b"},
              "",
              R"(EVAL keys in different slots: "a" (15495) and "b" (3300); use a hash tag )"
              R"(({…}) to keep them together)"},
             // untrusted bytes escaped, long keys cut
             {{"MGET", "a", std::string("\x01\n\"", 3)},
              "",
              "MGET keys in different slots: \"a\" (15495) and \"\\x01\\n\\\"\" (" +
                  std::to_string(key_slot(std::string("\x01\n\"", 3))) +
                  "); use a hash tag ({…}) to keep them together"},
             {{"MGET", long_key, "a"},
              "",
              "MGET keys in different slots: \"" + std::string(64, 'k') + "…\" (" +
                  std::to_string(k) +
                  ") and \"a\" (15495); use a hash tag ({…}) to keep them together"},
         }) {
        SCOPED_TRACE(join(c.args) + " prefix " + std::string(c.prefix));
        auto const r = command_slot(c.args, c.prefix);
        ASSERT_FALSE(r.has_value()) << text_of(r);
        EXPECT_EQ(r.error().code, make_error_code(client_errc::unsupported_command));
        EXPECT_EQ(r.error().detail, c.detail);
    }
}

TEST(cluster_slots, request_slot_is_the_slot_of_every_command) {
    struct request_case {
        std::string name;
        std::vector<command> cmds;
        std::string_view prefix;
        std::optional<std::uint16_t> slot;
    };
    auto const u = key_slot("u");
    for (auto const& c : std::vector<request_case>{
             {"one command", {command("GET", "foo")}, "", 12182},
             {"MULTI/EXEC with one slot",
              {command("MULTI"), command("SET", "{u}a", "1"), command("INCR", "{u}b"),
               command("EXEC")},
              "",
              u},
             {"MULTI/EXEC and nothing else", {command("MULTI"), command("EXEC")}, "", std::nullopt},
             {"no command", {}, "", std::nullopt},
             {"keyless commands around a key",
              {command("PING"), command("GET", "foo"), command("ECHO", "x")},
              "",
              12182},
             {"the prefix applies to every command",
              {command("MULTI"), command("GET", "a"), command("SET", "a", "b"), command("EXEC")},
              "pfx:",
              1213},
             {"a prefix with a tag keeps everything together",
              {command("GET", "a"), command("GET", "b")},
              "{tag}:",
              8338},
         }) {
        SCOPED_TRACE(c.name);
        auto const r = request_slot(c.cmds, c.prefix);
        ASSERT_TRUE(r.has_value()) << r.error().detail;
        EXPECT_EQ(r->slot, c.slot) << text_of(r);
    }
}

TEST(cluster_slots, request_slot_refuses_keys_in_different_slots) {
    struct request_cross_case {
        std::string name;
        std::vector<command> cmds;
        std::string_view prefix;
        std::string detail;
    };
    auto const u = std::to_string(key_slot("u"));
    for (auto const& c : std::vector<request_cross_case>{
             {"two commands",
              {command("SET", "a", "1"), command("GET", "b")},
              "",
              R"(keys of one request in different slots: "a" (15495) in SET and "b" (3300) in )"
              R"(GET; use a hash tag ({…}) to keep them together)"},
             {"inside MULTI/EXEC",
              {command("MULTI"), command("SET", "{u}a", "1"), command("GET", "b"), command("EXEC")},
              "",
              R"(keys of one request in different slots: "{u}a" ()" + u +
                  R"() in SET and "b" (3300) in GET; use a hash tag ({…}) to keep them together)"},
             {"within one command of several",
              {command("PING"), command("MSET", "a", "1", "b", "2")},
              "",
              R"(MSET keys in different slots: "a" (15495) and "b" (3300); use a hash tag )"
              R"(({…}) to keep them together)"},
             {"with a prefix",
              {command("GET", "a"), command("GET", "b")},
              "pfx:",
              R"(keys of one request in different slots: "a" (1213) in GET and "b" (13534) in )"
              R"(GET, with the key prefix "pfx:"; use a hash tag ({…}) to keep them together)"},
         }) {
        SCOPED_TRACE(c.name);
        auto const r = request_slot(c.cmds, c.prefix);
        ASSERT_FALSE(r.has_value()) << text_of(r);
        EXPECT_EQ(r.error().code, make_error_code(client_errc::unsupported_command));
        EXPECT_EQ(r.error().detail, c.detail);
    }
}

// --- slot_map from replies captured from a real cluster

// 3 masters, 3 replicas, cluster-preferred-endpoint-type ip. The replica of 0-5460 was still
// loading at first: CLUSTER SLOTS leaves it out, CLUSTER SHARDS lists it with health "loading".
constexpr std::string_view all_ip_loading =
    "0-5460 127.0.0.1:36034#c667cf38"
    " | 5461-10922 127.0.0.1:26789#4325742e +127.0.0.1:35805#75490020"
    " | 10923-16383 127.0.0.1:21380#f019fa5e +127.0.0.1:26839#36c84cb4";
constexpr std::string_view all_ip =
    "0-5460 127.0.0.1:36034#c667cf38 +127.0.0.1:32668#4d1a4456"
    " | 5461-10922 127.0.0.1:26789#4325742e +127.0.0.1:35805#75490020"
    " | 10923-16383 127.0.0.1:21380#f019fa5e +127.0.0.1:26839#36c84cb4";
// cluster-announce-hostname host-b.example on the master of 5461-10922 and
// cluster-preferred-endpoint-type hostname: the other nodes have no hostname and show "?".
constexpr std::string_view hostname_mode =
    "0-5460 127.0.0.1:36034#c667cf38 +127.0.0.1:32668#4d1a4456"
    " | 5461-10922 host-b.example:26789#4325742e +127.0.0.1:35805#75490020"
    " | 10923-16383 127.0.0.1:21380#f019fa5e +127.0.0.1:26839#36c84cb4";
// cluster-preferred-endpoint-type unknown-endpoint: every node is at the host the client asked.
constexpr std::string_view unknown_endpoint =
    "0-5460 lb.example:36034#c667cf38 +lb.example:32668#4d1a4456"
    " | 5461-10922 lb.example:26789#4325742e +lb.example:35805#75490020"
    " | 10923-16383 lb.example:21380#f019fa5e +lb.example:26839#36c84cb4";
// The master of 10923-16383 and its replica killed: both "fail"; the master keeps its slots.
constexpr std::string_view failed_master =
    "0-5460 127.0.0.1:36034#c667cf38 +127.0.0.1:32668#4d1a4456"
    " | 5461-10922 127.0.0.1:26789#4325742e +127.0.0.1:35805#75490020"
    " | 10923-16383 127.0.0.1:21380#f019fa5e";
// Then slot 0 given to the master of 5461-10922 (CLUSTER SETSLOT 0 NODE), and a new empty master
// met: two ranges for one shard, and a shard with none (CLUSTER SLOTS does not list it).
constexpr std::string_view migrated =
    "0-0,5461-10922 127.0.0.1:26789#4325742e +127.0.0.1:35805#75490020"
    " | 1-5460 127.0.0.1:36034#c667cf38 +127.0.0.1:32668#4d1a4456"
    " | 10923-16383 127.0.0.1:21380#f019fa5e";

TEST(cluster_slots, slot_map_from_captured_replies) {
    struct capture_case {
        std::string name;
        std::string_view bytes;
        bool shards; // CLUSTER SHARDS, else CLUSTER SLOTS
        std::string_view answering_host;
        std::string expected;
    };
    for (auto const& c : std::vector<capture_case>{
             {"RESP3 SLOTS, a replica loading", slots3_initial, false, "seed",
              std::string(all_ip_loading)},
             {"RESP2 SHARDS, a replica loading", shards2_initial, true, "seed",
              std::string(all_ip_loading)},
             {"RESP3 SHARDS", shards3_initial, true, "seed", std::string(all_ip)},
             {"RESP2 SLOTS, hostnames", slots2_hostname, false, "seed", std::string(hostname_mode)},
             {"RESP3 SLOTS, hostnames", slots3_hostname, false, "seed", std::string(hostname_mode)},
             {"RESP3 SHARDS, hostnames", shards3_hostname, true, "seed",
              std::string(hostname_mode)},
             {"RESP2 SLOTS, unknown endpoint", slots2_unknown_endpoint, false, "lb.example",
              std::string(unknown_endpoint)},
             {"RESP3 SHARDS, unknown endpoint", shards3_unknown_endpoint, true, "lb.example",
              std::string(unknown_endpoint)},
             {"RESP2 SHARDS, failed master", shards2_failed_master, true, "seed",
              std::string(failed_master)},
             {"RESP2 SLOTS, failed master", slots2_failed_master, false, "seed",
              std::string(failed_master)},
             {"RESP3 SHARDS, migrated", shards3_migrated, true, "seed",
              std::string(migrated) + " | (none) 127.0.0.1:35829#fb1144f1"},
             {"RESP2 SLOTS, migrated", slots2_migrated, false, "seed", std::string(migrated)},
         }) {
        SCOPED_TRACE(c.name);
        value const reply = wire(c.bytes);
        auto const m = parsed(c.shards ? slot_map::from_shards(reply, c.answering_host)
                                       : slot_map::from_slots(reply, c.answering_host));
        EXPECT_EQ(describe(m), c.expected);
        EXPECT_TRUE(m.covers_all_slots());
    }
}

TEST(cluster_slots, shards_and_slots_of_one_topology_make_equal_maps) {
    struct pair_case {
        std::string name;
        std::string_view shards;
        std::string_view slots;
        std::string_view answering_host;
    };
    for (auto const& c : std::vector<pair_case>{
             {"a replica loading", shards2_initial, slots3_initial, "seed"},
             {"hostnames (RESP3 SLOTS)", shards3_hostname, slots3_hostname, "seed"},
             {"hostnames (RESP2 SLOTS)", shards3_hostname, slots2_hostname, "seed"},
             {"unknown endpoint", shards3_unknown_endpoint, slots2_unknown_endpoint, "lb"},
             {"failed master", shards2_failed_master, slots2_failed_master, "seed"},
         }) {
        SCOPED_TRACE(c.name);
        auto const a = parsed(slot_map::from_shards(wire(c.shards), c.answering_host));
        auto const b = parsed(slot_map::from_slots(wire(c.slots), c.answering_host));
        EXPECT_EQ(a, b) << describe(a) << "\n" << describe(b);
    }
}

TEST(cluster_slots, slot_map_lookups_of_a_captured_topology) {
    auto const m = parsed(slot_map::from_shards(wire(shards3_migrated), "seed"));
    struct lookup_case {
        std::uint16_t slot;
        std::uint16_t master_port;
        std::vector<std::uint16_t> replica_ports;
    };
    for (auto const& c : std::vector<lookup_case>{
             {0, 26789, {35805}},
             {1, 36034, {32668}},
             {5460, 36034, {32668}},
             {5461, 26789, {35805}},
             {10922, 26789, {35805}},
             {10923, 21380, {}},
             {16383, 21380, {}},
         }) {
        SCOPED_TRACE(c.slot);
        ASSERT_NE(m.master_of(c.slot), nullptr);
        EXPECT_EQ(m.master_of(c.slot)->port, c.master_port);
        EXPECT_EQ(m.master_of(c.slot)->host, "127.0.0.1");
        std::vector<std::uint16_t> ports;
        for (auto const& r : m.replicas_of(c.slot))
            ports.push_back(r.port);
        EXPECT_EQ(ports, c.replica_ports);
    }
    for (std::uint16_t const outside : {std::uint16_t{16384}, std::uint16_t{65535}}) {
        EXPECT_EQ(m.master_of(outside), nullptr);
        EXPECT_EQ(m.shard_of(outside), nullptr);
        EXPECT_TRUE(m.replicas_of(outside).empty());
    }
    // Every master, slotless last: what a SCAN over the cluster visits.
    std::vector<std::uint16_t> masters;
    for (auto const& n : m.masters())
        masters.push_back(n.port);
    EXPECT_EQ(masters, (std::vector<std::uint16_t>{26789, 36034, 21380, 35829}));
    EXPECT_EQ(m.masters().back().id, "fb1144f1060b7c5cf92067cbefc4a2fb4de1de5d");
    EXPECT_TRUE(m.shards().back().ranges.empty());
}

// --- slot_map from built replies

TEST(cluster_slots, an_empty_map_covers_nothing) {
    slot_map const built;
    check_invariants(built);
    EXPECT_TRUE(built.empty());
    EXPECT_EQ(built.covered_slots(), 0U);
    EXPECT_FALSE(built.covers_all_slots());
    EXPECT_TRUE(built.masters().empty());
    for (bool const resp3 : {false, true}) {
        SCOPED_TRACE(resp3 ? "RESP3" : "RESP2");
        auto const a = parsed(slot_map::from_shards(arr({}), "seed"));
        auto const b = parsed(slot_map::from_slots(arr({}), "seed"));
        EXPECT_EQ(a, built);
        EXPECT_EQ(b, built);
        // Shards with nothing to route to: no slot and no master.
        auto const c = parsed(slot_map::from_shards(
            arr({shard(resp3, nums({}), {}), shard(resp3, nums({}), {r1()})}), "seed"));
        EXPECT_EQ(c, built);
    }
}

TEST(cluster_slots, slot_map_lookups_around_holes) {
    for (bool const resp3 : {false, true}) {
        SCOPED_TRACE(resp3 ? "RESP3" : "RESP2");
        auto const m = parsed(slot_map::from_shards(
            arr({shard(resp3, {200, 300}, {m2()}), shard(resp3, {0, 100}, {r2(), m1(), r1()})}),
            "seed"));
        EXPECT_EQ(describe(m), "0-100 10.0.0.1:7000#m1 +10.0.0.11:7001#r1 +10.0.0.12:7003#r2"
                               " | 200-300 10.0.0.2:7002#m2");
        EXPECT_EQ(m.covered_slots(), 202U);
        EXPECT_FALSE(m.covers_all_slots());
        struct hole_case {
            std::uint16_t slot;
            std::string_view master; // "" for none
            std::size_t replicas;
        };
        for (auto const& c : std::vector<hole_case>{
                 {0, "m1", 2},
                 {100, "m1", 2},
                 {101, "", 0},
                 {199, "", 0},
                 {200, "m2", 0},
                 {300, "m2", 0},
                 {301, "", 0},
                 {16383, "", 0},
             }) {
            SCOPED_TRACE(c.slot);
            auto const* master = m.master_of(c.slot);
            EXPECT_EQ(master == nullptr ? "" : master->id, c.master);
            EXPECT_EQ(m.replicas_of(c.slot).size(), c.replicas);
        }
    }
}

TEST(cluster_slots, slot_map_order_does_not_depend_on_the_reply_order) {
    for (bool const resp3 : {false, true}) {
        SCOPED_TRACE(resp3 ? "RESP3" : "RESP2");
        auto const m3 = shard_node("m3", 7004, "master", "10.0.0.3");
        auto const m4 = shard_node("m4", 7005, "master", "10.0.0.3");
        auto const forward = parsed(
            slot_map::from_shards(arr({shard(resp3, {0, 9, 10, 20, 30, 16383}, {m1(), r1(), r2()}),
                                       shard(resp3, {21, 29}, {m2()}), shard(resp3, nums({}), {m3}),
                                       shard(resp3, nums({}), {m4})}),
                                  "seed"));
        auto const backward = parsed(slot_map::from_shards(
            arr({shard(resp3, nums({}), {m4}), shard(resp3, nums({}), {m3}),
                 shard(resp3, {21, 29}, {m2()}),
                 shard(resp3, {30, 16383, 10, 20, 0, 9}, {r2(), r1(), m1()})}),
            "seed"));
        // Ranges sorted and merged; replicas by host; slotless shards last, by host and port.
        EXPECT_EQ(describe(forward),
                  "0-20,30-16383 10.0.0.1:7000#m1 +10.0.0.11:7001#r1 +10.0.0.12:7003#r2"
                  " | 21-29 10.0.0.2:7002#m2 | (none) 10.0.0.3:7004#m3 | (none) 10.0.0.3:7005#m4");
        EXPECT_EQ(forward, backward);
        EXPECT_TRUE(forward.covers_all_slots());

        auto const slots_forward = parsed(slot_map::from_slots(
            arr({slots_entry(0, 9, {slots_node("10.0.0.1", 7000, "m1")}),
                 slots_entry(10, 16383, {slots_node("10.0.0.1", 7000, "m1")})}),
            "seed"));
        auto const slots_backward = parsed(
            slot_map::from_slots(arr({slots_entry(10, 16383, {slots_node("10.0.0.1", 7000, "m1")}),
                                      slots_entry(0, 9, {slots_node("10.0.0.1", 7000, "m1")})}),
                                 "seed"));
        EXPECT_EQ(describe(slots_forward), "0-16383 10.0.0.1:7000#m1");
        EXPECT_EQ(slots_forward, slots_backward);
    }
}

TEST(cluster_slots, shards_endpoint_ip_and_answering_host) {
    struct host_case {
        std::string name;
        std::optional<value> endpoint; // nullopt: no such field
        std::optional<value> ip;
        std::string host;
    };
    for (auto const& c : std::vector<host_case>{
             {"an address", bulk("10.0.0.5"), bulk("10.0.0.1"), "10.0.0.5"},
             {"a hostname", bulk("redis-1.example"), bulk("10.0.0.1"), "redis-1.example"},
             {"IPv6", bulk("::1"), bulk("::1"), "::1"},
             {"a simple string", simple("10.0.0.5"), bulk("10.0.0.1"), "10.0.0.5"},
             {"empty: unknown endpoint", bulk(""), bulk("10.0.0.1"), "seed.example"},
             {"null: unknown endpoint", nil(), bulk("10.0.0.1"), "seed.example"},
             {"? : no hostname, the ip", bulk("?"), bulk("10.0.0.1"), "10.0.0.1"},
             {"? and no ip", bulk("?"), bulk(""), "seed.example"},
             {"? and a null ip", bulk("?"), nil(), "seed.example"},
             {"? and no ip field", bulk("?"), std::nullopt, "seed.example"},
             {"no endpoint field: the ip", std::nullopt, bulk("10.0.0.1"), "10.0.0.1"},
             {"no endpoint, ip ?", std::nullopt, bulk("?"), "seed.example"},
             {"neither field", std::nullopt, std::nullopt, "seed.example"},
         }) {
        for (bool const resp3 : {false, true}) {
            SCOPED_TRACE(c.name + (resp3 ? " (RESP3)" : " (RESP2)"));
            fields master = without(without(m1(), "endpoint"), "ip");
            if (c.endpoint)
                master = with(master, "endpoint", *c.endpoint);
            if (c.ip)
                master = with(master, "ip", *c.ip);
            fields replica = without(without(r1(), "endpoint"), "ip");
            if (c.endpoint)
                replica = with(replica, "endpoint", *c.endpoint);
            if (c.ip)
                replica = with(replica, "ip", *c.ip);
            auto const m = parsed(slot_map::from_shards(
                arr({shard(resp3, {0, 16383}, {master, replica})}), "seed.example"));
            ASSERT_NE(m.master_of(0), nullptr);
            EXPECT_EQ(m.master_of(0)->host, c.host);
            ASSERT_EQ(m.replicas_of(0).size(), 1U);
            EXPECT_EQ(m.replicas_of(0)[0].host, c.host);
        }
    }
}

TEST(cluster_slots, shards_port_or_tls_port) {
    struct port_case {
        std::optional<std::int64_t> port; // nullopt: no such field
        std::optional<std::int64_t> tls_port;
        bool tls;
        std::uint16_t expected;
    };
    for (auto const& c : std::vector<port_case>{
             {7000, 7100, false, 7000},
             {7000, 7100, true, 7100},
             {std::nullopt, 7100, false, 7100}, // TLS only: the only port there is
             {std::nullopt, 7100, true, 7100},
             {7000, std::nullopt, true, 7000}, // no TLS port: the plain one
             {7000, std::nullopt, false, 7000},
             {7000, 0, true, 7000}, // 0 is "none"
             {0, 7100, false, 7100},
             {65535, std::nullopt, false, 65535},
         }) {
        for (bool const resp3 : {false, true}) {
            SCOPED_TRACE(std::to_string(c.port.value_or(-1)) + "/" +
                         std::to_string(c.tls_port.value_or(-1)) + (c.tls ? " tls" : "") +
                         (resp3 ? " RESP3" : " RESP2"));
            fields master = without(m1(), "port");
            if (c.port)
                master = with(master, "port", num(*c.port));
            if (c.tls_port)
                master = with(master, "tls-port", num(*c.tls_port));
            auto const m = parsed(
                slot_map::from_shards(arr({shard(resp3, {0, 16383}, {master})}), "seed", c.tls));
            ASSERT_NE(m.master_of(0), nullptr);
            EXPECT_EQ(m.master_of(0)->port, c.expected);
        }
    }
}

TEST(cluster_slots, shards_keep_online_replicas_and_every_master) {
    struct health_case {
        std::optional<std::string> health; // nullopt: no such field
        bool replica_kept;
    };
    for (auto const& c : std::vector<health_case>{
             {"online", true},
             {std::nullopt, true},
             {"loading", false},
             {"fail", false},   // what Redis 7.0 sends
             {"failed", false}, // what its documentation says
             {"", false},
             {"ONLINE", false},
         }) {
        for (bool const resp3 : {false, true}) {
            SCOPED_TRACE(c.health.value_or("(none)") + (resp3 ? " RESP3" : " RESP2"));
            auto set_health = [&](fields f) {
                return c.health ? with(std::move(f), "health", bulk(*c.health))
                                : without(std::move(f), "health");
            };
            auto const m = parsed(slot_map::from_shards(
                arr({shard(resp3, {0, 16383}, {set_health(m1()), set_health(r1()), r2()})}),
                "seed"));
            // The master owns its slots whatever its health: routing to it gives the server's own
            // error (CLUSTERDOWN…) until a failover, rather than no route at all.
            ASSERT_NE(m.master_of(0), nullptr);
            EXPECT_EQ(m.master_of(0)->id, "m1");
            std::vector<std::string> ids;
            for (auto const& r : m.replicas_of(0))
                ids.push_back(r.id);
            std::vector<std::string> const expected = c.replica_kept
                                                          ? std::vector<std::string>{"r1", "r2"}
                                                          : std::vector<std::string>{"r2"};
            EXPECT_EQ(ids, expected);
        }
    }
}

TEST(cluster_slots, shards_ignore_unknown_fields_and_take_the_first_of_duplicates) {
    for (bool const resp3 : {false, true}) {
        SCOPED_TRACE(resp3 ? "RESP3" : "RESP2");
        fields master = m1();
        master.emplace_back("port", num(9999)); // a second "port": the first one counts
        master.emplace_back("future-field", arr({num(1), bulk("x")}));
        master.emplace_back("hostname", bulk("ignored.example"));
        value s = shard(resp3, {0, 16383}, {master});
        s.elements.push_back(bulk("shard-id"));
        s.elements.push_back(bulk("abc"));
        auto const m = parsed(slot_map::from_shards(arr({s}), "seed"));
        EXPECT_EQ(describe(m), "0-16383 10.0.0.1:7000#m1");
    }
}

TEST(cluster_slots, slots_host_rules) {
    struct slots_host_case {
        std::string name;
        value host;
        std::optional<value> metadata; // the node's 4th element
        std::string expected;
    };
    for (auto const& c : std::vector<slots_host_case>{
             {"an address", bulk("10.0.0.5"), std::nullopt, "10.0.0.5"},
             {"a hostname", bulk("redis-1.example"), std::nullopt, "redis-1.example"},
             {"IPv6", bulk("::1"), std::nullopt, "::1"},
             {"a simple string", simple("10.0.0.5"), std::nullopt, "10.0.0.5"},
             {"empty", bulk(""), std::nullopt, "seed.example"},
             {"null: unknown endpoint", nil(), object({{"ip", bulk("10.0.0.9")}}, false),
              "seed.example"},
             {"? with the ip (RESP2)", bulk("?"), object({{"ip", bulk("10.0.0.9")}}, false),
              "10.0.0.9"},
             {"? with the ip (RESP3)", bulk("?"), object({{"ip", bulk("10.0.0.9")}}, true),
              "10.0.0.9"},
             {"? with a hostname only", bulk("?"), object({{"hostname", bulk("h.example")}}, true),
              "seed.example"},
             {"? with an empty ip", bulk("?"), object({{"ip", bulk("")}}, true), "seed.example"},
             {"? without metadata", bulk("?"), std::nullopt, "seed.example"},
             {"? with odd metadata", bulk("?"), arr({bulk("ip")}), "seed.example"},
             {"? with metadata of another type", bulk("?"), num(3), "seed.example"},
             {"an address with metadata", bulk("10.0.0.5"),
              object({{"ip", bulk("10.0.0.9")}, {"hostname", bulk("h.example")}}, false),
              "10.0.0.5"},
         }) {
        SCOPED_TRACE(c.name);
        value node = arr({c.host, num(7000), bulk("m1")});
        if (c.metadata)
            node.elements.push_back(*c.metadata);
        value replica = node;
        replica.elements[1] = num(7001);
        replica.elements[2] = bulk("r1");
        auto const m = parsed(
            slot_map::from_slots(arr({slots_entry(0, 16383, {node, replica})}), "seed.example"));
        ASSERT_NE(m.master_of(0), nullptr);
        EXPECT_EQ(m.master_of(0)->host, c.expected);
        ASSERT_EQ(m.replicas_of(0).size(), 1U);
        EXPECT_EQ(m.replicas_of(0)[0].host, c.expected);
    }
}

TEST(cluster_slots, slots_group_entries_by_master) {
    struct group_case {
        std::string name;
        value reply;
        std::string expected;
    };
    for (auto const& c : std::vector<group_case>{
             {"one master, two ranges, the same replica in each",
              arr({slots_entry(
                       0, 99,
                       {slots_node("10.0.0.1", 7000, "m1"), slots_node("10.0.0.11", 7001, "r1")}),
                   slots_entry(200, 299,
                               {slots_node("10.0.0.1", 7000, "m1"),
                                slots_node("10.0.0.11", 7001, "r1"),
                                slots_node("10.0.0.12", 7003, "r2")}),
                   slots_entry(100, 199, {slots_node("10.0.0.2", 7002, "m2")})}),
              "0-99,200-299 10.0.0.1:7000#m1 +10.0.0.11:7001#r1 +10.0.0.12:7003#r2"
              " | 100-199 10.0.0.2:7002#m2"},
             {"Redis 3: nodes without ids, grouped by address",
              arr({slots_entry(
                       0, 99,
                       {arr({bulk("10.0.0.1"), num(7000)}), arr({bulk("10.0.0.11"), num(7001)})}),
                   slots_entry(
                       100, 199,
                       {arr({bulk("10.0.0.1"), num(7000)}), arr({bulk("10.0.0.11"), num(7001)})}),
                   slots_entry(200, 299, {arr({bulk("10.0.0.1"), num(7002)})})}),
              "0-199 10.0.0.1:7000# +10.0.0.11:7001# | 200-299 10.0.0.1:7002#"},
             {"extra node elements ignored",
              arr({slots_entry(
                  0, 16383,
                  {arr({bulk("10.0.0.1"), num(7000), bulk("m1"), arr({}), bulk("future")})})}),
              "0-16383 10.0.0.1:7000#m1"},
         }) {
        SCOPED_TRACE(c.name);
        auto const m = parsed(slot_map::from_slots(c.reply, "seed"));
        EXPECT_EQ(describe(m), c.expected);
    }
}

// --- Malformed replies

struct malformed_case {
    std::string name;
    std::function<value(bool resp3)> reply;
    std::string detail; // the error's whole text
};

TEST(cluster_slots, malformed_cluster_shards_replies_say_what_is_wrong) {
    auto one = [](bool resp3, fields node) {
        return arr({shard(resp3, {0, 16383}, {std::move(node)})});
    };
    std::string const p = "CLUSTER SHARDS reply: ";
    for (auto const& c : std::vector<malformed_case>{
             {"not an array", [](bool) { return num(3); },
              p + "expected an array of shards, got (integer) 3"},
             {"an error reply",
              [](bool) {
                  return value{.type = resp_type::simple_error,
                               .str = "ERR This instance has cluster support disabled"};
              },
              p + "an error: (error) ERR This instance has cluster support disabled"},
             {"null", [](bool) { return nil(); }, p + "expected an array of shards, got (nil)"},
             {"a shard that is not a map", [](bool) { return arr({num(1)}); },
              p + "shards[0]: expected a map of shard fields, got (integer) 1"},
             {"a shard as an odd array",
              [](bool) {
                  return arr({arr({bulk("slots"), nums({0, 1}), bulk("nodes")})});
              },
              p + R"(shards[0]: expected a map of shard fields, got ["slots", [(integer) 0, )"
                  R"((integer) 1], "nodes"])"},
             {"no slots",
              [](bool r3) {
                  return arr({object({{"nodes", arr({object(m1(), r3)})}}, r3)});
              },
              p + R"(shards[0]: no "slots")"},
             {"slots not an array",
              [](bool r3) { return arr({shard(r3, bulk("0-16383"), {m1()})}); },
              p + R"(shards[0]: "slots" is not an array: "0-16383")"},
             {"slots as a map",
              [](bool r3) {
                  return arr(
                      {shard(r3, value{.type = resp_type::map, .elements = {num(0), num(16383)}},
                             {m1()})});
              },
              p + R"(shards[0]: "slots" is not an array: {(integer) 0: (integer) 16383})"},
             {"an odd slots array",
              [](bool r3) {
                  return arr({shard(r3, {0, 100, 200}, {m1()})});
              },
              p + R"(shards[0]: "slots" has an odd number of elements (3); expected first, )"
                  R"(last pairs)"},
             {"slot 16384",
              [](bool r3) {
                  return arr({shard(r3, {0, 16384}, {m1()})});
              },
              p + "shards[0].slots[1]: 16384 is not a slot (0-16383)"},
             {"a negative slot",
              [](bool r3) {
                  return arr({shard(r3, {-1, 5}, {m1()})});
              },
              p + "shards[0].slots[0]: -1 is not a slot (0-16383)"},
             {"a huge slot",
              [](bool r3) {
                  return arr({shard(r3, {0, 5, 6, 1LL << 40}, {m1()})});
              },
              p + "shards[0].slots[3]: 1099511627776 is not a slot (0-16383)"},
             {"a slot that is not a number",
              [](bool r3) {
                  return arr({shard(r3, arr({bulk("abc"), num(5)}), {m1()})});
              },
              p + R"(shards[0].slots[0]: expected a slot number, got "abc")"},
             {"a slot that is an array",
              [](bool r3) {
                  return arr({shard(r3, arr({num(0), arr({num(5)})}), {m1()})});
              },
              p + "shards[0].slots[1]: expected a slot number, got [(integer) 5]"},
             {"a reversed range",
              [](bool r3) {
                  return arr({shard(r3, {100, 50}, {m1()})});
              },
              p + "shards[0].slots[0]: slot range 100-50 ends before it starts"},
             {"no nodes",
              [](bool r3) {
                  return arr({object({{"slots", nums({0, 5})}}, r3)});
              },
              p + R"(shards[0]: no "nodes")"},
             {"nodes not an array",
              [](bool r3) {
                  return arr({object({{"slots", nums({0, 5})}, {"nodes", bulk("m1")}}, r3)});
              },
              p + R"(shards[0]: "nodes" is not an array: "m1")"},
             {"a node that is not a map",
              [](bool r3) {
                  return arr({object({{"slots", nums({0, 5})}, {"nodes", arr({bulk("m1")})}}, r3)});
              },
              p + R"(shards[0].nodes[0]: expected a map of node fields, got "m1")"},
             {"no id", [=](bool r3) { return one(r3, without(m1(), "id")); },
              p + R"(shards[0].nodes[0]: no "id")"},
             {"an id that is a number", [=](bool r3) { return one(r3, with(m1(), "id", num(5))); },
              p + R"(shards[0].nodes[0]: "id" is not a string: (integer) 5)"},
             {"no role", [=](bool r3) { return one(r3, without(m1(), "role")); },
              p + R"(shards[0].nodes[0]: no "role")"},
             {"an unknown role",
              [=](bool r3) { return one(r3, with(m1(), "role", bulk("leader"))); },
              p + R"(shards[0].nodes[0]: "role" is neither "master" nor "replica": "leader")"},
             {"a role that is a number",
              [=](bool r3) { return one(r3, with(m1(), "role", num(1))); },
              p + R"(shards[0].nodes[0]: "role" is neither "master" nor "replica": )"
                  R"((integer) 1)"},
             {"no port", [=](bool r3) { return one(r3, without(m1(), "port")); },
              p + R"(shards[0].nodes[0]: no "port" or "tls-port")"},
             {"port 0 only", [=](bool r3) { return one(r3, with(m1(), "port", num(0))); },
              p + R"(shards[0].nodes[0]: no "port" or "tls-port")"},
             {"port 70000", [=](bool r3) { return one(r3, with(m1(), "port", num(70000))); },
              p + "shards[0].nodes[0].port: 70000 is not a port number"},
             {"port -1", [=](bool r3) { return one(r3, with(m1(), "port", num(-1))); },
              p + "shards[0].nodes[0].port: -1 is not a port number"},
             {"a port that is not a number",
              [=](bool r3) { return one(r3, with(m1(), "port", bulk("abc"))); },
              p + R"(shards[0].nodes[0].port: expected a port number, got "abc")"},
             {"a bad tls-port",
              [=](bool r3) { return one(r3, with(m1(), "tls-port", num(65536))); },
              p + "shards[0].nodes[0].tls-port: 65536 is not a port number"},
             {"an ip that is a number", [=](bool r3) { return one(r3, with(m1(), "ip", num(1))); },
              p + R"(shards[0].nodes[0]: "ip" is not a string: (integer) 1)"},
             {"an endpoint that is an array",
              [=](bool r3) { return one(r3, with(m1(), "endpoint", arr({}))); },
              p + R"(shards[0].nodes[0]: "endpoint" is not a string: [])"},
             {"a health that is a number",
              [=](bool r3) { return one(r3, with(m1(), "health", num(1))); },
              p + R"(shards[0].nodes[0]: "health" is not a string: (integer) 1)"},
             {"two masters",
              [](bool r3) {
                  return arr({shard(r3, {0, 16383}, {m1(), r1(), m2()})});
              },
              p + "shards[0]: two masters: 10.0.0.1:7000 and 10.0.0.2:7002"},
             {"slots but only replicas",
              [](bool r3) {
                  return arr({shard(r3, {0, 16383}, {r1(), r2()})});
              },
              p + "shards[0]: slots but no master"},
             {"two shards serving one slot",
              [](bool r3) {
                  return arr({shard(r3, {0, 100}, {m1()}), shard(r3, {100, 16383}, {m2()})});
              },
              p + "slot 100 is served by both 10.0.0.1:7000 and 10.0.0.2:7002"},
             {"a shard inside another",
              [](bool r3) {
                  return arr({shard(r3, {0, 16383}, {m1()}), shard(r3, {500, 600}, {m2()})});
              },
              p + "slot 500 is served by both 10.0.0.1:7000 and 10.0.0.2:7002"},
             {"a range listed twice",
              [](bool r3) {
                  return arr({shard(r3, {0, 100, 50, 60}, {m1()})});
              },
              p + "slot 50 is listed twice for 10.0.0.1:7000"},
             {"the path of a later shard and node",
              [](bool r3) {
                  return arr({shard(r3, {0, 100}, {m1()}),
                              shard(r3, {101, 200}, {m2(), with(r1(), "port", bulk("x"))})});
              },
              p + R"(shards[1].nodes[1].port: expected a port number, got "x")"},
             {"long and binary values cut and escaped",
              [](bool) { return arr({bulk(std::string(300, 'x') + "\x01")}); },
              p + "shards[0]: expected a map of shard fields, got \"" + std::string(127, 'x') +
                  "…"},
         }) {
        for (bool const resp3 : {false, true}) {
            SCOPED_TRACE(c.name + (resp3 ? " (RESP3)" : " (RESP2)"));
            EXPECT_EQ(failure(slot_map::from_shards(c.reply(resp3), "seed")), c.detail);
        }
    }
}

TEST(cluster_slots, malformed_cluster_slots_replies_say_what_is_wrong) {
    auto master = [] { return slots_node("10.0.0.1", 7000, "m1"); };
    std::string const p = "CLUSTER SLOTS reply: ";
    for (auto const& c : std::vector<malformed_case>{
             {"not an array", [](bool) { return bulk("x"); },
              p + R"(expected an array of slot ranges, got "x")"},
             {"an error reply",
              [](bool) {
                  return value{.type = resp_type::simple_error,
                               .str = "ERR This instance has cluster support disabled"};
              },
              p + "an error: (error) ERR This instance has cluster support disabled"},
             {"an entry that is not an array", [](bool) { return arr({num(1)}); },
              p + "[0]: expected [first, last, master, replica…], got (integer) 1"},
             {"an entry without a master",
              [](bool) {
                  return arr({nums({0, 16383})});
              },
              p + "[0]: expected [first, last, master, replica…], got [(integer) 0, "
                  "(integer) 16383]"},
             {"a first slot that is not a number",
              [=](bool) {
                  return arr({arr({bulk("x"), num(5), master()})});
              },
              p + R"([0][0]: expected a slot number, got "x")"},
             {"slot 16384", [=](bool) { return arr({slots_entry(0, 16384, {master()})}); },
              p + "[0][1]: 16384 is not a slot (0-16383)"},
             {"a reversed range", [=](bool) { return arr({slots_entry(5, 3, {master()})}); },
              p + "[0][0]: slot range 5-3 ends before it starts"},
             {"a master that is not an array",
              [](bool) { return arr({slots_entry(0, 5, {bulk("10.0.0.1")})}); },
              p + R"([0][2]: expected [host, port, id…], got "10.0.0.1")"},
             {"a master without a port",
              [](bool) { return arr({slots_entry(0, 5, {arr({bulk("10.0.0.1")})})}); },
              p + R"([0][2]: expected [host, port, id…], got ["10.0.0.1"])"},
             {"a host that is a number",
              [](bool) {
                  return arr({slots_entry(0, 5, {arr({num(1), num(7000)})})});
              },
              p + "[0][2][0]: the host is not a string: (integer) 1"},
             {"a port that is not a number",
              [](bool) {
                  return arr({slots_entry(0, 5, {arr({bulk("h"), bulk("x")})})});
              },
              p + R"([0][2][1]: expected a port number, got "x")"},
             {"port 0", [](bool) { return arr({slots_entry(0, 5, {slots_node("h", 0, "m1")})}); },
              p + "[0][2][1]: port 0"},
             {"port 65536",
              [](bool) { return arr({slots_entry(0, 5, {slots_node("h", 65536, "m1")})}); },
              p + "[0][2][1]: 65536 is not a port number"},
             {"an id that is a number",
              [](bool) {
                  return arr({slots_entry(0, 5, {arr({bulk("h"), num(7000), num(1)})})});
              },
              p + "[0][2][2]: the id is not a string: (integer) 1"},
             {"a bad replica",
              [=](bool) {
                  return arr({slots_entry(0, 5, {master(), slots_node("h", -5, "r1")})});
              },
              p + "[0][3][1]: -5 is not a port number"},
             {"two masters serving one slot",
              [=](bool) {
                  return arr({slots_entry(0, 100, {master()}),
                              slots_entry(50, 16383, {slots_node("10.0.0.2", 7002, "m2")})});
              },
              p + "slot 50 is served by both 10.0.0.1:7000 and 10.0.0.2:7002"},
             {"an entry listed twice",
              [=](bool) {
                  return arr({slots_entry(0, 100, {master()}), slots_entry(0, 100, {master()})});
              },
              p + "slot 0 is listed twice for 10.0.0.1:7000"},
             {"the path of a later entry",
              [=](bool) {
                  return arr({slots_entry(0, 100, {master()}),
                              slots_entry(101, 16383, {arr({bulk("h"), num(1), arr({})})})});
              },
              p + "[1][2][2]: the id is not a string: []"},
         }) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(failure(slot_map::from_slots(c.reply(false), "seed")), c.detail);
    }
}

// --- parse_redirect

std::string text_of(std::optional<redirect> const& r) {
    if (!r)
        return "nullopt";
    return std::string(r->what == redirect::kind::moved ? "MOVED " : "ASK ") +
           std::to_string(r->slot) + " " + r->host + " " + std::to_string(r->port);
}

TEST(cluster_slots, parse_redirect_reads_moved_and_ask) {
    struct redirect_case {
        std::string_view text;
        std::string expected; // text_of the redirect
    };
    for (auto const& c : std::vector<redirect_case>{
             {"MOVED 3999 127.0.0.1:6381", "MOVED 3999 127.0.0.1 6381"},
             {"ASK 3999 127.0.0.1:6381", "ASK 3999 127.0.0.1 6381"},
             {"MOVED 15495 127.0.0.1:21380", "MOVED 15495 127.0.0.1 21380"}, // from Redis 7.0
             {"ASK 12182 127.0.0.1:36034", "ASK 12182 127.0.0.1 36034"},
             {"MOVED 0 redis-1.example:6379", "MOVED 0 redis-1.example 6379"},
             {"MOVED 16383 10.0.0.1:65535", "MOVED 16383 10.0.0.1 65535"},
             {"MOVED 1 ::1:7000", "MOVED 1 ::1 7000"}, // the port follows the last ':'
             {"MOVED 1 2001:db8::7:7000", "MOVED 1 2001:db8::7 7000"},
             {"MOVED 1 [::1]:7000", "MOVED 1 ::1 7000"},
             {"MOVED 1 :7000", "MOVED 1 answering.example 7000"},            // unknown-endpoint
             {"MOVED 15495 :21380", "MOVED 15495 answering.example 21380"},  // from Redis 7.0
             {"MOVED 15495 ?:21380", "MOVED 15495 answering.example 21380"}, // from Redis 7.0
             {"ASK 1 :7000", "ASK 1 answering.example 7000"},
             {"MOVED 007 h:1", "MOVED 7 h 1"},
         }) {
        SCOPED_TRACE(std::string(c.text));
        EXPECT_EQ(text_of(parse_redirect(c.text, "answering.example")), c.expected);
    }
}

TEST(cluster_slots, parse_redirect_rejects_everything_else) {
    for (std::string_view const text : {
             "",
             "MOVED",
             "MOVED ",
             "MOVED 3999",
             "MOVED 3999 ",
             "MOVED 3999 127.0.0.1",
             "MOVED 3999 127.0.0.1:",
             "MOVED 3999 127.0.0.1:0",
             "MOVED 3999 127.0.0.1:65536",
             "MOVED 3999 127.0.0.1:99999999999",
             "MOVED 3999 127.0.0.1:-1",
             "MOVED 3999 127.0.0.1:+1",
             "MOVED 3999 127.0.0.1:abc",
             "MOVED 3999 127.0.0.1:6381 extra",
             "MOVED 3999 127.0.0.1:6381 ",
             "MOVED 3999 127.0.0.1:6381\r\n",
             "MOVED 16384 127.0.0.1:6381",
             "MOVED 99999999999999999999 127.0.0.1:6381",
             "MOVED -1 127.0.0.1:6381",
             "MOVED +1 127.0.0.1:6381",
             "MOVED abc 127.0.0.1:6381",
             "MOVED  3999 127.0.0.1:6381",
             " MOVED 3999 127.0.0.1:6381",
             "-MOVED 3999 127.0.0.1:6381",
             "moved 3999 127.0.0.1:6381",
             "MOVEDX 3999 127.0.0.1:6381",
             "ASKING",
             "ASK",
             "ERR unknown command 'FOO'",
             "CROSSSLOT Keys in request don't hash to the same slot",
             "TRYAGAIN Multiple keys request during rehashing of slot",
             "CLUSTERDOWN The cluster is down",
         }) {
        SCOPED_TRACE(std::string(text));
        EXPECT_EQ(text_of(parse_redirect(text, "answering.example")), "nullopt");
    }
}

} // namespace
} // namespace mcpd::redis::detail
