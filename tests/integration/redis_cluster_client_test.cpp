// tests/integration/redis_cluster_client_test.cpp — the Redis client on a real Redis Cluster
// (3 masters, 3 replicas on loopback, redis_cluster.hpp): commands routed by slot, pipelines
// split per node and put back in order, MULTI/EXEC on one slot, cross-slot commands refused
// before anything is sent, scripts (EVALSHA, NOSCRIPT on each node), SCAN over every master,
// MOVED after a slot moved, ASK during a migration, resharding under load with every request
// answered once, a killed master failed over, pub/sub, client tracking on every node, reads
// from replicas, clear errors for a non-cluster node and unreachable seeds, and the guards
// across a master failover (each call answered once, locks never overlapping, the near cache
// serving nothing stale).
#include "async_test.hpp"
#include "redis_cluster.hpp"
#include "redis_test_util.hpp"
#include "store_backends.hpp"
#include "test_output.hpp"

#include "mcpd/guard.hpp"
#include "redis/cluster_slots.hpp"
#include "store/redis_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <thread>

namespace asio = boost::asio;
using namespace mcpd;
using namespace mcpd::test;
using namespace std::chrono_literals;
using redis::command;
using redis::detail::key_slot;

namespace {

redis::config cluster_config(redis_cluster const& c, std::string const& query = "") {
    auto parsed = redis::config_from_url(c.url() + query);
    EXPECT_TRUE(parsed) << parsed.error().message();
    redis::config cfg = parsed ? *parsed : redis::config{};
    cfg.connect_timeout = 2s;
    cfg.command_timeout = 5s;
    cfg.reconnect = redis::exponential_backoff(20ms, 200ms);
    return cfg;
}

// Keys that land on different masters.
std::vector<std::string> keys_on_every_master(redis_cluster& c, std::string const& stem,
                                              std::size_t per_master = 1) {
    std::map<std::size_t, std::vector<std::string>> by_master;
    for (int i = 0; by_master.size() < c.masters().size() ||
                    std::any_of(by_master.begin(), by_master.end(),
                                [&](auto const& kv) { return kv.second.size() < per_master; });
         ++i) {
        std::string k = stem + std::to_string(i);
        auto owner = c.master_of_slot(key_slot(k));
        if (by_master[owner].size() < per_master)
            by_master[owner].push_back(k);
    }
    std::vector<std::string> out;
    for (auto& [m, ks] : by_master)
        out.insert(out.end(), ks.begin(), ks.end());
    return out;
}

} // namespace

TEST(redis_cluster_client, commands_go_to_the_node_of_their_slot) {
    auto& cl = shared_cluster();
    run_async([&]() -> asio::awaitable<void> {
        redis::client c(co_await asio::this_coro::executor, cluster_config(cl));
        auto keys = keys_on_every_master(cl, "route:", 3);
        for (auto const& k : keys)
            EXPECT_EQ(text(co_await c.exec(command("SET", k, "v-" + k))), "OK");
        for (auto const& k : keys) {
            EXPECT_EQ(text(co_await c.exec(command("GET", k))), "v-" + k);
            // The key really is on the master that owns its slot.
            auto owner = cl.master_of_slot(key_slot(k));
            EXPECT_EQ(cl.cli(owner, {"GET", k}), "v-" + k + "\n");
        }
        EXPECT_EQ(text(co_await c.exec(command("PING"))), "PONG"); // no key: any master
        // (Replicas count once they report themselves online: right after the cluster was
        // made they may still be loading.)
        EXPECT_TRUE(c.topology().starts_with("Redis Cluster of 3 masters and ")) << c.topology();
        EXPECT_TRUE(c.topology().ends_with("16384/16384 slots served")) << c.topology();
        EXPECT_EQ(c.state(), redis::connection_state::ready);
        co_await c.quit();
    });
}

