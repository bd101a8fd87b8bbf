// guard/texts.hpp — what a model reads when a guard stops a tool call.
//
// These are the `isError: true` texts of guarded tools (and the messages of the exceptions the
// handler-level API throws). Models act on them, so they say what happened and when to retry;
// the rate-limit and lock-busy wordings are the ones the Redis guide's Node server returns.
#pragma once

#include "mcpd/core/duration.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace mcpd::guard {

// A lock held by another caller (fail-fast policy, or the wait ran out).
inline constexpr std::string_view lock_busy_text = "Operation in progress — try again in a moment";
// The lock service could not be reached and the policy is to refuse.
inline constexpr std::string_view lock_unavailable_text =
    "Operation refused: the lock service is unavailable — try again in a moment";

// A window in words, as it follows "per": 1min → "minute", 30s → "30 seconds", 2h → "2 hours",
// 1500ms → "1500 milliseconds".
std::string window_in_words(duration window);
// A wait in words, rounded up to a whole second (at least 1): 12.2s → "13 seconds",
// 0.4s → "1 second".
std::string wait_in_words(duration wait);

// "Rate limit exceeded: max 30 search calls per minute. Try again in 12 seconds."
std::string rate_limit_exceeded_text(std::int64_t max, std::string_view tool, duration window,
                                     duration retry_after);
// The rate limiter could not be reached and the policy is to fail closed.
std::string rate_limit_unavailable_text(std::string_view tool);

} // namespace mcpd::guard
