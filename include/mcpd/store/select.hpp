// store/select.hpp — which session store the environment asks for, as @mcp-ts/sdk decides it.
//
// MCP_TS_STORAGE_TYPE (redis | file | sqlite | postgres | supabase | memory) wins; otherwise the
// first variable present of REDIS_URL, MCP_TS_STORAGE_FILE, MCP_TS_STORAGE_SQLITE_PATH,
// SUPABASE_DB_URL / DATABASE_URL; otherwise the caller's default (memory for the library; mcpd's
// commands pass sqlite so sessions survive a restart). choose_store() is that decision alone
// (pure, testable); open_store() opens the choice: a Redis that cannot be reached falls back to
// memory with the reference's two log lines, unless storage is required (MCP_TS_STORAGE_REQUIRED=1
// or the caller says so), when it is an error. Every choice is logged once, with its reason.
// Whatever opens is wrapped in an encrypting_store keyed by STORAGE_ENCRYPTION_KEY.
#pragma once

#include "mcpd/store/secret_box.hpp"
#include "mcpd/store/session_store.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace mcpd::redis {
class client;
}

namespace mcpd::store {

enum class store_type { memory, redis, file, sqlite, postgres };
std::string_view to_string(store_type t) noexcept;

struct store_choice {
    store_type type = store_type::memory;
    std::string location; // URL or path (as given; log with a redacted form)
    std::string reason;   // "MCP_TS_STORAGE_TYPE=file", "REDIS_URL is set", "default", …
};

using getenv_fn = std::function<char const*(char const*)>;

// `default_type`: what to use when nothing is set. Errors: an unknown MCP_TS_STORAGE_TYPE (the
// message names the valid values); a type whose settings are missing (postgres without a URL;
// supabase with only SUPABASE_URL, which is the REST API: mcpd needs the database connection
// string, SUPABASE_DB_URL).
result<store_choice> choose_store(getenv_fn getenv, store_type default_type);

struct open_options {
    bool required = false; // refuse to fall back to memory (also MCP_TS_STORAGE_REQUIRED=1)
};

// The key STORAGE_ENCRYPTION_KEY gives (secret_box.hpp), or nullopt when it is unset or empty.
// Error: a malformed key (64 characters that are not hex).
result<std::optional<secret_box>> secret_box_from_env(getenv_fn getenv);

// What open_store() opened: the store, and the Redis client under it when the backend is Redis
// (readiness checks, connection metrics and the gateway's pub/sub use the same connection
// settings; the client lives as long as both the store and this pointer).
struct opened_store {
    std::unique_ptr<session_store> store;
    std::shared_ptr<redis::client> redis;
};

// Opens the chosen store, wrapped in an encrypting_store: with STORAGE_ENCRYPTION_KEY set,
// secrets are sealed at rest on every backend (a malformed key is an error, before any backend
// is opened); without it they are stored in plain text, and a warning says so once per process.
// `getenv` also supplies REDIS_* settings (TLS and so on).
boost::asio::awaitable<result<opened_store>> open_store(boost::asio::any_io_executor ex,
                                                        store_choice choice, open_options opts,
                                                        getenv_fn getenv);

} // namespace mcpd::store
