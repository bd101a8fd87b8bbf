// tests/integration/redis_tls_test.cpp — rediss:// against a TLS-only redis-server with
// certificates made for the test: verification against a CA file, host name checks, SNI,
// insecure-skip-verify, and client certificates (mutual TLS).
#include "async_test.hpp"
#include "redis_test_util.hpp"

#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;
using namespace mcpd;
using namespace mcpd::test;
using redis::command;

namespace {

redis::config tls_config(redis_server const& server) {
    auto cfg = test_config(server);
    cfg.tls.ca_file = test_certificates().ca_cert;
    cfg.reconnect = [](std::uint32_t, error const&) { return std::optional<duration>(); };
    return cfg;
}

asio::awaitable<result<redis::value>> ping(redis::config cfg) {
    redis::client c(co_await asio::this_coro::executor, std::move(cfg));
    co_return co_await c.exec(command("PING"));
}

} // namespace

TEST(redis_tls, verifies_the_server_against_the_ca_file) {
    redis_server server({.tls = true});
    run_async([&]() -> asio::awaitable<void> {
        auto cfg = tls_config(server);
        EXPECT_TRUE(cfg.tls.enabled);
        EXPECT_EQ(text(co_await ping(cfg)), "PONG");
        // By host name: SNI "localhost", matched against the certificate's DNS name.
        cfg.host = "localhost";
        EXPECT_EQ(text(co_await ping(cfg)), "PONG");
    });
}

TEST(redis_tls, refuses_a_server_it_cannot_verify) {
    redis_server server({.tls = true});
    run_async([&]() -> asio::awaitable<void> {
        auto untrusted = tls_config(server);
        untrusted.tls.ca_file.clear(); // the system store does not know the test CA
        auto r = co_await ping(untrusted);
        CO_ASSERT(!r);
        EXPECT_EQ(r.error().code, redis::client_errc::reconnect_gave_up);
        EXPECT_NE(r.error().detail.find("TLS handshake"), std::string::npos) << r.error().detail;

        auto wrong_name = tls_config(server);
        wrong_name.tls.server_name = "not-the-server.example";
        EXPECT_FALSE(co_await ping(wrong_name));

        auto insecure = tls_config(server);
        insecure.tls.ca_file.clear();
        insecure.tls.insecure_skip_verify = true;
        EXPECT_EQ(text(co_await ping(insecure)), "PONG");
    });
}

TEST(redis_tls, presents_a_client_certificate_when_the_server_requires_one) {
    redis_server server({.tls = true, .tls_client_certs = true});
    run_async([&]() -> asio::awaitable<void> {
        auto with_cert = tls_config(server);
        with_cert.tls.cert_file = test_certificates().client_cert;
        with_cert.tls.key_file = test_certificates().client_key;
        EXPECT_EQ(text(co_await ping(with_cert)), "PONG");
        auto without = tls_config(server);
        EXPECT_FALSE(co_await ping(without));
    });
}

TEST(redis_tls, url_options_configure_tls) {
    redis_server server({.tls = true});
    run_async([&]() -> asio::awaitable<void> {
        auto cfg =
            redis::config_from_url(server.url() + "?tls_ca_file=" + test_certificates().ca_cert);
        CO_ASSERT(cfg.has_value());
        cfg->reconnect = [](std::uint32_t, error const&) { return std::optional<duration>(); };
        EXPECT_EQ(text(co_await ping(*cfg)), "PONG");
    });
}
