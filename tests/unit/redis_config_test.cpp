// Unit tests for redis/config: URL parsing (every accepted form and every refusal), the
// redacted URL, configuration from the environment, and the exponential backoff with jitter.
#include "mcpd/redis/config.hpp"

#include "mcpd/redis/error.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using mcpd::redis::client_errc;
using mcpd::redis::config;
using mcpd::redis::config_from_env;
using mcpd::redis::config_from_url;
using mcpd::redis::protocol_version;

config parse_ok(std::string_view url, config base = {}) {
    auto r = config_from_url(url, std::move(base));
    EXPECT_TRUE(r.has_value()) << url << ": " << (r ? "" : r.error().message());
    return r ? *r : config{};
}

// The error for `url`; fails the test if the URL was accepted or the code is not
// invalid_config.
mcpd::error parse_err(std::string_view url) {
    auto r = config_from_url(url);
    EXPECT_FALSE(r.has_value()) << url << " was accepted";
    if (r)
        return {};
    EXPECT_EQ(r.error().code, make_error_code(client_errc::invalid_config)) << url;
    return r.error();
}

bool contains(std::string const& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}

// A fake environment for config_from_env.
struct fake_env {
    std::map<std::string, std::string> vars;
    std::function<char const*(char const*)> fn() const {
        return [this](char const* name) -> char const* {
            auto it = vars.find(name);
            return it == vars.end() ? nullptr : it->second.c_str();
        };
    }
};

TEST(redis_config, defaults_are_local_and_safe) {
    config c;
    EXPECT_EQ(c.host, "127.0.0.1");
    EXPECT_EQ(c.port, 6379);
    EXPECT_TRUE(c.unix_path.empty());
    EXPECT_FALSE(c.tls.enabled);
    EXPECT_EQ(c.db, 0);
    ASSERT_TRUE(static_cast<bool>(c.reconnect));
    EXPECT_TRUE(c.reconnect(1, {}).has_value());
}

TEST(redis_config, url_with_host_only_uses_default_port_and_db) {
    auto c = parse_ok("redis://localhost");
    EXPECT_EQ(c.host, "localhost");
    EXPECT_EQ(c.port, 6379);
    EXPECT_EQ(c.db, 0);
    EXPECT_FALSE(c.tls.enabled);
    EXPECT_TRUE(c.username.empty());
    EXPECT_TRUE(c.password.empty());
    EXPECT_TRUE(c.unix_path.empty());
}

TEST(redis_config, url_port_and_db_are_read) {
    auto c = parse_ok("redis://cache.internal:6380/3");
    EXPECT_EQ(c.host, "cache.internal");
    EXPECT_EQ(c.port, 6380);
    EXPECT_EQ(c.db, 3);
    EXPECT_EQ(parse_ok("redis://h:65535/2147483647").db, 2147483647);
    EXPECT_EQ(parse_ok("redis://h:1").port, 1);
}

TEST(redis_config, url_root_or_empty_path_means_db_0) {
    EXPECT_EQ(parse_ok("redis://h/").db, 0);
    EXPECT_EQ(parse_ok("redis://h").db, 0);
    EXPECT_EQ(parse_ok("redis://h/0").db, 0);
}

TEST(redis_config, url_empty_port_means_the_default_port) {
    EXPECT_EQ(parse_ok("redis://h:/1").port, 6379);
}

TEST(redis_config, url_password_only_userinfo_sets_the_password) {
    auto c = parse_ok("redis://:s3cret@h");
    EXPECT_TRUE(c.username.empty());
    EXPECT_EQ(c.password, "s3cret");
}

TEST(redis_config, url_user_and_password_set_an_acl_user) {
    auto c = parse_ok("redis://alice:s3cret@h:7000/1");
    EXPECT_EQ(c.username, "alice");
    EXPECT_EQ(c.password, "s3cret");
    EXPECT_EQ(c.port, 7000);
    EXPECT_EQ(c.db, 1);
}

TEST(redis_config, url_userinfo_is_percent_decoded) {
    auto c = parse_ok("redis://al%40ice:p%40ss%3Aw%2Fd%25@h");
    EXPECT_EQ(c.username, "al@ice");
    EXPECT_EQ(c.password, "p@ss:w/d%");
    // '+' is literal in the user info.
    EXPECT_EQ(parse_ok("redis://:a+b@h").password, "a+b");
}

TEST(redis_config, url_empty_userinfo_means_no_auth) {
    auto c = parse_ok("redis://:@h");
    EXPECT_TRUE(c.username.empty());
    EXPECT_TRUE(c.password.empty());
    EXPECT_TRUE(parse_ok("redis://@h").password.empty());
}

TEST(redis_config, rediss_enables_tls) {
    auto c = parse_ok("rediss://secure.example.com:6390");
    EXPECT_TRUE(c.tls.enabled);
    EXPECT_EQ(c.host, "secure.example.com");
    EXPECT_EQ(c.port, 6390);
}

