// redis/cluster.cpp — the Redis Cluster router (see cluster.hpp).
#include "redis/cluster.hpp"

#include "core/log.hpp"
#include "mcpd/redis/command_keys.hpp"
#include "mcpd/redis/error.hpp"
#include "redis/connection.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>

namespace mcpd::redis::detail {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

std::string key_of(node_address const& n) {
    return n.host + ":" + std::to_string(n.port);
}

bool iequal(std::string_view a, std::string_view upper) noexcept {
    return a.size() == upper.size() &&
           std::equal(a.begin(), a.end(), upper.begin(), [](char x, char y) {
               return std::toupper(static_cast<unsigned char>(x)) == y;
           });
}

// Commands a replica may answer (READONLY connection): reads of one slot's keys.
bool is_read_only(std::string_view name) noexcept {
    static constexpr std::array<std::string_view, 34> reads{
        "GET",        "MGET",   "STRLEN",    "GETRANGE", "EXISTS",   "TTL",       "PTTL",
        "TYPE",       "HGET",   "HMGET",     "HGETALL",  "HKEYS",    "HVALS",     "HLEN",
        "HEXISTS",    "LRANGE", "LLEN",      "LINDEX",   "SMEMBERS", "SISMEMBER", "SCARD",
        "SMISMEMBER", "ZRANGE", "ZSCORE",    "ZCARD",    "ZRANK",    "ZCOUNT",    "ZRANGEBYSCORE",
        "ZMSCORE",    "XRANGE", "XREVRANGE", "XLEN",     "GETBIT",   "BITCOUNT"};
    return std::any_of(reads.begin(), reads.end(),
                       [name](std::string_view r) { return iequal(name, r); });
}

bool is_transaction(request const& req) noexcept {
    return std::any_of(req.commands.begin(), req.commands.end(),
                       [](command const& c) { return iequal(c.name(), "MULTI"); });
}

// A server error reply that says the request must go elsewhere or wait.
std::optional<server_errc> cluster_kind(value const& v) {
    if (!v.is_error())
        return std::nullopt;
    auto kind = classify_server_error(v.as_string().value_or(""));
    if (kind == server_errc::moved || kind == server_errc::ask || kind == server_errc::tryagain ||
        kind == server_errc::clusterdown)
        return kind;
    return std::nullopt;
}

// Failures of a node's connection after which the request may go to the slot's node again.
bool node_failure(error const& e) {
    return e.code == client_errc::disconnected || e.code == client_errc::connection_lost ||
           e.code == client_errc::max_retries_exceeded || e.code == client_errc::not_connected ||
           e.code == client_errc::reconnect_gave_up || e.code == client_errc::connect_timeout;
}

asio::awaitable<void> pause(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

std::chrono::milliseconds backoff(std::uint32_t attempt) {
    return std::chrono::milliseconds(std::min<std::uint32_t>(10U << std::min(attempt, 5U), 250));
}

// Several requests, each to its node, sent at once; done when every one is answered.
struct part {
    std::shared_ptr<connection> conn;
    request req;
    std::vector<std::size_t> positions; // where its replies go in the caller's request
};
using part_results = std::vector<result<std::vector<value>>>;

asio::awaitable<part_results> send_parts(std::vector<part>& parts, std::string const& prefix,
                                         steady_clock::time_point deadline) {
    auto init = [&parts, &prefix, deadline](auto handler) {
        using handler_type = decltype(handler);
        struct join {
            std::mutex m;
            std::size_t pending;
            part_results results;
            std::optional<handler_type> h;
        };
        auto js = std::make_shared<join>();
        js->pending = parts.size();
        js->results.resize(parts.size(), error(client_errc::disconnected));
        js->h.emplace(std::move(handler));
        for (std::size_t i = 0; i < parts.size(); ++i) {
            auto r = std::make_shared<internal_request>();
            bool prefixed = parts[i].req.options.apply_prefix && !prefix.empty();
            for (auto const& c : parts[i].req.commands) {
                if (prefixed)
                    encode_command_prefixed(r->payload, c.args(), prefix);
                else
                    encode_command(r->payload, c.args());
            }
            r->expected_replies = static_cast<std::uint32_t>(parts[i].req.commands.size());
            r->retry_on_connection_lost = parts[i].req.options.retry_on_connection_lost;
            r->deadline = deadline;
            r->on_done = [js, i](internal_request& done) {
                result<std::vector<value>> res =
                    done.failure.code ? result<std::vector<value>>(done.failure)
                                      : result<std::vector<value>>(std::vector<value>(
                                            std::make_move_iterator(done.replies.begin()),
                                            std::make_move_iterator(done.replies.end())));
                std::unique_lock lock(js->m);
                js->results[i] = std::move(res);
                if (--js->pending == 0) {
                    auto h = std::move(*js->h);
                    auto results = std::move(js->results);
                    lock.unlock();
                    complete_with(std::move(h), std::move(results));
                }
            };
            parts[i].conn->submit(std::move(r));
        }
    };
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(part_results)>(
        std::move(init), asio::use_awaitable);
}

} // namespace

cluster::cluster(asio::any_io_executor const& ex, config cfg)
    : ex_(ex)
    , strand_(asio::make_strand(ex))
    , cfg_(std::move(cfg))
    , periodic_timer_(strand_)
    , slot_owner_(cluster_slot_count)
    , slot_routes_(cluster_slot_count) {}

cluster::~cluster() = default;

void cluster::set_event_handler(std::function<void(event const&)> handler) {
    std::lock_guard lock(mutex_);
    on_event_ = std::move(handler);
}

void cluster::set_node_hooks(std::function<node_hooks(std::string const&)> make) {
    std::lock_guard lock(mutex_);
    make_hooks_ = std::move(make);
}

void cluster::emit(event const& e) {
    std::function<void(event const&)> handler;
    {
        std::lock_guard lock(mutex_);
        handler = on_event_;
    }
    if (handler)
        handler(e);
}

void cluster::start() {
    {
        std::lock_guard lock(mutex_);
        if (started_ || closed_)
            return;
        started_ = true;
    }
    request_refresh();
    asio::co_spawn(strand_, periodic_refresh(), asio::detached);
}

// --- nodes and routes ------------------------------------------------------------------------

std::shared_ptr<connection> cluster::node_connection(node_address const& node, bool replica,
                                                     bool serving) {
    std::string key = key_of(node);
    std::function<node_hooks(std::string const&)> make_hooks;
    std::shared_ptr<connection> untracked; // a seed's connection, now serving: made again
    {
        std::lock_guard lock(mutex_);
        if (closed_)
            return nullptr;
        if (auto it = nodes_.find(key); it != nodes_.end()) {
            if (!serving || !make_hooks_ || tracked_[key])
                return it->second;
            untracked = std::move(it->second);
            nodes_.erase(it);
        }
        if (serving)
            make_hooks = make_hooks_;
    }
    if (untracked)
        untracked->disconnect(); // its requests fail over (`disconnected`) to the new one
    config node_cfg = cfg_;
    node_cfg.cluster = {};
    node_cfg.sentinel = {};
    node_cfg.host = node.host;
    node_cfg.port = node.port;
    node_cfg.unix_path.clear();
    auto conn = std::make_shared<connection>(ex_, std::move(node_cfg));
    conn->readonly_replica = replica && cfg_.cluster.read_from_replicas;
    if (make_hooks) {
        auto hooks = make_hooks(key);
        conn->on_push = std::move(hooks.on_push);
        conn->on_lost = std::move(hooks.on_lost);
        conn->on_ready = std::move(hooks.on_ready);
    }
    std::weak_ptr<cluster> weak = weak_from_this();
    conn->set_event_handler([weak](event const& e) {
        if (auto self = weak.lock())
            self->on_node_event(e);
    });
    std::lock_guard lock(mutex_);
    if (closed_)
        return nullptr;
    auto [it, inserted] = nodes_.emplace(key, conn);
    if (inserted) {
        tracked_[key] = static_cast<bool>(make_hooks);
        it->second->start();
    }
    return it->second;
}

std::optional<cluster::routed> cluster::route(std::optional<std::uint16_t> slot, bool read_only) {
    node_address target;
    bool replica = false;
    {
        std::lock_guard lock(mutex_);
        if (map_.empty())
            return std::nullopt;
        if (slot && !(read_only && cfg_.cluster.read_from_replicas))
            if (auto const& r = slot_routes_[*slot]; r.conn)
                return r; // the common case: the slot's master, connected
        if (!slot) {
            // No keys: any master will do; spread them.
            static std::atomic<std::size_t> next{0};
            auto const& masters = map_.masters();
            if (masters.empty())
                return std::nullopt;
            auto const& m = masters[next++ % masters.size()];
            target = {m.host, m.port};
        } else {
            target = slot_owner_[*slot];
            if (read_only && cfg_.cluster.read_from_replicas) {
                auto replicas = map_.replicas_of(*slot);
                if (!replicas.empty()) {
                    static std::atomic<std::size_t> next{0};
                    auto const& r = replicas[next++ % replicas.size()];
                    target = {r.host, r.port};
                    replica = true;
                }
            }
        }
    }
    if (target.host.empty())
        return std::nullopt;
    auto conn = node_connection(target, replica);
    if (!conn)
        return std::nullopt;
    routed out{std::move(conn), std::make_shared<node_address const>(std::move(target))};
    if (slot && !replica) { // the slot's next requests take the fast path
        std::lock_guard lock(mutex_);
        if (slot_owner_[*slot] == *out.node)
            slot_routes_[*slot] = out;
    }
    return out;
}

void cluster::rebuild_routes_locked() {
    // One routed per master, shared by its slots.
    std::map<std::string, routed> by_node;
    for (std::uint32_t slot = 0; slot < cluster_slot_count; ++slot) {
        auto const& owner = slot_owner_[slot];
        auto& route_of = slot_routes_[slot];
        route_of = {};
        if (owner.host.empty())
            continue;
        auto key = key_of(owner);
        auto it = by_node.find(key);
        if (it == by_node.end()) {
            routed r;
            auto c = nodes_.find(key);
            // Only a connection with the tracking hooks (when there are hooks) serves keys.
            if (c != nodes_.end() && (!make_hooks_ || tracked_[key]))
                r = routed{c->second, std::make_shared<node_address const>(owner)};
            it = by_node.emplace(std::move(key), std::move(r)).first;
        }
        route_of = it->second;
    }
}

void cluster::on_node_event(event const& e) {
    if (e.what == event::kind::error)
        request_refresh(); // a lost node may have failed over: ask where its slots are now
    if (e.what == event::kind::connected || e.what == event::kind::error)
        emit(e);
}

// --- the slot map ----------------------------------------------------------------------------

void cluster::request_refresh() {
    {
        std::lock_guard lock(mutex_);
        if (closed_)
            return;
        if (refreshing_) {
            refresh_again_ = true;
            return;
        }
        refreshing_ = true;
    }
    asio::co_spawn(strand_, refresh_loop(), asio::detached);
}

asio::awaitable<void> cluster::refresh_loop() {
    auto self = shared_from_this();
    for (std::uint32_t failures = 0;;) {
        auto map = co_await fetch_map();
        if (map)
            install(std::move(*map));
        bool again = false;
        {
            std::lock_guard lock(mutex_);
            if (!map)
                last_refresh_error_ = map.error();
            // Again when asked meanwhile, or while there is no map at all (requests wait).
            again = !closed_ && (refresh_again_ || (!map && map_.empty()));
            refresh_again_ = false;
            if (!again)
                refreshing_ = false;
        }
        if (!map) {
            if (failures == 0)
                log::warn("redis {}: no slot map: {}", cfg_.redacted_url(), map.error().message());
            else
                log::debug("redis {}: no slot map: {}", cfg_.redacted_url(), map.error().message());
        }
        if (!again)
            co_return;
        // A cluster that is down is not asked in a tight loop.
        if (!map)
            co_await pause(backoff(++failures));
        else
            failures = 0;
    }
}

asio::awaitable<void> cluster::periodic_refresh() {
    auto self = shared_from_this();
    for (;;) {
        periodic_timer_.expires_after(cfg_.cluster.refresh_interval);
        error_code ec;
        co_await periodic_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        {
            std::lock_guard lock(mutex_);
            if (closed_)
                co_return;
        }
        request_refresh();
    }
}

asio::awaitable<result<slot_map>> cluster::fetch_map() {
    // Ask the nodes of the current map first (they know the latest), then the seeds.
    std::vector<node_address> candidates;
    {
        std::lock_guard lock(mutex_);
        for (auto const& shard : map_.shards()) {
            candidates.push_back({shard.master.host, shard.master.port});
            for (auto const& r : shard.replicas)
                candidates.push_back({r.host, r.port});
        }
    }
    for (auto const& s : cfg_.cluster.seeds)
        if (std::find(candidates.begin(), candidates.end(), s) == candidates.end())
            candidates.push_back(s);
    std::string failures;
    request_options ask;
    ask.apply_prefix = false;
    ask.retry_on_connection_lost = true;
    // Each node gets a share of the connect timeout: a dead seed must not use it all up.
    ask.timeout = std::max<duration>(std::min(cfg_.connect_timeout, cfg_.command_timeout.count() > 0
                                                                        ? cfg_.command_timeout
                                                                        : cfg_.connect_timeout) /
                                         2,
                                     duration(200));
    for (auto const& node : candidates) {
        auto conn = node_connection(node, false, false);
        if (!conn)
            co_return error(client_errc::disconnected);
        // Its first connect is waited for (bounded), as for a request: without the offline
        // queue a seed that is still connecting would answer not_connected.
        auto connect_by = clock::now() + *ask.timeout;
        while (conn->state() == connection_state::connecting && clock::now() < connect_by)
            co_await pause(std::chrono::milliseconds(2));
        auto reply = co_await execute_one(conn, command("CLUSTER", "SHARDS"), ask);
        result<slot_map> map = error(client_errc::unexpected_reply);
        if (!reply && reply.error().code == server_errc::err &&
            reply.error().detail.find("cluster support disabled") != std::string::npos) {
            co_return error(client_errc::invalid_config,
                            key_of(node) + " is not a cluster node (cluster support disabled): "
                                           "use redis:// for a single Redis");
        }
        if (!reply && (reply.error().code == server_errc::unknown_command ||
                       reply.error().code == server_errc::err)) {
            auto slots = co_await execute_one(conn, command("CLUSTER", "SLOTS"), ask);
            map = slots ? slot_map::from_slots(*slots, node.host) : result<slot_map>(slots.error());
        } else if (reply) {
            map = slot_map::from_shards(*reply, node.host, cfg_.tls.enabled);
        } else {
            map = reply.error();
        }
        if (map && !map->empty())
            co_return map;
        failures += (failures.empty() ? "" : "; ") + key_of(node) + ": " +
                    (map ? std::string("no slot is served") : map.error().message());
    }
    co_return error(client_errc::not_connected,
                    "no cluster node answered with a slot map (" + failures + ")");
}

void cluster::install(slot_map map) {
    std::vector<std::shared_ptr<connection>> gone;
    bool first = false;
    {
        std::lock_guard lock(mutex_);
        if (closed_)
            return;
        first = maps_installed_++ == 0;
        // The nodes kept: masters that serve slots and their (healthy) replicas. A failed
        // master shows up without slots once a replica took them over: dropped.
        std::vector<std::string> named;
        for (auto const& shard : map.shards()) {
            if (shard.ranges.empty())
                continue;
            named.push_back(key_of({shard.master.host, shard.master.port}));
            for (auto const& r : shard.replicas)
                named.push_back(key_of({r.host, r.port}));
        }
        for (std::uint32_t slot = 0; slot < cluster_slot_count; ++slot) {
            auto const* m = map.master_of(static_cast<std::uint16_t>(slot));
            slot_owner_[slot] = m ? node_address{m->host, m->port} : node_address{};
        }
        // A node the map no longer names (failed, removed) is dropped: its queued requests
        // fail with `disconnected` and the router sends them where their slot is now. Seeds
        // stay: they are where the next map comes from.
        for (auto it = nodes_.begin(); it != nodes_.end();) {
            bool seed = std::any_of(cfg_.cluster.seeds.begin(), cfg_.cluster.seeds.end(),
                                    [&](node_address const& s) { return key_of(s) == it->first; });
            if (!seed && std::find(named.begin(), named.end(), it->first) == named.end()) {
                auto st = it->second->stats();
                retired_requests_ += st.requests;
                retired_failures_ += st.failures;
                gone.push_back(std::move(it->second));
                tracked_.erase(it->first);
                it = nodes_.erase(it);
            } else {
                ++it;
            }
        }
        map_ = std::move(map);
        // Made once per map: the near cache asks on every read whether it may trust a copy.
        auto serving = std::make_shared<std::vector<std::string>>();
        for (auto const& shard : map_.shards()) {
            if (shard.ranges.empty())
                continue;
            serving->push_back(key_of({shard.master.host, shard.master.port}));
            if (cfg_.cluster.read_from_replicas)
                for (auto const& r : shard.replicas)
                    serving->push_back(key_of({r.host, r.port}));
        }
        serving_ = std::move(serving);
    }
    for (auto& c : gone)
        c->disconnect();
    // Every master is connected now, not at its first request.
    std::vector<node_address> masters;
    {
        std::lock_guard lock(mutex_);
        for (auto const& shard : map_.shards())
            if (!shard.ranges.empty())
                masters.push_back({shard.master.host, shard.master.port});
    }
    for (auto const& m : masters)
        node_connection(m, false);
    {
        std::lock_guard lock(mutex_);
        rebuild_routes_locked();
    }
    if (first)
        log::info("redis {}: {}", cfg_.redacted_url(), topology());
}

asio::awaitable<result<void>> cluster::ensure_map(clock::time_point deadline) {
    for (bool asked = false;; asked = true) {
        error last;
        {
            std::lock_guard lock(mutex_);
            if (closed_)
                co_return error(client_errc::disconnected);
            if (!map_.empty())
                co_return result<void>();
            last = last_refresh_error_;
        }
        if (last.code == client_errc::invalid_config) // a seed that is no cluster node
            co_return last;
        if (!asked) {
            start(); // the first refresh; while there is no map, it keeps trying on its own
            request_refresh();
        }
        if (clock::now() >= deadline) {
            std::string why = "no slot map yet";
            if (last.code)
                why += "; last error: " + last.message();
            co_return error(client_errc::timeout, why);
        }
        co_await pause(std::chrono::milliseconds(5));
    }
}

// --- requests --------------------------------------------------------------------------------

asio::awaitable<result<value>> cluster::exec(command cmd, request_options opts) {
    if (cmd.empty())
        co_return error(client_errc::unsupported_command, "empty command");
    auto slot = command_slot(cmd.args(), opts.apply_prefix ? cfg_.key_prefix : "");
    if (!slot)
        co_return slot.error();
    duration timeout = opts.timeout.value_or(cfg_.command_timeout);
    auto deadline = timeout.count() > 0 ? clock::now() + timeout : clock::time_point::max();
    bool const read_only = cfg_.cluster.read_from_replicas && is_read_only(cmd.name());
    std::optional<node_address> asking; // ASK: this node, once, with ASKING first
    error last;
    for (std::uint32_t attempt = 0; attempt <= cfg_.cluster.max_redirects; ++attempt) {
        std::optional<routed> to;
        if (asking) {
            if (auto conn = node_connection(*asking, false))
                to = routed{std::move(conn), std::make_shared<node_address const>(*asking)};
        } else {
            to = route(slot->slot, read_only);
            if (!to) { // no map yet (the first requests), or nobody serves the slot
                if (auto ready = co_await ensure_map(deadline); !ready)
                    co_return last.code ? last : ready.error();
                to = route(slot->slot, read_only);
            }
        }
        if (!to) {
            last = error(server_errc::clusterdown,
                         "no node serves slot " + std::to_string(slot->slot.value_or(0)));
            request_refresh();
            co_await pause(backoff(attempt));
            continue;
        }
        // A node connection's first connect is waited for, as one node's first request waits
        // for its connection, whatever the offline queue says.
        while (to->conn->state() == connection_state::connecting && clock::now() < deadline)
            co_await pause(std::chrono::milliseconds(2));
        request_options o = opts;
        if (timeout.count() > 0) {
            auto left = std::chrono::duration_cast<duration>(deadline - clock::now());
            if (left.count() <= 0)
                co_return last.code ? last : error(client_errc::timeout);
            o.timeout = left;
        }
        // The operation is a named local and the result initialized from its co_await (GCC 12:
        // docs/rough_edges.md); the common path is execute_one itself, no frame of ours.
        auto send = asking ? send_asking(to->conn, cmd, o) : execute_one(to->conn, cmd, o);
        auto r = co_await std::move(send);
        asking.reset();
        if (r)
            co_return r;
        last = r.error();
        auto const& code = r.error().code;
        if (code == server_errc::moved || code == server_errc::ask) {
            auto where = parse_redirect(r.error().detail, to->node->host);
            if (!where)
                co_return r;
            if (where->what == redirect::kind::ask) {
                asking = node_address{where->host, where->port};
                continue;
            }
            node_address to_node{where->host, where->port};
            auto conn = node_connection(to_node, false);
            {
                std::lock_guard lock(mutex_);
                slot_owner_[where->slot] = to_node;
                slot_routes_[where->slot] =
                    conn ? routed{std::move(conn), std::make_shared<node_address const>(to_node)}
                         : routed{};
            }
            request_refresh();
            continue;
        }
        if (code == server_errc::tryagain || code == server_errc::clusterdown ||
            (code == server_errc::readonly && read_only)) {
            if (code != server_errc::tryagain)
                request_refresh();
            co_await pause(backoff(attempt));
            continue;
        }
        if (node_failure(r.error())) {
            if (code == client_errc::connection_lost && !opts.retry_on_connection_lost)
                co_return r;
            // Without the offline queue a node that is down answers at once (the caller's
            // failure policy decides), unless the node was dropped from the map: then the
            // request goes where its slot is now.
            if (!cfg_.offline_queue && code != client_errc::disconnected)
                co_return r;
            {
                std::lock_guard lock(mutex_);
                if (closed_)
                    co_return r;
            }
            request_refresh();
            co_await pause(backoff(attempt));
            continue;
        }
        co_return r;
    }
    co_return last;
}

asio::awaitable<result<value>> cluster::send_asking(std::shared_ptr<connection> conn,
                                                    command const& cmd, request_options opts) {
    request req;
    req.options = opts;
    req.push(command("ASKING")).push(cmd);
    auto replies = co_await execute(std::move(conn), std::move(req));
    if (!replies)
        co_return replies.error();
    value& reply = (*replies)[1];
    if (reply.is_error()) {
        std::string text(reply.as_string().value_or(""));
        auto kind = classify_server_error(text);
        co_return error(kind, std::move(text));
    }
    co_return std::move(reply);
}

asio::awaitable<result<std::vector<value>>> cluster::exec(request req) {
    if (req.commands.empty())
        co_return std::vector<value>();
    std::string_view prefix = req.options.apply_prefix ? std::string_view(cfg_.key_prefix) : "";
    duration timeout = req.options.timeout.value_or(cfg_.command_timeout);
    auto deadline = timeout.count() > 0 ? clock::now() + timeout : clock::time_point::max();
    if (req.commands.size() == 1) {
        auto one = co_await exec(req.commands.front(), req.options);
        if (!one && one.error().code.category() == client_category())
            co_return one.error();
        std::vector<value> out(1);
        if (one)
            out[0] = std::move(*one);
        else {
            out[0].type = resp_type::simple_error;
            out[0].str = one.error().detail;
        }
        co_return out;
    }
    if (is_transaction(req)) {
        // MULTI … EXEC: one slot, one node, sent whole; redirected as a whole (the server
        // discarded it: EXECABORT).
        auto slot = request_slot(req.commands, prefix);
        if (!slot)
            co_return slot.error();
        for (std::uint32_t attempt = 0; attempt <= cfg_.cluster.max_redirects; ++attempt) {
            if (auto ready = co_await ensure_map(deadline); !ready)
                co_return ready.error();
            auto to = route(slot->slot, false);
            if (!to) {
                request_refresh();
                co_await pause(backoff(attempt));
                continue;
            }
            auto replies = co_await execute(to->conn, req);
            if (!replies) {
                if (node_failure(replies.error()) && req.options.retry_on_connection_lost) {
                    request_refresh();
                    co_await pause(backoff(attempt));
                    continue;
                }
                co_return replies;
            }
            bool redirected = std::any_of(replies->begin(), replies->end(),
                                          [](value const& v) { return cluster_kind(v); });
            if (!redirected)
                co_return replies;
            request_refresh();
            co_await pause(backoff(attempt));
        }
        co_return error(server_errc::clusterdown, "the transaction kept being redirected");
    }
    // A pipeline: each command to its slot's node, the parts sent at once, the replies put back
    // in the caller's order; a command a node redirects is sent again alone, where it belongs.
    std::vector<std::optional<std::uint16_t>> slots;
    slots.reserve(req.commands.size());
    for (auto const& c : req.commands) {
        auto s = command_slot(c.args(), prefix);
        if (!s)
            co_return s.error();
        slots.push_back(s->slot);
    }
    if (auto ready = co_await ensure_map(deadline); !ready)
        co_return ready.error();
    std::vector<part> parts;
    std::map<std::string, std::size_t> part_of_node;
    std::vector<std::size_t> unrouted;
    for (std::size_t i = 0; i < req.commands.size(); ++i) {
        auto to = route(slots[i],
                        cfg_.cluster.read_from_replicas && is_read_only(req.commands[i].name()));
        if (!to) {
            unrouted.push_back(i);
            continue;
        }
        auto [it, added] = part_of_node.emplace(key_of(*to->node), parts.size());
        if (added) {
            parts.push_back({std::move(to->conn), request(), {}});
            parts.back().req.options = req.options;
        }
        parts[it->second].req.push(req.commands[i]);
        parts[it->second].positions.push_back(i);
    }
    std::vector<value> out(req.commands.size());
    std::vector<std::size_t> again = unrouted;
    if (!parts.empty()) {
        auto results = co_await send_parts(parts, std::string(prefix),
                                           timeout.count() > 0 ? steady_clock::now() + timeout
                                                               : steady_clock::time_point::max());
        for (std::size_t p = 0; p < parts.size(); ++p) {
            auto& res = results[p];
            for (std::size_t k = 0; k < parts[p].positions.size(); ++k) {
                std::size_t i = parts[p].positions[k];
                if (!res) {
                    if (!node_failure(res.error()) || !req.options.retry_on_connection_lost)
                        co_return res.error();
                    again.push_back(i);
                } else if (cluster_kind((*res)[k])) {
                    again.push_back(i);
                } else {
                    out[i] = std::move((*res)[k]);
                }
            }
        }
    }
    std::sort(again.begin(), again.end());
    for (std::size_t i : again) {
        auto one = co_await exec(req.commands[i], req.options);
        if (!one && one.error().code.category() == client_category())
            co_return one.error();
        if (one) {
            out[i] = std::move(*one);
        } else {
            out[i].type = resp_type::simple_error;
            out[i].str = one.error().detail;
        }
    }
    co_return out;
}

asio::awaitable<result<std::vector<node_address>>> cluster::masters() {
    duration timeout =
        cfg_.command_timeout.count() > 0 ? cfg_.command_timeout : cfg_.connect_timeout;
    if (auto ready = co_await ensure_map(clock::now() + timeout); !ready)
        co_return ready.error();
    std::vector<node_address> out;
    std::lock_guard lock(mutex_);
    for (auto const& shard : map_.shards())
        if (!shard.ranges.empty())
            out.push_back({shard.master.host, shard.master.port});
    co_return out;
}

asio::awaitable<result<value>> cluster::exec_at(node_address const& node, command const& cmd,
                                                request_options opts) {
    auto conn = node_connection(node, false, false);
    if (!conn)
        co_return error(client_errc::disconnected);
    co_return co_await execute_one(conn, cmd, opts);
}

// --- closing ---------------------------------------------------------------------------------

asio::awaitable<result<void>> cluster::quit() {
    std::map<std::string, std::shared_ptr<connection>> nodes;
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
        nodes = nodes_;
    }
    periodic_timer_.cancel();
    for (auto const& node : nodes) {
        auto initiation = [conn = node.second](auto handler) {
            conn->quit(connection::quit_handler(std::move(handler)));
        };
        co_await asio::async_initiate<decltype(asio::use_awaitable), void(result<void>)>(
            std::move(initiation), asio::use_awaitable);
    }
    co_return result<void>();
}

