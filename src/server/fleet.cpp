// server/fleet.cpp — the fleet's messages and event store, carried by Redis (pub/sub and
// Streams: instances of mcpd on one Redis) or by a hub in memory (the event loops of one process,
// `mcpd serve --threads N` without Redis). See fleet.hpp; the layout of keys and channels is in
// docs/fleet.md.
//
// Redis keys (the client's key prefix is added): `fleet:instances` (INCR: instance numbers),
// `fleet:instance:<id>` (heartbeat), `events:{<session>}:<stream>` (a stream's events: entry
// id `<seq>-0` holds an event's data, `<seq>-1` marks the stream's end after event seq) and
// the hash `events:{<session>}` (field: a stream's number; value: a POST stream's owner and
// request ids as JSON, empty for a GET stream). A session's keys share a hash tag, so on a
// Redis Cluster they live on one node. Every write of this instance goes out in the order it
// was made, messages included: an `attached` answer follows the events written before it.
// Channels (the prefix added here): `<prefix>fleet:all` and `<prefix>fleet:s:<session>`.
//
// The hub keeps the same things in memory, sharded by session (a mutex per shard, never one for
// the process); a write is visible before the message that follows it is posted to its loop.
#include "mcpd/server/fleet.hpp"

#include "core/log.hpp"
#include "core/random.hpp"
#include "mcpd/redis/client.hpp"
#include "mcpd/redis/error.hpp"
#include "mcpd/redis/subscriber.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace mcpd::server {

namespace asio = boost::asio;
namespace json = boost::json;

namespace detail {

// A fleet member whatever carries its messages and events: its identity, the ledger that keeps
// its replay budgets, its metrics. The carriers (Redis, the in-process hub) derive from it.
struct fleet_state : std::enable_shared_from_this<fleet_state> {
    fleet_state(asio::any_io_executor e, fleet_options o)
        : ex(std::move(e))
        , opts(o) {}
    virtual ~fleet_state() = default;
    fleet_state(fleet_state const&) = delete;
    fleet_state& operator=(fleet_state const&) = delete;

    asio::any_io_executor ex;
    fleet_options opts;
    std::string id = random_alnum_id(16);
    std::uint32_t number = 0;
    fleet::handler on_message;
    bool stopped = false;

    // --- the carrier ---
    virtual asio::awaitable<result<void>> start() = 0;
    virtual asio::awaitable<void> stop() = 0;
    virtual void shutdown() = 0; // the fleet object is gone: nothing is waited for
    virtual void listen_to(std::string const& session, bool on) = 0;
    virtual void send(std::string const& session, json::object msg) = 0; // msg has its origin
    virtual asio::awaitable<result<bool>> alive(std::string const& instance) = 0;
    // `owner`: a POST stream's owner record; null for a GET stream.
    virtual void write_owner(std::string const& session, std::uint64_t stream,
                             json::object const* owner) = 0;
    virtual void write_event(std::string const& session, std::uint64_t stream, std::uint64_t seq,
                             std::string const& data) = 0;
    virtual void write_end(std::string const& session, std::uint64_t stream,
                           std::uint64_t last_seq) = 0;
    virtual void delete_stream(std::string const& session, std::uint64_t stream) = 0;
    virtual asio::awaitable<result<stored_stream>>
    read(std::string const& session, std::uint64_t stream, std::uint64_t after_seq) = 0;
    virtual void delete_session(std::string const& session) = 0;
    // The ledger let go of a session not written for replay-ttl (Redis expired it by then).
    virtual void expired(std::string const& /*session*/,
                         std::vector<std::uint64_t> const& /*streams*/) {}

    // A message from another member, on this member's loop.
    void deliver(std::string const& session, json::object const& msg) {
        if (received != nullptr)
            received->inc();
        if (on_message)
            on_message(session, msg);
    }

    // What this instance wrote per session, oldest stream first, so that its budgets hold in
    // Redis as they do in memory. A stream still open (a running POST's, a GET stream) is never
    // deleted for a budget: its owner record is what a resume after a crash needs, and each is
    // bounded by MAXLEN. Sessions not written for replay-ttl are gone from Redis: forgotten.
    struct written_stream {
        std::uint64_t no = 0;
        std::size_t bytes = 0;  // of its newest events_per_stream events, about
        std::size_t events = 0; // at most events_per_stream (XADD MAXLEN trims the rest)
        bool open = true;
    };
    struct written_session {
        std::deque<written_stream> streams;
        std::size_t bytes = 0;
        std::chrono::steady_clock::time_point last_write;
        std::list<std::string>::iterator recent;
    };
    std::unordered_map<std::string, written_session> written;
    std::list<std::string> recency; // least recently written first
    std::size_t written_bytes = 0;
    std::uint64_t dropped_events = 0;

