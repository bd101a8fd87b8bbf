// tests/integration/redis_sentinel_test.cpp — the Redis client through Sentinel against real
// servers: one master, one replica and three sentinels (quorum 2) on loopback. The client finds
// the master by name (a dead sentinel first in the list costs nothing), checks ROLE, follows a
// failover when the master is killed and a manual SENTINEL FAILOVER (the old master alive and
// demoted) through +switch-master; sentinel credentials; clear errors for an unknown master
// and for sentinels that are all unreachable; `mcpd redis ping` and `mcpd config print` on the
// REDIS_SENTINELS settings; the session storage selected and opened by REDIS_SENTINELS.
#include "async_test.hpp"
#include "redis_test_util.hpp"
#include "test_output.hpp"

#include "mcpd/store/select.hpp"

#include <boost/json/parse.hpp>

#include <boost/asio/this_coro.hpp>

#include <memory>

namespace asio = boost::asio;
using namespace mcpd;
using namespace mcpd::test;
using namespace std::chrono_literals;
using redis::command;

namespace {

// One master, one replica, three sentinels watching them as "mymaster".
struct sentinel_setup {
    bool tls = false; // every node and sentinel speaks TLS only
    std::unique_ptr<redis_server> master;
    std::unique_ptr<redis_server> replica;
    std::vector<std::unique_ptr<redis_server>> sentinels;

    explicit sentinel_setup(std::vector<std::string> const& sentinel_extra = {},
                            bool over_tls = false)
        : tls(over_tls) {
        redis_server::options m;
        m.tls = tls;
        if (tls)
            m.args = {"--tls-replication", "yes"};
        master = std::make_unique<redis_server>(m);
        redis_server::options r = m;
        r.args.insert(r.args.end(), {"--replicaof", "127.0.0.1", std::to_string(master->port())});
        replica = std::make_unique<redis_server>(r);
        for (int i = 0; i < 3; ++i) {
            redis_server::options s;
            s.tls = tls;
            s.sentinel_config = {"sentinel monitor mymaster 127.0.0.1 " +
                                     std::to_string(master->port()) + " 2",
                                 "sentinel down-after-milliseconds mymaster 1000",
                                 "sentinel failover-timeout mymaster 10000"};
            s.sentinel_config.insert(s.sentinel_config.end(), sentinel_extra.begin(),
                                     sentinel_extra.end());
            sentinels.push_back(std::make_unique<redis_server>(s));
        }
    }

    [[nodiscard]] std::string sentinel_list() const {
        std::string out;
        for (auto const& s : sentinels)
            out += (out.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(s->port());
        return out;
    }

    // A client config through the sentinels, with test timings.
    [[nodiscard]] redis::config config(std::string const& name = "mymaster") const {
        auto parsed = redis::config_from_url(std::string(tls ? "rediss" : "redis") +
                                             "+sentinel://" + sentinel_list() + "/" + name);
        EXPECT_TRUE(parsed) << parsed.error().message();
        redis::config c = parsed ? *parsed : redis::config{};
        c.connect_timeout = 2s;
        c.command_timeout = 3s;
        c.reconnect = redis::exponential_backoff(20ms, 200ms);
        if (tls)
            c.tls.ca_file = test_certificates().ca_cert;
        return c;
    }
};

// A plain client to one sentinel (or node), for checking what it knows.
redis::config direct(redis_server const& s) {
    redis::config c = test_config(s);
    c.client_name.clear();
    return c;
}

// Waits until every sentinel knows the replica and the two other sentinels (they learn that
// from the master's INFO and each other's hello messages within a few seconds).
asio::awaitable<bool> wait_until_sentinels_agree(sentinel_setup const& setup) {
    auto ex = co_await asio::this_coro::executor;
    for (int attempt = 0; attempt < 300; ++attempt) {
        bool all = true;
        for (auto const& s : setup.sentinels) {
            redis::client c(ex, direct(*s));
            auto replicas = co_await c.exec(command("SENTINEL", "REPLICAS", "mymaster"));
            auto peers = co_await c.exec(command("SENTINEL", "SENTINELS", "mymaster"));
            all = all && replicas && replicas->elements.size() == 1 && peers &&
                  peers->elements.size() == 2;
            co_await c.quit();
        }
        if (all)
            co_return true;
        co_await sleep_for(100ms);
    }
    co_return false;
}

// The role of the node a client is connected to: "master" or "slave".
asio::awaitable<std::string> role_of(redis::client& c) {
    auto r = co_await c.exec(command("ROLE"));
    if (!r || r->elements.empty())
        co_return "error: " + (r ? redis::to_debug_string(*r) : r.error().message());
    co_return std::string(r->elements.front().as_string().value_or(""));
}

// The port of the node a client is connected to, as that node says.
asio::awaitable<std::string> port_of(redis::client& c) {
    auto r = co_await c.exec(command("CONFIG", "GET", "port"));
    if (!r || r->elements.size() != 2)
        co_return "error";
    co_return std::string(r->elements[1].as_string().value_or(""));
}

} // namespace

TEST(redis_sentinel, a_client_finds_the_master_by_name) {
    sentinel_setup setup;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        redis::client c(ex, setup.config());
        EXPECT_EQ(text(co_await c.exec(command("SET", "k", "v"))), "OK");
        EXPECT_EQ(text(co_await c.exec(command("GET", "k"))), "v");
        EXPECT_EQ(co_await role_of(c), "master");
        // It is the master itself that holds the key.
        redis::client m(ex, direct(*setup.master));
        EXPECT_EQ(text(co_await m.exec(command("GET", "k"))), "v");
        co_await m.quit();
        EXPECT_EQ(c.cfg().redacted_url(),
                  "redis+sentinel://" + setup.sentinel_list() + "/mymaster/0");
        co_await c.quit();

        // Pub/sub through Sentinel reaches the same master.
        redis::subscriber sub(ex, setup.config());
        std::vector<std::string> channels{"news"};
        CO_ASSERT(co_await sub.subscribe(std::move(channels)));
        redis::client pub(ex, setup.config());
        for (int i = 0; i < 50; ++i) {
            auto n = co_await pub.exec(command("PUBLISH", "news", "hello"));
            if (n && n->integer == 1)
                break;
            co_await sleep_for(20ms);
        }
        auto got = co_await sub.receive();
        CO_ASSERT(got.has_value());
        EXPECT_EQ(got->payload, "hello");
        co_await pub.quit();
        co_await sub.quit();
    });
}

