// tests/integration/postgres_store_test.cpp — the PostgreSQL backend beyond the behavioural suite
// (store_test.cpp): @mcp-ts/sdk's Supabase table layout read and written field for field, the
// table created when missing, clear errors for roles that may not do what mcpd needs, a server
// killed under load (errors, never "not found") and restarted (picked up), selection from the
// environment. Each test runs its own PostgreSQL (postgres_server.hpp).
#include "async_test.hpp"
#include "postgres_server.hpp"
#include "redis_server.hpp" // free_port()

#include "store/backends.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <map>
#include <memory>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace mcpd;
using namespace mcpd::test;
using namespace std::chrono_literals;
using store::store_errc;

namespace {

// The table exactly as @mcp-ts/sdk 1.6.1's migration (supabase/migrations/
// 20260330195700_install_mcp_sessions.sql) lays it out, with row-level security on. Its RLS
// policies call Supabase's auth.uid(), which plain PostgreSQL lacks; they only concern
// Supabase's REST roles, so they are left out.
constexpr char const* node_table = R"sql(
CREATE TABLE public.mcp_sessions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    server_id TEXT,
    server_name TEXT,
    server_url TEXT NOT NULL,
    transport_type TEXT NOT NULL,
    callback_url TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    active BOOLEAN DEFAULT false,
    identity TEXT NOT NULL,
    headers JSONB,
    client_information JSONB,
    tokens JSONB,
    code_verifier TEXT,
    client_id TEXT
);
CREATE INDEX idx_mcp_sessions_identity ON public.mcp_sessions(identity);
CREATE INDEX idx_mcp_sessions_user_id ON public.mcp_sessions(user_id);
CREATE INDEX idx_mcp_sessions_expires_at ON public.mcp_sessions(expires_at);
ALTER TABLE public.mcp_sessions ENABLE ROW LEVEL SECURITY;
)sql";

// A record as @mcp-ts/sdk writes one, plus a field it does not know (kept round trip).
json::object record(std::string const& identity, std::string const& id) {
    auto o = json::parse(R"({
        "serverId": "srv-1", "serverName": "Example", "serverUrl": "https://mcp.example.com/mcp",
        "transportType": "streamable_http", "callbackUrl": "https://app.example.com/cb",
        "createdAt": 1732000000123, "headers": {"X-Org": "acme"},
        "tokens": {"access_token": "at", "expires_in": 3600}, "active": true,
        "futureField": {"kept": [1, 2, {}], "empty": []}})")
                 .as_object();
    o["identity"] = identity;
    o["sessionId"] = id;
    return o;
}

asio::awaitable<std::unique_ptr<store::postgres_store>> open_or_throw(std::string url,
                                                                      store::postgres_options o) {
    auto ex = co_await asio::this_coro::executor;
    auto s = co_await store::postgres_store::open(ex, std::move(url), o);
    if (!s)
        throw mcpd::exception(s.error());
    co_return std::move(*s);
}

std::string cell(postgres_server::rows const& rows, std::size_t row = 0, std::size_t col = 0) {
    if (row >= rows.size() || col >= rows[row].size() || !rows[row][col])
        return "(null)";
    return *rows[row][col];
}

store::getenv_fn env_of(std::map<std::string, std::string> vars) {
    auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
    return [shared](char const* name) -> char const* {
        auto it = shared->find(name);
        return it == shared->end() ? nullptr : it->second.c_str();
    };
}

} // namespace

