// tests/integration/redis_cluster_fixture_test.cpp — the Redis Cluster fixture (redis_cluster.hpp)
// checked with redis-cli alone: a 3+3 cluster comes up and every node agrees; a slot moves with
// its keys; a migration in steps answers ASK for a moved key on the source; redis-cli reshards;
// killing a master promotes its replica with the keys written before the kill (WAIT 1), and
// the old master comes back as a replica; a cluster with a password.
#include "redis_cluster.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <sstream>

using namespace mcpd::test;

namespace {

// redis-cli's output without the line end.
std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
        s.pop_back();
    return s;
}

std::uint16_t slot_of(redis_cluster& c, std::string const& key) {
    return static_cast<std::uint16_t>(std::stoi(c.cli(0, {"CLUSTER", "KEYSLOT", key})));
}

std::string address(redis_cluster& c, std::size_t i) {
    return "127.0.0.1:" + std::to_string(c.node(i).port());
}

// How many slots `viewer` says `owner` has (its CLUSTER NODES line).
int slot_count(redis_cluster& c, std::size_t viewer, std::size_t owner) {
    std::istringstream lines(c.cli(viewer, {"CLUSTER", "NODES"}));
    std::string const needle = " " + address(c, owner) + "@";
    for (std::string line; std::getline(lines, line);) {
        if (line.find(needle) == std::string::npos)
            continue;
        std::istringstream fields(line);
        std::string field;
        for (int skip = 0; skip < 8; ++skip)
            fields >> field;
        int count = 0;
        while (fields >> field) {
            if (field.front() == '[')
                continue;
            auto dash = field.find('-');
            count += dash == std::string::npos
                         ? 1
                         : std::stoi(field.substr(dash + 1)) - std::stoi(field.substr(0, dash)) + 1;
        }
        return count;
    }
    ADD_FAILURE() << "no line for " << address(c, owner) << " in the view of "
                  << address(c, viewer);
    return -1;
}

std::size_t other_master(redis_cluster& c, std::size_t not_this) {
    for (std::size_t m : c.masters())
        if (m != not_this)
            return m;
    throw std::runtime_error("no other master");
}

std::string key(std::string const& tag, int n) {
    return tag + ":" + std::to_string(n);
}

