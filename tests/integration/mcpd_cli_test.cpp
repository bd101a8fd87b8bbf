// tests/integration/mcpd_cli_test.cpp — the `mcpd` command against a real redis-server:
// `mcpd redis ping` with a URL and with REDIS_HOST / REDIS_PORT / REDIS_PASSWORD, its exit
// codes, and that a password never reaches its output.
#include "redis_server.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>
#include <sys/wait.h>

using namespace mcpd::test;

namespace {

struct run_result {
    int exit_code;
    std::string output; // stdout and stderr
};

// Runs `env -u REDIS_URL <env_and_args>` (a REDIS_URL in the caller's environment would win
// over REDIS_HOST and the others) and collects its output.
run_result run(std::string const& env_and_args) {
    std::string full = "env -u REDIS_URL " + env_and_args + " 2>&1";
    FILE* p = ::popen(full.c_str(), "r");
    run_result out{-1, {}};
    if (!p)
        return out;
    std::array<char, 4096> buf{};
    while (std::fgets(buf.data(), buf.size(), p))
        out.output += buf.data();
    int status = ::pclose(p);
    out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
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
