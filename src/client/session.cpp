// client/session.cpp — the MCP protocol on the client side: requests and their answers,
// notifications, server → client requests, initialize and the transport fallback. See
// session.hpp.
//
// Each request waits in a `pending_request` (keyed by its integer id, which is also its
// progress token): the transport's messages complete it, its deadline timer times it out, Asio
// cancellation of the waiting coroutine cancels it, and a failure of the session completes all
// of them with the failure. The POST that carries a request is sent from a coroutine of its
// own, so that waiting (and giving up) never depends on how long the HTTP exchange takes.
#include "mcpd/client/session.hpp"
#include "client/transports.hpp"

#include "core/log.hpp"
#include "core/wakeup.hpp"
#include "mcpd/http/policy.hpp"
#include "mcpd/protocol/jsonrpc.hpp"
#include "mcpd/protocol/version.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <unordered_map>
#include <unordered_set>

namespace mcpd::client {

namespace asio = boost::asio;
namespace json = boost::json;
namespace code = protocol::code;
using boost::system::error_code;

namespace {

struct pending_request {
    explicit pending_request(asio::any_io_executor ex)
        : wake(ex)
        , deadline(ex) {}

    wakeup wake;
    asio::steady_timer deadline;
    std::optional<result<json::value>> outcome;
    std::string method;
    duration timeout{};
    std::optional<std::chrono::steady_clock::time_point> hard_limit;
    bool reset_on_progress = false;
    std::function<void(progress const&)> on_progress;
};

std::optional<double> number_of(json::value const* v) {
    if (v == nullptr)
        return std::nullopt;
    if (v->is_int64())
        return static_cast<double>(v->get_int64());
    if (v->is_uint64())
        return static_cast<double>(v->get_uint64());
    if (v->is_double())
        return v->get_double();
    return std::nullopt;
}

std::string string_of(json::object const& o, std::string_view key) {
    auto const* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string{};
}

bool is_fallback_status(error const& e) {
    auto s = http::status_of(e);
    return s == 400 || s == 404 || s == 405;
}

} // namespace

struct session::impl : std::enable_shared_from_this<impl> {
    impl(asio::any_io_executor e, session_options o)
        : ex(std::move(e))
        , opts(std::move(o))
        , http(std::make_shared<http::client>(ex, opts.http))
        , pinger(ex) {}

    enum class phase { connecting, open, failed, closed };

    asio::any_io_executor ex;
    session_options opts;
    std::shared_ptr<http::client> http;
    std::shared_ptr<client::transport> tr;
    phase ph = phase::connecting;
    std::optional<error> failure;
    std::string version;
    json::object server_info;
    json::object server_caps;
    std::string instructions;
    std::int64_t next_id = 0;
    std::unordered_map<std::int64_t, std::shared_ptr<pending_request>> pending;
    // Server → client requests being answered, by serialized id.
    std::unordered_map<std::string, std::shared_ptr<asio::cancellation_signal>> inbound;
    asio::steady_timer pinger;

    // --- the transport ----------------------------------------------------------------------

    transport_options transport_opts() const {
        transport_options t;
        t.headers = opts.headers;
        t.auth = opts.auth;
        t.reconnect = opts.reconnect;
        t.open_get_stream = opts.open_get_stream;
        t.endpoint_timeout = opts.endpoint_timeout;
        return t;
    }

    void attach(std::shared_ptr<client::transport> t) {
        if (tr)
            tr->abort();
        tr = std::move(t);
        std::weak_ptr<impl> weak = shared_from_this();
        transport_events ev;
        auto const* which = tr.get();
        // Events of a transport that has since been replaced (the fallback) are ignored.
        ev.message = [weak, which](json::object m) {
            if (auto s = weak.lock(); s && s->tr.get() == which)
                s->on_message(std::move(m));
        };
        ev.request_failed = [weak, which](json::value const& id, error const& e) {
            if (auto s = weak.lock(); s && s->tr.get() == which && id.is_int64())
                s->complete(id.get_int64(), e);
        };
        ev.failed = [weak, which](error const& e) {
            if (auto s = weak.lock(); s && s->tr.get() == which)
                s->fail(e);
        };
        tr->set_events(std::move(ev));
    }

