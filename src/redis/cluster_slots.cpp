// redis/cluster_slots.cpp — hash slots of keys, commands and requests; the slot map parsed from
// CLUSTER SHARDS / CLUSTER SLOTS; MOVED/ASK redirects. Sans-I/O (see cluster_slots.hpp).
//
// Replies are untrusted: every field is checked for its type and range, and a malformed reply is
// an error (client_errc::unexpected_reply) whose text says where it is, as a path into the reply
// ("shards[1].nodes[0]: no \"port\" or \"tls-port\""), never a crash or a half-built map.
#include "redis/cluster_slots.hpp"

#include "mcpd/redis/command_keys.hpp"
#include "mcpd/redis/error.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <optional>
#include <string>
#include <tuple>

namespace mcpd::redis::detail {

namespace {

// --- CRC16/XMODEM, a byte at a time from a table built at compile time.

constexpr std::array<std::uint16_t, 256> make_crc_table() {
    std::array<std::uint16_t, 256> table{};
    for (std::size_t i = 0; i < table.size(); ++i) {
        auto crc = static_cast<std::uint16_t>(i << 8);
        for (int bit = 0; bit < 8; ++bit)
            crc = (crc & 0x8000U) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021U)
                                       : static_cast<std::uint16_t>(crc << 1);
        table[i] = crc;
    }
    return table;
}

constexpr std::array<std::uint16_t, 256> crc_table = make_crc_table();

constexpr std::uint16_t crc16_update(std::uint16_t crc, std::string_view data) noexcept {
    for (char c : data) {
        auto const byte = static_cast<unsigned char>(c);
        crc = static_cast<std::uint16_t>((crc << 8) ^ crc_table[((crc >> 8) ^ byte) & 0xFFU]);
    }
    return crc;
}

// The check value of CRC-16/XMODEM, and the example of the Redis Cluster specification.
static_assert(crc16_update(0, "123456789") == 0x31C3);

constexpr std::uint16_t slot_mask = cluster_slot_count - 1;
static_assert((cluster_slot_count & slot_mask) == 0, "the slot count is a power of two");

// --- Text for error messages: untrusted bytes escaped, long ones cut.

constexpr std::size_t max_shown = 64;

// `s` in double quotes, escaped as to_debug_string does, cut after max_shown bytes.
std::string quoted(std::string_view s) {
    bool const cut = s.size() > max_shown;
    std::string out = to_debug_string(
        value{.type = resp_type::bulk_string, .str = std::string(s.substr(0, max_shown))});
    if (cut)
        out.insert(out.size() - 1, "…");
    return out;
}

// A command name as the server would print it: uppercase, escaped, cut.
std::string shown_name(std::string_view name) {
    std::string upper(name.substr(0, max_shown));
    for (char& c : upper)
        if (c >= 'a' && c <= 'z')
            c = static_cast<char>(c - 'a' + 'A');
    std::string out = to_debug_string(value{.type = resp_type::simple_string, .str = upper});
    if (name.size() > max_shown)
        out += "…";
    return out;
}

// A reply element for an error message: its debug rendering, cut.
std::string shown(value const& v) {
    std::string out = to_debug_string(v);
    if (out.size() > 2 * max_shown) {
        out.resize(2 * max_shown);
        out += "…";
    }
    return out;
}

// --- Slots of commands and requests.

struct key_at {
    std::size_t command = 0; // index of the command in the request
    std::size_t arg = 0;     // index of the key in its arguments
    std::uint16_t slot = 0;
};

error cross_slot(std::span<std::string const> first_args, key_at const& first,
                 std::span<std::string const> second_args, key_at const& second,
                 std::string_view key_prefix) {
    std::string text;
    if (first.command == second.command) {
        text = shown_name(first_args[0]) +
               " keys in different slots: " + quoted(first_args[first.arg]) + " (" +
               std::to_string(first.slot) + ") and " + quoted(second_args[second.arg]) + " (" +
               std::to_string(second.slot) + ")";
    } else {
        text = "keys of one request in different slots: " + quoted(first_args[first.arg]) + " (" +
               std::to_string(first.slot) + ") in " + shown_name(first_args[0]) + " and " +
               quoted(second_args[second.arg]) + " (" + std::to_string(second.slot) + ") in " +
               shown_name(second_args[0]);
    }
    if (!key_prefix.empty())
        text += ", with the key prefix " + quoted(key_prefix);
    text += "; use a hash tag ({…}) to keep them together";
    return {make_error_code(client_errc::unsupported_command), std::move(text)};
}

// The one slot of the keys of commands [0, count): args_of(i) gives the arguments of command i.
template <class ArgsOf>
result<slot_routing> common_slot(std::size_t count, ArgsOf const& args_of,
                                 std::string_view key_prefix) {
    thread_local std::vector<std::size_t> keys; // every request comes here: no allocation each
    std::optional<key_at> first;
    for (std::size_t c = 0; c < count; ++c) {
        std::span<std::string const> const args = args_of(c);
        keys.clear();
        key_indices(args, keys);
        for (std::size_t const k : keys) {
            key_at const here{c, k, key_slot(key_prefix, args[k])};
            if (!first)
                first = here;
            else if (here.slot != first->slot)
                return cross_slot(args_of(first->command), *first, args, here, key_prefix);
        }
    }
    if (!first)
        return slot_routing{};
    return slot_routing{first->slot};
}

// --- Reading replies.

error bad_reply(std::string_view reply_name, std::string_view path, std::string_view problem) {
    std::string text(reply_name);
    text += " reply: ";
    if (!path.empty()) {
        text += path;
        text += ": ";
    }
    text += problem;
    return {make_error_code(client_errc::unexpected_reply), std::move(text)};
}

// The flat key/value elements of a RESP3 map or a RESP2 array of even length.
std::optional<std::span<value const>> pairs_of(value const& v) {
    if (v.type == resp_type::map || (v.type == resp_type::array && v.elements.size() % 2 == 0))
        return std::span<value const>(v.elements);
    return std::nullopt;
}

// The value of the first field named `name`, or nullptr.
value const* field(std::span<value const> pairs, std::string_view name) {
    for (std::size_t i = 0; i + 1 < pairs.size(); i += 2)
        if (auto k = pairs[i].as_string(); k && *k == name && !pairs[i].is_error())
            return &pairs[i + 1];
    return nullptr;
}

bool is_text(value const& v) {
    return v.type == resp_type::bulk_string || v.type == resp_type::simple_string ||
           v.type == resp_type::verbatim_string;
}

// A slot number: an integer in [0, 16383].
result<std::uint16_t> slot_number(value const& v, std::string_view reply_name,
                                  std::string const& path) {
    auto const n = v.as_integer();
    if (!n)
        return bad_reply(reply_name, path, "expected a slot number, got " + shown(v));
    if (*n < 0 || *n >= cluster_slot_count)
        return bad_reply(reply_name, path,
                         std::to_string(*n) + " is not a slot (0-" +
                             std::to_string(cluster_slot_count - 1) + ")");
    return static_cast<std::uint16_t>(*n);
}

// A [first, last] range from two reply elements.
result<std::pair<std::uint16_t, std::uint16_t>> slot_range(value const& first, value const& last,
                                                           std::string_view reply_name,
                                                           std::string const& first_path,
                                                           std::string const& last_path) {
    auto a = slot_number(first, reply_name, first_path);
    if (!a)
        return a.error();
    auto b = slot_number(last, reply_name, last_path);
    if (!b)
        return b.error();
    if (*a > *b)
        return bad_reply(reply_name, first_path,
                         "slot range " + std::to_string(*a) + "-" + std::to_string(*b) +
                             " ends before it starts");
    return std::pair{*a, *b};
}

// A TCP port: an integer in [0, 65535] (0 meaning "none" where the caller says so).
result<std::uint16_t> port_number(value const& v, std::string_view reply_name,
                                  std::string const& path) {
    auto const n = v.as_integer();
    if (!n)
        return bad_reply(reply_name, path, "expected a port number, got " + shown(v));
    if (*n < 0 || *n > std::numeric_limits<std::uint16_t>::max())
        return bad_reply(reply_name, path, std::to_string(*n) + " is not a port number");
    return static_cast<std::uint16_t>(*n);
}

bool usable_host(std::string_view h) {
    return !h.empty() && h != "?";
}

// Where to reach a node, from its announced endpoint (nullptr: the reply has none) and its ip
// (empty: unknown). See cluster_slots.hpp for the meaning of null, "" and "?".
std::string pick_host(value const* endpoint, std::string_view ip, std::string_view answering_host) {
    if (endpoint == nullptr)
        return std::string(usable_host(ip) ? ip : answering_host);
    if (endpoint->is_null() || endpoint->str.empty())
        return std::string(answering_host);
    if (endpoint->str == "?")
        return std::string(usable_host(ip) ? ip : answering_host);
    return endpoint->str;
}

std::string node_name(cluster_node const& n) {
    return n.host + ":" + std::to_string(n.port);
}

bool same_node(cluster_node const& a, cluster_node const& b) {
    if (!a.id.empty() || !b.id.empty())
        return a.id == b.id;
    return a.host == b.host && a.port == b.port;
}

// An error when a slot is served twice.
std::optional<error> overlap(std::vector<cluster_shard> const& shards,
                             std::string_view reply_name) {
    struct claim {
        std::uint16_t first;
        std::uint16_t last;
        std::size_t shard;
    };
    std::vector<claim> claims;
    for (std::size_t s = 0; s < shards.size(); ++s)
        for (auto const& [first, last] : shards[s].ranges)
            claims.push_back({first, last, s});
    std::sort(claims.begin(), claims.end(), [](claim const& a, claim const& b) {
        return std::tie(a.first, a.last) < std::tie(b.first, b.last);
    });
    for (std::size_t i = 1; i < claims.size(); ++i) {
        claim const& prev = claims[i - 1];
        claim const& next = claims[i];
        if (next.first > prev.last)
            continue;
        cluster_node const& a = shards[prev.shard].master;
        cluster_node const& b = shards[next.shard].master;
        if (prev.shard == next.shard)
            return bad_reply(reply_name, {},
                             "slot " + std::to_string(next.first) + " is listed twice for " +
                                 node_name(a));
        return bad_reply(reply_name, {},
                         "slot " + std::to_string(next.first) + " is served by both " +
                             node_name(a) + " and " + node_name(b));
    }
    return std::nullopt;
}

// --- CLUSTER SHARDS

constexpr std::string_view shards_reply = "CLUSTER SHARDS";

struct shard_node {
    cluster_node node;
    bool online = true;
};

result<shard_node> parse_shard_node(value const& v, std::string const& path,
                                    std::string_view answering_host, bool tls) {
    auto const pairs = pairs_of(v);
    if (!pairs)
        return bad_reply(shards_reply, path, "expected a map of node fields, got " + shown(v));
    shard_node out;

    value const* id = field(*pairs, "id");
    if (id == nullptr)
        return bad_reply(shards_reply, path, "no \"id\"");
    if (!is_text(*id))
        return bad_reply(shards_reply, path, "\"id\" is not a string: " + shown(*id));
    out.node.id = id->str;

    value const* role = field(*pairs, "role");
    if (role == nullptr)
        return bad_reply(shards_reply, path, "no \"role\"");
    if (is_text(*role) && role->str == "master")
        out.node.master = true;
    else if (!is_text(*role) || role->str != "replica")
        return bad_reply(shards_reply, path,
                         "\"role\" is neither \"master\" nor \"replica\": " + shown(*role));

    // Redis lists "port" and "tls-port" only when they are not 0.
    std::uint16_t plain = 0;
    std::uint16_t secure = 0;
    if (value const* p = field(*pairs, "port")) {
        auto n = port_number(*p, shards_reply, path + ".port");
        if (!n)
            return n.error();
        plain = *n;
    }
    if (value const* p = field(*pairs, "tls-port")) {
        auto n = port_number(*p, shards_reply, path + ".tls-port");
        if (!n)
            return n.error();
        secure = *n;
    }
    out.node.port = tls ? (secure != 0 ? secure : plain) : (plain != 0 ? plain : secure);
    if (out.node.port == 0)
        return bad_reply(shards_reply, path, "no \"port\" or \"tls-port\"");

    std::string_view ip;
    if (value const* p = field(*pairs, "ip")) {
        if (!is_text(*p) && !p->is_null())
            return bad_reply(shards_reply, path, "\"ip\" is not a string: " + shown(*p));
        ip = p->str;
    }
    value const* endpoint = field(*pairs, "endpoint");
    if (endpoint != nullptr && !is_text(*endpoint) && !endpoint->is_null())
        return bad_reply(shards_reply, path, "\"endpoint\" is not a string: " + shown(*endpoint));
    out.node.host = pick_host(endpoint, ip, answering_host);

    if (value const* h = field(*pairs, "health")) {
        if (!is_text(*h))
            return bad_reply(shards_reply, path, "\"health\" is not a string: " + shown(*h));
        out.online = h->str == "online";
    }
    return out;
}

// One shard; nullopt for a shard that has neither a master nor a slot (nothing to route to).
result<std::optional<cluster_shard>> parse_shard(value const& v, std::string const& path,
                                                 std::string_view answering_host, bool tls) {
    auto const pairs = pairs_of(v);
    if (!pairs)
        return bad_reply(shards_reply, path, "expected a map of shard fields, got " + shown(v));
    cluster_shard shard;

    value const* slots = field(*pairs, "slots");
    if (slots == nullptr)
        return bad_reply(shards_reply, path, "no \"slots\"");
    if (slots->type != resp_type::array)
        return bad_reply(shards_reply, path, "\"slots\" is not an array: " + shown(*slots));
    if (slots->elements.size() % 2 != 0)
        return bad_reply(shards_reply, path,
                         "\"slots\" has an odd number of elements (" +
                             std::to_string(slots->elements.size()) +
                             "); expected first, last pairs");
    for (std::size_t i = 0; i < slots->elements.size(); i += 2) {
        auto range = slot_range(slots->elements[i], slots->elements[i + 1], shards_reply,
                                path + ".slots[" + std::to_string(i) + "]",
                                path + ".slots[" + std::to_string(i + 1) + "]");
        if (!range)
            return range.error();
        shard.ranges.push_back(*range);
    }

    value const* nodes = field(*pairs, "nodes");
    if (nodes == nullptr)
        return bad_reply(shards_reply, path, "no \"nodes\"");
    if (nodes->type != resp_type::array)
        return bad_reply(shards_reply, path, "\"nodes\" is not an array: " + shown(*nodes));
    bool has_master = false;
    for (std::size_t i = 0; i < nodes->elements.size(); ++i) {
        auto n = parse_shard_node(nodes->elements[i], path + ".nodes[" + std::to_string(i) + "]",
                                  answering_host, tls);
        if (!n)
            return n.error();
        if (n->node.master) {
            if (has_master)
                return bad_reply(shards_reply, path,
                                 "two masters: " + node_name(shard.master) + " and " +
                                     node_name(n->node));
            has_master = true;
            shard.master = std::move(n->node); // serves its slots even when not online
        } else if (n->online) {
            shard.replicas.push_back(std::move(n->node));
        }
    }
    if (!has_master) {
        if (!shard.ranges.empty())
            return bad_reply(shards_reply, path, "slots but no master");
        return std::optional<cluster_shard>();
    }
    return std::optional<cluster_shard>(std::move(shard));
}

// --- CLUSTER SLOTS

constexpr std::string_view slots_reply = "CLUSTER SLOTS";

// [host, port, id?, metadata?, …]
result<cluster_node> parse_slots_node(value const& v, std::string const& path,
                                      std::string_view answering_host, bool master) {
    if (v.type != resp_type::array || v.elements.size() < 2)
        return bad_reply(slots_reply, path, "expected [host, port, id…], got " + shown(v));
    value const& host = v.elements[0];
    if (!is_text(host) && !host.is_null())
        return bad_reply(slots_reply, path + "[0]", "the host is not a string: " + shown(host));
    auto port = port_number(v.elements[1], slots_reply, path + "[1]");
    if (!port)
        return port.error();
    if (*port == 0)
        return bad_reply(slots_reply, path + "[1]", "port 0");
    cluster_node out;
    out.port = *port;
    out.master = master;
    if (v.elements.size() > 2) {
        value const& id = v.elements[2];
        if (!is_text(id))
            return bad_reply(slots_reply, path + "[2]", "the id is not a string: " + shown(id));
        out.id = id.str;
    }
    // Redis 7 adds a map (RESP2: a flat array) with "ip" and "hostname" when they differ from
    // the host; only "ip" is of use here (for a host of "?"). Anything odd in it is ignored.
    std::string_view ip;
    if (v.elements.size() > 3)
        if (auto meta = pairs_of(v.elements[3]))
            if (value const* p = field(*meta, "ip"); p != nullptr && is_text(*p))
                ip = p->str;
    out.host = pick_host(&host, ip, answering_host);
    return out;
}

} // namespace

