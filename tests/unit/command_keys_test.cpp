// Unit tests for redis/command_keys: which arguments of a command are keys, the RESP encoding
// with a key prefix applied to those arguments only, and glob escaping.
#include "mcpd/redis/command_keys.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using mcpd::redis::encode_command_prefixed;
using mcpd::redis::escape_glob;
using mcpd::redis::key_indices;

using args_t = std::vector<std::string>;
using idx_t = std::vector<std::size_t>;

idx_t keys_of(args_t const& args) {
    idx_t out;
    key_indices(args, out);
    return out;
}

std::string join(args_t const& args) {
    std::string s;
    for (auto const& a : args) {
        if (!s.empty())
            s += ' ';
        s += a.empty() ? std::string("\"\"") : a;
    }
    return s;
}

struct key_case {
    args_t args;
    idx_t keys;
};

void check_all(std::vector<key_case> const& cases) {
    for (auto const& c : cases) {
        SCOPED_TRACE(join(c.args));
        EXPECT_EQ(keys_of(c.args), c.keys);
    }
}

std::string prefixed(args_t const& args, std::string_view prefix) {
    std::string out;
    encode_command_prefixed(out, args, prefix);
    return out;
}

TEST(command_keys, single_key_commands_have_their_key_at_index_1) {
    check_all({
        {{"GET", "k"}, {1}},
        {{"SET", "k", "v", "EX", "10", "NX"}, {1}},
        {{"GETEX", "k", "PERSIST"}, {1}},
        {{"GETDEL", "k"}, {1}},
        {{"GETSET", "k", "v"}, {1}},
        {{"GETRANGE", "k", "0", "-1"}, {1}},
        {{"SETEX", "k", "10", "v"}, {1}},
        {{"PSETEX", "k", "10", "v"}, {1}},
        {{"SETNX", "k", "v"}, {1}},
        {{"APPEND", "k", "v"}, {1}},
        {{"STRLEN", "k"}, {1}},
        {{"INCR", "k"}, {1}},
        {{"INCRBY", "k", "5"}, {1}},
        {{"INCRBYFLOAT", "k", "0.5"}, {1}},
        {{"DECR", "k"}, {1}},
        {{"DECRBY", "k", "5"}, {1}},
        {{"HSET", "h", "f", "v", "f2", "v2"}, {1}},
        {{"HGET", "h", "f"}, {1}},
        {{"HGETALL", "h"}, {1}},
        {{"HINCRBY", "h", "f", "1"}, {1}},
        {{"HDEL", "h", "f", "g"}, {1}},
        {{"HSCAN", "h", "0", "MATCH", "*"}, {1}},
        {{"HEXPIRE", "h", "10", "FIELDS", "1", "f"}, {1}},
        {{"LPUSH", "l", "a", "b"}, {1}},
        {{"RPOP", "l", "2"}, {1}},
        {{"LRANGE", "l", "0", "-1"}, {1}},
        {{"LPOS", "l", "a", "RANK", "1"}, {1}},
        {{"SADD", "s", "a", "b"}, {1}},
        {{"SMEMBERS", "s"}, {1}},
        {{"SISMEMBER", "s", "a"}, {1}},
        {{"ZADD", "z", "1", "a", "2", "b"}, {1}},
        {{"ZRANGE", "z", "0", "-1", "WITHSCORES"}, {1}},
        {{"ZSCORE", "z", "a"}, {1}},
        {{"XADD", "s", "*", "f", "v"}, {1}},
        {{"XRANGE", "s", "-", "+"}, {1}},
        {{"XACK", "s", "g", "1-0"}, {1}},
        {{"XTRIM", "s", "MAXLEN", "100"}, {1}},
        {{"GEOADD", "g", "13.36", "38.11", "Palermo"}, {1}},
        {{"GEOSEARCH", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "10", "km"}, {1}},
        {{"GEORADIUS_RO", "g", "15", "37", "200", "km"}, {1}},
        {{"BITCOUNT", "b"}, {1}},
        {{"SETBIT", "b", "7", "1"}, {1}},
        {{"BITFIELD", "b", "GET", "u4", "0"}, {1}},
        {{"PFADD", "hll", "a", "b"}, {1}},
        {{"RESTORE", "k", "0", "payload", "REPLACE"}, {1}},
        {{"DUMP", "k"}, {1}},
        {{"EXPIRE", "k", "10", "NX"}, {1}},
        {{"EXPIREAT", "k", "1700000000"}, {1}},
        {{"PEXPIRE", "k", "1000"}, {1}},
        {{"PEXPIREAT", "k", "1700000000000"}, {1}},
        {{"EXPIRETIME", "k"}, {1}},
        {{"PEXPIRETIME", "k"}, {1}},
        {{"PERSIST", "k"}, {1}},
        {{"TTL", "k"}, {1}},
        {{"PTTL", "k"}, {1}},
        {{"TYPE", "k"}, {1}},
        {{"MOVE", "k", "1"}, {1}},
    });
}

