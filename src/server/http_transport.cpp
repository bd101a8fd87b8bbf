// server/http_transport.cpp — Streamable HTTP and legacy HTTP+SSE. See http_transport.hpp.
//
// Per MCP session this process keeps a `wire_session`: its numbered logical streams (0 is the
// standalone GET stream; each POST with requests gets the next number), each with the
// sequence of its events and the HTTP response currently attached to it, if any. Events go to
// the event store first, then to the attached response; a client that reconnects with
// Last-Event-ID gets the rest from the store and the stream's future events.
#include "server/http_transport.hpp"

#include "core/ascii.hpp"
#include "core/duration.hpp"
#include "core/log.hpp"
#include "protocol/jsonrpc.hpp"
#include "protocol/version.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <span>
#include <unordered_map>
#include <unordered_set>

namespace mcpd::server {

namespace json = boost::json;
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using http::status;
namespace code = protocol::code;

// ---------------------------------------------------------------------------------------------
// In-memory event store

namespace {

class memory_event_store final : public event_store {
public:
    memory_event_store(std::size_t max_events, std::size_t max_streams)
        : max_events_(max_events)
        , max_streams_(max_streams) {}
    void append(std::string const& session, std::uint64_t stream, std::uint64_t seq,
                std::string data) override {
        auto& streams = sessions_[session];
        // Every POST opens a stream: a long session keeps only its newest ones (and stream 0,
        // the GET stream), else their events would pile up until the session ends.
        if (stream != 0 && !streams.contains(stream)) {
            while (streams.size() - streams.count(0) >= max_streams_)
                streams.erase(streams.upper_bound(0));
        }
        streams[stream].add(seq, std::move(data), max_events_);
    }
    std::vector<std::pair<std::uint64_t, std::string>>
    replay(std::string const& session, std::uint64_t stream, std::uint64_t after) override {
        std::vector<std::pair<std::uint64_t, std::string>> out;
        auto s = sessions_.find(session);
        if (s == sessions_.end())
            return out;
        auto q = s->second.find(stream);
        if (q == s->second.end())
            return out;
        for (auto const& e : q->second.live())
            if (e.first > after)
                out.push_back(e);
        return out;
    }
    void forget_session(std::string const& session) override { sessions_.erase(session); }

private:
    // One stream's newest events, oldest first. A vector whose front is dropped by moving a
    // start index (and compacted once half of it is dropped): a POST's stream holds one or two
    // events, and a std::deque made two allocations of ~0.5 KB for each.
    struct kept_events {
        std::vector<std::pair<std::uint64_t, std::string>> events;
        std::size_t first = 0; // events before it are dropped

        void add(std::uint64_t seq, std::string data, std::size_t max) {
            events.emplace_back(seq, std::move(data));
            while (events.size() - first > max)
                events[first++].second = std::string{}; // its memory goes now
            if (first > 16 && first * 2 > events.size()) {
                events.erase(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(first));
                first = 0;
            }
        }
        [[nodiscard]] std::span<std::pair<std::uint64_t, std::string> const> live() const {
            return std::span(events).subspan(first);
        }
    };

    std::size_t max_events_;
    std::size_t max_streams_;
    std::unordered_map<std::string, std::map<std::uint64_t, kept_events>> sessions_;
};

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
        v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
        v.remove_suffix(1);
    return v;
}

// Whether an Accept header lists a media type (or a wildcard covering it).
bool accepts(std::string_view accept, std::string_view type) {
    auto family = type.substr(0, type.find('/') + 1); // "text/" of "text/event-stream"
    while (!accept.empty()) {
        auto comma = accept.find(',');
        auto item = trim(accept.substr(0, comma));
        item = trim(item.substr(0, item.find(';')));
        // Media types are case-insensitive (RFC 9110 8.3.1).
        if (iequals(item, type) || item == "*/*" ||
            (item.size() == family.size() + 1 && item.back() == '*' && istarts_with(item, family)))
            return true;
        if (comma == std::string_view::npos)
            break;
        accept.remove_prefix(comma + 1);
    }
    return false;
}

// "=?base64?<b64>?=" header values (2026-07-28) decode to their UTF-8 text.
std::optional<std::string> decode_header_value(std::string_view v) {
    v = trim(v);
    constexpr std::string_view pre = "=?base64?", post = "?=";
    if (v.size() < pre.size() + post.size() || v.substr(0, pre.size()) != pre ||
        v.substr(v.size() - post.size()) != post)
        return std::string(v);
    auto b64 = v.substr(pre.size(), v.size() - pre.size() - post.size());
    if (b64.size() % 4 != 0)
        return std::nullopt;
    for (char c : b64)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '='))
            return std::nullopt;
    std::string out(boost::beast::detail::base64::decoded_size(b64.size()), '\0');
    auto [written, read] = boost::beast::detail::base64::decode(out.data(), b64.data(), b64.size());
    if (read != b64.size())
        return std::nullopt;
    out.resize(written);
    return out;
}

