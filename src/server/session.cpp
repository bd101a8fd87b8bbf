// server/session.cpp — session records and the live-session table. See session.hpp.
#include "mcpd/server/session.hpp"
#include "server/outgoing_request.hpp"

#include "core/random.hpp"
#include "mcpd/protocol/jsonrpc.hpp"

#include <chrono>

namespace mcpd::server {

namespace json = boost::json;
namespace asio = boost::asio;

json::object to_json(session_state const& s) {
    json::array subs;
    for (auto const& u : s.subscriptions)
        subs.emplace_back(u);
    return json::object{{"id", s.id},
                        {"protocolVersion", s.protocol_version},
                        {"clientInfo", s.client_info},
                        {"clientCapabilities", s.client_capabilities},
                        {"logLevel", s.log_level},
                        {"subscriptions", std::move(subs)},
                        {"initialized", s.initialized},
                        {"createdAt", s.created_at_ms}};
}

result<session_state> session_state_from_json(json::object const& o) {
    session_state s;
    auto str = [&](char const* k, std::string& out) {
        if (auto const* v = o.if_contains(k); v != nullptr && v->is_string())
            out = v->get_string();
    };
    auto obj = [&](char const* k, json::object& out) {
        if (auto const* v = o.if_contains(k); v != nullptr && v->is_object())
            out = v->get_object();
    };
    str("id", s.id);
    str("protocolVersion", s.protocol_version);
    str("logLevel", s.log_level);
    obj("clientInfo", s.client_info);
    obj("clientCapabilities", s.client_capabilities);
    if (auto const* v = o.if_contains("subscriptions"); v != nullptr && v->is_array())
        for (auto const& u : v->get_array())
            if (u.is_string())
                s.subscriptions.emplace(u.get_string());
    if (auto const* v = o.if_contains("initialized"); v != nullptr && v->is_bool())
        s.initialized = v->get_bool();
    if (auto const* v = o.if_contains("createdAt"); v != nullptr && v->is_int64())
        s.created_at_ms = v->get_int64();
    if (s.id.empty() || s.protocol_version.empty())
        return error{make_error_code(boost::system::errc::invalid_argument),
                     "session record without id or protocolVersion"};
    return s;
}

asio::awaitable<result<void>> memory_session_records::save(session_state const& s) {
    records_[s.id] = to_json(s);
    co_return result<void>{};
}

asio::awaitable<result<std::optional<session_state>>> memory_session_records::load(std::string id) {
    auto it = records_.find(id);
    if (it == records_.end())
        co_return std::optional<session_state>{};
    auto s = session_state_from_json(it->second);
    if (!s)
        co_return s.error();
    co_return std::optional<session_state>{std::move(*s)};
}

asio::awaitable<result<void>> memory_session_records::remove(std::string id) {
    records_.erase(id);
    co_return result<void>{};
}

void session::fail_outgoing(std::string const& why) {
    for (auto& [id, req] : outgoing) {
        if (!req->reply) {
            req->reply = protocol::make_error(nullptr, protocol::code::connection_closed, why);
            req->done.notify();
        }
    }
}

session_manager::session_manager(std::shared_ptr<session_record_store> records,
                                 std::size_t max_sessions, duration refresh_after)
    : records_(std::move(records))
    , max_sessions_(max_sessions)
    , refresh_after_(refresh_after) {}

namespace {

// The one way create() and find() fail for lack of room: the HTTP transport answers 503 with it.
error sessions_full(std::size_t max_sessions) {
    return error{make_error_code(boost::system::errc::resource_unavailable_try_again),
                 "the server holds its limit of " + std::to_string(max_sessions) +
                     " sessions (max-sessions)"};
}

} // namespace

result<std::shared_ptr<session>> session_manager::create() {
    if (live_.size() >= max_sessions_)
        return sessions_full(max_sessions_);
    session_state st;
    st.id = random_hex(16);
    st.created_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    return make_live(std::move(st));
}

std::shared_ptr<session> session_manager::make_live(session_state st) {
    auto s = std::make_shared<session>(std::move(st));
    s->next_outgoing_id = outgoing_id_base_;
    live_.emplace(s->state.id, s);
    if (hooks_.live)
        hooks_.live(*s);
    return s;
}

// What ending and forgetting share: nothing of the session may run on or wait any more.
void session_manager::drop(session& s) {
    s.ended = true;
    s.fail_outgoing("session ended");
    for (auto& [rid, f] : s.in_flight) {
        f->cancelled = true;
        f->signal.emit(asio::cancellation_type::terminal);
    }
    s.unsolicited = {};
    s.elsewhere = {};
    if (hooks_.gone)
        hooks_.gone(s.state.id);
}

std::shared_ptr<session> session_manager::find_live(std::string const& id) {
    auto it = live_.find(id);
    if (it == live_.end())
        return nullptr;
    it->second->last_used = std::chrono::steady_clock::now();
    return it->second;
}

asio::awaitable<result<std::shared_ptr<session>>> session_manager::find(std::string const& id) {
    if (auto live = find_live(id))
        co_return live;
    auto rec = co_await records_->load(id);
    if (!rec)
        co_return rec.error();
    if (!*rec)
        co_return std::shared_ptr<session>{};
    if (live_.size() >= max_sessions_)
        co_return sessions_full(max_sessions_);
    // Another lookup may have restored it while we waited on the store.
    if (auto it = live_.find(id); it != live_.end())
        co_return it->second;
    co_return make_live(std::move(**rec));
}

asio::awaitable<result<void>> session_manager::save(session& s) {
    if (s.ephemeral)
        co_return result<void>{};
    s.last_saved = std::chrono::steady_clock::now();
    auto saved = co_await records_->save(s.state);
    if (saved && hooks_.saved)
        hooks_.saved(s);
    co_return saved;
}

asio::awaitable<result<void>> session_manager::reload(session& s) {
    auto rec = co_await records_->load(s.state.id);
    if (!rec)
        co_return rec.error();
    if (*rec && (*rec)->id == s.state.id)
        s.state = std::move(**rec);
    co_return result<void>{};
}

bool session_manager::refresh_due(session const& s) const {
    return !s.ephemeral && !s.ended && !s.state.protocol_version.empty() &&
           std::chrono::steady_clock::now() - s.last_saved >= refresh_after_;
}

std::vector<std::string>
session_manager::forget_idle(duration idle, std::function<bool(std::string const&)> const& held) {
    std::vector<std::string> out;
    auto cutoff = std::chrono::steady_clock::now() - idle;
    for (auto it = live_.begin(); it != live_.end();) {
        auto& s = *it->second;
        if (s.last_used < cutoff && s.in_flight.empty() && s.outgoing.empty() &&
            !(held && held(it->first))) {
            s.unsolicited = {};
            s.elsewhere = {};
            if (hooks_.gone)
                hooks_.gone(it->first);
            out.push_back(it->first);
            it = live_.erase(it);
        } else {
            ++it;
        }
    }
    return out;
}

asio::awaitable<result<void>> session_manager::end(std::string const& id) {
    forget(id);
    co_return co_await records_->remove(id);
}

void session_manager::forget(std::string const& id) {
    if (auto it = live_.find(id); it != live_.end()) {
        auto s = it->second;
        live_.erase(it);
        drop(*s);
    }
}

} // namespace mcpd::server