TEST(store_postgres, reads_rows_node_writes_and_writes_rows_in_nodes_layout) {
    postgres_server server;
    server.exec(node_table);
    // As supabase-js inserts through PostgREST: createdAt as an ISO time, user_id = identity,
    // undefined fields absent (NULL), tokens encrypted (a JSONB string, with
    // STORAGE_ENCRYPTION_KEY set), active false by default.
    server.exec(R"sql(
INSERT INTO public.mcp_sessions (session_id, user_id, server_id, server_name, server_url,
    transport_type, callback_url, created_at, identity, headers, active, client_information,
    tokens, code_verifier, client_id, expires_at) VALUES
('NodeSession1', 'node-user', 'srv-1', 'Example', 'https://mcp.example.com/mcp',
    'streamable_http', 'https://app.example.com/cb', '2024-11-19T07:06:40.123Z', 'node-user',
    '{"X-Org": "acme"}', true,
    '{"client_id": "c1", "redirect_uris": ["https://app.example.com/cb"], "contacts": []}',
    '"enc:1:000102030405060708090a0b:622e4119e1cab5f73e19569c5ea82ad2:6d3ad455232cbec5964f009754bb46154c54c51dd92859eb564924a27b96534787e68f48a08ab055ff24c4fc"',
    'verifier', 'c1', now() + interval '1 hour');
INSERT INTO public.mcp_sessions (session_id, user_id, server_url, transport_type, callback_url,
    created_at, identity, active, expires_at) VALUES
('NodeMinimal1', 'node-user', 'https://other.example.com/sse', 'sse', 'https://app.example.com/cb',
    '2024-11-19T07:06:40Z', 'node-user', false, now() + interval '10 minutes'),
('NodeExpired1', 'node-user', 'https://old.example.com/mcp', 'sse', 'https://app.example.com/cb',
    now(), 'node-user', false, now() - interval '1 minute');
)sql");
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await open_or_throw(server.url(), {});
        auto full = co_await s->get_session("node-user", "NodeSession1");
        CO_ASSERT(full && full->has_value());
        auto want_full = json::parse(R"({
            "sessionId": "NodeSession1", "serverId": "srv-1", "serverName": "Example",
            "serverUrl": "https://mcp.example.com/mcp", "transportType": "streamable_http",
            "callbackUrl": "https://app.example.com/cb", "createdAt": 1732000000123,
            "identity": "node-user", "headers": {"X-Org": "acme"}, "active": true,
            "clientInformation": {"client_id": "c1",
                                  "redirect_uris": ["https://app.example.com/cb"], "contacts": []},
            "tokens": "enc:1:000102030405060708090a0b:622e4119e1cab5f73e19569c5ea82ad2:6d3ad455232cbec5964f009754bb46154c54c51dd92859eb564924a27b96534787e68f48a08ab055ff24c4fc",
            "codeVerifier": "verifier", "clientId": "c1"})");
        EXPECT_EQ(**full, want_full) << json::serialize(**full);
        auto minimal = co_await s->get_session("node-user", "NodeMinimal1");
        CO_ASSERT(minimal && minimal->has_value());
        auto want_minimal = json::parse(R"({
            "sessionId": "NodeMinimal1", "serverUrl": "https://other.example.com/sse",
            "transportType": "sse", "callbackUrl": "https://app.example.com/cb",
            "createdAt": 1732000000000, "identity": "node-user", "active": false})");
        EXPECT_EQ(**minimal, want_minimal) << json::serialize(**minimal);
        // The expired row is never returned.
        EXPECT_FALSE((co_await s->get_session("node-user", "NodeExpired1"))->has_value());
        auto ids = co_await s->get_identity_session_ids("node-user");
        CO_ASSERT(ids.has_value());
        std::sort(ids->begin(), ids->end());
        EXPECT_EQ(*ids, (std::vector<std::string>{"NodeMinimal1", "NodeSession1"}));

        // What mcpd writes is a row Node reads: the same columns, user_id = identity, JSONB
        // objects, created_at from createdAt, the default 12 h expiry; the field the table has
        // no column for sits in mcpd_extra, which Node's column-by-column mapping ignores.
        CO_ASSERT(co_await s->create_session(record("mcpd-user", "MineSession1"), {}));
        auto row = server.exec(
            "SELECT user_id, identity, server_url, transport_type, headers::text, tokens::text, "
            "active, created_at = timestamptz '2024-11-19T07:06:40.123Z', "
            "expires_at BETWEEN now() + interval '11 hours 59 minutes' AND now() + interval "
            "'12 hours', mcpd_extra::text, client_information IS NULL FROM public.mcp_sessions "
            "WHERE session_id = 'MineSession1'");
        EXPECT_EQ(cell(row, 0, 0), "mcpd-user");
        EXPECT_EQ(cell(row, 0, 1), "mcpd-user");
        EXPECT_EQ(cell(row, 0, 2), "https://mcp.example.com/mcp");
        EXPECT_EQ(cell(row, 0, 3), "streamable_http");
        EXPECT_EQ(cell(row, 0, 4), R"({"X-Org": "acme"})");
        EXPECT_EQ(cell(row, 0, 5), R"({"expires_in": 3600, "access_token": "at"})");
        EXPECT_EQ(cell(row, 0, 6), "t");
        EXPECT_EQ(cell(row, 0, 7), "t");
        EXPECT_EQ(cell(row, 0, 8), "t");
        EXPECT_EQ(cell(row, 0, 9), R"({"futureField": {"kept": [1, 2, {}], "empty": []}})");
        EXPECT_EQ(cell(row, 0, 10), "t");

        // Node's updateSession (its column-by-column UPDATE) leaves mcpd's extra field alone.
        server.exec("UPDATE public.mcp_sessions SET tokens = '{\"access_token\": \"new\"}', "
                    "active = false, expires_at = now() + interval '10 minutes', updated_at = "
                    "now() WHERE identity = 'mcpd-user' AND session_id = 'MineSession1'");
        auto mine = co_await s->get_session("mcpd-user", "MineSession1");
        CO_ASSERT(mine && mine->has_value());
        auto want_mine = record("mcpd-user", "MineSession1");
        want_mine["tokens"] = json::parse(R"({"access_token": "new"})");
        want_mine["active"] = false;
        EXPECT_EQ(**mine, want_mine) << json::serialize(**mine);

        EXPECT_EQ(*co_await s->cleanup_expired_sessions(), 1u);
        EXPECT_EQ(cell(server.exec("SELECT count(*) FROM public.mcp_sessions")), "3");
        co_await s->close();
    });
}

