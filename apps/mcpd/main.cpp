// apps/mcpd/main.cpp — the mcpd daemon and admin CLI: which subcommand runs, with which flags.
//
// Each subcommand is declared by one function below (its flags, and what runs it once the
// command line is parsed) and done by its own file:
//   mcpd serve            serve.cpp: the MCP server over HTTP or stdio (settings: config.hpp)
//   mcpd config print     config.cpp: the effective settings and where each came from
//   mcpd health           health_cmd.cpp: a running server's readiness
//   mcpd redis ping       redis_cmd.cpp: a round trip through the Redis client
//   mcpd sessions …       sessions_cmd.cpp: the session store the environment selects
//   mcpd gateway token    a per-identity /gateway token (gateway/token.hpp)
// A flag is accepted wherever a person types it: `mcpd sessions get ID SID --json` hands
// `--json`, which `get` does not know, to `sessions` (CLI11's fallthrough).
#include "config.hpp"
#include "health_cmd.hpp"
#include "redis_cmd.hpp"
#include "serve.hpp"
#include "sessions_cmd.hpp"

#include "core/log.hpp"
#include "mcpd/core/duration.hpp"
#include "mcpd/gateway/token.hpp"
#include "mcpd/store/session.hpp"
#include "mcpd/version.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <functional>
#include <memory>

using namespace mcpd;

