// server/http_transport.cpp — Streamable HTTP and legacy HTTP+SSE. See http_transport.hpp.
//
// Per MCP session this process keeps a `wire_session`: its numbered logical streams (0 is the
// standalone GET stream; each POST with requests gets the next number), each with the
// sequence of its events and the HTTP response currently attached to it, if any. Events go to
// the event store first, then to the attached response; a client that reconnects with
// Last-Event-ID gets the rest from the store and the stream's future events.
#include "mcpd/server/http_transport.hpp"
#include "mcpd/server/fleet.hpp"
#include "server/http_route.hpp"

#include "http/sse.hpp"

#include "core/ascii.hpp"
#include "core/blocking_pool.hpp"
#include "core/log.hpp"
#include "mcpd/core/client_tally.hpp"
#include "mcpd/core/duration.hpp"
#include "mcpd/protocol/jsonrpc.hpp"
#include "mcpd/protocol/version.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <deque>
#include <limits>
#include <list>
#include <map>
#include <span>
#include <unordered_map>
#include <unordered_set>

namespace mcpd::server {

namespace json = boost::json;
namespace asio = boost::asio;
using http::status;
namespace code = protocol::code;

// ---------------------------------------------------------------------------------------------
// In-memory event store

namespace {

class memory_event_store final : public event_store {
public:
    explicit memory_event_store(event_store_limits l)
        : limits_(l) {}
    void append(std::string const& session, std::uint64_t stream, std::uint64_t seq,
                std::string data) override {
        auto [it, made] = sessions_.try_emplace(session);
        auto& kept = it->second;
        if (made)
            kept.recent = recency_.insert(recency_.end(), &it->first);
        else
            recency_.splice(recency_.end(), recency_, kept.recent); // the newest session now
        // Every POST opens a stream: a long session keeps only its newest ones (and stream 0,
        // the GET stream), else their events would pile up until the session ends.
        if (stream != 0 && !kept.streams.contains(stream)) {
            while (kept.streams.size() - kept.streams.count(0) >= limits_.streams_per_session)
                drop_stream(kept, kept.streams.upper_bound(0));
        }
        auto size = data.size();
        add(kept, stream, seq, std::move(data));
        // Bytes: the session's oldest events go first, then the least recently written
        // sessions' (every one but this; a single event larger than a budget is kept alone).
        while (kept.bytes > limits_.bytes_per_session && drop_oldest(kept, size))
            ++dropped_;
        while (bytes_ > limits_.bytes_total && recency_.size() > 1) {
            auto& victim = sessions_.at(*recency_.front());
            if (!drop_oldest(victim, 0))
                forget_session(*recency_.front());
            else
                ++dropped_;
        }
    }
    std::vector<std::pair<std::uint64_t, std::string>>
    replay(std::string const& session, std::uint64_t stream, std::uint64_t after) override {
        std::vector<std::pair<std::uint64_t, std::string>> out;
        auto s = sessions_.find(session);
        if (s == sessions_.end())
            return out;
        auto q = s->second.streams.find(stream);
        if (q == s->second.streams.end())
            return out;
        for (auto const& e : q->second.live())
            if (e.first > after)
                out.push_back(e);
        return out;
    }
    void forget_session(std::string const& session) override {
        auto it = sessions_.find(session);
        if (it == sessions_.end())
            return;
        bytes_ -= it->second.bytes;
        recency_.erase(it->second.recent);
        sessions_.erase(it);
    }
    [[nodiscard]] std::size_t bytes() const noexcept override { return bytes_; }
    [[nodiscard]] std::uint64_t dropped() const noexcept override { return dropped_; }

private:
    // One stream's newest events, oldest first. A vector whose front is dropped by moving a
    // start index (and compacted once half of it is dropped): a POST's stream holds one or two
    // events, and a std::deque made two allocations of ~0.5 KB for each.
    struct kept_events {
        std::vector<std::pair<std::uint64_t, std::string>> events;
        std::size_t first = 0; // events before it are dropped

        [[nodiscard]] std::size_t size() const noexcept { return events.size() - first; }
        // Drops the oldest event; its size.
        std::size_t drop_front() {
            auto n = events[first].second.size();
            events[first++].second = std::string{}; // its memory goes now
            if (first > 16 && first * 2 > events.size()) {
                events.erase(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(first));
                first = 0;
            }
            return n;
        }
        [[nodiscard]] std::span<std::pair<std::uint64_t, std::string> const> live() const {
            return std::span(events).subspan(first);
        }
    };
    struct session_events {
        std::map<std::uint64_t, kept_events> streams;
        std::deque<std::pair<std::uint64_t, std::uint64_t>> order; // (stream, seq), oldest first
        std::size_t bytes = 0;
        std::size_t count = 0; // live events (`order` may also hold some that went otherwise)
        std::list<std::string const*>::iterator recent; // in recency_
    };

    void add(session_events& kept, std::uint64_t stream, std::uint64_t seq, std::string data) {
        auto& events = kept.streams[stream];
        kept.bytes += data.size();
        bytes_ += data.size();
        kept.order.emplace_back(stream, seq);
        ++kept.count;
        events.events.emplace_back(seq, std::move(data));
        while (events.size() > limits_.events_per_stream)
            forget_bytes(kept, events.drop_front());
        if (kept.order.size() > 2 * kept.count + 64)
            std::erase_if(kept.order, [&kept](auto const& e) { return !live(kept, e); });
    }
    // Whether (stream, seq) is still kept.
    static bool live(session_events const& kept, std::pair<std::uint64_t, std::uint64_t> e) {
        auto it = kept.streams.find(e.first);
        if (it == kept.streams.end() || it->second.size() == 0)
            return false;
        auto events = it->second.live();
        return events.front().first <= e.second && e.second <= events.back().first;
    }
    void forget_bytes(session_events& kept, std::size_t n) {
        kept.bytes -= n;
        bytes_ -= n;
        --kept.count;
    }
    void drop_stream(session_events& kept, std::map<std::uint64_t, kept_events>::iterator it) {
        for (auto const& e : it->second.live())
            forget_bytes(kept, e.second.size());
        kept.streams.erase(it);
    }
    // Drops the session's oldest event, unless what is left is the one just added
    // (`keep_last` bytes); whether it dropped one. Entries of `order` whose event went another
    // way (a stream's own count, a dropped stream) are skipped.
    bool drop_oldest(session_events& kept, std::size_t keep_last) {
        while (!kept.order.empty()) {
            if (keep_last != 0 && kept.order.size() == 1)
                return false;
            auto [stream, seq] = kept.order.front();
            kept.order.pop_front();
            auto it = kept.streams.find(stream);
            if (it == kept.streams.end() || it->second.size() == 0 ||
                it->second.live().front().first != seq)
                continue; // gone already (its stream's count, or its stream)
            forget_bytes(kept, it->second.drop_front());
            if (it->second.size() == 0)
                kept.streams.erase(it);
            return true;
        }
        return false;
    }

