// tests/integration/mcpd_cli_test.cpp — the `mcpd` command against a real redis-server:
// `mcpd redis ping` with a URL and with REDIS_HOST / REDIS_PORT / REDIS_PASSWORD, its exit
// codes, and that a password never reaches its output; `mcpd sessions …` on the store the
// environment selects (a file, Redis's fallback, required storage, PostgreSQL, the plain-text
// warning, a malformed key).
#include "postgres_server.hpp"
#include "redis_server.hpp"
#include "test_output.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <vector>

using namespace mcpd::test;

namespace {

struct run_result {
    int exit_code;
    std::string output; // stdout and stderr
};

// Runs `env -u REDIS_URL -u STORAGE_ENCRYPTION_KEY <env_and_args>` (a REDIS_URL in the
// caller's environment would win over REDIS_HOST and the others; a key would change what the
// sessions commands store) and collects its output: stdout and stderr, or stdout alone.
enum class capture { both, stdout_only };
run_result run(std::string const& env_and_args, capture what = capture::both) {
    std::string full = "env -u REDIS_URL -u STORAGE_ENCRYPTION_KEY " + env_and_args +
                       (what == capture::both ? " 2>&1" : " 2>/dev/null");
    FILE* p = ::popen(full.c_str(), "r");
    run_result out{-1, {}};
    if (!p)
        return out;
    std::array<char, 4096> buf{};
    while (std::fgets(buf.data(), buf.size(), p))
        out.output += buf.data();
    int status = ::pclose(p);
    out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    // What a person asked to see is not a leak.
    if (env_and_args.find("--show-secrets") == std::string::npos)
        keep_test_output("cli", out.output);
    return out;
}

std::string const mcpd_binary = MCPD_BINARY;

} // namespace

TEST(mcpd_cli, version_prints_the_version) {
    auto r = run(mcpd_binary + " --version");
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.output.find("mcpd "), std::string::npos) << r.output;
}

TEST(mcpd_cli, redis_ping_round_trips_with_a_url) {
    redis_server server;
    auto r = run(mcpd_binary + " redis ping --url " + server.url());
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("SET/GET/DEL round trip ok"), std::string::npos) << r.output;
}

TEST(mcpd_cli, redis_ping_reads_redis_host_port_and_password_from_the_environment) {
    redis_server server({.args = {"--requirepass", "env-secret-1"}});
    std::string env = "REDIS_HOST=127.0.0.1 REDIS_PORT=" + std::to_string(server.port());
    auto ok = run(env + " REDIS_PASSWORD=env-secret-1 " + mcpd_binary + " redis ping");
    EXPECT_EQ(ok.exit_code, 0) << ok.output;
    EXPECT_EQ(ok.output.find("env-secret-1"), std::string::npos) << ok.output;

    auto wrong = run(env + " REDIS_PASSWORD=wrong-secret-2 " + mcpd_binary + " redis ping");
    EXPECT_EQ(wrong.exit_code, 1) << wrong.output;
    EXPECT_NE(wrong.output.find("WRONGPASS"), std::string::npos) << wrong.output;
    EXPECT_EQ(wrong.output.find("wrong-secret-2"), std::string::npos) << wrong.output;
}

TEST(mcpd_cli, redis_ping_fails_clearly_when_nothing_listens) {
    auto port = free_port();
    auto r = run(mcpd_binary + " redis ping --url redis://127.0.0.1:" + std::to_string(port));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << r.output;
}