TEST(store_postgres, fields_the_table_cannot_hold_exactly_round_trip_or_are_clear_errors) {
    postgres_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await open_or_throw(server.url(), {});
        // A createdAt with a fraction: the column has whole milliseconds, mcpd_extra the value.
        auto precise = record("u", "precise");
        precise["createdAt"] = 1732000000123.5;
        precise["nothing"] = nullptr;
        CO_ASSERT(co_await s->create_session(precise, {}));
        EXPECT_EQ(**co_await s->get_session("u", "precise"), precise);
        EXPECT_EQ(cell(server.exec("SELECT floor(extract(epoch FROM created_at) * 1000)::bigint "
                                   "FROM public.mcp_sessions WHERE session_id = 'precise'")),
                  "1732000000123");
        // A whole createdAt later replaces it everywhere; unknown fields merge and go with null.
        auto patch = json::parse(R"({"createdAt": 1732000000999, "nothing": null, "more": 1})");
        CO_ASSERT(co_await s->update_session("u", "precise", patch.as_object(), {}));
        auto got = **co_await s->get_session("u", "precise");
        EXPECT_EQ(got.at("createdAt"), 1732000000999);
        EXPECT_FALSE(got.contains("nothing"));
        EXPECT_EQ(got.at("more"), 1);

        // The table's NOT NULL columns: required at create, cannot be removed by an update.
        auto incomplete = record("u", "incomplete");
        incomplete.erase("callbackUrl");
        auto refused = co_await s->create_session(incomplete, {});
        CO_ASSERT(!refused);
        EXPECT_EQ(refused.error().code, store_errc::invalid_record);
        EXPECT_NE(refused.error().message().find("callbackUrl"), std::string::npos);
        auto removal = json::parse(R"({"serverUrl": null})");
        auto r = co_await s->update_session("u", "precise", removal.as_object(), {});
        CO_ASSERT(!r);
        EXPECT_EQ(r.error().code, store_errc::invalid_record);
        // Text PostgreSQL cannot store is refused, not cut short.
        auto nul = record("u", "nul");
        nul["serverName"] = std::string("a\0b", 3);
        EXPECT_EQ((co_await s->create_session(nul, {})).error().code, store_errc::invalid_record);
        co_await s->close();
    });
}