    event_store_limits limits_;
    std::unordered_map<std::string, session_events> sessions_;
    std::list<std::string const*> recency_; // session ids, least recently written first
    std::size_t bytes_ = 0;
    std::uint64_t dropped_ = 0;
};

} // namespace

std::unique_ptr<event_store> make_memory_event_store(event_store_limits limits) {
    limits.streams_per_session = std::max<std::size_t>(1, limits.streams_per_session);
    limits.events_per_stream = std::max<std::size_t>(1, limits.events_per_stream);
    return std::make_unique<memory_event_store>(limits);
}

// ---------------------------------------------------------------------------------------------

struct logical_stream {
    std::uint64_t no = 0;
    std::uint64_t next_seq = 1;
    std::shared_ptr<http::sse_stream> conn; // the HTTP response it is written to now, if any
    bool done = false;                      // a POST stream whose answers have all been sent
    // A fleet: a client resumed it on another instance, which gets its events from here.
    bool forwarded = false;
    // While a resume replays it from Redis, new events wait here (then go after the replay).
    bool holding = false;
    std::vector<std::pair<std::uint64_t, std::string>> held;
};

// A stream of another instance that a client resumed here (a fleet): its events arrive from
// the owner once it has answered the attach.
struct followed_stream {
    explicit followed_stream(asio::any_io_executor const& ex)
        : answer(ex) {}
    std::shared_ptr<http::sse_stream> conn;
    asio::steady_timer answer; // cancelled by the owner's answer
    enum class reply : std::uint8_t { none, attached, gone } owner_reply = reply::none;
    std::uint64_t owner_next = 0;         // attached: the owner's next event then
    std::uint64_t last = 0;               // the last event pushed to conn
    bool replayed = false;                // until then, forwarded events only wait in `pending`
    std::optional<std::uint64_t> end_seq; // the owner's last event, once it said so
    bool done = false; // the client's response ended (or another took it): nothing more to do
    // Forwarded events not sent yet: before the first replay, or after a gap (on a Redis
    // Cluster, messages may overtake each other).
    std::map<std::uint64_t, std::string> pending;
};

// In a fleet, a standalone stream is numbered by its instance (< 2^32) and a POST stream by
// (instance << 32) + n; alone, the standalone stream is 0 and POST streams start high.
constexpr std::uint64_t first_post_stream_in_fleet(std::uint32_t instance) {
    return (std::uint64_t{instance} << 32) + 1;
}
constexpr bool standalone_in_fleet(std::uint64_t stream) {
    return stream < (std::uint64_t{1} << 32);
}

// Stream numbers start from this process's start time in milliseconds (times 1000), so an
// event id from before a restart never names a stream of the restarted process.
std::uint64_t first_stream_number() {
    static std::uint64_t const first = static_cast<std::uint64_t>(unix_time_ms()) * 1000;
    return first;
}

struct wire_session : std::enable_shared_from_this<wire_session> {
    std::string id;
    std::string client;  // the address that created it here (its sessions are counted), or ""
    bool legacy = false; // HTTP+SSE: everything goes to stream 0, events without ids
    std::uint64_t next_stream = first_stream_number();
    std::map<std::uint64_t, std::shared_ptr<logical_stream>> streams;
    std::size_t in_flight = 0;
};

// The answers of one POST.
struct post_state {
    explicit post_state(asio::any_io_executor ex)
        : wake(std::move(ex)) {}
    wakeup wake;
    std::size_t remaining = 0;
    std::vector<json::object> responses;    // JSON mode: collected answers
    std::shared_ptr<logical_stream> stream; // SSE mode
    // The POST's own SSE response: the stream's first, which a handler may end early (the
    // logical stream then goes on without one until the client reconnects).
    std::shared_ptr<http::sse_stream> response;
    bool batch = false;
    std::vector<std::string> request_ids; // as JSON text (a fleet stores them with the stream)
};

struct http_transport::impl : std::enable_shared_from_this<impl> {
    impl(dispatcher& d, http_transport_options o, asio::any_io_executor e)
        : disp(d)
        , opts(std::move(o))
        , exec(std::move(e))
        , events(make_memory_event_store(opts.replay))
        , keepalive(exec) {}

    dispatcher& disp;
    http_transport_options opts;
    asio::any_io_executor exec;
    std::unique_ptr<event_store> events;
    std::shared_ptr<fleet> fleet_ = opts.fleet_member;
    std::uint64_t standalone_no = 0;     // this process's number for a session's GET stream
    std::uint64_t next_fleet_stream = 0; // a fleet's POST streams: unique in this process
    std::map<std::pair<std::string, std::uint64_t>, std::shared_ptr<followed_stream>> following;
    std::unordered_map<std::string, std::shared_ptr<wire_session>> wires;
    std::unordered_set<std::shared_ptr<http::sse_stream>> open;
    asio::steady_timer keepalive;
    bool draining = false;
    bool stopped = false;
    std::size_t in_flight = 0;
    // An SSE response's queue holds one message of the largest size and a replay whole.
    std::size_t sse_max_buffered = std::max<std::size_t>(
        std::size_t{1024} * 1024,
        opts.max_message_bytes + opts.replay.bytes_per_session + std::size_t{64} * 1024);
    // Per client address: the sessions it created and the long-lived streams it holds open.
    std::shared_ptr<client_tally> clients =
        opts.clients ? opts.clients : std::make_shared<client_tally>();
    metrics::limit_meter limit_hits;
    std::string event_id_buffer; // event_id()'s: one for every event written
    // Large bodies are parsed here, off the event loop (route_step::parse_body).
    blocking_pool parser{1};

    // --- responses --------------------------------------------------------------------------

    http::response json_reply(http::server_request const& req, status s, json::value const& body) {
        auto res = http::make_response(s, json::serialize(body), "application/json");
        cors(req, res);
        return res;
    }
    http::response error_reply(http::server_request const& req, status s, int c,
                               std::string_view msg, json::value const& id = nullptr,
                               json::value data = nullptr) {
        return json_reply(req, s, protocol::make_error(id, c, msg, std::move(data)));
    }
    // A page in a browser (a request with an Origin, already allowed) may read the answer and
    // its session id: the fields that say so, written to `out` (room for 3); how many.
    static std::size_t cors_fields(http::server_request const& req,
                                   std::span<http::exchange::header> out) {
        auto origin = req[http::field::origin];
        if (origin.empty())
            return 0;
        out[0] = {"Access-Control-Allow-Origin", origin};
        out[1] = {"Access-Control-Expose-Headers", "Mcp-Session-Id"};
        out[2] = {"Vary", "Origin"};
        return 3;
    }
    void cors(http::server_request const& req, http::response& res) {
        std::array<http::exchange::header, 3> fields;
        auto n = cors_fields(req, fields);
        for (std::size_t i = 0; i < n; ++i)
            res.set(fields[i].first, fields[i].second);
    }
    // The fields of an SSE answer (views into `req` and `session_id`, which must outlive them),
    // in place: every SSE answer has them.
    struct sse_fields {
        std::array<http::exchange::header, 5> all;
        std::size_t count = 0;
        [[nodiscard]] std::span<http::exchange::header const> view() const {
            return std::span(all.data(), count);
        }
    };
    static sse_fields sse_headers(http::server_request const& req, std::string const& session_id) {
        sse_fields f;
        if (!session_id.empty())
            f.all[f.count++] = {"Mcp-Session-Id", session_id};
        f.all[f.count++] = {"X-Accel-Buffering", "no"};
        f.count += cors_fields(req, std::span(f.all).subspan(f.count));
        return f;
    }

    // --- streams ----------------------------------------------------------------------------

    // A new SSE response; `client`, when given, holds it as one of its long-lived streams.
    std::shared_ptr<http::sse_stream> new_conn(std::string client = {}) {
        auto conn = std::make_shared<http::sse_stream>(exec, sse_max_buffered);
        open.insert(conn);
        if (!client.empty())
            clients->add(client, client_tally::kind::streams);
        std::weak_ptr<impl> weak = shared_from_this();
        std::weak_ptr<http::sse_stream> wconn = conn;
        conn->on_end([weak, wconn, client = std::move(client)] {
            auto self = weak.lock();
            if (!self)
                return;
            if (auto c = wconn.lock())
                self->open.erase(c);
            if (!client.empty())
                self->clients->remove(client, client_tally::kind::streams);
        });
        return conn;
    }

