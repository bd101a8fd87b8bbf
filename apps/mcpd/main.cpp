// apps/mcpd/main.cpp — the mcpd daemon and admin CLI.
//
// `mcpd serve` (serve.cpp: the MCP server over HTTP or stdio; its settings in config.hpp),
// `mcpd config print` (the effective settings and where each came from), `mcpd health` (a
// running server's readiness, health_cmd.hpp), `mcpd --version`, `mcpd redis ping` (a round
// trip through the Redis client: PING, SET, GET, DEL, with the latency) and `mcpd sessions …`
// (the session store the environment selects; SQLite ./sessions.db by default, as `mcpd serve`
// uses).
#include "config.hpp"
#include "health_cmd.hpp"
#include "serve.hpp"

#include "core/duration.hpp"
#include "core/log.hpp"
#include "core/random.hpp"
#include "gateway/token.hpp"
#include "mcpd/version.hpp"
#include "redis/redis.hpp"
#include "store/store.hpp"

#include <boost/json/serialize.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>

namespace asio = boost::asio;
using namespace mcpd;

namespace {

// Connects to Redis, waiting up to `wait` for it to come up, and does a round trip.
asio::awaitable<int> redis_ping(redis::config cfg, duration wait) {
    cfg.connect_timeout = std::min(cfg.connect_timeout, wait);
    redis::client c(co_await asio::this_coro::executor, cfg);
    auto deadline = std::chrono::steady_clock::now() + wait;
    auto t0 = std::chrono::steady_clock::now();
    auto pong = co_await c.exec(redis::command("PING"), {.timeout = wait});
    while (!pong && std::chrono::steady_clock::now() < deadline) {
        asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(100));
        co_await t.async_wait(asio::use_awaitable);
        t0 = std::chrono::steady_clock::now();
        pong = co_await c.exec(redis::command("PING"), {.timeout = wait});
    }
    if (!pong) {
        std::fprintf(stderr, "mcpd: redis %s: %s\n", cfg.redacted_url().c_str(),
                     pong.error().message().c_str());
        co_return 1;
    }
    auto rtt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0);
    std::string key = "mcpd:ping:" + random_hex(8);
    redis::request round_trip;
    round_trip.push(redis::command("SET", key, "ok", "PX", 10000))
        .push(redis::command("GET", key))
        .push(redis::command("DEL", key));
    auto replies = co_await c.exec(std::move(round_trip));
    if (!replies || (*replies)[1].str != "ok") {
        std::fprintf(stderr, "mcpd: redis round trip failed: %s\n",
                     replies ? to_debug_string((*replies)[1]).c_str()
                             : replies.error().message().c_str());
        co_return 1;
    }
    std::printf("redis %s: %s in %.2f ms; SET/GET/DEL round trip ok\n", cfg.redacted_url().c_str(),
                pong->str.c_str(), rtt.count());
    co_await c.quit();
    co_return 0;
}

struct sessions_args {
    std::string action; // list | get | rm | clear | cleanup
    std::string identity;
    std::string session_id;
    bool json = false;
    bool show_secrets = false;
    bool required = false;
};

// Secrets stay out of terminals and logs unless asked for.
boost::json::object masked(boost::json::object record) {
    for (char const* field : {"tokens", "headers", "clientInformation", "codeVerifier"})
        if (auto* v = record.if_contains(field); v && !v->is_null())
            *v = "***";
    return record;
}

