// redis/subscriber.cpp — channel bookkeeping, message buffering and resubscription.
#include "mcpd/redis/subscriber.hpp"

#include "core/log.hpp"
#include "mcpd/redis/error.hpp"
#include "mcpd/redis/resp.hpp"
#include "redis/connection.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <deque>
#include <set>

namespace mcpd::redis {

namespace asio = boost::asio;

namespace detail {

// Lives on the connection's strand: every member below is touched there only.
class subscriber_state : public std::enable_shared_from_this<subscriber_state> {
public:
    using receive_handler = asio::any_completion_handler<void(result<message>)>;

    std::shared_ptr<connection> conn;
    std::set<std::string> channels, patterns;
    std::deque<message> buffered;
    std::deque<receive_handler> waiting;
    std::function<void(event const&)> user_events;
    std::atomic<std::uint64_t> dropped{0};
    bool closed = false;

    void install_hooks() {
        conn->subscriber_mode = true;
        std::weak_ptr<subscriber_state> weak = shared_from_this();
        conn->on_push = [weak](value&& v) {
            if (auto self = weak.lock())
                self->on_push(std::move(v));
        };
        conn->on_ready = [weak](int) {
            std::vector<request_ptr> out;
            if (auto self = weak.lock()) {
                self->add_resubscribe(out, "SUBSCRIBE", self->channels);
                self->add_resubscribe(out, "PSUBSCRIBE", self->patterns);
            }
            return out;
        };
        conn->set_event_handler([weak](event const& e) {
            auto self = weak.lock();
            if (!self)
                return;
            if (e.what == event::kind::closed)
                self->close_waiters();
            if (self->user_events)
                self->user_events(e);
        });
    }

    void add_resubscribe(std::vector<request_ptr>& out, std::string_view verb,
                         std::set<std::string> const& names) {
        if (names.empty())
            return;
        command c(verb);
        c.args(names);
        auto r = std::make_shared<internal_request>();
        encode_command(r->payload, c.args());
        r->expected_replies = 0; // confirmations arrive as pushes
        out.push_back(std::move(r));
    }

    void on_push(value&& v) {
        if (v.is_error()) {
            log::warn("redis subscriber {}: {}", conn->cfg().redacted_url(), to_debug_string(v));
            return;
        }
        if (v.elements.empty())
            return;
        auto kind = v.elements[0].as_string().value_or("");
        message m;
        auto str = [&](std::size_t i) {
            return std::string(v.elements[i].as_string().value_or(""));
        };
        if ((kind == "message" || kind == "smessage") && v.elements.size() >= 3) {
            m.channel = str(1);
            m.payload = str(2);
        } else if (kind == "pmessage" && v.elements.size() >= 4) {
            m.pattern = str(1);
            m.channel = str(2);
            m.payload = str(3);
        } else {
            return; // subscribe/unsubscribe confirmations, client tracking, …
        }
        if (!waiting.empty()) {
            auto h = std::move(waiting.front());
            waiting.pop_front();
            deliver(std::move(h), std::move(m));
            return;
        }
        if (buffered.size() >= subscriber::max_buffered) {
            if (dropped.fetch_add(1) == 0)
                log::warn("redis subscriber: consumer is {} messages behind; dropping the oldest",
                          buffered.size());
            buffered.pop_front();
        }
        buffered.push_back(std::move(m));
    }

    void deliver(receive_handler h, result<message> m) {
        complete_with(std::move(h), std::move(m));
    }

    void close_waiters() {
        closed = true;
        while (!waiting.empty()) {
            auto h = std::move(waiting.front());
            waiting.pop_front();
            deliver(std::move(h), error(client_errc::disconnected));
        }
    }
};

} // namespace detail

subscriber::subscriber(asio::any_io_executor const& ex, config cfg)
    : state_(std::make_shared<detail::subscriber_state>()) {
    state_->conn = std::make_shared<detail::connection>(ex, std::move(cfg));
    state_->install_hooks();
}

subscriber::~subscriber() {
    if (state_)
        state_->conn->detach(); // user_events is only reached through the detached handler
}
subscriber::subscriber(subscriber&&) noexcept = default;
subscriber& subscriber::operator=(subscriber&& other) noexcept {
    if (this != &other) {
        if (state_)
            state_->conn->detach();
        state_ = std::move(other.state_);
    }
    return *this;
}

void subscriber::on_event(std::function<void(event const&)> handler) {
    state_->user_events = std::move(handler);
}

namespace {

// Updates the remembered set on the strand, then sends the command. (The set changes in a
// posted function: `co_await post(strand)` would resume on the caller's executor, not the strand.
// The strand runs the two in order, so a reconnect in between resubscribes the new set.)
asio::awaitable<result<void>> change(std::shared_ptr<detail::subscriber_state> st,
                                     std::string_view verb, std::vector<std::string> names,
                                     bool pattern, bool add) {
    asio::post(st->conn->strand(), [st, names, pattern, add] {
        auto& set = pattern ? st->patterns : st->channels;
        if (add)
            set.insert(names.begin(), names.end());
        else if (names.empty())
            set.clear();
        else
            for (auto const& n : names)
                set.erase(n);
    });
    command c(verb);
    c.args(names);
    request_options o;
    o.apply_prefix = false;
    auto r = co_await detail::execute(st->conn, request(std::move(c), o), true);
    if (!r)
        co_return r.error();
    co_return result<void>();
}

} // namespace

asio::awaitable<result<void>> subscriber::subscribe(std::vector<std::string> channels) {
    return change(state_, "SUBSCRIBE", std::move(channels), false, true);
}
asio::awaitable<result<void>> subscriber::psubscribe(std::vector<std::string> patterns) {
    return change(state_, "PSUBSCRIBE", std::move(patterns), true, true);
}
asio::awaitable<result<void>> subscriber::unsubscribe(std::vector<std::string> channels) {
    return change(state_, "UNSUBSCRIBE", std::move(channels), false, false);
}
asio::awaitable<result<void>> subscriber::punsubscribe(std::vector<std::string> patterns) {
    return change(state_, "PUNSUBSCRIBE", std::move(patterns), true, false);
}

asio::awaitable<result<message>> subscriber::receive() {
    auto initiation = [st = state_](auto handler) {
        detail::subscriber_state::receive_handler h(std::move(handler));
        asio::post(st->conn->strand(), [st, h = std::move(h)]() mutable {
            if (!st->buffered.empty()) {
                message m = std::move(st->buffered.front());
                st->buffered.pop_front();
                st->deliver(std::move(h), std::move(m));
            } else if (st->closed) {
                st->deliver(std::move(h), error(client_errc::disconnected));
            } else {
                st->waiting.push_back(std::move(h));
            }
        });
    };
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(result<message>)>(
        std::move(initiation), asio::use_awaitable);
}

asio::awaitable<result<void>> subscriber::quit() {
    auto initiation = [conn = state_->conn](auto handler) {
        conn->quit(detail::connection::quit_handler(std::move(handler)));
    };
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(result<void>)>(
        std::move(initiation), asio::use_awaitable);
}

void subscriber::disconnect() {
    state_->conn->disconnect();
}
connection_state subscriber::state() const noexcept {
    return state_->conn->state();
}
std::uint64_t subscriber::dropped() const noexcept {
    return state_->dropped.load();
}

} // namespace mcpd::redis
