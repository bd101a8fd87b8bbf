// store/sqlite_store.hpp — sessions in one SQLite file: the embedded default of `mcpd serve`.
//
// The table is @mcp-ts/sdk's, so either program can open the other's file:
//   mcp_sessions(sessionId TEXT PRIMARY KEY, identity TEXT NOT NULL, data TEXT NOT NULL,
//                expiresAt INTEGER)            -- data: the record's JSON; expiresAt: ms since
//   idx_mcp_sessions_identity ON (identity)      the epoch, NULL = never (as Node writes it)
// The session id alone is the primary key (the reference's schema): two identities cannot
// hold the same session id here.
//
// All SQLite calls run on a private one-thread pool (never on an I/O thread), which also
// serialises them on the one connection. WAL mode; a busy timeout for other processes on the
// same file; every multi-step write is one BEGIN IMMEDIATE transaction; expired rows are never
// returned. The file is created with mode 0600 (it holds OAuth tokens).
#pragma once

#include "core/blocking_pool.hpp"
#include "mcpd/store/session_store.hpp"

#include <string>

struct sqlite3;

namespace mcpd::store {

class sqlite_store final : public session_store {
public:
    // Opens (creating if needed) the database at `path`. Errors name the file and SQLite's reason.
    static boost::asio::awaitable<result<std::unique_ptr<sqlite_store>>> open(std::string path);
    ~sqlite_store() override;

    [[nodiscard]] std::string_view backend_name() const noexcept override { return "sqlite"; }
    boost::asio::awaitable<result<void>> create_session(boost::json::object record,
                                                        std::optional<duration> ttl) override;
    boost::asio::awaitable<result<void>> update_session(std::string identity,
                                                        std::string session_id,
                                                        boost::json::object partial,
                                                        std::optional<duration> ttl) override;
    boost::asio::awaitable<result<std::optional<boost::json::object>>>
    get_session(std::string identity, std::string session_id) override;
    boost::asio::awaitable<result<std::vector<session_record>>>
    get_identity_sessions_data(std::string identity) override;
    boost::asio::awaitable<result<std::vector<std::string>>>
    get_identity_session_ids(std::string identity) override;
    boost::asio::awaitable<result<void>> remove_session(std::string identity,
                                                        std::string session_id) override;
    boost::asio::awaitable<result<std::vector<std::string>>> get_all_session_ids() override;
    boost::asio::awaitable<result<void>> clear_all() override;
    boost::asio::awaitable<result<std::size_t>> cleanup_expired_sessions() override;
    boost::asio::awaitable<result<void>> ping() override;
    boost::asio::awaitable<void> close() override;

private:
    explicit sqlite_store(std::string path);

    std::string path_;
    sqlite3* db_ = nullptr; // used on pool_'s thread only
    blocking_pool pool_{1};
};

} // namespace mcpd::store