TEST(redis_config, url_scheme_is_case_insensitive) {
    EXPECT_FALSE(parse_ok("REDIS://h").tls.enabled);
    EXPECT_TRUE(parse_ok("Rediss://h").tls.enabled);
    EXPECT_EQ(parse_ok("UNIX:///tmp/r.sock").unix_path, "/tmp/r.sock");
}

TEST(redis_config, url_ip_hosts_are_accepted_and_ipv6_loses_its_brackets) {
    EXPECT_EQ(parse_ok("redis://127.0.0.1:6379").host, "127.0.0.1");
    auto c = parse_ok("redis://[::1]:6390/2");
    EXPECT_EQ(c.host, "::1");
    EXPECT_EQ(c.port, 6390);
    EXPECT_EQ(c.db, 2);
    EXPECT_EQ(parse_ok("redis://[2001:db8::7]").host, "2001:db8::7");
}

TEST(redis_config, url_query_db_is_accepted) {
    EXPECT_EQ(parse_ok("redis://h?db=4").db, 4);
    EXPECT_EQ(parse_ok("redis://h/4?db=4").db, 4);
}

TEST(redis_config, url_query_options_set_their_fields) {
    auto c = parse_ok("redis://h?client_name=worker-1&protocol=3&connect_timeout=2s&command_"
                      "timeout=500ms");
    EXPECT_EQ(c.client_name, "worker-1");
    EXPECT_EQ(c.protocol, protocol_version::resp3);
    EXPECT_EQ(c.connect_timeout, 2s);
    EXPECT_EQ(c.command_timeout, 500ms);
    EXPECT_EQ(parse_ok("redis://h?protocol=2").protocol, protocol_version::resp2);
    EXPECT_EQ(parse_ok("redis://h?command_timeout=0ms").command_timeout, 0ms);
    EXPECT_EQ(parse_ok("redis://h?client_name=").client_name, "");
}

TEST(redis_config, url_query_credentials_are_accepted) {
    auto c = parse_ok("redis://h?username=bob&password=p%26w");
    EXPECT_EQ(c.username, "bob");
    EXPECT_EQ(c.password, "p&w");
    // Query values use form encoding: '+' is a space, %2B a plus.
    EXPECT_EQ(parse_ok("redis://h?password=a+b").password, "a b");
    EXPECT_EQ(parse_ok("redis://h?password=a%2Bb").password, "a+b");
}

TEST(redis_config, rediss_query_sets_tls_options) {
    auto c = parse_ok("rediss://h?tls_ca_file=/etc/ca.pem&tls_cert_file=/etc/c.pem&tls_key_file="
                      "/etc/k.pem&tls_insecure=true&tls_server_name=redis.internal");
    EXPECT_TRUE(c.tls.enabled);
    EXPECT_EQ(c.tls.ca_file, "/etc/ca.pem");
    EXPECT_EQ(c.tls.cert_file, "/etc/c.pem");
    EXPECT_EQ(c.tls.key_file, "/etc/k.pem");
    EXPECT_TRUE(c.tls.insecure_skip_verify);
    EXPECT_EQ(c.tls.server_name, "redis.internal");
    EXPECT_FALSE(parse_ok("rediss://h?tls_insecure=false").tls.insecure_skip_verify);
}

TEST(redis_config, unix_url_takes_the_socket_path) {
    auto c = parse_ok("unix:///var/run/redis/redis.sock");
    EXPECT_EQ(c.unix_path, "/var/run/redis/redis.sock");
    EXPECT_FALSE(c.tls.enabled);
    EXPECT_EQ(c.db, 0);
    EXPECT_EQ(parse_ok("unix:/tmp/r.sock").unix_path, "/tmp/r.sock");
    EXPECT_EQ(parse_ok("unix:///tmp/my%20redis.sock").unix_path, "/tmp/my redis.sock");
}

TEST(redis_config, unix_url_takes_db_and_credentials_from_the_query) {
    auto c = parse_ok("unix:///tmp/r.sock?db=2&username=u&password=pw");
    EXPECT_EQ(c.unix_path, "/tmp/r.sock");
    EXPECT_EQ(c.db, 2);
    EXPECT_EQ(c.username, "u");
    EXPECT_EQ(c.password, "pw");
}

TEST(redis_config, url_keeps_the_base_options_it_does_not_name) {
    config base;
    base.command_timeout = 3s;
    base.connect_timeout = 4s;
    base.key_prefix = "app:";
    base.client_name = "svc";
    base.offline_queue = false;
    base.max_retries_per_request = 7;
    base.tls.ca_file = "/ca.pem";
    auto c = parse_ok("rediss://h", base);
    EXPECT_EQ(c.command_timeout, 3s);
    EXPECT_EQ(c.connect_timeout, 4s);
    EXPECT_EQ(c.key_prefix, "app:");
    EXPECT_EQ(c.client_name, "svc");
    EXPECT_FALSE(c.offline_queue);
    EXPECT_EQ(c.max_retries_per_request, 7u);
    EXPECT_EQ(c.tls.ca_file, "/ca.pem");
}