TEST(command_keys, multi_key_commands_follow_the_redis_table) {
    check_all({
        {{"DEL", "a", "b", "c"}, {1, 2, 3}},
        {{"UNLINK", "a", "b"}, {1, 2}},
        {{"EXISTS", "a", "b"}, {1, 2}},
        {{"TOUCH", "a"}, {1}},
        {{"WATCH", "a", "b", "c"}, {1, 2, 3}},
        {{"MGET", "a", "b", "c"}, {1, 2, 3}},
        {{"MSET", "a", "1", "b", "2"}, {1, 3}},
        {{"MSETNX", "a", "1", "b", "2", "c", "3"}, {1, 3, 5}},
        {{"RENAME", "a", "b"}, {1, 2}},
        {{"RENAMENX", "a", "b"}, {1, 2}},
        {{"COPY", "a", "b", "DB", "2", "REPLACE"}, {1, 2}},
        {{"SMOVE", "a", "b", "m"}, {1, 2}},
        {{"LMOVE", "a", "b", "LEFT", "RIGHT"}, {1, 2}},
        {{"BLMOVE", "a", "b", "LEFT", "RIGHT", "0"}, {1, 2}},
        {{"RPOPLPUSH", "a", "b"}, {1, 2}},
        {{"BRPOPLPUSH", "a", "b", "0"}, {1, 2}},
        {{"GEOSEARCHSTORE", "d", "s", "FROMMEMBER", "m", "BYRADIUS", "1", "km"}, {1, 2}},
        {{"ZRANGESTORE", "d", "s", "0", "-1"}, {1, 2}},
        {{"SINTERSTORE", "d", "a", "b"}, {1, 2, 3}},
        {{"SUNIONSTORE", "d", "a", "b"}, {1, 2, 3}},
        {{"SDIFFSTORE", "d", "a", "b"}, {1, 2, 3}},
        {{"SINTER", "a", "b"}, {1, 2}},
        {{"SUNION", "a", "b"}, {1, 2}},
        {{"SDIFF", "a", "b"}, {1, 2}},
        {{"PFCOUNT", "a", "b"}, {1, 2}},
        {{"PFMERGE", "d", "a", "b"}, {1, 2, 3}},
        {{"LCS", "a", "b", "LEN"}, {1, 2}},
        {{"BITOP", "AND", "d", "a", "b"}, {2, 3, 4}},
        {{"BITOP", "NOT", "d", "a"}, {2, 3}},
    });
}

TEST(command_keys, blocking_pops_take_every_argument_but_the_timeout) {
    check_all({
        {{"BLPOP", "a", "b", "0"}, {1, 2}},
        {{"BRPOP", "a", "1.5"}, {1}},
        {{"BZPOPMIN", "a", "b", "c", "0"}, {1, 2, 3}},
        {{"BZPOPMAX", "a", "0"}, {1}},
    });
}

TEST(command_keys, subcommands_that_take_a_key_have_it_at_index_2) {
    check_all({
        {{"OBJECT", "ENCODING", "k"}, {2}},
        {{"OBJECT", "FREQ", "k"}, {2}},
        {{"OBJECT", "IDLETIME", "k"}, {2}},
        {{"OBJECT", "REFCOUNT", "k"}, {2}},
        {{"OBJECT", "HELP"}, {}},
        {{"MEMORY", "USAGE", "k", "SAMPLES", "5"}, {2}},
        {{"MEMORY", "STATS"}, {}},
        {{"MEMORY", "DOCTOR"}, {}},
        {{"XINFO", "STREAM", "s", "FULL"}, {2}},
        {{"XINFO", "GROUPS", "s"}, {2}},
        {{"XINFO", "CONSUMERS", "s", "g"}, {2}},
        {{"XINFO", "HELP"}, {}},
        {{"XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"}, {2}},
        {{"XGROUP", "CREATECONSUMER", "s", "g", "c"}, {2}},
        {{"XGROUP", "DELCONSUMER", "s", "g", "c"}, {2}},
        {{"XGROUP", "DESTROY", "s", "g"}, {2}},
        {{"XGROUP", "SETID", "s", "g", "0"}, {2}},
        {{"XGROUP", "HELP"}, {}},
    });
}