TEST(mcpd_cli, a_bad_url_is_a_usage_error) {
    auto r = run(mcpd_binary + " redis ping --url http://example");
    EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST(mcpd_cli, sessions_commands_work_on_the_selected_store) {
    char tmpl[] = "/tmp/mcpd-cli-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    std::string file = dir + "/sessions.json";
    // A file as @mcp-ts/sdk writes it.
    std::ofstream(file) << R"([
  {"sessionId":"NodeSession1","identity":"alice","serverUrl":"https://mcp.example.com",
   "transportType":"sse","callbackUrl":"https://app/cb","createdAt":1732000000000,
   "tokens":{"access_token":"secret-token-123"}},
  {"sessionId":"NodeSession2","identity":"bob","serverUrl":"https://mcp.example.com",
   "transportType":"streamable_http","callbackUrl":"https://app/cb","createdAt":1732000000000}
])";
    std::string env = "MCP_TS_STORAGE_TYPE=file MCP_TS_STORAGE_FILE=" + file + " ";
    auto list = run(env + mcpd_binary + " sessions list", capture::stdout_only);
    EXPECT_EQ(list.exit_code, 0) << list.output;
    EXPECT_EQ(list.output, "alice:NodeSession1\nbob:NodeSession2\n");
    auto json_list = run(env + mcpd_binary + " sessions --json list", capture::stdout_only);
    EXPECT_EQ(json_list.output, "[\"alice:NodeSession1\",\"bob:NodeSession2\"]\n");
    auto get = run(env + mcpd_binary + " sessions get alice NodeSession1");
    EXPECT_EQ(get.exit_code, 0) << get.output;
    EXPECT_NE(get.output.find("\"tokens\":\"***\""), std::string::npos) << get.output;
    EXPECT_EQ(get.output.find("secret-token-123"), std::string::npos) << get.output;
    auto shown = run(env + mcpd_binary + " sessions --show-secrets get alice NodeSession1");
    EXPECT_NE(shown.output.find("secret-token-123"), std::string::npos) << shown.output;
    // A flag of `sessions` is taken where a person types it: after the subcommand and its
    // arguments too.
    auto after = run(env + mcpd_binary + " sessions get alice NodeSession1 --show-secrets --json",
                     capture::stdout_only);
    EXPECT_EQ(after.exit_code, 0) << after.output;
    EXPECT_NE(after.output.find("secret-token-123"), std::string::npos) << after.output;
    EXPECT_EQ(run(env + mcpd_binary + " sessions list --json", capture::stdout_only).output,
              json_list.output);
    auto missing = run(env + mcpd_binary + " sessions get alice nope");
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_EQ(run(env + mcpd_binary + " sessions rm alice NodeSession1").exit_code, 0);
    EXPECT_EQ(run(env + mcpd_binary + " sessions list", capture::stdout_only).output,
              "bob:NodeSession2\n");
    EXPECT_EQ(run(env + mcpd_binary + " sessions --json cleanup", capture::stdout_only).output,
              "{\"removed\":0}\n");
    EXPECT_EQ(run(env + mcpd_binary + " sessions clear").exit_code, 0);
    EXPECT_EQ(run(env + mcpd_binary + " sessions list", capture::stdout_only).output, "");
    auto bad_type = run("MCP_TS_STORAGE_TYPE=mongo " + mcpd_binary + " sessions list");
    EXPECT_EQ(bad_type.exit_code, 2);
    std::filesystem::remove_all(dir);
}

TEST(mcpd_cli, sessions_log_the_redis_fallback_and_refuse_when_storage_is_required) {
    std::string env = "REDIS_URL=redis://127.0.0.1:" + std::to_string(free_port()) + " ";
    auto fallback = run(env + mcpd_binary + " sessions list");
    EXPECT_EQ(fallback.exit_code, 0) << fallback.output;
    EXPECT_NE(fallback.output.find("[mcpd][Storage] Failed to initialize Redis"), std::string::npos)
        << fallback.output;
    EXPECT_NE(fallback.output.find("[mcpd][Storage] Falling back to In-Memory storage"),
              std::string::npos)
        << fallback.output;
    auto required = run(env + "MCP_TS_STORAGE_REQUIRED=1 " + mcpd_binary + " sessions list");
    EXPECT_EQ(required.exit_code, 1) << required.output;
    EXPECT_EQ(required.output.find("Falling back"), std::string::npos) << required.output;
}

TEST(mcpd_cli, sessions_commands_work_on_postgres_and_explain_a_rest_only_supabase) {
    postgres_server server;
    std::string env = "DATABASE_URL=" + server.url() + " ";
    EXPECT_EQ(run(env + mcpd_binary + " sessions list", capture::stdout_only).output,
              ""); // creates the table
    server.exec("INSERT INTO public.mcp_sessions (session_id, user_id, identity, server_url, "
                "transport_type, callback_url, tokens, expires_at) VALUES ('NodeSession1', "
                "'alice', 'alice', 'https://mcp.example.com', 'sse', 'https://app/cb', "
                "'{\"access_token\": \"secret-token-123\"}', now() + interval '1 hour')");
    auto list = run(env + mcpd_binary + " sessions list", capture::stdout_only);
    EXPECT_EQ(list.exit_code, 0) << list.output;
    EXPECT_EQ(list.output, "alice:NodeSession1\n");
    auto get = run(env + mcpd_binary + " sessions get alice NodeSession1", capture::stdout_only);
    EXPECT_EQ(get.exit_code, 0) << get.output;
    EXPECT_NE(get.output.find("\"tokens\":\"***\""), std::string::npos) << get.output;
    EXPECT_EQ(run(env + mcpd_binary + " sessions rm alice NodeSession1").exit_code, 0);
    EXPECT_EQ(run(env + mcpd_binary + " sessions list", capture::stdout_only).output, "");

    auto rest = run("SUPABASE_URL=https://x.supabase.co SUPABASE_SERVICE_ROLE_KEY=k " +
                    mcpd_binary + " sessions list");
    EXPECT_EQ(rest.exit_code, 2) << rest.output;
    EXPECT_NE(rest.output.find("SUPABASE_DB_URL"), std::string::npos) << rest.output;
    EXPECT_NE(rest.output.find("Project Settings → Database → Connection string"),
              std::string::npos)
        << rest.output;
}

