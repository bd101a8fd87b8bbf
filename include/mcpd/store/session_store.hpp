// store/session_store.hpp — the interface every session storage backend implements.
//
// Semantics are @mcp-ts/sdk's, made strict: every operation is a coroutine whose result is the
// answer or an error; a backend failure is an error, never "not found" or an empty list.
// Identities and session ids are validated before any backend sees them.
//
// Adding a backend: implement this class in store/<name>_store.{hpp,cpp}, add it to the
// behavioural suite in tests/integration/store_test.cpp (which every backend must pass), and
// to the selection from the environment.
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"
#include "mcpd/store/session_record.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <vector>

namespace mcpd::store {

class session_store {
public:
    virtual ~session_store() = default;

    // "memory", "redis", … for logs and health output.
    [[nodiscard]] virtual std::string_view backend_name() const noexcept = 0;

    // Stores a new record (validated; identity and sessionId taken from it) that expires after
    // `ttl` (default_session_ttl when not given). Fails with session_exists rather than
    // overwrite.
    virtual boost::asio::awaitable<result<void>>
    create_session(boost::json::object record, std::optional<duration> ttl = {}) = 0;

    // Atomic shallow merge (see merge_into); fails with session_not_found when there is no live
    // record. Without a ttl the record keeps its remaining time to live; with one it restarts.
    virtual boost::asio::awaitable<result<void>>
    update_session(std::string identity, std::string session_id, boost::json::object partial,
                   std::optional<duration> ttl = {}) = 0;

    // The live record, or nullopt when there is none.
    virtual boost::asio::awaitable<result<std::optional<boost::json::object>>>
    get_session(std::string identity, std::string session_id) = 0;

    // Every live record of an identity, and just their ids (any order). The records are
    // session_records: their top-level fields read, the whole record on demand (see
    // session_record.hpp). The ids default to those of get_identity_sessions_data(); a backend
    // that can list ids more cheaply (without reading the records) overrides it.
    virtual boost::asio::awaitable<result<std::vector<session_record>>>
    get_identity_sessions_data(std::string identity) = 0;
    virtual boost::asio::awaitable<result<std::vector<std::string>>>
    get_identity_session_ids(std::string identity);

    // Removes the record; removing one that does not exist succeeds.
    virtual boost::asio::awaitable<result<void>> remove_session(std::string identity,
                                                                std::string session_id) = 0;

    // Admin: every live session as "identity:sessionId", sorted.
    virtual boost::asio::awaitable<result<std::vector<std::string>>> get_all_session_ids() = 0;
    // Admin: removes every session.
    virtual boost::asio::awaitable<result<void>> clear_all() = 0;
    // Admin: removes what has expired (records and index entries); returns how many.
    virtual boost::asio::awaitable<result<std::size_t>> cleanup_expired_sessions() = 0;

    // Health: a round trip to the backend.
    virtual boost::asio::awaitable<result<void>> ping() = 0;
    // Finishes what is in flight and releases the backend.
    virtual boost::asio::awaitable<void> close() = 0;
};

} // namespace mcpd::store
