// guard/keys.hpp — the Redis keys the guards use, and the canonical form of tool arguments.
//
// Layout (DESIGN.md "Redis key prefix"; the prefix is REDIS_KEY_PREFIX, default "mcp:"):
//   <prefix>cache:<tool>:<sha256 of the canonical arguments>   cached tool result
//   <prefix>cache:<key>                                        with_cache(key, …) from handlers
//   <prefix>ratelimit:<session>:<tool>                         sliding log (sorted set), as the
//                                                              Redis guide lays it out
//   <prefix>ratecount:<session>:<tool>                         sliding-window counter (hash)
//   <prefix>lock:<resource>                                    lock (string: the owner's token)
//   {<prefix>lock:<resource>}:fence                            its fencing counter
// The lock script touches the lock and its fencing counter together, so the counter's key
// carries a {hash tag} that puts it in the lock key's Redis Cluster slot (see fence_key). Every
// other script touches one key. The guards add the prefix themselves (their Redis clients have
// none) because a hash tag has to be able to enclose it.
#pragma once

#include "mcpd/core/error.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::guard {

// JSON with object keys sorted (by bytes) at every level, no whitespace, and numbers by value
// (1, 1.0 and 1e0 are one number): arguments that mean the same give the same text.
std::string canonical_json(boost::json::value const& v);

// SHA-256 of `data`, 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);

// Whose cached results a caller may see.
enum class cache_scope : std::uint8_t {
    shared,  // every session (get_user(id=123) from sessions A and B: one call)
    session, // only the session that stored it (results that depend on who asks)
};

class key_space {
public:
    explicit key_space(std::string prefix = "mcp:")
        : prefix_(std::move(prefix)) {}

    [[nodiscard]] std::string const& prefix() const noexcept { return prefix_; }

    // A tool's cached result for these arguments (and this session, when scoped to it).
    [[nodiscard]] std::string tool_cache_key(std::string_view tool,
                                             boost::json::object const& arguments,
                                             cache_scope scope, std::string_view session) const;
    // with_cache(key, …): the caller's own key.
    [[nodiscard]] std::string cache_key(std::string_view key) const;
    // The short lock that keeps other processes from filling the same cache entry at once:
    // the entry's key and fill_lock_suffix.
    static constexpr std::string_view fill_lock_suffix = ":fill";
    [[nodiscard]] static std::string fill_lock_key(std::string_view cache_key);
    [[nodiscard]] std::string rate_log_key(std::string_view session, std::string_view tool) const;
    [[nodiscard]] std::string rate_counter_key(std::string_view session,
                                               std::string_view tool) const;
    [[nodiscard]] std::string lock_key(std::string_view resource) const;

private:
    std::string prefix_;
};

// The fencing counter's key for a lock key, in the same Cluster slot: the lock key's own hash
// tag when it has one, else the whole lock key made the tag ("{<lock key>}:fence"). A lock key
// with a '}' but no tag of its own cannot have a slot-mate (a tag cannot hold '}'): on Redis
// Cluster its lock fails with CROSSSLOT. Template values cannot cause that (their braces are
// escaped); only a resource name written with a stray '}' can.
std::string fence_key(std::string_view lock_key);

// The Redis Cluster hash slot of a key (CRC16/XMODEM of its hash tag or of the whole key,
// modulo 16384), as CLUSTER KEYSLOT computes it.
std::uint16_t hash_slot(std::string_view key);

// Fills "{field}" placeholders of a lock key template ("send-email:{user_id}") from a tool's
// arguments: strings as they are, other values as canonical JSON, with '{', '}' and '%' in
// values written %7B, %7D and %25 (an argument cannot add a hash tag). A placeholder whose
// argument is missing or null is an error naming it; "{{" and "}}" stand for literal braces.
result<std::string> fill_key_template(std::string_view tmpl, boost::json::object const& arguments);

// The argument names a template's placeholders use, in order (for checks at registration).
// An unclosed '{' is an error.
result<std::vector<std::string>> key_template_fields(std::string_view tmpl);

} // namespace mcpd::guard