TEST(redis_config, url_decides_the_target_and_credentials_alone) {
    config base;
    base.host = "old-host";
    base.port = 7777;
    base.unix_path = "/old.sock";
    base.username = "old-user";
    base.password = "old-password";
    base.db = 5;
    base.tls.enabled = true;
    auto c = parse_ok("redis://new-host", base);
    EXPECT_EQ(c.host, "new-host");
    EXPECT_EQ(c.port, 6379);
    EXPECT_TRUE(c.unix_path.empty());
    EXPECT_TRUE(c.username.empty());
    EXPECT_TRUE(c.password.empty());
    EXPECT_EQ(c.db, 0);
    EXPECT_FALSE(c.tls.enabled);
}

TEST(redis_config, url_that_is_not_a_url_is_refused) {
    parse_err("");
    parse_err("not a url");
    parse_err("redis://user:pa ss@h");
    parse_err("redis://h:abc");
}

TEST(redis_config, url_with_another_scheme_is_refused) {
    auto e = parse_err("http://h");
    EXPECT_TRUE(contains(e.detail, "http")) << e.detail;
    parse_err("valkey://h");
    parse_err("h:6379");
}

TEST(redis_config, url_without_host_is_refused) {
    parse_err("redis://");
    parse_err("redis://:6379");
    parse_err("redis:h");
    parse_err("rediss:///0");
    parse_err("redis://[v1.fe]");
}

TEST(redis_config, url_port_out_of_range_is_refused) {
    EXPECT_TRUE(contains(parse_err("redis://h:0").detail, "port"));
    EXPECT_TRUE(contains(parse_err("redis://h:65536").detail, "port"));
    parse_err("redis://h:99999999999999999999");
}

TEST(redis_config, url_bad_db_path_is_refused) {
    EXPECT_TRUE(contains(parse_err("redis://h/abc").detail, "database"));
    parse_err("redis://h/-1");
    parse_err("redis://h/2147483648");
    parse_err("redis://h/1/2");
    parse_err("redis://h/1/");
    parse_err("redis://h/+1");
    parse_err("redis://h/%31");
}

TEST(redis_config, url_db_in_path_and_query_must_agree) {
    EXPECT_TRUE(contains(parse_err("redis://h/4?db=5").detail, "databases"));
}

TEST(redis_config, url_username_without_password_is_refused) {
    EXPECT_TRUE(contains(parse_err("redis://alice@h").detail, "username needs a password"));
    parse_err("redis://alice:@h");
    parse_err("redis://h?username=alice");
    parse_err("unix:///tmp/r.sock?username=alice");
}

TEST(redis_config, url_unknown_query_option_is_refused_by_name) {
    auto e = parse_err("redis://h?db=1&timeout=5s");
    EXPECT_TRUE(contains(e.detail, "'timeout'")) << e.detail;
}

TEST(redis_config, url_bad_query_values_are_refused) {
    EXPECT_TRUE(contains(parse_err("redis://h?db=x").detail, "database"));
    EXPECT_TRUE(contains(parse_err("redis://h?protocol=4").detail, "protocol"));
    EXPECT_TRUE(contains(parse_err("redis://h?connect_timeout=30").detail, "connect_timeout"));
    parse_err("redis://h?connect_timeout=0s");
    parse_err("redis://h?command_timeout=fast");
    parse_err("rediss://h?tls_insecure=maybe");
    parse_err("redis://h?client_name=has%20space");
}

TEST(redis_config, url_query_option_without_value_or_twice_is_refused) {
    EXPECT_TRUE(contains(parse_err("redis://h?db").detail, "needs a value"));
    EXPECT_TRUE(contains(parse_err("redis://h?db=1&db=2").detail, "twice"));
}

TEST(redis_config, url_tls_options_need_rediss) {
    EXPECT_TRUE(contains(parse_err("redis://h?tls_insecure=true").detail, "rediss://"));
    parse_err("redis://h?tls_ca_file=/ca.pem");
    parse_err("unix:///tmp/r.sock?tls_server_name=x");
}

TEST(redis_config, url_credentials_given_twice_are_refused) {
    parse_err("redis://:pw@h?password=pw2");
    parse_err("redis://u:pw@h?username=v");
}

TEST(redis_config, url_fragment_is_refused) {
    parse_err("redis://h:6379/0#primary");
}

TEST(redis_config, unix_url_with_host_port_or_userinfo_is_refused) {
    parse_err("unix://host/tmp/r.sock");
    parse_err("unix://:1234/tmp/r.sock");
    parse_err("unix://:pw@/tmp/r.sock");
    parse_err("unix://");
    parse_err("unix:");
}

