// client/sse_transport.cpp — the HTTP+SSE transport of MCP 2024-11-05 ("legacy SSE"). See
// transport.hpp.
//
// start() opens the SSE stream with a GET and waits for its first event, `endpoint`, whose data
// is the URL (usually relative, with the session in its query) to POST messages to; it must be
// on the stream's origin. Everything the server sends arrives as `message` events on that one
// stream, answers included. The stream is the session: when it ends, the connection is gone for
// good (this transport has no resumption), and the session hears `failed`.
#include "client/http_exchange.hpp"
#include "client/stream_state.hpp"
#include "client/transports.hpp"
#include "core/log.hpp"
#include "http/sse_parser.hpp"
#include "mcpd/client/error.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

namespace mcpd::client {

namespace asio = boost::asio;
namespace json = boost::json;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

namespace {

class sse_transport final : public transport, public std::enable_shared_from_this<sse_transport> {
public:
    sse_transport(asio::any_io_executor ex, std::shared_ptr<http::client> http, http::url url,
                  transport_options opts)
        : ex_(std::move(ex))
        , http_(std::move(http))
        , url_(std::move(url))
        , opts_(std::move(opts))
        , stream_abort_(std::make_shared<http::abort_handle>()) {}

    transport_kind kind() const noexcept override { return transport_kind::sse; }
    void set_events(transport_events ev) override { events_ = std::move(ev); }
    void set_protocol_version(std::string) override {} // 2024-11-05 has no version header
    void initialized() override {}
    void abandon(json::value const&) override {} // answers share the one stream
    std::string session_id() const override { return session_id_; }

    asio::awaitable<result<void>> start() override;
    asio::awaitable<result<void>> send(json::object const& message) override;

    void abort() override {
        closed_ = true;
        stream_abort_->abort();
        if (endpoint_wait_ != nullptr)
            endpoint_wait_->cancel();
        for (auto const& h : posts_)
            h->abort();
    }
    asio::awaitable<void> close() override {
        abort();
        co_return;
    }

private:
    static asio::awaitable<void> read_stream(std::shared_ptr<sse_transport> self,
                                             http::client_response res);
    void on_event(http::sse_message& ev);
    void stream_ended(error e) {
        if (!endpoint_) {
            start_error_ = std::move(e);
            if (endpoint_wait_ != nullptr)
                endpoint_wait_->cancel();
            return;
        }
        if (!closed_ && events_.failed)
            events_.failed(e);
    }

