// redis/command_keys.cpp — the key positions of Redis commands, and RESP encoding with a key
// prefix applied to those positions only.
//
// One sorted table holds every command we know: commands with keys at fixed positions (Redis's
// legacy first/last/step), commands whose keys depend on their arguments (a rule), and commands
// known to take no keys (so that only truly unknown names are reported). Lookups uppercase the
// name into a stack buffer and binary-search the table: nothing is allocated per call.
//
// Deliberate gaps, each one a place where a caller using a key prefix must prefix by hand:
//  - SORT / SORT_RO: the BY and GET patterns ("weight_*", "obj_*->field") name other keys but are
//    patterns, not keys; they are sent as given. The sorted key and the STORE destination are
//    prefixed.
//  - KEYS and SCAN MATCH patterns, PUBLISH/SUBSCRIBE channels and the shard-channel commands
//    (SPUBLISH, SSUBSCRIBE, SUNSUBSCRIBE): channels and patterns are not keys; use escape_glob
//    to build a pattern from a literal prefix.
//  - DEBUG OBJECT, CLUSTER KEYSLOT / COUNTKEYSINSLOT: administrative, sent as given.
#include "mcpd/redis/command_keys.hpp"

#include "core/log.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <iterator>
#include <limits>

namespace mcpd::redis {

namespace {

// How the keys of a command are found.
enum class rule : std::uint8_t {
    none,         // no keys
    range,        // first, last, step (last < 0: counted from the end, -1 = the last argument)
    numkeys,      // numkeys at `first`, then that many keys
    dest_numkeys, // destination at 1, numkeys at 2, then that many keys (ZUNIONSTORE…)
    sub_key2,     // `COMMAND <subcommand> key` for the subcommands that take a key
    sort,         // key at 1, STORE destination
    migrate,      // key at 3, or KEYS k… when argument 3 is empty
    georadius,    // key at 1, STORE/STOREDIST destination among the options from `first`
    xread,        // keys after STREAMS: the first half of what follows
    xreadgroup,   // same, after GROUP group consumer
};

struct entry {
    std::string_view name; // uppercase
    rule how;
    std::int16_t first = 0;
    std::int16_t last = 0;
    std::int16_t step = 0;
};

constexpr entry none(std::string_view n) {
    return {n, rule::none};
}
constexpr entry one(std::string_view n) {
    return {n, rule::range, 1, 1, 1};
}
constexpr entry range(std::string_view n, std::int16_t f, std::int16_t l, std::int16_t s) {
    return {n, rule::range, f, l, s};
}
constexpr entry numkeys_at(std::string_view n, std::int16_t at) {
    return {n, rule::numkeys, at};
}
constexpr entry special(std::string_view n, rule r, std::int16_t f = 0) {
    return {n, r, f};
}

// Sorted by name (checked at compile time below). Names are as Redis spells them, uppercase.
constexpr entry table[] = {
    none("ACL"),
    one("APPEND"),
    none("ASKING"),
    none("AUTH"),
    none("BGREWRITEAOF"),
    none("BGSAVE"),
    one("BITCOUNT"),
    one("BITFIELD"),
    one("BITFIELD_RO"),
    range("BITOP", 2, -1, 1),
    one("BITPOS"),
    range("BLMOVE", 1, 2, 1),
    numkeys_at("BLMPOP", 2),
    range("BLPOP", 1, -2, 1),
    range("BRPOP", 1, -2, 1),
    range("BRPOPLPUSH", 1, 2, 1),
    numkeys_at("BZMPOP", 2),
    range("BZPOPMAX", 1, -2, 1),
    range("BZPOPMIN", 1, -2, 1),
    none("CLIENT"),
    none("CLUSTER"),
    none("COMMAND"),
    none("CONFIG"),
    range("COPY", 1, 2, 1),
    none("DBSIZE"),
    none("DEBUG"),
    one("DECR"),
    one("DECRBY"),
    range("DEL", 1, -1, 1),
    none("DISCARD"),
    one("DUMP"),
    none("ECHO"),
    numkeys_at("EVAL", 2),
    numkeys_at("EVALSHA", 2),
    numkeys_at("EVALSHA_RO", 2),
    numkeys_at("EVAL_RO", 2),
    none("EXEC"),
    range("EXISTS", 1, -1, 1),
    one("EXPIRE"),
    one("EXPIREAT"),
    one("EXPIRETIME"),
    none("FAILOVER"),
    numkeys_at("FCALL", 2),
    numkeys_at("FCALL_RO", 2),
    none("FLUSHALL"),
    none("FLUSHDB"),
    none("FUNCTION"),
    one("GEOADD"),
    one("GEODIST"),
    one("GEOHASH"),
    one("GEOPOS"),
    special("GEORADIUS", rule::georadius, 6),
    special("GEORADIUSBYMEMBER", rule::georadius, 5),
    one("GEORADIUSBYMEMBER_RO"),
    one("GEORADIUS_RO"),
    one("GEOSEARCH"),
    range("GEOSEARCHSTORE", 1, 2, 1),
    one("GET"),
    one("GETBIT"),
    one("GETDEL"),
    one("GETEX"),
    one("GETRANGE"),
    one("GETSET"),
    one("HDEL"),
    none("HELLO"),
    one("HEXISTS"),
    one("HEXPIRE"),
    one("HEXPIREAT"),
    one("HEXPIRETIME"),
    one("HGET"),
    one("HGETALL"),
    one("HGETDEL"),
    one("HGETEX"),
    one("HINCRBY"),
    one("HINCRBYFLOAT"),
    one("HKEYS"),
    one("HLEN"),
    one("HMGET"),
    one("HMSET"),
    one("HPERSIST"),
    one("HPEXPIRE"),
    one("HPEXPIREAT"),
    one("HPEXPIRETIME"),
    one("HPTTL"),
    one("HRANDFIELD"),
    one("HSCAN"),
    one("HSET"),
    one("HSETEX"),
    one("HSETNX"),
    one("HSTRLEN"),
    one("HTTL"),
    one("HVALS"),
    one("INCR"),
    one("INCRBY"),
    one("INCRBYFLOAT"),
    none("INFO"),
    none("KEYS"),
    none("LASTSAVE"),
    none("LATENCY"),
    range("LCS", 1, 2, 1),
    one("LINDEX"),
    one("LINSERT"),
    one("LLEN"),
    range("LMOVE", 1, 2, 1),
    numkeys_at("LMPOP", 1),
    none("LOLWUT"),
    one("LPOP"),
    one("LPOS"),
    one("LPUSH"),
    one("LPUSHX"),
    one("LRANGE"),
    one("LREM"),
    one("LSET"),
    one("LTRIM"),
    special("MEMORY", rule::sub_key2),
    range("MGET", 1, -1, 1),
    special("MIGRATE", rule::migrate),
    none("MODULE"),
    none("MONITOR"),
    one("MOVE"),
    range("MSET", 1, -1, 2),
    range("MSETNX", 1, -1, 2),
    none("MULTI"),
    special("OBJECT", rule::sub_key2),
    one("PERSIST"),
    one("PEXPIRE"),
    one("PEXPIREAT"),
    one("PEXPIRETIME"),
    one("PFADD"),
    range("PFCOUNT", 1, -1, 1),
    range("PFDEBUG", 2, 2, 1),
    range("PFMERGE", 1, -1, 1),
    none("PFSELFTEST"),
    none("PING"),
    one("PSETEX"),
    none("PSUBSCRIBE"),
    none("PSYNC"),
    one("PTTL"),
    none("PUBLISH"),
    none("PUBSUB"),
    none("PUNSUBSCRIBE"),
    none("QUIT"),
    none("RANDOMKEY"),
    none("READONLY"),
    none("READWRITE"),
    range("RENAME", 1, 2, 1),
    range("RENAMENX", 1, 2, 1),
    none("REPLCONF"),
    none("REPLICAOF"),
    none("RESET"),
    one("RESTORE"),
    one("RESTORE-ASKING"),
    none("ROLE"),
    one("RPOP"),
    range("RPOPLPUSH", 1, 2, 1),
    one("RPUSH"),
    one("RPUSHX"),
    one("SADD"),
    none("SAVE"),
    none("SCAN"),
    one("SCARD"),
    none("SCRIPT"),
    range("SDIFF", 1, -1, 1),
    range("SDIFFSTORE", 1, -1, 1),
    none("SELECT"),
    none("SENTINEL"),
    one("SET"),
    one("SETBIT"),
    one("SETEX"),
    one("SETNX"),
    one("SETRANGE"),
    none("SFLUSH"),
    none("SHUTDOWN"),
    range("SINTER", 1, -1, 1),
    numkeys_at("SINTERCARD", 1),
    range("SINTERSTORE", 1, -1, 1),
    one("SISMEMBER"),
    none("SLAVEOF"),
    none("SLOWLOG"),
    one("SMEMBERS"),
    one("SMISMEMBER"),
    range("SMOVE", 1, 2, 1),
    special("SORT", rule::sort),
    special("SORT_RO", rule::sort),
    one("SPOP"),
    none("SPUBLISH"),
    one("SRANDMEMBER"),
    one("SREM"),
    one("SSCAN"),
    none("SSUBSCRIBE"),
    one("STRLEN"),
    none("SUBSCRIBE"),
    one("SUBSTR"),
    range("SUNION", 1, -1, 1),
    range("SUNIONSTORE", 1, -1, 1),
    none("SUNSUBSCRIBE"),
    none("SWAPDB"),
    none("SYNC"),
    none("TIME"),
    range("TOUCH", 1, -1, 1),
    one("TTL"),
    one("TYPE"),
    range("UNLINK", 1, -1, 1),
    none("UNSUBSCRIBE"),
    none("UNWATCH"),
    one("VADD"),
    one("VCARD"),
    one("VDIM"),
    one("VEMB"),
    one("VGETATTR"),
    one("VINFO"),
    one("VLINKS"),
    one("VRANDMEMBER"),
    one("VREM"),
    one("VSETATTR"),
    one("VSIM"),
    none("WAIT"),
    none("WAITAOF"),
    range("WATCH", 1, -1, 1),
    one("XACK"),
    one("XACKDEL"),
    one("XADD"),
    one("XAUTOCLAIM"),
    one("XCLAIM"),
    one("XDEL"),
    one("XDELEX"),
    special("XGROUP", rule::sub_key2),
    special("XINFO", rule::sub_key2),
    one("XLEN"),
    one("XPENDING"),
    one("XRANGE"),
    special("XREAD", rule::xread),
    special("XREADGROUP", rule::xreadgroup),
    one("XREVRANGE"),
    one("XSETID"),
    one("XTRIM"),
    one("ZADD"),
    one("ZCARD"),
    one("ZCOUNT"),
    numkeys_at("ZDIFF", 1),
    special("ZDIFFSTORE", rule::dest_numkeys),
    one("ZINCRBY"),
    numkeys_at("ZINTER", 1),
    numkeys_at("ZINTERCARD", 1),
    special("ZINTERSTORE", rule::dest_numkeys),
    one("ZLEXCOUNT"),
    numkeys_at("ZMPOP", 1),
    one("ZMSCORE"),
    one("ZPOPMAX"),
    one("ZPOPMIN"),
    one("ZRANDMEMBER"),
    one("ZRANGE"),
    one("ZRANGEBYLEX"),
    one("ZRANGEBYSCORE"),
    range("ZRANGESTORE", 1, 2, 1),
    one("ZRANK"),
    one("ZREM"),
    one("ZREMRANGEBYLEX"),
    one("ZREMRANGEBYRANK"),
    one("ZREMRANGEBYSCORE"),
    one("ZREVRANGE"),
    one("ZREVRANGEBYLEX"),
    one("ZREVRANGEBYSCORE"),
    one("ZREVRANK"),
    one("ZSCAN"),
    one("ZSCORE"),
    numkeys_at("ZUNION", 1),
    special("ZUNIONSTORE", rule::dest_numkeys),
};

constexpr bool by_name(entry const& a, entry const& b) {
    return a.name < b.name;
}
static_assert(std::is_sorted(std::begin(table), std::end(table), by_name), "table must be sorted");
static_assert(std::adjacent_find(std::begin(table), std::end(table),
                                 [](entry const& a, entry const& b) { return a.name == b.name; }) ==
                  std::end(table),
              "table must not repeat a name");

// Longer than any command name: a longer name is unknown without looking.
constexpr std::size_t max_name = 24;

constexpr char upper(char c) noexcept {
    return c >= 'a' && c <= 'z' ? char(c - 'a' + 'A') : c;
}

bool iequals(std::string_view a, std::string_view upper_b) noexcept {
    if (a.size() != upper_b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (upper(a[i]) != upper_b[i])
            return false;
    return true;
}

entry const* find(std::string_view name) noexcept {
    if (name.empty() || name.size() > max_name)
        return nullptr;
    std::array<char, max_name> buf{};
    for (std::size_t i = 0; i < name.size(); ++i)
        buf[i] = upper(name[i]);
    std::string_view key(buf.data(), name.size());
    auto it = std::lower_bound(std::begin(table), std::end(table), key,
                               [](entry const& e, std::string_view k) { return e.name < k; });
    if (it == std::end(table) || it->name != key)
        return nullptr;
    return &*it;
}

// A count argument: decimal digits only; false for anything else (negative, sign, empty,
// spaces). A count too large for size_t saturates (the caller clamps to what exists).
bool parse_count(std::string_view s, std::size_t& out) noexcept {
    if (s.empty())
        return false;
    for (char c : s)
        if (c < '0' || c > '9')
            return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc::result_out_of_range)
        out = std::numeric_limits<std::size_t>::max();
    else if (ec != std::errc() || p != s.data() + s.size())
        return false;
    return true;
}

// Calls `sink(i)` for each key index, strictly increasing, every i < args.size().
template <class Sink>
void visit_keys(entry const& e, std::span<std::string const> args, Sink&& sink) {
    std::size_t const n = args.size();
    // Keys from `from` for `count` arguments, clamped to the end.
    auto run = [&](std::size_t from, std::size_t count) {
        if (from >= n)
            return;
        std::size_t end = count > n - from ? n : from + count;
        for (std::size_t i = from; i < end; ++i)
            sink(i);
    };
    switch (e.how) {
    case rule::none:
        return;
    case rule::range: {
        auto first = static_cast<std::ptrdiff_t>(e.first);
        auto last = e.last >= 0 ? static_cast<std::ptrdiff_t>(e.last)
                                : static_cast<std::ptrdiff_t>(n) + e.last;
        last = std::min(last, static_cast<std::ptrdiff_t>(n) - 1);
        for (auto i = first; i <= last; i += e.step)
            sink(static_cast<std::size_t>(i));
        return;
    }
    case rule::numkeys:
    case rule::dest_numkeys: {
        std::size_t at = e.how == rule::numkeys ? static_cast<std::size_t>(e.first) : 2;
        if (e.how == rule::dest_numkeys && n > 1)
            sink(1);
        std::size_t count = 0;
        if (at < n && parse_count(args[at], count))
            run(at + 1, count);
        return;
    }
    case rule::sub_key2: {
        if (n < 3)
            return;
        std::string_view sub = args[1];
        bool takes_key = false;
        if (iequals(args[0], "OBJECT"))
            takes_key = iequals(sub, "ENCODING") || iequals(sub, "FREQ") ||
                        iequals(sub, "IDLETIME") || iequals(sub, "REFCOUNT");
        else if (iequals(args[0], "MEMORY"))
            takes_key = iequals(sub, "USAGE");
        else if (iequals(args[0], "XINFO"))
            takes_key =
                iequals(sub, "STREAM") || iequals(sub, "GROUPS") || iequals(sub, "CONSUMERS");
        else if (iequals(args[0], "XGROUP"))
            takes_key = iequals(sub, "CREATE") || iequals(sub, "CREATECONSUMER") ||
                        iequals(sub, "DELCONSUMER") || iequals(sub, "DESTROY") ||
                        iequals(sub, "SETID");
        if (takes_key)
            sink(2);
        return;
    }
    case rule::sort: {
        if (n < 2)
            return;
        sink(1);
        // SORT key [BY pattern] [LIMIT offset count] [GET pattern …] [ASC|DESC] [ALPHA]
        // [STORE destination]: skip option arguments so a pattern spelled "STORE" is not taken
        // for the option. With several STORE options the server uses the last one.
        std::size_t store = 0;
        for (std::size_t i = 2; i < n;) {
            if (iequals(args[i], "LIMIT"))
                i += 3;
            else if (iequals(args[i], "BY") || iequals(args[i], "GET"))
                i += 2;
            else if (iequals(args[i], "STORE")) {
                if (i + 1 < n)
                    store = i + 1;
                i += 2;
            } else
                i += 1;
        }
        if (store != 0)
            sink(store);
        return;
    }
    case rule::migrate: {
        // MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password]
        // [AUTH2 username password] [KEYS key …]
        if (n < 4)
            return;
        if (!args[3].empty()) {
            sink(3);
            return;
        }
        for (std::size_t i = 6; i < n;) {
            if (iequals(args[i], "AUTH"))
                i += 2;
            else if (iequals(args[i], "AUTH2"))
                i += 3;
            else if (iequals(args[i], "KEYS")) {
                run(i + 1, n);
                return;
            } else
                i += 1;
        }
        return;
    }
    case rule::georadius: {
        if (n < 2)
            return;
        sink(1);
        std::size_t store = 0;
        for (auto i = static_cast<std::size_t>(e.first); i < n;) {
            if (iequals(args[i], "STORE") || iequals(args[i], "STOREDIST")) {
                if (i + 1 < n)
                    store = i + 1; // the last one wins, as in the server
                i += 2;
            } else if (iequals(args[i], "COUNT"))
                i += 2;
            else
                i += 1;
        }
        if (store != 0)
            sink(store);
        return;
    }
    case rule::xread:
    case rule::xreadgroup: {
        // XREAD [COUNT n] [BLOCK ms] STREAMS key… id…
        // XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key… id…
        // Options are skipped with their arguments so a group or consumer named "STREAMS" is
        // not taken for the keyword; unknown words are stepped over as flags.
        for (std::size_t i = 1; i < n;) {
            if (iequals(args[i], "STREAMS")) {
                run(i + 1, (n - i - 1) / 2);
                return;
            }
            if (e.how == rule::xreadgroup && iequals(args[i], "GROUP"))
                i += 3;
            else if (iequals(args[i], "COUNT") || iequals(args[i], "BLOCK"))
                i += 2;
            else
                i += 1;
        }
        return;
    }
    }
}

std::atomic<bool> reported_unknown{false};

entry const* lookup(std::span<std::string const> args) {
    if (args.empty())
        return nullptr;
    entry const* e = find(args[0]);
    if (e == nullptr && !reported_unknown.exchange(true, std::memory_order_relaxed))
        log::debug("redis: command '{}' is not in the key table; its arguments are sent without "
                   "the key prefix (reported once)",
                   std::string_view(args[0]).substr(0, 64));
    return e;
}

void append_bulk(std::string& out, std::string_view prefix, std::string_view arg) {
    std::array<char, 24> digits{};
    auto r =
        std::to_chars(digits.data(), digits.data() + digits.size(), prefix.size() + arg.size());
    out.push_back('$');
    out.append(digits.data(), r.ptr);
    out.append("\r\n", 2);
    out.append(prefix);
    out.append(arg);
    out.append("\r\n", 2);
}

} // namespace

void key_indices(std::span<std::string const> args, std::vector<std::size_t>& out) {
    if (entry const* e = lookup(args))
        visit_keys(*e, args, [&](std::size_t i) { out.push_back(i); });
}

void encode_command_prefixed(std::string& out, std::span<std::string const> args,
                             std::string_view prefix) {
    entry const* e = prefix.empty() ? nullptr : lookup(args);

    // Size: "*<n>\r\n" and "$<len>\r\n<arg>\r\n" per argument (lengths counted at 20 digits:
    // an upper bound), plus the prefix once per key.
    std::size_t keys = 0;
    if (e != nullptr)
        visit_keys(*e, args, [&](std::size_t) { ++keys; });
    std::size_t need = 1 + 20 + 2 + keys * prefix.size();
    for (auto const& a : args)
        need += 1 + 20 + 2 + a.size() + 2;
    if (out.capacity() - out.size() < need)
        out.reserve(std::max(out.size() + need, 2 * out.capacity()));

    std::array<char, 24> digits{};
    auto r = std::to_chars(digits.data(), digits.data() + digits.size(), args.size());
    out.push_back('*');
    out.append(digits.data(), r.ptr);
    out.append("\r\n", 2);

    std::size_t next = 0; // the first argument not yet written
    if (e != nullptr)
        visit_keys(*e, args, [&](std::size_t k) {
            if (k < next) // never happens: indices are strictly increasing
                return;
            for (; next < k; ++next)
                append_bulk(out, {}, args[next]);
            append_bulk(out, prefix, args[k]);
            next = k + 1;
        });
    for (; next < args.size(); ++next)
        append_bulk(out, {}, args[next]);
}

std::string escape_glob(std::string_view s) {
    auto special_char = [](char c) {
        return c == '*' || c == '?' || c == '[' || c == ']' || c == '\\';
    };
    std::string out;
    out.reserve(s.size() +
                static_cast<std::size_t>(std::count_if(s.begin(), s.end(), special_char)));
    for (char c : s) {
        if (special_char(c))
            out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

} // namespace mcpd::redis