TEST(command_keys, commands_without_keys_yield_nothing) {
    check_all({
        {{"PING"}, {}},
        {{"PING", "hello"}, {}},
        {{"INFO", "server"}, {}},
        {{"SCAN", "0", "MATCH", "mcp:*", "COUNT", "100"}, {}},
        {{"KEYS", "mcp:*"}, {}},
        {{"SELECT", "1"}, {}},
        {{"AUTH", "user", "pass"}, {}},
        {{"HELLO", "3", "AUTH", "user", "pass"}, {}},
        {{"CLIENT", "SETNAME", "mcpd"}, {}},
        {{"CONFIG", "GET", "maxmemory"}, {}},
        {{"SCRIPT", "LOAD", "return 1"}, {}},
        {{"FUNCTION", "LOAD", "#!lua name=lib\n"}, {}},
        {{"PUBLISH", "channel", "message"}, {}},
        {{"SUBSCRIBE", "a", "b"}, {}},
        {{"PSUBSCRIBE", "a*"}, {}},
        {{"SPUBLISH", "channel", "message"}, {}},
        {{"SSUBSCRIBE", "channel"}, {}},
        {{"MULTI"}, {}},
        {{"EXEC"}, {}},
        {{"DISCARD"}, {}},
        {{"QUIT"}, {}},
        {{"FLUSHDB", "ASYNC"}, {}},
        {{"FLUSHALL"}, {}},
        {{"DBSIZE"}, {}},
        {{"TIME"}, {}},
        {{"RANDOMKEY"}, {}},
        {{"WAIT", "1", "0"}, {}},
        {{"ECHO", "k"}, {}},
    });
}

TEST(command_keys, unknown_or_empty_commands_yield_nothing) {
    check_all({
        {{"NOSUCHCOMMAND", "a", "b"}, {}},
        {{"JSON.SET", "k", "$", "{}"}, {}},
        {{"A_COMMAND_NAME_LONGER_THAN_ANY_REAL_ONE", "k"}, {}},
        {{""}, {}},
        {{}, {}},
    });
}

TEST(command_keys, command_names_and_keywords_are_case_insensitive) {
    check_all({
        {{"get", "k"}, {1}},
        {{"GeT", "k"}, {1}},
        {{"mset", "a", "1", "b", "2"}, {1, 3}},
        {{"zUnIoNsToRe", "d", "2", "a", "b"}, {1, 3, 4}},
        {{"object", "encoding", "k"}, {2}},
        {{"xinfo", "Stream", "s"}, {2}},
        {{"xread", "count", "1", "streams", "a", "0"}, {4}},
        {{"sort", "k", "store", "d"}, {1, 3}},
        {{"georadius", "g", "0", "0", "1", "km", "store", "d"}, {1, 7}},
        {{"migrate", "h", "6379", "", "0", "100", "keys", "a"}, {7}},
        {{"evalsha_ro", "sha", "1", "k"}, {3}},
    });
}

TEST(command_keys, key_indices_appends_to_what_the_vector_holds) {
    idx_t out{42};
    args_t args{"DEL", "a", "b"};
    key_indices(args, out);
    EXPECT_EQ(out, (idx_t{42, 1, 2}));
}

TEST(command_keys, evalsha_keys_follow_numkeys) {
    check_all({
        {{"EVAL", "return 1", "2", "k1", "k2", "a1"}, {3, 4}},
        {{"EVALSHA", "abc", "1", "k1", "a1", "a2"}, {3}},
        {{"EVAL_RO", "return 1", "1", "k1"}, {3}},
        {{"EVALSHA_RO", "abc", "3", "k1", "k2", "k3"}, {3, 4, 5}},
        {{"FCALL", "fn", "2", "k1", "k2", "a1"}, {3, 4}},
        {{"FCALL_RO", "fn", "1", "k1", "a1"}, {3}},
        {{"EVAL", "return 1", "0", "a1", "a2"}, {}},
        {{"EVALSHA", "abc", "0"}, {}},
    });
}

TEST(command_keys, store_commands_with_numkeys_take_the_destination_and_the_sources) {
    check_all({
        {{"ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"}, {1, 3, 4}},
        {{"ZINTERSTORE", "d", "1", "a", "AGGREGATE", "MAX"}, {1, 3}},
        {{"ZDIFFSTORE", "d", "3", "a", "b", "c"}, {1, 3, 4, 5}},
    });
}

