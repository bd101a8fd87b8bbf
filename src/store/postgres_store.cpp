// store/postgres_store.cpp — the PostgreSQL backend: the record ↔ row mapping, the statements,
// and the checks (or creation) of @mcp-ts/sdk's table at open.
#include "store/postgres_store.hpp"

#include "core/json_finite.hpp"
#include "core/log.hpp"
#include "mcpd/store/error.hpp"
#include "mcpd/store/session.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

namespace mcpd::store {

namespace json = boost::json;
using boost::asio::awaitable;

namespace {

enum class column_kind {
    text,          // TEXT, nullable
    required_text, // TEXT NOT NULL
    boolean,       // BOOLEAN
    json,          // JSONB
    time_ms,       // TIMESTAMPTZ NOT NULL, a number of milliseconds in the record
};

struct mapped_field {
    std::string_view field;
    std::string_view column;
    column_kind kind;
};

// The record fields the table has columns for (identity and sessionId aside), in the order of
// the reference's mapping. Parameters and result columns follow this order.
constexpr std::array<mapped_field, 12> mapped_fields = {{
    {"serverId", "server_id", column_kind::text},
    {"serverName", "server_name", column_kind::text},
    {"serverUrl", "server_url", column_kind::required_text},
    {"transportType", "transport_type", column_kind::required_text},
    {"callbackUrl", "callback_url", column_kind::required_text},
    {"createdAt", "created_at", column_kind::time_ms},
    {"headers", "headers", column_kind::json},
    {"active", "active", column_kind::boolean},
    {"clientInformation", "client_information", column_kind::json},
    {"tokens", "tokens", column_kind::json},
    {"codeVerifier", "code_verifier", column_kind::text},
    {"clientId", "client_id", column_kind::text},
}};

mapped_field const* find_mapped(std::string_view field) {
    for (auto const& f : mapped_fields)
        if (f.field == field)
            return &f;
    return nullptr;
}

constexpr std::string_view table = "public.mcp_sessions";
constexpr std::string_view extra_column = "mcpd_extra";

// createdAt values a TIMESTAMPTZ holds exactly and JavaScript's Date reads: years 1 to 9999.
constexpr std::int64_t min_time_ms = -62135596800000;
constexpr std::int64_t max_time_ms = 253402300799999;

std::string placeholder(std::size_t n) {
    return "$" + std::to_string(n);
}

// The SQL expression that turns parameter n into a value of the column's type.
std::string value_expression(column_kind kind, std::size_t n) {
    switch (kind) {
    case column_kind::boolean:
        return placeholder(n) + "::boolean";
    case column_kind::json:
        return placeholder(n) + "::jsonb";
    case column_kind::time_ms:
        return "timestamptz 'epoch' + " + placeholder(n) + "::bigint * interval '1 millisecond'";
    default:
        return placeholder(n);
    }
}

// What to store in a field's column. `exact` is false when the column cannot hold the value as
// it is (a createdAt with a fraction or out of range): the JSON value then also goes to
// mcpd_extra, which wins on read, and the column holds the nearest value it can (or none).
struct column_value {
    pg::param value;
    bool exact = true;
};

result<column_value> to_column(mapped_field const& f, json::value const& v) {
    if (v.is_null())
        return column_value{};
    auto wrong = [&](std::string_view want) {
        return error(store_errc::invalid_record,
                     "field '" + std::string(f.field) + "' must be " + std::string(want));
    };
    switch (f.kind) {
    case column_kind::text:
    case column_kind::required_text: {
        if (!v.is_string())
            return wrong("a string");
        std::string s(v.get_string());
        if (s.find('\0') != std::string::npos)
            return wrong("free of NUL characters (PostgreSQL text cannot hold them)");
        return column_value{std::move(s)};
    }
    case column_kind::boolean:
        if (!v.is_bool())
            return wrong("a boolean");
        return column_value{std::string(v.get_bool() ? "true" : "false")};
    case column_kind::json:
        return column_value{json::serialize(v)};
    case column_kind::time_ms: {
        if (v.is_int64() && v.get_int64() >= min_time_ms && v.get_int64() <= max_time_ms)
            return column_value{std::to_string(v.get_int64())};
        if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(max_time_ms))
            return column_value{std::to_string(v.get_uint64())};
        if (v.is_double() && std::isfinite(v.get_double()) &&
            v.get_double() >= static_cast<double>(min_time_ms) &&
            v.get_double() <= static_cast<double>(max_time_ms))
            return column_value{
                std::to_string(static_cast<std::int64_t>(std::floor(v.get_double()))), false};
        if (!v.is_number())
            return wrong("a number (milliseconds since the epoch)");
        return column_value{std::nullopt, false};
    }
    }
    return column_value{};
}

std::string const& select_columns() {
    static std::string const list = [] {
        std::string s = "session_id, identity";
        for (auto const& f : mapped_fields) {
            s += ", ";
            if (f.kind == column_kind::time_ms) // whole milliseconds, as Date.getTime() gives
                s += "floor(extract(epoch FROM " + std::string(f.column) + ") * 1000)::bigint";
            else
                s += f.column;
        }
        return s + ", " + std::string(extra_column);
    }();
    return list;
}

// A row of select_columns() as a record: NULL columns are absent fields; mcpd_extra's fields
// go on top.
result<json::object> to_record(std::vector<std::optional<std::string>> const& row) {
    if (row.size() != mapped_fields.size() + 3 || !row[0] || !row[1])
        return error(store_errc::corrupt_record, "a mcp_sessions row of an unexpected shape");
    json::object r;
    r["sessionId"] = *row[0];
    for (std::size_t i = 0; i < mapped_fields.size(); ++i) {
        auto const& f = mapped_fields[i];
        auto const& cell = row[i + 2];
        if (!cell)
            continue;
        auto bad = [&](std::string why) {
            return error(store_errc::corrupt_record,
                         "column " + std::string(f.column) + " of session " + *row[0] + ": " + why);
        };
        switch (f.kind) {
        case column_kind::text:
        case column_kind::required_text:
            r[f.field] = *cell;
            break;
        case column_kind::boolean:
            r[f.field] = *cell == "t";
            break;
        case column_kind::json: {
            boost::system::error_code ec;
            auto v = json::parse(*cell, ec);
            if (ec)
                return bad(ec.message());
            if (!all_numbers_finite(v))
                return bad(std::string(number_out_of_range));
            r[f.field] = std::move(v);
            break;
        }
        case column_kind::time_ms: {
            std::int64_t ms = 0;
            auto [end, ec] = std::from_chars(cell->data(), cell->data() + cell->size(), ms);
            if (ec != std::errc() || end != cell->data() + cell->size())
                return bad("not a time: " + *cell);
            r[f.field] = ms;
            break;
        }
        }
    }
    r["identity"] = *row[1];
    if (auto const& extra = row.back()) {
        auto parsed = parse_record(*extra);
        if (!parsed)
            return error(store_errc::corrupt_record, std::string(extra_column) + " of session " +
                                                         *row[0] + ": " + parsed.error().message());
        for (auto& [key, value] : *parsed)
            r[key] = std::move(value);
    }
    return r;
}

result<std::vector<session_record>> to_records(pg::rows const& rows) {
    std::vector<session_record> out;
    out.reserve(rows.values.size());
    for (auto const& row : rows.values) {
        auto r = to_record(row);
        if (!r)
            return r.error();
        out.emplace_back(std::move(*r));
    }
    return out;
}

std::string const& insert_statement() {
    // $1 session_id, $2 identity (also user_id), $3… the mapped fields, then mcpd_extra and the
    // TTL in ms. ON CONFLICT takes over an expired row with the same session_id (the id is
    // unique across identities, as in the reference) and leaves a live one alone: no row comes
    // back, and the create fails with session_exists.
    static std::string const sql = [] {
        std::string columns = "session_id, user_id, identity", values = "$1, $2, $2",
                    takeover = "user_id = EXCLUDED.user_id, identity = EXCLUDED.identity";
        std::size_t n = 3;
        for (auto const& f : mapped_fields) {
            std::string column(f.column);
            columns += ", " + column;
            auto v = value_expression(f.kind, n++);
            values += ", " + (f.kind == column_kind::time_ms ? "coalesce(" + v + ", now())" : v);
            takeover += ", " + column + " = EXCLUDED." + column;
        }
        std::string extra(extra_column);
        columns += ", " + extra + ", expires_at";
        values += ", " + placeholder(n) + "::jsonb, now() + " + placeholder(n + 1) +
                  "::bigint * interval '1 millisecond'";
        takeover += ", " + extra + " = EXCLUDED." + extra +
                    ", expires_at = EXCLUDED.expires_at, updated_at = now()";
        return "INSERT INTO " + std::string(table) + " AS s (" + columns + ") VALUES (" + values +
               ") ON CONFLICT (session_id) DO UPDATE SET " + takeover +
               " WHERE s.expires_at <= now() RETURNING 1";
    }();
    return sql;
}

std::string ttl_ms(std::optional<duration> ttl) {
    return std::to_string(ttl.value_or(default_session_ttl).count());
}

// For statements without parameters (a named function, not `{}` inside co_await: GCC 12).
std::vector<pg::param> no_params() {
    return {};
}

std::string const& live_rows() {
    static std::string const where = " AND expires_at > now()";
    return where;
}

} // namespace

