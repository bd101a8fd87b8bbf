// tests/integration/async_test.cpp — the bounded coroutine runner.
#include "async_test.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace mcpd::test {

namespace asio = boost::asio;

void run_async(std::function<asio::awaitable<void>()> body, std::chrono::seconds limit) {
    asio::io_context io;
    bool done = false;
    std::exception_ptr failure;
    asio::co_spawn(io, body(), [&](std::exception_ptr e) {
        done = true;
        failure = e;
    });
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < deadline)
        io.run_one_for(std::chrono::milliseconds(50));
    if (!done) {
        ADD_FAILURE() << "test body did not finish within " << limit.count() << " s";
        return;
    }
    // Let clients destroyed by the body finish their disconnect before the context goes.
    io.run_for(std::chrono::milliseconds(20));
    if (failure)
        std::rethrow_exception(failure);
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

} // namespace mcpd::test
