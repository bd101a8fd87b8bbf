// tests/integration/redis_client_test.cpp — the Redis client against a real redis-server:
// commands and reply types, RESP3 and RESP2 (forced and by fallback), AUTH with a password and
// with an ACL user, SELECT, CLIENT SETNAME, Unix sockets, the key prefix, scripts with the
// NOSCRIPT fallback, SCAN with the KEYS fallback, automatic pipelining, quit and disconnect.
#include "async_test.hpp"
#include "redis_test_util.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;
using namespace mcpd;
using namespace mcpd::test;
using namespace std::chrono_literals;
using redis::command;

namespace {

asio::awaitable<redis::client> make_client(redis::config cfg) {
    co_return redis::client(co_await asio::this_coro::executor, std::move(cfg));
}

} // namespace

TEST(redis_client, commands_return_typed_replies) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto c = co_await make_client(test_config(server));
        EXPECT_EQ(text(co_await c.exec(command("SET", "k", "v"))), "OK");
        auto got = co_await c.exec(command("GET", "k"));
        CO_ASSERT(got.has_value());
        EXPECT_EQ(got->type, redis::resp_type::bulk_string);
        EXPECT_EQ(got->str, "v");
        auto missing = co_await c.exec(command("GET", "nope"));
        CO_ASSERT(missing.has_value());
        EXPECT_TRUE(missing->is_null());
        auto n = co_await c.exec(command("INCRBY", "counter", 41));
        EXPECT_EQ(n->as_integer(), 41);
        co_await c.exec(command("RPUSH", "list", "a", "b", "c"));
        auto list = co_await c.exec(command("LRANGE", "list", 0, -1));
        CO_ASSERT(list && list->type == redis::resp_type::array);
        EXPECT_EQ(list->elements.size(), 3u);
        // A server error keeps its kind and its text.
        auto wrong = co_await c.exec(command("LPUSH", "k", "x"));
        CO_ASSERT(!wrong);
        EXPECT_EQ(wrong.error().code, redis::server_errc::wrongtype);
        EXPECT_NE(wrong.error().detail.find("WRONGTYPE"), std::string::npos);
        auto unknown = co_await c.exec(command("NOSUCHCOMMAND"));
        EXPECT_EQ(unknown.error().code, redis::server_errc::unknown_command);
        EXPECT_TRUE(co_await c.quit());
    });
}

TEST(redis_client, resp3_is_negotiated_and_resp2_can_be_forced) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        int protocol = 0;
        auto c = co_await make_client(test_config(server));
        c.on_event([&](redis::event const& e) {
            if (e.what == redis::event::kind::connected)
                protocol = e.protocol;
        });
        co_await c.exec(command("HSET", "h", "f", "v"));
        auto map = co_await c.exec(command("HGETALL", "h"));
        EXPECT_EQ(protocol, 3);
        EXPECT_EQ(map->type, redis::resp_type::map);
        auto dbl = co_await c.exec(command("ZINCRBY", "z", "1.5", "m"));
        EXPECT_EQ(dbl->type, redis::resp_type::double_type);

        auto cfg2 = test_config(server);
        cfg2.protocol = redis::protocol_version::resp2;
        auto c2 = co_await make_client(cfg2);
        c2.on_event([&](redis::event const& e) {
            if (e.what == redis::event::kind::connected)
                protocol = e.protocol;
        });
        auto arr = co_await c2.exec(command("HGETALL", "h"));
        EXPECT_EQ(protocol, 2);
        EXPECT_EQ(arr->type, redis::resp_type::array);
    });
}