// MSET of `count` keys in the slot of `tag`: tag:0 = v0, …
std::vector<std::string> mset(std::string const& tag, int count) {
    std::vector<std::string> args = {"MSET"};
    for (int n = 0; n < count; ++n) {
        args.push_back(key(tag, n));
        args.push_back("v" + std::to_string(n));
    }
    return args;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

TEST(redis_cluster_fixture, three_masters_with_a_replica_each_come_up) {
    auto const start = std::chrono::steady_clock::now();
    redis_cluster c;
    std::cout << "[ info ] a 3+3 cluster was stable after " << seconds_since(start) << " s\n";
    ASSERT_EQ(c.size(), 6U);
    auto const masters = c.masters();
    ASSERT_EQ(masters.size(), 3U);
    for (std::size_t m : masters)
        EXPECT_EQ(c.replicas_of(m).size(), 1U) << address(c, m);
    for (std::size_t i = 0; i < c.size(); ++i) {
        std::string const info = c.cli(i, {"CLUSTER", "INFO"});
        EXPECT_NE(info.find("cluster_state:ok"), std::string::npos) << info;
        EXPECT_NE(info.find("cluster_slots_assigned:16384"), std::string::npos) << info;
        EXPECT_NE(info.find("cluster_known_nodes:6"), std::string::npos) << info;
        EXPECT_EQ(c.node_id(i).size(), 40U);
    }
    EXPECT_EQ(c.seeds().size(), 6U);
    EXPECT_EQ(c.url(), "redis+cluster://" + c.seed_list());
    std::string const list = c.seed_list();
    EXPECT_EQ(list.rfind(address(c, 0), 0), 0U) << list;
    EXPECT_EQ(std::count(list.begin(), list.end(), ','), 5) << list;
    for (std::uint16_t slot : {0, 8000, 16383}) {
        std::size_t owner = c.master_of_slot(slot);
        EXPECT_NE(std::find(masters.begin(), masters.end(), owner), masters.end());
    }
    // A key written through one node, read through another (redis-cli -c follows MOVED).
    EXPECT_EQ(trim(c.cli(5, {"SET", "greeting", "hello"}, true)), "OK");
    EXPECT_EQ(trim(c.cli(0, {"GET", "greeting"}, true)), "hello");
}

TEST(redis_cluster_fixture, move_slot_moves_the_slot_with_its_keys) {
    redis_cluster c({.replicas_per_master = 0});
    std::string const tag = "{move}";
    std::uint16_t const slot = slot_of(c, tag);
    std::string const s = std::to_string(slot);
    std::size_t const from = c.master_of_slot(slot);
    std::size_t const to = other_master(c, from);
    // 250 keys: MIGRATE runs in batches of 100.
    ASSERT_EQ(trim(c.cli(0, mset(tag, 250), true)), "OK");
    ASSERT_EQ(trim(c.cli(from, {"CLUSTER", "COUNTKEYSINSLOT", s})), "250");

    auto const start = std::chrono::steady_clock::now();
    c.move_slot(slot, to);
    std::cout << "[ info ] move_slot of 250 keys took " << seconds_since(start) << " s\n";
    EXPECT_EQ(c.master_of_slot(slot), to);
    EXPECT_EQ(trim(c.cli(to, {"CLUSTER", "COUNTKEYSINSLOT", s})), "250");
    EXPECT_EQ(trim(c.cli(from, {"CLUSTER", "COUNTKEYSINSLOT", s})), "0");
    for (std::size_t i = 0; i < c.size(); ++i)
        EXPECT_EQ(trim(c.cli(i, {"GET", key(tag, 7)}, true)), "v7") << address(c, i);
    EXPECT_EQ(trim(c.cli(from, {"GET", key(tag, 249)})), "MOVED " + s + " " + address(c, to));
    EXPECT_EQ(trim(c.cli(to, {"GET", key(tag, 249)})), "v249");
    // Moving it to its owner does nothing.
    c.move_slot(slot, to);
    EXPECT_EQ(c.master_of_slot(slot), to);
}

TEST(redis_cluster_fixture, migration_in_steps_answers_ask_for_moved_keys) {
    redis_cluster c({.replicas_per_master = 0});
    std::string const tag = "{ask}";
    std::uint16_t const slot = slot_of(c, tag);
    std::string const s = std::to_string(slot);
    std::size_t const from = c.master_of_slot(slot);
    std::size_t const to = other_master(c, from);
    std::string const moved = key(tag, 0);
    std::string const stays = key(tag, 1);
    ASSERT_EQ(trim(c.cli(0, mset(tag, 2), true)), "OK");

    c.begin_migration(slot, to);
    EXPECT_EQ(trim(c.cli(from, {"GET", moved})), "v0"); // nothing moved yet
    EXPECT_NE(c.cli(from, {"CLUSTER", "NODES"}).find("[" + s + "->-" + c.node_id(to) + "]"),
              std::string::npos);
    EXPECT_NE(c.cli(to, {"CLUSTER", "NODES"}).find("[" + s + "-<-" + c.node_id(from) + "]"),
              std::string::npos);

    c.migrate_keys(slot, to, {moved});
    EXPECT_EQ(trim(c.cli(from, {"GET", moved})), "ASK " + s + " " + address(c, to));
    EXPECT_EQ(trim(c.cli(from, {"GET", stays})), "v1");
    // The target still redirects to the owner unless the client says ASKING first.
    EXPECT_EQ(trim(c.cli(to, {"GET", moved})), "MOVED " + s + " " + address(c, from));
    EXPECT_EQ(trim(c.cli_script(to, "ASKING\nGET " + moved + "\n")), "OK\nv0");
    EXPECT_EQ(trim(c.cli(from, {"GET", moved}, true)), "v0"); // redis-cli -c follows ASK
    EXPECT_EQ(c.master_of_slot(slot), from);

    c.finish_migration(slot, to);
    EXPECT_EQ(c.master_of_slot(slot), to);
    EXPECT_EQ(trim(c.cli(to, {"CLUSTER", "COUNTKEYSINSLOT", s})), "2");
    EXPECT_EQ(trim(c.cli(from, {"GET", stays})), "MOVED " + s + " " + address(c, to));
    EXPECT_EQ(trim(c.cli(from, {"GET", stays}, true)), "v1");
    EXPECT_EQ(c.cli(to, {"CLUSTER", "NODES"}).find('['), std::string::npos); // no migration left
}

TEST(redis_cluster_fixture, reshard_moves_slots_with_redis_cli) {
    redis_cluster c({.replicas_per_master = 0});
    auto const masters = c.masters();
    ASSERT_EQ(masters.size(), 3U);
    std::size_t const from = masters[0];
    std::size_t const to = masters[1];
    std::size_t const viewer = masters[2];
    int const from_before = slot_count(c, from, from);
    int const to_before = slot_count(c, to, to);
    for (int n = 0; n < 50; ++n)
        ASSERT_EQ(trim(c.cli(0, {"SET", "k" + std::to_string(n), std::to_string(n)}, true)), "OK");

    auto const start = std::chrono::steady_clock::now();
    c.reshard(from, to, 100);
    std::cout << "[ info ] reshard of 100 slots took " << seconds_since(start) << " s\n";
    for (std::size_t v : {from, to, viewer}) {
        EXPECT_EQ(slot_count(c, v, from), from_before - 100) << "seen by " << address(c, v);
        EXPECT_EQ(slot_count(c, v, to), to_before + 100) << "seen by " << address(c, v);
    }
    for (int n = 0; n < 50; ++n)
        EXPECT_EQ(trim(c.cli(viewer, {"GET", "k" + std::to_string(n)}, true)), std::to_string(n));
}

TEST(redis_cluster_fixture, killing_a_master_promotes_its_replica_with_the_keys) {
    redis_cluster c;
    std::string const tag = "{failover}";
    std::uint16_t const slot = slot_of(c, tag);
    std::size_t const master = c.master_of_slot(slot);
    auto const replicas = c.replicas_of(master);
    ASSERT_EQ(replicas.size(), 1U);
    // Written on the master and acknowledged by its replica before the kill.
    std::ostringstream script;
    for (auto const& a : mset(tag, 20))
        script << a << ' ';
    script << "\nWAIT 1 5000\n";
    ASSERT_EQ(trim(c.cli_script(master, script.str())), "OK\n1");

    auto const start = std::chrono::steady_clock::now();
    std::size_t const promoted = c.kill_master_and_wait_failover(master);
    std::cout << "[ info ] failover (node timeout 1000 ms) took " << seconds_since(start) << " s\n";
    EXPECT_EQ(promoted, replicas[0]);
    EXPECT_FALSE(c.node(master).running());
    EXPECT_EQ(c.master_of_slot(slot), promoted);
    auto const masters = c.masters();
    EXPECT_EQ(masters.size(), 3U);
    EXPECT_EQ(std::find(masters.begin(), masters.end(), master), masters.end());
    std::size_t const other = other_master(c, promoted);
    for (int n = 0; n < 20; ++n)
        EXPECT_EQ(trim(c.cli(other, {"GET", key(tag, n)}, true)), "v" + std::to_string(n));
    for (std::size_t i = 0; i < c.size(); ++i) {
        if (i == master)
            continue;
        EXPECT_NE(c.cli(i, {"CLUSTER", "INFO"}).find("cluster_state:ok"), std::string::npos);
        // Every survivor marks the dead master as failed.
        std::string const nodes = c.cli(i, {"CLUSTER", "NODES"});
        auto at = nodes.find(" " + address(c, master) + "@");
        ASSERT_NE(at, std::string::npos) << nodes;
        EXPECT_NE(nodes.substr(at, nodes.find('\n', at) - at).find("fail"), std::string::npos)
            << nodes;
    }

    // Restarted, the old master learns that it lost its slots and replicates the new owner.
    auto const restart = std::chrono::steady_clock::now();
    c.node(master).start();
    c.wait_stable();
    std::cout << "[ info ] the old master rejoined as a replica after " << seconds_since(restart)
              << " s\n";
    auto const now_replicas = c.replicas_of(promoted);
    EXPECT_EQ(now_replicas, std::vector<std::size_t>{master});
    EXPECT_EQ(trim(c.cli(master, {"GET", key(tag, 3)}, true)), "v3");
}

TEST(redis_cluster_fixture, nodes_with_a_password) {
    redis_cluster c({.replicas_per_master = 1,
                     .args = {"--requirepass", "cluster-secret"},
                     .password = "cluster-secret"});
    EXPECT_EQ(c.masters().size(), 3U);
    std::string const tag = "{pw}";
    std::uint16_t const slot = slot_of(c, tag);
    ASSERT_EQ(trim(c.cli(0, mset(tag, 3), true)), "OK");
    std::size_t const to = other_master(c, c.master_of_slot(slot));
    c.move_slot(slot, to); // MIGRATE … AUTH
    EXPECT_EQ(trim(c.cli(to, {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)})), "3");
    EXPECT_EQ(trim(c.cli(0, {"GET", key(tag, 1)}, true)), "v1");
    // The replicas authenticated to their masters (--masterauth): wait_stable saw their links up.
    for (std::size_t m : c.masters())
        EXPECT_EQ(c.replicas_of(m).size(), 1U);
}
