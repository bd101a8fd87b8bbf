// tests/integration/store_test.cpp — the behavioural suite every session store backend passes
// (parameterized: memory, redis against a real redis-server, sqlite and file in a temp dir,
// postgres against a real PostgreSQL; each also behind an encrypting_store with a key), and
// backend-specific checks of the layouts @mcp-ts/sdk shares with us (PostgreSQL's:
// postgres_store_test.cpp).
#include "async_test.hpp"
#include "postgres_server.hpp"
#include "redis_test_util.hpp"
#include "store_backends.hpp"

#include "store/backends.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace mcpd;
using namespace mcpd::test;
using namespace std::chrono_literals;
using store::store_errc;

namespace {

// A record as @mcp-ts/sdk writes one, plus a field it does not know (kept round trip).
json::object record(std::string const& identity, std::string const& id) {
    auto o = json::parse(R"({
        "serverId": "srv-1", "serverName": "Example", "serverUrl": "https://mcp.example.com/mcp",
        "transportType": "streamable_http", "callbackUrl": "https://app.example.com/cb",
        "createdAt": 1732000000123, "headers": {"X-Org": "acme"},
        "tokens": {"access_token": "at", "expires_in": 3600}, "active": true,
        "clientInformation": {"client_id": "cid", "client_secret": "cs"},
        "futureField": {"kept": [1, 2, {}], "empty": []}})")
                 .as_object();
    o["identity"] = identity;
    o["sessionId"] = id;
    return o;
}

class store_suite : public ::testing::TestWithParam<backend_kind> {
protected:
    // Runs body(store) on a fresh backend.
    void with_store(std::function<asio::awaitable<void>(store::session_store&)> body) {
        run_async([&]() -> asio::awaitable<void> {
            auto b = co_await GetParam().make(co_await asio::this_coro::executor);
            co_await body(*b.store);
            co_await b.store->close();
        });
    }
};

} // namespace

TEST(store_session, generated_ids_are_12_alphanumerics_starting_with_a_letter) {
    for (int i = 0; i < 1000; ++i) {
        auto id = store::generate_session_id();
        ASSERT_EQ(id.size(), 12u);
        EXPECT_TRUE(std::isalpha(static_cast<unsigned char>(id[0]))) << id;
        EXPECT_TRUE(std::all_of(id.begin(), id.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c));
        }));
        EXPECT_TRUE(store::validate_session_id(id));
    }
}

TEST_P(store_suite, a_created_session_reads_back_field_for_field_unknown_fields_included) {
    with_store([](store::session_store& s) -> asio::awaitable<void> {
        auto rec = record("user-1", "abcDEF123456");
        CO_ASSERT(co_await s.create_session(rec, {}));
        auto got = co_await s.get_session("user-1", "abcDEF123456");
        CO_ASSERT(got.has_value());
        CO_ASSERT(got->has_value());
        EXPECT_EQ(**got, rec) << json::serialize(**got);
        auto missing = co_await s.get_session("user-1", "nope");
        CO_ASSERT(missing.has_value());
        EXPECT_FALSE(missing->has_value());
        EXPECT_TRUE(co_await s.ping());
    });
}

TEST_P(store_suite, create_never_overwrites) {
    with_store([](store::session_store& s) -> asio::awaitable<void> {
        auto rec = record("user-1", "s1");
        CO_ASSERT(co_await s.create_session(rec, {}));
        rec["serverName"] = "changed";
        auto again = co_await s.create_session(rec, {});
        CO_ASSERT(!again);
        EXPECT_EQ(again.error().code, store_errc::session_exists);
        EXPECT_EQ((*co_await s.get_session("user-1", "s1"))->at("serverName"), "Example");
    });
}