postgres_store::postgres_store(boost::asio::any_io_executor const& ex, pg::options opts)
    : client_(ex, std::move(opts)) {}

awaitable<result<std::unique_ptr<postgres_store>>>
postgres_store::open(boost::asio::any_io_executor const& ex, std::string conninfo,
                     postgres_options opts) {
    pg::options o{std::move(conninfo), opts.max_connections, opts.connect_timeout,
                  opts.query_timeout};
    std::unique_ptr<postgres_store> s(new postgres_store(ex, std::move(o)));
    auto ready = co_await s->prepare_table();
    if (!ready) {
        co_await s->close();
        co_return ready.error();
    }
    co_return std::move(s);
}

namespace {

// The table as @mcp-ts/sdk's migration creates it, plus mcpd_extra; row-level security on and
// no policy: the owner (this role) reads and writes, Supabase's anon/authenticated REST roles
// see nothing. The advisory lock keeps two instances starting at once from racing on CREATE.
constexpr char const* create_table_script = R"sql(
SELECT pg_advisory_xact_lock(hashtext('mcpd:public.mcp_sessions'));
CREATE TABLE IF NOT EXISTS public.mcp_sessions (
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
    client_id TEXT,
    mcpd_extra JSONB
);
CREATE INDEX IF NOT EXISTS idx_mcp_sessions_identity ON public.mcp_sessions(identity);
CREATE INDEX IF NOT EXISTS idx_mcp_sessions_user_id ON public.mcp_sessions(user_id);
CREATE INDEX IF NOT EXISTS idx_mcp_sessions_expires_at ON public.mcp_sessions(expires_at);
ALTER TABLE public.mcp_sessions ENABLE ROW LEVEL SECURITY;
)sql";