    // Forgets the sessions not written for replay-ttl (their keys expired in Redis; the hub
    // deletes them).
    void expire_idle() {
        auto now = std::chrono::steady_clock::now();
        while (!recency.empty() && now - written.at(recency.front()).last_write > opts.replay_ttl)
            forget_written(recency.front(), true);
    }

    // A write of `bytes` to a stream: an event, or (`event` false) its owner record or its end,
    // which keep the stream and its session in the ledger (and so expiring) without an event.
    // Call expire_idle() first, before the write (in the hub, expiring deletes).
    void account(std::string const& session, std::uint64_t stream, std::size_t bytes,
                 bool event = true) {
        auto now = std::chrono::steady_clock::now();
        auto [it, made] = written.try_emplace(session);
        auto& w = it->second;
        if (made)
            w.recent = recency.insert(recency.end(), session);
        else
            recency.splice(recency.end(), recency, w.recent);
        w.last_write = now;
        auto entry = std::find_if(w.streams.rbegin(), w.streams.rend(),
                                  [stream](written_stream const& e) { return e.no == stream; });
        if (entry == w.streams.rend()) {
            w.streams.push_back({stream, 0, 0, true});
            entry = w.streams.rbegin();
        }
        if (!event)
            return;
        if (entry->events >= opts.events_per_stream) {
            // MAXLEN trimmed its oldest event: take off an average one.
            auto trimmed = entry->bytes / entry->events;
            entry->bytes -= trimmed;
            w.bytes -= trimmed;
            written_bytes -= trimmed;
            --entry->events;
        }
        entry->bytes += bytes;
        ++entry->events;
        w.bytes += bytes;
        written_bytes += bytes;
        // The session's oldest ended streams go first (never the one written now), then the
        // least recently written sessions'.
        while (w.streams.size() > opts.streams_per_session || w.bytes > opts.bytes_per_session)
            if (!drop_oldest_ended(session, w, stream))
                break;
        for (std::size_t n = recency.size(); written_bytes > opts.bytes_total && n > 0; --n) {
            auto const& victim = recency.front();
            if (victim == session)
                break;
            auto& v = written.at(victim);
            while (drop_oldest_ended(victim, v, 0)) {
            }
            if (v.streams.empty())
                forget_written(std::string(victim), false);
            else // only open streams left: it keeps them
                recency.splice(recency.end(), recency, v.recent);
        }
    }
    // Deletes the session's oldest stream that has ended (not `keep`); whether there was one.
    bool drop_oldest_ended(std::string const& session, written_session& w, std::uint64_t keep) {
        auto victim =
            std::find_if(w.streams.begin(), w.streams.end(),
                         [keep](written_stream const& e) { return !e.open && e.no != keep; });
        if (victim == w.streams.end())
            return false;
        delete_stream(session, victim->no);
        w.bytes -= victim->bytes;
        written_bytes -= victim->bytes;
        dropped_events += victim->events;
        w.streams.erase(victim);
        return true;
    }
    void ended(std::string const& session, std::uint64_t stream) {
        auto it = written.find(session);
        if (it == written.end())
            return;
        for (auto& e : it->second.streams)
            if (e.no == stream)
                e.open = false;
    }
    // Forgets what this instance wrote for a session (expired after replay-ttl, or DELETE).
    void forget_written(std::string const& session, bool expiry) {
        auto it = written.find(session);
        if (it == written.end())
            return;
        if (expiry) {
            std::vector<std::uint64_t> streams;
            for (auto const& e : it->second.streams)
                streams.push_back(e.no);
            expired(session, streams);
        }
        written_bytes -= it->second.bytes;
        recency.erase(it->second.recent);
        written.erase(it);
    }

    metrics::counter* sent = nullptr;
    metrics::counter* received = nullptr;
    metrics::counter* failures = nullptr;
    metrics::counter* orphaned = nullptr;

    void failed(std::string_view what, error const& e) {
        if (failures != nullptr)
            failures->inc();
        // Redis down: every event and message fails alike; the first of a kind is worth a
        // warning, the rest the debug log.
        auto& warned = warned_about[std::string(what)];
        if (!warned) {
            warned = true;
            log::warn("mcpd: fleet: {} failed: {} (further failures of this kind are logged at "
                      "debug level)",
                      what, e.message());
        } else {
            log::debug("mcpd: fleet: {} failed: {}", what, e.message());
        }
    }
    std::map<std::string, bool> warned_about;
};

// --- Redis: instances of mcpd sharing one ----------------------------------------------------

struct redis_fleet_state final : fleet_state {
    redis_fleet_state(asio::any_io_executor e, std::shared_ptr<redis::client> c, redis::config cfg,
                      fleet_options o)
        : fleet_state(std::move(e), o)
        , commands(std::move(c))
        , sub_cfg(std::move(cfg))
        , heartbeat(ex) {
        channel_prefix = sub_cfg.key_prefix + "fleet:";
    }

