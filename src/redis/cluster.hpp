// redis/cluster.hpp — INTERNAL: the Redis Cluster router under redis::client. It keeps the slot
// map (cluster_slots.hpp), one detail::connection per node, and sends each request to the node
// that serves its slot, following MOVED and ASK and retrying TRYAGAIN, CLUSTERDOWN and lost
// nodes with backoff, within the request's timeout and config::cluster.max_redirects.
//
// The slot map is asked for (CLUSTER SHARDS, else CLUSTER SLOTS) from the nodes it knows and
// the seeds: before the first request, on MOVED, when a node connection fails, and every
// cluster.refresh_interval. A node the new map no longer names is disconnected; requests that
// were waiting for it fail over to the node that serves their slot now.
//
// Threads: the map and the node table sit behind a mutex; requests go to the node connections
// (each on its own strand) straight from the caller's coroutine, which resumes on its own
// executor. Refreshes run on the router's strand.
#pragma once

#include "mcpd/redis/command.hpp"
#include "mcpd/redis/config.hpp"
#include "mcpd/redis/event.hpp"
#include "mcpd/redis/resp.hpp"
#include "redis/cluster_slots.hpp"
#include "redis/multiplexer.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mcpd::redis::detail {

class connection;

class cluster : public std::enable_shared_from_this<cluster> {
public:
    cluster(boost::asio::any_io_executor const& ex, config cfg);
    ~cluster();
    cluster(cluster const&) = delete;
    cluster& operator=(cluster const&) = delete;

    void set_event_handler(std::function<void(event const&)> handler);
    // Client-side caching on every node connection (see client::track_prefixes): `on_push`
    // gets each node's invalidation pushes, `on_lost` a lost node, `on_ready` a node's
    // handshake (its requests go first). Set before start().
    struct node_hooks {
        std::function<void(value&&)> on_push;
        std::function<void()> on_lost;
        std::function<std::vector<request_ptr>(int protocol)> on_ready;
    };
    void set_node_hooks(std::function<node_hooks(std::string const& node)> make);

    void start();

    // `cmd` is held by the coroutine (by value): it is sent again after a redirect.
    boost::asio::awaitable<result<value>> exec(command cmd, request_options opts);
    boost::asio::awaitable<result<std::vector<value>>> exec(request req);
    // The masters of the current map (asking for one first when there is none), for SCAN.
    boost::asio::awaitable<result<std::vector<node_address>>> masters();
    // One command on one node (SCAN's cursor belongs to the node it came from).
    boost::asio::awaitable<result<value>> exec_at(node_address const& node, command const& cmd,
                                                  request_options opts);

    boost::asio::awaitable<result<void>> quit();
    void disconnect();
    void detach();

    [[nodiscard]] config const& cfg() const noexcept { return cfg_; }
    [[nodiscard]] connection_state state() const noexcept;
    [[nodiscard]] client_stats stats() const noexcept;
    [[nodiscard]] std::string topology() const;
    // "host:port" of every master that serves slots now (and of their replicas when reading
    // from them): the connections client tracking must be on for a cached copy to be trusted.
    [[nodiscard]] std::shared_ptr<std::vector<std::string> const> serving_nodes() const;

private:
    using clock = std::chrono::steady_clock;
    struct routed {
        std::shared_ptr<connection> conn;
        std::shared_ptr<node_address const> node;
    };

    // The connection to `node`, made (and started) when there is none yet. `serving`: it
    // carries keys' requests (a master, or a replica read from), so client tracking goes on
    // it; a connection only asked for the map (a seed) has none: a replica's would report our
    // own writes back as invalidations.
    std::shared_ptr<connection> node_connection(node_address const& node, bool replica,
                                                bool serving = true);
    // Where a slot's requests go now (nullopt: no map yet, or nobody serves the slot).
    std::optional<routed> route(std::optional<std::uint16_t> slot, bool read_only);
    // exec(command) to an ASK target: ASKING, then the command, in one write.
    static boost::asio::awaitable<result<value>>
    send_asking(std::shared_ptr<connection> conn, command const& cmd, request_options opts);
    // Fills slot_routes_ from slot_owner_ and nodes_. Called with mutex_ held.
    void rebuild_routes_locked();
    // Waits until a map is installed (starting a refresh when none runs), up to `deadline`.
    boost::asio::awaitable<result<void>> ensure_map(clock::time_point deadline);
    // Starts a refresh on the strand unless one runs (then one more follows it).
    void request_refresh();
    boost::asio::awaitable<void> refresh_loop();
    boost::asio::awaitable<void> periodic_refresh();
    boost::asio::awaitable<result<slot_map>> fetch_map();
    void install(slot_map map);
    void on_node_event(event const& e);
    void emit(event const& e);

    boost::asio::any_io_executor ex_;
    boost::asio::strand<boost::asio::any_io_executor> strand_;
    config cfg_;
    boost::asio::steady_timer periodic_timer_;

    mutable std::mutex mutex_; // guards everything below
    slot_map map_;
    std::vector<node_address> slot_owner_; // per slot: the master's address (empty host: none)
    // Per slot: the connection to its master and that master's address, ready for a request
    // (no string key, no map lookup on the request path); empty until its connection exists.
    std::vector<routed> slot_routes_;
    std::map<std::string, std::shared_ptr<connection>> nodes_; // by "host:port"
    std::map<std::string, bool> tracked_; // by "host:port": its connection has the hooks
    std::shared_ptr<std::vector<std::string> const> serving_ =
        std::make_shared<std::vector<std::string> const>(); // serving_nodes(), per map
    bool started_ = false;
    bool closed_ = false;
    bool refreshing_ = false;
    bool refresh_again_ = false;
    std::uint64_t maps_installed_ = 0;
    error last_refresh_error_;
    std::function<void(event const&)> on_event_;
    std::function<node_hooks(std::string const&)> make_hooks_;
    std::uint64_t retired_requests_ = 0, retired_failures_ = 0; // stats of disconnected nodes
};

} // namespace mcpd::redis::detail