// Columns and the types mcpd relies on (as format_type() spells them).
constexpr std::array<std::pair<std::string_view, std::string_view>, 17> required_columns = {{
    {"session_id", "text"},
    {"user_id", "text"},
    {"identity", "text"},
    {"server_id", "text"},
    {"server_name", "text"},
    {"server_url", "text"},
    {"transport_type", "text"},
    {"callback_url", "text"},
    {"created_at", "timestamp with time zone"},
    {"updated_at", "timestamp with time zone"},
    {"expires_at", "timestamp with time zone"},
    {"active", "boolean"},
    {"headers", "jsonb"},
    {"client_information", "jsonb"},
    {"tokens", "jsonb"},
    {"code_verifier", "text"},
    {"client_id", "text"},
}};

error with_context(error e, std::string const& context) {
    e.detail = context + (e.detail.empty() ? "" : ": " + e.detail);
    return e;
}

bool is_denied(error const& e) {
    return e.code == pg::sqlstate_error("42501"); // insufficient_privilege
}

} // namespace

awaitable<result<void>> postgres_store::prepare_table() {
    auto const& where = description();
    auto found = co_await client_.query(
        "SELECT to_regclass('public.mcp_sessions') IS NOT NULL, current_user", no_params(), true);
    if (!found)
        co_return found.error();
    if (found->values.size() != 1 || !found->values[0][1])
        co_return error(pg::client_errc::unexpected_result, "table check");
    std::string role = *found->values[0][1];

    if (found->values[0][0] != "t") {
        auto created = co_await client_.script(create_table_script);
        if (!created && is_denied(created.error()))
            co_return with_context(
                created.error(),
                "table public.mcp_sessions does not exist in " + where + " and role '" + role +
                    "' may not create it. Create it once as the database owner (run "
                    "@mcp-ts/sdk's migration: npx mcp-ts supabase-init, or start mcpd once with "
                    "the owner's connection string), or GRANT CREATE ON SCHEMA public TO \"" +
                    role + "\"");
        if (!created)
            co_return with_context(created.error(), "creating public.mcp_sessions in " + where);
        log::info("[mcpd][Storage] Created table public.mcp_sessions in {}", where);
    }

    auto columns = co_await client_.query(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
        "'public.mcp_sessions'::regclass AND attnum > 0 AND NOT attisdropped",
        no_params(), true);
    if (!columns)
        co_return columns.error();
    auto type_of = [&](std::string_view name) -> std::optional<std::string> {
        for (auto const& row : columns->values)
            if (row[0] == name)
                return row[1].value_or("");
        return std::nullopt;
    };
    std::string wrong;
    for (auto const& [name, type] : required_columns) {
        auto t = type_of(name);
        if (!t)
            wrong += (wrong.empty() ? "" : ", ") + std::string(name) + " is missing";
        else if (*t != type)
            wrong += (wrong.empty() ? "" : ", ") + std::string(name) + " is " + *t + ", not " +
                     std::string(type);
    }
    if (!wrong.empty())
        co_return error(store_errc::invalid_record, "public.mcp_sessions in " + where +
                                                        " is not @mcp-ts/sdk's session table (" +
                                                        wrong + ")");
    if (!type_of(extra_column)) {
        auto added = co_await client_.query(
            "ALTER TABLE public.mcp_sessions ADD COLUMN IF NOT EXISTS mcpd_extra JSONB",
            no_params(), true);
        if (!added && is_denied(added.error()))
            co_return with_context(
                added.error(),
                "public.mcp_sessions in " + where +
                    " has no column mcpd_extra (where mcpd keeps "
                    "record fields the table has no column for) and role '" +
                    role +
                    "' may not add it (only the table's owner may). Run once as the owner: ALTER "
                    "TABLE public.mcp_sessions ADD COLUMN mcpd_extra JSONB");
        if (!added)
            co_return with_context(added.error(), "adding mcpd_extra to public.mcp_sessions");
        log::info("[mcpd][Storage] Added column mcpd_extra (JSONB, nullable) to "
                  "public.mcp_sessions in {}",
                  where);
    } else if (*type_of(extra_column) != "jsonb") {
        co_return error(store_errc::invalid_record,
                        "public.mcp_sessions.mcpd_extra in " + where + " is not JSONB");
    }

    // What the role may do, whether a unique index on session_id exists (ON CONFLICT needs
    // it), and whether row-level security would silently hide rows from this role: RLS applies
    // unless the role is a superuser, has BYPASSRLS, or owns the table (and RLS is not forced).
    auto checks = co_await client_.query(
        "SELECT has_table_privilege(c.oid, 'SELECT'), has_table_privilege(c.oid, 'INSERT'), "
        "has_table_privilege(c.oid, 'UPDATE'), has_table_privilege(c.oid, 'DELETE'), "
        "EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND "
        "a.attnum = i.indkey[0] WHERE i.indrelid = c.oid AND i.indisunique AND i.indnkeyatts = 1 "
        "AND i.indpred IS NULL AND a.attname = 'session_id'), "
        "c.relrowsecurity AND NOT (r.rolsuper OR r.rolbypassrls OR (pg_has_role(c.relowner, "
        "'USAGE') AND NOT c.relforcerowsecurity)) "
        "FROM pg_class c, pg_roles r WHERE c.oid = 'public.mcp_sessions'::regclass AND "
        "r.rolname = current_user",
        no_params(), true);
    if (!checks)
        co_return checks.error();
    if (checks->values.size() != 1)
        co_return error(pg::client_errc::unexpected_result, "privilege check");
    auto const& c = checks->values[0];
    std::string missing;
    constexpr std::array<char const*, 4> privileges = {"SELECT", "INSERT", "UPDATE", "DELETE"};
    for (std::size_t i = 0; i < privileges.size(); ++i)
        if (c[i] != "t")
            missing += (missing.empty() ? "" : ", ") + std::string(privileges[i]);
    if (!missing.empty())
        co_return error(pg::sqlstate_error("42501"),
                        "role '" + role + "' lacks " + missing + " on public.mcp_sessions in " +
                            where + ": GRANT SELECT, INSERT, UPDATE, DELETE ON " +
                            "public.mcp_sessions TO \"" + role + "\"");
    if (c[4] != "t")
        co_return error(store_errc::invalid_record,
                        "public.mcp_sessions in " + where +
                            " has no unique index on session_id alone (@mcp-ts/sdk's table "
                            "declares session_id UNIQUE)");
    if (c[5] == "t")
        co_return error(pg::sqlstate_error("42501"),
                        "row-level security on public.mcp_sessions in " + where +
                            " would hide sessions from role '" + role +
                            "' (it neither owns the table nor has BYPASSRLS). Connect as the "
                            "table's owner (on Supabase: the postgres user of the database "
                            "connection string) or a role with BYPASSRLS");
    co_return result<void>();
}

