// tests/integration/redis_cluster.hpp — a real Redis Cluster for one test.
//
// Starts masters × (1 + replicas_per_master) cluster-enabled redis_server nodes on ephemeral
// 127.0.0.1 ports, joins them with `redis-cli --cluster create` and waits until every node says
// the cluster is ok and all of them agree on who owns which slot. A test can then move slots
// (whole, or step by step to see ASK redirections), reshard with redis-cli, and kill a master
// to watch a replica take over. Each node's cluster bus listens on a port of its own
// (`--cluster-port`, also ephemeral), so any client port works. The nodes are asked with small
// synchronous RESP exchanges; redis-cli runs as a child process. Every wait is bounded and
// throws std::runtime_error with what the nodes said and the tail of their logs.
#pragma once

#include "redis_server.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mcpd::test {

class redis_cluster {
public:
    struct options {
        int masters = 3; // at least 3 (redis-cli --cluster create wants them)
        int replicas_per_master = 1;
        // cluster-node-timeout: how fast a failover starts.
        std::chrono::milliseconds node_timeout{1000};
        // Extra args for every node (e.g. requirepass), after the fixture's own: the cluster
        // directives and `--repl-diskless-sync-delay 0` (replicas sync at once).
        std::vector<std::string> args;
        // When the nodes need one (redis-cli gets it through REDISCLI_AUTH). The nodes also get
        // `--masterauth <password>` unless `args` names one, so that replicas can sync.
        std::string password;
    };

    // Starts every node, creates the cluster and waits (bounded, ~30 s) until it is stable.
    // (Two constructors rather than `options o = {}`: GCC cannot use the default member
    // initializers of a nested struct in a default argument inside its enclosing class.)
    redis_cluster();
    explicit redis_cluster(options o);
    ~redis_cluster(); // stops every node by PID (redis_server does that)
    redis_cluster(redis_cluster const&) = delete;
    redis_cluster& operator=(redis_cluster const&) = delete;

    [[nodiscard]] std::vector<std::string> seeds() const; // "127.0.0.1:port" of every node
    [[nodiscard]] std::string seed_list() const;          // the same, comma-separated
    // "redis+cluster://127.0.0.1:p1,127.0.0.1:p2,..." (all nodes, no credentials).
    [[nodiscard]] std::string url() const;
    [[nodiscard]] std::size_t size() const noexcept { return nodes_.size(); }
    redis_server& node(std::size_t i);

    // What the live nodes say now. master_of_slot: the master that owns `slot` by its own
    // account (the highest config epoch if two claim it); masters: the nodes that are masters,
    // with or without slots; replicas_of: the live nodes replicating master i.
    std::size_t master_of_slot(std::uint16_t slot);
    std::vector<std::size_t> masters();
    std::vector<std::size_t> replicas_of(std::size_t master);
    // CLUSTER MYID; for a node that is down, what it said when the cluster was created.
    std::string node_id(std::size_t i);

    // Moves `slot` from its owner to master `to` completely: CLUSTER SETSLOT <slot> IMPORTING
    // on the target, MIGRATING on the source, the keys in batches (CLUSTER GETKEYSINSLOT,
    // MIGRATE … KEYS …), then SETSLOT <slot> NODE <id> on the target, the source and the other
    // masters; then waits until the cluster is stable. Nothing to do when `to` owns it already.
    void move_slot(std::uint16_t slot, std::size_t to);
    // The same in steps, for tests of ASK: begin_migration sets IMPORTING/MIGRATING and moves no
    // keys; migrate_keys moves just `keys` (which must hash to `slot`); finish_migration moves
    // the keys still on the source, assigns the slot to `to` everywhere and waits for stability.
    void begin_migration(std::uint16_t slot, std::size_t to);
    void migrate_keys(std::uint16_t slot, std::size_t to, std::vector<std::string> const& keys);
    void finish_migration(std::uint16_t slot, std::size_t to);

    // `redis-cli --cluster reshard` of `slots` slots from master `from` to master `to`, then waits
    // until the cluster is stable.
    void reshard(std::size_t from, std::size_t to, int slots);

    // Kills master i (SIGKILL) and waits (bounded, 30 s) until one of its replicas owns its slots
    // and the surviving nodes are stable; returns the index of the promoted node.
    std::size_t kill_master_and_wait_failover(std::size_t i);

    // Waits until every live node reports cluster_state:ok, knows every other live node as
    // healthy, all of them agree on the roles and the slot owners (all live), and every live
    // replica has master_link_status:up.
    void wait_stable(std::chrono::seconds limit = std::chrono::seconds(30));

    // redis-cli against node i, bounded (10 s): its output, standard error included. With
    // `follow_redirects` it runs with -c (follows MOVED and ASK). An error reply is output too.
    std::string cli(std::size_t i, std::vector<std::string> const& args,
                    bool follow_redirects = false);
    // redis-cli against node i reading `script` from its standard input: one command a line, all
    // on one connection (so that `WAIT 1 5000` waits for the writes before it).
    std::string cli_script(std::size_t i, std::string const& script, bool follow_redirects = false);

private:
    [[nodiscard]] std::string stability_problem();       // empty when stable
    [[nodiscard]] std::string diagnostics();             // every node's view and log tail
    [[nodiscard]] std::string name(std::size_t i) const; // "node 2 (127.0.0.1:port)"
    void require_master(std::size_t i, char const* what);
    void migrate_from(std::size_t from, std::size_t to, std::vector<std::string> const& keys);

    options opts_;
    std::vector<std::unique_ptr<redis_server>> nodes_;
    std::vector<std::string> ids_; // CLUSTER MYID of each node, at creation
};

} // namespace mcpd::test