    // What `client` holds, with the limits it may hold (the route decides on them).
    client_budget budget_of(std::string const& client) const {
        client_budget b;
        auto held = clients->held(client);
        b.sessions = held.sessions;
        b.streams = held.streams;
        b.max_sessions = opts.max_sessions_per_client;
        b.max_streams = opts.max_streams_per_client;
        return b;
    }
    void forget_wire(std::unordered_map<std::string, std::shared_ptr<wire_session>>::iterator it) {
        if (!it->second->client.empty())
            clients->remove(it->second->client, client_tally::kind::sessions);
        wires.erase(it);
    }

    // "<session>.<stream>.<seq>": an event's id, which a Last-Event-ID names to resume after.
    // Written into event_id_buffer, valid until the next id (an event is encoded as it is pushed).
    std::string_view event_id(std::string const& session, std::uint64_t stream, std::uint64_t seq) {
        std::array<char, 48> numbers{};
        auto* end = std::to_chars(numbers.data(), numbers.data() + 20, stream).ptr;
        *end++ = '.';
        end = std::to_chars(end, numbers.data() + numbers.size(), seq).ptr;
        event_id_buffer.assign(session).append(1, '.').append(numbers.data(), end);
        return event_id_buffer;
    }

    // --- the largest message (max-response) ----------------------------------------------

    // An answer as JSON text: written on the event loop while it stays within
    // parse_on_loop_bytes (the bound for parsing too), and the rest of a larger one on the
    // worker thread, so that other clients do not wait for it. Nothing else touches the answer
    // meanwhile: it belongs to the request's coroutine.
    template <class Json>
    asio::awaitable<std::string> serialize_answer(Json const& answer) {
        json::serializer out;
        out.reset(&answer);
        std::string text;
        auto write_until = [&out, &text](std::size_t limit) {
            std::array<char, 16384> chunk{};
            while (!out.done() && text.size() <= limit) {
                auto part = out.read(chunk.data(), chunk.size());
                text.append(part.data(), part.size());
            }
        };
        write_until(opts.parse_on_loop_bytes);
        if (!out.done())
            co_await parser.run([&write_until] {
                write_until(std::numeric_limits<std::size_t>::max());
                return true;
            });
        co_return text;
    }

    // What a client gets instead of a message over max_message_bytes (`size` bytes): for an
    // answer, an error answer that names the limit; anything else is dropped (nullopt).
    std::optional<json::object> too_large(json::object const& msg, std::size_t size) {
        limit_hits.hit("max-response");
        auto const* id = msg.if_contains("id");
        bool answer = id != nullptr && (msg.contains("result") || msg.contains("error"));
        log::warn("mcp: a {} of {} bytes is over max-response ({} bytes): {}",
                  answer ? "result" : "message", size, opts.max_message_bytes,
                  answer ? "answered with an error" : "dropped");
        if (!answer)
            return std::nullopt;
        return protocol::make_error(
            *id, code::internal_error,
            "Internal error: the result is " + std::to_string(size) + " bytes, over the limit of " +
                std::to_string(opts.max_message_bytes) + " bytes (max-response)");
    }
    // A JSON answer (one message or a batch) whose text was too large, with each message that is
    // too large replaced.
    json::value within_message_limit(json::value body) {
        auto fix = [this](json::value& v) {
            if (!v.is_object())
                return;
            auto size = protocol::serialized_size(v, opts.max_message_bytes);
            if (size <= opts.max_message_bytes)
                return;
            if (auto replaced = too_large(v.get_object(), size))
                v = std::move(*replaced);
        };
        if (body.is_array())
            for (auto& v : body.get_array())
                fix(v);
        else
            fix(body);
        return body;
    }

    // Writes a message as the next event of `ls` (sent if attached, then stored for replay).
    // `text`: the message already serialized (off the event loop, when large), or empty.
    void emit(wire_session* ws, logical_stream& ls, json::object const& msg,
              std::string text = {}) {
        http::sse_event ev;
        ev.data = text.empty() ? json::serialize(msg) : std::move(text);
        if (ev.data.size() > opts.max_message_bytes) {
            auto replaced = too_large(msg, ev.data.size());
            if (!replaced)
                return;
            ev.data = json::serialize(*replaced);
        }
        std::uint64_t seq = 0;
        bool const stored = ws != nullptr && !ws->legacy;
        if (stored) {
            seq = ls.next_seq++;
            ev.id = event_id(ws->id, ls.no, seq);
        }
        if (ws != nullptr && ws->legacy)
            ev.event = "message";
        if (ls.holding)
            ls.held.emplace_back(seq, ev.data);
        else if (ls.conn && ls.conn->is_open())
            ls.conn->push(ev);
        if (!stored)
            return;
        if (!fleet_) {
            events->append(ws->id, ls.no, seq, std::move(ev.data));
            return;
        }
        fleet_->append(ws->id, ls.no, seq, ev.data);
        if (ls.forwarded)
            fleet_->publish(
                ws->id,
                json::object{{"k", "ev"}, {"st", ls.no}, {"q", seq}, {"d", std::move(ev.data)}});
    }

    void prime(wire_session* ws, logical_stream& ls, std::string_view version) {
        // 2025-11-25: an event with an id and no data first, so that the client can resume
        // even before the first message, and how long to wait before it does.
        if (ws == nullptr || ws->legacy || version < protocol::v2025_11_25)
            return;
        http::sse_event ev;
        ev.id = event_id(ws->id, ls.no, 0);
        ev.retry_ms = opts.retry_ms;
        ls.conn->push(ev);
    }

    void start_keepalive() {
        std::weak_ptr<impl> weak = shared_from_this();
        keepalive.expires_after(opts.keepalive_interval);
        keepalive.async_wait([weak](boost::system::error_code ec) {
            auto self = weak.lock();
            if (ec || !self || self->stopped)
                return;
            for (auto const& c : self->open)
                if (c->is_open() && !c->has_output())
                    c->push_raw(": keepalive\n\n");
            self->forget_idle_sessions();
            self->start_keepalive();
        });
    }

    void forget_idle_sessions() {
        auto held = [this](std::string const& id) {
            // A stream followed from another instance needs the session's channel.
            auto f = following.lower_bound({id, 0});
            if (f != following.end() && f->first.first == id)
                return true;
            auto it = wires.find(id);
            if (it == wires.end())
                return false;
            for (auto const& [no, ls] : it->second->streams)
                if (ls->conn && ls->conn->is_open())
                    return true;
            return it->second->in_flight > 0;
        };
        for (auto const& id : disp.sessions().forget_idle(opts.session_idle_timeout, held)) {
            if (auto it = wires.find(id); it != wires.end())
                forget_wire(it);
            events->forget_session(id);
        }
    }

    std::shared_ptr<wire_session> wire_for(std::string const& id) {
        auto& w = wires[id];
        if (!w) {
            w = std::make_shared<wire_session>();
            w->id = id;
        }
        return w;
    }

