// guard/scripts.hpp — the Lua scripts the Redis guards run, each one atomic on the server.
//
// Every script that needs the time reads it with redis.call('TIME') — the Redis server's clock,
// the one every process of a fleet shares — never a time sent by the caller.
#pragma once

#include "mcpd/redis/script.hpp"

namespace mcpd::guard::scripts {

// The Redis guide's release, unchanged: DEL only while the token still matches.
// KEYS[1] lock key; ARGV[1] token. 1 = deleted, 0 = not ours (or gone).
redis::script const& compare_and_delete();

// PEXPIRE only while the token still matches. KEYS[1] lock key; ARGV[1] token, ARGV[2] ttl ms.
// 1 = extended, 0 = not ours (or gone).
redis::script const& compare_and_extend();

// SET KEYS[1] ARGV[1] NX PX ARGV[2]; when taken, the next fencing token from KEYS[2]:
// max(previous + 1, the server's time in µs), kept as long as the lock could live and a day
// past it, so tokens keep growing even after the counter expires.
// Returns the fencing token (> 0), or the holder's remaining ms as a negative number (-1 when
// the holder's key has no TTL).
redis::script const& acquire_with_fence();

// The Redis guide's sliding log (ZREMRANGEBYSCORE, ZCARD, ZADD, EXPIRE), with the server's
// clock instead of the caller's, a member made unique by the caller's random ARGV[4], and the
// wait until the oldest entry leaves the window when refused.
// KEYS[1] sorted set; ARGV[1] window ms, ARGV[2] max, ARGV[3] key TTL s, ARGV[4] unique id.
// Returns {allowed 1|0, calls in the window (including this one when allowed), retry-after ms}.
redis::script const& sliding_log();

// Sliding-window counter: the count of the current fixed window plus the previous window's
// count weighted by how much of it the sliding window still covers. O(1) memory (one hash:
// w = window index, c = its count, p = the previous window's count), an estimate that assumes
// the previous window's calls were evenly spread.
// KEYS[1] hash; ARGV[1] window ms, ARGV[2] max. Returns {allowed, estimated calls, retry ms}.
redis::script const& sliding_counter();

} // namespace mcpd::guard::scripts
