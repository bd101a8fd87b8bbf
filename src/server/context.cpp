// server/context.cpp — progress, logging and server→client requests for handlers.
// See context.hpp.
#include "mcpd/server/context.hpp"
#include "server/outgoing_request.hpp"

#include "mcpd/protocol/jsonrpc.hpp"
#include "server/registry.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/serialize.hpp>

#include <array>

namespace mcpd::server {

namespace json = boost::json;
namespace asio = boost::asio;

namespace {

constexpr std::array<std::string_view, 8> log_levels = {"debug", "info",     "notice", "warning",
                                                        "error", "critical", "alert",  "emergency"};

} // namespace

int log_level_rank(std::string_view level) {
    for (std::size_t i = 0; i < log_levels.size(); ++i)
        if (log_levels[i] == level)
            return static_cast<int>(i);
    return -1;
}

context::context(server& srv, std::shared_ptr<session> s, json::value request_id,
                 json::object request_params, message_sink related,
                 std::shared_ptr<in_flight_request> flight, asio::any_io_executor ex)
    : srv_(srv)
    , session_(std::move(s))
    , request_id_(std::move(request_id))
    , params_(std::move(request_params))
    , related_(std::move(related))
    , flight_(std::move(flight))
    , ex_(std::move(ex)) {}

json::object const& context::request_meta() const noexcept {
    static json::object const none;
    auto const* m = params_.if_contains("_meta");
    return m != nullptr && m->is_object() ? m->get_object() : none;
}

std::string const& context::session_id() const noexcept {
    return session_->state.id;
}
std::string const& context::client() const noexcept {
    return session_->client;
}
std::string const& context::protocol_version() const noexcept {
    return session_->state.protocol_version;
}
json::object const& context::client_capabilities() const noexcept {
    return session_->state.client_capabilities;
}
bool context::cancelled() const noexcept {
    return flight_ && flight_->cancelled;
}

guard::guard_set& context::guards() {
    return srv_.guards();
}

asio::awaitable<guard::rate_decision> context::check_rate_limit(std::string_view tool,
                                                                std::int64_t max, duration window) {
    co_return co_await guards().check_rate_limit(guard::rate_limit_subject(session_id(), client()),
                                                 tool, max, window);
}

bool context::close_sse_stream() {
    return related_.end_stream && related_.end_stream();
}

bool context::send(json::object const& msg) {
    if (related_ && related_(msg))
        return true;
    return session_->send_unsolicited(msg);
}

void context::progress(double progress, std::optional<double> total, std::string_view message) {
    auto const* token = request_meta().if_contains("progressToken");
    if (token == nullptr || !(token->is_string() || token->is_int64() || token->is_uint64()))
        return;
    json::object params{{"progressToken", *token}, {"progress", progress}};
    if (total)
        params["total"] = *total;
    if (!message.empty())
        params["message"] = message;
    send(protocol::make_notification("notifications/progress", std::move(params)));
}

void context::log(std::string_view level, json::value data, std::string_view logger) {
    int rank = log_level_rank(level);
    if (rank < 0)
        return;
    auto const& wanted = session_->state.log_level;
    if (!wanted.empty()) {
        int floor = log_level_rank(wanted); // -1: logging off (a stateless request without a level)
        if (floor < 0 || rank < floor)
            return;
    }
    json::object params{{"level", level}, {"data", std::move(data)}};
    if (!logger.empty())
        params["logger"] = logger;
    send(protocol::make_notification("notifications/message", std::move(params)));
}

asio::awaitable<result<json::value>> context::request(std::string method, json::object params,
                                                      duration timeout) {
    co_return co_await request(std::move(method), std::move(params), timeout, std::string{});
}

void context::load_inputs() {
    if (inputs_loaded_)
        return;
    inputs_loaded_ = true;
    if (auto const* st = params_.if_contains("requestState"); st != nullptr && st->is_string()) {
        auto opened = srv_.reg().open_state(st->get_string());
        if (!opened)
            throw protocol_error(protocol::code::invalid_params,
                                 "requestState integrity check failed");
        inputs_ = std::move(*opened);
    }
    if (auto const* r = params_.if_contains("inputResponses")) {
        if (r->is_null())
            return;
        if (!r->is_object())
            throw protocol_error(protocol::code::invalid_params,
                                 "inputResponses must be an object");
        for (auto const& [k, v] : r->get_object())
            inputs_[k] = v;
    }
}

json::value const* context::input_response(std::string_view key) {
    load_inputs();
    return inputs_.if_contains(key);
}

std::string context::sealed_state() {
    load_inputs();
    return srv_.reg().seal_state(inputs_);
}

asio::awaitable<result<json::value>> context::request(std::string method, json::object params,
                                                      duration timeout, std::string key) {
    if (session_->ephemeral) {
        if (key.empty())
            key = method + "#" + std::to_string(next_key_++);
        if (auto const* answer = input_response(key)) {
            if (!answer->is_object())
                throw protocol_error(protocol::code::invalid_params,
                                     "inputResponses[\"" + key + "\"] must be an object");
            co_return *answer;
        }
        json::object requests;
        requests[key] = json::object{{"method", method}, {"params", std::move(params)}};
        throw input_required(std::move(requests), sealed_state());
    }
    auto const& limits = srv_.reg().opts.limits;
    if (session_->outgoing.size() >= limits.max_pending_client_requests) {
        srv_.reg().limit_hits.hit("max-pending-client-requests");
        co_return error{client_errc::limit_reached,
                        method + ": " + std::to_string(session_->outgoing.size()) +
                            " requests to this client await answers already "
                            "(max-pending-client-requests)"};
    }
    auto id = session_->next_outgoing_id++;
    json::value id_value = id;
    auto id_text = json::serialize(id_value);
    auto pending = std::make_shared<outgoing_request>(ex_);
    session_->outgoing.emplace(id_text, pending);
    json::object msg{
        {"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
    if (!send(msg)) {
        session_->outgoing.erase(id_text);
        co_return error{client_errc::channel_closed, method};
    }
    // Wait for the reply, the timeout, or cancellation of the handler.
    // The watchdog owns its timer: it may start after this coroutine has already returned.
    auto timer = std::make_shared<asio::steady_timer>(ex_, timeout);
    auto watchdog = [pending, timer]() -> asio::awaitable<void> {
        boost::system::error_code ec;
        co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (!ec && !pending->reply)
            pending->done.notify();
    };
    asio::co_spawn(ex_, std::move(watchdog), asio::detached);
    co_await pending->done.wait();
    timer->cancel();
    session_->outgoing.erase(id_text);
    if (cancelled())
        co_return error{make_error_code(asio::error::operation_aborted), method};
    if (!pending->reply)
        co_return error{client_errc::timeout, method};
    auto& reply = *pending->reply;
    if (auto const* r = reply.if_contains("result"))
        co_return *r;
    std::string why = method;
    if (auto const* e = reply.if_contains("error"); e != nullptr && e->is_object()) {
        auto const& eo = e->get_object();
        if (auto const* m = eo.if_contains("message"); m != nullptr && m->is_string())
            why += ": " + std::string(m->get_string());
        if (auto const* c = eo.if_contains("code");
            c != nullptr && c->is_int64() && c->get_int64() == protocol::code::connection_closed)
            co_return error{client_errc::channel_closed, why};
    }
    co_return error{client_errc::peer_error, why};
}

namespace {
bool declares(json::object const& caps, std::string_view name) {
    auto const* c = caps.if_contains(name);
    return c != nullptr && c->is_object();
}
} // namespace

asio::awaitable<result<json::value>> context::create_message(json::object params) {
    if (!declares(client_capabilities(), "sampling"))
        co_return error{client_errc::capability_missing, "sampling/createMessage needs sampling"};
    co_return co_await request("sampling/createMessage", std::move(params));
}

asio::awaitable<result<json::value>> context::elicit(json::object params) {
    if (!declares(client_capabilities(), "elicitation"))
        co_return error{client_errc::capability_missing, "elicitation/create needs elicitation"};
    // 2025-11-25: URL mode needs `elicitation.url`; an empty `elicitation: {}` means form only.
    if (auto const* mode = params.if_contains("mode"); mode != nullptr && *mode == "url") {
        auto const& el = client_capabilities().at("elicitation").get_object();
        if (!declares(el, "url"))
            co_return error{client_errc::capability_missing,
                            "elicitation/create in URL mode needs elicitation.url"};
    }
    co_return co_await request("elicitation/create", std::move(params));
}

asio::awaitable<result<json::value>> context::list_roots() {
    if (!declares(client_capabilities(), "roots"))
        co_return error{client_errc::capability_missing, "roots/list needs roots"};
    json::object none;
    co_return co_await request("roots/list", std::move(none));
}

} // namespace mcpd::server
