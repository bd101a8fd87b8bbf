// server/session.hpp — MCP protocol sessions: the persisted record and the live object.
//
// A session's state that must outlive a connection (or a process) is a `session_state` record
// kept in a session_record_store: the negotiated revision, the client's info and capabilities,
// its log level and resource subscriptions. The live `session` adds what only this process can
// hold: where to send messages that belong to no request (the GET stream, the legacy SSE
// stream, stdout), the server→client requests awaiting a reply, and the client requests in
// flight (for notifications/cancelled). A request for a session this process has not seen is
// looked up in the record store, so a restarted instance (or another one, with a shared store)
// takes it over.
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace mcpd::server {

struct session_state {
    std::string id;
    std::string protocol_version;
    boost::json::object client_info;
    boost::json::object client_capabilities;
    std::string log_level; // empty: the client has not set one; every level is sent
    std::set<std::string> subscriptions;
    bool initialized = false;
    std::int64_t created_at_ms = 0;
};

boost::json::object to_json(session_state const& s);
result<session_state> session_state_from_json(boost::json::object const& o);

// Where session records live. Memory now; a shared store lets another instance continue a
// session.
class session_record_store {
public:
    virtual ~session_record_store() = default;
    virtual boost::asio::awaitable<result<void>> save(session_state const& s) = 0;
    virtual boost::asio::awaitable<result<std::optional<session_state>>> load(std::string id) = 0;
    virtual boost::asio::awaitable<result<void>> remove(std::string id) = 0;
};

class memory_session_records final : public session_record_store {
public:
    boost::asio::awaitable<result<void>> save(session_state const& s) override;
    boost::asio::awaitable<result<std::optional<session_state>>> load(std::string id) override;
    boost::asio::awaitable<result<void>> remove(std::string id) override;

private:
    std::unordered_map<std::string, boost::json::object> records_;
};

// The channel toward the client of one request (or of a session's unsolicited messages).
// Calling it sends one JSON-RPC message; false when the channel is gone or full. Where the
// transport offers it, end_stream() ends the HTTP response that carries the channel now while
// the request goes on (SEP-1699 polling): the client comes back with Last-Event-ID and gets
// the rest, the answer included. False when there is no such response or it cannot be resumed.
struct message_sink {
    std::function<bool(boost::json::object const&)> send;
    std::function<bool()> end_stream;

    message_sink() = default;
    template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, message_sink> &&
             std::is_invocable_r_v<bool, F&, boost::json::object const&>)
        message_sink(F f) // NOLINT(google-explicit-constructor): a sink is written as a lambda
        : send(std::move(f)) {}

    bool operator()(boost::json::object const& msg) const { return send && send(msg); }
    explicit operator bool() const noexcept { return static_cast<bool>(send); }
};

// A client request being served: how to stop it.
struct in_flight_request {
    boost::asio::cancellation_signal signal;
    bool cancelled = false;
};

// A request we sent to the client, waiting for its response (server/outgoing_request.hpp).
struct outgoing_request;

class session : public std::enable_shared_from_this<session> {
public:
    explicit session(session_state st)
        : state(std::move(st)) {}

    session_state state;
    bool ephemeral = false; // a stateless (2026-07-28) request's session: never stored
    // Ephemeral sessions: who sent the request (the HTTP peer's address), so that rate limits
    // count per client rather than across every stateless caller. Empty: unknown (stdio).
    std::string client;
    bool ended = false;
    std::chrono::steady_clock::time_point last_saved{}; // for session_manager::touch
    std::chrono::steady_clock::time_point last_used = std::chrono::steady_clock::now();

    // Messages that belong to no request: to this process's GET stream of the session, else
    // (in a fleet) to the instance that holds it. Neither set: nowhere (they are dropped).
    message_sink unsolicited;
    message_sink elsewhere;

