// server/stored_session_records.hpp — protocol sessions kept in the storage layer (SQLite,
// Redis, …), so that a restarted mcpd, or another instance on the same Redis, continues a
// client's session instead of answering 404.
//
// Each MCP session is one record of the session store under the reserved identity
// "mcpd:protocol-sessions" (records of other identities are never touched), its state in the
// record's "mcpdProtocol" field. A record lives for `ttl` after its last save; the dispatcher
// saves on every state change and refreshes idle-but-used sessions (session_manager::touch).
#pragma once

#include "mcpd/server/session.hpp"
#include "mcpd/store/session.hpp"
#include "mcpd/store/session_store.hpp"

#include <memory>

namespace mcpd::server {

inline constexpr std::string_view protocol_sessions_identity = "mcpd:protocol-sessions";
static_assert(store::is_reserved_identity(protocol_sessions_identity));

class stored_session_records final : public session_record_store {
public:
    stored_session_records(std::shared_ptr<store::session_store> store, duration ttl);

    boost::asio::awaitable<result<void>> save(session_state const& s) override;
    boost::asio::awaitable<result<std::optional<session_state>>> load(std::string id) override;
    boost::asio::awaitable<result<void>> remove(std::string id) override;

private:
    std::shared_ptr<store::session_store> store_;
    duration ttl_;
};

} // namespace mcpd::server