    asio::any_io_executor ex_;
    std::shared_ptr<http::client> http_;
    http::url url_;
    transport_options opts_;
    transport_events events_;
    std::shared_ptr<http::abort_handle> stream_abort_;
    std::vector<std::shared_ptr<http::abort_handle>> posts_;
    std::optional<http::url> endpoint_;
    std::optional<error> start_error_;
    asio::steady_timer* endpoint_wait_ = nullptr;
    std::string session_id_;
    bool closed_ = false;
};

asio::awaitable<result<void>> sse_transport::start() {
    auto self = shared_from_this();
    http::beast_request req{bhttp::verb::get, url_.target, 11};
    req.set(bhttp::field::accept, "text/event-stream");
    req.set(bhttp::field::cache_control, "no-cache");
    http::exchange_options xo;
    xo.abort = stream_abort_;
    auto what = "GET " + url_.text();
    auto opened = co_await detail::send_authorized(*http_, opts_, url_, std::move(req), xo);
    if (!opened)
        co_return opened.error();
    if (opened->status() != 200)
        co_return co_await detail::status_failure(*opened, what);
    if (auto type = opened->media_type(); type != "text/event-stream")
        co_return error{errc::transport_unavailable,
                        what + " answered Content-Type \"" + type + "\", not an SSE stream"};
    auto reader = read_stream(self, std::move(*opened));
    asio::co_spawn(ex_, std::move(reader), asio::detached);

    asio::steady_timer wait(ex_, opts_.endpoint_timeout);
    endpoint_wait_ = &wait;
    error_code ec;
    if (!endpoint_ && !start_error_)
        co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    endpoint_wait_ = nullptr;
    if (endpoint_)
        co_return result<void>{};
    stream_abort_->abort();
    if (closed_)
        co_return error{errc::closed, what};
    if (start_error_)
        co_return *start_error_;
    co_return error{errc::transport_unavailable, what + ": no `endpoint` event within " +
                                                     format_duration(opts_.endpoint_timeout)};
}

void sse_transport::on_event(http::sse_message& ev) {
    if (ev.type == "endpoint") {
        if (endpoint_)
            return; // only the first one counts
        auto resolved = http::resolve_url(url_, ev.data);
        if (!resolved) {
            stream_ended(error{errc::invalid_response,
                               "the endpoint event names no usable URL: " + ev.data});
            stream_abort_->abort();
            return;
        }
        if (resolved->origin() != url_.origin()) {
            // Answers would go to another server than the one we trust with the stream.
            stream_ended(error{errc::invalid_response,
                               "the endpoint " + resolved->text() + " is not on " + url_.origin()});
            stream_abort_->abort();
            return;
        }
        endpoint_ = std::move(*resolved);
        if (auto u = boost::urls::parse_origin_form(endpoint_->target)) {
            auto params = u->params();
            if (auto it = params.find("sessionId"); it != params.end())
                session_id_ = (*it).value;
        }
        if (endpoint_wait_ != nullptr)
            endpoint_wait_->cancel();
        return;
    }
    if (ev.type != "message")
        return;
    boost::system::error_code ec;
    auto v = json::parse(ev.data, ec);
    if (ec) {
        log::warn("mcp client: SSE message from {} is not JSON ({}); skipped", url_.text(),
                  ec.message());
        return;
    }
    auto deliver = [this](json::value& m) {
        if (auto* o = m.if_object(); o != nullptr && !closed_ && events_.message)
            events_.message(std::move(*o));
    };
    if (auto* arr = v.if_array())
        for (auto& m : *arr)
            deliver(m);
    else
        deliver(v);
}

asio::awaitable<void> sse_transport::read_stream(std::shared_ptr<sse_transport> self,
                                                 http::client_response res) {
    http::sse_parser parser(self->opts_.sse_limits);
    std::optional<error> cause;
    for (;;) {
        auto piece = co_await res.read_some();
        if (!piece) {
            cause = piece.error();
            break;
        }
        if (piece->empty())
            break;
        std::vector<http::sse_message> events;
        bool ok = parser.feed(*piece, events);
        for (auto& ev : events)
            self->on_event(ev);
        if (!ok) {
            cause = error{errc::invalid_response, parser.error()};
            break;
        }
    }
    if (self->closed_)
        co_return;
    std::string why = "the HTTP+SSE stream from " + self->url_.text() + " ended";
    if (cause)
        why += ": " + cause->message();
    self->stream_ended(error{errc::connection_lost, why});
}

asio::awaitable<result<void>> sse_transport::send(json::object const& message) {
    auto self = shared_from_this();
    if (closed_ || !endpoint_)
        co_return error{errc::not_connected, "the HTTP+SSE transport is not open"};
    http::beast_request req{bhttp::verb::post, endpoint_->target, 11};
    req.set(bhttp::field::content_type, "application/json");
    req.set(bhttp::field::accept, "application/json, text/event-stream");
    req.body() = json::serialize(message);
    http::exchange_options xo;
    xo.abort = std::make_shared<http::abort_handle>();
    posts_.push_back(xo.abort);
    auto what = "POST " + endpoint_->text();
    auto opened = co_await detail::send_authorized(*http_, opts_, *endpoint_, std::move(req), xo);
    std::erase(posts_, xo.abort);
    if (!opened)
        co_return opened.error();
    auto status = opened->status();
    if (status >= 200 && status < 300) {
        co_await opened->read_body(); // "Accepted": the answer comes on the stream
        co_return result<void>{};
    }
    if (status == 404) {
        error e{errc::session_expired, what + " answered 404: the server forgot the session"};
        if (!closed_ && events_.failed)
            events_.failed(e);
        co_return e;
    }
    co_return co_await detail::status_failure(*opened, what);
}

} // namespace

std::shared_ptr<transport> make_sse_transport(asio::any_io_executor ex,
                                              std::shared_ptr<http::client> http, http::url sse_url,
                                              transport_options opts) {
    return std::make_shared<sse_transport>(std::move(ex), std::move(http), std::move(sse_url),
                                           std::move(opts));
}

} // namespace mcpd::client