namespace {

// What runs a parsed subcommand; its exit status.
using runner = std::function<int()>;
struct command {
    CLI::App* sub;
    runner run;
};

// --log-level before the subcommand: every command's log level (serve's own setting wins).
struct global_options {
    std::string log_level = "warn";
    CLI::Option* log_level_flag = nullptr;
    [[nodiscard]] bool log_level_given() const { return log_level_flag->count() > 0; }
};

bool set_log_level(std::string const& name) {
    log::level lvl{};
    if (!log::parse_level(name, lvl)) {
        std::fprintf(stderr, "mcpd: --log-level: unknown level '%s'\n", name.c_str());
        return false;
    }
    log::set_level(lvl);
    return true;
}

// A duration flag's value, or a message on stderr and nullopt.
std::optional<duration> positive_duration(char const* what, std::string const& text) {
    auto d = parse_duration(text);
    if (!d || d->count() <= 0) {
        std::fprintf(stderr, "mcpd %s: %s\n", what,
                     d ? "must be more than zero" : d.error().message().c_str());
        return std::nullopt;
    }
    return *d;
}

// Loads a subcommand's configuration (its flags, the environment, --config); false after saying
// why on stderr.
bool load(app::configuration& cfg, global_options const& g) {
    std::map<std::string, std::string> extra;
    if (g.log_level_given())
        extra["log-level"] = g.log_level;
    if (auto r = cfg.load(nullptr, extra); !r) {
        std::fprintf(stderr, "mcpd: %s\n", r.error().detail.c_str());
        return false;
    }
    return true;
}

command serve_command(CLI::App& app, global_options const& g) {
    auto* sub = app.add_subcommand("serve", "Serve MCP over Streamable HTTP (and legacy HTTP+SSE) "
                                            "or stdio, with /health, /ready and /metrics");
    auto cfg = std::make_shared<app::configuration>();
    cfg->add_flags(*sub);
    return {sub, [cfg, &g] {
                // Every setting is checked before anything starts: nothing runs half-configured.
                if (!load(*cfg, g))
                    return 2;
                auto args = app::serve_args_from(*cfg);
                set_log_level(args.log_level);
                if (args.log_format != "auto")
                    log::set_json(args.log_format == "json");
                return app::run_serve(args);
            }};
}

command config_command(CLI::App& app, global_options const& g) {
    auto* sub = app.add_subcommand("config", "mcpd serve's configuration");
    sub->require_subcommand(1);
    auto* print = sub->add_subcommand("print", "the effective settings (secrets masked) and where "
                                               "each came from; takes serve's flags and --config");
    auto cfg = std::make_shared<app::configuration>();
    cfg->add_flags(*print);
    return {sub, [cfg, &g] {
                if (!load(*cfg, g))
                    return 2;
                std::fputs(cfg->print().c_str(), stdout);
                return 0;
            }};
}

command gateway_command(CLI::App& app, global_options const& g) {
    auto* sub = app.add_subcommand("gateway", "the MCP client gateway (/gateway)");
    sub->require_subcommand(1);
    auto* token = sub->add_subcommand(
        "token", "print a per-identity /gateway token (for the app backend to hand to a browser), "
                 "signed with gateway-secret (MCPD_GATEWAY_SECRET or --config)");
    struct state {
        app::configuration cfg;
        std::string identity;
        std::string ttl = "1h";
    };
    auto st = std::make_shared<state>();
    st->cfg.add_flags(*token);
    token->add_option("--identity", st->identity, "the identity it acts as")->required();
    token->add_option("--ttl", st->ttl, "valid this long (default 1h)");
    return {sub, [st, &g] {
                if (!load(st->cfg, g))
                    return 2;
                auto secret = app::serve_args_from(st->cfg).gateway.secret;
                if (secret.empty()) {
                    std::fprintf(stderr, "mcpd gateway token: gateway-secret is not set (set "
                                         "MCPD_GATEWAY_SECRET, or gateway-secret in --config)\n");
                    return 2;
                }
                auto ttl = positive_duration("gateway token: --ttl", st->ttl);
                if (!ttl)
                    return 2;
                if (st->identity.empty() || store::is_reserved_identity(st->identity)) {
                    std::fprintf(stderr, "mcpd gateway token: --identity must not be empty nor "
                                         "start with \"mcpd:\" (reserved)\n");
                    return 2;
                }
                auto seconds = std::chrono::duration_cast<std::chrono::seconds>(*ttl).count();
                auto expiry = unix_time_ms() / 1000 + std::max<std::int64_t>(1, seconds);
                std::printf("%s\n",
                            gateway::mint_identity_token(secret, st->identity, expiry).c_str());
                return 0;
            }};
}

command health_command(CLI::App& app) {
    auto* sub = app.add_subcommand(
        "health", "a running mcpd's readiness (/ready), for people and scripts; exit 0 ok, 1 "
                  "degraded, 2 not ready or draining, 3 no answer");
    struct state {
        app::health_args args;
        std::string timeout = "3s";
    };
    auto st = std::make_shared<state>();
    sub->add_option("--url", st->args.url,
                    "the server (http://host:port) or its /ready URL (default: "
                    "http://127.0.0.1:$PORT, port 3000 without PORT)");
    sub->add_option("--timeout", st->timeout, "give up after this long (default 3s)");
    sub->add_flag("--json", st->args.json, "print /ready's JSON as it came");
    return {sub, [st] {
                auto timeout = positive_duration("health: --timeout", st->timeout);
                if (!timeout)
                    return 3;
                st->args.timeout = *timeout;
                if (st->args.url.empty()) {
                    char const* port = std::getenv("PORT");
                    st->args.url =
                        std::string("http://127.0.0.1:") + (port && *port ? port : "3000");
                }
                return app::run_health(st->args);
            }};
}

command redis_command(CLI::App& app, global_options const& g) {
    auto* sub = app.add_subcommand("redis", "Redis client tools");
    sub->require_subcommand(1);
    auto* ping = sub->add_subcommand("ping", "Round trip to Redis: PING, SET, GET, DEL");
    struct state {
        app::redis_ping_args args;
        std::string wait = "0ms";
    };
    auto st = std::make_shared<state>();
    ping->add_option("--url", st->args.url,
                     "redis://, rediss:// or unix:// URL (default: REDIS_URL etc.)");
    ping->add_option("--wait", st->wait, "keep trying this long for Redis to come up (e.g. 5s)");
    return {sub, [st, &g] {
                // The connection warnings while it waits for Redis to come up are expected:
                // quiet unless asked for; the command reports failures itself.
                if (!set_log_level(g.log_level_given() ? g.log_level : "error"))
                    return 2;
                auto wait = parse_duration(st->wait);
                if (!wait) {
                    std::fprintf(stderr, "mcpd: --wait: %s\n", wait.error().message().c_str());
                    return 2;
                }
                st->args.wait = *wait;
                return app::run_redis_ping(st->args);
            }};
}

command sessions_command(CLI::App& app, global_options const& g) {
    auto* sub = app.add_subcommand(
        "sessions", "Session storage (selected like @mcp-ts/sdk: MCP_TS_STORAGE_TYPE, REDIS_URL, "
                    "MCP_TS_STORAGE_FILE, MCP_TS_STORAGE_SQLITE_PATH, SUPABASE_DB_URL or "
                    "DATABASE_URL; default ./sessions.db)");
    sub->require_subcommand(1);
    auto a = std::make_shared<app::sessions_args>();
    sub->add_flag("--json", a->json, "JSON output");
    sub->add_flag("--show-secrets", a->show_secrets, "print tokens, headers, client secrets");
    sub->add_flag("--storage-required", a->required,
                  "fail instead of falling back to memory when Redis is unreachable");
    sub->add_subcommand("list", "every session (identity:sessionId), or one identity's sessions")
        ->add_option("--identity", a->identity, "only this identity's sessions");
    for (auto [name, help] :
         {std::pair{"get", "one session's record"}, std::pair{"rm", "remove one session"}}) {
        auto* one = sub->add_subcommand(name, help);
        one->add_option("identity", a->identity)->required();
        one->add_option("session_id", a->session_id)->required();
    }
    sub->add_subcommand("clear", "remove every session");
    sub->add_subcommand("cleanup", "remove expired sessions");
    return {sub, [sub, a, &g] {
                if (!set_log_level(g.log_level))
                    return 2;
                for (auto* chosen : sub->get_subcommands())
                    a->action = chosen->get_name();
                return app::run_sessions(*a);
            }};
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"mcpd: a Model Context Protocol runtime whose state survives restarts"};
    app.set_version_flag("--version", std::string("mcpd ") + mcpd::version);
    app.require_subcommand(1);
    // Subcommands made from here on hand a flag they do not know to their parent.
    app.fallthrough();
    global_options g;
    g.log_level_flag =
        app.add_option("--log-level", g.log_level, "trace, debug, info, warn, error, off");

    command const commands[] = {
        serve_command(app, g), config_command(app, g),   health_command(app),
        redis_command(app, g), sessions_command(app, g), gateway_command(app, g),
    };
    CLI11_PARSE(app, argc, argv);
    for (auto const& c : commands)
        if (c.sub->parsed())
            return c.run();
    return 0;
}