TEST(redis_cluster_client, a_pipeline_is_split_per_node_and_answered_in_order) {
    auto& cl = shared_cluster();
    run_async([&]() -> asio::awaitable<void> {
        redis::client c(co_await asio::this_coro::executor, cluster_config(cl));
        redis::request set;
        for (int i = 0; i < 200; ++i)
            set.push(command("SET", "pipe:" + std::to_string(i), i));
        auto ok = co_await c.exec(std::move(set));
        CO_ASSERT(ok.has_value());
        EXPECT_EQ(ok->size(), 200U);
        redis::request get;
        for (int i = 0; i < 200; ++i)
            get.push(command("GET", "pipe:" + std::to_string(i)));
        get.push(command("LPUSH", "pipe:0", "x")); // an error reply stays a value, in place
        auto got = co_await c.exec(std::move(get));
        CO_ASSERT(got.has_value());
        CO_ASSERT(got->size() == 201U);
        for (int i = 0; i < 200; ++i)
            EXPECT_EQ((*got)[i].str, std::to_string(i));
        EXPECT_TRUE((*got)[200].is_error());
        co_await c.quit();
    });
}

TEST(redis_cluster_client, multi_exec_on_one_slot_runs_and_cross_slot_commands_fail_at_once) {
    auto& cl = shared_cluster();
    run_async([&]() -> asio::awaitable<void> {
        redis::client c(co_await asio::this_coro::executor, cluster_config(cl));
        redis::request tx;
        tx.push(command("MULTI"))
            .push(command("SET", "{acct:7}:balance", 100))
            .push(command("INCRBY", "{acct:7}:balance", 5))
            .push(command("EXEC"));
        auto r = co_await c.exec(std::move(tx));
        CO_ASSERT(r.has_value());
        CO_ASSERT(r->size() == 4U);
        EXPECT_EQ((*r)[3].elements.size(), 2U);
        EXPECT_EQ(text(co_await c.exec(command("GET", "{acct:7}:balance"))), "105");
        // Keys in different slots: refused before anything is sent, naming them.
        auto before = c.stats().requests;
        auto cross = co_await c.exec(command("MSET", "a", "1", "b", "2"));
        CO_ASSERT(!cross);
        EXPECT_EQ(cross.error().code, redis::client_errc::unsupported_command);
        EXPECT_NE(cross.error().message().find("\"a\""), std::string::npos)
            << cross.error().message();
        EXPECT_NE(cross.error().message().find("\"b\""), std::string::npos);
        EXPECT_EQ(c.stats().requests, before);
        redis::request cross_tx;
        cross_tx.push(command("MULTI")).push(command("SET", "a", 1)).push(command("SET", "b", 2));
        cross_tx.push(command("EXEC"));
        EXPECT_FALSE(co_await c.exec(std::move(cross_tx)));
        // With a hash tag they go together.
        EXPECT_EQ(text(co_await c.exec(command("MSET", "{u}a", "1", "{u}b", "2"))), "OK");
        co_await c.quit();
    });
}

TEST(redis_cluster_client, scripts_load_on_each_node_and_scan_covers_every_master) {
    auto& cl = shared_cluster();
    run_async([&]() -> asio::awaitable<void> {
        redis::client c(co_await asio::this_coro::executor, cluster_config(cl));
        redis::script incr_by("return redis.call('INCRBY', KEYS[1], ARGV[1])");
        for (auto const& k : keys_on_every_master(cl, "script:")) {
            std::vector<std::string> keys{k}; // named: GCC 12 coroutine bug
            std::vector<std::string> args{"3"};
            auto r = co_await c.eval(incr_by, keys, args); // NOSCRIPT on each node, then EVAL
            EXPECT_EQ(text(r), "3") << k;
            EXPECT_EQ(text(co_await c.eval(incr_by, keys, args)), "6") << k; // EVALSHA now
        }
        for (int i = 0; i < 300; ++i)
            CO_ASSERT(co_await c.exec(command("SET", "scan:" + std::to_string(i), "x")));
        auto all = co_await c.scan("scan:*", 50).collect();
        CO_ASSERT(all.has_value());
        EXPECT_EQ(all->size(), 300U);
        co_await c.quit();
    });
}

