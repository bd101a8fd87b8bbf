// mcpd/redis.hpp — mcpd's async Redis client (the redis layer; it uses only core/).
//
// What it is for: the shared state of a fleet (guards, session storage, pub/sub fan-out) goes
// through one multiplexed connection per client, with automatic pipelining, reconnects and
// typed errors. It parses untrusted input (the server's bytes): resp.hpp's parser is fuzzed.
//
// The public faces (mcpd/redis/):
//   client.hpp        commands, pipelines, scripts (EVALSHA → EVAL), SCAN, quit/disconnect
//   subscriber.hpp    pub/sub on its own connection, resubscribed after reconnects
//   config.hpp        URL/env configuration, timeouts, retry strategy, offline queue
//   resp.hpp          RESP2/RESP3 values, incremental parser, command encoding
//   command_keys.hpp  which arguments are keys (for the key prefix)
//   error.hpp, event.hpp, command.hpp, script.hpp
// Inside (src/redis/, following Boost.Redis), protocol logic is sans-I/O and unit-tested
// without sockets: multiplexer.hpp (request queue, coalesced writes, reply routing, loss and
// timeout policy), handshake.hpp (HELLO 3 / RESP2 fallback, AUTH, SELECT, CLIENT SETNAME), and
// connection.hpp/.cpp is the thin Asio glue around them.
//
// Extending: a command whose keys the table does not know is sent unprefixed; add it to
// command_keys.cpp with a test. A new connection behaviour belongs in the multiplexer or
// handshake (with a unit test feeding it events), and the glue only performs the I/O.
#pragma once

#include "mcpd/redis/client.hpp"
#include "mcpd/redis/command.hpp"
#include "mcpd/redis/command_keys.hpp"
#include "mcpd/redis/config.hpp"
#include "mcpd/redis/error.hpp"
#include "mcpd/redis/event.hpp"
#include "mcpd/redis/resp.hpp"
#include "mcpd/redis/script.hpp"
#include "mcpd/redis/subscriber.hpp"
