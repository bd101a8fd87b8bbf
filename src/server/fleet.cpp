// server/fleet.cpp — the fleet's messages (Redis pub/sub) and event store (Redis Streams). See
// fleet.hpp; the layout of keys and channels is in docs/fleet.md.
//
// Keys (the client's key prefix is added): `fleet:instances` (INCR: instance numbers),
// `fleet:instance:<id>` (heartbeat), `events:{<session>}:<stream>` (a stream's events: entry
// id `<seq>-0` holds an event's data, `<seq>-1` marks the stream's end after event seq) and
// the hash `events:{<session>}` (field: a stream's number; value: a POST stream's owner and
// request ids as JSON, empty for a GET stream). A session's keys share a hash tag, so on a
// Redis Cluster they live on one node. Every write of this instance goes out in the order it
// was made, messages included: an `attached` answer follows the events written before it.
// Channels (the prefix added here): `<prefix>fleet:all` and `<prefix>fleet:s:<session>`.
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
#include <charconv>
#include <deque>
#include <list>
#include <map>
#include <unordered_map>

namespace mcpd::server {

namespace asio = boost::asio;
namespace json = boost::json;

namespace detail {

struct fleet_state : std::enable_shared_from_this<fleet_state> {
    fleet_state(asio::any_io_executor e, std::shared_ptr<redis::client> c, redis::config cfg,
                fleet_options o)
        : ex(std::move(e))
        , commands(std::move(c))
        , sub_cfg(std::move(cfg))
        , opts(o)
        , heartbeat(ex) {
        channel_prefix = sub_cfg.key_prefix + "fleet:";
    }

    asio::any_io_executor ex;
    std::shared_ptr<redis::client> commands;
    redis::config sub_cfg;
    fleet_options opts;
    std::string id = random_alnum_id(16);
    std::uint32_t number = 0;
    std::string channel_prefix;
    std::unique_ptr<redis::subscriber> sub;
    fleet::handler on_message;
    asio::steady_timer heartbeat;
    bool stopped = false;

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

    void account(std::string const& session, std::uint64_t stream, std::size_t bytes) {
        auto now = std::chrono::steady_clock::now();
        while (!recency.empty() && now - written.at(recency.front()).last_write > opts.replay_ttl)
            forget_written(recency.front()); // expired in Redis
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
                forget_written(std::string(victim));
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
        enqueue(redis::command("DEL", stream_key(session, victim->no)));
        enqueue(redis::command("HDEL", streams_key(session), victim->no));
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
    // Forgets what this instance wrote for a session (Redis dropped it, or DELETE will).
    void forget_written(std::string const& session) {
        auto it = written.find(session);
        if (it == written.end())
            return;
        written_bytes -= it->second.bytes;
        recency.erase(it->second.recent);
        written.erase(it);
    }

    metrics::counter* sent = nullptr;
    metrics::counter* received = nullptr;
    metrics::counter* failures = nullptr;
    metrics::counter* orphaned = nullptr;

    [[nodiscard]] std::string all_channel() const { return channel_prefix + "all"; }
    // Each instance listens on a channel of its own: Redis drops the subscription the moment
    // the instance's connection closes (a killed process), long before its heartbeat expires.
    [[nodiscard]] std::string instance_channel(std::string const& instance) const {
        return channel_prefix + "i:" + instance;
    }
    [[nodiscard]] std::string session_channel(std::string const& session) const {
        return channel_prefix + "s:" + session;
    }
    [[nodiscard]] std::string heartbeat_key(std::string const& instance) const {
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

    // Writes issued in one turn of the event loop go out as one request (one coroutine, one
    // write): an SSE answer's event, its stream's end and expiries are a handful of commands.
    redis::request batch;
    void enqueue(redis::command cmd) {
        batch.commands.push_back(std::move(cmd));
        if (batch.commands.size() > 1)
            return;
        asio::post(ex, [weak = weak_from_this()] {
            auto self = weak.lock();
            if (!self || self->batch.commands.empty())
                return;
            self->send(std::exchange(self->batch, {}), "writing SSE events and messages");
        });
    }

    // Runs `req` in the background; failures are counted and logged as `what`.
    void send(redis::request req, std::string what) {
        auto self = shared_from_this();
        asio::co_spawn(
            ex,
            [self, req = std::move(req),
             what = std::move(what)]() mutable -> asio::awaitable<void> {
                auto r = co_await self->commands->exec(std::move(req));
                if (!r) {
                    self->failed(what, r.error());
                    co_return;
                }
                for (auto const& v : *r)
                    if (v.is_error()) {
                        self->failed(what, error(redis::make_error_code(redis::server_errc::err),
                                                 std::string(v.as_string().value_or(""))));
                        break;
                    }
            },
            asio::detached);
    }

    void beat_later() {
        heartbeat.expires_after(opts.heartbeat_interval);
        heartbeat.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
            auto self = weak.lock();
            if (ec || !self || self->stopped)
                return;
            redis::request req;
            req.commands.emplace_back("SET", self->heartbeat_key(self->id), self->number, "PX",
                                      self->heartbeat_ttl_ms());
            req.commands.emplace_back("SET", self->number_key(self->number), self->id, "PX",
                                      self->heartbeat_ttl_ms());
            self->send(std::move(req), "heartbeat");
            self->beat_later();
        });
    }
    [[nodiscard]] std::int64_t heartbeat_ttl_ms() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(opts.heartbeat_ttl).count();
    }

