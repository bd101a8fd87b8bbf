// store/postgres_store.hpp — sessions in PostgreSQL (Supabase included), in the table
// @mcp-ts/sdk's Supabase backend uses, so a Node app on that backend and mcpd share one database.
//
// The table is the one its migration (npm package, supabase/migrations/) creates:
//   public.mcp_sessions(id UUID PK DEFAULT gen_random_uuid(), session_id TEXT NOT NULL UNIQUE,
//     user_id TEXT NOT NULL, server_id TEXT, server_name TEXT, server_url TEXT NOT NULL,
//     transport_type TEXT NOT NULL, callback_url TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL,
//     updated_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL, active BOOLEAN,
//     identity TEXT NOT NULL, headers JSONB, client_information JSONB, tokens JSONB,
//     code_verifier TEXT, client_id TEXT)
//   + indexes on identity, user_id and expires_at
// plus one nullable column of ours, mcpd_extra JSONB: the record's fields the table has no
// column for (kept round trip, as every backend keeps them). Node's inserts name their columns
// and its reads map known columns only, so the extra column changes nothing for it.
//
// Record ↔ row, as the reference maps them: camelCase fields to snake_case columns; user_id is
// a copy of identity (its RLS policies look at it); createdAt (ms) is created_at; headers,
// clientInformation and tokens are JSONB (an encrypted value, "enc:1:…", is a JSONB string, as
// the reference stores it); a NULL column is an absent field. Where we differ, we are stricter:
// reads never return expired rows (expires_at is the session's expiry), an update without a
// TTL keeps expires_at (the reference resets it to 12 h), a create never overwrites a live
// row, a field set to null is removed (except the NOT NULL ones: an error).
// The table's NOT NULL columns make serverUrl, transportType and callbackUrl required (the
// reference's type requires them too); a record without createdAt gets the time of its
// creation, as the reference's backend gives it. A createdAt with a fraction of a millisecond
// keeps its exact value in mcpd_extra (created_at has the whole milliseconds).
//
// Every statement is parameterized; the merge of update_session is one UPDATE (atomic, no lost
// fields between concurrent writers); a create is one INSERT … ON CONFLICT that takes over only
// an expired row. Missing table: created (with its indexes, and row-level security enabled
// with no policy, so Supabase's REST roles see nothing) when the role may; otherwise a clear
// error. The connection: postgres_client.hpp (libpq's async API on the Asio loop).
#pragma once

#include "mcpd/store/session_store.hpp"
#include "store/postgres_client.hpp"

#include <memory>
#include <string>

namespace mcpd::store {

struct postgres_options {
    std::size_t max_connections = 4;
    duration connect_timeout = std::chrono::seconds(10);
    duration query_timeout = std::chrono::seconds(30);
};

class postgres_store final : public session_store {
public:
    // Connects and checks the table (creating it when missing, adding mcpd_extra when absent).
    // Errors say what to do: cannot connect (libpq's reason), the role may not create the table
    // or add the column, a column or the session_id unique index is missing, a privilege is
    // missing, row-level security would hide the sessions from this role.
    static boost::asio::awaitable<result<std::unique_ptr<postgres_store>>>
    open(boost::asio::any_io_executor const& ex, std::string conninfo, postgres_options opts = {});

    [[nodiscard]] std::string_view backend_name() const noexcept override { return "postgres"; }
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

    // "postgresql://user@host:port/db" (no password), for logs.
    [[nodiscard]] std::string const& description() const noexcept { return client_.description(); }

private:
    postgres_store(boost::asio::any_io_executor const& ex, pg::options opts);
    boost::asio::awaitable<result<void>> prepare_table();

    pg::client client_;
};

} // namespace mcpd::store