void cluster::disconnect() {
    std::map<std::string, std::shared_ptr<connection>> nodes;
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
        nodes = nodes_;
    }
    asio::post(strand_, [self = shared_from_this()] { self->periodic_timer_.cancel(); });
    for (auto& [key, conn] : nodes)
        conn->disconnect();
}

void cluster::detach() {
    set_event_handler(nullptr);
    std::map<std::string, std::shared_ptr<connection>> nodes;
    {
        std::lock_guard lock(mutex_);
        nodes = nodes_;
    }
    for (auto& [key, conn] : nodes)
        conn->set_event_handler(nullptr);
    disconnect();
}

// --- state -----------------------------------------------------------------------------------

connection_state cluster::state() const noexcept {
    std::lock_guard lock(mutex_);
    if (closed_)
        return connection_state::closed;
    if (!started_)
        return connection_state::idle;
    if (map_.empty())
        return maps_installed_ == 0 ? connection_state::connecting : connection_state::reconnecting;
    for (auto const& shard : map_.shards()) {
        auto it = nodes_.find(key_of({shard.master.host, shard.master.port}));
        if (!shard.ranges.empty() &&
            (it == nodes_.end() || it->second->state() != connection_state::ready))
            return connection_state::reconnecting;
    }
    return connection_state::ready;
}

client_stats cluster::stats() const noexcept {
    std::lock_guard lock(mutex_);
    client_stats out;
    out.requests = retired_requests_;
    out.failures = retired_failures_;
    for (auto const& [key, conn] : nodes_) {
        auto st = conn->stats();
        out.requests += st.requests;
        out.failures += st.failures;
        out.reconnects += st.reconnects;
        out.connection_errors += st.connection_errors;
    }
    return out;
}

std::shared_ptr<std::vector<std::string> const> cluster::serving_nodes() const {
    std::lock_guard lock(mutex_);
    return serving_;
}

std::string cluster::topology() const {
    std::lock_guard lock(mutex_);
    if (map_.empty())
        return "Redis Cluster (" + std::to_string(cfg_.cluster.seeds.size()) +
               " seeds), no slot map yet";
    std::size_t masters = 0, replicas = 0;
    for (auto const& shard : map_.shards()) {
        if (shard.ranges.empty())
            continue;
        ++masters;
        replicas += shard.replicas.size();
    }
    return "Redis Cluster of " + std::to_string(masters) + " masters and " +
           std::to_string(replicas) + " replicas, " + std::to_string(map_.covered_slots()) +
           "/16384 slots served";
}

} // namespace mcpd::redis::detail
