// client/streamable_http.cpp — the Streamable HTTP transport (MCP 2025-03-26 and later). See
// transport.hpp.
//
// Every message is a POST. A POST that carries a request is answered with a JSON body (read
// here, then done) or with an SSE stream, which a `pump` coroutine reads until the request's
// answer has come and the server ends it. The GET stream, opened after initialization, has a
// pump of its own. When a stream breaks, its pump reconnects with GET + Last-Event-ID as
// stream_state decides, and gives up with a clear error when it cannot: the POST's requests fail
// (request_failed), or, for the GET stream, the whole connection does (failed).
//
// Every open HTTP exchange has an abort_handle in `handles_`, so close() and abort() end them
// all, and abandon() ends the one a cancelled request still waits on.
#include "client/http_exchange.hpp"
#include "client/stream_state.hpp"
#include "client/transports.hpp"
#include "core/log.hpp"
#include "mcpd/client/error.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <unordered_map>
#include <unordered_set>

namespace mcpd::client {

namespace asio = boost::asio;
namespace json = boost::json;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

namespace {

class streamable_http final : public transport,
                              public std::enable_shared_from_this<streamable_http> {
public:
    streamable_http(asio::any_io_executor ex, std::shared_ptr<http::client> http, http::url url,
                    transport_options opts)
        : ex_(std::move(ex))
        , http_(std::move(http))
        , url_(std::move(url))
        , opts_(std::move(opts)) {}

    transport_kind kind() const noexcept override { return transport_kind::streamable_http; }
    void set_events(transport_events ev) override { events_ = std::move(ev); }
    asio::awaitable<result<void>> start() override { co_return result<void>{}; }
    void set_protocol_version(std::string version) override { version_ = std::move(version); }
    std::string session_id() const override { return session_id_; }

    void initialized() override {
        if (!opts_.open_get_stream || get_started_ || closed_)
            return;
        get_started_ = true;
        auto st = std::make_shared<stream_state>(std::vector<json::value>{}, opts_.reconnect,
                                                 opts_.sse_limits);
        auto handle = std::make_shared<http::abort_handle>();
        handles_.insert(handle);
        auto task = pump(shared_from_this(), std::nullopt, st, handle);
        asio::co_spawn(ex_, std::move(task), asio::detached);
    }

    asio::awaitable<result<void>> send(json::object const& message) override;
    void abandon(json::value const& id) override;
    asio::awaitable<void> close() override;
    void abort() override;

private:
    struct in_flight {
        std::shared_ptr<http::abort_handle> abort;
        std::shared_ptr<stream_state> stream; // set once the POST turned into an SSE stream
    };

    http::beast_request make_request(bhttp::verb verb, std::string_view accept) const {
        http::beast_request req{verb, url_.target, 11};
        req.set(bhttp::field::accept, accept);
        if (!session_id_.empty())
            req.set("Mcp-Session-Id", session_id_);
        if (!version_.empty())
            req.set("MCP-Protocol-Version", version_);
        return req;
    }

    void deliver(json::object msg) {
        if (!closed_ && events_.message)
            events_.message(std::move(msg));
    }

    // The server answered 404 to a request that named our session: it is gone for good.
    error session_expired(std::string_view what) {
        error e{errc::session_expired,
                std::string(what) + " answered 404 for session " + session_id_};
        if (!closed_ && events_.failed)
            events_.failed(e);
        return e;
    }

    asio::awaitable<void> sleep(duration d) {
        asio::steady_timer t(ex_, d);
        sleepers_.insert(&t);
        error_code ec;
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        sleepers_.erase(&t);
    }

    asio::awaitable<result<http::client_response>> open_get(std::string const& last_event_id,
                                                            std::shared_ptr<http::abort_handle> h) {
        auto req = make_request(bhttp::verb::get, "text/event-stream");
        if (!last_event_id.empty())
            req.set("Last-Event-ID", last_event_id);
        http::exchange_options xo;
        xo.abort = std::move(h);
        co_return co_await detail::send_authorized(*http_, opts_, url_, std::move(req), xo);
    }

    static asio::awaitable<void> pump(std::shared_ptr<streamable_http> self,
                                      std::optional<http::client_response> first,
                                      std::shared_ptr<stream_state> st,
                                      std::shared_ptr<http::abort_handle> handle);

    asio::any_io_executor ex_;
    std::shared_ptr<http::client> http_;
    http::url url_;
    transport_options opts_;
    transport_events events_;
    std::string session_id_;
    std::string version_;
    bool closed_ = false;
    bool get_started_ = false;
    std::unordered_map<std::string, in_flight> in_flight_; // by serialized request id
    std::unordered_set<std::shared_ptr<http::abort_handle>> handles_;
    std::unordered_set<asio::steady_timer*> sleepers_;
};

asio::awaitable<result<void>> streamable_http::send(json::object const& message) {
    auto self = shared_from_this();
    if (closed_)
        co_return error{errc::not_connected, "the transport is closed"};
    std::vector<json::value> awaited;
    std::string key;
    if (message.contains("method") && message.contains("id")) {
        awaited.push_back(message.at("id"));
        key = json::serialize(message.at("id"));
    }
    bool is_request = !awaited.empty();
    auto handle = std::make_shared<http::abort_handle>();
    handles_.insert(handle);
    if (is_request)
        in_flight_[key] = in_flight{handle, nullptr};
    auto done = [&] {
        handles_.erase(handle);
        if (is_request)
            in_flight_.erase(key);
    };

    auto req = make_request(bhttp::verb::post, "application/json, text/event-stream");
    req.set(bhttp::field::content_type, "application/json");
    req.body() = json::serialize(message);
    http::exchange_options xo;
    xo.abort = handle;
    // A request's answer may take as long as the tool runs: the session bounds the wait (and
    // aborts the POST through abandon()). Notifications and responses are answered at once.
    if (is_request)
        xo.timeout = duration::zero();
    auto what = "POST " + url_.text();
    auto opened = co_await detail::send_authorized(*http_, opts_, url_, std::move(req), xo);
    if (!opened) {
        done();
        co_return opened.error();
    }
    auto& res = *opened;
    if (auto sid = res.header("Mcp-Session-Id"); !sid.empty() && session_id_.empty())
        session_id_ = std::string(sid);
    auto status = res.status();
    if (status == 202) {
        done();
        co_return result<void>{};
    }
    if (status >= 200 && status < 300) {
        auto type = res.media_type();
        if (type == "text/event-stream" && is_request) {
            auto st = std::make_shared<stream_state>(std::move(awaited), opts_.reconnect,
                                                     opts_.sse_limits);
            in_flight_[key].stream = st;
            auto task = pump(self, std::move(res), st, handle);
            asio::co_spawn(ex_, std::move(task), asio::detached);
            co_return result<void>{};
        }
        if (type == "application/json" && is_request) {
            auto body = co_await res.read_body();
            done();
            if (!body)
                co_return body.error();
            boost::system::error_code ec;
            auto v = json::parse(*body, ec);
            if (ec)
                co_return error{errc::invalid_response,
                                what + ": the JSON body does not parse (" + ec.message() + ")"};
            bool answered = false;
            auto take = [&](json::value& m) {
                if (auto* o = m.if_object()) {
                    if (auto const* id = o->if_contains("id");
                        id != nullptr && *id == awaited.front() && !o->contains("method"))
                        answered = true;
                    deliver(std::move(*o));
                }
            };
            if (auto* arr = v.if_array())
                for (auto& m : *arr)
                    take(m);
            else
                take(v);
            if (!answered)
                co_return error{errc::invalid_response,
                                what + ": the JSON body has no answer to request " + key};
            co_return result<void>{};
        }
        done();
        if (!is_request)
            co_return result<void>{}; // a body for a notification: nothing in it for us
        co_return error{errc::invalid_response, what + " answered " + std::to_string(status) +
                                                    " with Content-Type \"" + type +
                                                    "\" (neither JSON nor an SSE stream)"};
    }
    if (status == 404 && !session_id_.empty()) {
        done();
        co_return session_expired(what);
    }
    auto failure = co_await detail::status_failure(res, what);
    done();
    co_return failure;
}

asio::awaitable<void> streamable_http::pump(std::shared_ptr<streamable_http> self,
                                            std::optional<http::client_response> first,
                                            std::shared_ptr<stream_state> st,
                                            std::shared_ptr<http::abort_handle> handle) {
    bool const get_stream = !st->is_post_stream();
    std::optional<http::client_response> current = std::move(first);
    stream_state::decision d;
    if (!current) { // the GET stream: its first request is made here
        d.what = stream_state::decision::kind::reconnect;
    }
    bool opened_once = current.has_value();
    for (;;) {
        if (current) {
            std::optional<error> cause;
            for (;;) {
                auto piece = co_await current->read_some();
                if (!piece) {
                    cause = piece.error();
                    break;
                }
                if (piece->empty())
                    break;
                std::vector<json::object> messages;
                auto fed = st->feed(*piece, messages);
                for (auto& m : messages)
                    self->deliver(std::move(m));
                if (!fed) {
                    cause = fed.error();
                    break;
                }
            }
            current.reset();
            if (self->closed_)
                break;
            d = st->ended(cause ? &*cause : nullptr);
        }
        if (d.what == stream_state::decision::kind::finished)
            break;
        if (d.what == stream_state::decision::kind::give_up) {
            if (get_stream) {
                log::warn("mcp client: the GET stream of {} is gone: {}", self->url_.text(),
                          d.why.message());
                if (self->events_.failed)
                    self->events_.failed(d.why);
            } else if (self->events_.request_failed) {
                auto ids = st->unanswered();
                for (auto const& id : ids)
                    self->events_.request_failed(id, d.why);
            }
            break;
        }
        if (d.delay > duration::zero())
            co_await self->sleep(d.delay);
        if (self->closed_ || st->all_answered())
            break;
        auto opened = co_await self->open_get(d.last_event_id, handle);
        if (self->closed_)
            break;
        if (!opened) {
            d = st->reconnect_failed(opened.error());
            continue;
        }
        auto status = opened->status();
        if (status == 200 && opened->media_type() == "text/event-stream") {
            st->resumed();
            current.emplace(std::move(*opened));
            opened_once = true;
            continue;
        }
        // The server offers no GET stream: messages come on POST streams only. 405 is what the
        // spec asks for; some servers answer a GET they do not serve with 400 (the conformance
        // suite's initialize server does), which on a first request means the same.
        if (get_stream && !opened_once && (status == 405 || status == 400))
            break;
        if (status == 404 && !self->session_id_.empty()) {
            d.what = stream_state::decision::kind::give_up;
            d.why = self->session_expired("GET " + self->url_.text());
            if (get_stream)
                break; // session_expired() reported it
            continue;
        }
        auto failure = co_await detail::status_failure(*opened, "GET " + self->url_.text());
        if (status == 400 || status == 405) { // this server cannot resume that stream
            d.what = stream_state::decision::kind::give_up;
            d.why = error{errc::connection_lost,
                          "the SSE stream broke and the server refused to resume it: " +
                              failure.message()};
            continue;
        }
        d = st->reconnect_failed(failure);
    }
    self->handles_.erase(handle);
    for (auto it = self->in_flight_.begin(); it != self->in_flight_.end();)
        it = it->second.stream == st ? self->in_flight_.erase(it) : std::next(it);
}

void streamable_http::abandon(json::value const& id) {
    auto it = in_flight_.find(json::serialize(id));
    if (it == in_flight_.end())
        return;
    auto entry = std::move(it->second);
    in_flight_.erase(it);
    if (!entry.stream) {
        entry.abort->abort(); // the POST still waits for its JSON answer
        return;
    }
    entry.stream->forget(id);
    if (entry.stream->all_answered())
        entry.abort->abort(); // nothing else travels on that stream
}

void streamable_http::abort() {
    closed_ = true;
    auto handles = handles_;
    for (auto const& h : handles)
        h->abort();
    for (auto* t : sleepers_)
        t->cancel();
}

asio::awaitable<void> streamable_http::close() {
    auto self = shared_from_this();
    if (closed_)
        co_return;
    abort();
    if (session_id_.empty())
        co_return;
    // Tell the server the session is over; a server that does not allow it answers 405.
    auto req = make_request(bhttp::verb::delete_, "application/json, text/event-stream");
    http::exchange_options xo;
    xo.timeout = opts_.close_timeout;
    auto answered = co_await detail::send_authorized(*http_, opts_, url_, std::move(req), xo);
    if (!answered) {
        log::debug("mcp client: DELETE {} failed: {}", url_.text(), answered.error().message());
        co_return;
    }
    auto status = answered->status();
    if (status >= 300 && status != 404 && status != 405)
        log::debug("mcp client: DELETE {} answered {}", url_.text(), status);
    co_await answered->read_body(); // so the connection can serve again
}

} // namespace

std::string_view to_string(transport_kind k) noexcept {
    return k == transport_kind::sse ? "sse" : "streamable_http";
}

std::optional<transport_kind> parse_transport_kind(std::string_view text) noexcept {
    if (text == "sse")
        return transport_kind::sse;
    if (text == "streamable_http")
        return transport_kind::streamable_http;
    return std::nullopt;
}

std::shared_ptr<transport> make_streamable_http_transport(asio::any_io_executor ex,
                                                          std::shared_ptr<http::client> http,
                                                          http::url endpoint,
                                                          transport_options opts) {
    return std::make_shared<streamable_http>(std::move(ex), std::move(http), std::move(endpoint),
                                             std::move(opts));
}

} // namespace mcpd::client