    std::shared_ptr<redis::client> commands;
    redis::config sub_cfg;
    std::string channel_prefix;
    std::unique_ptr<redis::subscriber> sub;
    asio::steady_timer heartbeat;

    [[nodiscard]] std::string all_channel() const { return channel_prefix + "all"; }
    // Each instance listens on a channel of its own: Redis drops the subscription the moment
    // the instance's connection closes (a killed process), long before its heartbeat expires.
    [[nodiscard]] std::string instance_channel(std::string const& instance) const {
        return channel_prefix + "i:" + instance;
    }
    [[nodiscard]] std::string session_channel(std::string const& session) const {
        return channel_prefix + "s:" + session;
    }
    [[nodiscard]] static std::string heartbeat_key(std::string const& instance) {
        return "fleet:instance:" + instance;
    }
    static std::string number_key(std::uint32_t n) { return "fleet:number:" + std::to_string(n); }
    static std::string stream_key(std::string const& session, std::uint64_t stream) {
        return "events:{" + session + "}:" + std::to_string(stream);
    }
    static std::string streams_key(std::string const& session) {
        return "events:{" + session + "}";
    }
    [[nodiscard]] std::int64_t ttl_ms() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(opts.replay_ttl).count();
    }
    [[nodiscard]] std::int64_t heartbeat_ttl_ms() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(opts.heartbeat_ttl).count();
    }
    std::shared_ptr<redis_fleet_state> self() {
        return std::static_pointer_cast<redis_fleet_state>(shared_from_this());
    }

    // Writes issued in one turn of the event loop go out as one request (one coroutine, one
    // write): an SSE answer's event, its stream's end and expiries are a handful of commands.
    redis::request batch;
    void enqueue(redis::command cmd) {
        batch.commands.push_back(std::move(cmd));
        if (batch.commands.size() > 1)
            return;
        asio::post(ex, [weak = weak_from_this()] {
            auto locked = weak.lock();
            if (!locked)
                return;
            auto& s = static_cast<redis_fleet_state&>(*locked);
            if (s.batch.commands.empty())
                return;
            s.exec_later(std::exchange(s.batch, {}), "writing SSE events and messages");
        });
    }

    // Runs `req` in the background; failures are counted and logged as `what`.
    void exec_later(redis::request req, std::string what) {
        asio::co_spawn(
            ex,
            [s = self(), req = std::move(req),
             what = std::move(what)]() mutable -> asio::awaitable<void> {
                auto r = co_await s->commands->exec(std::move(req));
                if (!r) {
                    s->failed(what, r.error());
                    co_return;
                }
                for (auto const& v : *r)
                    if (v.is_error()) {
                        s->failed(what, error(redis::make_error_code(redis::server_errc::err),
                                              std::string(v.as_string().value_or(""))));
                        break;
                    }
            },
            asio::detached);
    }

    void beat_later() {
        heartbeat.expires_after(opts.heartbeat_interval);
        heartbeat.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
            auto locked = weak.lock();
            if (ec || !locked || locked->stopped)
                return;
            auto& s = static_cast<redis_fleet_state&>(*locked);
            redis::request req;
            req.commands.emplace_back("SET", heartbeat_key(s.id), s.number, "PX",
                                      s.heartbeat_ttl_ms());
            req.commands.emplace_back("SET", number_key(s.number), s.id, "PX",
                                      s.heartbeat_ttl_ms());
            s.exec_later(std::move(req), "heartbeat");
            s.beat_later();
        });
    }

    asio::awaitable<result<void>> start() override {
        // A number no live instance holds: the counter's next, claimed with SET NX (the counter
        // alone could repeat one after Redis lost its data, or after 2^20 starts).
        constexpr std::int64_t span = (std::int64_t{1} << 20) - 1;
        for (int tries = 0; number == 0; ++tries) {
            if (tries == 64)
                co_return error(redis::make_error_code(redis::client_errc::unexpected_reply),
                                "no free instance number after 64 tries (fleet:number:*)");
            auto n = co_await commands->exec(redis::command("INCR", "fleet:instances"));
            if (!n)
                co_return n.error();
            auto v = n->as_integer();
            if (!v)
                co_return error(redis::make_error_code(redis::client_errc::unexpected_reply),
                                "INCR fleet:instances did not answer a number");
            auto candidate = static_cast<std::uint32_t>((*v - 1) % span + 1);
            auto claimed = co_await commands->exec(
                redis::command("SET", number_key(candidate), id, "NX", "PX", heartbeat_ttl_ms()));
            if (!claimed)
                co_return claimed.error();
            if (!claimed->is_null())
                number = candidate;
        }
        auto beat = co_await commands->exec(
            redis::command("SET", heartbeat_key(id), number, "PX", heartbeat_ttl_ms()));
        if (!beat)
            co_return beat.error();
        sub = std::make_unique<redis::subscriber>(ex, sub_cfg);
        std::vector<std::string> channels{all_channel(), instance_channel(id)};
        auto subscribed = co_await sub->subscribe(std::move(channels));
        if (!subscribed)
            co_return subscribed.error();
        asio::co_spawn(
            ex, [s = self()] { return s->receive_loop(); }, asio::detached);
        beat_later();
        co_return result<void>();
    }

    asio::awaitable<void> stop() override {
        stopped = true;
        heartbeat.cancel();
        // Briefly: with Redis down, shutdown must not wait a command timeout for it (the key
        // expires).
        redis::request_options briefly;
        briefly.timeout = std::chrono::milliseconds(500);
        briefly.retry_on_connection_lost = false;
        redis::request bye; // one key a command: on a Cluster they live on different nodes
        bye.commands.emplace_back("DEL", heartbeat_key(id));
        bye.commands.emplace_back("DEL", number_key(number));
        bye.options = briefly;
        auto gone = co_await commands->exec(std::move(bye));
        if (!gone)
            log::warn("mcpd: fleet: deleting the heartbeat key failed: {}", gone.error().message());
        if (sub) {
            sub->disconnect(); // nothing of pub/sub is worth waiting for
            sub.reset();
        }
    }

    void shutdown() override {
        stopped = true;
        heartbeat.cancel();
        if (sub)
            sub->disconnect();
    }

    // Subscribes to a session's channel (or unsubscribes), in the background.
    void listen_to(std::string const& session, bool on) override {
        if (!sub)
            return;
        auto work = [s = self(), ch = session_channel(session), on]() -> asio::awaitable<void> {
            if (!s->sub)
                co_return;
            std::vector<std::string> channels{ch};
            result<void> r; // not a co_await in ?: (docs/rough_edges.md)
            if (on)
                r = co_await s->sub->subscribe(std::move(channels));
            else
                r = co_await s->sub->unsubscribe(std::move(channels));
            if (!r)
                s->failed(on ? "subscribing to a session's channel"
                             : "unsubscribing from a session's channel",
                          r.error());
        };
        asio::co_spawn(ex, std::move(work), asio::detached);
    }

    asio::awaitable<void> receive_loop() {
        auto keep = self();
        auto const session_prefix = channel_prefix + "s:";
        while (!stopped && sub) {
            auto m = co_await sub->receive();
            if (!m) {
                if (!stopped)
                    log::warn("mcpd: fleet: pub/sub stopped ({}): messages from other instances "
                              "no longer arrive",
                              m.error().message());
                co_return;
            }
            boost::system::error_code ec;
            auto v = json::parse(m->payload, ec);
            if (ec || !v.is_object())
                continue;
            auto const& msg = v.get_object();
            auto const* origin = msg.if_contains("o");
            if (origin == nullptr || !origin->is_string() || origin->get_string() == id)
                continue; // our own
            std::string session;
            if (m->channel.starts_with(session_prefix))
                session = m->channel.substr(session_prefix.size());
            deliver(session, msg);
        }
    }

    void send(std::string const& session, json::object msg) override {
        enqueue(redis::command("PUBLISH",
                               session.empty() ? all_channel() : session_channel(session),
                               json::serialize(msg)));
    }

    asio::awaitable<result<bool>> alive(std::string const& instance) override {
        redis::request req;
        req.commands.emplace_back("EXISTS", heartbeat_key(instance));
        // On one node (or Sentinel's master) NUMSUB counts every subscriber; a Cluster counts
        // only the node asked, so there the heartbeat alone decides.
        bool const one_node = sub_cfg.cluster.seeds.empty();
        if (one_node)
            req.commands.emplace_back("PUBSUB", "NUMSUB", instance_channel(instance));
        auto r = co_await commands->exec(std::move(req));
        if (!r)
            co_return r.error();
        auto const& replies = *r;
        if (replies[0].as_integer().value_or(0) == 0)
            co_return false;
        if (one_node && replies.size() == 2 && replies[1].elements.size() == 2 &&
            replies[1].elements[1].as_integer().value_or(1) == 0)
            co_return false; // its pub/sub connection is gone: the process is
        co_return true;
    }

    void write_owner(std::string const& session, std::uint64_t stream,
                     json::object const* owner) override {
        auto streams = streams_key(session);
        enqueue(redis::command("HSET", streams, stream,
                               owner != nullptr ? json::serialize(*owner) : std::string()));
        enqueue(redis::command("PEXPIRE", streams, ttl_ms()));
    }

    void write_event(std::string const& session, std::uint64_t stream, std::uint64_t seq,
                     std::string const& data) override {
        auto key = stream_key(session, stream);
        enqueue(redis::command("XADD", key, "MAXLEN", opts.events_per_stream,
                               std::to_string(seq) + "-0", "d", data));
        enqueue(redis::command("PEXPIRE", key, ttl_ms()));
        // The list of streams lives as long as the newest of them (a call may outlast
        // replay-ttl).
        enqueue(redis::command("PEXPIRE", streams_key(session), ttl_ms()));
    }

    void write_end(std::string const& session, std::uint64_t stream,
                   std::uint64_t last_seq) override {
        auto key = stream_key(session, stream);
        enqueue(redis::command("XADD", key, "MAXLEN", opts.events_per_stream + 1,
                               std::to_string(last_seq) + "-1", "end", "1"));
        enqueue(redis::command("PEXPIRE", key, ttl_ms()));
        enqueue(redis::command("PEXPIRE", streams_key(session), ttl_ms()));
    }

    void delete_stream(std::string const& session, std::uint64_t stream) override {
        enqueue(redis::command("DEL", stream_key(session, stream)));
        enqueue(redis::command("HDEL", streams_key(session), stream));
    }

    asio::awaitable<result<stored_stream>> read(std::string const& session, std::uint64_t stream,
                                                std::uint64_t after_seq) override;

    void delete_session(std::string const& session) override {
        asio::co_spawn(
            ex,
            [s = self(), session]() -> asio::awaitable<void> {
                auto set = streams_key(session);
                auto streams = co_await s->commands->exec(redis::command("HKEYS", set));
                if (!streams) {
                    s->failed("forgetting a session's events", streams.error());
                    co_return;
                }
                redis::command del("DEL", set);
                for (auto const& no : streams->elements)
                    if (auto n = no.as_string()) {
                        del.arg("events:{" + session + "}:" + std::string(*n));
                    }
                auto r = co_await s->commands->exec(del);
                if (!r)
                    s->failed("forgetting a session's events", r.error());
            },
            asio::detached);
    }
};

