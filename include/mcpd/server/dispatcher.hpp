// server/dispatcher.hpp — MCP methods: what each request, notification and response does to a
// session and which handler it reaches. Transport-free: a transport decodes messages, finds or
// creates the session, and hands them here with a sink for the messages a request sends
// before its response (progress, logs, requests to the client).
//
// User handlers run as their own coroutines bound to a cancellation signal, so
// notifications/cancelled stops their awaited operations; a cancelled request gets no
// response, as the spec asks.
//
// Each request carries an id for the logs (the HTTP request's, so that the HTTP line, the MCP
// method and the tool call share it); with set_metrics() requests and tool calls are counted
// and timed (dispatch_metrics.hpp).
#pragma once

#include "mcpd/core/metrics.hpp"
#include "mcpd/protocol/jsonrpc.hpp"
#include "mcpd/server/server.hpp"
#include "mcpd/server/session.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>

namespace mcpd::server {

class dispatch_metrics;
class fleet;

class dispatcher {
public:
    dispatcher(server& srv, session_manager& sessions, boost::asio::any_io_executor ex);
    ~dispatcher();
    dispatcher(dispatcher const&) = delete;
    dispatcher& operator=(dispatcher const&) = delete;

    // The response (a result or an error), or nullopt when the client cancelled the request.
    // `request_id` names it in the logs (empty: a new one).
    //
    // `flight`, when given, is the request's cancellation, and the caller runs this call as a
    // coroutine of its own (co_spawn) whose cancellation slot it bound to flight->signal: a
    // user handler then runs in that coroutine. Without it, a handler gets a coroutine of its
    // own to be cancellable in (a co_spawn more per request).
    boost::asio::awaitable<std::optional<boost::json::object>>
    handle_request(std::shared_ptr<session> s, protocol::request req, message_sink related,
                   std::string request_id = {}, std::shared_ptr<in_flight_request> flight = {});
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

    // Ends every subscriptions/listen request with its result, and answers later ones at once
    // (graceful shutdown: listens would otherwise hold the drain until its timeout).
    void end_listens();
    [[nodiscard]] std::size_t listens() const noexcept { return listeners_.size(); }

    // Counts and times requests and tool calls in `reg` (which must outlive the dispatcher).
    void set_metrics(metrics::registry& reg);

    // In a fleet (fleet.hpp): a reply or a cancellation for a request that is not here goes
    // to the other instances, and so do list changes and resource updates.
    void set_fleet(std::shared_ptr<fleet> f) { fleet_ = std::move(f); }
    // A message from another instance about `session` (empty: about every session): whether
    // it was one of the dispatcher's (a reply, a cancellation, a saved state, a change).
    bool from_fleet(std::string const& session, boost::json::object const& msg);
    // In a fleet: the session's state as stored (before a change to it, or when a GET stream
    // opens here: messages about it may overtake each other on a Redis Cluster).
    boost::asio::awaitable<void> fresh_state(session& s);

    [[nodiscard]] server& owner() noexcept { return srv_; }
    [[nodiscard]] session_manager& sessions() noexcept { return sessions_; }

private:
    struct methods;
    boost::asio::awaitable<std::optional<boost::json::object>>
    serve(std::shared_ptr<session> s, protocol::request req, message_sink related,
          std::shared_ptr<in_flight_request> bound);

    // An open subscriptions/listen request (2026-07-28; dispatcher.cpp).
    struct listener;

    // A budget refused something: counted on /metrics (mcpd_limit_hits_total{limit}).
    void limit_hit(std::string_view limit);
    // To this process's streams and listens: a list change, a resource update.
    void list_changed_here(std::string_view method);
    void resource_updated_here(std::string_view uri);
    // A reply to one of our requests, or a cancellation, for a request of this process: false
    // when it is not here.
    bool reply_here(session& s, boost::json::value const& id, boost::json::object& message);

    bool cancel_here(session& s, boost::json::value const& id);

    server& srv_;
    session_manager& sessions_;
    boost::asio::any_io_executor ex_;
    std::list<std::shared_ptr<listener>> listeners_;
    bool listens_ended_ = false;
    std::unique_ptr<dispatch_metrics> metrics_;
    std::shared_ptr<fleet> fleet_;
};

} // namespace mcpd::server