asio::awaitable<int> run_sessions(sessions_args a) {
    auto fail = [](error const& e) {
        std::fprintf(stderr, "mcpd: %s\n", e.message().c_str());
        return 1;
    };
    auto choice = store::choose_store(nullptr, store::store_type::sqlite);
    if (!choice) {
        std::fprintf(stderr, "mcpd: %s\n", choice.error().message().c_str());
        co_return 2;
    }
    auto opened = co_await store::open_store(co_await asio::this_coro::executor, *choice,
                                             {.required = a.required}, nullptr);
    if (!opened)
        co_return fail(opened.error());
    auto& s = **opened;
    int rc = 0;
    if (a.action == "list" && a.identity.empty()) {
        auto ids = co_await s.get_all_session_ids();
        if (!ids) {
            rc = fail(ids.error());
        } else if (a.json) {
            boost::json::array out(ids->begin(), ids->end());
            std::printf("%s\n", boost::json::serialize(out).c_str());
        } else {
            for (auto const& id : *ids)
                std::printf("%s\n", id.c_str());
        }
    } else if (a.action == "list") {
        auto data = co_await s.get_identity_sessions_data(a.identity);
        if (!data) {
            rc = fail(data.error());
        } else if (a.json) {
            boost::json::array out;
            for (auto const& r : *data)
                out.push_back(a.show_secrets ? r.object() : masked(r.object()));
            std::printf("%s\n", boost::json::serialize(out).c_str());
        } else {
            for (auto const& r : *data) {
                auto text = [](std::optional<std::string_view> v) {
                    return std::string(v.value_or("-"));
                };
                std::printf("%s  %s  %s  %s\n", text(r.session_id()).c_str(),
                            text(r.server_url()).c_str(), text(r.transport_type()).c_str(),
                            r.active().value_or(true) ? "active" : "inactive");
            }
        }
    } else if (a.action == "get") {
        auto got = co_await s.get_session(a.identity, a.session_id);
        if (!got) {
            rc = fail(got.error());
        } else if (!*got) {
            std::fprintf(stderr, "mcpd: no session %s for identity %s\n", a.session_id.c_str(),
                         a.identity.c_str());
            rc = 1;
        } else {
            auto r = a.show_secrets ? std::move(**got) : masked(std::move(**got));
            std::printf("%s\n", boost::json::serialize(r).c_str());
        }
    } else if (a.action == "rm") {
        auto r = co_await s.remove_session(a.identity, a.session_id);
        rc = r ? 0 : fail(r.error());
    } else if (a.action == "clear") {
        auto r = co_await s.clear_all();
        rc = r ? 0 : fail(r.error());
    } else if (a.action == "cleanup") {
        auto r = co_await s.cleanup_expired_sessions();
        if (!r)
            rc = fail(r.error());
        else if (a.json)
            std::printf("{\"removed\":%zu}\n", *r);
        else
            std::printf("removed %zu expired sessions\n", *r);
    }
    co_await s.close();
    co_return rc;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"mcpd: a Model Context Protocol runtime whose state survives restarts"};
    app.set_version_flag("--version", std::string("mcpd ") + mcpd::version);
    app.require_subcommand(1);
    std::string log_level = "warn";
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off");

    auto* redis_cmd = app.add_subcommand("redis", "Redis client tools");
    redis_cmd->require_subcommand(1);
    auto* ping = redis_cmd->add_subcommand("ping", "Round trip to Redis: PING, SET, GET, DEL");
    std::string url;
    std::string wait_text = "0ms";
    ping->add_option("--url", url, "redis://, rediss:// or unix:// URL (default: REDIS_URL etc.)");
    ping->add_option("--wait", wait_text, "keep trying this long for Redis to come up (e.g. 5s)");

    auto* sessions = app.add_subcommand(
        "sessions", "Session storage (selected like @mcp-ts/sdk: MCP_TS_STORAGE_TYPE, REDIS_URL, "
                    "MCP_TS_STORAGE_FILE, MCP_TS_STORAGE_SQLITE_PATH, SUPABASE_DB_URL or "
                    "DATABASE_URL; default ./sessions.db)");
    sessions->require_subcommand(1);
    sessions_args sa;
    sessions->add_flag("--json", sa.json, "JSON output");
    sessions->add_flag("--show-secrets", sa.show_secrets, "print tokens, headers, client secrets");
    sessions->add_flag("--storage-required", sa.required,
                       "fail instead of falling back to memory when Redis is unreachable");
    auto* s_list = sessions->add_subcommand("list", "every session (identity:sessionId), or one "
                                                    "identity's sessions");
    s_list->add_option("--identity", sa.identity, "only this identity's sessions");
    auto* s_get = sessions->add_subcommand("get", "one session's record");
    s_get->add_option("identity", sa.identity)->required();
    s_get->add_option("session_id", sa.session_id)->required();
    auto* s_rm = sessions->add_subcommand("rm", "remove one session");
    s_rm->add_option("identity", sa.identity)->required();
    s_rm->add_option("session_id", sa.session_id)->required();
    sessions->add_subcommand("clear", "remove every session");
    sessions->add_subcommand("cleanup", "remove expired sessions");

    auto* serve_cmd = app.add_subcommand("serve", "Serve MCP over Streamable HTTP (and legacy "
                                                  "HTTP+SSE) or stdio, with /health, /ready and "
                                                  "/metrics");
    app::configuration serve_cfg;
    serve_cfg.add_flags(*serve_cmd);

    auto* config_cmd = app.add_subcommand("config", "mcpd serve's configuration");
    config_cmd->require_subcommand(1);
    auto* config_print = config_cmd->add_subcommand(
        "print", "the effective settings (secrets masked) and where each came from; takes "
                 "serve's flags and --config");
    app::configuration print_cfg;
    print_cfg.add_flags(*config_print);

    auto* gateway_cmd = app.add_subcommand("gateway", "the MCP client gateway (/gateway)");
    gateway_cmd->require_subcommand(1);
    auto* gateway_token = gateway_cmd->add_subcommand(
        "token", "print a per-identity /gateway token (for the app backend to hand to a "
                 "browser), signed with gateway-secret (MCPD_GATEWAY_SECRET or --config)");
    app::configuration token_cfg;
    token_cfg.add_flags(*gateway_token);
    std::string token_identity;
    std::string token_ttl = "1h";
    gateway_token->add_option("--identity", token_identity, "the identity it acts as")->required();
    gateway_token->add_option("--ttl", token_ttl, "valid this long (default 1h)");

    auto* health_cmd = app.add_subcommand(
        "health", "a running mcpd's readiness (/ready), for people and scripts; exit 0 ok, 1 "
                  "degraded, 2 not ready or draining, 3 no answer");
    app::health_args ha;
    std::string health_timeout = "3s";
    health_cmd->add_option("--url", ha.url,
                           "the server (http://host:port) or its /ready URL (default: "
                           "http://127.0.0.1:$PORT, port 3000 without PORT)");
    health_cmd->add_option("--timeout", health_timeout, "give up after this long (default 3s)");
    health_cmd->add_flag("--json", ha.json, "print /ready's JSON as it came");

    CLI11_PARSE(app, argc, argv);

    if (health_cmd->parsed()) {
        auto t = parse_duration(health_timeout);
        if (!t || t->count() <= 0) {
            std::fprintf(stderr, "mcpd health: --timeout: %s\n",
                         t ? "must be more than zero" : t.error().message().c_str());
            return 3;
        }
        ha.timeout = *t;
        if (ha.url.empty()) {
            char const* port = std::getenv("PORT");
            ha.url = std::string("http://127.0.0.1:") + (port && *port ? port : "3000");
        }
        return app::run_health(ha);
    }

    if (gateway_token->parsed()) {
        if (auto r = token_cfg.load(nullptr, {}); !r) {
            std::fprintf(stderr, "mcpd: %s\n", r.error().detail.c_str());
            return 2;
        }
        auto const& secret = token_cfg.text("gateway-secret");
        if (secret.empty()) {
            std::fprintf(stderr, "mcpd gateway token: gateway-secret is not set (set "
                                 "MCPD_GATEWAY_SECRET, or gateway-secret in --config)\n");
            return 2;
        }
        auto ttl = parse_duration(token_ttl);
        if (!ttl || ttl->count() <= 0) {
            std::fprintf(stderr, "mcpd gateway token: --ttl: %s\n",
                         ttl ? "must be more than zero" : ttl.error().message().c_str());
            return 2;
        }
        if (token_identity.empty()) {
            std::fprintf(stderr, "mcpd gateway token: --identity must not be empty\n");
            return 2;
        }
        auto expiry = unix_time_ms() / 1000 +
                      std::max<std::int64_t>(
                          1, std::chrono::duration_cast<std::chrono::seconds>(*ttl).count());
        std::printf("%s\n", gateway::mint_identity_token(secret, token_identity, expiry).c_str());
        return 0;
    }

    if (config_print->parsed()) {
        std::map<std::string, std::string> extra;
        if (app.count("--log-level") > 0)
            extra["log-level"] = log_level;
        if (auto r = print_cfg.load(nullptr, extra); !r) {
            std::fprintf(stderr, "mcpd: %s\n", r.error().detail.c_str());
            return 2;
        }
        std::fputs(print_cfg.print().c_str(), stdout);
        return 0;
    }

    // `redis ping` reports failures itself; the connection warnings while it waits for Redis
    // to come up are expected, so they stay quiet unless asked for.
    if (ping->parsed() && app.count("--log-level") == 0)
        log_level = "error";
    log::level lvl{};
    if (!log::parse_level(log_level, lvl)) {
        std::fprintf(stderr, "mcpd: --log-level: unknown level '%s'\n", log_level.c_str());
        return 2;
    }
    log::set_level(lvl);

    if (serve_cmd->parsed()) {
        // Every setting is checked before anything starts: nothing runs half-configured.
        std::map<std::string, std::string> extra;
        if (app.count("--log-level") > 0)
            extra["log-level"] = log_level;
        if (auto r = serve_cfg.load(nullptr, extra); !r) {
            std::fprintf(stderr, "mcpd: %s\n", r.error().detail.c_str());
            return 2;
        }
        log::parse_level(serve_cfg.text("log-level"), lvl);
        log::set_level(lvl);
        if (auto const& format = serve_cfg.text("log-format"); format != "auto")
            log::set_json(format == "json");
        return app::run_serve(app::serve_args_from(serve_cfg));
    }

    if (sessions->parsed()) {
        for (auto* sub : sessions->get_subcommands())
            sa.action = sub->get_name();
        asio::io_context io;
        int rc = 1;
        asio::co_spawn(io, run_sessions(sa),
                       [&](std::exception_ptr const& e, int r) { rc = e ? 1 : r; });
        io.run();
        return rc;
    }

    if (ping->parsed()) {
        auto cfg = url.empty() ? redis::config_from_env() : redis::config_from_url(url);
        if (!cfg) {
            std::fprintf(stderr, "mcpd: %s\n", cfg.error().message().c_str());
            return 2;
        }
        auto wait = parse_duration(wait_text);
        if (!wait) {
            std::fprintf(stderr, "mcpd: --wait: %s\n", wait.error().message().c_str());
            return 2;
        }
        asio::io_context io;
        int rc = 1;
        asio::co_spawn(io, redis_ping(*cfg, std::max(*wait, duration(1000))),
                       [&](std::exception_ptr const& e, int r) { rc = e ? 1 : r; });
        io.run();
        return rc;
    }
    return 0;
}