    asio::awaitable<void> end_session(std::string const& id) {
        if (auto it = wires.find(id); it != wires.end()) {
            auto w = it->second;
            forget_wire(it);
            for (auto& [no, ls] : w->streams)
                if (ls->conn)
                    ls->conn->finish();
        }
        events->forget_session(id);
        if (fleet_) {
            fleet_->publish(id, json::object{{"k", "end"}});
            fleet_->forget_session(id);
        }
        auto r = co_await disp.sessions().end(id);
        if (!r)
            log::warn("mcp: ending session {}: {}", id, r.error().message());
    }

    // Switches a POST to SSE: a logical stream, attached to a new response.
    void start_sse(post_state& post, wire_session* ws, std::string_view version) {
        auto ls = std::make_shared<logical_stream>();
        if (ws != nullptr) {
            // In a fleet, numbered across the process: never reused while it runs.
            ls->no = fleet_ ? next_fleet_stream++ : ws->next_stream++;
            ws->streams[ls->no] = ls;
            if (fleet_ && !ws->legacy)
                fleet_->open_stream(ws->id, ls->no, post.request_ids);
        }
        ls->conn = new_conn();
        prime(ws, *ls, version);
        post.stream = ls;
        post.response = ls->conn;
        for (auto const& r : post.responses)
            emit(ws, *ls, r);
        post.responses.clear();
        post.wake.notify();
    }

    void answered(post_state& post, wire_session* ws, std::optional<json::object> response,
                  std::string text = {}) {
        if (response) {
            if (post.stream)
                emit(ws, *post.stream, *response, std::move(text));
            else
                post.responses.push_back(std::move(*response));
        }
        if (--post.remaining == 0) {
            if (post.stream) {
                post.stream->done = true;
                if (post.stream->conn)
                    post.stream->conn->finish();
                if (ws != nullptr) {
                    ws->streams.erase(post.stream->no); // replay stays possible from the store
                    if (fleet_ && !ws->legacy) {
                        fleet_->end_stream(ws->id, post.stream->no, post.stream->next_seq - 1);
                        if (post.stream->forwarded)
                            fleet_->publish(ws->id,
                                            json::object{{"k", "done"},
                                                         {"st", post.stream->no},
                                                         {"last", post.stream->next_seq - 1}});
                    }
                }
            }
            post.wake.notify();
        }
    }

    // --- POST /mcp: serving the messages -------------------------------------------------

    // The POST's messages in session `s` (a stateless request's ephemeral one, or a session
    // found or just created), answered as one JSON body or as an SSE stream.
    asio::awaitable<void> serve_post(http::exchange& ex, http_route& route,
                                     std::shared_ptr<session> s, bool created) {
        auto& req = ex.req();
        bool const init = route.initialize() != nullptr;
        std::string const version = s->ephemeral ? s->state.protocol_version : route.version();
        std::shared_ptr<wire_session> ws = s->ephemeral ? nullptr : wire_for(s->state.id);
        auto parsed_batch = route.batch();
        auto messages = route.take_messages();
        std::optional<http::response> reply;
        auto post = std::make_shared<post_state>(ex.executor());
        post->batch = parsed_batch;
        std::vector<protocol::request> requests;
        for (auto& m : messages) {
            if (auto* r = std::get_if<protocol::request>(&m)) {
                if (fleet_)
                    post->request_ids.push_back(json::serialize(r->id));
                requests.push_back(std::move(*r));
            } else if (auto answer = co_await disp.handle_non_request(s, std::move(m)))
                post->responses.push_back(std::move(*answer));
        }
        if (requests.empty() && post->responses.empty()) {
            reply = http::make_response(status::accepted, "");
            cors(req, *reply);
        } else if (ws && ws->in_flight + requests.size() > opts.max_in_flight_per_session) {
            limit_hits.hit("max-in-flight");
            reply =
                error_reply(req, status::too_many_requests, code::connection_closed,
                            "Too Many Requests: this session has " + std::to_string(ws->in_flight) +
                                " requests in flight, its limit (max-in-flight) is " +
                                std::to_string(opts.max_in_flight_per_session));
        }
        if (reply) {
            co_await ex.respond(std::move(*reply));
            co_return;
        }

        wire_session* wsp = ws.get();
        post->remaining = requests.size();
        // Stateless requests answer errors with their HTTP status (400, 404), so they start as
        // JSON and turn into a stream only when a handler sends something first.
        if (!opts.json_response && !requests.empty() && !s->ephemeral)
            start_sse(*post, wsp, version);
        auto self = shared_from_this();
        // Messages a handler sends before its answer: they turn the POST into an SSE stream.
        message_sink related = [self, post, ws, version](json::object const& msg) {
            if (post->stream && post->stream->done)
                return false;
            if (!post->stream)
                self->start_sse(*post, ws.get(), version);
            self->emit(ws.get(), *post->stream, msg);
            return true;
        };
        // SEP-1699: a handler may end the POST's SSE response early; the logical stream goes
        // on in the event store, and a GET with Last-Event-ID picks it up. Only once the client
        // has an event id to resume from: the priming event (2025-11-25 on).
        related.end_stream = [post, ws, version] {
            auto& ls = post->stream;
            if (!ls || ls->done || !ws || ws->legacy || version < protocol::v2025_11_25)
                return false;
            if (ls->conn) {
                ls->conn->finish();
                ls->conn = nullptr;
            }
            return true;
        };
        for (std::size_t i = 0; i < requests.size(); ++i) {
            if (ws)
                ++ws->in_flight;
            ++in_flight;
            // Each request is a coroutine of its own (a batch's run side by side, and the POST
            // may turn into a stream while they run), bound to the request's cancellation so
            // that its handler needs no coroutine more.
            auto flight = std::make_shared<in_flight_request>();
            // The last request takes the sink itself: copying one copies two std::functions.
            // NOLINTNEXTLINE(bugprone-use-after-move): moved on the last iteration only
            auto sink = i + 1 < requests.size() ? related : std::move(related);
            auto task = [self, s, ws, post, related = std::move(sink), flight,
                         rid = ex.request_id(),
                         r = std::move(requests[i])]() mutable -> asio::awaitable<void> {
                std::optional<json::object> response;
                auto id = r.id;
                try {
                    response = co_await self->disp.handle_request(s, std::move(r),
                                                                  std::move(related), rid, flight);
                } catch (std::exception const& e) {
                    response = protocol::make_error(id, code::internal_error, e.what());
                }
                // A large answer on an SSE stream is serialized off the event loop, so that
                // other clients do not wait for it (a JSON answer is, where it is written).
                std::string text;
                if (response && post->stream)
                    text = co_await self->serialize_answer(*response);
                if (ws)
                    --ws->in_flight;
                --self->in_flight;
                self->answered(*post, ws.get(), std::move(response), std::move(text));
            };
            auto& slot_signal = flight->signal;
            asio::co_spawn(ex.executor(), std::move(task),
                           asio::bind_cancellation_slot(slot_signal.slot(), asio::detached));
        }
        if (requests.empty())
            post->remaining = 0;

        while (post->remaining > 0 && !post->stream)
            co_await post->wake.wait();

        if (created && init && s->state.protocol_version.empty()) {
            // initialize failed: the session never existed.
            co_await end_session(s->state.id);
            created = false;
        }
        std::string sid = (s->ephemeral) ? std::string{} : s->state.id;
        if (!post->stream) {
            if (post->responses.empty()) {
                reply = http::make_response(status::accepted, "");
                cors(req, *reply);
                co_await ex.respond(std::move(*reply));
                co_return;
            }
            json::value body;
            if (post->batch) {
                json::array arr;
                for (auto& r : post->responses)
                    arr.push_back(std::move(r));
                body = std::move(arr);
            } else {
                body = std::move(post->responses.front());
            }
            auto st =
                s->ephemeral && body.is_object() ? stateless_status(body.get_object()) : status::ok;
            // Written straight out: the answer to most POSTs. A large one is serialized off
            // the event loop, so that other clients do not wait for it.
            auto text = co_await serialize_answer(body);
            if (text.size() > opts.max_message_bytes) {
                auto const* one = body.if_object();
                auto replaced = one != nullptr ? too_large(*one, text.size()) : std::nullopt;
                text = replaced ? json::serialize(*replaced)
                                : json::serialize(within_message_limit(std::move(body)));
            }
            std::array<http::exchange::header, 4> fields;
            std::size_t n = 0;
            if (!sid.empty() && (created || !init))
                fields[n++] = {"Mcp-Session-Id", sid};
            n += cors_fields(req, std::span(fields).subspan(n));
            co_await ex.respond(st, "application/json", text, std::span(fields.data(), n));
            co_return;
        }
        auto headers = sse_headers(req, sid);
        co_await ex.respond_sse(post->response, headers.view());
        // 2026-07-28: a client that closes a request's response stream cancels the request
        // (the way a subscriptions/listen ends). The ephemeral session holds only this POST's.
        if (s->ephemeral && post->remaining > 0)
            for (auto& [id, flight] : s->in_flight) {
                flight->cancelled = true;
                flight->signal.emit(asio::cancellation_type::terminal);
            }
    }