TEST(redis_config, url_errors_never_contain_the_password) {
    std::vector<std::string> const urls{
        "redis://user:s3cr3tPW@h:99999",
        "redis://user:s3cr3tPW@h:0",
        "redis://user:s3cr3tPW@h/abc",
        "redis://user:s3cr3tPW@h?bogus=1",
        "redis://user:s3cr3tPW@h?password=s3cr3tPW",
        "redis://:s3cr3tPW@",
        "redis://:s3cr3tPW@h#s3cr3tPW",
        "http://user:s3cr3tPW@h",
        "redis://us er:s3cr3tPW@h",
        "unix:///tmp/s?password=s3cr3tPW&db=x",
        "unix://:s3cr3tPW@/tmp/s",
        "redis://h?password=s3cr3tPW&password=s3cr3tPW",
        "redis://h?password",
    };
    for (auto const& url : urls) {
        auto r = config_from_url(url);
        ASSERT_FALSE(r.has_value()) << url;
        EXPECT_FALSE(contains(r.error().message(), "s3cr3tPW"))
            << url << ": " << r.error().message();
    }
}

TEST(redis_config, redacted_url_masks_the_password) {
    EXPECT_EQ(parse_ok("redis://alice:s3cr3t@h:6379/2").redacted_url(),
              "redis://alice:***@h:6379/2");
    EXPECT_EQ(parse_ok("redis://:s3cr3t@h").redacted_url(), "redis://:***@h:6379/0");
    EXPECT_EQ(parse_ok("rediss://:s3cr3t@h:6390/1").redacted_url(), "rediss://:***@h:6390/1");
    EXPECT_EQ(parse_ok("unix:///tmp/r.sock?db=1&password=s3cr3t").redacted_url(),
              "unix:///tmp/r.sock?db=1&password=***");
}

TEST(redis_config, redacted_url_shows_everything_else) {
    EXPECT_EQ(config{}.redacted_url(), "redis://127.0.0.1:6379/0");
    EXPECT_EQ(parse_ok("redis://h:7000/3").redacted_url(), "redis://h:7000/3");
    EXPECT_EQ(parse_ok("redis://[::1]:6390").redacted_url(), "redis://[::1]:6390/0");
    EXPECT_EQ(parse_ok("unix:///tmp/r.sock").redacted_url(), "unix:///tmp/r.sock");
    EXPECT_EQ(parse_ok("unix:///tmp/my%20r.sock?db=3&username=u&password=p").redacted_url(),
              "unix:///tmp/my%20r.sock?db=3&username=u&password=***");
    config c;
    c.unix_path = "relative.sock";
    EXPECT_EQ(c.redacted_url(), "unix:relative.sock");
}

TEST(redis_config, redacted_url_encodes_names_so_it_parses_back) {
    auto c = parse_ok("redis://al%40ice:s3cr3t@h:6380/4");
    std::string redacted = c.redacted_url();
    EXPECT_EQ(redacted, "redis://al%40ice:***@h:6380/4");
    auto back = parse_ok(redacted);
    EXPECT_EQ(back.username, "al@ice");
    EXPECT_EQ(back.host, "h");
    EXPECT_EQ(back.port, 6380);
    EXPECT_EQ(back.db, 4);
}

TEST(redis_config, redacted_url_never_contains_the_password) {
    std::vector<config> configs;
    for (std::string url : {"redis://alice:pw-XYZZY@h", "rediss://:pw-XYZZY@h:1/2",
                            "unix:///s.sock?password=pw-XYZZY", "redis://h?password=pw-XYZZY",
                            "redis://pw:pw-XYZZY@h"})
        configs.push_back(parse_ok(url));
    config field_by_field;
    field_by_field.password = "pw-XYZZY";
    field_by_field.username = "someone";
    configs.push_back(field_by_field);
    for (auto const& c : configs) {
        std::string r = c.redacted_url();
        EXPECT_FALSE(contains(r, "pw-XYZZY")) << r;
        EXPECT_TRUE(contains(r, "***")) << r;
    }
}

TEST(redis_config, env_redis_url_wins_over_the_separate_variables) {
    fake_env env{{{"REDIS_URL", "rediss://:pw@url-host:7001/2"},
                  {"REDIS_HOST", "other"},
                  {"REDIS_PORT", "7002"},
                  {"REDIS_PASSWORD", "other-pw"}}};
    auto c = config_from_env({}, env.fn());
    ASSERT_TRUE(c.has_value()) << c.error().message();
    EXPECT_EQ(c->host, "url-host");
    EXPECT_EQ(c->port, 7001);
    EXPECT_EQ(c->password, "pw");
    EXPECT_EQ(c->db, 2);
    EXPECT_TRUE(c->tls.enabled);
}

TEST(redis_config, env_empty_redis_url_falls_back_to_the_variables) {
    fake_env env{{{"REDIS_URL", ""}, {"REDIS_HOST", "h2"}}};
    auto c = config_from_env({}, env.fn());
    ASSERT_TRUE(c.has_value()) << c.error().message();
    EXPECT_EQ(c->host, "h2");
}