TEST(store_postgres, creates_the_table_with_its_indexes_when_missing) {
    postgres_server server;
    auto db = server.create_database();
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await open_or_throw(server.url(db), {});
        CO_ASSERT(co_await s->create_session(record("u", "s1"), {}));
        co_await s->close();
        // Opening again finds it as it is.
        auto again = co_await open_or_throw(server.url(db), {});
        EXPECT_TRUE((co_await again->get_session("u", "s1"))->has_value());
        co_await again->close();
    });
    auto indexes = server.exec("SELECT string_agg(indexname, ',' ORDER BY indexname) FROM "
                               "pg_indexes WHERE tablename = 'mcp_sessions'",
                               db);
    EXPECT_EQ(cell(indexes), "idx_mcp_sessions_expires_at,idx_mcp_sessions_identity,idx_mcp_"
                             "sessions_user_id,mcp_sessions_pkey,mcp_sessions_session_id_key");
    auto columns =
        server.exec("SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod) || "
                    "CASE WHEN attnotnull THEN ' not null' ELSE '' END, ', ' ORDER BY attnum) "
                    "FROM pg_attribute WHERE attrelid = 'public.mcp_sessions'::regclass AND "
                    "attnum > 0 AND NOT attisdropped",
                    db);
    EXPECT_EQ(cell(columns),
              "id uuid not null, session_id text not null, user_id text not null, server_id "
              "text, server_name text, server_url text not null, transport_type text not null, "
              "callback_url text not null, created_at timestamp with time zone not null, "
              "updated_at timestamp with time zone not null, expires_at timestamp with time zone "
              "not null, active boolean, identity text not null, headers jsonb, "
              "client_information jsonb, tokens jsonb, code_verifier text, client_id text, "
              "mcpd_extra jsonb");
    auto rls = server.exec(
        "SELECT relrowsecurity FROM pg_class WHERE oid = 'public.mcp_sessions'::regclass", db);
    EXPECT_EQ(cell(rls), "t");
}

TEST(store_postgres, roles_that_may_not_do_what_mcpd_needs_get_clear_errors) {
    postgres_server server;
    auto db = server.create_database();
    server.exec("CREATE ROLE limited LOGIN");
    // PostgreSQL 15's default, made explicit for older servers: only the owner creates here.
    server.exec("REVOKE CREATE ON SCHEMA public FROM PUBLIC", db);
    run_async([&]() -> asio::awaitable<void> {
        // No table, and no CREATE on schema public (PostgreSQL 15's default for other roles).
        auto no_create = co_await store::postgres_store::open(co_await asio::this_coro::executor,
                                                              server.url(db, "limited"), {});
        CO_ASSERT(!no_create);
        auto m = no_create.error().message();
        EXPECT_NE(m.find("does not exist"), std::string::npos) << m;
        EXPECT_NE(m.find("role 'limited' may not create it"), std::string::npos) << m;
        EXPECT_NE(m.find("GRANT CREATE ON SCHEMA public"), std::string::npos) << m;
        EXPECT_EQ(no_create.error().code, store::pg::sqlstate_error("42501")) << m;
    });
    // The table made by Node's migration: limited may use it, but not add mcpd_extra.
    server.exec(node_table, db);
    server.exec("GRANT SELECT, INSERT, UPDATE, DELETE ON public.mcp_sessions TO limited", db);
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto no_alter = co_await store::postgres_store::open(ex, server.url(db, "limited"), {});
        CO_ASSERT(!no_alter);
        auto m = no_alter.error().message();
        EXPECT_NE(m.find("ALTER TABLE public.mcp_sessions ADD COLUMN mcpd_extra JSONB"),
                  std::string::npos)
            << m;
        // The owner adds it (by opening once); then row-level security would hide every row
        // from limited, which must be said rather than served as "no sessions".
        auto owner = co_await open_or_throw(server.url(db), {});
        co_await owner->close();
        auto hidden = co_await store::postgres_store::open(ex, server.url(db, "limited"), {});
        CO_ASSERT(!hidden);
        EXPECT_NE(hidden.error().message().find("row-level security"), std::string::npos)
            << hidden.error().message();
    });
    server.exec("ALTER ROLE limited BYPASSRLS");
    server.exec("CREATE ROLE stranger LOGIN BYPASSRLS");
    run_async([&]() -> asio::awaitable<void> {
        auto s = co_await open_or_throw(server.url(db, "limited"), {});
        CO_ASSERT(co_await s->create_session(record("u", "s1"), {}));
        EXPECT_TRUE((co_await s->get_session("u", "s1"))->has_value());
        co_await s->close();
        auto stranger = co_await store::postgres_store::open(co_await asio::this_coro::executor,
                                                             server.url(db, "stranger"), {});
        CO_ASSERT(!stranger);
        EXPECT_NE(stranger.error().message().find("lacks SELECT, INSERT, UPDATE, DELETE"),
                  std::string::npos)
            << stranger.error().message();
    });
}