TEST(command_keys, numkeys_at_index_1_commands_take_the_keys_after_it) {
    check_all({
        {{"ZUNION", "2", "a", "b", "WITHSCORES"}, {2, 3}},
        {{"ZINTER", "1", "a"}, {2}},
        {{"ZDIFF", "2", "a", "b"}, {2, 3}},
        {{"ZINTERCARD", "2", "a", "b", "LIMIT", "5"}, {2, 3}},
        {{"SINTERCARD", "3", "a", "b", "c", "LIMIT", "1"}, {2, 3, 4}},
        {{"LMPOP", "2", "a", "b", "LEFT", "COUNT", "3"}, {2, 3}},
        {{"ZMPOP", "1", "z", "MIN"}, {2}},
    });
}

TEST(command_keys, blocking_mpop_takes_keys_after_timeout_and_numkeys) {
    check_all({
        {{"BLMPOP", "0", "2", "a", "b", "LEFT"}, {3, 4}},
        {{"BZMPOP", "1.5", "1", "z", "MAX", "COUNT", "2"}, {3}},
    });
}

TEST(command_keys, xread_keys_are_the_first_half_after_streams) {
    check_all({
        {{"XREAD", "STREAMS", "a", "$"}, {2}},
        {{"XREAD", "COUNT", "2", "BLOCK", "0", "STREAMS", "a", "b", "0", "0"}, {6, 7}},
        {{"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "NOACK", "STREAMS", "a", "b", ">", ">"},
         {8, 9}},
        // A group and a consumer named STREAMS are not the keyword.
        {{"XREADGROUP", "GROUP", "STREAMS", "STREAMS", "STREAMS", "s", ">"}, {5}},
        {{"XREAD", "BLOCK", "STREAMS", "STREAMS", "s", "0"}, {4}},
    });
}

TEST(command_keys, sort_prefixes_the_key_and_the_store_destination_but_not_patterns) {
    check_all({
        {{"SORT", "k"}, {1}},
        {{"SORT", "k", "BY", "w_*", "GET", "o_*", "GET", "#", "LIMIT", "0", "10", "ALPHA", "DESC",
          "STORE", "d"},
         {1, 14}},
        // A GET pattern spelled STORE is a pattern, not the option.
        {{"SORT", "k", "GET", "STORE", "STORE", "d"}, {1, 5}},
        {{"SORT", "k", "LIMIT", "STORE", "STORE"}, {1}},
        // The server uses the last STORE.
        {{"SORT", "k", "STORE", "d1", "STORE", "d2"}, {1, 5}},
        {{"SORT_RO", "k", "BY", "nosort", "GET", "x_*"}, {1}},
    });
}

TEST(command_keys, migrate_takes_argument_3_or_the_keys_after_keys) {
    check_all({
        {{"MIGRATE", "h", "6379", "k", "0", "5000"}, {3}},
        {{"MIGRATE", "h", "6379", "k", "0", "5000", "COPY", "REPLACE"}, {3}},
        {{"MIGRATE", "h", "6379", "", "0", "5000", "KEYS", "a", "b"}, {7, 8}},
        // A password spelled KEYS is the password.
        {{"MIGRATE", "h", "6379", "", "0", "5000", "COPY", "AUTH", "KEYS", "KEYS", "a"}, {10}},
        {{"MIGRATE", "h", "6379", "", "0", "5000", "AUTH2", "KEYS", "KEYS", "KEYS", "a", "b"},
         {10, 11}},
        {{"MIGRATE", "h", "6379", "", "0", "5000"}, {}},
    });
}

TEST(command_keys, georadius_store_and_storedist_destinations_are_keys) {
    check_all({
        {{"GEORADIUS", "g", "15", "37", "200", "km"}, {1}},
        {{"GEORADIUS", "g", "15", "37", "200", "km", "STORE", "d"}, {1, 7}},
        {{"GEORADIUS", "g", "15", "37", "200", "km", "WITHDIST", "COUNT", "5", "ANY", "ASC",
          "STOREDIST", "d"},
         {1, 12}},
        {{"GEORADIUSBYMEMBER", "g", "m", "100", "km", "STORE", "d"}, {1, 6}},
        {{"GEORADIUSBYMEMBER", "g", "m", "100", "km", "STOREDIST", "d"}, {1, 6}},
        // STORE then STOREDIST: the server writes the last one.
        {{"GEORADIUS", "g", "15", "37", "200", "km", "STORE", "d1", "STOREDIST", "d2"}, {1, 9}},
        {{"GEORADIUSBYMEMBER_RO", "g", "m", "100", "km"}, {1}},
    });
}

TEST(command_keys, malformed_arguments_yield_only_indices_that_exist) {
    check_all({
        {{"EVAL", "return 1", "5", "a", "b"}, {3, 4}},
        {{"EVAL", "return 1", "-1", "a"}, {}},
        {{"EVAL", "return 1", "abc", "a"}, {}},
        {{"EVAL", "return 1", "", "a"}, {}},
        {{"EVAL", "return 1", " 1", "a"}, {}},
        {{"EVAL", "return 1", "+1", "a"}, {}},
        {{"EVAL", "return 1", "99999999999999999999999999", "a"}, {3}},
        {{"EVAL", "return 1"}, {}},
        {{"EVAL"}, {}},
        {{"ZUNIONSTORE", "d"}, {1}},
        {{"ZUNIONSTORE", "d", "x", "a"}, {1}},
        {{"ZUNIONSTORE", "d", "3", "a"}, {1, 3}},
        {{"ZUNION", "9", "a"}, {2}},
        {{"LMPOP"}, {}},
        {{"BLMPOP", "0"}, {}},
        {{"XREAD", "STREAMS"}, {}},
        {{"XREAD", "COUNT", "1"}, {}},
        {{"XREAD", "STREAMS", "a", "b", "c"}, {2}},
        {{"XREADGROUP", "GROUP", "g"}, {}},
        {{"MIGRATE", "h", "6379"}, {}},
        {{"MIGRATE", "h", "6379", "", "0", "5000", "KEYS"}, {}},
        {{"RENAME", "a"}, {1}},
        {{"RENAME"}, {}},
        {{"GET"}, {}},
        {{"BLPOP"}, {}},
        {{"BLPOP", "a"}, {}},
        {{"MSET", "a"}, {1}},
        {{"MSET", "a", "1", "b"}, {1, 3}},
        {{"BITOP", "AND"}, {}},
        {{"OBJECT", "ENCODING"}, {}},
        {{"SORT"}, {}},
        {{"SORT", "k", "STORE"}, {1}},
        {{"GEORADIUS", "g", "15", "37", "200", "km", "STORE"}, {1}},
        {{"GEORADIUS"}, {}},
    });
}

TEST(command_keys, random_argument_lists_never_yield_out_of_range_or_unordered_indices) {
    std::vector<std::string> const names{
        "EVAL",       "EVALSHA",    "FCALL",   "ZUNIONSTORE", "ZDIFFSTORE", "ZUNION",
        "ZINTERCARD", "SINTERCARD", "LMPOP",   "BLMPOP",      "BZMPOP",     "XREAD",
        "XREADGROUP", "SORT",       "SORT_RO", "MIGRATE",     "GEORADIUS",  "GEORADIUSBYMEMBER",
        "OBJECT",     "MEMORY",     "XINFO",   "XGROUP",      "MSET",       "BLPOP",
        "BITOP",      "DEL",        "RENAME",  "LCS",         "GET",        "PING"};
    std::vector<std::string> const words{"STREAMS",
                                         "STORE",
                                         "STOREDIST",
                                         "KEYS",
                                         "AUTH",
                                         "AUTH2",
                                         "GROUP",
                                         "COUNT",
                                         "BLOCK",
                                         "LIMIT",
                                         "GET",
                                         "BY",
                                         "0",
                                         "1",
                                         "2",
                                         "3",
                                         "-1",
                                         "",
                                         "x",
                                         "USAGE",
                                         "ENCODING",
                                         "CREATE",
                                         "99999999999999999999999"};
    std::mt19937 rng(12345);
    for (int round = 0; round < 20000; ++round) {
        args_t args{names[rng() % names.size()]};
        std::size_t n = rng() % 10;
        for (std::size_t i = 0; i < n; ++i)
            args.push_back(words[rng() % words.size()]);
        idx_t got = keys_of(args);
        SCOPED_TRACE(join(args));
        for (std::size_t i = 0; i < got.size(); ++i) {
            ASSERT_GE(got[i], 1u);
            ASSERT_LT(got[i], args.size());
            if (i > 0) {
                ASSERT_LT(got[i - 1], got[i]);
            }
        }
    }
}

TEST(command_keys, prefix_is_applied_to_key_arguments_only) {
    EXPECT_EQ(prefixed({"SET", "k", "v"}, "p:"), "*3\r\n$3\r\nSET\r\n$3\r\np:k\r\n$1\r\nv\r\n");
    EXPECT_EQ(prefixed({"MSET", "a", "1", "b", "2"}, "mcp:"),
              "*5\r\n$4\r\nMSET\r\n$5\r\nmcp:a\r\n$1\r\n1\r\n$5\r\nmcp:b\r\n$1\r\n2\r\n");
    EXPECT_EQ(prefixed({"EVALSHA", "abc", "1", "k", "arg"}, "p:"),
              "*5\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n1\r\n$3\r\np:k\r\n$3\r\narg\r\n");
    EXPECT_EQ(prefixed({"ZUNIONSTORE", "d", "2", "a", "b"}, "x"),
              "*5\r\n$11\r\nZUNIONSTORE\r\n$2\r\nxd\r\n$1\r\n2\r\n$2\r\nxa\r\n$2\r\nxb\r\n");
    EXPECT_EQ(prefixed({"XREAD", "STREAMS", "s", "0"}, "p:"),
              "*4\r\n$5\r\nXREAD\r\n$7\r\nSTREAMS\r\n$3\r\np:s\r\n$1\r\n0\r\n");
}

TEST(command_keys, prefix_changes_the_length_header_of_the_key) {
    std::string const prefix(10, 'p');
    EXPECT_EQ(prefixed({"GET", "key"}, prefix), "*2\r\n$3\r\nGET\r\n$13\r\n" + prefix + "key\r\n");
}

TEST(command_keys, empty_prefix_encodes_the_command_unchanged) {
    EXPECT_EQ(prefixed({"GET", "k"}, ""), "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    EXPECT_EQ(prefixed({"SET", "k", ""}, ""), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
}

TEST(command_keys, commands_without_keys_are_encoded_without_prefix) {
    EXPECT_EQ(prefixed({"PING"}, "p:"), "*1\r\n$4\r\nPING\r\n");
    EXPECT_EQ(prefixed({"PUBLISH", "ch", "m"}, "p:"),
              "*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$1\r\nm\r\n");
    EXPECT_EQ(prefixed({"NOSUCHCOMMAND", "k"}, "p:"), "*2\r\n$13\r\nNOSUCHCOMMAND\r\n$1\r\nk\r\n");
    EXPECT_EQ(prefixed({}, "p:"), "*0\r\n");
}

TEST(command_keys, binary_arguments_are_counted_in_bytes) {
    args_t args{"SET", std::string("a\r\nb\0c", 6), "v"};
    static constexpr char expected[] = "*3\r\n$3\r\nSET\r\n$8\r\np:a\r\nb\0c\r\n$1\r\nv\r\n";
    EXPECT_EQ(prefixed(args, "p:"), std::string(expected, sizeof expected - 1));
}

TEST(command_keys, encoding_appends_to_the_output) {
    std::string out = "*1\r\n$4\r\nPING\r\n";
    args_t get{"GET", "k"};
    encode_command_prefixed(out, get, "p:");
    encode_command_prefixed(out, get, "");
    EXPECT_EQ(out, "*1\r\n$4\r\nPING\r\n"
                   "*2\r\n$3\r\nGET\r\n$3\r\np:k\r\n"
                   "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
}

TEST(command_keys, many_commands_appended_to_one_buffer_encode_each_in_turn) {
    std::string out;
    std::string expected;
    for (int i = 0; i < 1000; ++i) {
        std::string k = "key" + std::to_string(i);
        args_t args{"DEL", k};
        encode_command_prefixed(out, args, "p:");
        expected += "*2\r\n$3\r\nDEL\r\n$" + std::to_string(k.size() + 2) + "\r\np:" + k + "\r\n";
    }
    EXPECT_EQ(out, expected);
}

TEST(command_keys, escape_glob_escapes_every_metacharacter) {
    EXPECT_EQ(escape_glob("a*b?c[d]e\\f"), "a\\*b\\?c\\[d\\]e\\\\f");
    EXPECT_EQ(escape_glob("***"), "\\*\\*\\*");
    EXPECT_EQ(escape_glob("[^a-z]"), "\\[^a-z\\]");
}

TEST(command_keys, escape_glob_leaves_other_characters_alone) {
    EXPECT_EQ(escape_glob(""), "");
    EXPECT_EQ(escape_glob("mcp:session:{user-1}:"), "mcp:session:{user-1}:");
    EXPECT_EQ(escape_glob(std::string("a\0b", 3)), std::string("a\0b", 3));
}

} // namespace