TEST(redis_config, env_variables_set_their_fields) {
    fake_env env{{{"REDIS_HOST", "cache"},
                  {"REDIS_PORT", "6390"},
                  {"REDIS_USERNAME", "svc"},
                  {"REDIS_PASSWORD", "pw"},
                  {"REDIS_DB", "3"},
                  {"REDIS_TLS", "true"}}};
    config base;
    base.unix_path = "/old.sock";
    base.key_prefix = "k:";
    auto c = config_from_env(base, env.fn());
    ASSERT_TRUE(c.has_value()) << c.error().message();
    EXPECT_EQ(c->host, "cache");
    EXPECT_TRUE(c->unix_path.empty());
    EXPECT_EQ(c->port, 6390);
    EXPECT_EQ(c->username, "svc");
    EXPECT_EQ(c->password, "pw");
    EXPECT_EQ(c->db, 3);
    EXPECT_TRUE(c->tls.enabled);
    EXPECT_EQ(c->key_prefix, "k:");
}

TEST(redis_config, env_without_variables_keeps_the_base) {
    fake_env env;
    config base;
    base.host = "base-host";
    base.port = 1234;
    base.password = "base-pw";
    auto c = config_from_env(base, env.fn());
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->host, "base-host");
    EXPECT_EQ(c->port, 1234);
    EXPECT_EQ(c->password, "base-pw");
}

TEST(redis_config, env_redis_tls_accepts_true_false_1_0) {
    for (auto [v, want] : std::vector<std::pair<std::string, bool>>{
             {"true", true}, {"1", true}, {"TRUE", true}, {"false", false}, {"0", false}}) {
        fake_env env{{{"REDIS_TLS", v}}};
        config base;
        base.tls.enabled = !want;
        auto c = config_from_env(base, env.fn());
        ASSERT_TRUE(c.has_value()) << v;
        EXPECT_EQ(c->tls.enabled, want) << v;
    }
    fake_env bad{{{"REDIS_TLS", "yes please"}}};
    auto c = config_from_env({}, bad.fn());
    ASSERT_FALSE(c.has_value());
    EXPECT_TRUE(contains(c.error().detail, "REDIS_TLS"));
}

TEST(redis_config, env_bad_port_or_db_is_refused_by_name) {
    for (std::string port : {"0", "65536", "abc", "63 79", "-1", "6379x"}) {
        fake_env env{{{"REDIS_PORT", port}}};
        auto c = config_from_env({}, env.fn());
        ASSERT_FALSE(c.has_value()) << port;
        EXPECT_EQ(c.error().code, make_error_code(client_errc::invalid_config));
        EXPECT_TRUE(contains(c.error().detail, "REDIS_PORT")) << c.error().detail;
    }
    fake_env env{{{"REDIS_DB", "one"}}};
    auto c = config_from_env({}, env.fn());
    ASSERT_FALSE(c.has_value());
    EXPECT_TRUE(contains(c.error().detail, "REDIS_DB"));
}

TEST(redis_config, env_username_without_password_is_refused) {
    fake_env env{{{"REDIS_USERNAME", "svc"}}};
    auto c = config_from_env({}, env.fn());
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error().code, make_error_code(client_errc::invalid_config));
}

TEST(redis_config, env_bad_redis_url_names_the_variable_without_the_password) {
    fake_env env{{{"REDIS_URL", "redis://u:s3cr3tPW@h:0"}}};
    auto c = config_from_env({}, env.fn());
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error().code, make_error_code(client_errc::invalid_config));
    EXPECT_TRUE(c.error().detail.starts_with("REDIS_URL: ")) << c.error().detail;
    EXPECT_FALSE(contains(c.error().message(), "s3cr3tPW"));
}

TEST(redis_config, env_reads_the_process_environment_by_default) {
    ::setenv("REDIS_URL", "redis://from-process-env:7005/6", 1);
    auto c = config_from_env();
    ::unsetenv("REDIS_URL");
    ASSERT_TRUE(c.has_value()) << c.error().message();
    EXPECT_EQ(c->host, "from-process-env");
    EXPECT_EQ(c->port, 7005);
    EXPECT_EQ(c->db, 6);
}

mcpd::duration::rep expected_cap(mcpd::duration base, mcpd::duration cap, std::uint32_t attempt) {
    long double d = static_cast<long double>(base.count());
    for (std::uint32_t i = 1; i < attempt && d < static_cast<long double>(cap.count()); ++i)
        d *= 2;
    return std::min<mcpd::duration::rep>(cap.count(), static_cast<mcpd::duration::rep>(d));
}

TEST(redis_config, backoff_stays_within_half_to_full_of_the_capped_exponential) {
    auto s = mcpd::redis::exponential_backoff(50ms, 2s);
    for (std::uint32_t attempt = 1; attempt <= 100; ++attempt) {
        auto d = expected_cap(50ms, 2s, attempt);
        for (int i = 0; i < 50; ++i) {
            auto delay = s(attempt, {});
            ASSERT_TRUE(delay.has_value()) << attempt;
            EXPECT_GE(delay->count() * 2, d) << "attempt " << attempt;
            EXPECT_LE(delay->count(), d) << "attempt " << attempt;
        }
    }
}

