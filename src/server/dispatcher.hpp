// server/dispatcher.hpp — MCP methods: what each request, notification and response does to a
// session and which handler it reaches. Transport-free: a transport decodes messages, finds or
// creates the session, and hands them here with a sink for the messages a request sends
// before its response (progress, logs, requests to the client).
//
// User handlers run as their own coroutines bound to a cancellation signal, so
// notifications/cancelled stops their awaited operations; a cancelled request gets no
// response, as the spec asks.
#pragma once

#include "protocol/jsonrpc.hpp"
#include "server/server.hpp"
#include "server/session.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <optional>

namespace mcpd::server {

class dispatcher {
public:
    dispatcher(server& srv, session_manager& sessions, boost::asio::any_io_executor ex);
    ~dispatcher();
    dispatcher(dispatcher const&) = delete;
    dispatcher& operator=(dispatcher const&) = delete;

    // The response (a result or an error), or nullopt when the client cancelled the request.
    boost::asio::awaitable<std::optional<boost::json::object>>
    handle_request(std::shared_ptr<session> s, protocol::request req, message_sink related);
    boost::asio::awaitable<void> handle_notification(std::shared_ptr<session> s,
                                                     protocol::notification n);
    // A reply from the client to one of our requests (a response or an error response).
    void handle_response(session& s, boost::json::value const& id, boost::json::object message);
    // Any message but a request: notifications (ignored for stateless sessions) and replies go
    // to the two functions above; an invalid message gives back the error to send its sender.
    boost::asio::awaitable<std::optional<boost::json::object>>
    handle_non_request(std::shared_ptr<session> s, protocol::message m);

    // The stateless (2026-07-28) revision: a request that names its revision in
    // `_meta` is served by an ephemeral session built from that `_meta`. Returns nullptr when
    // the request is not a stateless one.
    static std::shared_ptr<session> stateless_session(protocol::request const& req);

    [[nodiscard]] server& owner() noexcept { return srv_; }
    [[nodiscard]] session_manager& sessions() noexcept { return sessions_; }

private:
    struct methods;

    server& srv_;
    session_manager& sessions_;
    boost::asio::any_io_executor ex_;
};

} // namespace mcpd::server