TEST_P(store_suite, update_merges_removes_nulls_and_refuses_to_change_keys) {
    with_store([](store::session_store& s) -> asio::awaitable<void> {
        CO_ASSERT(co_await s.create_session(record("user-1", "s1"), {}));
        auto patch = json::parse(R"({"active":false,"codeVerifier":"v","headers":null})");
        CO_ASSERT(co_await s.update_session("user-1", "s1", patch.as_object(), {}));
        auto got = **co_await s.get_session("user-1", "s1");
        EXPECT_EQ(got.at("active"), false);
        EXPECT_EQ(got.at("codeVerifier"), "v");
        EXPECT_FALSE(got.contains("headers")); // null removes the field
        EXPECT_EQ(got.at("serverName"), "Example");
        EXPECT_EQ(got.at("futureField"), record("x", "y").at("futureField"));

        auto rename = json::parse(R"({"identity":"someone-else"})");
        auto r = co_await s.update_session("user-1", "s1", rename.as_object(), {});
        EXPECT_EQ(r.error().code, store_errc::invalid_record);
        auto missing = co_await s.update_session("user-1", "nope", patch.as_object(), {});
        EXPECT_EQ(missing.error().code, store_errc::session_not_found);
    });
}

TEST_P(store_suite, sessions_expire_and_update_without_ttl_keeps_the_remaining_time) {
    with_store([](store::session_store& s) -> asio::awaitable<void> {
        CO_ASSERT(co_await s.create_session(record("user-1", "short"), duration(1000)));
        CO_ASSERT(co_await s.create_session(record("user-1", "renewed"), duration(1000)));
        CO_ASSERT(co_await s.create_session(record("user-1", "long"), {}));
        auto patch = json::parse(R"({"active":false})").as_object();
        // Keeps its 1 s: still expires.
        CO_ASSERT(co_await s.update_session("user-1", "short", patch, {}));
        // Given a new TTL: lives on.
        CO_ASSERT(co_await s.update_session("user-1", "renewed", patch, duration(60000)));
        co_await sleep_for(1500ms);
        EXPECT_FALSE((co_await s.get_session("user-1", "short"))->has_value());
        EXPECT_TRUE((co_await s.get_session("user-1", "renewed"))->has_value());
        auto ids = co_await s.get_identity_session_ids("user-1");
        CO_ASSERT(ids.has_value());
        std::sort(ids->begin(), ids->end());
        EXPECT_EQ(*ids, (std::vector<std::string>{"long", "renewed"}));
        auto expired_update = co_await s.update_session("user-1", "short", patch, {});
        EXPECT_EQ(expired_update.error().code, store_errc::session_not_found);
        EXPECT_TRUE(co_await s.cleanup_expired_sessions());
        auto all = co_await s.get_all_session_ids();
        EXPECT_EQ(*all, (std::vector<std::string>{"user-1:long", "user-1:renewed"}));
    });
}

TEST_P(store_suite, identities_with_glob_and_separator_characters_stay_apart) {
    with_store([](store::session_store& s) -> asio::awaitable<void> {
        std::vector<std::string> identities{"a*", "ab", "a?", "a[b]", "org:team:user", "org", "a"};
        // Session ids are unique across identities (SQLite's schema requires it, as @mcp-ts/sdk's).
        auto id_of = [](std::size_t i) { return "s" + std::to_string(i); };
        for (std::size_t i = 0; i < identities.size(); ++i)
            CO_ASSERT(co_await s.create_session(record(identities[i], id_of(i)), {}));
        for (std::size_t i = 0; i < identities.size(); ++i) {
            auto data = co_await s.get_identity_sessions_data(identities[i]);
            CO_ASSERT(data.has_value());
            CO_ASSERT(data->size() == 1u);
            EXPECT_EQ(data->front().identity(), identities[i]);
            auto ids = co_await s.get_identity_session_ids(identities[i]);
            EXPECT_EQ(*ids, std::vector<std::string>{id_of(i)});
        }
        auto all = co_await s.get_all_session_ids();
        CO_ASSERT(all.has_value());
        EXPECT_EQ(all->size(), identities.size());
        EXPECT_TRUE(std::find(all->begin(), all->end(), "org:team:user:s4") != all->end());
    });
}

