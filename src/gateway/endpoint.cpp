// gateway/endpoint.cpp — GET/POST/OPTIONS /gateway, the access check, local delivery to the
// identity's streams and the Redis fan-out. See endpoint.hpp.
#include "mcpd/gateway/endpoint.hpp"

#include "mcpd/store/session.hpp"

#include "http/sse.hpp"

#include "core/ascii.hpp"
#include "core/json_finite.hpp"
#include "core/log.hpp"
#include "core/random.hpp"
#include "mcpd/gateway/manager.hpp"
#include "mcpd/gateway/rpc.hpp"
#include "mcpd/gateway/token.hpp"
#include "mcpd/redis/client.hpp"
#include "mcpd/redis/subscriber.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <vector>

namespace mcpd::gateway {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

std::string timestamp_json() {
    return json::serialize(json::object{{"timestamp", unix_time_ms()}});
}

http::sse_event to_sse(channel ch, json::object const& data) {
    http::sse_event ev;
    ev.event = std::string(to_string(ch));
    ev.data = json::serialize(data);
    return ev;
}

std::optional<channel> parse_channel(std::string_view name) {
    if (name == "connection")
        return channel::connection;
    if (name == "observability")
        return channel::observability;
    if (name == "rpc-response")
        return channel::rpc_response;
    return std::nullopt;
}

} // namespace

struct endpoint::impl : std::enable_shared_from_this<impl> {
    asio::any_io_executor ex;
    manager& mgr;
    endpoint_options opts;
    std::map<std::string, std::vector<std::shared_ptr<http::sse_stream>>, std::less<>> streams;
    bool draining = false;
    std::size_t rpcs_in_flight = 0;
    std::map<std::string, std::size_t, std::less<>> rpcs_by_identity;
    // Fan-out.
    std::string instance_id = random_alnum_id(16);
    std::function<void(std::string)> send_out; // to the other instances; empty: no fan-out
    std::string fanout_channel;
    std::unique_ptr<redis::subscriber> subscriber;
    bool logged_unsealed = false;

    // Counts an RPC in flight for as long as it lives (draining waits for the count).
    struct in_flight_mark {
        impl& i;
        std::string identity;
        in_flight_mark(impl& owner, std::string who)
            : i(owner)
            , identity(std::move(who)) {
            ++i.rpcs_in_flight;
            ++i.rpcs_by_identity[identity];
        }
        ~in_flight_mark() {
            --i.rpcs_in_flight;
            if (auto it = i.rpcs_by_identity.find(identity);
                it != i.rpcs_by_identity.end() && --it->second == 0)
                i.rpcs_by_identity.erase(it);
        }
        in_flight_mark(in_flight_mark const&) = delete;
        in_flight_mark& operator=(in_flight_mark const&) = delete;
    };

    impl(asio::any_io_executor e, manager& m, endpoint_options o)
        : ex(std::move(e))
        , mgr(m)
        , opts(std::move(o)) {}

    void deliver_local(std::string const& identity, channel ch, json::object const& data) {
        auto it = streams.find(identity);
        if (it == streams.end())
            return;
        auto ev = to_sse(ch, data);
        if (ev.data.size() > opts.broadcast_max_bytes)
            return; // see endpoint_options::broadcast_max_bytes
        // A copy: a push that closes a slow stream removes it from the list.
        auto targets = it->second;
        for (auto& s : targets)
            s->push(ev);
    }

    void publish(event const& ev) {
        deliver_local(ev.identity, ev.channel, ev.data);
        if (!send_out)
            return;
        json::object msg{{"origin", instance_id},
                         {"identity", ev.identity},
                         {"channel", to_string(ev.channel)},
                         {"data", ev.data}};
        auto text = json::serialize(msg);
        if (text.size() > opts.broadcast_max_bytes)
            return; // not copied to other instances' streams either
        if (!opts.fanout_key.empty())
            text = fanout_seal(opts.fanout_key, text) + "." + text;
        send_out(std::move(text));
    }

    asio::awaitable<void> receive_loop() {
        while (subscriber) {
            auto m = co_await subscriber->receive();
            if (!m)
                co_return;
            receive(m->payload);
        }
    }