awaitable<result<void>> postgres_store::create_session(json::object record,
                                                       std::optional<duration> ttl) {
    if (auto ok = validate_record(record); !ok)
        co_return ok.error();
    std::vector<pg::param> params{std::string(record_session_id(record)),
                                  std::string(record_identity(record))};
    json::object extra;
    for (auto const& f : mapped_fields) {
        auto const* v = record.if_contains(f.field);
        if (f.kind == column_kind::required_text && (!v || v->is_null()))
            co_return error(store_errc::invalid_record,
                            "field '" + std::string(f.field) +
                                "' is required by the PostgreSQL session table");
        auto c = v ? to_column(f, *v) : result<column_value>(column_value{});
        if (!c)
            co_return c.error();
        if (!c->exact)
            extra[f.field] = *v;
        params.push_back(std::move(c->value));
    }
    for (auto const& [key, value] : record)
        if (key != "identity" && key != "sessionId" && !find_mapped(key))
            extra[key] = value;
    params.emplace_back(extra.empty() ? pg::param() : pg::param(json::serialize(extra)));
    params.emplace_back(ttl_ms(ttl));
    auto r = co_await client_.query(insert_statement(), std::move(params), false);
    if (!r)
        co_return r.error();
    if (r->values.empty())
        co_return error(store_errc::session_exists, std::string(record_identity(record)) + ":" +
                                                        std::string(record_session_id(record)));
    co_return result<void>();
}

