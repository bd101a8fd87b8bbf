// store/sqlite_store.cpp — the SQLite backend: statements, transactions, and the error category.
#include "store/sqlite_store.hpp"

#include "core/error_category.hpp"
#include "mcpd/store/error.hpp"
#include "mcpd/store/session.hpp"

#include <boost/json/serialize.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <fcntl.h>
#include <unistd.h>

namespace mcpd::store {

namespace json = boost::json;
using boost::asio::awaitable;

namespace {

std::string sqlite_message(int ev) {
    return sqlite3_errstr(ev);
}

error sqlite_error(sqlite3* db, int rc, std::string_view doing) {
    std::string detail(doing);
    if (db)
        detail += std::string(": ") + sqlite3_errmsg(db);
    return error(boost::system::error_code(rc, sqlite_category()), std::move(detail));
}

// One prepared statement; finalized when it goes out of scope.
class statement {
public:
    statement(sqlite3* db, char const* sql)
        : db_(db) {
        rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
    }
    ~statement() { sqlite3_finalize(stmt_); }
    statement(statement const&) = delete;
    statement& operator=(statement const&) = delete;

    [[nodiscard]] bool ok() const noexcept { return rc_ == SQLITE_OK; }
    statement& bind(int i, std::string_view text) {
        sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
        return *this;
    }
    statement& bind(int i, std::int64_t v) {
        sqlite3_bind_int64(stmt_, i, v);
        return *this;
    }
    statement& bind(int i, std::optional<std::int64_t> v) {
        if (v)
            sqlite3_bind_int64(stmt_, i, *v);
        else
            sqlite3_bind_null(stmt_, i);
        return *this;
    }
    int step() { return rc_ = sqlite3_step(stmt_); }
    [[nodiscard]] std::string_view text(int col) const {
        auto const* p = reinterpret_cast<char const*>(sqlite3_column_text(stmt_, col));
        return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
                 : std::string_view();
    }
    [[nodiscard]] std::optional<std::int64_t> int64(int col) const {
        if (sqlite3_column_type(stmt_, col) == SQLITE_NULL)
            return std::nullopt;
        return sqlite3_column_int64(stmt_, col);
    }
    [[nodiscard]] error failure(std::string_view doing) const {
        return sqlite_error(db_, rc_, doing);
    }

private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
    int rc_;
};

result<void> exec_sql(sqlite3* db, char const* sql) {
    char* msg = nullptr;
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, &msg);
    if (rc == SQLITE_OK)
        return {};
    std::string detail = std::string(sql) + ": " + (msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return error(boost::system::error_code(rc, sqlite_category()), std::move(detail));
}

// A BEGIN IMMEDIATE transaction, rolled back unless committed.
class transaction {
public:
    explicit transaction(sqlite3* db)
        : db_(db) {
        begun_ = exec_sql(db, "BEGIN IMMEDIATE");
    }
    ~transaction() {
        if (begun_ && !done_)
            exec_sql(db_, "ROLLBACK");
    }
    transaction(transaction const&) = delete;
    transaction& operator=(transaction const&) = delete;
    [[nodiscard]] result<void> const& begun() const noexcept { return begun_; }
    result<void> commit() {
        done_ = true;
        return exec_sql(db_, "COMMIT");
    }

private:
    sqlite3* db_;
    result<void> begun_;
    bool done_ = false;
};

// Every read sees live rows only: expiresAt NULL (never expires, as Node writes) or later than
// the bound "now".
#define MCPD_LIVE "(expiresAt IS NULL OR expiresAt > ?)"
constexpr char const* select_one =
    "SELECT data FROM mcp_sessions WHERE sessionId = ? AND identity = ? AND " MCPD_LIVE;
constexpr char const* select_identity_data =
    "SELECT data FROM mcp_sessions WHERE identity = ? AND " MCPD_LIVE;
constexpr char const* select_identity_ids =
    "SELECT sessionId FROM mcp_sessions WHERE identity = ? AND " MCPD_LIVE;
constexpr char const* select_all_ids =
    "SELECT identity, sessionId FROM mcp_sessions WHERE " MCPD_LIVE;
#undef MCPD_LIVE

std::optional<std::int64_t> expiry(std::optional<duration> ttl) {
    return unix_time_ms() + ttl.value_or(default_session_ttl).count();
}

} // namespace

boost::system::error_category const& sqlite_category() noexcept {
    static auto const& c = declare_category("mcpd.sqlite", sqlite_message);
    return c;
}

sqlite_store::sqlite_store(std::string path)
    : path_(std::move(path)) {}

sqlite_store::~sqlite_store() {
    pool_.join();
    if (db_)
        sqlite3_close_v2(db_);
}

awaitable<result<std::unique_ptr<sqlite_store>>> sqlite_store::open(std::string path) {
    std::unique_ptr<sqlite_store> s(new sqlite_store(std::move(path)));
    auto* raw = s.get();
    auto work = [raw]() -> result<void> {
        // Created 0600 before SQLite opens it: it will hold OAuth tokens.
        int fd = ::open(raw->path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return error(boost::system::error_code(errno, boost::system::system_category()),
                         "open " + raw->path_);
        ::close(fd);
        int rc = sqlite3_open_v2(raw->path_.c_str(), &raw->db_,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr);
        if (rc != SQLITE_OK)
            return sqlite_error(raw->db_, rc, "open " + raw->path_);
        sqlite3_busy_timeout(raw->db_, 5000); // other processes on the same file
        for (char const* sql :
             {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
              "CREATE TABLE IF NOT EXISTS mcp_sessions (sessionId TEXT PRIMARY KEY, identity TEXT "
              "NOT NULL, data TEXT NOT NULL, expiresAt INTEGER)",
              "CREATE INDEX IF NOT EXISTS idx_mcp_sessions_identity ON mcp_sessions(identity)"}) {
            if (auto r = exec_sql(raw->db_, sql); !r) {
                r.error().detail = raw->path_ + ": " + r.error().detail;
                return r;
            }
        }
        return {};
    };
    auto opened = co_await raw->pool_.run(std::move(work));
    if (!opened)
        co_return opened.error();
    co_return std::move(s);
}

awaitable<result<void>> sqlite_store::create_session(json::object record,
                                                     std::optional<duration> ttl) {
    if (auto ok = validate_record(record); !ok)
        co_return ok.error();
    // Named: a temporary inside co_await may be destroyed twice by GCC 12.
    auto work = [this, record = std::move(record), ttl]() -> result<void> {
        auto id = record_session_id(record);
        auto now = unix_time_ms();
        transaction tx(db_);
        if (!tx.begun())
            return tx.begun();
        // An expired row with the same id does not block a new session.
        statement purge(db_, "DELETE FROM mcp_sessions WHERE sessionId = ? AND expiresAt IS NOT "
                             "NULL AND expiresAt <= ?");
        purge.bind(1, id).bind(2, now);
        if (purge.step() != SQLITE_DONE)
            return purge.failure("create");
        statement insert(db_, "INSERT INTO mcp_sessions (sessionId, identity, data, expiresAt) "
                              "VALUES (?, ?, ?, ?)");
        insert.bind(1, id).bind(2, record_identity(record)).bind(3, json::serialize(record));
        insert.bind(4, expiry(ttl));
        int rc = insert.step();
        if ((rc & 0xFF) == SQLITE_CONSTRAINT)
            return error(store_errc::session_exists,
                         std::string(record_identity(record)) + ":" + std::string(id));
        if (rc != SQLITE_DONE)
            return insert.failure("create");
        return tx.commit();
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<result<void>> sqlite_store::update_session(std::string identity, std::string session_id,
                                                     json::object partial,
                                                     std::optional<duration> ttl) {
    if (auto ok = validate_keys(identity, session_id); !ok)
        co_return ok.error();
    // Named: a temporary inside co_await may be destroyed twice by GCC 12.
    auto work = [&, partial = std::move(partial)]() -> result<void> {
        transaction tx(db_);
        if (!tx.begun())
            return tx.begun();
        statement read(db_, select_one);
        read.bind(1, session_id).bind(2, identity).bind(3, unix_time_ms());
        int rc = read.step();
        if (rc == SQLITE_DONE)
            return error(store_errc::session_not_found, identity + ":" + session_id);
        if (rc != SQLITE_ROW)
            return read.failure("update");
        auto record = parse_record(read.text(0));
        if (!record)
            return record.error();
        if (auto ok = merge_into(*record, partial); !ok)
            return ok;
        // Without a TTL the row keeps its expiresAt (the remaining time to live).
        std::string data = json::serialize(*record);
        if (ttl) {
            statement write(db_, "UPDATE mcp_sessions SET data = ?, expiresAt = ? WHERE "
                                 "sessionId = ?");
            write.bind(1, data).bind(2, expiry(ttl)).bind(3, session_id);
            if (write.step() != SQLITE_DONE)
                return write.failure("update");
        } else {
            statement write(db_, "UPDATE mcp_sessions SET data = ? WHERE sessionId = ?");
            write.bind(1, data).bind(2, session_id);
            if (write.step() != SQLITE_DONE)
                return write.failure("update");
        }
        return tx.commit();
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<result<std::optional<json::object>>> sqlite_store::get_session(std::string identity,
                                                                         std::string session_id) {
    if (auto ok = validate_keys(identity, session_id); !ok)
        co_return ok.error();
    // Named: a temporary inside co_await may be destroyed twice by GCC 12.
    auto work = [&]() -> result<std::optional<json::object>> {
        statement read(db_, select_one);
        read.bind(1, session_id).bind(2, identity).bind(3, unix_time_ms());
        int rc = read.step();
        if (rc == SQLITE_DONE)
            return std::optional<json::object>();
        if (rc != SQLITE_ROW)
            return read.failure("get");
        auto record = parse_record(read.text(0));
        if (!record)
            return record.error();
        return std::optional<json::object>(std::move(*record));
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<result<std::vector<session_record>>>
sqlite_store::get_identity_sessions_data(std::string identity) {
    if (auto ok = validate_identity(identity); !ok)
        co_return ok.error();
    // Named: a temporary inside co_await may be destroyed twice by GCC 12.
    auto work = [&]() -> result<std::vector<session_record>> {
        statement read(db_, select_identity_data);
        read.bind(1, identity).bind(2, unix_time_ms());
        std::vector<session_record> out;
        int rc;
        while ((rc = read.step()) == SQLITE_ROW) {
            auto record = session_record::parse(read.text(0));
            if (!record)
                return record.error();
            out.push_back(std::move(*record));
        }
        if (rc != SQLITE_DONE)
            return read.failure("list");
        return out;
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<result<std::vector<std::string>>>
sqlite_store::get_identity_session_ids(std::string identity) {
    if (auto ok = validate_identity(identity); !ok)
        co_return ok.error();
    // Named: a temporary inside co_await may be destroyed twice by GCC 12.
    auto work = [&]() -> result<std::vector<std::string>> {
        statement read(db_, select_identity_ids);
        read.bind(1, identity).bind(2, unix_time_ms());
        std::vector<std::string> out;
        int rc;
        while ((rc = read.step()) == SQLITE_ROW)
            out.emplace_back(read.text(0));
        if (rc != SQLITE_DONE)
            return read.failure("list");
        return out;
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<result<void>> sqlite_store::remove_session(std::string identity, std::string session_id) {
    if (auto ok = validate_keys(identity, session_id); !ok)
        co_return ok.error();
    // Named: a temporary inside co_await may be destroyed twice by GCC 12.
    auto work = [&]() -> result<void> {
        statement del(db_, "DELETE FROM mcp_sessions WHERE sessionId = ? AND identity = ?");
        del.bind(1, session_id).bind(2, identity);
        if (del.step() != SQLITE_DONE)
            return del.failure("remove");
        return {};
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<result<std::vector<std::string>>> sqlite_store::get_all_session_ids() {
    // Named: a temporary inside co_await may be destroyed twice by GCC 12.
    auto work = [&]() -> result<std::vector<std::string>> {
        statement read(db_, select_all_ids);
        read.bind(1, unix_time_ms());
        std::vector<std::string> out;
        int rc;
        while ((rc = read.step()) == SQLITE_ROW)
            out.push_back(std::string(read.text(0)) + ":" + std::string(read.text(1)));
        if (rc != SQLITE_DONE)
            return read.failure("list all");
        std::sort(out.begin(), out.end());
        return out;
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<result<void>> sqlite_store::clear_all() {
    // Named: a temporary inside co_await may be destroyed twice by GCC 12.
    auto work = [&]() { return exec_sql(db_, "DELETE FROM mcp_sessions"); };
    co_return co_await pool_.run(std::move(work));
}

awaitable<result<std::size_t>> sqlite_store::cleanup_expired_sessions() {
    // Named: a temporary inside co_await may be destroyed twice by GCC 12.
    auto work = [&]() -> result<std::size_t> {
        statement del(db_,
                      "DELETE FROM mcp_sessions WHERE expiresAt IS NOT NULL AND expiresAt <= ?");
        del.bind(1, unix_time_ms());
        if (del.step() != SQLITE_DONE)
            return del.failure("cleanup");
        return static_cast<std::size_t>(sqlite3_changes(db_));
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<result<void>> sqlite_store::ping() {
    // Named: a temporary inside co_await may be destroyed twice by GCC 12.
    auto work = [&]() -> result<void> {
        statement one(db_, "SELECT 1");
        if (one.step() != SQLITE_ROW)
            return one.failure("ping");
        return {};
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<void> sqlite_store::close() {
    auto work = [&] {
        if (db_)
            sqlite3_close_v2(db_);
        db_ = nullptr;
    };
    co_await pool_.run(std::move(work));
}

} // namespace mcpd::store
