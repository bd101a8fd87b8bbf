// server/stored_session_records.cpp — protocol sessions as session-store records. See header.
#include "mcpd/server/stored_session_records.hpp"

#include "mcpd/store/error.hpp"
#include "mcpd/store/session.hpp"

namespace mcpd::server {

namespace json = boost::json;
namespace asio = boost::asio;

stored_session_records::stored_session_records(std::shared_ptr<store::session_store> store,
                                               duration ttl)
    : store_(std::move(store))
    , ttl_(ttl) {}

asio::awaitable<result<void>> stored_session_records::save(session_state const& s) {
    json::object partial{{"mcpdProtocol", to_json(s)}};
    auto updated = co_await store_->update_session(std::string(protocol_sessions_identity), s.id,
                                                   partial, ttl_);
    if (updated || updated.error() != store::store_errc::session_not_found)
        co_return updated;
    // serverUrl, transportType and callbackUrl describe a gateway's connection; the
    // @mcp-ts/sdk PostgreSQL table (and so postgres_store) requires them, so a protocol session
    // has them too, empty but for its transport.
    json::object record{{"identity", protocol_sessions_identity},
                        {"sessionId", s.id},
                        {"createdAt", s.created_at_ms},
                        {"serverUrl", ""},
                        {"transportType", "streamable_http"},
                        {"callbackUrl", ""},
                        {"mcpdProtocol", to_json(s)}};
    auto created = co_await store_->create_session(std::move(record), ttl_);
    if (!created && created.error() == store::store_errc::session_exists) {
        // Created by a concurrent save in between: update it instead.
        co_return co_await store_->update_session(std::string(protocol_sessions_identity), s.id,
                                                  std::move(partial), ttl_);
    }
    co_return created;
}

asio::awaitable<result<std::optional<session_state>>> stored_session_records::load(std::string id) {
    // Ids from the network that the store would refuse (':' or control characters, too long)
    // cannot name a session we created: unknown, not an error.
    if (!store::validate_session_id(id))
        co_return std::optional<session_state>{};
    auto got = co_await store_->get_session(std::string(protocol_sessions_identity), id);
    if (!got)
        co_return got.error();
    if (!*got)
        co_return std::optional<session_state>{};
    auto const* state = (*got)->if_contains("mcpdProtocol");
    if (state == nullptr || !state->is_object())
        co_return error{make_error_code(store::store_errc::corrupt_record),
                        "protocol session " + id + " has no mcpdProtocol state"};
    auto parsed = session_state_from_json(state->get_object());
    if (!parsed)
        co_return parsed.error();
    co_return std::optional<session_state>{std::move(*parsed)};
}

asio::awaitable<result<void>> stored_session_records::remove(std::string id) {
    if (!store::validate_session_id(id))
        co_return result<void>{};
    co_return co_await store_->remove_session(std::string(protocol_sessions_identity), id);
}

} // namespace mcpd::server