awaitable<result<void>> postgres_store::update_session(std::string identity, std::string session_id,
                                                       json::object partial,
                                                       std::optional<duration> ttl) {
    if (auto ok = validate_keys(identity, session_id); !ok)
        co_return ok.error();
    // The merge rules (keys cannot change, field types) checked on the partial alone.
    json::object probe{{"identity", identity}, {"sessionId", session_id}};
    if (auto ok = merge_into(probe, partial); !ok)
        co_return ok.error();

    // One UPDATE does the merge, so concurrent updates never lose each other's fields: each
    // field of the partial sets its column (null: NULL) or its key in mcpd_extra (null: the
    // key goes). A mapped field always drops its key from mcpd_extra (a stale exact copy).
    std::string sql = "UPDATE " + std::string(table) + " SET updated_at = now()";
    std::vector<pg::param> params{identity, session_id};
    json::array dropped;
    json::object set_extra;
    for (auto const& [key, value] : partial) {
        if (key == "identity" || key == "sessionId")
            continue;
        auto const* f = find_mapped(key);
        if (!f) {
            if (value.is_null())
                dropped.emplace_back(key);
            else
                set_extra[key] = value;
            continue;
        }
        dropped.emplace_back(key);
        if (value.is_null() &&
            (f->kind == column_kind::required_text || f->kind == column_kind::time_ms))
            co_return error(store_errc::invalid_record,
                            "field '" + std::string(key) +
                                "' cannot be removed: the PostgreSQL session table requires it");
        auto c = to_column(*f, value);
        if (!c)
            co_return c.error();
        if (!c->exact)
            set_extra[key] = value;
        if (f->kind == column_kind::time_ms && !c->value)
            continue; // no column form at all: created_at stays, mcpd_extra has the value
        params.push_back(std::move(c->value));
        sql += ", " + std::string(f->column) + " = " + value_expression(f->kind, params.size());
    }
    if (!dropped.empty() || !set_extra.empty()) {
        params.emplace_back(json::serialize(dropped));
        params.emplace_back(json::serialize(set_extra));
        sql += ", mcpd_extra = nullif((coalesce(mcpd_extra, '{}'::jsonb) - "
               "ARRAY(SELECT jsonb_array_elements_text(" +
               placeholder(params.size() - 1) + "::jsonb))) || " + placeholder(params.size()) +
               "::jsonb, '{}'::jsonb)";
    }
    if (ttl) { // without one, expires_at stays: the remaining time to live is kept
        params.emplace_back(ttl_ms(ttl));
        sql += ", expires_at = now() + " + placeholder(params.size()) +
               "::bigint * interval '1 millisecond'";
    }
    sql += " WHERE identity = $1 AND session_id = $2" + live_rows() + " RETURNING 1";
    auto r = co_await client_.query(std::move(sql), std::move(params), true);
    if (!r)
        co_return r.error();
    if (r->values.empty())
        co_return error(store_errc::session_not_found, identity + ":" + session_id);
    co_return result<void>();
}