    // --- GET /mcp: the session's streams ------------------------------------------------

    asio::awaitable<void> open_stream(http::exchange& ex, http_route const& route,
                                      std::shared_ptr<session> const& s) {
        auto& req = ex.req();
        auto const& sid = route.session_id();
        if (fleet_) {
            // The stream serves the session as stored now (its subscriptions, its log level): a
            // change made elsewhere may still be on its way here.
            co_await disp.fresh_state(*s);
            if (s->ended) { // deleted meanwhile
                co_await ex.respond(
                    error_reply(req, status::not_found, -32001, "Session not found"));
                co_return;
            }
        }
        auto ws = wire_for(sid);
        auto conn = new_conn(ex.remote_address());
        std::shared_ptr<followed_stream> followed;
        if (auto const& from = route.resume_from()) {
            if (!fleet_) {
                resume_here(*ws, *from, conn);
                if (from->stream == 0)
                    attach_standalone(s, *ws, conn);
            } else {
                followed = co_await resume_in_fleet(s, *ws, *from, conn);
            }
        } else {
            attach_standalone(s, *ws, conn);
            prime(ws.get(), *ws->streams[standalone_no], s->state.protocol_version);
        }
        auto headers = sse_headers(req, sid);
        co_await ex.respond_sse(conn, headers.view());
        if (followed) {
            followed->done = true;
            followed->answer.cancel();
            if (auto it = following.find({sid, route.resume_from()->stream});
                it != following.end() && it->second == followed)
                following.erase(it);
        }
    }

    // A resume of this process's streams, from the memory store (one process).
    void resume_here(wire_session& ws, stream_position from,
                     std::shared_ptr<http::sse_stream> const& conn) {
        for (auto& [n, data] : events->replay(ws.id, from.stream, from.seq))
            push_event(*conn, ws.id, from.stream, n, std::move(data));
        auto it = ws.streams.find(from.stream);
        if (it != ws.streams.end() && !it->second->done) {
            if (it->second->conn && it->second->conn != conn)
                it->second->conn->close();
            it->second->conn = conn; // the rest of the stream comes here
        } else if (from.stream != 0) {
            conn->finish(); // that POST's answers are all in the replay
        }
    }

    void push_event(http::sse_stream& conn, std::string const& sid, std::uint64_t stream,
                    std::uint64_t seq, std::string data) {
        http::sse_event ev;
        ev.id = event_id(sid, stream, seq);
        ev.data = std::move(data);
        conn.push(ev);
    }

    // A resume in a fleet: the events from Redis, then the rest of the stream from whichever
    // instance has it. Returns the stream followed from another instance, if it is one.
    asio::awaitable<std::shared_ptr<followed_stream>>
    resume_in_fleet(std::shared_ptr<session> const& s, wire_session& ws, stream_position from,
                    std::shared_ptr<http::sse_stream> conn) {
        auto self = shared_from_this();
        auto wire = ws.shared_from_this();
        auto it = ws.streams.find(from.stream);
        if (it != ws.streams.end() && !it->second->done) {
            // Ours: what Redis has, then what was emitted meanwhile, then the stream goes on here.
            auto ls = it->second;
            if (ls->conn && ls->conn != conn)
                ls->conn->close();
            ls->conn = conn;
            ls->holding = true;
            auto stored = co_await fleet_->replay(ws.id, from.stream, from.seq);
            if (ls->conn != conn) // a later resume took the stream meanwhile
                co_return nullptr;
            ls->holding = false;
            if (!stored) {
                // Without what Redis holds, the held events would skip some: the client
                // comes back later instead.
                end_with_store_error(*conn, stored.error());
                ls->conn = nullptr;
                ls->held.clear();
                co_return nullptr;
            }
            auto last = push_all(*conn, ws.id, from.stream, from.seq, std::move(stored->events));
            push_all(*conn, ws.id, from.stream, last, std::exchange(ls->held, {}));
            if (ls->no == standalone_no && still_held(*s, wire))
                attach_standalone(s, *wire, conn);
            co_return nullptr;
        }
        auto stored = co_await fleet_->replay(ws.id, from.stream, from.seq);
        if (!stored) {
            end_with_store_error(*conn, stored.error());
            co_return nullptr;
        }
        if (!still_held(*s, wire)) { // ended (DELETE) while we read
            conn->finish();
            co_return nullptr;
        }
        if (standalone_in_fleet(from.stream)) {
            // A GET stream (another instance's, or ours from before): its events, then this
            // instance's GET stream takes over.
            push_all(*conn, ws.id, from.stream, from.seq, std::move(stored->events));
            attach_standalone(s, *wire, conn);
            co_return nullptr;
        }
        // A POST stream numbered by another instance may be running there even when Redis has
        // nothing of it yet (its first writes are on their way): its owner is asked all the same.
        bool const others = (from.stream >> 32) != fleet_->instance_number();
        if (stored->ended || stored->owner == fleet_->instance_id() ||
            (!stored->known && !others)) {
            // Every answer is stored (or the stream was ours and is over, or is unknown).
            push_all(*conn, ws.id, from.stream, from.seq, std::move(stored->events));
            conn->finish();
            co_return nullptr;
        }
        auto f = std::make_shared<followed_stream>(exec);
        f->conn = conn;
        // What is stored goes out now; the rest comes from the owner, or the owner is gone.
        auto answered = answered_ids(*stored);
        f->last = push_all(*conn, ws.id, from.stream, from.seq, std::move(stored->events));
        auto& slot = following[{ws.id, from.stream}];
        if (slot) { // the client came back while an older response still followed it
            slot->done = true;
            slot->answer.cancel();
            slot->conn->close();
        }
        slot = f;
        asio::co_spawn(exec, follow(ws.id, from.stream, f, std::move(*stored), std::move(answered)),
                       asio::detached);
        co_return f;
    }

    // Whether the session is still this process's, with this wire (not ended meanwhile).
    bool still_held(session const& s, std::shared_ptr<wire_session> const& wire) const {
        auto w = wires.find(wire->id);
        return !s.ended && w != wires.end() && w->second == wire;
    }

