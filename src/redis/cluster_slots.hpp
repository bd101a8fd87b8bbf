// redis/cluster_slots.hpp — sans-I/O pieces of the Redis Cluster client: which hash slot a key,
// a command and a request go to; the slot map built from CLUSTER SHARDS or CLUSTER SLOTS; and
// MOVED/ASK redirects. Pure functions and values: the cluster router (Asio) is built on them.
//
//   key_slot:     CRC16 (XMODEM: polynomial 0x1021, init 0) of the key, or of its hash tag (the
//                 text between the first '{' and the next '}', when not empty), mod 16384.
//   command_slot: the one slot of every key of a command (key positions from key_indices), on
//                 the wire form key_prefix + key; nullopt when it has no keys (any node will do);
//                 keys in different slots are refused (client_errc::unsupported_command), which
//                 is what the server's CROSSSLOT would say, before anything is sent.
//   request_slot: the same over every command of a request (MULTI … EXEC: one node runs it all).
//   slot_map:     16384 slots → the shard (master + replicas) that serves them.
//   parse_redirect: "MOVED 3999 127.0.0.1:6381" / "ASK 3999 …" → where to go.
//
// Where a reply names no usable host, the host that answered is meant: an endpoint or host that
// is null or "" (cluster-preferred-endpoint-type unknown-endpoint, or a node that does not know
// its own address) means "the host you asked", with the port given. "?" (announced hostnames
// enabled, but this node has none) names some other node whose name is unknown: its "ip" is used
// when the reply has one, else the answering host as for "".
#pragma once

#include "mcpd/core/error.hpp"
#include "mcpd/redis/command.hpp"
#include "mcpd/redis/resp.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpd::redis::detail {

inline constexpr std::uint16_t cluster_slot_count = 16384;

// CRC16/XMODEM of `data` (polynomial 0x1021, init 0, no reflection, no final xor).
[[nodiscard]] std::uint16_t crc16(std::string_view data) noexcept;

// The hash slot of `key`, with hash tags: "{user1000}.following" hashes "user1000".
[[nodiscard]] std::uint16_t key_slot(std::string_view key) noexcept;
// The hash slot of key_prefix + key (the key as sent when a prefix is set), without building it.
// A hash tag may start in the prefix and end in the key.
[[nodiscard]] std::uint16_t key_slot(std::string_view key_prefix, std::string_view key) noexcept;

struct slot_routing {
    std::optional<std::uint16_t> slot; // nullopt: no keys, any node will do

    friend bool operator==(slot_routing const&, slot_routing const&) = default;
};

// The slot of every key of one command (args[0] is its name); an error naming the command and
// two keys with their slots when they disagree.
[[nodiscard]] result<slot_routing> command_slot(std::span<std::string const> args,
                                                std::string_view key_prefix);
// The slot of every key of every command of a request; commands without keys (MULTI, EXEC,
// PING…) do not constrain it.
[[nodiscard]] result<slot_routing> request_slot(std::span<command const> cmds,
                                                std::string_view key_prefix);

struct cluster_node {
    std::string host; // as the cluster names it (IPv6 without brackets), or the answering host
    std::uint16_t port = 0;
    std::string id; // 40 hex characters from Redis; may be empty (CLUSTER SLOTS before 4.0)
    bool master = false;

    friend bool operator==(cluster_node const&, cluster_node const&) = default;
};

struct cluster_shard {
    // Inclusive [first, last] slot ranges, sorted, adjacent ranges merged; empty for a shard
    // that serves no slot (a new master, or one whose slots were all migrated away).
    std::vector<std::pair<std::uint16_t, std::uint16_t>> ranges;
    cluster_node master;
    // Replicas that can serve reads: online ones (CLUSTER SHARDS health), sorted by host, port, id.
    std::vector<cluster_node> replicas;

    friend bool operator==(cluster_shard const&, cluster_shard const&) = default;
};

// Which shard serves each slot. Shards are kept in a stable order, whatever order the server
// listed them in: by their first slot, then the shards that serve no slot by host, port and id.
// Two maps built from the same topology compare equal.
class slot_map {
public:
    slot_map(); // no shard: no slot is covered

    // From a CLUSTER SHARDS reply (Redis 7): RESP3 maps or RESP2 flat key/value arrays. A master
    // whose health is not "online" still owns its slots; such replicas are left out. `tls`: take
    // a node's "tls-port" when it has one (the client connects with TLS), else its "port"; either
    // falls back to the other when the node has only that one.
    [[nodiscard]] static result<slot_map>
    from_shards(value const& reply, std::string_view answering_host, bool tls = false);
    // From a CLUSTER SLOTS reply: [first, last, master, replica…] entries, each node
    // [host, port, id?, metadata?]; entries that name the same master make one shard.
    [[nodiscard]] static result<slot_map> from_slots(value const& reply,
                                                     std::string_view answering_host);

    // The shard, master or replicas serving `slot`; nullptr / empty when none does (a slot
    // ≥ 16384 included).
    [[nodiscard]] cluster_shard const* shard_of(std::uint16_t slot) const noexcept;
    [[nodiscard]] cluster_node const* master_of(std::uint16_t slot) const noexcept;
    [[nodiscard]] std::span<cluster_node const> replicas_of(std::uint16_t slot) const noexcept;

    [[nodiscard]] std::vector<cluster_shard> const& shards() const noexcept { return shards_; }
    // The master of every shard, in the order of shards() (for SCAN, KEYS or SCRIPT LOAD on every
    // master). Includes masters that serve no slot (last; only CLUSTER SHARDS lists them): skip
    // them where only keys matter.
    [[nodiscard]] std::vector<cluster_node> const& masters() const noexcept { return masters_; }

    [[nodiscard]] std::size_t covered_slots() const noexcept { return covered_; }
    [[nodiscard]] bool covers_all_slots() const noexcept { return covered_ == cluster_slot_count; }
    [[nodiscard]] bool empty() const noexcept { return shards_.empty(); }

    friend bool operator==(slot_map const& a, slot_map const& b) { return a.shards_ == b.shards_; }

private:
    static constexpr std::uint16_t no_shard = 0xFFFF;

    // Sorts, merges and indexes `shards`; the caller checked that no slot is claimed twice.
    explicit slot_map(std::vector<cluster_shard> shards);

    std::vector<cluster_shard> shards_;
    std::vector<cluster_node> masters_;
    // Per slot, the index of its shard in shards_ or no_shard; empty while there is no shard.
    std::vector<std::uint16_t> owner_;
    std::size_t covered_ = 0;
};

struct redirect {
    enum class kind { moved, ask } what = kind::moved;
    std::uint16_t slot = 0;
    std::string host; // the answering host when the error names none ("" or "?")
    std::uint16_t port = 0;

    friend bool operator==(redirect const&, redirect const&) = default;
};

// Parses the text of a MOVED or ASK error reply (without the leading '-'):
// "MOVED 3999 127.0.0.1:6381", "ASK 3999 ::1:7000" (the port follows the last ':'); an empty host
// or "?" means `answering_host`. Anything else (another error, a slot ≥ 16384, no port) → nullopt.
[[nodiscard]] std::optional<redirect> parse_redirect(std::string_view error_text,
                                                     std::string_view answering_host);

} // namespace mcpd::redis::detail