TEST(redis_config, backoff_grows_then_reaches_the_cap) {
    auto s = mcpd::redis::exponential_backoff(100ms, 1s);
    // attempt 1: [50, 100]; attempt 4: 800 → [400, 800]; attempt 5 and later: capped [500, 1000].
    for (int i = 0; i < 200; ++i) {
        auto a1 = s(1, {})->count();
        EXPECT_TRUE(a1 >= 50 && a1 <= 100) << a1;
        auto a4 = s(4, {})->count();
        EXPECT_TRUE(a4 >= 400 && a4 <= 800) << a4;
        auto a5 = s(5, {})->count();
        EXPECT_TRUE(a5 >= 500 && a5 <= 1000) << a5;
    }
}

TEST(redis_config, backoff_never_overflows_or_gives_up) {
    auto s = mcpd::redis::exponential_backoff(50ms, 2s);
    for (std::uint32_t attempt : {63u, 64u, 65u, 1000u, 4'000'000'000u, UINT32_MAX}) {
        auto delay = s(attempt, {});
        ASSERT_TRUE(delay.has_value());
        EXPECT_GE(delay->count(), 1000);
        EXPECT_LE(delay->count(), 2000);
    }
    auto huge =
        mcpd::redis::exponential_backoff(mcpd::duration(1LL << 40), mcpd::duration(1LL << 62));
    for (std::uint32_t attempt = 1; attempt <= 100; ++attempt) {
        auto delay = huge(attempt, {});
        ASSERT_TRUE(delay.has_value());
        EXPECT_GE(delay->count(), 0);
        EXPECT_LE(delay->count(), 1LL << 62);
    }
}

TEST(redis_config, backoff_attempt_0_is_treated_as_the_first) {
    auto s = mcpd::redis::exponential_backoff(100ms, 1s);
    for (int i = 0; i < 100; ++i) {
        auto d = s(0, {})->count();
        EXPECT_TRUE(d >= 50 && d <= 100) << d;
    }
}

TEST(redis_config, backoff_with_zero_base_retries_at_once) {
    auto s = mcpd::redis::exponential_backoff(0ms, 1s);
    EXPECT_EQ(s(1, {}), std::optional<mcpd::duration>(0ms));
    EXPECT_EQ(s(50, {}), std::optional<mcpd::duration>(0ms));
}

TEST(redis_config, backoff_jitter_spreads_over_the_whole_range) {
    auto s = mcpd::redis::exponential_backoff(50ms, 2s);
    mcpd::duration::rep lo = 1'000'000;
    mcpd::duration::rep hi = 0;
    double sum = 0;
    int const n = 20000;
    for (int i = 0; i < n; ++i) {
        auto d = s(30, {})->count(); // capped: uniform over [1000, 2000]
        lo = std::min(lo, d);
        hi = std::max(hi, d);
        sum += static_cast<double>(d);
    }
    EXPECT_GE(lo, 1000);
    EXPECT_LT(lo, 1020);
    EXPECT_LE(hi, 2000);
    EXPECT_GT(hi, 1980);
    EXPECT_NEAR(sum / n, 1500.0, 15.0);
}

} // namespace

// --- Sentinel ------------------------------------------------------------------------------

TEST(redis_config, sentinel_url_lists_the_sentinels_and_names_the_master) {
    struct row {
        std::string_view url;
        std::vector<mcpd::redis::node_address> sentinels;
        std::string_view master;
        int db;
        bool tls;
    };
    std::vector<row> const rows{
        {"redis+sentinel://s1:26379,s2:26380/mymaster",
         {{"s1", 26379}, {"s2", 26380}},
         "mymaster",
         0,
         false},
        {"redis+sentinel://s1,s2/m/3", {{"s1", 26379}, {"s2", 26379}}, "m", 3, false},
        {"REDIS+SENTINEL://10.0.0.1:5000/m", {{"10.0.0.1", 5000}}, "m", 0, false},
        {"redis-sentinel://s1:1/m", {{"s1", 1}}, "m", 0, false}, // lettuce's spelling
        {"rediss+sentinel://[::1]:26379,s2/m", {{"::1", 26379}, {"s2", 26379}}, "m", 0, true},
        {"redis+sentinel://s1, s2 ,s3/m",
         {{"s1", 26379}, {"s2", 26379}, {"s3", 26379}},
         "m",
         0,
         false},
    };
    for (auto const& r : rows) {
        auto c = parse_ok(r.url);
        EXPECT_EQ(c.sentinel.sentinels, r.sentinels) << r.url;
        EXPECT_EQ(c.sentinel.master_name, r.master) << r.url;
        EXPECT_EQ(c.db, r.db) << r.url;
        EXPECT_EQ(c.tls.enabled, r.tls) << r.url;
    }
}