TEST(redis_cluster_client, pubsub_and_client_tracking_on_every_node) {
    auto& cl = shared_cluster();
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        redis::subscriber sub(ex, cluster_config(cl));
        std::vector<std::string> channels{"cluster-news"};
        CO_ASSERT(co_await sub.subscribe(std::move(channels)));
        redis::client pub(ex, cluster_config(cl));
        for (int i = 0; i < 100; ++i) {
            auto n = co_await pub.exec(command("PUBLISH", "cluster-news", "hi"));
            if (n && n->integer >= 1)
                break;
            co_await sleep_for(20ms);
        }
        auto got = co_await sub.receive();
        CO_ASSERT(got.has_value());
        EXPECT_EQ(got->payload, "hi");
        co_await sub.quit();

        // Invalidations arrive from whichever node holds the key.
        auto cfg = cluster_config(cl);
        cfg.key_prefix = "app:";
        redis::client tracked(ex, cfg);
        std::set<std::string> invalidated;
        tracked.track_prefixes({"near:"}, [&](std::optional<std::vector<std::string>> keys) {
            if (keys)
                invalidated.insert(keys->begin(), keys->end());
        });
        auto keys = keys_on_every_master(cl, "near:");
        for (auto const& k : keys)
            CO_ASSERT(co_await tracked.exec(command("GET", k)));
        for (int i = 0; i < 200 && !tracked.tracking_active(); ++i)
            co_await sleep_for(10ms);
        EXPECT_TRUE(tracked.tracking_active());
        for (auto const& k : keys)
            CO_ASSERT(co_await pub.exec(command("SET", "app:" + k, "changed")));
        for (int i = 0; i < 200 && invalidated.size() < keys.size(); ++i)
            co_await sleep_for(10ms);
        for (auto const& k : keys)
            EXPECT_TRUE(invalidated.count(k)) << k;
        co_await tracked.quit();
        co_await pub.quit();
    });
}

TEST(redis_cluster_client, moved_and_ask_are_followed_when_slots_move) {
    redis_cluster cl;
    run_async([&]() -> asio::awaitable<void> {
        redis::client c(co_await asio::this_coro::executor, cluster_config(cl));
        std::string const key = "{moving}:k";
        auto slot = key_slot(key);
        CO_ASSERT(co_await c.exec(command("SET", key, "1")));
        auto owner = cl.master_of_slot(slot);
        auto masters = cl.masters();
        std::size_t other = masters[0] == owner ? masters[1] : masters[0];
        // MOVED: the client still thinks the old owner serves the slot.
        cl.move_slot(slot, other);
        EXPECT_EQ(text(co_await c.exec(command("INCR", key))), "2");
        EXPECT_EQ(cl.cli(other, {"GET", key}), "2\n");
        // ASK: mid-migration, a key already moved is asked for on the target.
        std::string const moved_key = "{moving}:a";
        std::string const staying_key = "{moving}:b";
        CO_ASSERT(co_await c.exec(command("SET", moved_key, "A")));
        CO_ASSERT(co_await c.exec(command("SET", staying_key, "B")));
        cl.begin_migration(slot, owner);
        cl.migrate_keys(slot, owner, {moved_key});
        EXPECT_EQ(text(co_await c.exec(command("GET", moved_key))), "A");
        EXPECT_EQ(text(co_await c.exec(command("GET", staying_key))), "B");
        cl.finish_migration(slot, owner);
        EXPECT_EQ(text(co_await c.exec(command("GET", staying_key))), "B");
        co_await c.quit();
    });
}