    // Subscribes to a session's channel (or unsubscribes), in the background.
    void listen_to(std::string const& session, bool on) {
        if (!sub)
            return;
        auto work = [self = shared_from_this(), ch = session_channel(session),
                     on]() -> asio::awaitable<void> {
            if (!self->sub)
                co_return;
            std::vector<std::string> channels{ch};
            result<void> r; // not a co_await in ?: (docs/rough_edges.md)
            if (on)
                r = co_await self->sub->subscribe(std::move(channels));
            else
                r = co_await self->sub->unsubscribe(std::move(channels));
            if (!r)
                self->failed(on ? "subscribing to a session's channel"
                                : "unsubscribing from a session's channel",
                             r.error());
        };
        asio::co_spawn(ex, std::move(work), asio::detached);
    }

    asio::awaitable<void> receive_loop() {
        auto self = shared_from_this();
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
            if (received != nullptr)
                received->inc();
            if (on_message)
                on_message(session, msg);
        }
    }
};

} // namespace detail

fleet::fleet(asio::any_io_executor const& ex, std::shared_ptr<redis::client> commands,
             redis::config cfg, fleet_options opts)
    : state_(std::make_shared<detail::fleet_state>(ex, std::move(commands), std::move(cfg), opts)) {
}

fleet::~fleet() {
    state_->stopped = true;
    state_->heartbeat.cancel();
    if (state_->sub)
        state_->sub->disconnect();
}

asio::awaitable<result<void>> fleet::start() {
    auto& s = *state_;
    // A number no live instance holds: the counter's next, claimed with SET NX (the counter
    // alone could repeat one after Redis lost its data, or after 2^20 starts).
    constexpr std::int64_t span = (std::int64_t{1} << 20) - 1;
    for (int tries = 0; s.number == 0; ++tries) {
        if (tries == 64)
            co_return error(redis::make_error_code(redis::client_errc::unexpected_reply),
                            "no free instance number after 64 tries (fleet:number:*)");
        auto n = co_await s.commands->exec(redis::command("INCR", "fleet:instances"));
        if (!n)
            co_return n.error();
        auto v = n->as_integer();
        if (!v)
            co_return error(redis::make_error_code(redis::client_errc::unexpected_reply),
                            "INCR fleet:instances did not answer a number");
        auto candidate = static_cast<std::uint32_t>((*v - 1) % span + 1);
        auto claimed = co_await s.commands->exec(
            redis::command("SET", s.number_key(candidate), s.id, "NX", "PX", s.heartbeat_ttl_ms()));
        if (!claimed)
            co_return claimed.error();
        if (!claimed->is_null())
            s.number = candidate;
    }
    auto beat = co_await s.commands->exec(
        redis::command("SET", s.heartbeat_key(s.id), s.number, "PX", s.heartbeat_ttl_ms()));
    if (!beat)
        co_return beat.error();
    s.sub = std::make_unique<redis::subscriber>(s.ex, s.sub_cfg);
    std::vector<std::string> channels{s.all_channel(), s.instance_channel(s.id)};
    auto subscribed = co_await s.sub->subscribe(std::move(channels));
    if (!subscribed)
        co_return subscribed.error();
    asio::co_spawn(
        s.ex, [st = state_] { return st->receive_loop(); }, asio::detached);
    s.beat_later();
    co_return result<void>();
}

asio::awaitable<void> fleet::stop() {
    auto& s = *state_;
    if (s.stopped)
        co_return;
    s.stopped = true;
    s.heartbeat.cancel();
    // Briefly: with Redis down, shutdown must not wait a command timeout for it (the key expires).
    redis::request_options briefly;
    briefly.timeout = std::chrono::milliseconds(500);
    briefly.retry_on_connection_lost = false;
    redis::request bye; // one key a command: on a Cluster they live on different nodes
    bye.commands.emplace_back("DEL", s.heartbeat_key(s.id));
    bye.commands.emplace_back("DEL", s.number_key(s.number));
    bye.options = briefly;
    auto gone = co_await s.commands->exec(std::move(bye));
    if (!gone)
        log::warn("mcpd: fleet: deleting the heartbeat key failed: {}", gone.error().message());
    if (s.sub) {
        s.sub->disconnect(); // nothing of pub/sub is worth waiting for
        s.sub.reset();
    }
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
    s.enqueue(redis::command("PUBLISH",
                             session.empty() ? s.all_channel() : s.session_channel(session),
                             json::serialize(msg)));
}