TEST(redis_client, falls_back_to_resp2_when_the_server_does_not_know_hello) {
    redis_server server({.args = {"--rename-command", "HELLO", ""}});
    run_async([&]() -> asio::awaitable<void> {
        int protocol = 0;
        auto c = co_await make_client(test_config(server));
        c.on_event([&](redis::event const& e) {
            if (e.what == redis::event::kind::connected)
                protocol = e.protocol;
        });
        EXPECT_EQ(text(co_await c.exec(command("PING"))), "PONG");
        EXPECT_EQ(protocol, 2);

        // Insisting on RESP3 is a clear handshake failure, not a hang.
        auto cfg = test_config(server);
        cfg.protocol = redis::protocol_version::resp3;
        cfg.offline_queue = false;
        cfg.reconnect = [](std::uint32_t, error const&) { return std::optional<duration>(); };
        auto strict = co_await make_client(cfg);
        error seen;
        strict.on_event([&](redis::event const& e) {
            if (e.what == redis::event::kind::error)
                seen = e.err;
        });
        strict.start();
        for (int i = 0; i < 100 && strict.state() != redis::connection_state::closed; ++i)
            co_await sleep_for(10ms);
        EXPECT_EQ(seen.code, redis::client_errc::handshake_failed);
        EXPECT_EQ(strict.state(), redis::connection_state::closed);
    });
}

TEST(redis_client, authenticates_with_a_password_and_with_an_acl_user) {
    redis_server server({.args = {"--requirepass", "s3cret", "--user", "alice", "on", ">wonder",
                                  "~app:*", "+@all"}});
    run_async([&]() -> asio::awaitable<void> {
        auto pw_cfg = test_config(server);
        pw_cfg.password = "s3cret";
        auto with_pw = co_await make_client(pw_cfg);
        EXPECT_EQ(text(co_await with_pw.exec(command("PING"))), "PONG");

        auto alice_cfg = test_config(server);
        alice_cfg.username = "alice";
        alice_cfg.password = "wonder";
        auto alice = co_await make_client(alice_cfg);
        EXPECT_EQ(text(co_await alice.exec(command("ACL", "WHOAMI"))), "alice");
        EXPECT_EQ(text(co_await alice.exec(command("SET", "app:x", 1))), "OK");
        auto denied = co_await alice.exec(command("SET", "other", 1));
        EXPECT_EQ(denied.error().code, redis::server_errc::noperm);

        // A wrong password is a handshake failure whose text never carries the password.
        auto bad_cfg = test_config(server);
        bad_cfg.password = "wrong-password-xyz";
        bad_cfg.reconnect = [](std::uint32_t, error const&) { return std::optional<duration>(); };
        auto bad = co_await make_client(bad_cfg);
        auto r = co_await bad.exec(command("PING"));
        CO_ASSERT(!r);
        EXPECT_EQ(r.error().code, redis::client_errc::reconnect_gave_up);
        EXPECT_NE(r.error().detail.find("WRONGPASS"), std::string::npos) << r.error().detail;
        EXPECT_EQ(r.error().message().find("wrong-password-xyz"), std::string::npos);
    });
}

TEST(redis_client, selects_the_database_and_names_the_connection_on_every_connect) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto cfg = test_config(server, "/5");
        cfg.client_name = "mcpd-test";
        auto c = co_await make_client(cfg);
        co_await c.exec(command("SET", "in5", "yes"));
        EXPECT_EQ(text(co_await c.exec(command("CLIENT", "GETNAME"))), "mcpd-test");
        auto other = co_await make_client(test_config(server));
        EXPECT_TRUE((co_await other.exec(command("GET", "in5")))->is_null());
        EXPECT_EQ(text(co_await other.exec(command("SELECT", 5))), "OK");
        EXPECT_EQ(text(co_await other.exec(command("GET", "in5"))), "yes");

        // Kill the connection from the server side: the client reconnects with the same db
        // and name.
        co_await other.exec(command("CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal"));
        auto name = co_await c.exec(command("CLIENT", "GETNAME"));
        EXPECT_EQ(text(name), "mcpd-test");
        EXPECT_EQ(text(co_await c.exec(command("GET", "in5"))), "yes");
        EXPECT_GE(c.stats().reconnects, 1u);
    });
}