TEST_P(store_suite, remove_is_idempotent_and_clear_all_empties_the_store) {
    with_store([](store::session_store& s) -> asio::awaitable<void> {
        CO_ASSERT(co_await s.create_session(record("u", "s1"), {}));
        CO_ASSERT(co_await s.create_session(record("u", "s2"), {}));
        CO_ASSERT(co_await s.create_session(record("v", "s3"), {}));
        EXPECT_TRUE(co_await s.remove_session("u", "s1"));
        EXPECT_TRUE(co_await s.remove_session("u", "s1"));
        auto left = co_await s.get_identity_session_ids("u"); // named: docs/rough_edges.md
        EXPECT_EQ(*left, std::vector<std::string>{"s2"});
        EXPECT_TRUE(co_await s.clear_all());
        EXPECT_TRUE((co_await s.get_all_session_ids())->empty());
        EXPECT_TRUE((co_await s.get_identity_sessions_data("u"))->empty());
    });
}

TEST_P(store_suite, invalid_identities_ids_and_records_are_clear_errors) {
    with_store([](store::session_store& s) -> asio::awaitable<void> {
        EXPECT_EQ((co_await s.get_session("", "s1")).error().code, store_errc::invalid_identity);
        EXPECT_EQ((co_await s.get_session("bad\nid", "s1")).error().code,
                  store_errc::invalid_identity);
        EXPECT_EQ((co_await s.get_session(std::string(600, 'x'), "s1")).error().code,
                  store_errc::invalid_identity);
        EXPECT_EQ((co_await s.get_session("u", "a:b")).error().code,
                  store_errc::invalid_session_id);
        EXPECT_EQ((co_await s.remove_session("u", "")).error().code,
                  store_errc::invalid_session_id);
        auto rec = record("u", "s1");
        rec["transportType"] = "carrier-pigeon";
        EXPECT_EQ((co_await s.create_session(rec, {})).error().code, store_errc::invalid_record);
        rec = record("u", "s1");
        rec["createdAt"] = "yesterday";
        EXPECT_EQ((co_await s.create_session(rec, {})).error().code, store_errc::invalid_record);
    });
}

TEST_P(store_suite, concurrent_creates_of_one_id_have_exactly_one_winner) {
    with_store([](store::session_store& s) -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        int won = 0, lost = 0, done = 0;
        for (int i = 0; i < 20; ++i)
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                    auto rec = record("race", "same-id");
                    rec["serverName"] = "writer-" + std::to_string(i);
                    auto r = co_await s.create_session(rec, {});
                    (r ? won : lost) += 1;
                    if (!r) {
                        EXPECT_EQ(r.error().code, store_errc::session_exists);
                    }
                    ++done;
                },
                asio::detached);
        while (done < 20)
            co_await sleep_for(5ms);
        EXPECT_EQ(won, 1);
        EXPECT_EQ(lost, 19);
    });
}

TEST_P(store_suite, concurrent_merges_lose_no_field) {
    with_store([](store::session_store& s) -> asio::awaitable<void> {
        CO_ASSERT(co_await s.create_session(record("merge", "s1"), {}));
        auto ex = co_await asio::this_coro::executor;
        int ok = 0, done = 0;
        constexpr int writers = 20;
        for (int i = 0; i < writers; ++i)
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                    json::object patch;
                    patch["field" + std::to_string(i)] = i;
                    auto r = co_await s.update_session("merge", "s1", patch, {});
                    ok += r.has_value();
                    ++done;
                },
                asio::detached);
        while (done < writers)
            co_await sleep_for(5ms);
        EXPECT_EQ(ok, writers);
        auto got = **co_await s.get_session("merge", "s1");
        for (int i = 0; i < writers; ++i)
            EXPECT_EQ(got.at("field" + std::to_string(i)), i) << "field" << i;
    });
}

INSTANTIATE_TEST_SUITE_P(backends, store_suite, ::testing::ValuesIn(backends()),
                         [](auto const& param_info) { return param_info.param.name; });

// --- Redis specifics ------------------------------------------------------------------------