namespace {

std::optional<std::uint64_t> entry_seq(std::string_view id, bool& end_marker) {
    auto dash = id.find('-');
    if (dash == std::string_view::npos)
        return std::nullopt;
    std::uint64_t seq = 0;
    auto [p, ec] = std::from_chars(id.data(), id.data() + dash, seq);
    if (ec != std::errc{} || p != id.data() + dash)
        return std::nullopt;
    end_marker = id.substr(dash + 1) != "0";
    return seq;
}

// A POST stream's owner record (what open_stream writes) into `out`.
void read_owner(json::object const& obj, stored_stream& out) {
    out.known = true;
    if (auto const* who = obj.if_contains("owner"); who != nullptr && who->is_string())
        out.owner = who->get_string();
    // An integer however it was made (parsed: int64; built from the member's number: uint64).
    if (auto const* n = obj.if_contains("number"); n != nullptr && n->is_int64())
        out.owner_number = static_cast<std::uint64_t>(n->get_int64());
    else if (n != nullptr && n->is_uint64())
        out.owner_number = n->get_uint64();
    if (auto const* ids = obj.if_contains("ids"); ids != nullptr && ids->is_array())
        for (auto const& id : ids->get_array())
            if (id.is_string())
                out.request_ids.emplace_back(id.get_string());
}

} // namespace