    static void end_with_store_error(http::sse_stream& conn, error const& e) {
        conn.push(http::sse_event{
            .data = json::serialize(protocol::make_error(
                nullptr, code::internal_error, "Event store unavailable: " + e.message()))});
        conn.finish();
    }

    // Pushes the events after `last` to `conn`; the last one pushed.
    std::uint64_t push_all(http::sse_stream& conn, std::string const& sid, std::uint64_t stream,
                           std::uint64_t last,
                           std::vector<std::pair<std::uint64_t, std::string>> batch) {
        for (auto& event : batch)
            if (event.first > last) {
                push_event(conn, sid, stream, event.first, std::move(event.second));
                last = event.first;
            }
        return last;
    }

    // Sends a followed stream's pending events that continue it without a gap; ends the
    // response once the owner's last event is out. Whether it ended.
    bool flush_followed(followed_stream& f, std::string const& sid, std::uint64_t stream) {
        while (!f.pending.empty() && f.pending.begin()->first <= f.last + 1) {
            auto node = f.pending.extract(f.pending.begin());
            if (node.key() == f.last + 1) {
                push_event(*f.conn, sid, stream, node.key(), std::move(node.mapped()));
                f.last = node.key();
            }
        }
        if (f.end_seq && f.last >= *f.end_seq) {
            f.conn->finish();
            return true;
        }
        return false;
    }

    // A POST stream of another instance, resumed here. Its owner is asked to forward the rest
    // (then the events come through from_fleet(), and this watches over them: Redis fills any
    // gap, and an owner that dies meanwhile is noticed); when the owner is dead, its requests
    // that have no answer get an error; when it does not answer, the response ends and the
    // client may come back.
    asio::awaitable<void> follow(std::string sid, std::uint64_t stream,
                                 std::shared_ptr<followed_stream> f, stored_stream first,
                                 std::unordered_set<std::string> answered) {
        auto self = shared_from_this();
        bool const owner_lives = co_await owner_may_live(first.owner);
        if (owner_lives) {
            fleet_->publish(sid, json::object{{"k", "attach"}, {"st", stream}});
            auto deadline = std::chrono::steady_clock::now() + fleet_attach_timeout;
            while (f->owner_reply == followed_stream::reply::none && !f->done &&
                   std::chrono::steady_clock::now() < deadline) {
                f->answer.expires_after(std::min<std::chrono::steady_clock::duration>(
                    std::chrono::milliseconds(25), deadline - std::chrono::steady_clock::now()));
                boost::system::error_code ec;
                co_await f->answer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                if (f->owner_reply != followed_stream::reply::none || f->done)
                    break;
                bool const may_live = co_await owner_may_live(first.owner);
                if (!may_live)
                    break;
            }
        }
        // Until the stream ends: what Redis has (every event the owner stored before it
        // answered, and any a message skipped), then a wait for the owner's next word.
        for (int round = 0;; ++round) {
            if (f->done)
                co_return; // the client left
            auto stored = co_await fleet_->replay(sid, stream, f->last);
            if (f->done)
                co_return;
            if (!stored) {
                end_with_store_error(*f->conn, stored.error());
                co_return;
            }
            if (!first.known && stored->known) {
                first.owner = stored->owner;
                first.request_ids = stored->request_ids;
            }
            answered.merge(answered_ids(*stored));
            f->last = push_all(*f->conn, sid, stream, f->last, std::move(stored->events));
            f->replayed = true;
            if (stored->ended || flush_followed(*f, sid, stream)) {
                f->conn->finish();
                co_return;
            }
            auto const reply = f->owner_reply;
            if (reply == followed_stream::reply::attached) {
                // The owner forwards; look again in a second (or when it says the end).
                f->answer.expires_after(std::chrono::seconds(1));
                boost::system::error_code ec;
                co_await f->answer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                if (f->done || f->end_seq)
                    continue;
                bool const may_live = co_await owner_may_live(first.owner);
                if (may_live)
                    continue;
            } else if (round < 20 &&
                       (reply == followed_stream::reply::gone || f->last + 1 < f->owner_next)) {
                // Its end (or events it stored before answering) is on the way to Redis.
                asio::steady_timer pause(exec, std::chrono::milliseconds(25));
                boost::system::error_code ec;
                co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                continue;
            }
            bool owner_dead = false;
            if (!first.owner.empty()) {
                bool const may_live = co_await owner_may_live(first.owner);
                owner_dead = !may_live;
            }
            if (!owner_dead) {
                // Unknown, or alive and silent: no answer is made up for it; the client may
                // come back (Last-Event-ID) and find what it stored by then.
                f->conn->finish();
                co_return;
            }
            break;
        }
        // The owner is dead: what it never answered gets an error, stored like its answers.
        std::size_t orphaned = 0;
        for (auto const& id_text : first.request_ids) {
            if (answered.contains(id_text))
                continue;
            boost::system::error_code ec;
            auto id = json::parse(id_text, ec);
            if (ec)
                continue;
            auto msg = json::serialize(protocol::make_error(
                id, code::internal_error,
                "The server instance that ran this request stopped before answering it (" +
                    first.owner + "); it may or may not have taken effect"));
            auto seq = ++f->last;
            fleet_->append(sid, stream, seq, msg);
            push_event(*f->conn, sid, stream, seq, std::move(msg));
            ++orphaned;
        }
        fleet_->end_stream(sid, stream, f->last);
        fleet_->count_orphaned(orphaned);
        if (orphaned > 0)
            log::warn("mcp: session {}: {} requests of stream {} were answered with an error: "
                      "their instance {} stopped before answering",
                      sid, orphaned, stream, first.owner);
        f->conn->finish();
    }

    // Whether an instance may still be alive: unknown ones, and when Redis cannot say, count as
    // alive (they get the attach timeout).
    asio::awaitable<bool> owner_may_live(std::string const& instance) {
        if (instance.empty())
            co_return true;
        auto alive = co_await fleet_->alive(instance);
        co_return !alive || *alive;
    }

    // The ids (as JSON text) of the answers among a stream's events.
    static std::unordered_set<std::string> answered_ids(stored_stream const& st) {
        std::unordered_set<std::string> out;
        for (auto const& [seq, data] : st.events) {
            boost::system::error_code ec;
            auto v = json::parse(data, ec);
            if (ec || !v.is_object())
                continue;
            auto const& o = v.get_object();
            auto const* id = o.if_contains("id");
            if (id != nullptr && (o.contains("result") || o.contains("error")))
                out.insert(json::serialize(*id));
        }
        return out;
    }

    // --- the fleet's messages ---------------------------------------------------------------

    duration fleet_attach_timeout = std::chrono::seconds(1);

    // Joins the fleet: what this process holds of a session is announced and followed there.
    void join_fleet() {
        if (!fleet_)
            return;
        standalone_no = fleet_->instance_number();
        next_fleet_stream = first_post_stream_in_fleet(fleet_->instance_number());
        disp.set_fleet(fleet_);
        disp.sessions().set_outgoing_id_base(
            static_cast<std::int64_t>(first_post_stream_in_fleet(fleet_->instance_number())));
        std::weak_ptr<impl> weak = shared_from_this();
        session_manager::hooks hooks;
        hooks.live = [weak](session& s) {
            auto self = weak.lock();
            if (!self)
                return;
            self->fleet_->watch(s.state.id);
            // Messages for the session's GET stream, when it is not here.
            s.elsewhere = [weak, id = s.state.id](json::object const& msg) {
                auto me = weak.lock();
                if (!me)
                    return false;
                me->fleet_->publish(id, json::object{{"k", "notify"}, {"m", msg}});
                return true;
            };
        };
        hooks.gone = [weak](std::string const& id) {
            if (auto self = weak.lock())
                self->fleet_->unwatch(id);
        };
        hooks.saved = [weak](session const& s) {
            if (auto self = weak.lock())
                self->fleet_->publish(s.state.id,
                                      json::object{{"k", "state"}, {"s", to_json(s.state)}});
        };
        disp.sessions().set_hooks(std::move(hooks));
        fleet_->on_message([weak](std::string const& sid, json::object const& msg) {
            if (auto self = weak.lock())
                self->from_fleet(sid, msg);
        });
    }

