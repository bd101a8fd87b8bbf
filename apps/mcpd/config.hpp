// apps/mcpd/config.hpp — the one configuration model of `mcpd serve`: every setting with its
// flag, environment variable(s), config-file key, default and validation, and where its
// effective value came from.
//
// Precedence: flags > environment > config file (--config) > defaults. A list setting takes
// its whole value from the highest source that sets it.
//
// The config file is lines of `key = value` (keys are the flag names without "--", e.g.
// `drain-timeout = 30s`), `#` starting a comment line, a value optionally in double quotes; a
// list repeats its key or separates values with commas. Why not JSON: every source is text
// (a flag, an env variable, a line), so one parser per setting gives a value the same meaning
// wherever it comes from, the file can carry comments, and a systemd EnvironmentFile or
// Kubernetes ConfigMap maps onto it line by line.
//
// Environment names are the ones the ecosystem already uses (PORT, REDIS_URL, REDIS_HOST,
// REDIS_PORT, REDIS_PASSWORD, REDIS_KEY_PREFIX, MCP_TS_STORAGE_*, STORAGE_ENCRYPTION_KEY,
// DATABASE_URL, SUPABASE_DB_URL) and MCPD_* for mcpd's own. Libraries that read the
// environment (storage selection, the Redis config) get the effective values through
// as_getenv(), so `redis-url` in the file works exactly like REDIS_URL.
//
// Every value is checked when the configuration is loaded: an invalid one is an error naming
// the setting, its source and the reason, before anything starts. Secrets (passwords, keys,
// credentials in URLs, query parameters and key=value connection strings) are masked when
// printed or quoted in an error (core/redact.hpp), and have no flags (a flag shows in `ps`).
#pragma once

#include "mcpd/core/error.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::app {

struct serve_args;
struct setting_value;

enum class setting_kind {
    text,     // any string
    boolean,  // true/false, 1/0, yes/no, on/off
    port,     // 0–65535
    size,     // bytes: an integer, or with KiB / MiB / GiB
    count,    // a whole number (positive: at least 1)
    duration, // core/duration.hpp: 250ms, 5s, 1min
    choice,   // one of `choices`
    list,     // strings (comma-separated in env and file)
    url,      // a URL; credentials in it are secret
    dsn,      // a PostgreSQL connection string: a URL or key=value pairs; its password is secret
    hex_key,  // 64 hex characters (a 256-bit key); secret
};

struct setting_def {
    std::string_view key;              // file key; the flag is --key (unless no_flag)
    std::vector<std::string_view> env; // environment names, the first one set wins
    std::string_view default_value;    // text, as a user would write it; "" = unset
    setting_kind kind = setting_kind::text;
    std::string_view help;
    std::vector<std::string_view> choices;
    bool secret = false;        // masked when printed
    bool no_flag = false;       // secrets: environment or file only
    std::string_view flag_name; // when the flag is not --key (e.g. --no-legacy-sse)
    bool flag_inverts = false;  // the flag sets the boolean to false
    bool positive = false;      // duration, size, count: must be more than zero
    char list_separator = ',';  // lists: between items in one environment value or file line
    // Where `mcpd serve` takes the checked value (serve_args_from); null: the libraries read it
    // through configuration::as_getenv() (storage and Redis settings).
    void (*apply)(serve_args&, setting_def const&, setting_value const&) = nullptr;
};

// Every setting of `mcpd serve`.
std::vector<setting_def> const& serve_settings();

enum class source { default_value, file, env, flag };

struct setting_value {
    std::vector<std::string> values; // one for scalars; the items for lists
    source from = source::default_value;
    std::string origin; // "default", "env PORT", "flag --port", "file /etc/mcpd.conf:3"
    [[nodiscard]] std::string const& text() const;
    [[nodiscard]] bool set() const noexcept { return !values.empty() && !values[0].empty(); }
};

class configuration {
public:
    // Adds a flag for each setting to `cmd` (and --config); call before parsing.
    void add_flags(CLI::App& cmd);

    // After parsing: merges flags, environment (`getenv`, default: the process's) and the
    // config file, then checks every value. `extra_flags` are flags given elsewhere (e.g. a
    // --log-level before the subcommand), as key → value.
    result<void> load(std::function<char const*(char const*)> getenv = nullptr,
                      std::map<std::string, std::string> const& extra_flags = {});

    [[nodiscard]] setting_value const& get(std::string_view key) const;
    [[nodiscard]] std::string const& text(std::string_view key) const { return get(key).text(); }
    [[nodiscard]] bool flag(std::string_view key) const;
    [[nodiscard]] std::vector<std::string> const& list(std::string_view key) const {
        return get(key).values;
    }

    // getenv for libraries: a setting's env names give its effective value (nullptr when
    // unset); other names are looked up in the real environment.
    [[nodiscard]] std::function<char const*(char const*)> as_getenv() const;

    // `key = value  # origin` for every setting (secrets masked): `mcpd config print`.
    [[nodiscard]] std::string print() const;

    // A value as it may be shown: secrets "***", URL credentials masked.
    [[nodiscard]] std::string shown(std::string_view key) const;

private:
    result<void> load_file(std::string const& path);
    result<void> check(setting_def const& def, setting_value& v) const;

    std::string config_path_;
    std::map<std::string, std::string, std::less<>> flag_text_;
    std::map<std::string, std::vector<std::string>, std::less<>> flag_lists_;
    std::map<std::string, bool, std::less<>> flag_bools_;
    std::map<std::string, CLI::Option*, std::less<>> options_;
    std::map<std::string, setting_value, std::less<>> values_;
    // Env name → effective text, for as_getenv() (stable addresses).
    std::map<std::string, std::string, std::less<>> env_view_;
};

} // namespace mcpd::app