    // --- completing requests ------------------------------------------------------------------

    void complete(std::int64_t id, result<json::value> outcome) {
        auto it = pending.find(id);
        if (it == pending.end() || it->second->outcome)
            return;
        it->second->outcome = std::move(outcome);
        it->second->deadline.cancel();
        it->second->wake.notify();
    }

    void complete_all(error const& e) {
        for (auto& [id, p] : pending)
            if (!p->outcome) {
                p->outcome = e;
                p->deadline.cancel();
                p->wake.notify();
            }
    }

    void cancel_inbound() {
        auto handlers = std::move(inbound);
        inbound.clear();
        for (auto& [id, sig] : handlers)
            sig->emit(asio::cancellation_type::terminal);
    }

    // The connection is gone for good.
    void fail(error const& e) {
        if (ph == phase::failed || ph == phase::closed)
            return;
        bool was_open = ph == phase::open;
        ph = phase::failed;
        failure = e;
        log::warn("mcp client: session with {} failed: {}",
                  server_info.contains("name") ? string_of(server_info, "name") : "the server",
                  e.message());
        complete_all(e);
        cancel_inbound();
        pinger.cancel();
        if (tr)
            tr->abort();
        if (was_open && opts.on.on_failed) {
            auto notify_failed = opts.on.on_failed;
            notify_failed(e);
        }
    }

    void drop() {
        if (ph == phase::closed)
            return;
        ph = phase::closed;
        complete_all(error{errc::closed, "the session was dropped"});
        cancel_inbound();
        pinger.cancel();
        if (tr)
            tr->abort();
        http->close_idle();
    }

    asio::awaitable<void> close() {
        auto self = shared_from_this();
        if (ph == phase::closed)
            co_return;
        ph = phase::closed;
        complete_all(error{errc::closed, "close() was called"});
        cancel_inbound();
        pinger.cancel();
        if (tr)
            co_await tr->close();
        http->close_idle();
    }

    std::optional<error> not_usable() const {
        switch (ph) {
        case phase::connecting:
        case phase::open:
            return std::nullopt;
        case phase::failed:
            return error{errc::not_connected,
                         "the session failed: " + (failure ? failure->message() : std::string())};
        case phase::closed:
            break;
        }
        return error{errc::not_connected, "the session is closed"};
    }

    // --- sending ------------------------------------------------------------------------------

    static asio::awaitable<void> send_request(std::shared_ptr<impl> self, json::object msg,
                                              std::int64_t id) {
        auto tr = self->tr;
        auto sent = co_await tr->send(msg);
        if (!sent)
            self->complete(id, sent.error());
    }

    static asio::awaitable<void> send_quietly(std::shared_ptr<impl> self, json::object msg) {
        auto tr = self->tr;
        if (!tr)
            co_return;
        auto sent = co_await tr->send(msg);
        if (!sent)
            log::debug("mcp client: sending {} failed: {}", string_of(msg, "method"),
                       sent.error().message());
    }

    void spawn_send(json::object msg) {
        auto task = send_quietly(shared_from_this(), std::move(msg));
        asio::co_spawn(ex, std::move(task), asio::detached);
    }

    void arm_deadline(std::shared_ptr<pending_request> const& p, std::int64_t id) {
        auto wait = p->timeout;
        if (p->hard_limit) {
            auto left = std::chrono::duration_cast<duration>(*p->hard_limit -
                                                             std::chrono::steady_clock::now());
            wait = std::max(duration::zero(), std::min(wait, left));
        }
        p->deadline.expires_after(wait);
        std::weak_ptr<impl> weak = shared_from_this();
        std::weak_ptr<pending_request> wp = p;
        p->deadline.async_wait([weak, wp, id, wait](error_code ec) {
            auto self = weak.lock();
            auto pr = wp.lock();
            if (ec || !self || !pr || pr->outcome)
                return;
            self->complete(id, error{errc::timeout, pr->method + " got no answer within " +
                                                        format_duration(wait)});
        });
    }