asio::awaitable<result<stored_stream>>
redis_fleet_state::read(std::string const& session, std::uint64_t stream, std::uint64_t after_seq) {
    auto key = stream_key(session, stream);
    redis::request req;
    req.commands.emplace_back("HGET", streams_key(session), stream);
    // From `<after>-1`: the end marker after event `after`, and every event after it.
    req.commands.emplace_back("XRANGE", key, std::to_string(after_seq) + "-1", "+", "COUNT",
                              opts.events_per_stream + 2);
    auto r = co_await commands->exec(std::move(req));
    if (!r)
        co_return r.error();
    auto const& replies = *r;
    for (auto const& v : replies)
        if (v.is_error())
            co_return error(redis::make_error_code(redis::server_errc::err),
                            std::string(v.as_string().value_or("")));
    stored_stream out;
    if (auto owner = replies[0].as_string(); owner && !owner->empty()) {
        boost::system::error_code ec;
        auto o = json::parse(*owner, ec);
        if (!ec && o.is_object())
            read_owner(o.get_object(), out);
    }
    for (auto const& entry : replies[1].elements) {
        if (entry.elements.size() != 2)
            continue;
        auto entry_id = entry.elements[0].as_string();
        bool end = false;
        auto seq = entry_id ? entry_seq(*entry_id, end) : std::nullopt;
        if (!seq)
            continue;
        out.known = true;
        if (end) {
            out.ended = true;
            continue;
        }
        if (*seq <= after_seq)
            continue;
        auto const& fields = entry.elements[1].elements;
        for (std::size_t i = 0; i + 1 < fields.size(); i += 2)
            if (fields[i].as_string() == "d")
                out.events.emplace_back(*seq, std::string(fields[i + 1].as_string().value_or("")));
    }
    co_return out;
}

