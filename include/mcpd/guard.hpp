// mcpd/guard.hpp — tool guards (the guard layer, between store/ and server/; it uses redis/
// and core/).
//
// The three Redis patterns every production MCP server rebuilds by hand, done once:
//   cache.hpp       cache-aside: single-flight, cross-process fill lock, XFetch, LRU backend
//   rate_limit.hpp  per-session sliding-window limits: sorted-set log and sliding counter
//   lock.hpp        locks: SET NX PX + CSPRNG token, compare-and-delete, fencing, extension
//   guards.hpp      what a tool declares (tool_guards), the backends and policies (guard_set)
//   keys.hpp        key layout (REDIS_KEY_PREFIX, {hash tags}), canonical JSON of arguments
//   texts.hpp       what a model reads when a guard refuses a call
//   metrics.hpp     counters, and outages logged once
//   (src/guard/scripts.hpp: the Lua scripts, each atomic, on the Redis server's clock)
// Each guard has an in-process backend and a Redis one with the same semantics; failure
// policies live above the backends (guard_set, response_cache, lock_service).
#pragma once

#include "mcpd/guard/cache.hpp"
#include "mcpd/guard/error.hpp"
#include "mcpd/guard/guards.hpp"
#include "mcpd/guard/keys.hpp"
#include "mcpd/guard/lock.hpp"
#include "mcpd/guard/metrics.hpp"
#include "mcpd/guard/rate_limit.hpp"
#include "mcpd/guard/texts.hpp"