TEST(redis_cluster_client, resharding_under_load_answers_every_request_once) {
    redis_cluster cl;
    std::atomic<bool> load_done{false};
    std::map<std::string, long> answered; // per counter, INCRs that succeeded
    std::vector<std::string> failures;
    auto masters = cl.masters();
    std::thread reshard([&] {
        std::this_thread::sleep_for(200ms);
        cl.reshard(masters[0], masters[1], 300);
        cl.reshard(masters[2], masters[0], 200);
        load_done = true;
    });
    run_async(
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            redis::client c(ex, cluster_config(cl));
            std::vector<std::string> counters;
            counters.reserve(64);
            for (int i = 0; i < 64; ++i)
                counters.push_back("load:" + std::to_string(i));
            auto started = std::chrono::steady_clock::now();
            int running = 0;
            // 64 in flight at all times until the resharding is over (bounded: 60 s).
            auto worker = [&](std::string key) -> asio::awaitable<void> {
                ++running;
                while (!load_done && std::chrono::steady_clock::now() - started < 60s) {
                    auto r = co_await c.exec(command("INCR", key));
                    if (r)
                        ++answered[key];
                    else
                        failures.push_back(r.error().message());
                }
                --running;
            };
            for (auto const& k : counters)
                asio::co_spawn(ex, worker(k), asio::detached);
            while (running > 0 || std::chrono::steady_clock::now() - started < 1s)
                co_await sleep_for(20ms);
            for (auto const& k : counters)
                EXPECT_EQ(text(co_await c.exec(command("GET", k))), std::to_string(answered[k]))
                    << k;
            co_await c.quit();
        },
        120s);
    reshard.join();
    EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
}

TEST(redis_cluster_client, a_killed_master_fails_over_and_requests_succeed_again) {
    redis_cluster cl;
    run_async(
        [&]() -> asio::awaitable<void> {
            redis::client c(co_await asio::this_coro::executor, cluster_config(cl));
            std::string const key = "failover:k";
            auto victim = cl.master_of_slot(key_slot(key));
            CO_ASSERT(co_await c.exec(command("SET", key, "0")));
            CO_ASSERT(co_await c.exec(command("WAIT", 1, 5000)));
            cl.node(victim).kill(); // the cluster promotes its replica by itself
            int ok_in_a_row = 0;
            long successes = 0;
            std::string last_error;
            auto started = std::chrono::steady_clock::now();
            while (ok_in_a_row < 100 && std::chrono::steady_clock::now() - started < 60s) {
                auto r = co_await c.exec(command("INCR", key));
                if (r) {
                    ++ok_in_a_row;
                    ++successes;
                } else {
                    EXPECT_EQ(ok_in_a_row, 0) << "failed after recovering: " << r.error().message();
                    ok_in_a_row = 0;
                    last_error = r.error().message();
                    co_await sleep_for(50ms);
                }
            }
            EXPECT_EQ(ok_in_a_row, 100) << last_error;
            // Every INCR that succeeded counted once; the ones before the kill may have been
            // answered by the old master and replicated, or not: at least those after it.
            auto now = co_await c.exec(command("GET", key));
            CO_ASSERT(now.has_value());
            EXPECT_GE(now->as_integer().value_or(-1), 100);
            EXPECT_LE(now->as_integer().value_or(1 << 30), successes);
            co_await c.quit();
        },
        90s);
}

TEST(redis_cluster_client, reads_from_replicas_when_asked) {
    auto& cl = shared_cluster();
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        redis::client writer(ex, cluster_config(cl));
        redis::client reader(ex, cluster_config(cl, "?read_from_replicas=true"));
        std::string const key = "replica-read:k";
        CO_ASSERT(co_await writer.exec(command("SET", key, "v")));
        CO_ASSERT(co_await writer.exec(command("WAIT", 1, 5000)));
        auto owner = cl.master_of_slot(key_slot(key));
        auto replicas = cl.replicas_of(owner);
        CO_ASSERT(!replicas.empty());
        auto gets_on_replica = [&] {
            auto info = cl.cli(replicas.front(), {"INFO", "commandstats"});
            auto at = info.find("cmdstat_get:calls=");
            return at == std::string::npos ? 0L : std::stol(info.substr(at + 18));
        };
        long before = gets_on_replica();
        for (int i = 0; i < 10; ++i)
            EXPECT_EQ(text(co_await reader.exec(command("GET", key))), "v");
        EXPECT_GE(gets_on_replica() - before, 10);
        // Writes still go to the master.
        EXPECT_EQ(text(co_await reader.exec(command("SET", key, "w"))), "OK");
        co_await reader.quit();
        co_await writer.quit();
    });
}