TEST(redis_config, sentinel_url_credentials_are_the_data_nodes_and_the_query_the_sentinels) {
    auto c = parse_ok("redis+sentinel://app:pw@s1,s2/m/1?sentinel_password=sp&sentinel_username="
                      "sentinel-user&command_timeout=2s");
    EXPECT_EQ(c.username, "app");
    EXPECT_EQ(c.password, "pw");
    EXPECT_EQ(c.sentinel.username, "sentinel-user");
    EXPECT_EQ(c.sentinel.password, "sp");
    EXPECT_EQ(c.command_timeout, 2s);
    EXPECT_EQ(c.db, 1);
    EXPECT_EQ(c.redacted_url(), "redis+sentinel://app:***@s1:26379,s2:26379/m/1"
                                "?sentinel_password=***");
    // The redacted form parses back to the same place (without the passwords).
    auto back = parse_ok("redis+sentinel://s1:26379,s2:26379/m/1");
    EXPECT_EQ(back.sentinel.sentinels, c.sentinel.sentinels);
}

TEST(redis_config, sentinel_url_mistakes_are_refused_by_name) {
    struct row {
        std::string_view url;
        std::string_view says;
    };
    std::vector<row> const rows{
        {"redis+sentinel://s1,s2", "names no master"},
        {"redis+sentinel://s1,s2/", "names no master"},
        {"redis+sentinel://s1,,s2/m", "an empty entry"},
        {"redis+sentinel://s1:0/m", "invalid port '0'"},
        {"redis+sentinel://s1:99999/m", "invalid port '99999'"},
        {"redis+sentinel://s1:x/m", "invalid port 'x'"},
        {"redis+sentinel://[::1/m", "never closes it"},
        {"redis+sentinel://s1/m/x", "invalid database"},
        {"redis+sentinel://s%20x/m", "not a host name"},
        {"redis+sentinel://s1/m?sentinel_username=u", "sentinel_username but no"},
        {"redis://h?sentinel_password=x", "needs a redis+sentinel:// URL"},
        {"redis+sentinel://s1/m?nope=1", "unknown query option 'nope'"},
    };
    for (auto const& r : rows) {
        auto e = parse_err(r.url);
        EXPECT_NE(e.message().find(r.says), std::string::npos) << r.url << ": " << e.message();
    }
}

TEST(redis_config, a_plain_url_on_a_sentinel_base_is_not_a_sentinel_config) {
    auto sentinel = parse_ok("redis+sentinel://s1/m");
    auto plain = parse_ok("redis://h:1", sentinel);
    EXPECT_TRUE(plain.sentinel.sentinels.empty());
    EXPECT_EQ(plain.redacted_url(), "redis://h:1/0");
}

TEST(redis_config, env_sentinels_and_master_select_sentinel) {
    fake_env env{{{"REDIS_SENTINELS", "s1:26379,s2"},
                  {"REDIS_SENTINEL_MASTER", "mymaster"},
                  {"REDIS_SENTINEL_PASSWORD", "sp"},
                  {"REDIS_PASSWORD", "data-pw"},
                  {"REDIS_DB", "4"},
                  {"REDIS_TLS", "1"}}};
    auto c = config_from_env({}, env.fn());
    ASSERT_TRUE(c.has_value()) << c.error().message();
    EXPECT_EQ(c->sentinel.sentinels,
              (std::vector<mcpd::redis::node_address>{{"s1", 26379}, {"s2", 26379}}));
    EXPECT_EQ(c->sentinel.master_name, "mymaster");
    EXPECT_EQ(c->sentinel.password, "sp");
    EXPECT_EQ(c->password, "data-pw");
    EXPECT_EQ(c->db, 4);
    EXPECT_TRUE(c->tls.enabled);
    EXPECT_EQ(c->redacted_url(), "rediss+sentinel://:***@s1:26379,s2:26379/mymaster/4"
                                 "?sentinel_password=***");
}

TEST(redis_config, env_sentinel_url_takes_the_sentinel_password_from_the_environment) {
    fake_env env{{{"REDIS_URL", "redis+sentinel://s1/m"}, {"REDIS_SENTINEL_PASSWORD", "sp"}}};
    auto c = config_from_env({}, env.fn());
    ASSERT_TRUE(c.has_value()) << c.error().message();
    EXPECT_EQ(c->sentinel.password, "sp");
}

