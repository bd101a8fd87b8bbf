// redis/ — mcpd's async Redis client (layer 1; includes only core/).
//
// What it is for: the shared state of a fleet (guards, session storage, pub/sub fan-out) goes
// through one multiplexed connection per client, with automatic pipelining, reconnects and
// typed errors. It parses untrusted input (the server's bytes): resp.hpp's parser is fuzzed.
//
// Shape (following Boost.Redis): protocol logic is sans-I/O and unit-tested without sockets:
//   resp.hpp          RESP2/RESP3 values, incremental parser, command encoding
//   multiplexer.hpp   request queue, coalesced writes, reply routing, loss/timeout policy
//   handshake.hpp     HELLO 3 / RESP2 fallback, AUTH, SELECT, CLIENT SETNAME
//   command_keys.hpp  which arguments are keys (for the key prefix)
// and connection.hpp/.cpp is the thin Asio glue around them. The public faces:
//   client.hpp        commands, pipelines, scripts (EVALSHA → EVAL), SCAN, quit/disconnect
//   subscriber.hpp    pub/sub on its own connection, resubscribed after reconnects
//   config.hpp        URL/env configuration, timeouts, retry strategy, offline queue
//
// Extending: a command whose keys the table does not know is sent unprefixed; add it to
// command_keys.cpp with a test. A new connection behaviour belongs in the multiplexer or
// handshake (with a unit test feeding it events), and the glue only performs the I/O.
#pragma once

#include "redis/client.hpp"
#include "redis/command.hpp"
#include "redis/command_keys.hpp"
#include "redis/config.hpp"
#include "redis/error.hpp"
#include "redis/event.hpp"
#include "redis/resp.hpp"
#include "redis/script.hpp"
#include "redis/subscriber.hpp"