// A request header's value as quoted in an error message: bytes outside printable ASCII become
// '?', so that the JSON reply stays valid UTF-8 whatever the client sent (found by
// http_request_fuzz: a Host header with bytes >= 0x80 made the 403 body invalid JSON).
std::string printable(std::string_view header_value) {
    std::string out(header_value);
    for (char& c : out)
        if (c < 0x20 || c > 0x7e)
            c = '?';
    return out;
}

bool is_session_version(std::string_view v) {
    return protocol::is_supported(v) && !protocol::is_stateless(v);
}

} // namespace

std::unique_ptr<event_store> make_memory_event_store(std::size_t max_events_per_stream,
                                                     std::size_t max_streams_per_session) {
    return std::make_unique<memory_event_store>(max_events_per_stream,
                                                std::max<std::size_t>(1, max_streams_per_session));
}

// ---------------------------------------------------------------------------------------------

struct logical_stream {
    std::uint64_t no = 0;
    std::uint64_t next_seq = 1;
    std::shared_ptr<http::sse_stream> conn; // the HTTP response it is written to now, if any
    bool done = false;                      // a POST stream whose answers have all been sent
};

// Stream numbers start from this process's start time in milliseconds (times 1000), so an
// event id from before a restart never names a stream of the restarted process.
std::uint64_t first_stream_number() {
    static std::uint64_t const first = static_cast<std::uint64_t>(unix_time_ms()) * 1000;
    return first;
}

struct wire_session {
    std::string id;
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
};

struct http_transport::impl : std::enable_shared_from_this<impl> {
    impl(dispatcher& d, http_transport_options o, asio::any_io_executor e)
        : disp(d)
        , opts(std::move(o))
        , exec(std::move(e))
        , events(make_memory_event_store(opts.events_per_stream, opts.streams_per_session))
        , keepalive(exec) {}

    dispatcher& disp;
    http_transport_options opts;
    asio::any_io_executor exec;
    std::unique_ptr<event_store> events;
    std::unordered_map<std::string, std::shared_ptr<wire_session>> wires;
    std::unordered_set<std::shared_ptr<http::sse_stream>> open;
    asio::steady_timer keepalive;
    bool draining = false;
    bool stopped = false;
    std::size_t in_flight = 0;
    std::size_t sse_max_buffered = 1024 * 1024;
    std::string event_id_buffer; // event_id()'s: one for every event written

    // --- responses --------------------------------------------------------------------------