TEST(store_postgres, a_killed_server_is_an_error_never_not_found_and_a_restart_is_picked_up) {
    postgres_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        store::postgres_options opts;
        opts.connect_timeout = 2s;
        opts.query_timeout = 5s;
        auto s = co_await open_or_throw(server.url(), opts);
        constexpr int sessions = 20;
        for (int i = 0; i < sessions; ++i)
            CO_ASSERT(co_await s->create_session(record("u", "s" + std::to_string(i)), {}));

        constexpr int n = 600;
        int ok = 0, failed = 0, done = 0, created = 0;
        for (int i = 0; i < n; ++i)
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                    std::string id = "s" + std::to_string(i % sessions);
                    bool answered = false;
                    error failure;
                    if (i % 3 == 0) {
                        auto got = co_await s->get_session("u", id);
                        if (got) {
                            // The session exists: "none" would be a swallowed failure.
                            EXPECT_TRUE(got->has_value()) << id << " read as missing";
                            answered = true;
                        } else {
                            failure = got.error();
                        }
                    } else if (i % 3 == 1) {
                        json::object patch;
                        patch["n"] = i;
                        auto r = co_await s->update_session("u", id, patch, {});
                        answered = r.has_value();
                        if (!r)
                            failure = r.error();
                    } else {
                        auto r =
                            co_await s->create_session(record("u", "c" + std::to_string(i)), {});
                        answered = r.has_value();
                        if (!r)
                            failure = r.error();
                        else
                            ++created;
                    }
                    if (answered) {
                        ++ok;
                    } else {
                        ++failed;
                        // A failure is the connection's (lost, or refused once down), never a
                        // store verdict such as session_not_found.
                        EXPECT_EQ(failure.code.category(), store::pg::client_category())
                            << failure.message();
                    }
                    ++done;
                },
                asio::detached);
        co_await sleep_for(10ms);
        server.kill();
        while (done < n)
            co_await sleep_for(10ms);
        EXPECT_EQ(ok + failed, n);
        EXPECT_GT(failed, 0) << "the kill came too late to test anything";

        // Down: an error, not an empty answer.
        auto down = co_await s->get_session("u", "s0");
        CO_ASSERT(!down);
        EXPECT_EQ(down.error().code, store::pg::client_errc::connect_failed)
            << down.error().message();
        EXPECT_FALSE(co_await s->get_all_session_ids());
        EXPECT_FALSE(co_await s->ping());

        // Back (crash recovery): the same store reconnects, and what was committed is there.
        server.start();
        auto back = co_await s->get_session("u", "s0");
        CO_ASSERT(back.has_value());
        EXPECT_TRUE(back->has_value());
        // Every acknowledged create is there; a create whose connection broke may or may not be.
        auto all = co_await s->get_all_session_ids();
        CO_ASSERT(all.has_value());
        EXPECT_GE(all->size(), static_cast<std::size_t>(sessions + created));
        EXPECT_LE(all->size(), static_cast<std::size_t>(sessions + n / 3));
        co_await s->close();
    });
}

TEST(store_postgres, pooled_connections_survive_a_server_restart_without_an_error) {
    postgres_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto s = co_await open_or_throw(server.url(), {});
        CO_ASSERT(co_await s->create_session(record("u", "s1"), {}));
        // Fill the pool with idle connections.
        int done = 0;
        for (int i = 0; i < 8; ++i)
            asio::co_spawn(
                ex,
                [&]() -> asio::awaitable<void> {
                    EXPECT_TRUE(co_await s->ping());
                    ++done;
                },
                asio::detached);
        while (done < 8)
            co_await sleep_for(5ms);
        server.stop(); // a clean restart: the server ends every session
        server.start();
        // Every idle connection is dead; each call notices that before using one.
        for (int i = 0; i < 8; ++i) {
            auto got = co_await s->get_session("u", "s1");
            CO_ASSERT(got.has_value());
            EXPECT_TRUE(got->has_value());
        }
        co_await s->close();
    });
}