// --- Hash slots

std::uint16_t crc16(std::string_view data) noexcept {
    return crc16_update(0, data);
}

std::uint16_t key_slot(std::string_view key) noexcept {
    return key_slot({}, key);
}

std::uint16_t key_slot(std::string_view key_prefix, std::string_view key) noexcept {
    // Positions are in the joined text key_prefix + key, which is never built.
    constexpr auto npos = std::string_view::npos;
    std::size_t const split = key_prefix.size();
    auto find = [&](char c, std::size_t from) -> std::size_t {
        if (from < split) {
            if (auto p = key_prefix.find(c, from); p != npos)
                return p;
            from = split;
        }
        auto p = key.find(c, from - split);
        return p == npos ? npos : split + p;
    };
    auto crc_of = [&](std::size_t from, std::size_t to) { // [from, to)
        std::uint16_t crc = 0;
        if (from < split)
            crc = crc16_update(crc, key_prefix.substr(from, std::min(to, split) - from));
        if (to > split) {
            std::size_t const start = from > split ? from - split : 0;
            crc = crc16_update(crc, key.substr(start, to - split - start));
        }
        return crc;
    };

    std::size_t from = 0;
    std::size_t to = split + key.size();
    if (auto open = find('{', 0); open != npos) {
        auto close = find('}', open + 1);
        if (close != npos && close > open + 1) { // "{}" is no tag: the whole key is hashed
            from = open + 1;
            to = close;
        }
    }
    return static_cast<std::uint16_t>(crc_of(from, to) & slot_mask);
}