TEST(store_redis, uses_the_mcp_ts_key_layout_with_ttls) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        store::redis_store s(ex, test_config(server));
        redis::client raw(ex, test_config(server));
        CO_ASSERT(co_await s.create_session(record("user:1", "abcdefGHIJ12"), duration(600'000)));
        auto value = co_await raw.exec(redis::command("GET", "mcp:session:user:1:abcdefGHIJ12"));
        CO_ASSERT(value.has_value());
        EXPECT_EQ(json::parse(value->str), record("user:1", "abcdefGHIJ12"));
        auto ttl = co_await raw.exec(redis::command("TTL", "mcp:session:user:1:abcdefGHIJ12"));
        EXPECT_GT(ttl->integer, 590);
        EXPECT_LE(ttl->integer, 600);
        auto members =
            co_await raw.exec(redis::command("SMEMBERS", "mcp:identity:user:1:sessions"));
        CO_ASSERT(members.has_value());
        CO_ASSERT(members->elements.size() == 1u);
        EXPECT_EQ(members->elements[0].str, "abcdefGHIJ12");
        auto set_ttl = co_await raw.exec(redis::command("TTL", "mcp:identity:user:1:sessions"));
        EXPECT_GT(set_ttl->integer, 590);

        // A record deleted behind the store's back: the next listing prunes its id.
        co_await raw.exec(redis::command("DEL", "mcp:session:user:1:abcdefGHIJ12"));
        EXPECT_TRUE((co_await s.get_identity_sessions_data("user:1"))->empty());
        auto after = co_await raw.exec(redis::command("SCARD", "mcp:identity:user:1:sessions"));
        EXPECT_EQ(after->integer, 0);
        co_await s.close();
    });
}

TEST(store_redis, listing_is_one_sort_and_falls_back_to_smembers_and_mget) {
    // SORT renamed away (as some hosted Redis do): listing still works, through the two-step
    // path, which also serves identities holding '*' (a SORT pattern cannot spell them).
    for (bool sort_available : {true, false}) {
        std::vector<std::string> args;
        if (!sort_available)
            args = {"--rename-command", "SORT", ""};
        redis_server server({.args = args});
        run_async([&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            store::redis_store s(ex, test_config(server));
            redis::client raw(ex, test_config(server));
            auto probe = co_await raw.exec(redis::command("SORT", "nothing", "BY", "nosort"));
            EXPECT_EQ(probe.has_value(), sort_available) << "the fixture did (not) rename SORT";
            for (std::string who : {"plain:user", "star*user", "arrow->user"}) {
                for (std::string id : {"s1", "s2", "s3"})
                    CO_ASSERT(co_await s.create_session(record(who, id), {}));
                // One record deleted behind the store's back: not listed, and its id pruned.
                co_await raw.exec(
                    redis::command("DEL", store::redis_store::session_key(who, "s2")));
                auto list = co_await s.get_identity_sessions_data(who);
                CO_ASSERT(list.has_value());
                std::set<std::string> ids;
                for (auto const& r : *list) {
                    EXPECT_EQ(r.identity(), who);
                    ids.insert(std::string(r.session_id().value_or("")));
                }
                EXPECT_EQ(ids, (std::set<std::string>{"s1", "s3"})) << who << " " << sort_available;
                auto left = co_await raw.exec(
                    redis::command("SCARD", store::redis_store::identity_key(who)));
                EXPECT_EQ(left->integer, 2) << who << " " << sort_available;
            }
            co_await s.close();
        });
    }
}

TEST(store_redis, a_redis_outage_is_an_error_never_not_found) {
    redis_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto cfg = test_config(server);
        cfg.command_timeout = 300ms;
        store::redis_store s(co_await asio::this_coro::executor, cfg);
        CO_ASSERT(co_await s.create_session(record("u", "s1"), {}));
        server.kill();
        auto got = co_await s.get_session("u", "s1");
        CO_ASSERT(!got);
        EXPECT_NE(got.error().code, store_errc::session_not_found);
        auto list = co_await s.get_identity_sessions_data("u");
        EXPECT_FALSE(list);
        EXPECT_FALSE(co_await s.ping());
    });
}