    std::map<std::string, std::shared_ptr<in_flight_request>> in_flight; // by id's JSON text
    std::map<std::string, std::shared_ptr<outgoing_request>> outgoing;   // by id's JSON text
    std::int64_t next_outgoing_id = 1;

    bool send_unsolicited(boost::json::object const& msg) {
        if (unsolicited)
            return unsolicited(msg);
        return elsewhere && elsewhere(msg);
    }
    // To this process's GET stream only: a message every instance sends its own streams (a
    // list change, a resource update) must not also travel to the others.
    bool send_local(boost::json::object const& msg) { return unsolicited && unsolicited(msg); }
    // Wakes every handler waiting on a reply from the client, with an error.
    void fail_outgoing(std::string const& why);
};

// The live sessions of this process, backed by a record store.
class session_manager {
public:
    // `refresh_after`: a used session's record is saved again (restarting its time to live in
    // the store) when its last save is older than this.
    session_manager(std::shared_ptr<session_record_store> records, std::size_t max_sessions,
                    duration refresh_after = std::chrono::hours(1));

    // A new session with a fresh CSPRNG id (not yet saved: save after initialize succeeds).
    result<std::shared_ptr<session>> create();
    // The live session, or one restored from the record store; nullptr when unknown.
    boost::asio::awaitable<result<std::shared_ptr<session>>> find(std::string const& id);
    // The session when it is live here, else nullptr (then find() asks the store). No
    // coroutine: every request after a session's first is served from here.
    std::shared_ptr<session> find_live(std::string const& id);
    // The same without counting as a use (messages from other instances do not keep a session).
    std::shared_ptr<session> peek_live(std::string const& id) const {
        auto it = live_.find(id);
        return it == live_.end() ? nullptr : it->second;
    }
    boost::asio::awaitable<result<void>> save(session& s);
    // Takes the stored record's state for a live session (another instance may have changed
    // it); the session is kept as it is when the record is gone.
    boost::asio::awaitable<result<void>> reload(session& s);
    // Whether a used session's record is due for a refresh (see the constructor): then save it.
    [[nodiscard]] bool refresh_due(session const& s) const;
    // Ends a session: forgets it here and in the store.
    boost::asio::awaitable<result<void>> end(std::string const& id);
    // Ends a session here only (another instance of the fleet ended it in the store).
    void forget(std::string const& id);

    // What a fleet (fleet.hpp) must know: a session became live here or was dropped, and a
    // session's record was saved (other instances holding it refresh their copy).
    struct hooks {
        std::function<void(session&)> live;
        std::function<void(std::string const&)> gone;
        std::function<void(session const&)> saved;
    };
    void set_hooks(hooks h) { hooks_ = std::move(h); }
    // Ids of requests to clients start here (in a fleet, unique to the instance, so that a
    // reply posted to another instance finds the handler that waits for it).
    void set_outgoing_id_base(std::int64_t base) { outgoing_id_base_ = base; }

    // Forgets (here, not in the record store) sessions unused for `idle` with nothing in
    // flight and not `held` (e.g. an open stream): a client that returns is restored from the
    // store. Bounds memory when clients leave without DELETE. Returns the ids forgotten.
    std::vector<std::string> forget_idle(duration idle,
                                         std::function<bool(std::string const&)> const& held);

    [[nodiscard]] std::size_t live_count() const noexcept { return live_.size(); }
    // Every live session (for list_changed and resources/updated fan-out).
    template <class F>
    void for_each(F&& f) {
        for (auto& [id, s] : live_)
            f(*s);
    }

private:
    std::shared_ptr<session_record_store> records_;
    std::size_t max_sessions_;
    duration refresh_after_;
    std::unordered_map<std::string, std::shared_ptr<session>> live_;
    hooks hooks_;
    std::int64_t outgoing_id_base_ = 1;

    std::shared_ptr<session> make_live(session_state st);
    void drop(session& s);
};

} // namespace mcpd::server