result<slot_routing> command_slot(std::span<std::string const> args, std::string_view key_prefix) {
    return common_slot(
        1, [&](std::size_t) { return args; }, key_prefix);
}

result<slot_routing> request_slot(std::span<command const> cmds, std::string_view key_prefix) {
    return common_slot(
        cmds.size(), [&](std::size_t i) { return cmds[i].args(); }, key_prefix);
}

// --- slot_map

slot_map::slot_map() = default;

slot_map::slot_map(std::vector<cluster_shard> shards)
    : shards_(std::move(shards)) {
    auto by_node = [](cluster_node const& a, cluster_node const& b) {
        return std::tie(a.host, a.port, a.id) < std::tie(b.host, b.port, b.id);
    };
    for (auto& s : shards_) {
        std::sort(s.ranges.begin(), s.ranges.end());
        std::vector<std::pair<std::uint16_t, std::uint16_t>> merged;
        for (auto const& r : s.ranges) {
            if (!merged.empty() && r.first <= merged.back().second + 1)
                merged.back().second = std::max(merged.back().second, r.second);
            else
                merged.push_back(r);
        }
        s.ranges = std::move(merged);
        std::sort(s.replicas.begin(), s.replicas.end(), by_node);
    }
    std::sort(shards_.begin(), shards_.end(), [&](cluster_shard const& a, cluster_shard const& b) {
        if (a.ranges.empty() != b.ranges.empty())
            return !a.ranges.empty();
        if (!a.ranges.empty())
            return a.ranges.front().first < b.ranges.front().first;
        return by_node(a.master, b.master);
    });

    masters_.reserve(shards_.size());
    for (auto const& s : shards_)
        masters_.push_back(s.master);
    if (shards_.empty())
        return;
    owner_.assign(cluster_slot_count, no_shard);
    for (std::size_t i = 0; i < shards_.size(); ++i)
        for (auto const& [first, last] : shards_[i].ranges) {
            std::fill(owner_.begin() + first, owner_.begin() + last + 1,
                      static_cast<std::uint16_t>(i));
            covered_ += static_cast<std::size_t>(last - first) + 1;
        }
}