struct local_fleet_state;

} // namespace detail

// --- the hub: the event loops of one process -------------------------------------------------

class fleet_hub {
public:
    explicit fleet_hub(std::size_t members)
        : slots_(std::make_unique<slot[]>(members))
        , size_(members) {}

    struct slot {
        // Written once before `alive` is set; read by other loops after they see it set.
        std::string id;
        asio::any_io_executor ex;
        std::weak_ptr<detail::fleet_state> member;
        std::atomic<bool> alive{false};
    };

    // A stream as the hub keeps it: what Redis keeps in `events:{<session>}` and its stream.
    struct kept_stream {
        std::optional<json::object> owner; // a POST stream's; none for a GET stream
        std::deque<std::pair<std::uint64_t, std::string>> events;
        bool ended = false;
    };
    struct shard {
        std::mutex mutex;
        std::unordered_map<std::string, std::vector<std::uint32_t>> watchers; // session → numbers
        std::unordered_map<std::string, std::map<std::uint64_t, kept_stream>> streams;
    };

    result<std::uint32_t> join(std::string const& id, asio::any_io_executor const& ex,
                               std::weak_ptr<detail::fleet_state> member) {
        auto n = joined_.fetch_add(1) + 1;
        if (n > size_)
            return error(make_error_code(boost::system::errc::too_many_files_open),
                         "the fleet hub has room for " + std::to_string(size_) + " members");
        auto& s = slots_[n - 1];
        s.id = id;
        s.ex = ex;
        s.member = std::move(member);
        s.alive.store(true, std::memory_order_release);
        return static_cast<std::uint32_t>(n);
    }
    void leave(std::uint32_t number) {
        if (number >= 1 && number <= size_)
            slots_[number - 1].alive.store(false, std::memory_order_release);
    }
    [[nodiscard]] bool alive(std::string const& id) const {
        for (std::size_t i = 0; i < size_; ++i)
            if (slots_[i].alive.load(std::memory_order_acquire) && slots_[i].id == id)
                return true;
        return false;
    }
    // Posts `msg` to a member's loop (not `from`).
    void post_to(std::uint32_t number, std::uint32_t from, std::string const& session,
                 json::object const& msg) {
        if (number == from || number < 1 || number > size_)
            return;
        auto& s = slots_[number - 1];
        if (!s.alive.load(std::memory_order_acquire))
            return;
        asio::post(s.ex, [weak = s.member, session, msg] {
            if (auto m = weak.lock(); m && !m->stopped)
                m->deliver(session, msg);
        });
    }
    void post_to_all(std::uint32_t from, json::object const& msg) {
        for (std::size_t i = 1; i <= size_; ++i)
            post_to(static_cast<std::uint32_t>(i), from, {}, msg);
    }

    shard& shard_of(std::string const& session) {
        return shards_[std::hash<std::string>{}(session) % shards_.size()];
    }

private:
    std::unique_ptr<slot[]> slots_;
    std::size_t size_;
    std::atomic<std::size_t> joined_{0};
    std::array<shard, 64> shards_;
};

std::shared_ptr<fleet_hub> make_fleet_hub(std::size_t members) {
    return std::make_shared<fleet_hub>(members);
}

namespace detail {

struct local_fleet_state final : fleet_state {
    local_fleet_state(asio::any_io_executor e, std::shared_ptr<fleet_hub> h, fleet_options o)
        : fleet_state(std::move(e), o)
        , hub(std::move(h))
        , sweep(ex) {}