TEST(redis_sentinel, a_dead_sentinel_first_in_the_list_costs_nothing) {
    sentinel_setup setup;
    run_async([&]() -> asio::awaitable<void> {
        auto cfg =
            redis::config_from_url("redis+sentinel://127.0.0.1:" + std::to_string(free_port()) +
                                   "," + setup.sentinel_list() + "/mymaster");
        CO_ASSERT(cfg.has_value());
        cfg->connect_timeout = 2s;
        redis::client c(co_await asio::this_coro::executor, *cfg);
        EXPECT_EQ(text(co_await c.exec(command("SET", "k", "v"))), "OK");
        co_await c.quit();
    });
}

TEST(redis_sentinel, an_unknown_master_or_no_sentinel_is_a_clear_error_not_a_hang) {
    sentinel_setup setup;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto cfg = setup.config("nosuchmaster");
        cfg.command_timeout = 1s;
        redis::client c(ex, cfg);
        auto r = co_await c.exec(command("PING"));
        CO_ASSERT(!r);
        EXPECT_NE(r.error().message().find("no sentinel named master 'nosuchmaster'"),
                  std::string::npos)
            << r.error().message();
        EXPECT_NE(r.error().message().find("it watches no master named 'nosuchmaster'"),
                  std::string::npos)
            << r.error().message();
        co_await c.quit();

        // Without the offline queue the caller hears at once.
        auto nowait = redis::config_from_url(
            "redis+sentinel://127.0.0.1:" + std::to_string(free_port()) + "/mymaster");
        CO_ASSERT(nowait.has_value());
        nowait->command_timeout = 1s;
        nowait->reconnect = [](std::uint32_t, error const&) { return std::optional<duration>(); };
        redis::client gone(ex, *nowait);
        auto t0 = std::chrono::steady_clock::now();
        auto r2 = co_await gone.exec(command("PING"));
        CO_ASSERT(!r2);
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
        EXPECT_NE(r2.error().message().find("no sentinel named master 'mymaster'"),
                  std::string::npos)
            << r2.error().message();
        EXPECT_NE(r2.error().message().find("onnection refused"), std::string::npos)
            << r2.error().message();
    });
}

TEST(redis_sentinel, sentinels_with_a_password_need_the_sentinel_password) {
    sentinel_setup setup({"requirepass sentinel-secret"});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto cfg = setup.config();
        cfg.command_timeout = 1s;
        redis::client refused(ex, cfg);
        auto r = co_await refused.exec(command("PING"));
        CO_ASSERT(!r);
        EXPECT_NE(r.error().message().find("NOAUTH"), std::string::npos) << r.error().message();
        co_await refused.quit();

        cfg.sentinel.password = "sentinel-secret";
        redis::client c(ex, cfg);
        EXPECT_EQ(text(co_await c.exec(command("PING"))), "PONG");
        co_await c.quit();
    });
}

