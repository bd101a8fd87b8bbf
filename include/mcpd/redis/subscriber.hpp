// redis/subscriber.hpp — pub/sub on a connection of its own, resubscribed after a reconnect.
//
// A subscribed connection cannot carry ordinary commands (in RESP2), and a slow consumer must not
// delay them, so pub/sub never shares the client's connection. The subscriber remembers its
// channels and patterns and sends SUBSCRIBE/PSUBSCRIBE for all of them first thing after every
// (re)connect. Messages published while it was disconnected are lost: that is Redis pub/sub.
#pragma once

#include "mcpd/core/error.hpp"
#include "mcpd/redis/config.hpp"
#include "mcpd/redis/event.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mcpd::redis {

struct message {
    std::string pattern; // the matching pattern, for a PSUBSCRIBE match; empty otherwise
    std::string channel;
    std::string payload;
};

namespace detail {
class subscriber_state;
}

class subscriber {
public:
    // Messages received and not yet taken by receive() beyond this count drop the oldest one
    // (counted in dropped()); Redis itself would disconnect a consumer that far behind.
    static constexpr std::size_t max_buffered = 100'000;

    subscriber(boost::asio::any_io_executor const& ex, config cfg);
    ~subscriber();
    subscriber(subscriber&&) noexcept;
    subscriber& operator=(subscriber&&) noexcept;

    void on_event(std::function<void(event const&)> handler); // before the first subscribe

    // Each completes once the command is written (the confirmation arrives as a push).
    boost::asio::awaitable<result<void>> subscribe(std::vector<std::string> channels);
    boost::asio::awaitable<result<void>> psubscribe(std::vector<std::string> patterns);
    boost::asio::awaitable<result<void>> unsubscribe(std::vector<std::string> channels);
    boost::asio::awaitable<result<void>> punsubscribe(std::vector<std::string> patterns);

    // The next message, waiting for one. Fails with client_errc::disconnected once closed.
    boost::asio::awaitable<result<message>> receive();

    boost::asio::awaitable<result<void>> quit();
    void disconnect();

    [[nodiscard]] connection_state state() const noexcept;
    [[nodiscard]] std::uint64_t dropped() const noexcept;

private:
    std::shared_ptr<detail::subscriber_state> state_;
};

} // namespace mcpd::redis