    void from_fleet(std::string const& sid, json::object const& msg) {
        if (disp.from_fleet(sid, msg) || sid.empty())
            return;
        auto const* kind = msg.if_contains("k");
        if (kind == nullptr || !kind->is_string())
            return;
        auto const& k = kind->get_string();
        auto number = [&msg](std::string_view field) -> std::uint64_t {
            auto const* v = msg.if_contains(field);
            if (v == nullptr)
                return 0;
            if (v->is_uint64())
                return v->get_uint64();
            return v->is_int64() && v->get_int64() > 0 ? static_cast<std::uint64_t>(v->get_int64())
                                                       : 0;
        };
        auto w = wires.find(sid);
        if (k == "notify") {
            // For the GET stream of the session, if it is here.
            auto const* m = msg.if_contains("m");
            if (auto s = disp.sessions().peek_live(sid); s && m != nullptr && m->is_object())
                s->send_local(m->get_object());
        } else if (k == "takeover") {
            // The client opened its GET stream on another instance: ours is done.
            if (w != wires.end())
                if (auto it = w->second->streams.find(standalone_no);
                    it != w->second->streams.end()) {
                    if (it->second->conn)
                        it->second->conn->close();
                    w->second->streams.erase(it);
                }
            if (auto s = disp.sessions().peek_live(sid))
                s->unsolicited = {};
        } else if (k == "end") {
            // DELETE on another instance.
            if (w != wires.end()) {
                auto ws = w->second;
                forget_wire(w);
                for (auto& [no, ls] : ws->streams)
                    if (ls->conn)
                        ls->conn->finish();
            }
            for (auto f = following.lower_bound({sid, 0});
                 f != following.end() && f->first.first == sid; ++f) {
                f->second->done = true;
                f->second->answer.cancel();
                f->second->conn->finish();
            }
            disp.sessions().forget(sid);
        } else if (k == "attach") {
            // A client resumed one of our POST streams elsewhere: forward its events there. Only
            // the stream's owner (its number says which) answers; the others hold nothing of it.
            auto stream = number("st");
            if ((stream >> 32) != fleet_->instance_number())
                return;
            std::shared_ptr<logical_stream> ls;
            if (w != wires.end())
                if (auto it = w->second->streams.find(stream); it != w->second->streams.end())
                    ls = it->second;
            if (!ls || ls->done) {
                fleet_->publish(sid, json::object{{"k", "gone"}, {"st", stream}});
                return;
            }
            ls->forwarded = true;
            if (ls->conn) {
                ls->conn->close();
                ls->conn = nullptr;
            }
            fleet_->publish(
                sid, json::object{{"k", "attached"}, {"st", stream}, {"next", ls->next_seq}});
        } else if (k == "attached" || k == "gone" || k == "ev" || k == "done") {
            auto f = following.find({sid, number("st")});
            if (f == following.end())
                return;
            auto& fs = *f->second;
            if (k == "attached" || k == "gone") {
                if (fs.owner_reply != followed_stream::reply::none)
                    return; // another follower's attach answered again
                fs.owner_reply = k == "attached" ? followed_stream::reply::attached
                                                 : followed_stream::reply::gone;
                fs.owner_next = number("next");
                fs.answer.cancel();
            } else if (k == "ev") {
                auto const* d = msg.if_contains("d");
                auto seq = number("q");
                if (d == nullptr || !d->is_string() || seq <= fs.last ||
                    fs.pending.size() >= opts.replay.events_per_stream)
                    return; // sent already, or a gap Redis fills (follow() reads it)
                fs.pending.emplace(seq, d->get_string());
                if (fs.replayed && flush_followed(fs, sid, number("st")))
                    fs.done = true;
            } else {
                fs.end_seq = number("last");
                if (fs.replayed && flush_followed(fs, sid, number("st")))
                    fs.done = true;
                fs.answer.cancel(); // follow() looks at Redis for whatever is missing
            }
        }
    }

    void attach_standalone(std::shared_ptr<session> const& s, wire_session& ws,
                           std::shared_ptr<http::sse_stream> conn) {
        auto& ls = ws.streams[standalone_no];
        if (!ls) {
            ls = std::make_shared<logical_stream>();
            ls->no = standalone_no;
            if (fleet_) {
                // Made again after a takeover or an idle spell: its events carry on after the
                // ones Redis still has (numbered from the time, 1,000 a millisecond).
                ls->next_seq = static_cast<std::uint64_t>(unix_time_ms()) * 1000;
                fleet_->open_standalone(ws.id, standalone_no);
            }
        }
        if (ls->conn && ls->conn != conn)
            ls->conn->close();
        ls->conn = std::move(conn);
        std::weak_ptr<impl> weak = shared_from_this();
        std::weak_ptr<wire_session> wws = wire_for(ws.id);
        s->unsolicited = [weak, wws](json::object const& msg) {
            auto self = weak.lock();
            auto w = wws.lock();
            if (!self || !w)
                return false;
            auto it = w->streams.find(self->standalone_no);
            if (it == w->streams.end())
                return false;
            self->emit(w.get(), *it->second, msg);
            return it->second->conn && it->second->conn->is_open();
        };
        // The others stop holding a GET stream of the session: messages go to this one.
        if (fleet_)
            fleet_->publish(ws.id, json::object{{"k", "takeover"}});
    }

    // --- legacy HTTP+SSE ------------------------------------------------------------------

    asio::awaitable<void> legacy_stream(http::exchange& ex, std::shared_ptr<session> s) {
        auto& req = ex.req();
        auto ws = wire_for(s->state.id);
        ws->legacy = true;
        auto conn = new_conn(ex.remote_address());
        auto& ls = ws->streams[0];
        ls = std::make_shared<logical_stream>();
        ls->conn = conn;
        std::weak_ptr<http::sse_stream> wconn = conn;
        s->unsolicited = [self = shared_from_this(), ws](json::object const& msg) {
            auto it = ws->streams.find(0);
            if (it == ws->streams.end() || !it->second->conn || !it->second->conn->is_open())
                return false;
            self->emit(ws.get(), *it->second, msg);
            return true;
        };
        http::sse_event endpoint;
        endpoint.event = "endpoint";
        endpoint.data = "/messages?sessionId=" + s->state.id;
        conn->push(endpoint);
        auto headers = sse_headers(req, {});
        co_await ex.respond_sse(conn, headers.view());
        // The stream is the session: when it ends, so does the session.
        co_await end_session(s->state.id);
    }

