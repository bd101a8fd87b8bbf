// redis/command_keys.hpp — which arguments of a command are keys, so a key prefix can be
// applied to keys only (never to values, patterns of other kinds, or script bodies).
//
// Covers the commands of Redis 7: the fixed (first, last, step) positions of the command table,
// and the commands whose keys depend on other arguments (EVAL/EVALSHA/FCALL numkeys, XREAD and
// XREADGROUP STREAMS, ZUNIONSTORE/ZINTER… numkeys, LMPOP/ZMPOP/BLMPOP/BZMPOP, SORT STORE,
// MIGRATE KEYS, GEORADIUS STORE, OBJECT/MEMORY USAGE/XINFO subcommands, …). A command it does
// not know has no keys: sending it unprefixed is the safe failure (it is logged once at debug).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::redis {

// Appends to `out` the indices into `args` (args[0] is the command name, any case) of the
// arguments that are keys, in increasing order. Malformed argument lists (a numkeys larger than
// what follows) yield only the indices that exist.
void key_indices(std::span<std::string const> args, std::vector<std::size_t>& out);

// Appends the RESP encoding of `args` to `out`, with `prefix` prepended to each key argument.
void encode_command_prefixed(std::string& out, std::span<std::string const> args,
                             std::string_view prefix);

// Escapes the glob metacharacters * ? [ ] \ so `s` matches itself literally in a MATCH or KEYS
// pattern (and in PSUBSCRIBE).
std::string escape_glob(std::string_view s);

} // namespace mcpd::redis