TEST(redis_config, env_sentinel_mistakes_are_refused_by_name) {
    struct row {
        std::map<std::string, std::string> vars;
        std::string_view says;
    };
    std::vector<row> const rows{
        {{{"REDIS_SENTINELS", "s1"}}, "REDIS_SENTINEL_MASTER is not"},
        {{{"REDIS_SENTINEL_MASTER", "m"}}, "REDIS_SENTINELS is not"},
        {{{"REDIS_SENTINELS", "s1"}, {"REDIS_SENTINEL_MASTER", "a b"}}, "not a valid name"},
        {{{"REDIS_SENTINELS", "s1:0"}, {"REDIS_SENTINEL_MASTER", "m"}}, "REDIS_SENTINELS: invalid"},
        {{{"REDIS_SENTINELS", "s1"}, {"REDIS_URL", "redis://h"}}, "both REDIS_URL and"},
        {{{"REDIS_SENTINELS", "s1"},
          {"REDIS_SENTINEL_MASTER", "m"},
          {"REDIS_SENTINEL_USERNAME", "u"}},
         "no REDIS_SENTINEL_PASSWORD"},
    };
    for (auto const& r : rows) {
        fake_env env{r.vars};
        auto c = config_from_env({}, env.fn());
        ASSERT_FALSE(c.has_value()) << r.says;
        EXPECT_NE(c.error().message().find(r.says), std::string::npos) << c.error().message();
    }
}

// --- Cluster -------------------------------------------------------------------------------

TEST(redis_config, cluster_url_lists_the_seeds) {
    struct row {
        std::string_view url;
        std::vector<mcpd::redis::node_address> seeds;
        bool tls;
        bool replicas;
    };
    std::vector<row> const rows{
        {"redis+cluster://h1:7000,h2:7001", {{"h1", 7000}, {"h2", 7001}}, false, false},
        {"redis+cluster://h1", {{"h1", 6379}}, false, false},
        {"rediss+cluster://[::1]:7000/0", {{"::1", 7000}}, true, false},
        {"redis+cluster://h1?read_from_replicas=true", {{"h1", 6379}}, false, true},
    };
    for (auto const& r : rows) {
        auto c = parse_ok(r.url);
        EXPECT_EQ(c.cluster.seeds, r.seeds) << r.url;
        EXPECT_EQ(c.tls.enabled, r.tls) << r.url;
        EXPECT_EQ(c.cluster.read_from_replicas, r.replicas) << r.url;
        EXPECT_TRUE(c.sentinel.sentinels.empty());
    }
    auto c = parse_ok("redis+cluster://app:pw@h1:7000,h2:7001?command_timeout=3s");
    EXPECT_EQ(c.username, "app");
    EXPECT_EQ(c.password, "pw");
    EXPECT_EQ(c.command_timeout, 3s);
    EXPECT_EQ(c.redacted_url(), "redis+cluster://app:***@h1:7000,h2:7001");
    // A plain URL on a cluster base is not a cluster.
    EXPECT_TRUE(parse_ok("redis://h", c).cluster.seeds.empty());
}

TEST(redis_config, cluster_url_mistakes_are_refused_by_name) {
    struct row {
        std::string_view url;
        std::string_view says;
    };
    std::vector<row> const rows{
        {"redis+cluster://h1/2", "only database 0"},
        {"redis+cluster://h1,,h2", "an empty entry"},
        {"redis+cluster://h1:0", "invalid port '0'"},
        {"redis+cluster://h1?read_from_replicas=maybe", "invalid read_from_replicas"},
        {"redis://h1?read_from_replicas=true", "needs a redis+cluster:// URL"},
        {"redis+cluster://", "no address"},
    };
    for (auto const& r : rows) {
        auto e = parse_err(r.url);
        EXPECT_NE(e.message().find(r.says), std::string::npos) << r.url << ": " << e.message();
    }
}

TEST(redis_config, env_cluster_nodes_select_a_cluster) {
    fake_env env{{{"REDIS_CLUSTER_NODES", "h1:7000, h2:7001"}, {"REDIS_PASSWORD", "pw"}}};
    auto c = config_from_env({}, env.fn());
    ASSERT_TRUE(c.has_value()) << c.error().message();
    EXPECT_EQ(c->cluster.seeds,
              (std::vector<mcpd::redis::node_address>{{"h1", 7000}, {"h2", 7001}}));
    EXPECT_EQ(c->password, "pw");
    struct row {
        std::map<std::string, std::string> vars;
        std::string_view says;
    };
    std::vector<row> const rows{
        {{{"REDIS_CLUSTER_NODES", "h1"}, {"REDIS_URL", "redis://h"}}, "both REDIS_URL and"},
        {{{"REDIS_CLUSTER_NODES", "h1"}, {"REDIS_SENTINELS", "s1"}}, "both REDIS_SENTINELS and"},
        {{{"REDIS_CLUSTER_NODES", "h1"}, {"REDIS_DB", "3"}}, "only database 0"},
        {{{"REDIS_CLUSTER_NODES", "h1:x"}}, "REDIS_CLUSTER_NODES: invalid port"},
    };
    for (auto const& r : rows) {
        fake_env bad{r.vars};
        auto e = config_from_env({}, bad.fn());
        ASSERT_FALSE(e.has_value()) << r.says;
        EXPECT_NE(e.error().message().find(r.says), std::string::npos) << e.error().message();
    }
}