TEST(redis_cluster_client, a_plain_redis_or_unreachable_seeds_are_clear_errors) {
    redis_server plain;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto cfg =
            redis::config_from_url("redis+cluster://127.0.0.1:" + std::to_string(plain.port()));
        CO_ASSERT(cfg.has_value());
        cfg->command_timeout = 2s;
        redis::client c(ex, *cfg);
        auto r = co_await c.exec(command("GET", "k"));
        CO_ASSERT(!r);
        EXPECT_NE(r.error().message().find("is not a cluster node"), std::string::npos)
            << r.error().message();
        co_await c.quit();

        auto gone =
            redis::config_from_url("redis+cluster://127.0.0.1:" + std::to_string(free_port()) +
                                   ",127.0.0.1:" + std::to_string(free_port()));
        CO_ASSERT(gone.has_value());
        gone->command_timeout = 1s;
        gone->connect_timeout = 1s;
        redis::client nobody(ex, *gone);
        auto t0 = std::chrono::steady_clock::now();
        auto r2 = co_await nobody.exec(command("GET", "k"));
        CO_ASSERT(!r2);
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
        // Which timer fires first depends on the machine's load; either way the error says that
        // no slot map could be had.
        EXPECT_NE(r2.error().message().find("slot map"), std::string::npos) << r2.error().message();
        co_await nobody.quit();
    });
}