result<slot_map> slot_map::from_shards(value const& reply, std::string_view answering_host,
                                       bool tls) {
    if (reply.is_error())
        return bad_reply(shards_reply, {}, "an error: " + shown(reply));
    if (reply.type != resp_type::array)
        return bad_reply(shards_reply, {}, "expected an array of shards, got " + shown(reply));
    if (reply.elements.size() >= no_shard)
        return bad_reply(shards_reply, {},
                         "too many shards (" + std::to_string(reply.elements.size()) + ")");
    std::vector<cluster_shard> shards;
    for (std::size_t i = 0; i < reply.elements.size(); ++i) {
        auto s = parse_shard(reply.elements[i], "shards[" + std::to_string(i) + "]", answering_host,
                             tls);
        if (!s)
            return s.error();
        if (*s)
            shards.push_back(std::move(**s));
    }
    if (auto e = overlap(shards, shards_reply))
        return *e;
    return slot_map(std::move(shards));
}

result<slot_map> slot_map::from_slots(value const& reply, std::string_view answering_host) {
    if (reply.is_error())
        return bad_reply(slots_reply, {}, "an error: " + shown(reply));
    if (reply.type != resp_type::array)
        return bad_reply(slots_reply, {}, "expected an array of slot ranges, got " + shown(reply));
    std::vector<cluster_shard> shards;
    for (std::size_t i = 0; i < reply.elements.size(); ++i) {
        std::string const path = "[" + std::to_string(i) + "]";
        value const& entry = reply.elements[i];
        if (entry.type != resp_type::array || entry.elements.size() < 3)
            return bad_reply(slots_reply, path,
                             "expected [first, last, master, replica…], got " + shown(entry));
        auto range = slot_range(entry.elements[0], entry.elements[1], slots_reply, path + "[0]",
                                path + "[1]");
        if (!range)
            return range.error();
        auto master = parse_slots_node(entry.elements[2], path + "[2]", answering_host, true);
        if (!master)
            return master.error();

        auto shard = std::find_if(shards.begin(), shards.end(), [&](cluster_shard const& s) {
            return same_node(s.master, *master);
        });
        if (shard == shards.end()) {
            if (shards.size() + 1 >= no_shard)
                return bad_reply(slots_reply, {}, "too many masters");
            shard = shards.insert(shards.end(), cluster_shard{{}, std::move(*master), {}});
        }
        shard->ranges.push_back(*range);
        for (std::size_t r = 3; r < entry.elements.size(); ++r) {
            auto replica = parse_slots_node(entry.elements[r], path + "[" + std::to_string(r) + "]",
                                            answering_host, false);
            if (!replica)
                return replica.error();
            bool const known =
                std::any_of(shard->replicas.begin(), shard->replicas.end(),
                            [&](cluster_node const& n) { return same_node(n, *replica); });
            if (!known)
                shard->replicas.push_back(std::move(*replica));
        }
    }
    if (auto e = overlap(shards, slots_reply))
        return *e;
    return slot_map(std::move(shards));
}

