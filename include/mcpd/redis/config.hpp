// redis/config.hpp — everything that decides how a Redis client connects and behaves.
//
// Built from a URL (`redis://[user:password@]host[:port][/db]`, `rediss://…` for TLS,
// `unix:///path.sock[?db=N&password=…]`, `redis+sentinel://[user:password@]s1:26379,s2:26379/
// mymaster[/db]` for a master found through Sentinel, `redis+cluster://[user:password@]h1:7000,
// h2:7001` for a Redis Cluster), from the environment (REDIS_URL, else REDIS_HOST, REDIS_PORT,
// REDIS_PASSWORD like the Node ecosystem; REDIS_SENTINELS + REDIS_SENTINEL_MASTER, or
// REDIS_CLUSTER_NODES), or field by field. docs/redis.md lists every form. Defaults are what a
// production server wants: timeouts on, offline queue on and bounded, reconnect forever with
// capped exponential backoff and jitter.
#pragma once

#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::redis {

using namespace std::chrono_literals;

struct tls_options {
    bool enabled = false;
    std::string ca_file;               // PEM bundle to trust; empty: the system's default paths
    std::string cert_file;             // client certificate (PEM), for mutual TLS
    std::string key_file;              // its private key (PEM)
    std::string server_name;           // SNI and the name verified; empty: the host
    bool insecure_skip_verify = false; // no certificate or host name check (tests only)
};

// A host and port: a sentinel, or a cluster seed node.
struct node_address {
    std::string host;
    std::uint16_t port = 0;
    friend bool operator==(node_address const&, node_address const&) = default;
};

// Sentinel: the master is whatever the sentinels name; config::host/port are then only the
// address it was last found at. Every connection asks the sentinels first (each in turn, the
// one that answered last first), checks with ROLE that the node it reached is a master, and a
// `+switch-master` announced by any sentinel, or a READONLY reply, makes it ask again.
struct sentinel_options {
    std::vector<node_address> sentinels; // empty: no Sentinel
    std::string master_name;
    // The sentinels' own credentials (REDIS_SENTINEL_USERNAME / REDIS_SENTINEL_PASSWORD); the
    // config's username/password are the data nodes'. TLS to the sentinels follows config::tls.
    std::string username;
    std::string password;
};

// Redis Cluster: the seeds are where the slot map is first asked for (CLUSTER SHARDS, or CLUSTER
// SLOTS before Redis 7); after that the client talks to every master (and, when reading from
// replicas, to replicas) as the map says, one multiplexed connection per node, and follows
// MOVED and ASK. config::host/port are then unused; the credentials, TLS, timeouts and key
// prefix apply to every node. See docs/redis.md.
struct cluster_options {
    std::vector<node_address> seeds; // empty: not a cluster
    // Read-only commands (GET, MGET, HGETALL, …) from a replica of the key's slot, when it has
    // one (READONLY is sent to replicas): more read capacity, reads that may lag the master.
    bool read_from_replicas = false;
    // The slot map is asked for again this often (and at once on MOVED or a lost node).
    duration refresh_interval = std::chrono::seconds(10);
    // MOVED/ASK redirects followed for one request, and TRYAGAIN/CLUSTERDOWN retries (with
    // backoff): beyond them the request fails with the last error.
    std::uint32_t max_redirects = 8;
};

enum class protocol_version {
    automatic, // HELLO 3; RESP2 if the server does not know HELLO or refuses protocol 3
    resp2,
    resp3, // HELLO 3; fail if refused
};

// Decides whether and when to reconnect after a failed or lost connection. `attempt` counts
// from 1 for the first retry after a loss; returns the delay, or nullopt to stop reconnecting
// (pending requests then fail with client_errc::reconnect_gave_up).
using retry_strategy = std::function<std::optional<duration>(std::uint32_t attempt, error const&)>;

// min(cap, base · 2^(attempt-1)), then a random delay in [d/2, d] so a fleet that lost the same
// Redis does not reconnect in lockstep.
retry_strategy exponential_backoff(duration base = 50ms, duration cap = 2s);

struct config {
    // Where: TCP host/port, or a Unix socket when unix_path is set.
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    std::string unix_path;
    tls_options tls;

    // Set: the master is found through these sentinels (see sentinel_options).
    sentinel_options sentinel;
    // Set: a Redis Cluster (see cluster_options).
    cluster_options cluster;

    // Who: AUTH [username] password and SELECT db on every (re)connect.
    std::string username; // empty: the "default" user
    std::string password; // empty: no AUTH
    int db = 0;
    std::string client_name = "mcpd"; // CLIENT SETNAME; empty: not set

    protocol_version protocol = protocol_version::automatic;

    duration connect_timeout = 10s; // resolve + TCP connect + TLS + handshake
    duration command_timeout = 10s; // per request, from submission; zero: none
    // PING when idle this long; when busy, drop the connection if nothing was read for this
    // long and the next reply is owed to a request that timed out this long ago. Zero: off.
    duration health_check_interval = 5s;
    duration tcp_keepalive = 30s; // TCP keep-alive idle time; zero: off

    // Prepended to every key argument (see command_keys.hpp); not to values or script bodies.
    std::string key_prefix;

    // While not connected: queue requests (up to offline_queue_max) until the connection is
    // ready, or fail them at once with client_errc::not_connected. A rate-limit client wants
    // it off so a reconnect does not replay a burst.
    bool offline_queue = true;
    std::size_t offline_queue_max = 100'000;
    // Requests in flight when the connection drops are re-sent after the reconnect up to this
    // many times, then fail with client_errc::max_retries_exceeded. Needs the offline queue:
    // without it they fail at once with client_errc::connection_lost.
    std::uint32_t max_retries_per_request = 3;

    retry_strategy reconnect = exponential_backoff();

    // The URL this config connects to, with the password masked: for logs and status pages.
    [[nodiscard]] std::string redacted_url() const;
};

// Parses a redis://, rediss:// or unix:// URL on top of `base` (timeouts and other options keep
// base's values). Errors name the part of the URL that is wrong.
result<config> config_from_url(std::string_view url, config base = {});

// REDIS_URL if set; else REDIS_HOST / REDIS_PORT / REDIS_PASSWORD (each optional) on top of
// `base`. `getenv` is injectable for tests; by default the process environment.
result<config> config_from_env(config base = {},
                               std::function<char const*(char const*)> getenv = nullptr);

} // namespace mcpd::redis