    std::shared_ptr<fleet_hub> hub;
    std::unordered_set<std::string> watching; // what stop() takes this member off
    // What Redis's expiry does: the sessions this member wrote, not written for replay-ttl, go.
    asio::steady_timer sweep;

    asio::awaitable<result<void>> start() override {
        auto n = hub->join(id, ex, weak_from_this());
        if (!n)
            co_return n.error();
        number = *n;
        sweep_later();
        co_return result<void>();
    }
    void sweep_later() {
        sweep.expires_after(std::clamp<duration>(opts.replay_ttl / 4, std::chrono::seconds(1),
                                                 std::chrono::minutes(1)));
        sweep.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
            auto locked = weak.lock();
            if (ec || !locked || locked->stopped)
                return;
            auto& s = static_cast<local_fleet_state&>(*locked);
            s.expire_idle();
            s.sweep_later();
        });
    }
    asio::awaitable<void> stop() override {
        shutdown();
        co_return;
    }
    void shutdown() override {
        if (stopped)
            return;
        stopped = true;
        sweep.cancel();
        if (number == 0)
            return;
        hub->leave(number);
        for (auto const& session : std::exchange(watching, {}))
            unwatch_in_hub(session);
    }

    void listen_to(std::string const& session, bool on) override {
        if (!on) {
            watching.erase(session);
            unwatch_in_hub(session);
            return;
        }
        watching.insert(session);
        auto& sh = hub->shard_of(session);
        std::lock_guard lock(sh.mutex);
        auto& list = sh.watchers[session];
        if (std::find(list.begin(), list.end(), number) == list.end())
            list.push_back(number);
    }
    void unwatch_in_hub(std::string const& session) {
        auto& sh = hub->shard_of(session);
        std::lock_guard lock(sh.mutex);
        auto it = sh.watchers.find(session);
        if (it == sh.watchers.end())
            return;
        std::erase(it->second, number);
        if (it->second.empty())
            sh.watchers.erase(it);
    }

    void send(std::string const& session, json::object msg) override {
        if (session.empty()) {
            hub->post_to_all(number, msg);
            return;
        }
        std::vector<std::uint32_t> targets;
        {
            auto& sh = hub->shard_of(session);
            std::lock_guard lock(sh.mutex);
            if (auto it = sh.watchers.find(session); it != sh.watchers.end())
                targets = it->second;
        }
        for (auto n : targets)
            hub->post_to(n, number, session, msg);
    }

    asio::awaitable<result<bool>> alive(std::string const& instance) override {
        co_return hub->alive(instance);
    }

    // Runs `f(streams of the session)` under the session's shard lock.
    template <class F>
    void with_streams(std::string const& session, F&& f) {
        auto& sh = hub->shard_of(session);
        std::lock_guard lock(sh.mutex);
        f(sh.streams[session]);
    }

    void write_owner(std::string const& session, std::uint64_t stream,
                     json::object const* owner) override {
        with_streams(session, [&](auto& streams) {
            auto& k = streams[stream];
            if (owner != nullptr)
                k.owner = *owner;
        });
    }
    void write_event(std::string const& session, std::uint64_t stream, std::uint64_t seq,
                     std::string const& data) override {
        with_streams(session, [&](auto& streams) {
            auto& k = streams[stream];
            k.events.emplace_back(seq, data);
            while (k.events.size() > opts.events_per_stream)
                k.events.pop_front();
        });
    }
    void write_end(std::string const& session, std::uint64_t stream,
                   std::uint64_t /*last_seq*/) override {
        with_streams(session, [&](auto& streams) { streams[stream].ended = true; });
    }
    void delete_stream(std::string const& session, std::uint64_t stream) override {
        auto& sh = hub->shard_of(session);
        std::lock_guard lock(sh.mutex);
        auto it = sh.streams.find(session);
        if (it == sh.streams.end())
            return;
        it->second.erase(stream);
        if (it->second.empty())
            sh.streams.erase(it);
    }
    void expired(std::string const& session, std::vector<std::uint64_t> const& streams) override {
        for (auto no : streams)
            delete_stream(session, no);
    }
    void delete_session(std::string const& session) override {
        auto& sh = hub->shard_of(session);
        std::lock_guard lock(sh.mutex);
        sh.streams.erase(session);
    }

    asio::awaitable<result<stored_stream>> read(std::string const& session, std::uint64_t stream,
                                                std::uint64_t after_seq) override {
        stored_stream out;
        {
            auto& sh = hub->shard_of(session);
            std::lock_guard lock(sh.mutex);
            auto it = sh.streams.find(session);
            if (it != sh.streams.end())
                if (auto k = it->second.find(stream); k != it->second.end()) {
                    out.known = true;
                    out.ended = k->second.ended;
                    if (k->second.owner)
                        read_owner(*k->second.owner, out);
                    for (auto const& [seq, data] : k->second.events)
                        if (seq > after_seq)
                            out.events.emplace_back(seq, data);
                }
        }
        co_return out;
    }
};

} // namespace detail