awaitable<result<std::optional<json::object>>> postgres_store::get_session(std::string identity,
                                                                           std::string session_id) {
    if (auto ok = validate_keys(identity, session_id); !ok)
        co_return ok.error();
    std::vector<pg::param> params{identity, session_id};
    auto sql = "SELECT " + select_columns() + " FROM " + std::string(table) +
               " WHERE identity = $1 AND session_id = $2" + live_rows();
    auto r = co_await client_.query(std::move(sql), std::move(params), true);
    if (!r)
        co_return r.error();
    if (r->values.empty())
        co_return std::optional<json::object>();
    auto record = to_record(r->values.front());
    if (!record)
        co_return record.error();
    co_return std::optional<json::object>(std::move(*record));
}

awaitable<result<std::vector<session_record>>>
postgres_store::get_identity_sessions_data(std::string identity) {
    if (auto ok = validate_identity(identity); !ok)
        co_return ok.error();
    std::vector<pg::param> params{identity};
    auto sql = "SELECT " + select_columns() + " FROM " + std::string(table) +
               " WHERE identity = $1" + live_rows();
    auto r = co_await client_.query(std::move(sql), std::move(params), true);
    if (!r)
        co_return r.error();
    co_return to_records(*r);
}

awaitable<result<std::vector<std::string>>>
postgres_store::get_identity_session_ids(std::string identity) {
    if (auto ok = validate_identity(identity); !ok)
        co_return ok.error();
    std::vector<pg::param> params{identity};
    auto sql =
        "SELECT session_id FROM " + std::string(table) + " WHERE identity = $1" + live_rows();
    auto r = co_await client_.query(std::move(sql), std::move(params), true);
    if (!r)
        co_return r.error();
    std::vector<std::string> out;
    for (auto const& row : r->values)
        out.push_back(row[0].value_or(""));
    co_return out;
}

awaitable<result<void>> postgres_store::remove_session(std::string identity,
                                                       std::string session_id) {
    if (auto ok = validate_keys(identity, session_id); !ok)
        co_return ok.error();
    std::vector<pg::param> params{identity, session_id};
    auto sql = "DELETE FROM " + std::string(table) + " WHERE identity = $1 AND session_id = $2";
    auto r = co_await client_.query(std::move(sql), std::move(params), true);
    if (!r)
        co_return r.error();
    co_return result<void>();
}

awaitable<result<std::vector<std::string>>> postgres_store::get_all_session_ids() {
    auto sql =
        "SELECT identity, session_id FROM " + std::string(table) + " WHERE true" + live_rows();
    auto r = co_await client_.query(std::move(sql), no_params(), true);
    if (!r)
        co_return r.error();
    std::vector<std::string> out;
    out.reserve(r->values.size());
    for (auto const& row : r->values)
        out.push_back(row[0].value_or("") + ":" + row[1].value_or(""));
    std::sort(out.begin(), out.end()); // bytewise, as every backend sorts (not the collation)
    co_return out;
}

awaitable<result<void>> postgres_store::clear_all() {
    auto sql = "DELETE FROM " + std::string(table);
    auto r = co_await client_.query(std::move(sql), no_params(), true);
    if (!r)
        co_return r.error();
    co_return result<void>();
}

awaitable<result<std::size_t>> postgres_store::cleanup_expired_sessions() {
    auto sql = "DELETE FROM " + std::string(table) + " WHERE expires_at <= now()";
    auto r = co_await client_.query(std::move(sql), no_params(), true);
    if (!r)
        co_return r.error();
    co_return r->affected;
}

awaitable<result<void>> postgres_store::ping() {
    auto r = co_await client_.query("SELECT 1", no_params(), true);
    if (!r)
        co_return r.error();
    co_return result<void>();
}

awaitable<void> postgres_store::close() {
    co_await client_.close();
}

} // namespace mcpd::store