TEST(mcpd_cli, sessions_warn_once_about_plain_text_secrets_and_refuse_a_malformed_key) {
    char tmpl[] = "/tmp/mcpd-cli-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    std::string env = "MCP_TS_STORAGE_TYPE=file MCP_TS_STORAGE_FILE=" + dir + "/sessions.json ";
    std::string const warning = "stored in plain text";
    auto plain = run(env + mcpd_binary + " sessions list");
    EXPECT_EQ(plain.exit_code, 0) << plain.output;
    auto first = plain.output.find(warning);
    EXPECT_NE(first, std::string::npos) << plain.output;
    EXPECT_EQ(plain.output.find(warning, first + 1), std::string::npos) << plain.output;

    auto keyed = run(env + "STORAGE_ENCRYPTION_KEY=" + std::string(64, 'a') + " " + mcpd_binary +
                     " sessions list");
    EXPECT_EQ(keyed.exit_code, 0) << keyed.output;
    EXPECT_EQ(keyed.output.find(warning), std::string::npos) << keyed.output;

    auto bad = run(env + "STORAGE_ENCRYPTION_KEY=" + std::string(64, 'z') + " " + mcpd_binary +
                   " sessions list");
    EXPECT_EQ(bad.exit_code, 1) << bad.output;
    EXPECT_NE(bad.output.find("STORAGE_ENCRYPTION_KEY has 64 characters but is not hex"),
              std::string::npos)
        << bad.output;
    std::filesystem::remove_all(dir);
}

// Hardening (issue 18, row 10): `mcpd config print`, and its errors, show no password in any
// form a connection string takes; a password in a flag (visible in ps) is refused.
TEST(mcpd_cli, config_print_masks_passwords_in_every_connection_string_form) {
    struct case_ {
        std::string env;
        std::string secret;
    };
    for (auto const& [env, secret] : std::vector<case_>{
             {"REDIS_URL='redis://cache?password=topsecret1'", "topsecret1"},
             {"REDIS_URL='redis://app:topsecret2@cache:6379/0'", "topsecret2"},
             {"DATABASE_URL='postgresql://u@db/app?password=topsecret3'", "topsecret3"},
             {"DATABASE_URL='host=db user=u password=topsecret4 dbname=app'", "topsecret4"},
             {"DATABASE_URL='host=db password = \"topsecret5\" dbname=app'", "topsecret5"},
             {"SUPABASE_DB_URL='postgresql://postgres:topsecret6@db.example.supabase.co/postgres'",
              "topsecret6"},
         }) {
        auto out = run(env + " " + mcpd_binary + " config print");
        EXPECT_EQ(out.exit_code, 0) << env << "\n" << out.output;
        EXPECT_EQ(out.output.find(secret), std::string::npos) << env << "\n" << out.output;
        EXPECT_NE(out.output.find("***"), std::string::npos) << env << "\n" << out.output;
    }
    // An invalid value quoted in an error: masked too.
    auto bad = run("REDIS_URL='redis://:topsecret7@cache:99999' " + mcpd_binary + " config print");
    EXPECT_EQ(bad.exit_code, 2) << bad.output;
    EXPECT_EQ(bad.output.find("topsecret7"), std::string::npos) << bad.output;
    // A password in a flag: refused, and not repeated.
    auto flag = run(mcpd_binary + " config print --redis-url redis://:topsecret8@cache:6379");
    EXPECT_EQ(flag.exit_code, 2) << flag.output;
    EXPECT_NE(flag.output.find("visible to every user"), std::string::npos) << flag.output;
    EXPECT_EQ(flag.output.find("topsecret8"), std::string::npos) << flag.output;
    auto plain = run(mcpd_binary + " config print --redis-url redis://cache:6379");
    EXPECT_EQ(plain.exit_code, 0) << plain.output;
}
