// mcpd/guard.hpp — public entry point for tool guards: cache-aside, per-session rate limits and
// distributed locks, in process or in Redis (see src/guard/guard.hpp and docs/guards.md).
#pragma once

#include "guard/guard.hpp"