asio::awaitable<result<bool>> fleet::alive(std::string const& instance) {
    auto& s = *state_;
    redis::request req;
    req.commands.emplace_back("EXISTS", s.heartbeat_key(instance));
    // On one node (or Sentinel's master) NUMSUB counts every subscriber; a Cluster counts only
    // the node asked, so there the heartbeat alone decides.
    bool const one_node = s.sub_cfg.cluster.seeds.empty();
    if (one_node)
        req.commands.emplace_back("PUBSUB", "NUMSUB", s.instance_channel(instance));
    auto r = co_await s.commands->exec(std::move(req));
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

void fleet::open_stream(std::string const& session, std::uint64_t stream,
                        std::vector<std::string> const& request_ids) {
    auto& s = *state_;
    json::array ids;
    for (auto const& id : request_ids)
        ids.emplace_back(id);
    json::object owner{{"owner", s.id}, {"number", s.number}, {"ids", std::move(ids)}};
    auto streams = detail::fleet_state::streams_key(session);
    s.enqueue(redis::command("HSET", streams, stream, json::serialize(owner)));
    s.enqueue(redis::command("PEXPIRE", streams, s.ttl_ms()));
}

void fleet::open_standalone(std::string const& session, std::uint64_t stream) {
    auto& s = *state_;
    auto streams = detail::fleet_state::streams_key(session);
    s.enqueue(redis::command("HSET", streams, stream, ""));
    s.enqueue(redis::command("PEXPIRE", streams, s.ttl_ms()));
}

void fleet::append(std::string const& session, std::uint64_t stream, std::uint64_t seq,
                   std::string const& data) {
    auto& s = *state_;
    auto key = detail::fleet_state::stream_key(session, stream);
    s.enqueue(redis::command("XADD", key, "MAXLEN", s.opts.events_per_stream,
                             std::to_string(seq) + "-0", "d", data));
    s.enqueue(redis::command("PEXPIRE", key, s.ttl_ms()));
    // The list of streams lives as long as the newest of them (a call may outlast replay-ttl).
    s.enqueue(redis::command("PEXPIRE", detail::fleet_state::streams_key(session), s.ttl_ms()));
    s.account(session, stream, data.size());
}

void fleet::end_stream(std::string const& session, std::uint64_t stream, std::uint64_t last_seq) {
    auto& s = *state_;
    auto key = detail::fleet_state::stream_key(session, stream);
    s.enqueue(redis::command("XADD", key, "MAXLEN", s.opts.events_per_stream + 1,
                             std::to_string(last_seq) + "-1", "end", "1"));
    s.enqueue(redis::command("PEXPIRE", key, s.ttl_ms()));
    s.enqueue(redis::command("PEXPIRE", detail::fleet_state::streams_key(session), s.ttl_ms()));
    s.ended(session, stream);
}

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

} // namespace

asio::awaitable<result<stored_stream>>
fleet::replay(std::string const& session, std::uint64_t stream, std::uint64_t after_seq) {
    auto& s = *state_;
    auto key = detail::fleet_state::stream_key(session, stream);
    redis::request req;
    req.commands.emplace_back("HGET", detail::fleet_state::streams_key(session), stream);
    // From `<after>-1`: the end marker after event `after`, and every event after it.
    req.commands.emplace_back("XRANGE", key, std::to_string(after_seq) + "-1", "+", "COUNT",
                              s.opts.events_per_stream + 2);
    auto r = co_await s.commands->exec(std::move(req));
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
        if (!ec && o.is_object()) {
            out.known = true;
            auto const& obj = o.get_object();
            if (auto const* who = obj.if_contains("owner"); who != nullptr && who->is_string())
                out.owner = who->get_string();
            if (auto const* n = obj.if_contains("number"); n != nullptr && n->is_int64())
                out.owner_number = static_cast<std::uint64_t>(n->get_int64());
            if (auto const* ids = obj.if_contains("ids"); ids != nullptr && ids->is_array())
                for (auto const& id : ids->get_array())
                    if (id.is_string())
                        out.request_ids.emplace_back(id.get_string());
        }
    }
    for (auto const& entry : replies[1].elements) {
        if (entry.elements.size() != 2)
            continue;
        auto id = entry.elements[0].as_string();
        bool end = false;
        auto seq = id ? entry_seq(*id, end) : std::nullopt;
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

void fleet::forget_session(std::string const& session) {
    auto st = state_;
    st->forget_written(session);
    asio::co_spawn(
        st->ex,
        [st, session]() -> asio::awaitable<void> {
            auto set = detail::fleet_state::streams_key(session);
            auto streams = co_await st->commands->exec(redis::command("HKEYS", set));
            if (!streams) {
                st->failed("forgetting a session's events", streams.error());
                co_return;
            }
            redis::command del("DEL", set);
            for (auto const& no : streams->elements)
                if (auto n = no.as_string()) {
                    del.arg("events:{" + session + "}:" + std::string(*n));
                }
            auto r = co_await st->commands->exec(del);
            if (!r)
                st->failed("forgetting a session's events", r.error());
        },
        asio::detached);
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
