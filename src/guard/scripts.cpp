// guard/scripts.cpp — the Lua bodies. See scripts.hpp for what each one takes and returns.
#include "guard/scripts.hpp"

namespace mcpd::guard::scripts {

redis::script const& compare_and_delete() {
    static redis::script const s(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
else
  return 0
end
)lua");
    return s;
}

redis::script const& compare_and_extend() {
    static redis::script const s(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  return 0
end
)lua");
    return s;
}

redis::script const& acquire_with_fence() {
    static redis::script const s(R"lua(
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local left = redis.call('PTTL', KEYS[1])
  if left < 1 then return -1 end
  return -left
end
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local fence = math.max(last + 1, now_us)
redis.call('SET', KEYS[2], string.format('%d', fence), 'PX', tonumber(ARGV[2]) + 86400000)
return fence
)lua");
    return s;
}

redis::script const& sliding_log() {
    static redis::script const s(R"lua(
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local window_start = now - window
-- Remove entries outside the current window
redis.call('ZREMRANGEBYSCORE', key, '-inf', window_start)
-- Count entries within the window
local count = redis.call('ZCARD', key)
if count >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  local retry = window
  if oldest[2] then retry = tonumber(oldest[2]) + window - now end
  return {0, count, math.max(1, math.ceil(retry))}
end
-- Add current request with the server's time as score
redis.call('ZADD', key, now, t[1] .. '.' .. t[2] .. ':' .. ARGV[4])
redis.call('EXPIRE', key, ttl)
return {1, count + 1, 0}
)lua");
    return s;
}

redis::script const& sliding_counter() {
    static redis::script const s(R"lua(
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local idx = math.floor(now / window)
local state = redis.call('HMGET', key, 'w', 'c', 'p')
local w = tonumber(state[1])
local c = tonumber(state[2]) or 0
local p = tonumber(state[3]) or 0
if w == nil then
  c = 0; p = 0
elseif w == idx - 1 then
  p = c; c = 0
elseif w ~= idx then
  c = 0; p = 0
end
local elapsed = now - idx * window
local estimate = p * (window - elapsed) / window + c
if estimate + 1 > limit then
  local retry
  if c + 1 > limit then
    retry = (window - elapsed) + math.max(0, window * (1 - (limit - 1) / c))
  else
    retry = window * (1 - (limit - 1 - c) / p) - elapsed
  end
  return {0, math.floor(estimate), math.max(1, math.ceil(retry))}
end
c = c + 1
redis.call('HSET', key, 'w', string.format('%d', idx), 'c', c, 'p', p)
redis.call('PEXPIRE', key, window * 2)
return {1, math.floor(estimate + 1), 0}
)lua");
    return s;
}

} // namespace mcpd::guard::scripts
