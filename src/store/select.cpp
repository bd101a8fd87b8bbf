// store/select.cpp — backend selection from the environment and opening the choice.
#include "mcpd/store/select.hpp"

#include "core/log.hpp"
#include "mcpd/redis/client.hpp"
#include "mcpd/redis/config.hpp"
#include "mcpd/store/memory_store.hpp"
#include "store/encrypting_store.hpp"
#include "store/file_store.hpp"
#include "store/postgres_store.hpp"
#include "store/redis_store.hpp"
#include "store/sqlite_store.hpp"

#include <boost/system/errc.hpp>

#include <atomic>

namespace mcpd::store {

namespace {

std::string env(getenv_fn const& getenv, char const* name) {
    char const* v = getenv(name);
    return v ? std::string(v) : std::string();
}

error invalid(std::string what) {
    return error(make_error_code(boost::system::errc::invalid_argument), std::move(what));
}

constexpr char const* default_file = "./sessions.json";
constexpr char const* default_sqlite = "./sessions.db";

result<store_choice> postgres_choice(getenv_fn const& getenv, std::string const& reason) {
    for (char const* name : {"SUPABASE_DB_URL", "DATABASE_URL"})
        if (auto url = env(getenv, name); !url.empty())
            return store_choice{store_type::postgres, url, reason + ", " + name + " is set"};
    if (!env(getenv, "SUPABASE_URL").empty())
        return invalid("SUPABASE_URL is the Supabase REST API; mcpd connects to the database "
                       "itself and needs its connection string in SUPABASE_DB_URL (Supabase "
                       "dashboard: Project Settings → Database → Connection string, or the "
                       "Connect button; the URI form, postgresql://postgres:<password>@db."
                       "<project>.supabase.co:5432/postgres)");
    return invalid(reason + " needs SUPABASE_DB_URL or DATABASE_URL");
}

getenv_fn or_process_env(getenv_fn getenv) {
    if (getenv)
        return getenv;
    return [](char const* n) { return std::getenv(n); };
}

// Opens Redis, or falls back to memory (unless required) when it cannot be reached.
boost::asio::awaitable<result<opened_store>> open_redis(boost::asio::any_io_executor ex,
                                                        store_choice const& choice, bool required,
                                                        getenv_fn const& getenv) {
    redis::config base;
    base.connect_timeout = std::chrono::seconds(5);
    base.command_timeout = std::chrono::seconds(5);
    auto cfg = choice.location.empty() ? redis::config_from_env(base, getenv)
                                       : redis::config_from_url(choice.location, base);
    if (!cfg)
        co_return cfg.error();
    // A probe that gives up at the first failed connection: an unreachable Redis is reported at
    // once instead of after a command timeout. The store's own client then reconnects forever,
    // as a long-running server wants.
    auto probe_cfg = *cfg;
    probe_cfg.reconnect = [](std::uint32_t, error const&) { return std::optional<duration>(); };
    redis::client probe(ex, probe_cfg);
    auto ping = co_await probe.exec(redis::command("PING"));
    probe.disconnect();
    if (ping) {
        log::info("[mcpd][Storage] Using Redis storage at {} ({})", cfg->redacted_url(),
                  choice.reason);
        cfg->key_prefix.clear(); // the layout is @mcp-ts/sdk's, without a prefix
        auto client = std::make_shared<redis::client>(ex, *cfg);
        co_return opened_store{std::make_unique<redis_store>(client), client};
    }
    log::error("[mcpd][Storage] Failed to initialize Redis: {}", ping.error().message());
    if (required)
        co_return error(ping.error().code,
                        "storage is required (MCP_TS_STORAGE_REQUIRED) and Redis at " +
                            cfg->redacted_url() + " cannot be reached: " + ping.error().detail);
    log::warn("[mcpd][Storage] Falling back to In-Memory storage");
    co_return opened_store{std::make_unique<memory_store>(), nullptr};
}

} // namespace

std::string_view to_string(store_type t) noexcept {
    switch (t) {
    case store_type::memory:
        return "memory";
    case store_type::redis:
        return "redis";
    case store_type::file:
        return "file";
    case store_type::sqlite:
        return "sqlite";
    case store_type::postgres:
        return "postgres";
    }
    return "unknown";
}

result<store_choice> choose_store(getenv_fn getenv, store_type default_type) {
    getenv = or_process_env(std::move(getenv));
    auto file = env(getenv, "MCP_TS_STORAGE_FILE");
    auto sqlite = env(getenv, "MCP_TS_STORAGE_SQLITE_PATH");
    auto redis_url = env(getenv, "REDIS_URL");

    if (auto type = env(getenv, "MCP_TS_STORAGE_TYPE"); !type.empty()) {
        std::string reason = "MCP_TS_STORAGE_TYPE=" + type;
        if (type == "memory")
            return store_choice{store_type::memory, {}, reason};
        if (type == "redis")
            return store_choice{store_type::redis, redis_url, reason};
        if (type == "file")
            return store_choice{store_type::file, file.empty() ? default_file : file, reason};
        if (type == "sqlite")
            return store_choice{store_type::sqlite, sqlite.empty() ? default_sqlite : sqlite,
                                reason};
        if (type == "postgres" || type == "supabase")
            return postgres_choice(getenv, reason);
        return invalid("MCP_TS_STORAGE_TYPE='" + type +
                       "' is not one of redis, file, sqlite, postgres, supabase, memory");
    }
    if (!redis_url.empty())
        return store_choice{store_type::redis, redis_url, "REDIS_URL is set"};
    // REDIS_URL's counterparts for Sentinel and Cluster.
    if (!env(getenv, "REDIS_SENTINELS").empty())
        return store_choice{store_type::redis, {}, "REDIS_SENTINELS is set"};
    if (!env(getenv, "REDIS_CLUSTER_NODES").empty())
        return store_choice{store_type::redis, {}, "REDIS_CLUSTER_NODES is set"};
    if (!file.empty())
        return store_choice{store_type::file, file, "MCP_TS_STORAGE_FILE is set"};
    if (!sqlite.empty())
        return store_choice{store_type::sqlite, sqlite, "MCP_TS_STORAGE_SQLITE_PATH is set"};
    if (!env(getenv, "SUPABASE_DB_URL").empty() || !env(getenv, "DATABASE_URL").empty() ||
        !env(getenv, "SUPABASE_URL").empty())
        return postgres_choice(getenv, "auto-detected");
    switch (default_type) {
    case store_type::file:
        return store_choice{store_type::file, default_file, "default"};
    case store_type::sqlite:
        return store_choice{store_type::sqlite, default_sqlite, "default"};
    default:
        return store_choice{store_type::memory, {}, "default"};
    }
}

namespace {

// The backend itself, before encrypting_store wraps it.
boost::asio::awaitable<result<opened_store>> open_backend(boost::asio::any_io_executor ex,
                                                          store_choice const& choice, bool required,
                                                          getenv_fn const& getenv) {
    auto without_redis = [](std::unique_ptr<session_store> s) {
        return opened_store{std::move(s), {}};
    };
    switch (choice.type) {
    case store_type::memory:
        log::info("[mcpd][Storage] Using in-memory storage ({}); sessions do not survive a restart",
                  choice.reason);
        co_return without_redis(std::make_unique<memory_store>());
    case store_type::file: {
        auto s = co_await file_store::open(choice.location);
        if (!s)
            co_return s.error();
        log::info("[mcpd][Storage] Using file storage at {} ({})", choice.location, choice.reason);
        co_return without_redis(std::move(*s));
    }
    case store_type::sqlite: {
        auto s = co_await sqlite_store::open(choice.location);
        if (!s)
            co_return s.error();
        log::info("[mcpd][Storage] Using SQLite storage at {} ({})", choice.location,
                  choice.reason);
        co_return without_redis(std::move(*s));
    }
    case store_type::redis:
        co_return co_await open_redis(ex, choice, required, getenv);
    case store_type::postgres: {
        // No fallback: whoever points mcpd at a database wants their sessions there.
        auto s = co_await postgres_store::open(ex, choice.location);
        if (!s)
            co_return s.error();
        log::info("[mcpd][Storage] Using PostgreSQL storage at {} ({})", (*s)->description(),
                  choice.reason);
        co_return without_redis(std::move(*s));
    }
    }
    co_return invalid("unknown store type");
}

// Said once per process, however many stores it opens.
void warn_plain_text_once() {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true))
        log::warn("[mcpd][Storage] STORAGE_ENCRYPTION_KEY is not set: session headers, tokens "
                  "and clientInformation are stored in plain text");
}

} // namespace

