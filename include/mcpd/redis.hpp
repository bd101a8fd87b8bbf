// mcpd/redis.hpp — public entry point for mcpd's async Redis client (see src/redis/redis.hpp).
#pragma once

#include "redis/redis.hpp"