cluster_shard const* slot_map::shard_of(std::uint16_t slot) const noexcept {
    if (slot >= owner_.size() || owner_[slot] == no_shard)
        return nullptr;
    return &shards_[owner_[slot]];
}

cluster_node const* slot_map::master_of(std::uint16_t slot) const noexcept {
    cluster_shard const* s = shard_of(slot);
    return s == nullptr ? nullptr : &s->master;
}

std::span<cluster_node const> slot_map::replicas_of(std::uint16_t slot) const noexcept {
    cluster_shard const* s = shard_of(slot);
    if (s == nullptr)
        return {};
    return s->replicas;
}

// --- Redirects

std::optional<redirect> parse_redirect(std::string_view error_text,
                                       std::string_view answering_host) {
    redirect r;
    std::string_view rest = error_text;
    if (rest.starts_with("MOVED ")) {
        r.what = redirect::kind::moved;
        rest.remove_prefix(6);
    } else if (rest.starts_with("ASK ")) {
        r.what = redirect::kind::ask;
        rest.remove_prefix(4);
    } else {
        return std::nullopt;
    }

    // Digits only: from_chars would take a '-' for a signed type, and the text is untrusted.
    auto number = [](std::string_view digits, std::uint32_t max) -> std::optional<std::uint32_t> {
        if (digits.empty() || digits.size() > 9 ||
            !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return std::nullopt;
        std::uint32_t n = 0;
        auto const parsed = std::from_chars(digits.data(), digits.data() + digits.size(), n);
        if (parsed.ec != std::errc() || n > max)
            return std::nullopt;
        return n;
    };

    auto const space = rest.find(' ');
    if (space == std::string_view::npos)
        return std::nullopt;
    auto slot = number(rest.substr(0, space), cluster_slot_count - 1);
    if (!slot)
        return std::nullopt;
    r.slot = static_cast<std::uint16_t>(*slot);

    std::string_view const endpoint = rest.substr(space + 1);
    auto const colon = endpoint.rfind(':');
    if (colon == std::string_view::npos || endpoint.find(' ') != std::string_view::npos)
        return std::nullopt;
    auto port = number(endpoint.substr(colon + 1), std::numeric_limits<std::uint16_t>::max());
    if (!port || *port == 0)
        return std::nullopt;
    r.port = static_cast<std::uint16_t>(*port);

    std::string_view host = endpoint.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    r.host = std::string(usable_host(host) ? host : answering_host);
    return r;
}

} // namespace mcpd::redis::detail