    // A message another instance (or event loop) published.
    void receive(std::string_view body) {
        if (!opts.fanout_key.empty()) {
            auto dot = body.find('.');
            bool sealed = dot != std::string_view::npos &&
                          same_secret(body.substr(0, dot),
                                      fanout_seal(opts.fanout_key, body.substr(dot + 1)));
            if (!sealed) {
                if (!logged_unsealed) {
                    logged_unsealed = true;
                    log::warn("gateway: dropped a fan-out message that is not sealed with "
                              "this fleet's key (another publisher on {}, or a different "
                              "gateway-secret); further ones are dropped silently",
                              fanout_channel);
                }
                return;
            }
            body = body.substr(dot + 1);
        }
        boost::system::error_code ec;
        auto v = json::parse(body, ec);
        if (ec || !v.is_object())
            return;
        auto const& o = v.get_object();
        auto const* origin = o.if_contains("origin");
        auto const* identity = o.if_contains("identity");
        auto const* ch = o.if_contains("channel");
        auto const* data = o.if_contains("data");
        if (origin == nullptr || identity == nullptr || ch == nullptr || data == nullptr ||
            !origin->is_string() || !identity->is_string() || !ch->is_string() ||
            !data->is_object())
            return;
        if (origin->get_string() == instance_id)
            return; // delivered here already
        auto parsed = parse_channel(ch->get_string());
        if (!parsed)
            return;
        std::string who(identity->get_string());
        auto const& payload = data->get_object();
        // A session another instance disconnected must not live on here.
        if (*parsed == channel::connection) {
            auto const* type = payload.if_contains("type");
            auto const* sid = payload.if_contains("sessionId");
            // Detached: closing may wait on a slow server (its DELETE), and the next
            // messages must not wait for it.
            if (type != nullptr && type->is_string() && type->get_string() == "disconnected" &&
                sid != nullptr && sid->is_string()) {
                auto forget = [self = shared_from_this(), who,
                               id = std::string(sid->get_string())]() -> asio::awaitable<void> {
                    co_await self->mgr.forget(who, id);
                };
                asio::co_spawn(ex, std::move(forget), asio::detached);
            }
        }
        deliver_local(who, *parsed, payload);
    }

    // --- access -------------------------------------------------------------------------

    // The token the request carries: `Authorization: Bearer …` or `X-Gateway-Token: …`.
    static std::string_view presented_token(http::exchange& x) {
        auto const& req = x.req();
        auto authz = std::string_view(req[http::field::authorization]);
        constexpr std::string_view bearer = "Bearer ";
        if (authz.size() > bearer.size() && istarts_with(authz, bearer))
            return authz.substr(bearer.size());
        return std::string_view(req["X-Gateway-Token"]);
    }

    // May this request act as `identity`? An identity token for it (gateway-secret), the
    // trusted backend's token (any identity), or development mode: loopback bind, loopback peer,
    // and no sign of a proxy in front (a proxy on the same host makes every peer loopback).
    [[nodiscard]] bool authorized(http::exchange& x, std::string_view identity) const {
        auto token = presented_token(x);
        if (!token.empty()) {
            if (!opts.identity_secret.empty() &&
                verify_identity_token(opts.identity_secret, identity, token, unix_time_ms() / 1000))
                return true;
            if (!opts.token.empty() && same_secret(token, opts.token))
                return true;
        }
        auto const& req = x.req();
        bool proxied =
            req.has(http::field::forwarded) || req.has("X-Forwarded-For") || req.has("X-Real-IP");
        return opts.allow_loopback_dev && opts.bind_is_loopback && !proxied &&
               http::is_loopback_host(x.remote_address());
    }

    // Whether a browser page of `origin` may call /gateway. On a loopback bind the server's
    // origin policy decides (loopback origins by default). Elsewhere only origins listed in
    // allowed-origin (or whose host is listed in allowed-host), and the page's own origin (the
    // Origin names the Host the request went to: same origin, no CORS involved).
    [[nodiscard]] bool origin_permitted(http::exchange& x, std::string_view origin) const {
        if (origin.empty())
            return true;
        if (opts.bind_is_loopback)
            return http::origin_allowed(opts.origins, origin);
        if (!opts.origins.allowed_hosts.empty() || !opts.origins.allowed_origins.empty())
            if (http::origin_allowed(opts.origins, origin))
                return true;
        auto host = ascii_lower(std::string_view(x.req()[http::field::host]));
        auto o = ascii_lower(origin);
        return !host.empty() && (o == "http://" + host || o == "https://" + host);
    }