TEST(store_redis, killed_during_a_burst_leaves_no_half_written_session) {
    // AOF with fsync always: what Redis acknowledged survives the kill, so the state after the
    // restart is exactly what the scripts wrote, whole or not at all.
    redis_server server({.args = {"--appendonly", "yes", "--appendfsync", "always"}});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto cfg = test_config(server);
        cfg.command_timeout = 3s;
        store::redis_store s(ex, cfg);
        // Workers that each keep one create or remove in flight at all times, so the kill always
        // lands on written, unanswered scripts, however fast this machine is.
        constexpr int workers = 64;
        constexpr int per_worker_cap = 400; // bounds the run if Redis never comes back
        int ok = 0, failed = 0, done = 0, finished_workers = 0;
        bool stop = false;
        for (int w = 0; w < workers; ++w)
            asio::co_spawn(
                ex,
                [&, w]() -> asio::awaitable<void> {
                    std::string who = "burst" + std::to_string(w % 7);
                    for (int i = 0; !stop && i < per_worker_cap; ++i) {
                        std::string id = "b" + std::to_string(w) + "x" + std::to_string(i);
                        auto r = co_await s.create_session(record(who, id), {});
                        if (r && i % 3 == 0)
                            r = co_await s.remove_session(who, id);
                        if (r) {
                            ++ok;
                        } else {
                            ++failed;
                            // A failure is a client error (the connection), never a store
                            // verdict.
                            EXPECT_EQ(r.error().code.category(), redis::client_category())
                                << r.error().message();
                        }
                        ++done;
                    }
                    ++finished_workers;
                },
                asio::detached);
        while (done < 200)
            co_await sleep_for(1ms);
        server.kill();
        co_await sleep_for(100ms);
        server.start();
        int const after_restart = done;
        while (done < after_restart + 200 && finished_workers < workers)
            co_await sleep_for(5ms);
        stop = true;
        while (finished_workers < workers)
            co_await sleep_for(5ms);
        EXPECT_EQ(ok + failed, done);
        EXPECT_GT(failed, 0) << "the kill came too late to test anything";

        // Invariants: every record is in its identity's set, every id in a set has its record.
        redis::client raw(ex, test_config(server));
        auto records = co_await raw.scan("mcp:session:*").collect();
        CO_ASSERT(records.has_value());
        for (auto const& key : *records) {
            auto rest = key.substr(std::string("mcp:session:").size());
            auto colon = rest.rfind(':');
            auto member = co_await raw.exec(
                redis::command("SISMEMBER", store::redis_store::identity_key(rest.substr(0, colon)),
                               rest.substr(colon + 1)));
            EXPECT_EQ(member->integer, 1) << key << " is missing from its identity set";
        }
        auto sets = co_await raw.scan("mcp:identity:*:sessions").collect();
        CO_ASSERT(sets.has_value());
        for (auto const& set : *sets) {
            auto ids = co_await raw.exec(redis::command("SMEMBERS", set));
            auto who = set.substr(std::string("mcp:identity:").size(),
                                  set.size() - std::string("mcp:identity:").size() -
                                      std::string(":sessions").size());
            for (auto const& id : ids->elements) {
                auto exists = co_await raw.exec(
                    redis::command("EXISTS", store::redis_store::session_key(who, id.str)));
                EXPECT_EQ(exists->integer, 1) << set << " lists " << id.str << " without a record";
            }
        }
        co_await s.close();
    });
}

// --- SQLite specifics -----------------------------------------------------------------------