result<std::optional<secret_box>> secret_box_from_env(getenv_fn getenv) {
    getenv = or_process_env(std::move(getenv));
    auto key = env(getenv, "STORAGE_ENCRYPTION_KEY");
    if (key.empty()) // as @mcp-ts/sdk: empty is unset
        return std::optional<secret_box>();
    auto box = secret_box::from_key_text(key);
    if (!box)
        return box.error();
    return std::optional<secret_box>(std::move(*box));
}

boost::asio::awaitable<result<opened_store>> open_store(boost::asio::any_io_executor ex,
                                                        store_choice choice, open_options opts,
                                                        getenv_fn getenv) {
    getenv = or_process_env(std::move(getenv));
    auto required_env = env(getenv, "MCP_TS_STORAGE_REQUIRED");
    bool required = opts.required || required_env == "1" || required_env == "true";
    // The key first: a malformed one stops everything before a backend is touched.
    auto box = secret_box_from_env(getenv);
    if (!box)
        co_return box.error();
    auto backend = co_await open_backend(ex, choice, required, getenv);
    if (!backend)
        co_return backend.error();
    if (*box)
        log::info("[mcpd][Storage] Secrets at rest are encrypted (STORAGE_ENCRYPTION_KEY, "
                  "AES-256-GCM)");
    else
        warn_plain_text_once();
    // On PostgreSQL, seal what @mcp-ts/sdk's Supabase backend seals (headers, tokens): it
    // reads client_information as plain JSON, and a Node app shares that table with us.
    std::span<std::string_view const> sealed = secret_fields;
    if (choice.type == store_type::postgres)
        sealed = supabase_secret_fields;
    backend->store =
        std::make_unique<encrypting_store>(std::move(backend->store), std::move(*box), sealed);
    co_return std::move(*backend);
}

} // namespace mcpd::store