    // The caller stopped waiting (cancelled, timed out): tell the transport and the server.
    void give_up(std::int64_t id, std::string const& method, std::string_view reason) {
        pending.erase(id);
        if (!tr)
            return;
        tr->abandon(json::value(id));
        if (method == "initialize" || ph == phase::failed || ph == phase::closed)
            return; // initialize is never cancelled (the spec); a dead session hears nothing
        json::object params{{"requestId", id}, {"reason", reason}};
        spawn_send(protocol::make_notification("notifications/cancelled", std::move(params)));
    }

    asio::awaitable<result<json::value>> request(std::string method, json::object params,
                                                 request_options ro) {
        auto self = shared_from_this();
        if (auto bad = not_usable())
            co_return *bad;
        auto id = ++next_id;
        if (ro.on_progress) {
            auto& meta = params["_meta"];
            if (!meta.is_object())
                meta = json::object{};
            meta.as_object()["progressToken"] = id;
        }
        json::object msg{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
        if (!params.empty())
            msg["params"] = std::move(params);

        auto p = std::make_shared<pending_request>(ex);
        p->method = method;
        p->timeout = ro.timeout.value_or(opts.request_timeout);
        if (ro.max_total_timeout)
            p->hard_limit = std::chrono::steady_clock::now() + *ro.max_total_timeout;
        p->reset_on_progress = ro.reset_timeout_on_progress;
        p->on_progress = std::move(ro.on_progress);
        pending[id] = p;
        arm_deadline(p, id);
        auto sending = send_request(self, std::move(msg), id);
        asio::co_spawn(ex, std::move(sending), asio::detached);

        while (!p->outcome) {
            co_await p->wake.wait();
            auto cs = co_await asio::this_coro::cancellation_state;
            if (!p->outcome && cs.cancelled() != asio::cancellation_type::none) {
                p->deadline.cancel();
                give_up(id, method, "cancelled by the client");
                co_return error{errc::cancelled, method};
            }
        }
        auto outcome = std::move(*p->outcome);
        if (!outcome && outcome.error() == errc::timeout)
            give_up(id, method, "timed out");
        else
            pending.erase(id);
        co_return outcome;
    }

    asio::awaitable<result<void>> notify(std::string method, json::object params) {
        auto self = shared_from_this();
        if (auto bad = not_usable())
            co_return *bad;
        auto msg = protocol::make_notification(method, std::move(params));
        auto tr_now = tr;
        co_return co_await tr_now->send(msg);
    }

    // --- receiving ----------------------------------------------------------------------------

    void on_message(json::object msg) {
        json::value v(std::move(msg));
        auto m = protocol::parse_message(v);
        if (auto* r = std::get_if<protocol::response>(&m)) {
            if (r->id.is_int64())
                complete(r->id.get_int64(), std::move(r->result));
        } else if (auto* e = std::get_if<protocol::error_response>(&m)) {
            if (e->id.is_int64())
                complete(e->id.get_int64(), rpc_error(e->code, e->message, &e->data));
        } else if (auto* n = std::get_if<protocol::notification>(&m)) {
            on_notification(std::move(*n));
        } else if (auto* q = std::get_if<protocol::request>(&m)) {
            on_request(std::move(*q));
        } else if (auto* bad = std::get_if<protocol::invalid>(&m)) {
            log::warn("mcp client: the server sent an invalid message: {}", bad->reply.message);
        }
    }

    void on_notification(protocol::notification n) {
        auto const& params = n.params;
        if (n.method == "notifications/progress") {
            auto const* token = params.if_contains("progressToken");
            if (token == nullptr || !token->is_int64())
                return;
            auto it = pending.find(token->get_int64());
            if (it == pending.end())
                return;
            auto p = it->second;
            if (p->reset_on_progress && !p->outcome)
                arm_deadline(p, it->first);
            if (p->on_progress) {
                progress pr;
                pr.value = number_of(params.if_contains("progress")).value_or(0);
                pr.total = number_of(params.if_contains("total"));
                pr.message = string_of(params, "message");
                auto callback = p->on_progress;
                callback(pr);
            }
            return;
        }
        if (n.method == "notifications/message") {
            if (!opts.on.on_log)
                return;
            log_message lm;
            lm.level = string_of(params, "level");
            lm.logger = string_of(params, "logger");
            if (auto const* d = params.if_contains("data"))
                lm.data = *d;
            auto callback = opts.on.on_log;
            callback(lm);
            return;
        }
        if (n.method == "notifications/cancelled") {
            auto const* id = params.if_contains("requestId");
            if (id == nullptr)
                return;
            auto it = inbound.find(json::serialize(*id));
            if (it == inbound.end())
                return;
            auto sig = it->second;
            inbound.erase(it); // no answer goes back for a cancelled request
            sig->emit(asio::cancellation_type::terminal);
            return;
        }
        if (opts.on.on_notification) {
            auto callback = opts.on.on_notification;
            callback(n.method, params);
        }
    }

    void on_request(protocol::request r) {
        if (ph == phase::failed || ph == phase::closed)
            return;
        request_handler h;
        if (r.method == "sampling/createMessage")
            h = opts.on.sampling;
        else if (r.method == "elicitation/create")
            h = opts.on.elicitation;
        else if (r.method == "roots/list")
            h = opts.on.roots;
        if (r.method == "ping") {
            spawn_send(protocol::make_result(r.id, json::object{}));
            return;
        }
        if (!h) {
            spawn_send(protocol::make_error(r.id, code::method_not_found,
                                            "Method not found: " + r.method));
            return;
        }
        auto key = json::serialize(r.id);
        auto sig = std::make_shared<asio::cancellation_signal>();
        inbound[key] = sig;
        auto task = answer(shared_from_this(), std::move(r), std::move(h), key, sig);
        asio::co_spawn(ex, std::move(task), asio::detached);
    }

    static asio::awaitable<void> answer(std::shared_ptr<impl> self, protocol::request r,
                                        request_handler h, std::string key,
                                        std::shared_ptr<asio::cancellation_signal> sig) {
        auto params = std::move(r.params);
        // Named, not a temporary inside co_await: see docs/rough_edges.md (GCC 12).
        auto run = [&h, &params]() -> asio::awaitable<result<json::value>> {
            co_return co_await h(std::move(params));
        };
        json::object reply;
        try {
            auto out = co_await asio::co_spawn(
                self->ex, std::move(run),
                asio::bind_cancellation_slot(sig->slot(), asio::use_awaitable));
            if (out) {
                reply = protocol::make_result(r.id, std::move(*out));
            } else {
                int c = rpc_code_of(out.error());
                std::string text = c != 0 ? out.error().detail : out.error().message();
                reply = protocol::make_error(r.id, c != 0 ? c : code::internal_error, text);
            }
        } catch (std::exception const& e) {
            reply = protocol::make_error(r.id, code::internal_error, e.what());
        }
        auto it = self->inbound.find(key);
        if (it == self->inbound.end() || it->second != sig)
            co_return; // cancelled by the server, or the session ended: no answer
        self->inbound.erase(it);
        auto tr = self->tr;
        auto sent = co_await tr->send(reply);
        if (!sent)
            log::debug("mcp client: answering {} failed: {}", r.method, sent.error().message());
    }

    // --- the session's life -------------------------------------------------------------------

    asio::awaitable<result<void>> initialize() {
        json::object caps;
        if (opts.on.sampling)
            caps["sampling"] = json::object{};
        if (opts.on.elicitation)
            caps["elicitation"] = json::object{};
        if (opts.on.roots)
            caps["roots"] = json::object{{"listChanged", true}};
        json::object info{{"name", opts.client_info.name}, {"version", opts.client_info.version}};
        if (!opts.client_info.title.empty())
            info["title"] = opts.client_info.title;
        json::object params{{"protocolVersion", opts.protocol_version},
                            {"capabilities", std::move(caps)},
                            {"clientInfo", std::move(info)}};
        std::string method = "initialize";
        request_options ro;
        auto answered = co_await request(method, std::move(params), ro);
        if (!answered)
            co_return answered.error();
        auto const* o = answered->if_object();
        auto const* v = o != nullptr ? o->if_contains("protocolVersion") : nullptr;
        if (v == nullptr || !v->is_string())
            co_return error{errc::invalid_response,
                            "initialize answered without a protocolVersion: " +
                                json::serialize(*answered)};
        std::string offered(v->get_string());
        // Any revision up to the one we offered that uses initialize (the stateless revision
        // has none).
        if (!protocol::is_supported(offered) || protocol::is_stateless(offered) ||
            offered > opts.protocol_version)
            co_return error{errc::unsupported_protocol_version,
                            "the server answered initialize with revision " + offered +
                                "; this client speaks " + std::string(protocol::v2024_11_05) +
                                " to " + opts.protocol_version};
        version = offered;
        if (auto const* c = o->if_contains("capabilities"); c != nullptr && c->is_object())
            server_caps = c->get_object();
        if (auto const* si = o->if_contains("serverInfo"); si != nullptr && si->is_object())
            server_info = si->get_object();
        instructions = string_of(*o, "instructions");
        tr->set_protocol_version(version);
        std::string initialized_method = "notifications/initialized";
        json::object no_params;
        auto initialized = co_await notify(std::move(initialized_method), std::move(no_params));
        if (!initialized)
            co_return initialized.error();
        ph = phase::open;
        tr->initialized();
        if (opts.ping_interval > duration::zero()) {
            auto task = keepalive(shared_from_this());
            asio::co_spawn(ex, std::move(task), asio::detached);
        }
        co_return result<void>{};
    }

    asio::awaitable<result<void>> establish(http::url const& url) {
        auto choice = opts.transport;
        std::optional<error> streamable_error;
        if (choice != transport_choice::sse) {
            attach(make_streamable_http_transport(ex, http, url, transport_opts()));
            auto init = co_await initialize();
            if (init)
                co_return init;
            if (choice == transport_choice::streamable_http || !is_fallback_status(init.error()))
                co_return init.error();
            streamable_error = init.error();
            log::info("mcp client: {} refused Streamable HTTP ({}); trying HTTP+SSE", url.text(),
                      init.error().message());
            pending.clear();
        }
        attach(make_sse_transport(ex, http, url, transport_opts()));
        auto started = co_await tr->start();
        if (!started) {
            if (streamable_error)
                co_return error{errc::transport_unavailable,
                                "Streamable HTTP: " + streamable_error->message() +
                                    "; HTTP+SSE: " + started.error().message()};
            co_return started.error();
        }
        co_return co_await initialize();
    }

    static asio::awaitable<void> keepalive(std::shared_ptr<impl> self) {
        std::weak_ptr<impl> weak = self;
        auto interval = self->opts.ping_interval;
        self.reset(); // the timer's wait must not keep a dropped session alive
        for (;;) {
            auto s = weak.lock();
            if (!s || s->ph != phase::open)
                co_return;
            s->pinger.expires_after(interval);
            error_code ec;
            auto& timer = s->pinger;
            s.reset();
            co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            s = weak.lock();
            if (ec || !s || s->ph != phase::open)
                co_return;
            request_options ro;
            ro.timeout = interval;
            std::string method = "ping";
            json::object no_params;
            auto r = co_await s->request(std::move(method), std::move(no_params), ro);
            // A JSON-RPC error is an answer too: the server is there.
            if (!r && rpc_code_of(r.error()) == 0 && s->ph == phase::open)
                s->fail(
                    error{errc::connection_lost, "keep-alive ping failed: " + r.error().message()});
        }
    }

    // --- lists --------------------------------------------------------------------------------

    asio::awaitable<result<page>> list_page(std::string method, std::string key, std::string cursor,
                                            request_options ro) {
        json::object params;
        if (!cursor.empty())
            params["cursor"] = cursor;
        auto r = co_await request(method, std::move(params), std::move(ro));
        if (!r)
            co_return r.error();
        auto const* o = r->if_object();
        auto const* items = o != nullptr ? o->if_contains(key) : nullptr;
        if (items == nullptr || !items->is_array())
            co_return error{errc::invalid_response,
                            method + " answered without a \"" + key + "\" array"};
        page pg;
        for (auto const& item : items->get_array()) {
            if (!item.is_object())
                co_return error{errc::invalid_response,
                                method + ": an entry of \"" + key + "\" is not an object"};
            pg.items.push_back(item.get_object());
        }
        pg.next_cursor = string_of(*o, "nextCursor");
        co_return pg;
    }

    asio::awaitable<result<std::vector<json::object>>> list_all(std::string method, std::string key,
                                                                request_options ro) {
        std::vector<json::object> all;
        std::unordered_set<std::string> seen;
        std::string cursor;
        for (std::size_t n = 0; n < max_pages; ++n) {
            auto pg = co_await list_page(method, key, cursor, ro);
            if (!pg)
                co_return pg.error();
            for (auto& item : pg->items)
                all.push_back(std::move(item));
            if (pg->next_cursor.empty())
                co_return all;
            if (!seen.insert(pg->next_cursor).second)
                co_return error{errc::invalid_response,
                                method + " sent the cursor \"" + pg->next_cursor + "\" twice"};
            cursor = std::move(pg->next_cursor);
        }
        co_return error{errc::invalid_response,
                        method + " has more than " + std::to_string(max_pages) + " pages"};
    }

    asio::awaitable<result<json::object>> request_object(std::string method, json::object params,
                                                         request_options ro) {
        auto r = co_await request(method, std::move(params), std::move(ro));
        if (!r)
            co_return r.error();
        if (!r->is_object())
            co_return error{errc::invalid_response, method + " answered with a non-object result"};
        co_return std::move(r->get_object());
    }

    asio::awaitable<result<void>> request_void(std::string method, json::object params,
                                               request_options ro) {
        auto r = co_await request(method, std::move(params), std::move(ro));
        if (!r)
            co_return r.error();
        co_return result<void>{};
    }
};

// ---------------------------------------------------------------------------------------------

session::session(std::shared_ptr<impl> i)
    : impl_(std::move(i)) {}
session::session(session&&) noexcept = default;
session& session::operator=(session&& other) noexcept {
    if (this != &other) {
        if (impl_)
            impl_->drop();
        impl_ = std::move(other.impl_);
    }
    return *this;
}
session::~session() {
    if (impl_)
        impl_->drop();
}

asio::awaitable<result<session>> session::connect(std::string_view url, session_options opts) {
    auto parsed = http::parse_url(url);
    if (!parsed)
        co_return parsed.error();
    // Extra headers are written verbatim: one with CR/LF, or one that overrides framing or the
    // MCP transport's own headers, would let whoever chose it rewrite the request.
    for (auto const& [name, value] : opts.headers)
        if (auto why = http::refused_extra_header(name, value); !why.empty())
            co_return error(
                boost::system::errc::make_error_code(boost::system::errc::invalid_argument), why);
    auto ex = co_await asio::this_coro::executor;
    auto i = std::make_shared<impl>(ex, std::move(opts));
    auto established = co_await i->establish(*parsed);
    if (!established) {
        co_await i->close(); // a session the server did open (a bad initialize answer) ends
        co_return established.error();
    }
    co_return session(std::move(i));
}

transport_kind session::transport() const noexcept {
    return impl_->tr->kind();
}
std::string const& session::protocol_version() const noexcept {
    return impl_->version;
}
std::string session::session_id() const {
    return impl_->tr ? impl_->tr->session_id() : std::string{};
}
json::object const& session::server_info() const noexcept {
    return impl_->server_info;
}
json::object const& session::server_capabilities() const noexcept {
    return impl_->server_caps;
}
std::string const& session::instructions() const noexcept {
    return impl_->instructions;
}
bool session::is_open() const noexcept {
    return impl_ && impl_->ph == impl::phase::open;
}
std::optional<error> session::failure() const {
    return impl_ ? impl_->failure : std::nullopt;
}

namespace {

// Every call runs on the live session; a moved-from session object answers with an error.
// `call` runs after this coroutine starts, when the caller's arguments are gone: it owns (by
// value) what it passes on.
template <class T, class Call>
asio::awaitable<result<T>> on_impl(std::shared_ptr<session::impl> i, Call call) {
    if (!i)
        co_return error{errc::not_connected, "this session object was moved from"};
    co_return co_await call(*i);
}

} // namespace

asio::awaitable<result<json::value>> session::request(std::string method, json::object params,
                                                      request_options opts) {
    return on_impl<json::value>(impl_, [method = std::move(method), params = std::move(params),
                                        opts = std::move(opts)](impl& i) mutable {
        return i.request(std::move(method), std::move(params), std::move(opts));
    });
}

asio::awaitable<result<void>> session::notify(std::string method, json::object params) {
    return on_impl<void>(impl_,
                         [method = std::move(method), params = std::move(params)](impl& i) mutable {
                             return i.notify(std::move(method), std::move(params));
                         });
}

asio::awaitable<result<void>> session::ping(request_options opts) {
    return on_impl<void>(impl_, [opts = std::move(opts)](impl& i) mutable {
        return i.request_void("ping", {}, std::move(opts));
    });
}

asio::awaitable<result<json::object>> session::call_tool(std::string name, json::object arguments,
                                                         request_options opts) {
    json::object params{{"name", std::move(name)}, {"arguments", std::move(arguments)}};
    return on_impl<json::object>(
        impl_, [params = std::move(params), opts = std::move(opts)](impl& i) mutable {
            return i.request_object("tools/call", std::move(params), std::move(opts));
        });
}

asio::awaitable<result<json::object>> session::read_resource(std::string uri,
                                                             request_options opts) {
    json::object params{{"uri", std::move(uri)}};
    return on_impl<json::object>(
        impl_, [params = std::move(params), opts = std::move(opts)](impl& i) mutable {
            return i.request_object("resources/read", std::move(params), std::move(opts));
        });
}

asio::awaitable<result<void>> session::subscribe_resource(std::string uri, request_options opts) {
    json::object params{{"uri", std::move(uri)}};
    return on_impl<void>(
        impl_, [params = std::move(params), opts = std::move(opts)](impl& i) mutable {
            return i.request_void("resources/subscribe", std::move(params), std::move(opts));
        });
}

asio::awaitable<result<void>> session::unsubscribe_resource(std::string uri, request_options opts) {
    json::object params{{"uri", std::move(uri)}};
    return on_impl<void>(
        impl_, [params = std::move(params), opts = std::move(opts)](impl& i) mutable {
            return i.request_void("resources/unsubscribe", std::move(params), std::move(opts));
        });
}

asio::awaitable<result<json::object>> session::get_prompt(std::string name, json::object arguments,
                                                          request_options opts) {
    json::object params{{"name", std::move(name)}};
    if (!arguments.empty())
        params["arguments"] = std::move(arguments);
    return on_impl<json::object>(
        impl_, [params = std::move(params), opts = std::move(opts)](impl& i) mutable {
            return i.request_object("prompts/get", std::move(params), std::move(opts));
        });
}

asio::awaitable<result<void>> session::set_logging_level(std::string level) {
    json::object params{{"level", std::move(level)}};
    return on_impl<void>(impl_, [params = std::move(params)](impl& i) mutable {
        return i.request_void("logging/setLevel", std::move(params), {});
    });
}

asio::awaitable<result<void>> session::notify_roots_changed() {
    return on_impl<void>(impl_,
                         [](impl& i) { return i.notify("notifications/roots/list_changed", {}); });
}

// The listings: tools, resources, resource templates and prompts, whole or a page at a time.
namespace {
struct listing {
    char const* method;
    char const* key; // of the result's array
};
listing listing_of(listing_kind what) {
    switch (what) {
    case listing_kind::tools:
        return {"tools/list", "tools"};
    case listing_kind::resources:
        return {"resources/list", "resources"};
    case listing_kind::resource_templates:
        return {"resources/templates/list", "resourceTemplates"};
    case listing_kind::prompts:
        break;
    }
    return {"prompts/list", "prompts"};
}
} // namespace

asio::awaitable<result<std::vector<json::object>>> session::list(listing_kind what,
                                                                 request_options opts) {
    auto l = listing_of(what);
    return on_impl<std::vector<json::object>>(impl_, [l, opts = std::move(opts)](impl& i) mutable {
        return i.list_all(l.method, l.key, std::move(opts));
    });
}

asio::awaitable<result<page>> session::list_page(listing_kind what, std::string cursor,
                                                 request_options opts) {
    auto l = listing_of(what);
    return on_impl<page>(
        impl_, [l, opts = std::move(opts), cursor = std::move(cursor)](impl& i) mutable {
            return i.list_page(l.method, l.key, std::move(cursor), std::move(opts));
        });
}

asio::awaitable<void> session::close() {
    auto i = impl_;
    if (i)
        co_await i->close();
}

} // namespace mcpd::client