    asio::awaitable<void> legacy_post(http::exchange& ex, http_route& route,
                                      std::shared_ptr<session> s) {
        auto& req = ex.req();
        auto ws = wire_for(s->state.id);
        auto messages = route.take_messages();
        auto res = http::make_response(status::accepted, "Accepted");
        cors(req, res);
        co_await ex.respond(std::move(res));
        // Answers travel on the session's SSE stream.
        auto self = shared_from_this();
        message_sink to_stream = [self, ws](json::object const& msg) {
            auto st = ws->streams.find(0);
            if (st == ws->streams.end())
                return false;
            self->emit(ws.get(), *st->second, msg);
            return true;
        };
        for (auto& m : messages) {
            if (auto* r = std::get_if<protocol::request>(&m)) {
                // Counted before it is spawned: a drain must not see zero in between.
                ++in_flight;
                auto task = [self, s, to_stream, rid = ex.request_id(),
                             r = std::move(*r)]() mutable -> asio::awaitable<void> {
                    std::optional<json::object> response;
                    try {
                        response =
                            co_await self->disp.handle_request(s, std::move(r), to_stream, rid);
                    } catch (std::exception const& e) {
                        response = protocol::make_error(r.id, code::internal_error, e.what());
                    }
                    --self->in_flight;
                    if (response)
                        to_stream(*response);
                };
                asio::co_spawn(ex.executor(), std::move(task), asio::detached);
            } else if (auto reply = co_await disp.handle_non_request(s, std::move(m))) {
                to_stream(*reply);
            }
        }
    }

    // --- routing (http_route.hpp decides; this does what it asks) --------------------------

    [[nodiscard]] bool serves(std::string_view path) const noexcept {
        return path == opts.endpoint ||
               (opts.legacy_sse && (path == "/sse" || path == "/messages"));
    }

    // A refusal as the client reads it: a JSON-RPC error, a text, or nothing (202).
    http::response refusal_reply(http::server_request const& req, refusal const& r) {
        auto res = r.code != 0
                       ? http::make_response(
                             r.status,
                             json::serialize(protocol::make_error(r.id, r.code, r.message, r.data)),
                             "application/json")
                       : http::make_response(r.status, r.message);
        if (r.cors)
            cors(req, res);
        if (!r.allow.empty())
            res.set("Allow", r.allow);
        return res;
    }

    http::response preflight(http::server_request const& req) {
        auto res = http::make_response(status::no_content, "");
        cors(req, res);
        res.set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
        res.set("Access-Control-Allow-Headers",
                "Content-Type, Accept, Authorization, Mcp-Session-Id, MCP-Protocol-Version, "
                "Last-Event-ID, Mcp-Method, Mcp-Name");
        return res;
    }

    // What the transport knows of the session a route names: live here (no coroutine: most
    // requests), else from the store; `s` is set when found.
    asio::awaitable<session_facts> find_session(std::string const& id, std::shared_ptr<session>& s,
                                                std::string& store_error) {
        session_facts facts;
        s = disp.sessions().find_live(id);
        if (!s) {
            auto found = co_await disp.sessions().find(id);
            if (!found) {
                store_error = found.error().message();
                facts.what = session_facts::outcome::store_failed;
                facts.store_error = store_error;
                co_return facts;
            }
            s = *found;
        }
        if (!s || s->ended) {
            facts.what = session_facts::outcome::unknown;
            co_return facts;
        }
        facts.what = session_facts::outcome::found;
        facts.protocol_version = s->state.protocol_version;
        if (auto w = wires.find(id); w != wires.end()) {
            facts.legacy = w->second->legacy;
            auto standalone = w->second->streams.find(standalone_no);
            facts.stream_open = standalone != w->second->streams.end() &&
                                standalone->second->conn && standalone->second->conn->is_open();
        }
        co_return facts;
    }

    asio::awaitable<void> handle(http::exchange& ex) {
        auto self = shared_from_this(); // the transport may be destroyed while a request runs
        auto& req = ex.req();
        route_settings settings{opts.endpoint,
                                opts.legacy_sse,
                                &opts.origins,
                                draining,
                                opts.body,
                                opts.parse_on_loop_bytes,
                                budget_of(ex.remote_address())};
        http_route route(settings, req);
        std::shared_ptr<session> s;
        std::string failure; // the store's or the session manager's, while the route reads it
        bool created = false;
        for (auto step = route.start();;) {
            switch (step) {
            case route_step::respond:
                if (auto const* limit = route.refused_by_budget())
                    limit_hits.hit(limit);
                co_await ex.respond(refusal_reply(req, route.refused()));
                co_return;
            case route_step::preflight:
                co_await ex.respond(preflight(req));
                co_return;
            case route_step::parse_body: {
                auto limits = route.body_limits();
                auto parsed = co_await parser.run(
                    [&req, limits] { return protocol::parse_body(req.body(), limits); });
                step = route.body_parsed(std::move(parsed));
                break;
            }
            case route_step::find_session: {
                auto facts = co_await find_session(route.session_id(), s, failure);
                step = route.session_found(facts);
                break;
            }
            case route_step::create_session: {
                auto made = disp.sessions().create();
                if (made) {
                    s = *made;
                    created = true;
                    auto w = wire_for(s->state.id);
                    w->client = ex.remote_address();
                    clients->add(w->client, client_tally::kind::sessions);
                } else {
                    limit_hits.hit("max-sessions");
                    failure = made.error().detail;
                }
                step = route.session_created(failure);
                break;
            }
            case route_step::serve_stateless:
                s = dispatcher::stateless_session(*route.stateless_request());
                s->client = ex.remote_address();
                co_await serve_post(ex, route, std::move(s), false);
                co_return;
            case route_step::serve_post:
                co_await serve_post(ex, route, std::move(s), created);
                co_return;
            case route_step::open_stream:
                co_await open_stream(ex, route, s);
                co_return;
            case route_step::end_session: {
                co_await end_session(route.session_id());
                auto res = http::make_response(status::ok, "");
                cors(req, res);
                co_await ex.respond(std::move(res));
                co_return;
            }
            case route_step::open_legacy_stream:
                co_await legacy_stream(ex, std::move(s));
                co_return;
            case route_step::serve_legacy_post:
                co_await legacy_post(ex, route, std::move(s));
                co_return;
            }
        }
    }
};

http_transport::http_transport(dispatcher& d, http_transport_options opts, asio::any_io_executor ex)
    : impl_(std::make_shared<impl>(d, std::move(opts), std::move(ex))) {
    impl_->join_fleet();
    impl_->start_keepalive();
}

http_transport::~http_transport() {
    impl_->stopped = true;
    impl_->keepalive.cancel();
}

asio::awaitable<void> http_transport::handle(http::exchange& ex) {
    return impl_->handle(ex); // not a coroutine of its own: one frame less per request
}

bool http_transport::serves(std::string_view path) const noexcept {
    return impl_->serves(path);
}

void http_transport::stop_accepting() {
    impl_->draining = true;
    impl_->disp.end_listens(); // their requests answer now, not at the drain timeout
}

void http_transport::set_metrics(metrics::registry& reg) {
    impl_->limit_hits.attach(reg);
}

std::size_t http_transport::replay_bytes() const noexcept {
    return impl_->fleet_ ? impl_->fleet_->bytes() : impl_->events->bytes();
}
std::uint64_t http_transport::replay_dropped() const noexcept {
    return impl_->fleet_ ? impl_->fleet_->dropped() : impl_->events->dropped();
}

void http_transport::close_streams() {
    auto open = impl_->open;
    for (auto const& c : open)
        c->finish();
}

std::size_t http_transport::open_streams() const noexcept {
    return impl_->open.size();
}
std::size_t http_transport::in_flight() const noexcept {
    return impl_->in_flight;
}

} // namespace mcpd::server
