// tests/integration/mcp_client_util.hpp — what the MCP client's tests against mcpd
// (mcp_client_test.cpp) and against the TypeScript SDK server (mcp_client_ts_test.cpp) share.
#pragma once

#include "async_test.hpp"

#include "mcpd/client/session.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <string>

namespace mcpd::test {

// Quick reconnections and timeouts that still leave a loaded machine plenty of room.
inline client::session_options client_test_options(std::string name) {
    using namespace std::chrono_literals;
    client::session_options o;
    o.client_info.name = std::move(name);
    o.request_timeout = 30s;
    o.reconnect.initial_delay = 50ms;
    o.reconnect.max_delay = 500ms;
    return o;
}

// The text of a CallToolResult's first content item.
inline std::string text_of(boost::json::object const& result) {
    auto const* content = result.if_contains("content");
    if (content == nullptr || !content->is_array() || content->get_array().empty())
        return "<no content>";
    auto const& first = content->get_array()[0];
    auto const* text = first.is_object() ? first.get_object().if_contains("text") : nullptr;
    return text != nullptr && text->is_string() ? std::string(text->get_string()) : "<not text>";
}

// Polls `done` every 20 ms for up to `limit` (a condition that never comes fails the test
// instead of hanging it).
template <class Done>
boost::asio::awaitable<bool>
eventually(Done done, std::chrono::milliseconds limit = std::chrono::seconds(15)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline)
            co_return false;
        co_await sleep_for(std::chrono::milliseconds(20));
    }
    co_return true;
}

} // namespace mcpd::test
