// redis/client.cpp — the public client over detail::connection (one node, or Sentinel's master)
// or detail::cluster (a Redis Cluster): commands, scripts, SCAN, client tracking, quit.
#include "mcpd/redis/client.hpp"

#include "mcpd/redis/command_keys.hpp"
#include "mcpd/redis/error.hpp"
#include "redis/cluster.hpp"
#include "redis/connection.hpp"

#include "core/log.hpp"

#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <stdexcept>
#include <unordered_set>

namespace mcpd::redis {

namespace asio = boost::asio;

client::client(asio::any_io_executor const& ex, config cfg) {
    if (cfg.cluster.seeds.empty())
        conn_ = std::make_shared<detail::connection>(ex, std::move(cfg));
    else
        cluster_ = std::make_shared<detail::cluster>(ex, std::move(cfg));
}

client::~client() {
    if (conn_)
        conn_->detach();
    if (cluster_)
        cluster_->detach();
}

client::client(client&&) noexcept = default;
client& client::operator=(client&& other) noexcept {
    if (this != &other) {
        if (conn_)
            conn_->detach();
        if (cluster_)
            cluster_->detach();
        conn_ = std::move(other.conn_);
        cluster_ = std::move(other.cluster_);
        tracking_ = std::move(other.tracking_);
    }
    return *this;
}

void client::on_event(std::function<void(event const&)> handler) {
    if (cluster_)
        cluster_->set_event_handler(std::move(handler));
    else
        conn_->set_event_handler(std::move(handler));
}

void client::start() {
    if (cluster_)
        cluster_->start();
    else
        conn_->start();
}

// What track_prefixes() set up. Touched on the connection's strand, except `active` (any thread).
struct client::tracking {
    std::vector<std::string> prefixes; // as the server sees them (key prefix included)
    std::string key_prefix;
    std::string url; // redacted, for logs
    invalidation_handler on_invalidate;
    std::atomic<bool> active{false};
    std::uint64_t generation = 0; // handshakes so far: a reply to an older TRACKING is ignored
    bool refusal_logged = false;
    // A cluster: one of these per node connection (its own `active` and generation), by
    // "host:port", under this root; a node connected again replaces its entry.
    std::mutex nodes_mutex;
    std::map<std::string, std::shared_ptr<tracking>> nodes;

    void forget_all() {
        active = false;
        on_invalidate(std::nullopt);
    }

    void refused(std::string const& why) {
        active = false;
        if (!refusal_logged) {
            refusal_logged = true;
            log::warn("redis {}: client tracking is off ({}): every cache read goes to Redis", url,
                      why);
        }
    }

    // RESP3 push: ["invalidate", [key, …]] (keys changed) or ["invalidate", null] (flush).
    void on_push(value const& v) {
        if (v.is_error()) {
            log::warn("redis {}: error reply with no request waiting: {}", url, to_debug_string(v));
            return;
        }
        if (v.elements.size() < 2 || v.elements[0].as_string().value_or("") != "invalidate")
            return;
        auto const& keys = v.elements[1];
        if (keys.is_null()) {
            on_invalidate(std::nullopt);
            return;
        }
        std::vector<std::string> out;
        out.reserve(keys.elements.size());
        for (auto const& k : keys.elements)
            if (auto text = k.as_string(); text && text->starts_with(key_prefix))
                out.emplace_back(text->substr(key_prefix.size()));
        on_invalidate(std::move(out));
    }

