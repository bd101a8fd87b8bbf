// tests/integration/async_test.hpp — running a coroutine test body on an io_context.
//
// run_async(body) runs `body()` until it finishes, failing the test if it takes longer than the
// limit (a hang is a failure, never a stuck CI). GoogleTest's ASSERT_* use `return`, which a
// coroutine cannot: CO_ASSERT stops the body with co_return instead (our one test macro).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>

namespace mcpd::test {

void run_async(std::function<boost::asio::awaitable<void>()> body,
               std::chrono::seconds limit = std::chrono::seconds(60));

boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds d);

} // namespace mcpd::test

#define CO_ASSERT(condition)                                                                       \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            ADD_FAILURE() << "CO_ASSERT failed: " #condition;                                      \
            co_return;                                                                             \
        }                                                                                          \
    } while (false)
