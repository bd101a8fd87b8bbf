// guard/ — tool guards (DESIGN.md layer between store/ and server/; includes redis/ and core/).
//
// The three Redis patterns every production MCP server rebuilds by hand, done once:
//   cache.hpp       cache-aside: single-flight, cross-process fill lock, XFetch, LRU backend
//   rate_limit.hpp  per-session sliding-window limits: sorted-set log and sliding counter
//   lock.hpp        locks: SET NX PX + CSPRNG token, compare-and-delete, fencing, extension
//   guards.hpp      what a tool declares (tool_guards), the backends and policies (guard_set)
//   keys.hpp        key layout (REDIS_KEY_PREFIX, {hash tags}), canonical JSON of arguments
//   texts.hpp       what a model reads when a guard refuses a call
//   metrics.hpp     counters, and outages logged once
//   scripts.hpp     the Lua scripts (each atomic, on the Redis server's clock)
// Each guard has an in-process backend and a Redis one with the same semantics; failure
// policies live above the backends (guard_set, response_cache, lock_service).
#pragma once

#include "guard/cache.hpp"
#include "guard/guards.hpp"
#include "guard/keys.hpp"
#include "guard/lock.hpp"
#include "guard/metrics.hpp"
#include "guard/rate_limit.hpp"
#include "guard/texts.hpp"