TEST(redis_cluster_client, guards_across_a_master_failover_answer_once_and_serve_nothing_stale) {
    redis_cluster cl;
    run_async(
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            auto cfg = cluster_config(cl);
            cfg.command_timeout = 2s; // the guards' own budget
            guard::guard_options opts;
            opts.cache.near_cache = true;
            auto a = guard::guard_set::with_redis(ex, cfg, opts);
            auto b = guard::guard_set::with_redis(ex, cfg, opts);
            CO_ASSERT(co_await a->wait_ready(5s));
            CO_ASSERT(co_await b->wait_ready(5s));
            redis::client raw(ex, cfg);

            // A value cached through A's near cache, on the master about to die.
            auto value_of = [](std::string const& v) {
                return boost::json::object{{"content", boost::json::array{boost::json::object{
                                                           {"type", "text"}, {"text", v}}}}};
            };
            std::string current = "v1";
            int computed = 0;
            guard::guard_set::tool_body compute =
                [&](guard::lock_lease const&) -> asio::awaitable<boost::json::object> {
                ++computed;
                co_return value_of(current);
            };
            auto cached = guard::tool_guards{}.cache(1min);
            boost::json::object args{{"k", 1}};
            CO_ASSERT(co_await a->run_tool({"stale", "s", args}, cached, compute) ==
                      value_of("v1"));
            CO_ASSERT(co_await a->run_tool({"stale", "s", args}, cached, compute) ==
                      value_of("v1"));
            CO_ASSERT(co_await raw.exec(command("WAIT", 1, 5000)));

            // Mixed load during the failover: cached, rate-limited and locked calls from 8
            // callers; each call returns exactly once, the locked section never overlaps.
            std::atomic<bool> stop{false};
            int started = 0, returned = 0, inside = 0, overlaps = 0;
            int consecutive_ok = 0;
            // Calls on the other masters' slots go on succeeding during the failover: what is
            // bounded is when the last failure happened.
            auto last_failure = std::chrono::steady_clock::time_point{};
            auto locked_body = [&](guard::lock_lease const&) -> asio::awaitable<void> {
                if (++inside > 1)
                    ++overlaps;
                co_await sleep_for(1ms);
                --inside;
            };
            auto caller = [&](int n) -> asio::awaitable<void> {
                for (int i = 0; !stop; ++i) {
                    ++started;
                    bool ok = true;
                    try {
                        auto rate = co_await a->check_rate_limit(
                            "s" + std::to_string(n), "tool", 1'000'000, std::chrono::minutes(1),
                            guard::rate_algorithm::sliding_counter);
                        ok = rate.decided;
                        guard::lock_policy p;
                        p.ttl = 5s;
                        p.when_busy = guard::lock_wait::wait;
                        p.wait_timeout = 30s; // 8 callers queue for it: waiting is no failure
                        co_await a->with_lock("failover-lock", p, locked_body);
                    } catch (std::exception const&) {
                        ok = false;
                    }
                    ++returned;
                    if (ok) {
                        ++consecutive_ok;
                    } else {
                        last_failure = std::chrono::steady_clock::now();
                        consecutive_ok = 0;
                        co_await sleep_for(20ms);
                    }
                }
            };
            for (int n = 0; n < 8; ++n)
                asio::co_spawn(ex, caller(n), asio::detached);
            co_await sleep_for(300ms);
            std::string const stale_key =
                "mcp:cache:stale:" + guard::sha256_hex(guard::canonical_json(args));
            cl.node(cl.master_of_slot(key_slot(stale_key))).kill(); // the cached entry's master
            auto killed = std::chrono::steady_clock::now();
            consecutive_ok = 0;
            // Recovered: 5 s past the kill and the last failure (the failover takes ~3 s), and
            // calls succeeding since. Counted in calls, not in a rate: 8 callers queue for one
            // lock, slowly on a loaded machine.
            auto recovered = [&] {
                auto now = std::chrono::steady_clock::now();
                return consecutive_ok >= 100 && now - std::max(killed, last_failure) >= 5s;
            };
            while (!recovered() && std::chrono::steady_clock::now() - killed < 40s)
                co_await sleep_for(50ms);
            stop = true;
            while (returned < started)
                co_await sleep_for(10ms);
            EXPECT_GE(consecutive_ok, 100) << "the guards never recovered";
            EXPECT_EQ(overlaps, 0);
            EXPECT_LT(last_failure - killed, 15s) << "failures went on past the failover";

            // After the failover, B changes the entry; A must never serve its old copy again.
            current = "v2";
            CO_ASSERT(co_await raw.exec(command("DEL", stale_key)));
            auto fresh = co_await b->run_tool({"stale", "s", args}, cached, compute);
            EXPECT_EQ(fresh, value_of("v2"));
            for (int i = 0; i < 20; ++i) {
                auto seen = co_await a->run_tool({"stale", "s", args}, cached, compute);
                EXPECT_EQ(seen, value_of("v2")) << "read " << i;
                co_await sleep_for(10ms);
            }
            co_await a->close();
            co_await b->close();
            co_await raw.quit();
        },
        90s);
}

TEST(redis_cluster_client, mcpd_redis_ping_and_config_print_speak_cluster) {
    auto& cl = shared_cluster();
    std::string env = "env -u REDIS_URL REDIS_CLUSTER_NODES=" + cl.seed_list() + " ";
    auto ping = run_kept(env + MCPD_BINARY + " redis ping");
    EXPECT_NE(ping.find("SET/GET/DEL round trip ok; Redis Cluster of 3 masters"), std::string::npos)
        << ping;
    EXPECT_NE(ping.find("16384/16384 slots served"), std::string::npos) << ping;
    auto by_url = run_kept("env -u REDIS_URL " + std::string(MCPD_BINARY) + " redis ping --url '" +
                           cl.url() + "'");
    EXPECT_NE(by_url.find("round trip ok; Redis Cluster of 3 masters"), std::string::npos)
        << by_url;
    auto shown = run_kept(env + MCPD_BINARY + " config print");
    EXPECT_NE(shown.find(cl.seed_list()), std::string::npos) << shown;
    // A cluster URL pointed at nothing: a clear error, exit code 1.
    auto none = run_kept("env -u REDIS_URL " + std::string(MCPD_BINARY) +
                         " redis ping --wait 1s --url redis+cluster://127.0.0.1:" +
                         std::to_string(free_port()) + "; echo exit=$?");
    EXPECT_NE(none.find("no cluster node answered"), std::string::npos) << none;
    EXPECT_NE(none.find("exit=1"), std::string::npos) << none;
}