TEST(redis_sentinel, sentinels_and_nodes_over_tls) {
    sentinel_setup setup({}, true);
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto cfg = setup.config();
        EXPECT_EQ(cfg.redacted_url(), "rediss+sentinel://" + setup.sentinel_list() + "/mymaster/0");
        redis::client c(ex, cfg);
        EXPECT_EQ(text(co_await c.exec(command("SET", "k", "v"))), "OK");
        EXPECT_EQ(co_await role_of(c), "master");
        EXPECT_EQ(co_await port_of(c), "0"); // the master's plain port is off: this is TLS
        co_await c.quit();
        // Without the CA the sentinels' certificates are not trusted: a clear error.
        cfg.tls.ca_file.clear();
        cfg.command_timeout = 1s;
        redis::client untrusted(ex, cfg);
        auto r = co_await untrusted.exec(command("PING"));
        CO_ASSERT(!r);
        EXPECT_NE(r.error().message().find("TLS handshake"), std::string::npos)
            << r.error().message();
        co_await untrusted.quit();
    });
}

TEST(redis_sentinel, a_killed_master_is_followed_to_the_promoted_replica) {
    sentinel_setup setup;
    run_async(
        [&]() -> asio::awaitable<void> {
            CO_ASSERT(co_await wait_until_sentinels_agree(setup));
            auto ex = co_await asio::this_coro::executor;
            redis::client c(ex, setup.config());
            EXPECT_EQ(text(co_await c.exec(command("SET", "before", "1"))), "OK");
            EXPECT_EQ(text(co_await c.exec(command("WAIT", 1, 5000))), "1"); // on the replica
            setup.master->kill();
            auto killed = std::chrono::steady_clock::now();
            // Requests fail while the sentinels agree the master is down and promote the
            // replica, then succeed; once one succeeds every later one does.
            int failures = 0;
            int after_recovery = 0;
            std::string last_error;
            while (after_recovery < 100 && std::chrono::steady_clock::now() - killed < 40s) {
                auto r = co_await c.exec(command("INCR", "counter"));
                if (r) {
                    ++after_recovery;
                    continue;
                }
                EXPECT_EQ(after_recovery, 0) << "failed after recovering: " << r.error().message();
                ++failures;
                last_error = r.error().message();
                co_await sleep_for(50ms);
            }
            EXPECT_EQ(after_recovery, 100) << "last error: " << last_error;
            EXPECT_EQ(co_await role_of(c), "master");
            // The replica, now the master, has the key written before the kill.
            redis::client promoted(ex, direct(*setup.replica));
            EXPECT_EQ(text(co_await promoted.exec(command("GET", "before"))), "1");
            EXPECT_EQ(text(co_await promoted.exec(command("GET", "counter"))), "100");
            co_await promoted.quit();
            co_await c.quit();
        },
        90s);
}