TEST(redis_client, connects_over_a_unix_socket) {
    redis_server server({.unix_socket = true});
    run_async([&]() -> asio::awaitable<void> {
        auto c = co_await make_client(test_config(server, "?db=2"));
        EXPECT_EQ(text(co_await c.exec(command("SET", "k", "over-unix"))), "OK");
        auto info = co_await c.exec(command("CLIENT", "INFO"));
        CO_ASSERT(info.has_value());
        EXPECT_NE(info->str.find("db=2"), std::string::npos) << info->str;
    });
}

TEST(redis_client, key_prefix_applies_to_keys_only) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto cfg = test_config(server);
        cfg.key_prefix = "app:";
        auto c = co_await make_client(cfg);
        auto raw = co_await make_client(test_config(server));
        co_await c.exec(command("SET", "user:1", "user:2"));  // value untouched
        co_await c.exec(command("MSET", "a", "1", "b", "2")); // every other argument a key
        co_await c.exec(command("RPUSH", "q", "x"));
        co_await c.exec(command("LMOVE", "q", "q2", "LEFT", "RIGHT"));
        EXPECT_EQ(text(co_await raw.exec(command("GET", "app:user:1"))), "user:2");
        EXPECT_EQ(text(co_await raw.exec(command("GET", "app:a"))), "1");
        EXPECT_EQ(text(co_await raw.exec(command("GET", "app:b"))), "2");
        EXPECT_EQ(text(co_await raw.exec(command("LLEN", "app:q2"))), "1");
        EXPECT_TRUE((co_await raw.exec(command("GET", "user:1")))->is_null());

        // Script keys are prefixed, arguments and the body are not.
        redis::script s("return {KEYS[1], ARGV[1], redis.call('GET', KEYS[1])}");
        std::vector<std::string> keys{"user:1"}, args{"user:1"};
        auto r = co_await c.eval(s, keys, args);
        CO_ASSERT(r.has_value());
        CO_ASSERT(r->elements.size() == 3u);
        EXPECT_EQ(r->elements[0].str, "app:user:1");
        EXPECT_EQ(r->elements[1].str, "user:1");
        EXPECT_EQ(r->elements[2].str, "user:2");

        // A request may opt out.
        co_await c.exec(command("SET", "raw-key", "1"), {.apply_prefix = false});
        EXPECT_EQ(text(co_await raw.exec(command("GET", "raw-key"))), "1");
    });
}

TEST(redis_client, scripts_fall_back_to_eval_after_noscript) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto c = co_await make_client(test_config(server));
        redis::script s("return tonumber(ARGV[1]) + 1");
        EXPECT_EQ(s.sha1(), redis::sha1_hex("return tonumber(ARGV[1]) + 1"));
        // Not loaded yet: EVALSHA → NOSCRIPT → EVAL.
        std::vector<std::string> no_keys, args{"41"};
        EXPECT_EQ(text(co_await c.eval(s, no_keys, args)), "42");
        auto exists = co_await c.exec(command("SCRIPT", "EXISTS", s.sha1()));
        EXPECT_EQ(exists->elements.at(0).as_integer(), 1);
        // The cache is flushed (as after a restart or failover): still works.
        co_await c.exec(command("SCRIPT", "FLUSH"));
        args = {"1"};
        EXPECT_EQ(text(co_await c.eval(s, no_keys, args)), "2");
        // A script error is a server error, not a NOSCRIPT loop.
        redis::script bad("return redis.call('NOPE')");
        auto r = co_await c.eval(bad, no_keys, no_keys);
        CO_ASSERT(!r);
        EXPECT_NE(r.error().code, redis::server_errc::noscript);
    });
}