    http::response json_reply(http::server_request const& req, status s, json::value const& body) {
        auto res = http::make_response(s, json::serialize(body), "application/json");
        cors(req, res);
        return res;
    }
    http::response error_reply(http::server_request const& req, status s, int c,
                               std::string_view msg, json::value id = nullptr,
                               json::value data = nullptr) {
        return json_reply(req, s, protocol::make_error(id, c, msg, std::move(data)));
    }
    // A page in a browser (a request with an Origin, already allowed) may read the answer and
    // its session id: the fields that say so, written to `out` (room for 3); how many.
    static std::size_t cors_fields(http::server_request const& req,
                                   std::span<http::exchange::field> out) {
        auto origin = req[bhttp::field::origin];
        if (origin.empty())
            return 0;
        out[0] = {"Access-Control-Allow-Origin", origin};
        out[1] = {"Access-Control-Expose-Headers", "Mcp-Session-Id"};
        out[2] = {"Vary", "Origin"};
        return 3;
    }
    void cors(http::server_request const& req, http::response& res) {
        std::array<http::exchange::field, 3> fields;
        auto n = cors_fields(req, fields);
        for (std::size_t i = 0; i < n; ++i)
            res.set(fields[i].first, fields[i].second);
    }
    // The fields of an SSE answer (views into `req` and `session_id`, which must outlive them),
    // in place: every SSE answer has them.
    struct sse_fields {
        std::array<http::exchange::field, 5> all;
        std::size_t count = 0;
        [[nodiscard]] std::span<http::exchange::field const> view() const {
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

    std::shared_ptr<http::sse_stream> new_conn() {
        auto conn = std::make_shared<http::sse_stream>(exec, sse_max_buffered);
        open.insert(conn);
        std::weak_ptr<impl> weak = shared_from_this();
        std::weak_ptr<http::sse_stream> wconn = conn;
        conn->on_end([weak, wconn] {
            if (auto self = weak.lock())
                if (auto c = wconn.lock())
                    self->open.erase(c);
        });
        return conn;
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

    // Writes a message as the next event of `ls` (sent if attached, then stored for replay).
    void emit(wire_session* ws, logical_stream& ls, json::object const& msg) {
        http::sse_event ev;
        ev.data = json::serialize(msg);
        std::uint64_t seq = 0;
        bool const stored = ws != nullptr && !ws->legacy;
        if (stored) {
            seq = ls.next_seq++;
            ev.id = event_id(ws->id, ls.no, seq);
        }
        if (ws != nullptr && ws->legacy)
            ev.event = "message";
        if (ls.conn && ls.conn->is_open())
            ls.conn->push(ev);
        if (stored)
            events->append(ws->id, ls.no, seq, std::move(ev.data));
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
            auto it = wires.find(id);
            if (it == wires.end())
                return false;
            for (auto const& [no, ls] : it->second->streams)
                if (ls->conn && ls->conn->is_open())
                    return true;
            return it->second->in_flight > 0;
        };
        for (auto const& id : disp.sessions().forget_idle(opts.session_idle_timeout, held)) {
            wires.erase(id);
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
            wires.erase(it);
            for (auto& [no, ls] : w->streams)
                if (ls->conn)
                    ls->conn->finish();
        }
        events->forget_session(id);
        auto r = co_await disp.sessions().end(id);
        if (!r)
            log::warn("mcp: ending session {}: {}", id, r.error().message());
    }

    // --- checks shared by every endpoint --------------------------------------------------

    std::optional<http::response> check_origin(http::server_request const& req) {
        // No CORS headers on a refusal: the refused page must not read it either.
        auto refuse = [&req](std::string const& message) {
            auto body = protocol::make_error(nullptr, code::connection_closed, message);
            return http::make_response(status::forbidden, json::serialize(body),
                                       "application/json");
        };
        auto host = req[bhttp::field::host];
        if (!http::host_allowed(opts.origins, host))
            return refuse("Forbidden: Host header \"" + printable(host) + "\" is not allowed");
        auto origin = req[bhttp::field::origin];
        if (!http::origin_allowed(opts.origins, origin))
            return refuse("Forbidden: Origin \"" + printable(origin) + "\" is not allowed");
        return std::nullopt;
    }

    // --- POST /mcp ------------------------------------------------------------------------

    // The stateless checks of 2026-07-28 (headers against _meta, revision); the error to send.
    std::optional<protocol::error_response> check_stateless(http::server_request const& req,
                                                            protocol::request const& r) {
        auto err = [&](int c, std::string msg, json::value data = nullptr) {
            return protocol::error_response{r.id, c, std::move(msg), std::move(data)};
        };
        auto const* meta = r.params.if_contains("_meta");
        if (meta == nullptr || !meta->is_object())
            return err(code::invalid_params, "Invalid params: \"_meta\" is required");
        auto const& m = meta->get_object();
        auto const* v = m.if_contains("io.modelcontextprotocol/protocolVersion");
        if (v == nullptr || !v->is_string())
            return err(
                code::invalid_params,
                "Invalid params: _meta[\"io.modelcontextprotocol/protocolVersion\"] is required");
        auto const* caps = m.if_contains("io.modelcontextprotocol/clientCapabilities");
        if (caps == nullptr || !caps->is_object())
            return err(code::invalid_params,
                       "Invalid params: "
                       "_meta[\"io.modelcontextprotocol/clientCapabilities\"] "
                       "is required");
        std::string_view version = v->get_string();
        auto header = trim(req["MCP-Protocol-Version"]);
        if (header.empty())
            return err(-32020, "Missing MCP-Protocol-Version header");
        if (header != version)
            return err(-32020, "Header mismatch: MCP-Protocol-Version header value '" +
                                   printable(header) + "' does not match _meta value '" +
                                   std::string(version) + "'");
        if (!protocol::is_stateless(version) || !protocol::is_supported(version)) {
            json::array supported;
            supported.emplace_back(protocol::v2026_07_28);
            json::object data{{"supported", std::move(supported)}, {"requested", version}};
            return err(-32022, "Unsupported protocol version: " + std::string(version),
                       std::move(data));
        }
        auto method_header = req["Mcp-Method"];
        auto method = decode_header_value(method_header);
        if (method_header.empty() || !method || *method != r.method)
            return err(-32020, "Header mismatch: Mcp-Method header must equal the method \"" +
                                   r.method + "\"");
        std::string_view name_field = r.method == "resources/read" ? "uri" : "name";
        if (r.method == "tools/call" || r.method == "prompts/get" || r.method == "resources/read") {
            auto const* body_name = r.params.if_contains(name_field);
            auto name_header = req["Mcp-Name"];
            auto name = decode_header_value(name_header);
            if (name_header.empty() || !name || body_name == nullptr || !body_name->is_string() ||
                *name != std::string_view(body_name->get_string()))
                return err(-32020, "Header mismatch: Mcp-Name header must equal params." +
                                       std::string(name_field));
        }
        return std::nullopt;
    }

    static status stateless_status(json::object const& response) {
        auto const* e = response.if_contains("error");
        if (e == nullptr || !e->is_object())
            return status::ok;
        auto const* c = e->get_object().if_contains("code");
        if (c == nullptr || !c->is_int64())
            return status::ok;
        auto v = c->get_int64();
        if (v == code::method_not_found)
            return status::not_found;
        if (v == -32020 || v == -32021 || v == -32022)
            return status::bad_request;
        return status::ok;
    }

    // Switches a POST to SSE: a logical stream, attached to a new response.
    void start_sse(post_state& post, wire_session* ws, std::string_view version) {
        auto ls = std::make_shared<logical_stream>();
        if (ws != nullptr) {
            ls->no = ws->next_stream++;
            ws->streams[ls->no] = ls;
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

    void answered(post_state& post, wire_session* ws, std::optional<json::object> response) {
        if (response) {
            if (post.stream)
                emit(ws, *post.stream, *response);
            else
                post.responses.push_back(std::move(*response));
        }
        if (--post.remaining == 0) {
            if (post.stream) {
                post.stream->done = true;
                if (post.stream->conn)
                    post.stream->conn->finish();
                if (ws != nullptr)
                    ws->streams.erase(post.stream->no); // replay stays possible from the store
            }
            post.wake.notify();
        }
    }

    // A POST's Content-Type and Accept: the refusal, or nothing when both are right.
    std::optional<http::response> check_post_headers(http::server_request const& req) {
        auto ctype = req[bhttp::field::content_type];
        if (!accepts(ctype, "application/json") || ctype.find('*') != std::string_view::npos)
            return error_reply(req, status::unsupported_media_type, code::connection_closed,
                               "Unsupported Media Type: Content-Type must be application/json");
        auto accept = req[bhttp::field::accept];
        if (!accepts(accept, "application/json") || !accepts(accept, "text/event-stream"))
            return error_reply(req, status::not_acceptable, code::connection_closed,
                               "Not Acceptable: Accept must list application/json and "
                               "text/event-stream");
        return std::nullopt;
    }

    asio::awaitable<void> post(http::exchange& ex) {
        auto& req = ex.req();
        // Answers other than the requests' own (refusals, 202) go out from this one variable: a
        // `co_await ex.respond(error_reply(…))` per case kept each case's Beast message in the
        // coroutine frame (5.9 KB, too big for Asio to recycle: allocated on every POST).
        std::optional<http::response> reply;
        protocol::parsed_body parsed;
        std::string session_header;
        protocol::request const* init = nullptr;
        std::shared_ptr<session> s;
        std::shared_ptr<wire_session> ws;
        bool created = false;
        std::string version;
        do {
            reply = check_post_headers(req);
            if (reply)
                break;
            parsed = protocol::parse_body(req.body());
            if (parsed.fatal) {
                reply = json_reply(req, status::bad_request, to_json(*parsed.fatal));
                break;
            }
            // A body that is one message, and not JSON-RPC, is refused as a whole whatever its
            // session headers say: there is nothing to serve, and "session required" would hide
            // why.
            if (!parsed.batch && parsed.messages.size() == 1)
                if (auto const* bad = std::get_if<protocol::invalid>(&parsed.messages.front())) {
                    reply = json_reply(req, status::bad_request, to_json(bad->reply));
                    break;
                }

            session_header = trim(req["Mcp-Session-Id"]);
            auto version_header = trim(req["MCP-Protocol-Version"]);
            for (auto const& m : parsed.messages)
                if (auto const* r = std::get_if<protocol::request>(&m);
                    r != nullptr && r->method == "initialize")
                    init = r;

            // Stateless (2026-07-28): no session, and the request names a modern revision in
            // its _meta or its MCP-Protocol-Version header. Checked first: a modern
            // `initialize` is a method that no longer exists, not the start of a session.
            bool legacy_header = !version_header.empty() && is_session_version(version_header);
            if (session_header.empty() && !parsed.batch && parsed.messages.size() == 1) {
                auto const& m = parsed.messages.front();
                if (auto const* r = std::get_if<protocol::request>(&m)) {
                    auto const* meta = r->params.if_contains("_meta");
                    bool has_meta =
                        meta != nullptr && meta->is_object() &&
                        meta->get_object().contains("io.modelcontextprotocol/protocolVersion");
                    if (has_meta || (!version_header.empty() && !legacy_header)) {
                        if (auto bad = check_stateless(req, *r)) {
                            auto st = bad->code == code::invalid_params || bad->code <= -32020
                                          ? status::bad_request
                                          : status::ok;
                            reply = json_reply(req, st, to_json(*bad));
                            break;
                        }
                        s = dispatcher::stateless_session(*r);
                        s->client = ex.remote_address();
                        init = nullptr;
                    }
                } else if (std::holds_alternative<protocol::notification>(m) &&
                           !version_header.empty() && !legacy_header) {
                    reply = http::make_response(status::accepted, "");
                    break;
                }
            }
            if (s) {
                // stateless: served below without a session
            } else if (!session_header.empty()) {
                // A live session without a coroutine (most requests); else the store's answer.
                s = disp.sessions().find_live(session_header);
                if (!s) {
                    auto found = co_await disp.sessions().find(session_header);
                    if (!found) {
                        reply =
                            error_reply(req, status::service_unavailable, code::internal_error,
                                        "Session store unavailable: " + found.error().message());
                        break;
                    }
                    s = *found;
                }
                if (!s || s->ended) {
                    reply = error_reply(req, status::not_found, -32001, "Session not found");
                    break;
                }
                if (!version_header.empty() && !is_session_version(version_header)) {
                    reply = error_reply(req, status::bad_request, code::connection_closed,
                                        "Bad Request: Unsupported protocol version: " +
                                            printable(version_header));
                    break;
                }
                ws = wire_for(s->state.id);
            } else if (init != nullptr) {
                if (draining) {
                    reply = error_reply(req, status::service_unavailable, code::connection_closed,
                                        "Server is shutting down: no new sessions");
                    break;
                }
                if (parsed.messages.size() > 1) {
                    reply = error_reply(req, status::bad_request, code::invalid_request,
                                        "Invalid Request: initialize must be sent alone");
                    break;
                }
                auto made = disp.sessions().create();
                if (!made) {
                    reply = error_reply(req, status::service_unavailable, code::connection_closed,
                                        made.error().message());
                    break;
                }
                s = *made;
                ws = wire_for(s->state.id);
                created = true;
            }
            if (!s) {
                reply = error_reply(req, status::bad_request, code::connection_closed,
                                    "Bad Request: Mcp-Session-Id header is required");
                break;
            }

            version =
                init != nullptr
                    ? std::string(protocol::negotiate(
                          init->params.contains("protocolVersion") &&
                                  init->params.at("protocolVersion").is_string()
                              ? std::string_view(init->params.at("protocolVersion").get_string())
                              : std::string_view{}))
                    : s->state.protocol_version;
            if (parsed.batch && !protocol::allows_batches(version)) {
                reply = error_reply(req, status::bad_request, code::invalid_request,
                                    "Invalid Request: batches are not part of protocol "
                                    "revision " +
                                        version);
                break;
            }
        } while (false);
        if (reply) {
            co_await ex.respond(std::move(*reply));
            co_return;
        }

        auto post = std::make_shared<post_state>(ex.executor());
        post->batch = parsed.batch;
        std::vector<protocol::request> requests;
        for (auto& m : parsed.messages) {
            if (auto* r = std::get_if<protocol::request>(&m))
                requests.push_back(std::move(*r));
            else if (auto answer = co_await disp.handle_non_request(s, std::move(m)))
                post->responses.push_back(std::move(*answer));
        }
        if (requests.empty() && post->responses.empty()) {
            reply = http::make_response(status::accepted, "");
            cors(req, *reply);
        } else if (ws && ws->in_flight + requests.size() > opts.max_in_flight_per_session) {
            reply = error_reply(req, status::too_many_requests, code::connection_closed,
                                "Too many requests in flight for this session");
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
                if (ws)
                    --ws->in_flight;
                --self->in_flight;
                self->answered(*post, ws.get(), std::move(response));
            };
            auto& slot_signal = flight->signal;
            asio::co_spawn(ex.executor(), std::move(task),
                           asio::bind_cancellation_slot(slot_signal.slot(), asio::detached));
        }
        if (requests.empty())
            post->remaining = 0;

        while (post->remaining > 0 && !post->stream)
            co_await post->wake.wait();

        if (created && init != nullptr && s->state.protocol_version.empty()) {
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
            // Written straight out: the answer to most POSTs.
            auto text = json::serialize(body);
            std::array<http::exchange::field, 4> fields;
            std::size_t n = 0;
            if (!sid.empty() && (created || init == nullptr))
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

    // --- GET /mcp -------------------------------------------------------------------------

    asio::awaitable<void> get(http::exchange& ex) {
        auto& req = ex.req();
        if (!accepts(req[bhttp::field::accept], "text/event-stream")) {
            co_await ex.respond(error_reply(req, status::not_acceptable, code::connection_closed,
                                            "Not Acceptable: Accept must list text/event-stream"));
            co_return;
        }
        std::string sid(trim(req["Mcp-Session-Id"]));
        if (sid.empty()) {
            auto res = error_reply(req, status::method_not_allowed, code::connection_closed,
                                   "Method Not Allowed: GET needs an Mcp-Session-Id (stateless "
                                   "servers have no GET stream)");
            res.set(bhttp::field::allow, "POST, GET, DELETE");
            co_await ex.respond(std::move(res));
            co_return;
        }
        auto found = co_await disp.sessions().find(sid);
        if (!found) {
            co_await ex.respond(
                error_reply(req, status::service_unavailable, code::internal_error,
                            "Session store unavailable: " + found.error().message()));
            co_return;
        }
        auto s = *found;
        if (!s || s->ended) {
            co_await ex.respond(error_reply(req, status::not_found, -32001, "Session not found"));
            co_return;
        }
        if (draining) {
            co_await ex.respond(error_reply(req, status::service_unavailable,
                                            code::connection_closed,
                                            "Server is shutting down: no new streams"));
            co_return;
        }
        auto ws = wire_for(sid);
        auto last = trim(req["Last-Event-ID"]);
        auto conn = new_conn();
        if (!last.empty()) {
            // "<session>.<stream>.<seq>": replay that stream only.
            auto d1 = last.find('.');
            auto d2 = last.rfind('.');
            std::uint64_t stream_no = 0, seq = 0;
            bool ok = d1 != std::string_view::npos && d2 != d1 && last.substr(0, d1) == sid;
            if (ok) {
                auto a = last.substr(d1 + 1, d2 - d1 - 1), b = last.substr(d2 + 1);
                ok = std::from_chars(a.data(), a.data() + a.size(), stream_no).ec == std::errc{} &&
                     std::from_chars(b.data(), b.data() + b.size(), seq).ec == std::errc{};
            }
            if (!ok) {
                conn->close();
                co_await ex.respond(error_reply(req, status::bad_request, code::connection_closed,
                                                "Bad Request: Last-Event-ID does not belong to "
                                                "this session"));
                co_return;
            }
            for (auto& [n, data] : events->replay(sid, stream_no, seq)) {
                http::sse_event ev;
                ev.id = event_id(sid, stream_no, n);
                ev.data = std::move(data);
                conn->push(ev);
            }
            auto it = ws->streams.find(stream_no);
            if (it != ws->streams.end() && !it->second->done) {
                if (it->second->conn && it->second->conn != conn)
                    it->second->conn->close();
                it->second->conn = conn; // the rest of the stream comes here
            } else if (stream_no != 0) {
                conn->finish(); // that POST's answers are all in the replay
            }
            if (stream_no == 0)
                attach_standalone(s, *ws, conn);
        } else {
            auto it = ws->streams.find(0);
            if (it != ws->streams.end() && it->second->conn && it->second->conn->is_open()) {
                conn->close();
                co_await ex.respond(error_reply(req, status::conflict, code::connection_closed,
                                                "Conflict: this session already has a GET stream"));
                co_return;
            }
            attach_standalone(s, *ws, conn);
            prime(ws.get(), *ws->streams[0], s->state.protocol_version);
        }
        auto headers = sse_headers(req, sid);
        co_await ex.respond_sse(conn, headers.view());
    }

    void attach_standalone(std::shared_ptr<session> const& s, wire_session& ws,
                           std::shared_ptr<http::sse_stream> conn) {
        auto& ls = ws.streams[0];
        if (!ls)
            ls = std::make_shared<logical_stream>();
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
            auto it = w->streams.find(0);
            if (it == w->streams.end())
                return false;
            self->emit(w.get(), *it->second, msg);
            return it->second->conn && it->second->conn->is_open();
        };
    }

    // --- DELETE /mcp ----------------------------------------------------------------------

    asio::awaitable<void> del(http::exchange& ex) {
        auto& req = ex.req();
        std::string sid(trim(req["Mcp-Session-Id"]));
        if (sid.empty()) {
            co_await ex.respond(error_reply(req, status::bad_request, code::connection_closed,
                                            "Bad Request: Mcp-Session-Id header is required"));
            co_return;
        }
        auto found = co_await disp.sessions().find(sid);
        if (!found) {
            co_await ex.respond(
                error_reply(req, status::service_unavailable, code::internal_error,
                            "Session store unavailable: " + found.error().message()));
            co_return;
        }
        if (!*found || (*found)->ended) {
            co_await ex.respond(error_reply(req, status::not_found, -32001, "Session not found"));
            co_return;
        }
        co_await end_session(sid);
        auto res = http::make_response(status::ok, "");
        cors(req, res);
        co_await ex.respond(std::move(res));
    }

    // --- legacy HTTP+SSE ------------------------------------------------------------------

    asio::awaitable<void> legacy_get(http::exchange& ex) {
        auto& req = ex.req();
        if (draining) {
            co_await ex.respond(error_reply(req, status::service_unavailable,
                                            code::connection_closed,
                                            "Server is shutting down: no new sessions"));
            co_return;
        }
        auto made = disp.sessions().create();
        if (!made) {
            co_await ex.respond(error_reply(req, status::service_unavailable,
                                            code::connection_closed, made.error().message()));
            co_return;
        }
        auto s = *made;
        auto ws = wire_for(s->state.id);
        ws->legacy = true;
        auto conn = new_conn();
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

    asio::awaitable<void> legacy_post(http::exchange& ex, std::string const& sid) {
        auto& req = ex.req();
        auto it = wires.find(sid);
        if (sid.empty() || it == wires.end() || !it->second->legacy) {
            co_await ex.respond(error_reply(req, status::not_found, -32001, "Session not found"));
            co_return;
        }
        auto found = co_await disp.sessions().find(sid);
        if (!found || !*found) {
            co_await ex.respond(error_reply(req, status::not_found, -32001, "Session not found"));
            co_return;
        }
        auto s = *found;
        auto ws = it->second;
        auto parsed = protocol::parse_body(req.body());
        if (parsed.fatal) {
            co_await ex.respond(json_reply(req, status::bad_request, to_json(*parsed.fatal)));
            co_return;
        }
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
        for (auto& m : parsed.messages) {
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

    // --- routing --------------------------------------------------------------------------

    [[nodiscard]] bool serves(std::string_view path) const noexcept {
        return path == opts.endpoint ||
               (opts.legacy_sse && (path == "/sse" || path == "/messages"));
    }

    asio::awaitable<void> handle(http::exchange& ex) {
        auto self = shared_from_this(); // the transport may be destroyed while a request runs
        auto& req = ex.req();
        auto target = std::string_view(req.target());
        auto path = target.substr(0, target.find('?'));
        if (!serves(path)) {
            co_await ex.respond(http::make_response(status::not_found, "Not found"));
            co_return;
        }
        bool mcp = path == opts.endpoint;
        bool sse = opts.legacy_sse && path == "/sse";
        bool messages = opts.legacy_sse && path == "/messages";
        if (auto denied = check_origin(req)) {
            co_await ex.respond(std::move(*denied));
            co_return;
        }
        auto method = req.method();
        if (method == bhttp::verb::options) {
            auto res = http::make_response(status::no_content, "");
            cors(req, res);
            res.set(bhttp::field::access_control_allow_methods, "GET, POST, DELETE, OPTIONS");
            res.set(bhttp::field::access_control_allow_headers,
                    "Content-Type, Accept, Authorization, Mcp-Session-Id, MCP-Protocol-Version, "
                    "Last-Event-ID, Mcp-Method, Mcp-Name");
            co_await ex.respond(std::move(res));
            co_return;
        }
        if (mcp && method == bhttp::verb::post)
            co_await post(ex);
        else if (mcp && method == bhttp::verb::get)
            co_await get(ex);
        else if (mcp && method == bhttp::verb::delete_)
            co_await del(ex);
        else if (sse && method == bhttp::verb::get)
            co_await legacy_get(ex);
        else if (messages && method == bhttp::verb::post) {
            std::string sid;
            if (auto u = boost::urls::parse_origin_form(target)) {
                auto params = u->params();
                if (auto it = params.find("sessionId"); it != params.end())
                    sid = (*it).value;
            }
            co_await legacy_post(ex, sid);
        } else {
            auto res = error_reply(req, status::method_not_allowed, code::connection_closed,
                                   "Method Not Allowed");
            res.set(bhttp::field::allow, mcp ? "GET, POST, DELETE" : (sse ? "GET" : "POST"));
            co_await ex.respond(std::move(res));
        }
        co_return;
    }
};

http_transport::http_transport(dispatcher& d, http_transport_options opts, asio::any_io_executor ex)
    : impl_(std::make_shared<impl>(d, std::move(opts), std::move(ex))) {
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
