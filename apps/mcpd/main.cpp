// apps/mcpd/main.cpp — the mcpd daemon and admin CLI.
//
// `mcpd serve` (serve.cpp: the MCP server over HTTP or stdio), `mcpd --version`, `mcpd redis
// ping` (a round trip through the Redis client: PING, SET, GET, DEL, with the latency) and
// `mcpd sessions …` (the session store the environment selects; SQLite ./sessions.db by
// default, as `mcpd serve` uses).
#include "serve.hpp"

#include "core/duration.hpp"
#include "core/log.hpp"
#include "core/random.hpp"
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
            for (auto& r : *data)
                out.push_back(a.show_secrets ? std::move(r) : masked(std::move(r)));
            std::printf("%s\n", boost::json::serialize(out).c_str());
        } else {
            for (auto const& r : *data) {
                auto text = [&](char const* k) {
                    auto const* v = r.if_contains(k);
                    return v && v->is_string() ? std::string(v->get_string()) : std::string("-");
                };
                auto const* active = r.if_contains("active");
                std::printf("%s  %s  %s  %s\n", text("sessionId").c_str(),
                            text("serverUrl").c_str(), text("transportType").c_str(),
                            active && active->is_bool() && !active->get_bool() ? "inactive"
                                                                               : "active");
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
                                                  "HTTP+SSE) or stdio");
    app::serve_args sv;
    if (auto const* p = std::getenv("PORT"))
        sv.port = static_cast<std::uint16_t>(std::strtoul(p, nullptr, 10));
    std::string drain_text = "30s";
    if (auto const* d = std::getenv("MCPD_DRAIN_TIMEOUT"))
        drain_text = d;
    serve_cmd->add_option("--host", sv.host, "address to bind (default 127.0.0.1)");
    serve_cmd->add_option("--port", sv.port, "port (default $PORT or 3000; 0 picks a free one)");
    serve_cmd->add_flag("--stdio", sv.stdio, "serve one client on stdin/stdout instead of HTTP");
    serve_cmd->add_flag("--json-response", sv.json_response,
                        "answer POSTs with application/json unless a handler streams first "
                        "(default: SSE streams)");
    serve_cmd->add_flag("--conformance", sv.conformance,
                        "also register the MCP conformance suite's fixture tools, resources and "
                        "prompts");
    serve_cmd->add_flag("--storage-required", sv.storage_required,
                        "fail instead of falling back to memory when Redis is unreachable");
    serve_cmd->add_flag("--no-legacy-sse", sv.no_legacy_sse, "disable GET /sse + POST /messages");
    serve_cmd->add_option("--allowed-host", sv.allowed_hosts,
                          "also accept this Host name (repeatable; * for any)");
    serve_cmd->add_option("--allowed-origin", sv.allowed_origins,
                          "accept this Origin (scheme://host[:port]; repeatable; * for any)");
    serve_cmd->add_option("--max-body", sv.max_body_bytes, "largest request body in bytes");
    serve_cmd->add_option("--drain-timeout", drain_text,
                          "how long shutdown waits for requests in flight ($MCPD_DRAIN_TIMEOUT)");
    serve_cmd->add_option("--guard", sv.guards,
                          "guard a tool: <tool>=cache:300s,rate:30/1min,lock:<key>/30s "
                          "(repeatable; also $MCPD_GUARDS, ';'-separated)");

    CLI11_PARSE(app, argc, argv);

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
        if (app.count("--log-level") == 0)
            log::set_level(log::level::info);
        auto drain = parse_duration(drain_text);
        if (!drain) {
            std::fprintf(stderr, "mcpd: --drain-timeout: %s\n", drain.error().message().c_str());
            return 2;
        }
        sv.drain_timeout = *drain;
        return app::run_serve(sv);
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