TEST(redis_client, scan_iterates_a_pattern_with_the_prefix_escaped) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto cfg = test_config(server);
        cfg.key_prefix = "t[1]*:"; // glob characters in the prefix must match literally
        auto c = co_await make_client(cfg);
        auto raw = co_await make_client(test_config(server));
        redis::request fill;
        for (int i = 0; i < 500; ++i)
            fill.push(command("SET", "session:" + std::to_string(i), "x"));
        fill.push(command("SET", "other:1", "x"));
        co_await c.exec(std::move(fill));
        co_await raw.exec(command("SET", "t1x:session:9999", "x")); // matches an unescaped glob
        auto all = co_await c.scan("session:*", 50).collect();
        CO_ASSERT(all.has_value());
        EXPECT_EQ(all->size(), 500u);
        EXPECT_TRUE(std::all_of(all->begin(), all->end(),
                                [](auto const& k) { return k.starts_with("session:"); }));
        // Batches arrive one by one until the cursor is 0.
        auto it = c.scan("*", 100);
        std::size_t batches = 0, keys = 0;
        for (;;) {
            auto b = co_await it.next();
            CO_ASSERT(b.has_value());
            if (!*b)
                break;
            ++batches;
            keys += (*b)->size();
        }
        EXPECT_GT(batches, 1u);
        EXPECT_GE(keys, 501u);
    });
}

TEST(redis_client, scan_falls_back_to_keys_where_scan_is_refused) {
    redis_server server({.args = {"--rename-command", "SCAN", ""}});
    run_async([&]() -> asio::awaitable<void> {
        auto c = co_await make_client(test_config(server));
        for (int i = 0; i < 20; ++i)
            co_await c.exec(command("SET", "k:" + std::to_string(i), "x"));
        auto all = co_await c.scan("k:*").collect();
        CO_ASSERT(all.has_value());
        EXPECT_EQ(all->size(), 20u);
    });
}

TEST(redis_client, concurrent_requests_are_pipelined_and_each_gets_its_own_reply) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto c = co_await make_client(test_config(server));
        auto ex = co_await asio::this_coro::executor;
        constexpr int n = 2000;
        int ok = 0, done = 0;
        for (int i = 0; i < n; ++i) {
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                    auto v = "value-" + std::to_string(i);
                    auto r = co_await c.exec(command("ECHO", v));
                    ok += r && r->str == v;
                    ++done;
                },
                asio::detached);
        }
        while (done < n)
            co_await sleep_for(5ms);
        EXPECT_EQ(ok, n);
        // MULTI/EXEC in one request stays contiguous on the wire.
        redis::request tx;
        tx.push(command("MULTI")).push(command("INCR", "n")).push(command("INCR", "n"));
        tx.push(command("EXEC"));
        auto replies = co_await c.exec(std::move(tx));
        CO_ASSERT(replies.has_value());
        EXPECT_EQ(replies->at(3).elements.size(), 2u);
    });
}

TEST(redis_client, replies_larger_than_the_read_buffer_arrive_whole_between_small_ones) {
    // The reader takes 64 KiB per read and gives back a buffer that grew past 1 MiB: replies of
    // every size around those limits, interleaved with small ones, each reach their caller.
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto c = co_await make_client(test_config(server));
        auto ex = co_await asio::this_coro::executor;
        std::vector<std::size_t> sizes{100, 65'535, 65'536, 200'000, 3'000'000, 10, 1'500'000};
        for (std::size_t i = 0; i < sizes.size(); ++i) {
            std::string v(sizes[i], static_cast<char>('a' + i));
            v.front() = '<';
            v.back() = '>';
            CO_ASSERT(co_await c.exec(command("SET", "big" + std::to_string(i), v)));
        }
        int ok = 0, done = 0;
        constexpr int rounds = 3;
        for (int round = 0; round < rounds; ++round) {
            for (std::size_t i = 0; i < sizes.size(); ++i) {
                asio::co_spawn(
                    ex,
                    [&, i]() -> asio::awaitable<void> {
                        auto big = co_await c.exec(command("GET", "big" + std::to_string(i)));
                        auto small = co_await c.exec(command("ECHO", "after"));
                        ok += big && big->str.size() == sizes[i] && big->str.front() == '<' &&
                              big->str.back() == '>' &&
                              big->str[sizes[i] / 2] == static_cast<char>('a' + i) && small &&
                              small->str == "after";
                        ++done;
                    },
                    asio::detached);
            }
        }
        while (done < rounds * static_cast<int>(sizes.size()))
            co_await sleep_for(5ms);
        EXPECT_EQ(ok, rounds * static_cast<int>(sizes.size()));
        EXPECT_EQ(text(co_await c.exec(command("ECHO", "still"))), "still");
        EXPECT_TRUE(co_await c.quit());
    });
}