TEST(store_postgres, is_selected_from_the_environment_without_a_fallback) {
    postgres_server server;
    auto port = free_port();
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        std::vector<std::map<std::string, std::string>> settings = {
            {{"DATABASE_URL", server.url()}},
            {{"MCP_TS_STORAGE_TYPE", "supabase"},
             {"SUPABASE_URL", "https://x.supabase.co"},
             {"SUPABASE_DB_URL", server.url()}}};
        for (auto const& vars : settings) {
            auto env = env_of(vars);
            auto choice = store::choose_store(env, store::store_type::memory);
            CO_ASSERT(choice.has_value());
            auto opened = co_await store::open_store(ex, *choice, {}, env);
            CO_ASSERT(opened.has_value());
            EXPECT_EQ(opened->store->backend_name(), "postgres");
            co_await opened->store->close();
        }
        // Unreachable: an error naming where, without the password; never memory.
        auto env = env_of({{"DATABASE_URL", "postgresql://postgres:s3cret@127.0.0.1:" +
                                                std::to_string(port) + "/postgres"}});
        auto choice = store::choose_store(env, store::store_type::memory);
        CO_ASSERT(choice.has_value());
        auto refused = co_await store::open_store(ex, *choice, {}, env);
        CO_ASSERT(!refused);
        auto m = refused.error().message();
        EXPECT_NE(m.find("postgresql://postgres@127.0.0.1:" + std::to_string(port)),
                  std::string::npos)
            << m;
        EXPECT_EQ(m.find("s3cret"), std::string::npos) << m;
    });
}

TEST(store_postgres, host_names_are_resolved_before_libpq_sees_them) {
    postgres_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        // A host list: a name that does not resolve is skipped, the next is resolved and used.
        auto by_name = "host=no-such-host.invalid,localhost port=" + std::to_string(server.port()) +
                       " dbname=postgres user=postgres";
        auto s = co_await open_or_throw(by_name, {});
        EXPECT_TRUE(co_await s->ping());
        co_await s->close();
        auto nowhere = co_await store::postgres_store::open(
            ex, "postgresql://postgres@no-such-host.invalid/postgres", {});
        CO_ASSERT(!nowhere);
        EXPECT_EQ(nowhere.error().code, store::pg::client_errc::connect_failed);
        EXPECT_NE(nowhere.error().message().find("cannot resolve no-such-host.invalid"),
                  std::string::npos)
            << nowhere.error().message();
    });
}

TEST(store_postgres, with_a_key_seals_headers_and_tokens_as_the_supabase_backend_does) {
    // @mcp-ts/sdk's Supabase backend seals headers and tokens and reads client_information as
    // plain JSON; mcpd seals the same two there, so a Node app reads every record mcpd writes.
    postgres_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto env = env_of(
            {{"DATABASE_URL", server.url()}, {"STORAGE_ENCRYPTION_KEY", std::string(64, 'b')}});
        auto choice = store::choose_store(env, store::store_type::memory);
        CO_ASSERT(choice.has_value());
        auto opened = co_await store::open_store(ex, *choice, {}, env);
        CO_ASSERT(opened.has_value());
        auto rec = record("alice", "Sealed1");
        rec["headers"] = json::object{{"Authorization", "Bearer h"}};
        rec["tokens"] = json::object{{"access_token", "tok"}};
        rec["clientInformation"] = json::object{{"client_id", "cid"}};
        CO_ASSERT((co_await opened->store->create_session(rec, {})).has_value());
        auto back = co_await opened->store->get_session("alice", "Sealed1");
        CO_ASSERT(back && *back);
        EXPECT_EQ((**back).at("tokens").at("access_token"), "tok");
        EXPECT_EQ((**back).at("clientInformation").at("client_id"), "cid");
        co_await opened->store->close();
    });
    auto raw = server.exec("SELECT tokens::text, headers::text, client_information::text FROM "
                           "public.mcp_sessions WHERE session_id = 'Sealed1'");
    ASSERT_EQ(raw.size(), 1u);
    auto text = [&](std::size_t col) { return raw[0][col].value_or("NULL"); };
    EXPECT_EQ(text(0).rfind("\"enc:1:", 0), 0u) << text(0);
    EXPECT_EQ(text(1).rfind("\"enc:1:", 0), 0u) << text(1);
    EXPECT_NE(text(2).find("\"client_id\": \"cid\""), std::string::npos) << text(2);
}