TEST(store_sqlite, reads_rows_written_the_way_mcp_ts_writes_them_and_keeps_the_file_private) {
    temp_dir dir;
    std::string path = dir.path + "/sessions.db";
    run_async([&]() -> asio::awaitable<void> {
        auto opened = co_await store::sqlite_store::open(path);
        CO_ASSERT(opened.has_value());
        auto& s = **opened;
        // As @mcp-ts/sdk writes without a TTL: expiresAt NULL (never expires), data = its JSON.
        sqlite3* db = nullptr;
        CO_ASSERT(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
        std::string data = json::serialize(record("node-user", "NodeSession1"));
        std::string sql = "INSERT INTO mcp_sessions (sessionId, identity, data, expiresAt) "
                          "VALUES ('NodeSession1', 'node-user', '" +
                          data + "', NULL), ('OldSession12', 'node-user', '" + data +
                          "', 1000)"; // expired in 1970
        EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
        sqlite3_close(db);

        auto got = co_await s.get_session("node-user", "NodeSession1");
        CO_ASSERT(got && got->has_value());
        EXPECT_EQ(store::record_session_id(**got), "NodeSession1");
        auto ids = co_await s.get_identity_session_ids("node-user");
        EXPECT_EQ(*ids, std::vector<std::string>{"NodeSession1"}); // the expired row is hidden
        EXPECT_EQ(*co_await s.cleanup_expired_sessions(), 1u);
        co_await s.close();
    });
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST(store_sqlite, a_session_id_taken_by_another_identity_is_refused_not_overwritten) {
    temp_dir dir;
    run_async([&]() -> asio::awaitable<void> {
        auto opened = co_await store::sqlite_store::open(dir.path + "/sessions.db");
        CO_ASSERT(opened.has_value());
        auto& s = **opened;
        CO_ASSERT(co_await s.create_session(record("alice", "shared"), {}));
        auto clash = co_await s.create_session(record("bob", "shared"), {});
        CO_ASSERT(!clash);
        EXPECT_EQ(clash.error().code, store_errc::session_exists);
        EXPECT_TRUE((co_await s.get_session("alice", "shared"))->has_value());
        EXPECT_FALSE((co_await s.get_session("bob", "shared"))->has_value());
        co_await s.close();
    });
}

TEST(store_sqlite, an_unopenable_path_is_a_clear_error) {
    run_async([&]() -> asio::awaitable<void> {
        auto opened = co_await store::sqlite_store::open("/nonexistent-dir/sessions.db");
        CO_ASSERT(!opened);
        EXPECT_NE(opened.error().message().find("/nonexistent-dir/sessions.db"), std::string::npos)
            << opened.error().message();
    });
}

// --- File specifics -------------------------------------------------------------------------

namespace {

std::string read_file(std::string const& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace

TEST(store_file, reads_the_file_node_writes_and_writes_one_node_can_read) {
    temp_dir dir;
    std::string path = dir.path + "/sessions.json";
    // As @mcp-ts/sdk writes it: a pretty-printed array, no expiry anywhere.
    std::ofstream(path) << "[\n  " << json::serialize(record("node-user", "NodeSession1"))
                        << "\n]\n";
    run_async([&]() -> asio::awaitable<void> {
        auto opened = co_await store::file_store::open(path);
        CO_ASSERT(opened.has_value());
        auto& s = **opened;
        auto got = co_await s.get_session("node-user", "NodeSession1");
        CO_ASSERT(got && got->has_value());
        EXPECT_EQ(**got, record("node-user", "NodeSession1"));
        CO_ASSERT(co_await s.create_session(record("mcpd-user", "MineSession1"), {}));
        // Callers never see the expiry field…
        auto mine = co_await s.get_session("mcpd-user", "MineSession1");
        EXPECT_EQ(**mine, record("mcpd-user", "MineSession1"));
        co_await s.close();
    });
    // …but the file has it, inside an array of plain records Node can read.
    auto parsed = json::parse(read_file(path));
    ASSERT_TRUE(parsed.is_array());
    ASSERT_EQ(parsed.as_array().size(), 2u);
    EXPECT_TRUE(parsed.as_array()[1].as_object().contains("_mcpdExpiresAt"));
    EXPECT_FALSE(parsed.as_array()[0].as_object().contains("_mcpdExpiresAt"));
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST(store_file, a_corrupt_file_is_an_error_not_an_empty_store) {
    temp_dir dir;
    std::string path = dir.path + "/sessions.json";
    run_async([&]() -> asio::awaitable<void> {
        auto opened = co_await store::file_store::open(path);
        CO_ASSERT(opened.has_value());
        auto& s = **opened;
        CO_ASSERT(co_await s.create_session(record("u", "s1"), {}));
        std::ofstream(path) << "{ this is not json";
        auto got = co_await s.get_session("u", "s1");
        CO_ASSERT(!got);
        EXPECT_EQ(got.error().code, store_errc::corrupt_record);
        EXPECT_FALSE(co_await s.get_all_session_ids());
        EXPECT_FALSE(co_await s.create_session(record("u", "s2"), {})); // nothing overwritten
        EXPECT_EQ(read_file(path), "{ this is not json");
        co_await s.close();
    });
}

// Hardening (issue 18, row 13): in a directory others can write to, a link left where the store
// would put its temporary file or its lock must not redirect a write. The temporary file's name
// was "<path>.tmp.<pid>", opened without O_EXCL or O_NOFOLLOW.
TEST(store_file, links_in_its_directory_redirect_no_write) {
    temp_dir dir;
    std::string path = dir.path + "/sessions.json";
    std::string victim = dir.path + "/victim.txt";
    std::ofstream(victim) << "precious";
    for (auto const& name : {path + ".tmp." + std::to_string(::getpid()), path + ".tmp.1",
                             path + ".tmp.0000000000000000"})
        std::filesystem::create_symlink(victim, name);
    run_async([&]() -> asio::awaitable<void> {
        auto opened = co_await store::file_store::open(path);
        CO_ASSERT(opened.has_value());
        auto& s = **opened;
        for (int i = 0; i < 20; ++i)
            CO_ASSERT(co_await s.create_session(record("u", "s" + std::to_string(i)), {}));
        auto all = co_await s.get_all_session_ids();
        CO_ASSERT(all.has_value());
        EXPECT_EQ(all->size(), 20u);
        co_await s.close();
    });
    EXPECT_EQ(read_file(victim), "precious");
    EXPECT_FALSE(std::filesystem::is_symlink(path));
    // Its lock is not followed either: a link there is an error, not a file created elsewhere.
    std::string other = dir.path + "/other.json";
    std::filesystem::create_symlink(dir.path + "/elsewhere.lock", other + ".lock");
    run_async([&]() -> asio::awaitable<void> {
        auto opened = co_await store::file_store::open(other);
        if (opened) {
            EXPECT_FALSE(co_await (*opened)->create_session(record("u", "x"), {}));
            co_await (*opened)->close();
        }
    });
    EXPECT_FALSE(std::filesystem::exists(dir.path + "/elsewhere.lock"));
}

TEST(store_file, two_processes_writing_one_file_lose_nothing) {
    temp_dir dir;
    std::string path = dir.path + "/sessions.json";
    constexpr int per_process = 40;
    auto write_sessions = [&](std::string const& who) {
        run_async([&]() -> asio::awaitable<void> {
            auto opened = co_await store::file_store::open(path);
            CO_ASSERT(opened.has_value());
            for (int i = 0; i < per_process; ++i)
                CO_ASSERT(co_await (*opened)->create_session(
                    record(who, who + "s" + std::to_string(i)), {}));
            co_await (*opened)->close();
        });
    };
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        write_sessions("child");
        ::_exit(::testing::Test::HasFailure() ? 1 : 0);
    }
    write_sessions("parent");
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    run_async([&]() -> asio::awaitable<void> {
        auto opened = co_await store::file_store::open(path);
        CO_ASSERT(opened.has_value());
        auto all = co_await (*opened)->get_all_session_ids();
        CO_ASSERT(all.has_value());
        EXPECT_EQ(all->size(), 2u * per_process);
        co_await (*opened)->close();
    });
}

// --- Selection from the environment ------------------------------------------------------------

namespace {

store::getenv_fn env_of(std::map<std::string, std::string> vars) {
    auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
    return [shared](char const* name) -> char const* {
        auto it = shared->find(name);
        return it == shared->end() ? nullptr : it->second.c_str();
    };
}

} // namespace

TEST(store_select, follows_the_reference_order_and_the_explicit_type_wins) {
    using store::store_type;
    auto pick = [](std::map<std::string, std::string> vars) {
        return store::choose_store(env_of(std::move(vars)), store_type::memory);
    };
    EXPECT_EQ(pick({})->type, store_type::memory);
    EXPECT_EQ(pick({{"REDIS_URL", "redis://h"}, {"MCP_TS_STORAGE_FILE", "f.json"}})->type,
              store_type::redis);
    auto file = pick({{"MCP_TS_STORAGE_FILE", "f.json"}, {"MCP_TS_STORAGE_SQLITE_PATH", "s.db"}});
    EXPECT_EQ(file->type, store_type::file);
    EXPECT_EQ(file->location, "f.json");
    EXPECT_EQ(file->reason, "MCP_TS_STORAGE_FILE is set");
    EXPECT_EQ(pick({{"MCP_TS_STORAGE_SQLITE_PATH", "s.db"}})->type, store_type::sqlite);
    EXPECT_EQ(pick({{"DATABASE_URL", "postgres://h/db"}})->type, store_type::postgres);
    auto forced = pick({{"MCP_TS_STORAGE_TYPE", "sqlite"}, {"REDIS_URL", "redis://h"}});
    EXPECT_EQ(forced->type, store_type::sqlite);
    EXPECT_EQ(forced->location, "./sessions.db");
    EXPECT_EQ(forced->reason, "MCP_TS_STORAGE_TYPE=sqlite");
    EXPECT_EQ(store::choose_store(env_of({}), store_type::sqlite)->type, store_type::sqlite);
}

TEST(store_select, unknown_types_and_rest_only_supabase_are_clear_errors) {
    auto bad =
        store::choose_store(env_of({{"MCP_TS_STORAGE_TYPE", "mongo"}}), store::store_type::memory);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message().find("redis, file, sqlite, postgres, supabase, memory"),
              std::string::npos);
    auto rest = store::choose_store(env_of({{"SUPABASE_URL", "https://x.supabase.co"}}),
                                    store::store_type::memory);
    ASSERT_FALSE(rest);
    EXPECT_NE(rest.error().message().find("SUPABASE_DB_URL"), std::string::npos);
    // …and where Supabase shows it.
    EXPECT_NE(rest.error().message().find("Database → Connection string"), std::string::npos)
        << rest.error().message();
    auto explicit_rest = store::choose_store(
        env_of({{"MCP_TS_STORAGE_TYPE", "supabase"}, {"SUPABASE_URL", "https://x.supabase.co"}}),
        store::store_type::memory);
    ASSERT_FALSE(explicit_rest);
    EXPECT_NE(explicit_rest.error().message().find("SUPABASE_DB_URL"), std::string::npos);
    auto nothing = store::choose_store(env_of({{"MCP_TS_STORAGE_TYPE", "postgres"}}),
                                       store::store_type::memory);
    ASSERT_FALSE(nothing);
    EXPECT_NE(nothing.error().message().find("DATABASE_URL"), std::string::npos);
}

TEST(store_select, an_unreachable_redis_falls_back_to_memory_unless_required) {
    auto port = free_port();
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto env = env_of({{"REDIS_URL", "redis://127.0.0.1:" + std::to_string(port)}});
        auto choice = store::choose_store(env, store::store_type::memory);
        CO_ASSERT(choice.has_value());
        auto fallback = co_await store::open_store(ex, *choice, {}, env);
        CO_ASSERT(fallback.has_value());
        EXPECT_EQ(fallback->store->backend_name(), "memory");
        auto refused = co_await store::open_store(ex, *choice, {.required = true}, env);
        EXPECT_FALSE(refused);
    });
}
