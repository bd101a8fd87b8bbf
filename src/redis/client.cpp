// redis/client.cpp — the public client over detail::connection: commands, scripts, SCAN, quit.
#include "mcpd/redis/client.hpp"

#include "mcpd/redis/command_keys.hpp"
#include "mcpd/redis/error.hpp"
#include "redis/connection.hpp"

#include "core/log.hpp"

#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <unordered_set>

namespace mcpd::redis {

namespace asio = boost::asio;

client::client(asio::any_io_executor const& ex, config cfg)
    : conn_(std::make_shared<detail::connection>(ex, std::move(cfg))) {}

client::~client() {
    if (conn_)
        conn_->detach();
}

client::client(client&&) noexcept = default;
client& client::operator=(client&& other) noexcept {
    if (this != &other) {
        if (conn_)
            conn_->detach();
        conn_ = std::move(other.conn_);
        tracking_ = std::move(other.tracking_);
    }
    return *this;
}

void client::on_event(std::function<void(event const&)> handler) {
    conn_->set_event_handler(std::move(handler));
}

void client::start() {
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
    std::vector<request_ptr> on_ready(std::weak_ptr<tracking> weak, int protocol) {
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
        t->prefixes.push_back(cfg().key_prefix + p);
    t->key_prefix = cfg().key_prefix;
    t->url = cfg().redacted_url();
    t->on_invalidate = std::move(on_invalidate);
    std::weak_ptr<tracking> weak = t;
    conn_->on_push = [weak](value&& v) {
        if (auto self = weak.lock())
            self->on_push(v);
    };
    conn_->on_lost = [weak]() {
        if (auto self = weak.lock())
            self->forget_all();
    };
    conn_->on_ready = [weak](int protocol) {
        auto self = weak.lock();
        return self ? self->on_ready(weak, protocol) : std::vector<request_ptr>{};
    };
    tracking_ = std::move(t);
}

bool client::tracking_active() const noexcept {
    return tracking_ && tracking_->active;
}

asio::awaitable<result<std::vector<value>>> client::exec(request req) {
    return detail::execute(conn_, std::move(req));
}

asio::awaitable<result<value>> client::exec(command const& cmd, request_options opts) {
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
    auto initiation = [conn = conn_](auto handler) {
        conn->quit(detail::connection::quit_handler(std::move(handler)));
    };
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(result<void>)>(
        std::move(initiation), asio::use_awaitable);
}

void client::disconnect() {
    conn_->disconnect();
}

connection_state client::state() const noexcept {
    return conn_->state();
}
client_stats client::stats() const noexcept {
    return conn_->stats();
}
config const& client::cfg() const noexcept {
    return conn_->cfg();
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

asio::awaitable<result<std::optional<std::vector<std::string>>>> scanner::next() {
    if (done_)
        co_return std::nullopt;
    std::string_view prefix = client_->cfg().key_prefix;
    request_options raw; // the pattern already carries the (escaped) prefix
    raw.apply_prefix = false;
    std::vector<std::string> keys;
    auto r =
        co_await client_->exec(command("SCAN", cursor_, "MATCH", pattern_, "COUNT", count_), raw);
    if (!r && r.error().code == server_errc::unknown_command) {
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
    if (r->type != resp_type::array || r->elements.size() != 2)
        co_return error(client_errc::unexpected_reply, "SCAN reply is not [cursor, keys]");
    auto cursor = r->elements[0].as_string();
    if (!cursor)
        co_return error(client_errc::unexpected_reply, "SCAN cursor is not a string");
    cursor_ = std::string(*cursor);
    done_ = cursor_ == "0";
    if (auto t = take_keys(r->elements[1], prefix, keys); !t)
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