TEST(redis_client, quit_answers_everything_in_flight_then_closes) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto c = co_await make_client(test_config(server));
        auto ex = co_await asio::this_coro::executor;
        int ok = 0, done = 0;
        constexpr int n = 200;
        for (int i = 0; i < n; ++i)
            asio::co_spawn(
                ex,
                [&]() -> asio::awaitable<void> {
                    auto r = co_await c.exec(command("INCR", "quit-counter"));
                    ok += r.has_value();
                    ++done;
                },
                asio::detached);
        co_await sleep_for(0ms); // the requests are submitted, most not yet answered
        auto q = co_await c.quit();
        EXPECT_TRUE(q.has_value());
        EXPECT_EQ(done, n);
        EXPECT_EQ(ok, n);
        EXPECT_EQ(c.state(), redis::connection_state::closed);
        auto after = co_await c.exec(command("PING"));
        EXPECT_EQ(after.error().code, redis::client_errc::disconnected);
        auto check = co_await make_client(test_config(server));
        EXPECT_EQ(text(co_await check.exec(command("GET", "quit-counter"))), "200");
    });
}

TEST(redis_client, disconnect_fails_pending_requests_at_once) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto c = co_await make_client(test_config(server));
        co_await c.exec(command("PING"));
        auto ex = co_await asio::this_coro::executor;
        std::optional<error> blocked;
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                auto r = co_await c.exec(command("BLPOP", "never", 0), {.timeout = duration(0)});
                blocked = r ? error() : r.error();
            },
            asio::detached);
        co_await sleep_for(50ms);
        c.disconnect();
        while (!blocked)
            co_await sleep_for(5ms);
        EXPECT_EQ(blocked->code, redis::client_errc::disconnected);
    });
}

TEST(redis_client, a_command_times_out_and_the_next_one_gets_its_own_reply) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto c = co_await make_client(test_config(server));
        auto admin = co_await make_client(test_config(server));
        co_await c.exec(command("SET", "a", "A"));
        co_await c.exec(command("SET", "b", "B"));
        // The server holds every client for 300 ms; a 50 ms timeout fires first.
        co_await admin.exec(command("CLIENT", "PAUSE", 300, "ALL"));
        auto slow = co_await c.exec(command("GET", "a"), {.timeout = duration(50)});
        CO_ASSERT(!slow);
        EXPECT_EQ(slow.error().code, redis::client_errc::timeout);
        // The late reply to GET a is absorbed; GET b gets "B", not "A".
        EXPECT_EQ(text(co_await c.exec(command("GET", "b"))), "B");
    });
}

TEST(redis_client, cancellation_finishes_the_call_with_operation_aborted) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        auto c = co_await make_client(test_config(server));
        auto admin = co_await make_client(test_config(server));
        co_await c.exec(command("SET", "a", "A"));
        co_await c.exec(command("SET", "b", "B"));
        co_await admin.exec(command("CLIENT", "PAUSE", 300, "ALL"));
        auto r = co_await (c.exec(command("GET", "a")) || sleep_for(50ms));
        EXPECT_EQ(r.index(), 1u); // the timer won; the GET call was cancelled
        // Its reply, when it comes, is dropped: the next call gets its own.
        EXPECT_EQ(text(co_await c.exec(command("GET", "b"))), "B");
    });
}