fleet::fleet(asio::any_io_executor const& ex, std::shared_ptr<redis::client> commands,
             redis::config cfg, fleet_options opts)
    : state_(std::make_shared<detail::redis_fleet_state>(ex, std::move(commands), std::move(cfg),
                                                         opts)) {}

fleet::fleet(asio::any_io_executor const& ex, std::shared_ptr<fleet_hub> hub, fleet_options opts)
    : state_(std::make_shared<detail::local_fleet_state>(ex, std::move(hub), opts)) {}

fleet::~fleet() {
    state_->shutdown();
}

asio::awaitable<result<void>> fleet::start() {
    co_return co_await state_->start();
}

asio::awaitable<void> fleet::stop() {
    if (state_->stopped)
        co_return;
    co_await state_->stop();
}

std::string const& fleet::instance_id() const noexcept {
    return state_->id;
}
std::uint32_t fleet::instance_number() const noexcept {
    return state_->number;
}

void fleet::on_message(handler h) {
    state_->on_message = std::move(h);
}

void fleet::watch(std::string const& session) {
    state_->listen_to(session, true);
}

void fleet::unwatch(std::string const& session) {
    state_->listen_to(session, false);
}

void fleet::publish(std::string const& session, json::object msg) {
    auto& s = *state_;
    msg["o"] = s.id;
    if (s.sent != nullptr)
        s.sent->inc();
    s.send(session, std::move(msg));
}

asio::awaitable<result<bool>> fleet::alive(std::string const& instance) {
    co_return co_await state_->alive(instance);
}

void fleet::open_stream(std::string const& session, std::uint64_t stream,
                        std::vector<std::string> const& request_ids) {
    auto& s = *state_;
    json::array ids;
    for (auto const& id : request_ids)
        ids.emplace_back(id);
    json::object owner{{"owner", s.id}, {"number", s.number}, {"ids", std::move(ids)}};
    s.expire_idle();
    s.write_owner(session, stream, &owner);
    s.account(session, stream, 0, false);
}

void fleet::open_standalone(std::string const& session, std::uint64_t stream) {
    state_->expire_idle();
    state_->write_owner(session, stream, nullptr);
    state_->account(session, stream, 0, false);
}

void fleet::append(std::string const& session, std::uint64_t stream, std::uint64_t seq,
                   std::string const& data) {
    state_->expire_idle();
    state_->write_event(session, stream, seq, data);
    state_->account(session, stream, data.size());
}

void fleet::end_stream(std::string const& session, std::uint64_t stream, std::uint64_t last_seq) {
    state_->expire_idle();
    state_->write_end(session, stream, last_seq);
    state_->account(session, stream, 0, false);
    state_->ended(session, stream);
}

asio::awaitable<result<stored_stream>>
fleet::replay(std::string const& session, std::uint64_t stream, std::uint64_t after_seq) {
    co_return co_await state_->read(session, stream, after_seq);
}

void fleet::forget_session(std::string const& session) {
    state_->forget_written(session, false);
    state_->delete_session(session);
}

void fleet::set_metrics(metrics::registry& reg) {
    auto& s = *state_;
    s.sent = &reg.counter("mcpd_fleet_messages_sent_total",
                          "Messages published to the other instances of the fleet")
                  .get();
    s.received = &reg.counter("mcpd_fleet_messages_received_total",
                              "Messages received from the other instances of the fleet")
                      .get();
    s.failures = &reg.counter("mcpd_fleet_failures_total",
                              "Fleet writes to Redis that failed (events, messages, heartbeats)")
                      .get();
    s.orphaned = &reg.counter("mcpd_fleet_orphaned_requests_total",
                              "Requests whose instance died before answering, answered with an "
                              "error where the client resumed their stream")
                      .get();
}

std::size_t fleet::bytes() const noexcept {
    return state_->written_bytes;
}
std::uint64_t fleet::dropped() const noexcept {
    return state_->dropped_events;
}

void fleet::count_orphaned(std::size_t n) {
    if (state_->orphaned != nullptr)
        state_->orphaned->inc(n);
}

} // namespace mcpd::server