    // The CORS fields for a permitted page's request (views into the request), else none.
    std::vector<http::exchange::header> cors(http::exchange& x) const {
        auto origin = x.req()[http::field::origin];
        if (origin.empty() || !origin_permitted(x, origin))
            return {};
        return {{"Access-Control-Allow-Origin", origin}, {"Vary", "Origin"}};
    }

    http::response json_response(http::exchange& x, http::status s, json::object const& body) {
        auto res = http::make_response(s, json::serialize(body), "application/json");
        for (auto const& [name, value] : cors(x))
            res.set(name, value);
        return res;
    }

    http::response error_response(http::exchange& x, http::status s, std::string_view code,
                                  std::string_view message) {
        json::object body{{"error", json::object{{"code", code}, {"message", message}}}};
        return json_response(x, s, body);
    }

    // --- requests -------------------------------------------------------------------------

    asio::awaitable<void> serve(http::exchange& x, std::string_view target) {
        auto& req = x.req();
        auto host = std::string_view(req[http::field::host]);
        auto origin = std::string_view(req[http::field::origin]);
        if (!http::host_allowed(opts.origins, host) || !origin_permitted(x, origin)) {
            co_await x.respond(error_response(
                x, http::status::forbidden, "FORBIDDEN",
                "Forbidden: Host or Origin is not allowed (list the web app's origin in "
                "allowed-origin)"));
            co_return;
        }
        if (req.method() == http::verb::options) {
            auto res = http::make_response(http::status::no_content, "");
            for (auto const& [name, value] : cors(x))
                res.set(name, value);
            res.set("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
            res.set("Access-Control-Allow-Headers",
                    "Content-Type, Accept, Authorization, X-Gateway-Token");
            res.set("Access-Control-Max-Age", "600");
            co_await x.respond(std::move(res));
            co_return;
        }
        if (req.method() != http::verb::get && req.method() != http::verb::post) {
            auto res = error_response(x, http::status::method_not_allowed, "METHOD_NOT_ALLOWED",
                                      "Use GET (event stream) or POST (RPC)");
            res.set("Allow", "GET, POST, OPTIONS");
            co_await x.respond(std::move(res));
            co_return;
        }
        std::string identity;
        if (auto u = boost::urls::parse_origin_form(target)) {
            auto params = u->params();
            if (auto it = params.find("identity"); it != params.end())
                identity = (*it).value;
        }
        if (!authorized(x, identity)) {
            log::for_request(log::level::warn, x.request_id(),
                             "gateway: refused a request from {} (no valid gateway token for "
                             "the identity)",
                             x.remote_address());
            auto res =
                error_response(x, http::status::unauthorized, "UNAUTHORIZED", "Unauthorized");
            res.set("WWW-Authenticate", "Bearer realm=\"mcpd-gateway\"");
            co_await x.respond(std::move(res));
            co_return;
        }
        if (identity.empty()) {
            co_await x.respond(error_response(x, http::status::bad_request, "MISSING_IDENTITY",
                                              "Missing identity"));
            co_return;
        }
        if (store::is_reserved_identity(identity)) {
            co_await x.respond(error_response(x, http::status::bad_request, "INVALID_IDENTITY",
                                              "Identities starting with \"" +
                                                  std::string(store::reserved_identity_prefix) +
                                                  "\" are reserved for mcpd"));
            co_return;
        }
        if (draining) {
            co_await x.respond(error_response(x, http::status::service_unavailable, "UNAVAILABLE",
                                              "The server is shutting down"));
            co_return;
        }
        if (req.method() == http::verb::get)
            co_await events_stream(x, std::move(identity));
        else
            co_await rpc(x, std::move(identity));
    }

    void attach(std::string const& identity, std::shared_ptr<http::sse_stream> const& s) {
        streams[identity].push_back(s);
        std::weak_ptr<impl> weak_self = shared_from_this();
        std::weak_ptr<http::sse_stream> weak_stream = s;
        s->on_end([weak_self, weak_stream, identity] {
            auto self = weak_self.lock();
            if (!self)
                return;
            auto it = self->streams.find(identity);
            if (it == self->streams.end())
                return;
            auto ended = weak_stream.lock();
            auto& list = it->second;
            list.erase(std::remove_if(list.begin(), list.end(),
                                      [&](auto const& p) { return !ended || p == ended; }),
                       list.end());
            if (list.empty())
                self->streams.erase(it);
        });
    }

    asio::awaitable<void> events_stream(http::exchange& x, std::string identity) {
        if (auto it = streams.find(identity);
            it != streams.end() && it->second.size() >= opts.max_streams_per_identity) {
            co_await x.respond(error_response(x, http::status::too_many_requests,
                                              "TOO_MANY_STREAMS",
                                              "Too many open event streams for this identity"));
            co_return;
        }
        auto stream = std::make_shared<http::sse_stream>(ex, opts.sse_max_buffered_bytes);
        http::sse_event hello;
        hello.event = "connected";
        hello.data = timestamp_json();
        stream->push(hello);
        attach(identity, stream);
        // The reference's heartbeat: an observability event every interval.
        std::weak_ptr<http::sse_stream> weak_stream = stream;
        auto period = opts.heartbeat;
        asio::co_spawn(
            ex,
            [weak_stream, period, e = ex]() -> asio::awaitable<void> {
                asio::steady_timer t(e);
                while (true) {
                    t.expires_after(period);
                    boost::system::error_code ec;
                    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                    auto s = weak_stream.lock();
                    if (!s || !s->is_open())
                        co_return;
                    s->push(to_sse(channel::observability, heartbeat()));
                }
            },
            asio::detached);
        auto extra = cors(x);
        extra.emplace_back("X-Accel-Buffering", "no");
        co_await x.respond_sse(stream, extra);
    }

    // An answer over max_result_bytes becomes an error that says so (the browser would
    // otherwise lose its stream).
    json::object bounded(json::object answer) const {
        auto size = json::serialize(answer).size();
        if (size <= opts.max_result_bytes)
            return answer;
        json::value id = nullptr;
        if (auto const* v = answer.if_contains("id"))
            id = *v;
        return json::object{
            {"id", id},
            {"error", json::object{{"code", "EXECUTION_ERROR"},
                                   {"message", "The result is " + std::to_string(size) +
                                                   " bytes, over the gateway's limit of " +
                                                   std::to_string(opts.max_result_bytes) +
                                                   " bytes (gateway-max-result-size)"}}}};
    }

    asio::awaitable<void> rpc(http::exchange& x, std::string identity) {
        boost::system::error_code ec;
        auto body = json::parse(x.req().body(), ec);
        if (ec || !body.is_object() || !all_numbers_finite(body)) {
            co_await x.respond(error_response(x, http::status::bad_request, "INVALID_REQUEST",
                                              "Invalid JSON-RPC request body"));
            co_return;
        }
        if (auto it = rpcs_by_identity.find(identity);
            it != rpcs_by_identity.end() && it->second >= opts.max_rpcs_per_identity) {
            co_await x.respond(error_response(
                x, http::status::too_many_requests, "TOO_MANY_REQUESTS",
                "Too many RPCs of this identity in flight (gateway-max-rpcs-per-identity)"));
            co_return;
        }
        auto accept = std::string_view(x.req()[http::field::accept]);
        bool streamed = accept.find("text/event-stream") != std::string_view::npos;
        if (!streamed) {
            json::object answer;
            {
                in_flight_mark mark(*this, identity);
                event_sink none;
                answer = co_await handle_rpc(mgr, identity, body, none);
            }
            answer = bounded(std::move(answer));
            publish({identity, channel::rpc_response, answer});
            co_await x.respond(json_response(x, http::status::ok, answer));
            co_return;
        }
        // Streamed: the events this call causes, then its answer, then the end.
        // Room for the largest answer next to the events this call causes.
        auto stream = std::make_shared<http::sse_stream>(ex, opts.max_result_bytes +
                                                                 opts.sse_max_buffered_bytes);
        http::sse_event hello;
        hello.event = "connected";
        hello.data = timestamp_json();
        stream->push(hello);
        std::weak_ptr<http::sse_stream> weak_stream = stream;
        event_sink also = [weak_stream](event const& ev) {
            if (auto s = weak_stream.lock())
                s->push(to_sse(ev.channel, ev.data));
        };
        auto self = shared_from_this();
        auto mark = std::make_shared<in_flight_mark>(*this, identity);
        asio::co_spawn(
            ex,
            [self, identity, body, stream, also, mark]() mutable -> asio::awaitable<void> {
                // The stream ends whatever happens (handle_rpc answers every failure; this
                // guard covers what it cannot, such as an allocation failure).
                struct finish_on_exit {
                    std::shared_ptr<http::sse_stream> s;
                    ~finish_on_exit() { s->finish(); }
                } finisher{stream};
                auto raw = co_await handle_rpc(self->mgr, identity, body, also);
                auto answer = self->bounded(std::move(raw));
                mark.reset();
                stream->push(to_sse(channel::rpc_response, answer));
                self->publish({identity, channel::rpc_response, answer});
            },
            asio::detached);
        auto extra = cors(x);
        extra.emplace_back("X-Accel-Buffering", "no");
        co_await x.respond_sse(stream, extra);
    }
};

endpoint::endpoint(asio::any_io_executor ex, manager& m, endpoint_options opts)
    : impl_(std::make_shared<impl>(std::move(ex), m, std::move(opts))) {}

endpoint::~endpoint() = default;

void endpoint::publish(event const& ev) {
    impl_->publish(ev);
}

bool endpoint::serves(std::string_view path) const noexcept {
    return path == impl_->opts.path;
}

asio::awaitable<bool> endpoint::handle(http::exchange& x) {
    auto target = x.req().target();
    if (!serves(target.substr(0, target.find('?'))))
        co_return false;
    co_await impl_->serve(x, target);
    co_return true;
}

asio::awaitable<result<void>>
endpoint::enable_fanout(redis::client& publisher, redis::config const& cfg, std::string channel) {
    auto& self = *impl_;
    self.subscriber = std::make_unique<redis::subscriber>(self.ex, cfg);
    std::vector<std::string> channels{channel};
    auto subscribed = co_await self.subscriber->subscribe(channels);
    if (!subscribed) {
        self.subscriber.reset();
        co_return subscribed.error();
    }
    self.fanout_channel = std::move(channel);
    self.send_out = [ex = self.ex, pub = &publisher, ch = self.fanout_channel](std::string text) {
        asio::co_spawn(
            ex,
            [pub, ch, text = std::move(text)]() -> asio::awaitable<void> {
                auto r = co_await pub->exec(redis::command("PUBLISH", ch, text));
                if (!r)
                    log::warn("gateway: publishing an event to other instances failed: {}",
                              r.error().message());
            },
            asio::detached);
    };
    asio::co_spawn(
        self.ex, [s = impl_]() { return s->receive_loop(); }, asio::detached);
    co_return result<void>();
}

void endpoint::stop_accepting() {
    impl_->draining = true;
}

void endpoint::close_streams() {
    auto all = impl_->streams;
    for (auto& [identity, list] : all)
        for (auto& s : list)
            s->finish();
}

std::size_t endpoint::open_streams() const noexcept {
    std::size_t n = 0;
    for (auto const& [identity, list] : impl_->streams)
        n += list.size();
    return n;
}

bool endpoint::has_streams(std::string const& identity) const {
    auto it = impl_->streams.find(identity);
    return it != impl_->streams.end() && !it->second.empty();
}

std::size_t endpoint::in_flight() const noexcept {
    return impl_->rpcs_in_flight;
}

void endpoint::enable_fanout(std::function<void(std::string)> send) {
    impl_->send_out = std::move(send);
}

std::function<void(std::string_view)> endpoint::receiver() const {
    return [weak = std::weak_ptr<impl>(impl_)](std::string_view message) {
        if (auto self = weak.lock(); self && self->send_out)
            self->receive(message);
    };
}

asio::awaitable<void> endpoint::close() {
    impl_->send_out = nullptr;
    if (impl_->subscriber) {
        auto sub = std::move(impl_->subscriber);
        co_await sub->quit();
    }
}

} // namespace mcpd::gateway