TEST(redis_sentinel, a_manual_failover_moves_the_client_through_switch_master) {
    sentinel_setup setup;
    run_async(
        [&]() -> asio::awaitable<void> {
            CO_ASSERT(co_await wait_until_sentinels_agree(setup));
            auto ex = co_await asio::this_coro::executor;
            redis::client c(ex, setup.config());
            EXPECT_EQ(text(co_await c.exec(command("SET", "k", "old"))), "OK");
            // The replica must have what the master has before it can take over.
            redis::client m(ex, direct(*setup.master));
            CO_ASSERT(co_await m.exec(command("WAIT", 1, 5000)));
            co_await m.quit();
            redis::client s(ex, direct(*setup.sentinels[0]));
            std::string failover;
            for (int i = 0; i < 100; ++i) { // refused while a previous election cools down
                failover = text(co_await s.exec(command("SENTINEL", "FAILOVER", "mymaster")));
                if (failover == "OK")
                    break;
                co_await sleep_for(100ms);
            }
            EXPECT_EQ(failover, "OK");
            // Wait until the sentinels name the replica as the master.
            std::string const promoted_port = std::to_string(setup.replica->port());
            bool switched = false;
            for (int i = 0; i < 300 && !switched; ++i) {
                auto addr =
                    co_await s.exec(command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"));
                switched = addr && addr->elements.size() == 2 &&
                           addr->elements[1].as_string() == promoted_port;
                if (!switched)
                    co_await sleep_for(50ms);
            }
            CO_ASSERT(switched);
            co_await s.quit();
            // The old master lives on as a replica: the client must not keep talking to it.
            // +switch-master (or a READONLY reply, once the old master is demoted) moves it.
            bool followed = false;
            for (int i = 0; i < 200 && !followed; ++i) {
                followed = co_await port_of(c) == promoted_port;
                if (!followed)
                    co_await sleep_for(50ms);
            }
            CO_ASSERT(followed);
            for (int i = 0; i < 100; ++i)
                EXPECT_TRUE(co_await c.exec(command("INCR", "after")));
            redis::client promoted(ex, direct(*setup.replica));
            EXPECT_EQ(co_await role_of(promoted), "master");
            EXPECT_EQ(text(co_await promoted.exec(command("GET", "after"))), "100");
            co_await promoted.quit();
            EXPECT_EQ(co_await role_of(c), "master");
            co_await c.quit();
        },
        90s);
}

TEST(redis_sentinel, mcpd_redis_ping_and_config_print_speak_sentinel) {
    sentinel_setup setup({"requirepass sentinel-secret-7"});
    std::string env = "env -u REDIS_URL REDIS_SENTINELS=" + setup.sentinel_list() +
                      " REDIS_SENTINEL_MASTER=mymaster REDIS_SENTINEL_PASSWORD=sentinel-secret-7 ";
    auto ping = run_kept(env + MCPD_BINARY + " redis ping");
    EXPECT_NE(ping.find("SET/GET/DEL round trip ok; Sentinel master 'mymaster' (3 sentinels) at "
                        "127.0.0.1:" +
                        std::to_string(setup.master->port())),
              std::string::npos)
        << ping;
    EXPECT_EQ(ping.find("sentinel-secret-7"), std::string::npos) << ping;

    auto shown = run_kept(env + MCPD_BINARY + " config print");
    EXPECT_NE(shown.find(setup.sentinel_list()), std::string::npos) << shown;
    EXPECT_NE(shown.find("mymaster"), std::string::npos) << shown;
    EXPECT_EQ(shown.find("sentinel-secret-7"), std::string::npos) << shown;

    // The URL form, on the command line.
    auto by_url = run_kept("env -u REDIS_URL " + std::string(MCPD_BINARY) +
                           " redis ping --url 'redis+sentinel://" + setup.sentinel_list() +
                           "/mymaster?sentinel_password=sentinel-secret-7'");
    EXPECT_NE(by_url.find("round trip ok; Sentinel master 'mymaster'"), std::string::npos)
        << by_url;
    EXPECT_EQ(by_url.find("sentinel-secret-7"), std::string::npos) << by_url;

    // An unknown master: a clear error, exit code 1, within the wait.
    auto unknown =
        run_kept("env -u REDIS_URL REDIS_SENTINELS=" + setup.sentinel_list() +
                 " REDIS_SENTINEL_MASTER=other REDIS_SENTINEL_PASSWORD=sentinel-secret-7 " +
                 MCPD_BINARY + " redis ping --wait 1s; echo exit=$?");
    EXPECT_NE(unknown.find("no sentinel named master 'other'"), std::string::npos) << unknown;
    EXPECT_NE(unknown.find("exit=1"), std::string::npos) << unknown;
}

TEST(redis_sentinel, redis_sentinels_selects_redis_storage_on_the_master) {
    sentinel_setup setup;
    std::map<std::string, std::string> vars{{"REDIS_SENTINELS", setup.sentinel_list()},
                                            {"REDIS_SENTINEL_MASTER", "mymaster"}};
    auto env = [&vars](char const* name) -> char const* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
    };
    auto choice = store::choose_store(env, store::store_type::sqlite);
    ASSERT_TRUE(choice.has_value());
    EXPECT_EQ(choice->type, store::store_type::redis);
    EXPECT_EQ(choice->reason, "REDIS_SENTINELS is set");
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto opened = co_await store::open_store(ex, *choice, {.required = true}, env);
        CO_ASSERT(opened.has_value());
        EXPECT_EQ(opened->store->backend_name(), "redis");
        auto rec = boost::json::parse(R"({"identity": "alice", "sessionId": "sentinelSess1",
            "serverId": "s", "serverName": "n", "serverUrl": "https://mcp.example.com/mcp",
            "transportType": "streamable_http", "callbackUrl": "https://app.example.com/cb",
            "createdAt": 1732000000123, "active": true})")
                       .as_object();
        CO_ASSERT(co_await opened->store->create_session(rec));
        // The record is on the master, in @mcp-ts/sdk's layout.
        redis::client m(ex, direct(*setup.master));
        auto raw = co_await m.exec(command("EXISTS", "mcp:session:alice:sentinelSess1"));
        EXPECT_EQ(text(raw), "1");
        co_await m.quit();
        auto back = co_await opened->store->get_session("alice", "sentinelSess1");
        CO_ASSERT(back && *back);
        EXPECT_EQ((**back).at("serverName").as_string(), "n");
    });
}