TEST(redis_cluster_client, the_store_never_hides_a_created_session_from_concurrent_readers) {
    auto& cl = shared_cluster();
    run_async(
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            auto cfg = cluster_config(cl);
            store::redis_store s(ex, cfg);
            redis::client raw(ex, cfg);
            CO_ASSERT(co_await s.clear_all());
            auto record = [](std::string const& id) {
                return boost::json::object{{"identity", "carol"},
                                           {"sessionId", id},
                                           {"serverId", "s"},
                                           {"serverName", "n"},
                                           {"serverUrl", "https://mcp.example.com/mcp"},
                                           {"transportType", "streamable_http"},
                                           {"callbackUrl", "https://app.example.com/cb"},
                                           {"createdAt", 1732000000123},
                                           {"active", true}};
            };
            // An index entry with no record (a create that failed between its steps): pruned
            // by the first reader.
            CO_ASSERT(co_await raw.exec(
                command("SADD", store::redis_store::identity_key("carol"), "deadSession01")));
            // 60 creates, while 30 listings (each pruning what has no record yet) run.
            int created = 0, listings = 0;
            std::vector<std::string> errors;
            for (int i = 0; i < 60; ++i)
                asio::co_spawn(
                    ex,
                    [&, i]() -> asio::awaitable<void> {
                        auto rec = record("sess" + std::to_string(i));
                        auto r = co_await s.create_session(std::move(rec), std::nullopt);
                        if (r)
                            ++created;
                        else
                            errors.push_back(r.error().message());
                    },
                    asio::detached);
            for (int i = 0; i < 30; ++i)
                asio::co_spawn(
                    ex,
                    [&]() -> asio::awaitable<void> {
                        auto r = co_await s.get_identity_sessions_data("carol");
                        if (!r)
                            errors.push_back(r.error().message());
                        ++listings;
                    },
                    asio::detached);
            for (int i = 0;
                 i < 500 && (created + static_cast<int>(errors.size()) < 60 || listings < 30); ++i)
                co_await sleep_for(10ms);
            EXPECT_TRUE(errors.empty()) << errors.front();
            EXPECT_EQ(created, 60);
            auto ids = co_await s.get_identity_session_ids("carol");
            CO_ASSERT(ids.has_value());
            EXPECT_EQ(ids->size(), 60U);
            EXPECT_EQ(std::count(ids->begin(), ids->end(), "deadSession01"), 0);
            auto members =
                co_await raw.exec(command("SCARD", store::redis_store::identity_key("carol")));
            EXPECT_EQ(text(members), "60");
            // Removes while listings run: what is left is listed, and only that.
            int removed = 0;
            for (int i = 0; i < 30; ++i)
                asio::co_spawn(
                    ex,
                    [&, i]() -> asio::awaitable<void> {
                        if (co_await s.remove_session("carol", "sess" + std::to_string(i)))
                            ++removed;
                        co_await s.get_identity_sessions_data("carol");
                    },
                    asio::detached);
            for (int i = 0; i < 500 && removed < 30; ++i)
                co_await sleep_for(10ms);
            auto left = co_await s.get_identity_sessions_data("carol");
            CO_ASSERT(left.has_value());
            EXPECT_EQ(left->size(), 30U);
            CO_ASSERT(co_await s.clear_all());
            co_await s.close();
            co_await raw.quit();
        },
        60s);
}