    // After a handshake: forget what was kept under the last connection, then (RESP3 only:
    // on RESP2 Redis accepts TRACKING but sends no invalidations without a REDIRECT
    // connection) ask for invalidations before any other request goes out.
    std::vector<request_ptr> on_ready(std::weak_ptr<tracking> const& weak, int protocol) {
        forget_all();
        ++generation;
        std::vector<request_ptr> out;
        if (protocol != 3) {
            refused("the connection speaks RESP2, which carries no invalidations");
            return out;
        }
        command c("CLIENT", "TRACKING", "ON", "BCAST", "NOLOOP");
        for (auto const& p : prefixes)
            c.arg("PREFIX").arg(p);
        auto r = std::make_shared<detail::internal_request>();
        encode_command(r->payload, c.args());
        r->expected_replies = 1;
        r->retry_on_connection_lost = false; // the next handshake sends its own
        r->on_done = [weak, gen = generation](detail::internal_request& done) {
            auto self = weak.lock();
            if (!self || gen != self->generation)
                return; // from an older connection
            if (done.failure.code)
                return; // the connection went: on_lost has switched tracking off
            if (done.replies.empty() || done.replies[0].is_error()) {
                self->refused(done.replies.empty() ? "no reply" : to_debug_string(done.replies[0]));
                return;
            }
            self->active = true;
        };
        out.push_back(std::move(r));
        return out;
    }
};

void client::track_prefixes(std::vector<std::string> prefixes, invalidation_handler on_invalidate) {
    if (tracking_)
        throw std::logic_error("redis::client::track_prefixes: called twice");
    auto t = std::make_shared<tracking>();
    for (auto& p : prefixes)
        t->prefixes.push_back(p.insert(0, cfg().key_prefix));
    t->key_prefix = cfg().key_prefix;
    t->url = cfg().redacted_url();
    t->on_invalidate = std::move(on_invalidate);
    // The hooks that tie one connection to one tracking state.
    auto hooks_for = [](std::shared_ptr<tracking> const& state) {
        std::weak_ptr<tracking> weak = state;
        detail::cluster::node_hooks h;
        h.on_push = [weak](value&& v) {
            if (auto self = weak.lock())
                self->on_push(v);
        };
        h.on_lost = [weak]() {
            if (auto self = weak.lock())
                self->forget_all();
        };
        h.on_ready = [weak](int protocol) {
            auto self = weak.lock();
            return self ? self->on_ready(weak, protocol) : std::vector<request_ptr>{};
        };
        return h;
    };
    if (cluster_) {
        // Each node sends the invalidations of its own keys; any of them counts, and a copy
        // is trusted only while every node's tracking is on.
        std::weak_ptr<tracking> root = t;
        cluster_->set_node_hooks([root, hooks_for](std::string const& node) {
            auto r = root.lock();
            if (!r)
                return detail::cluster::node_hooks{};
            auto per_node = std::make_shared<tracking>();
            per_node->prefixes = r->prefixes;
            per_node->key_prefix = r->key_prefix;
            per_node->url = r->url + " node " + node;
            per_node->on_invalidate = r->on_invalidate;
            std::lock_guard lock(r->nodes_mutex);
            r->nodes[node] = per_node;
            return hooks_for(per_node);
        });
    } else {
        auto h = hooks_for(t);
        conn_->on_push = std::move(h.on_push);
        conn_->on_lost = std::move(h.on_lost);
        conn_->on_ready = std::move(h.on_ready);
    }
    tracking_ = std::move(t);
}

bool client::tracking_active() const noexcept {
    if (!tracking_)
        return false;
    if (!cluster_)
        return tracking_->active;
    // Every node that serves keys now must have tracking on: a copy of a key whose node
    // sends no invalidations cannot be trusted.
    auto serving = cluster_->serving_nodes();
    std::lock_guard lock(tracking_->nodes_mutex);
    return !serving->empty() && std::all_of(serving->begin(), serving->end(), [&](auto const& n) {
        auto it = tracking_->nodes.find(n);
        return it != tracking_->nodes.end() && it->second->active.load();
    });
}

asio::awaitable<result<std::vector<value>>> client::exec(request req) {
    if (cluster_)
        return cluster_->exec(std::move(req));
    return detail::execute(conn_, std::move(req));
}

asio::awaitable<result<value>> client::exec(command const& cmd, request_options opts) {
    if (cluster_) // the router's frame holds a copy: cmd need not outlive the call
        return cluster_->exec(cmd, opts);
    return detail::execute_one(conn_, cmd, opts); // encodes now: cmd need not outlive the call
}

asio::awaitable<result<value>> client::eval(script const& s, std::vector<std::string> keys,
                                            std::vector<std::string> args, request_options opts) {
    auto build = [&](std::string_view verb, std::string_view body_or_sha) {
        command c(verb, body_or_sha, keys.size());
        c.args(keys);
        c.args(args);
        return c;
    };
    auto r = co_await exec(build("EVALSHA", s.sha1()), opts);
    if (!r && r.error().code == server_errc::noscript)
        r = co_await exec(build("EVAL", s.body()), opts); // EVAL also caches it for next time
    co_return r;
}

scanner client::scan(std::string_view pattern, std::size_t count) {
    std::string full = escape_glob(cfg().key_prefix);
    full += pattern;
    return scanner(*this, std::move(full), count);
}

asio::awaitable<result<void>> client::quit() {
    if (cluster_)
        return cluster_->quit();
    auto initiation = [conn = conn_](auto handler) {
        conn->quit(detail::connection::quit_handler(std::move(handler)));
    };
    return asio::async_initiate<decltype(asio::use_awaitable), void(result<void>)>(
        std::move(initiation), asio::use_awaitable);
}

void client::disconnect() {
    if (cluster_)
        cluster_->disconnect();
    else
        conn_->disconnect();
}

connection_state client::state() const noexcept {
    return cluster_ ? cluster_->state() : conn_->state();
}
client_stats client::stats() const noexcept {
    return cluster_ ? cluster_->stats() : conn_->stats();
}
config const& client::cfg() const noexcept {
    return cluster_ ? cluster_->cfg() : conn_->cfg();
}
std::string client::topology() const {
    return cluster_ ? cluster_->topology() : conn_->topology();
}

// --- scanner -------------------------------------------------------------------------------

scanner::scanner(client& c, std::string pattern, std::size_t count)
    : client_(&c)
    , pattern_(std::move(pattern))
    , count_(count) {}

namespace {

// Appends the keys of an array reply to `out`, without the client's key prefix.
result<void> take_keys(value const& keys, std::string_view prefix, std::vector<std::string>& out) {
    if (keys.type != resp_type::array && keys.type != resp_type::set)
        return error(client_errc::unexpected_reply, "expected an array of keys");
    for (auto const& k : keys.elements) {
        auto s = k.as_string();
        if (!s)
            return error(client_errc::unexpected_reply, "a key that is not a string");
        if (s->starts_with(prefix))
            s->remove_prefix(prefix.size());
        out.emplace_back(*s);
    }
    return {};
}

} // namespace

asio::awaitable<result<std::optional<value>>> scanner::scan_reply(command const& scan,
                                                                  request_options raw) {
    if (!client_->cluster_) {
        auto r = co_await client_->exec(scan, raw);
        if (!r)
            co_return r.error();
        co_return std::optional<value>(std::move(*r));
    }
    // Each master in turn: a cursor belongs to the node that gave it.
    if (!nodes_) {
        auto masters = co_await client_->cluster_->masters();
        if (!masters)
            co_return masters.error();
        nodes_ = std::move(*masters);
    }
    if (node_ >= nodes_->size())
        co_return std::nullopt; // every master scanned
    auto r = co_await client_->cluster_->exec_at((*nodes_)[node_], scan, raw);
    if (!r)
        co_return r.error();
    co_return std::optional<value>(std::move(*r));
}

asio::awaitable<result<std::optional<std::vector<std::string>>>> scanner::next() {
    if (done_)
        co_return std::nullopt;
    std::string_view prefix = client_->cfg().key_prefix;
    request_options raw; // the pattern already carries the (escaped) prefix
    raw.apply_prefix = false;
    std::vector<std::string> keys;
    command scan_cmd("SCAN", cursor_, "MATCH", pattern_, "COUNT", count_);
    auto r = co_await scan_reply(scan_cmd, raw);
    if (!r && r.error().code == server_errc::unknown_command && !client_->cluster_) {
        // Some Redis-compatible stores refuse SCAN: one KEYS call returns everything.
        done_ = true;
        auto all = co_await client_->exec(command("KEYS", pattern_), raw);
        if (!all)
            co_return all.error();
        if (auto t = take_keys(*all, prefix, keys); !t)
            co_return t.error();
        co_return keys;
    }
    if (!r)
        co_return r.error();
    if (!*r) {
        done_ = true;
        co_return std::nullopt;
    }
    value const& reply = **r;
    if (reply.type != resp_type::array || reply.elements.size() != 2)
        co_return error(client_errc::unexpected_reply, "SCAN reply is not [cursor, keys]");
    auto cursor = reply.elements[0].as_string();
    if (!cursor)
        co_return error(client_errc::unexpected_reply, "SCAN cursor is not a string");
    cursor_ = std::string(*cursor);
    if (cursor_ == "0") {
        if (client_->cluster_)
            ++node_; // the next master, from cursor 0
        else
            done_ = true;
    }
    if (auto t = take_keys(reply.elements[1], prefix, keys); !t)
        co_return t.error();
    co_return keys;
}

asio::awaitable<result<std::vector<std::string>>> scanner::collect() {
    std::unordered_set<std::string> seen;
    std::vector<std::string> out;
    for (;;) {
        auto batch = co_await next();
        if (!batch)
            co_return batch.error();
        if (!*batch)
            break;
        for (auto& k : **batch)
            if (seen.insert(k).second)
                out.push_back(std::move(k));
    }
    std::sort(out.begin(), out.end());
    co_return out;
}

} // namespace mcpd::redis
