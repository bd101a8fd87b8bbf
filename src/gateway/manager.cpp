// gateway/manager.cpp — the multi-session manager. See manager.hpp.
#include "mcpd/gateway/manager.hpp"

#include "core/ascii.hpp"
#include "core/log.hpp"
#include "core/wakeup.hpp"
#include "http/address.hpp"
#include "http/client.hpp"
#include "mcpd/http/policy.hpp"
#include "mcpd/store/session.hpp"
#include "mcpd/store/session_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <variant>

namespace mcpd::gateway {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

error fail(errc c, std::string detail) {
    return error(make_error_code(c), std::move(detail));
}

// A store's rules for identities, and mcpd's reserved ones refused: no gateway user acts as
// mcpd's protocol sessions.
result<void> valid_identity(std::string_view identity) {
    if (store::is_reserved_identity(identity))
        return error(errc::invalid_params, "identities starting with \"" +
                                               std::string(store::reserved_identity_prefix) +
                                               "\" are reserved for mcpd");
    return store::validate_identity(identity);
}

result<void> valid_keys(std::string_view identity, std::string_view session_id) {
    if (auto ok = valid_identity(identity); !ok)
        return ok;
    return store::validate_session_id(session_id);
}

std::string key_of(std::string_view identity, std::string_view session_id) {
    std::string k(identity);
    k += '\0';
    k += session_id;
    return k;
}

std::string text_field(json::object const& o, std::string_view name) {
    auto const* v = o.if_contains(name);
    return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

// What the browser reads: the server's own words when there are some.
std::string describe(error const& e) {
    return e.message();
}

} // namespace

std::function<std::string(boost::asio::ip::address const&)>
server_address_policy(bool allow_private) {
    if (allow_private)
        return nullptr;
    return [](boost::asio::ip::address const& a) -> std::string {
        auto kind = http::non_public_address_kind(a);
        if (kind.empty())
            return {};
        return a.to_string() + " (" + kind +
               "), which the gateway does not connect to (gateway-allow-private-servers)";
    };
}

std::string server_not_allowed(std::vector<std::string> const& allowed, std::string_view url) {
    if (allowed.empty())
        return {};
    auto parsed = http::parse_url(url);
    if (!parsed)
        return "serverUrl is not a valid URL";
    auto host = ascii_lower(parsed->host);
    auto whole = ascii_lower(url);
    for (auto const& entry : allowed) {
        auto pattern = ascii_lower(entry);
        if (pattern.find("://") != std::string::npos) {
            // A URL prefix: it must end at a boundary of the URL (no "https://a.com" matching
            // "https://a.com.evil.example").
            if (whole.starts_with(pattern) &&
                (pattern.ends_with("/") || whole.size() == pattern.size() ||
                 std::string_view("/?#:").find(whole[pattern.size()]) != std::string_view::npos))
                return {};
        } else if (pattern.starts_with("*.")) {
            auto suffix = pattern.substr(1); // ".example.com"
            if (host.size() > suffix.size() && host.ends_with(suffix))
                return {};
        } else if (host == pattern) {
            return {};
        }
    }
    return "the server " + std::string(url) + " is not in gateway-allowed-servers";
}

// One connection of an identity to a server, held while this process serves it.
struct live_session {
    std::string identity;
    session_ref ref;
    std::string callback_url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::optional<client::transport_kind> transport; // the one to use; unset: negotiate
    std::optional<client::session> session;
    std::shared_ptr<session_authorizer> auth;
    connection_state state = connection_state::disconnected;
    // A connection attempt is in flight: other calls wait for it and share its outcome (one
    // connection per session, however many tabs restore it at once).
    bool connecting = false;
    std::optional<error> last_error; // why the last attempt failed
    std::size_t tool_count = 0;      // from the last discovery
    bool removed = false;            // disconnected: late callbacks are ignored
    std::uint64_t generation = 0;    // each connection attempt; stale failures are ignored
    // tools/list runs one at a time per session; a tools/list_changed that arrives meanwhile
    // marks the list dirty and is answered by one more discovery (not one per notification).
    bool discovering = false;
    bool rediscover_pending = false;
    // Last use (a call, a restore, a discovery): the sweeper closes idle connections.
    std::chrono::steady_clock::time_point last_used = std::chrono::steady_clock::now();
};

// The live connection is still the one an attempt opened (no disconnect, forget or close
// happened while the attempt waited).
bool still_current(live_session const& l, std::uint64_t gen) {
    return !l.removed && l.generation == gen && l.session && l.session->is_open();
}

// createdAt as stored by any writer: an integer, or a number that may not fit one.
std::int64_t created_at_of(json::value const& v) {
    if (v.is_int64())
        return v.get_int64();
    if (v.is_uint64())
        return v.get_uint64() > static_cast<std::uint64_t>(INT64_MAX)
                   ? INT64_MAX
                   : static_cast<std::int64_t>(v.get_uint64());
    if (v.is_double()) {
        double d = v.get_double();
        if (!(d >= 0) || d > 9.0e18) // NaN, negative or out of range: unknown
            return 0;
        return static_cast<std::int64_t>(d);
    }
    return 0;
}

struct manager::impl : std::enable_shared_from_this<impl> {
    asio::any_io_executor ex;
    std::shared_ptr<store::session_store> store;
    manager_options opts;
    event_sink sink;
    std::map<std::string, std::shared_ptr<live_session>> live;
    // Connects in flight, by identity + server URL and identity + server id: a second connect
    // to the same server is refused before the first one's record exists.
    std::set<std::string> connecting_servers;
    bool sweeper_running = false;
    std::uint64_t sweeper_generation = 0; // close() ends the running sweeper
    std::shared_ptr<asio::steady_timer> sweep_timer;

    impl(asio::any_io_executor e, std::shared_ptr<store::session_store> s, manager_options o,
         event_sink k)
        : ex(std::move(e))
        , store(std::move(s))
        , opts(std::move(o))
        , sink(std::move(k)) {
        if (!opts.client.http.refuse_address)
            opts.client.http.refuse_address = server_address_policy(opts.allow_private_servers);
    }

    void emit(std::string const& identity, event_sink const& also, channel ch, json::object data) {
        event ev{identity, ch, std::move(data)};
        if (sink)
            sink(ev);
        if (also)
            also(ev);
    }

    void set_state(live_session& l, connection_state s, event_sink const& also) {
        auto previous = l.state;
        l.state = s;
        emit(l.identity, also, channel::connection, state_changed(l.ref, s, previous));
        json::object payload{{"previousState", to_string(previous)}, {"newState", to_string(s)}};
        emit(l.identity, also, channel::observability,
             observability("mcp:client:state_change", "info",
                           "Connection state: " + std::string(to_string(previous)) + " → " +
                               std::string(to_string(s)),
                           &l.ref, std::move(payload)));
    }

    void emit_error(live_session& l, std::string const& message, error_kind kind,
                    event_sink const& also) {
        emit(l.identity, also, channel::connection, error_event(l.ref, message, kind));
        json::object payload{{"errorType", to_string(kind)}, {"error", message}};
        emit(l.identity, also, channel::observability,
             observability("mcp:client:error", "error", message, &l.ref, std::move(payload)));
    }

    void emit_progress(live_session& l, std::string const& message, event_sink const& also) {
        emit(l.identity, also, channel::connection, progress_event(l.ref, message));
    }

    std::shared_ptr<live_session> find(std::string const& identity, std::string const& sid) {
        auto it = live.find(key_of(identity, sid));
        return it == live.end() ? nullptr : it->second;
    }

    std::shared_ptr<live_session> from_record(std::string const& identity,
                                              json::object const& record) {
        auto l = std::make_shared<live_session>();
        l->identity = identity;
        l->ref.session_id = text_field(record, "sessionId");
        l->ref.server_id = text_field(record, "serverId");
        if (l->ref.server_id.empty())
            l->ref.server_id = "unknown";
        l->ref.server_name = text_field(record, "serverName");
        l->ref.server_url = text_field(record, "serverUrl");
        if (auto const* c = record.if_contains("createdAt"); c != nullptr && c->is_number())
            l->ref.created_at = created_at_of(*c);
        l->callback_url = text_field(record, "callbackUrl");
        if (auto const* h = record.if_contains("headers"); h != nullptr && h->is_object())
            for (auto const& [name, value] : h->get_object())
                if (value.is_string()) {
                    // Another writer may have stored anything: checked as connect() does.
                    if (auto why = http::refused_extra_header(name, value.get_string());
                        !why.empty()) {
                        log::warn("gateway: session {}: a stored header is ignored: {}",
                                  l->ref.session_id, why);
                        continue;
                    }
                    l->headers.emplace_back(std::string(name), std::string(value.get_string()));
                }
        l->transport = client::parse_transport_kind(text_field(record, "transportType"));
        return l;
    }

    void adopt(std::shared_ptr<live_session> const& l) {
        live[key_of(l->identity, l->ref.session_id)] = l;
    }

    // Waits while another call connects this session (bounded: that call has its own timeout).
    asio::awaitable<void> wait_not_connecting(std::shared_ptr<live_session> const& l) {
        asio::steady_timer t(ex);
        // The attempt is bounded by the connect timeout, its discovery by the request timeout.
        auto deadline = std::chrono::steady_clock::now() + opts.connect_timeout +
                        opts.client.request_timeout + std::chrono::seconds(5);
        while (l->connecting && std::chrono::steady_clock::now() < deadline) {
            t.expires_after(std::chrono::milliseconds(20));
            boost::system::error_code ec;
            co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
    }

    // Opens the connection (closing an earlier one), bounded by connect_timeout.
    asio::awaitable<result<void>> open(std::shared_ptr<live_session> l, event_sink also) {
        auto gen = ++l->generation;
        if (l->session) {
            auto old = std::move(*l->session);
            l->session.reset();
            co_await old.close();
            if (l->removed || l->generation != gen)
                co_return fail(errc::not_connected, "the session was disconnected meanwhile");
        }
        set_state(*l, connection_state::connecting, also);
        // Records may come from other writers: the allow list is checked on every connection.
        if (auto why = server_not_allowed(opts.allowed_servers, l->ref.server_url); !why.empty())
            co_return fail(errc::connect_failed, why);

        client::session_options o = opts.client;
        for (auto const& h : l->headers)
            o.headers.push_back(h);
        if (l->transport)
            o.transport = *l->transport == client::transport_kind::sse
                              ? client::transport_choice::sse
                              : client::transport_choice::streamable_http;
        else
            o.transport = client::transport_choice::automatic;
        bool has_authorization = std::any_of(l->headers.begin(), l->headers.end(), [](auto& h) {
            return iequals(h.first, "authorization");
        });
        if (!has_authorization && opts.oauth.make) {
            if (!l->auth)
                l->auth = opts.oauth.make(l->identity, l->ref.session_id, l->callback_url);
            o.auth = l->auth->provider();
        }
        std::weak_ptr<impl> weak_self = shared_from_this();
        std::weak_ptr<live_session> weak_live = l;
        o.on.on_failed = [weak_self, weak_live, gen](error const& e) {
            auto self = weak_self.lock();
            auto lv = weak_live.lock();
            if (!self || !lv || lv->removed || lv->generation != gen)
                return;
            self->emit_error(*lv, "Connection lost: " + describe(e), error_kind::connection, {});
            self->set_state(*lv, connection_state::failed, {});
        };
        // The server's tool list changed: discover again, so the browser gets the new list.
        o.on.on_notification = [weak_self, weak_live, gen](std::string const& method,
                                                           json::object const&) {
            auto self = weak_self.lock();
            auto lv = weak_live.lock();
            if (method != "notifications/tools/list_changed" || !self || !lv || lv->removed ||
                lv->generation != gen)
                return;
            // One discovery in flight per session: later notifications only mark it dirty.
            if (lv->discovering) {
                lv->rediscover_pending = true;
                return;
            }
            auto rediscover = [self, lv, gen]() -> asio::awaitable<void> {
                if (lv->removed || lv->generation != gen || lv->connecting || !lv->session ||
                    !lv->session->is_open())
                    co_return;
                event_sink none;
                co_await self->discover(lv, none);
            };
            asio::co_spawn(self->ex, std::move(rediscover), asio::detached);
        };
        o.on.on_log = [weak_self, weak_live](client::log_message const& m) {
            auto self = weak_self.lock();
            auto lv = weak_live.lock();
            if (!self || !lv || lv->removed)
                return;
            json::object payload{{"level", m.level}, {"logger", m.logger}, {"data", m.data}};
            std::string level = m.level == "debug"                         ? "debug"
                                : m.level == "info" || m.level == "notice" ? "info"
                                : m.level == "warning"                     ? "warn"
                                                                           : "error";
            self->emit(
                lv->identity, {}, channel::observability,
                observability("mcp:server:log", level, "server log", &lv->ref, std::move(payload)));
        };

        using namespace asio::experimental::awaitable_operators;
        asio::steady_timer limit(ex, opts.connect_timeout);
        auto connecting = client::session::connect(l->ref.server_url, std::move(o));
        auto timing = limit.async_wait(asio::use_awaitable);
        auto raced = co_await (std::move(connecting) || std::move(timing));
        if (raced.index() == 1)
            co_return fail(errc::connect_failed,
                           "Connection timed out after " +
                               std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  opts.connect_timeout)
                                                  .count()) +
                               "ms");
        auto& connected = std::get<0>(raced);
        if (!connected)
            co_return connected.error();
        if (l->removed || l->generation != gen) {
            co_await connected->close();
            co_return fail(errc::not_connected, "the session was disconnected meanwhile");
        }
        l->transport = connected->transport();
        l->session.emplace(std::move(*connected));
        set_state(*l, connection_state::connected, also);
        emit_progress(*l, "Connected successfully", also);
        co_return result<void>();
    }

    // tools/list, announced: DISCOVERING, tools_discovered, READY.
    // tools/list page by page, within max_tools, max_tools_bytes and discovery_timeout.
    asio::awaitable<result<std::vector<json::object>>>
    list_tools_bounded(std::shared_ptr<live_session> l) {
        std::vector<json::object> all;
        std::size_t bytes = 0;
        std::string cursor;
        auto deadline = std::chrono::steady_clock::now() + opts.discovery_timeout;
        for (;;) {
            auto left =
                std::chrono::duration_cast<duration>(deadline - std::chrono::steady_clock::now());
            if (left <= duration::zero())
                co_return fail(errc::not_connected, "tool discovery took longer than " +
                                                        format_duration(opts.discovery_timeout) +
                                                        " (the gateway's discovery limit)");
            // Between pages the connection may have been closed (a disconnect meanwhile).
            auto s = open_session(*l);
            if (!s)
                co_return s.error();
            client::request_options ro;
            ro.timeout = std::min(left, opts.client.request_timeout);
            auto page =
                co_await (*s)->list_page(client::listing_kind::tools, cursor, std::move(ro));
            if (!page)
                co_return page.error();
            for (auto& t : page->items) {
                bytes += json::serialize(t).size();
                all.push_back(std::move(t));
            }
            if (all.size() > opts.max_tools)
                co_return fail(errc::not_connected, "the server lists more than " +
                                                        std::to_string(opts.max_tools) +
                                                        " tools (the gateway's discovery limit)");
            if (bytes > opts.max_tools_bytes)
                co_return fail(errc::not_connected, "the server's tool list is over " +
                                                        std::to_string(opts.max_tools_bytes) +
                                                        " bytes (the gateway's discovery limit)");
            if (page->next_cursor.empty())
                co_return all;
            if (page->next_cursor == cursor)
                co_return fail(errc::not_connected, "the server repeats its tools/list cursor");
            cursor = std::move(page->next_cursor);
        }
    }

    // One at a time per session: a second caller waits for the first one's discovery, then
    // runs its own (the list may have changed meanwhile); a tools/list_changed that arrived
    // during a discovery is answered by one more, detached.
    asio::awaitable<result<json::array>> discover(std::shared_ptr<live_session> l,
                                                  event_sink also) {
        asio::steady_timer poll(ex);
        auto deadline = std::chrono::steady_clock::now() + opts.client.request_timeout +
                        std::chrono::seconds(5);
        while (l->discovering && std::chrono::steady_clock::now() < deadline) {
            poll.expires_after(std::chrono::milliseconds(20));
            boost::system::error_code ec;
            co_await poll.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        if (l->discovering)
            co_return fail(errc::not_connected, "another tool discovery did not finish in time");
        if (l->removed || !l->session || !l->session->is_open())
            co_return fail(errc::not_connected, "the session was disconnected meanwhile");
        auto gen = l->generation;
        l->discovering = true;
        l->rediscover_pending = false;
        set_state(*l, connection_state::discovering, also);
        auto tools = co_await list_tools_bounded(l);
        l->discovering = false;
        if (l->removed || l->generation != gen)
            co_return fail(errc::not_connected, "the session was disconnected meanwhile");
        if (!tools) {
            emit_error(*l, describe(tools.error()), error_kind::validation, also);
            set_state(*l, connection_state::failed, also);
            co_return tools.error();
        }
        json::array list;
        for (auto& t : *tools)
            list.emplace_back(std::move(t));
        emit(l->identity, also, channel::connection, tools_discovered(l->ref, list));
        set_state(*l, connection_state::ready, also);
        emit_progress(*l, "Discovered " + std::to_string(list.size()) + " tools", also);
        if (l->rediscover_pending) {
            l->rediscover_pending = false;
            auto again = [self = shared_from_this(), l, gen]() -> asio::awaitable<void> {
                if (!still_current(*l, gen) || l->connecting)
                    co_return;
                event_sink none;
                co_await self->discover(l, none);
            };
            asio::co_spawn(ex, std::move(again), asio::detached);
        }
        co_return list;
    }

    enum class outcome_kind { ready, auth_required, failed };
    struct outcome {
        outcome_kind kind = outcome_kind::failed;
        std::string auth_url;
        error err;
        std::size_t tool_count = 0;
    };

    // One attempt: connect, save the record as active with the transport that worked, then
    // discover the tools (when asked). A 401 the OAuth layer can fix becomes auth_required,
    // announced once.
    asio::awaitable<outcome> attempt(std::shared_ptr<live_session> l, event_sink also,
                                     error_kind failure_kind, bool with_discovery) {
        if (l->connecting) {
            co_await wait_not_connecting(l);
            co_return shared_outcome(*l);
        }
        l->connecting = true;
        auto out = co_await attempt_now(l, std::move(also), failure_kind, with_discovery);
        l->connecting = false;
        l->last_error.reset();
        if (out.kind == outcome_kind::failed)
            l->last_error = out.err;
        if (out.kind == outcome_kind::ready && with_discovery)
            l->tool_count = out.tool_count;
        co_return out;
    }

    // What a call that waited for another one's attempt gets.
    static outcome shared_outcome(live_session const& l) {
        outcome o;
        if (l.session && l.session->is_open()) {
            o.kind = outcome_kind::ready;
            o.tool_count = l.tool_count;
            return o;
        }
        if (l.state == connection_state::authenticating && l.auth) {
            if (auto url = l.auth->authorization_url(); url && !url->empty()) {
                o.kind = outcome_kind::auth_required;
                o.auth_url = *url;
                o.err = fail(errc::auth_required, "OAuth authorization required");
                return o;
            }
        }
        o.err = l.last_error ? *l.last_error
                             : fail(errc::not_connected, "the connection attempt did not succeed");
        return o;
    }

    // Live connections, in all and of one identity.
    [[nodiscard]] std::pair<std::size_t, std::size_t>
    live_counts(std::string const& identity) const {
        std::size_t total = 0, mine = 0;
        for (auto const& [key, lv] : live)
            if (lv->session) {
                ++total;
                if (lv->identity == identity)
                    ++mine;
            }
        return {total, mine};
    }

    asio::awaitable<outcome> attempt_now(std::shared_ptr<live_session> l, event_sink also,
                                         error_kind failure_kind, bool with_discovery) {
        outcome out;
        l->last_used = std::chrono::steady_clock::now();
        if (!l->session) {
            auto [total, mine] = live_counts(l->identity);
            if (mine >= opts.max_live_per_identity || total >= opts.max_live_total) {
                auto message = mine >= opts.max_live_per_identity
                                   ? "this identity already holds " + std::to_string(mine) +
                                         " live connections (gateway-max-connections-per-identity)"
                                   : "the gateway holds " + std::to_string(total) +
                                         " live connections (gateway-max-connections)";
                emit_error(*l, message, failure_kind, also);
                set_state(*l, connection_state::failed, also);
                out.err = fail(errc::limit_reached, message);
                co_return out;
            }
        }
        start_sweeper();
        auto opened = co_await open(l, also);
        if (!opened) {
            if (l->auth) {
                if (auto url = l->auth->authorization_url(); url && !url->empty()) {
                    set_state(*l, connection_state::authenticating, also);
                    json::object pending{{"active", false}};
                    auto saved = co_await store->update_session(l->identity, l->ref.session_id,
                                                                pending, opts.pending_ttl);
                    if (!saved) {
                        out.err = saved.error();
                        co_return out;
                    }
                    if (l->removed) {
                        out.err =
                            fail(errc::not_connected, "the session was disconnected meanwhile");
                        co_return out;
                    }
                    emit(l->identity, also, channel::connection, auth_required(l->ref, *url));
                    out.kind = outcome_kind::auth_required;
                    out.auth_url = *url;
                    out.err = fail(errc::auth_required, "OAuth authorization required");
                    co_return out;
                }
            }
            auto message = describe(opened.error());
            auto kind = failure_kind;
            if (http::status_of(opened.error()) == 401) {
                kind = error_kind::auth;
                if (l->auth) {
                    auto why = l->auth->last_error();
                    message = "OAuth authorization URL not available: " +
                              (why ? describe(*why) : message);
                } else {
                    message = "The server requires authorization (HTTP 401) and the request "
                              "carried no usable credentials: " +
                              message;
                }
            }
            emit_error(*l, message, kind, also);
            set_state(*l, connection_state::failed, also);
            out.err =
                fail(kind == error_kind::auth ? errc::auth_failed : errc::connect_failed, message);
            co_return out;
        }
        auto gen = l->generation;
        json::object active{{"active", true}, {"transportType", client::to_string(*l->transport)}};
        auto saved = co_await store->update_session(l->identity, l->ref.session_id, active,
                                                    opts.session_ttl);
        if (!still_current(*l, gen)) {
            // Disconnected, forgotten or closed while the record was saved: no connection to
            // use any more (and no crash on the emptied one).
            out.err = fail(errc::not_connected, "the session was disconnected meanwhile");
            co_return out;
        }
        if (!saved) {
            // Removed meanwhile (a disconnect from another tab or instance): do not hold a
            // connection no record describes.
            co_await close_session(*l);
            set_state(*l, connection_state::failed, also);
            out.err = saved.error();
            co_return out;
        }
        if (with_discovery) {
            auto tools = co_await discover(l, also);
            if (!tools) {
                out.err = tools.error();
                co_return out;
            }
            out.tool_count = tools->size();
        }
        out.kind = outcome_kind::ready;
        co_return out;
    }

    asio::awaitable<void> close_session(live_session& l) {
        ++l.generation;
        if (l.session) {
            auto s = std::move(*l.session);
            l.session.reset();
            co_await s.close();
        }
    }

    // The live connection of a stored session: held, or reconnected now (getOrCreateClient).
    asio::awaitable<result<std::shared_ptr<live_session>>>
    ensure(std::string const& identity, std::string const& sid, event_sink const& also) {
        auto l = find(identity, sid);
        if (l && l->connecting)
            co_await wait_not_connecting(l);
        if (l && l->session && l->session->is_open()) {
            l->last_used = std::chrono::steady_clock::now();
            co_return l;
        }
        if (auto ok = valid_keys(identity, sid); !ok)
            co_return ok.error();
        auto record = co_await store->get_session(identity, sid);
        if (!record)
            co_return record.error();
        if (!*record)
            co_return fail(errc::session_not_found, "Session not found");
        l = find(identity, sid);
        if (l && l->connecting)
            co_await wait_not_connecting(l);
        l = find(identity, sid);
        if (l && l->session && l->session->is_open())
            co_return l;
        // Not open here, and no attempt running: made again from the record, which is the
        // truth. Another instance (or event loop) may have finished the authorization this entry
        // was waiting for: the tokens are in the record, not in this entry's authorizer. (An
        // entry that is connecting is shared: attempt() waits for it.)
        if (!l || !l->connecting) {
            l = from_record(identity, **record);
            adopt(l);
        }
        auto o = co_await attempt(l, also, error_kind::connection, false);
        if (o.kind != outcome_kind::ready)
            co_return o.err;
        if (l->removed || !l->session || !l->session->is_open())
            co_return fail(errc::not_connected, "the session was disconnected meanwhile");
        co_return l;
    }

    // The connection to use right now: the caller checks again after every wait.
    static result<client::session*> open_session(live_session& l) {
        if (l.removed || !l.session || !l.session->is_open())
            return fail(errc::not_connected, "the session was disconnected meanwhile");
        return &*l.session;
    }

    // What an RPC on one session starts with: the live entry (connected first when needed) and
    // its open client. The entry is returned too: it keeps the client alive while the RPC runs.
    struct open_rpc_session {
        std::shared_ptr<live_session> live;
        client::session* client;
    };
    asio::awaitable<result<open_rpc_session>>
    ensure_open(std::string const& identity, std::string const& sid, event_sink const& also) {
        auto l = co_await ensure(identity, sid, also);
        if (!l)
            co_return l.error();
        auto s = open_session(**l);
        if (!s)
            co_return s.error();
        co_return open_rpc_session{std::move(*l), *s};
    }

    // An RPC that is one call on the session's open client: `call` gets the client, and its
    // answer is the RPC's. `keep` holds the manager's state while the call runs.
    using client_call = std::function<asio::awaitable<result<json::object>>(client::session&)>;
    static asio::awaitable<result<json::object>> on_client(std::shared_ptr<impl> keep,
                                                           std::string identity, std::string sid,
                                                           event_sink also, client_call call) {
        auto s = co_await keep->ensure_open(identity, sid, also);
        if (!s)
            co_return s.error();
        co_return co_await call(*s->client);
    }

    // {"<key>": [...]}: a listing as the browser's RPC answers it.
    static result<json::object> listed(std::string_view key,
                                       result<std::vector<json::object>> items) {
        if (!items)
            return items.error();
        json::array list;
        for (auto& item : *items)
            list.emplace_back(std::move(item));
        return json::object{{key, std::move(list)}};
    }

    bool destroyed = false; // the manager is gone: detached work stops calling into it

    void stop_sweeper() {
        ++sweeper_generation;
        sweeper_running = false;
        if (sweep_timer)
            sweep_timer->cancel();
        sweep_timer.reset();
    }

    void start_sweeper() {
        if (sweeper_running || opts.sweep_interval <= duration::zero())
            return;
        sweeper_running = true;
        std::weak_ptr<impl> weak = shared_from_this();
        auto interval = opts.sweep_interval;
        auto gen = sweeper_generation;
        sweep_timer = std::make_shared<asio::steady_timer>(ex);
        auto loop = [weak, interval, gen, t = sweep_timer]() -> asio::awaitable<void> {
            for (;;) {
                t->expires_after(interval);
                boost::system::error_code ec;
                co_await t->async_wait(asio::redirect_error(asio::use_awaitable, ec));
                auto self = weak.lock();
                if (!self || self->destroyed || self->sweeper_generation != gen)
                    co_return;
                co_await self->sweep_once();
            }
        };
        asio::co_spawn(ex, std::move(loop), asio::detached);
    }

    asio::awaitable<void> sweep_once() {
        auto now = std::chrono::steady_clock::now();
        std::vector<std::shared_ptr<live_session>> all;
        for (auto const& [key, lv] : live)
            all.push_back(lv);
        for (auto& lv : all) {
            if (lv->removed || lv->connecting || lv->discovering)
                continue;
            bool open_now = lv->session && lv->session->is_open();
            bool idle = opts.idle_timeout > duration::zero() &&
                        now - lv->last_used > opts.idle_timeout &&
                        !(opts.has_streams && opts.has_streams(lv->identity));
            bool stale_pending = !open_now && now - lv->last_used > opts.pending_ttl;
            bool gone = false;
            if (!idle && !stale_pending) {
                auto record = co_await store->get_session(lv->identity, lv->ref.session_id);
                gone = record && !*record; // expired or removed elsewhere (errors: keep)
            }
            if (!(idle || stale_pending || gone) || lv->removed || lv->connecting)
                continue;
            // The record stays (a later call reconnects), unless it is gone already.
            lv->removed = true;
            live.erase(key_of(lv->identity, lv->ref.session_id));
            co_await close_session(*lv);
            log::debug("gateway: session {} closed by the sweeper ({})", lv->ref.session_id,
                       idle            ? "idle"
                       : stale_pending ? "pending too long"
                                       : "record gone");
        }
    }
};

manager::manager(asio::any_io_executor ex, std::shared_ptr<store::session_store> store,
                 manager_options opts, event_sink sink)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(store), std::move(opts),
                                   std::move(sink))) {}

manager::~manager() {
    impl_->destroyed = true;
    impl_->stop_sweeper();
    for (auto& [key, l] : impl_->live) {
        l->removed = true;
        ++l->generation;
    }
}

manager::json_result manager::get_sessions(std::string identity) {
    if (auto ok = valid_identity(identity); !ok)
        co_return fail(errc::invalid_params, ok.error().message());
    auto keep = impl_;
    auto records = co_await keep->store->get_identity_sessions_data(identity);
    if (!records)
        co_return records.error();
    json::array sessions;
    for (auto const& r : *records) {
        json::object s;
        s["sessionId"] = r.session_id().value_or("");
        if (auto v = r.server_id())
            s["serverId"] = *v;
        if (auto v = r.server_name())
            s["serverName"] = *v;
        s["serverUrl"] = r.server_url().value_or("");
        auto transport = r.transport_type().value_or("");
        s["transport"] = transport.empty() ? "streamable_http" : transport;
        s["createdAt"] = r.created_at().is_null() ? json::value(0) : r.created_at();
        s["active"] = r.active().value_or(true);
        sessions.emplace_back(std::move(s));
    }
    // Oldest first, so that every tab lists them in the same order.
    std::stable_sort(
        sessions.begin(), sessions.end(), [](json::value const& a, json::value const& b) {
            return a.at("createdAt").to_number<double>() < b.at("createdAt").to_number<double>();
        });
    co_return json::object{{"sessions", std::move(sessions)}};
}

manager::json_result manager::connect(std::string identity, connect_params p, event_sink also) {
    auto keep = impl_; // the manager may go while this waits; its state must not
    auto& self = *keep;
    if (auto ok = valid_identity(identity); !ok)
        co_return fail(errc::invalid_params, ok.error().message());
    if (p.server_url.empty())
        co_return fail(errc::invalid_params, "serverUrl is required");
    auto parsed = http::parse_url(p.server_url);
    if (!parsed)
        co_return fail(errc::invalid_params, "serverUrl: " + parsed.error().message());
    for (auto const& [name, value] : p.headers)
        if (auto why = http::refused_extra_header(name, value); !why.empty())
            co_return fail(errc::invalid_params, "headers: " + why);
    if (auto why = server_not_allowed(self.opts.allowed_servers, p.server_url); !why.empty())
        co_return fail(errc::invalid_params, why);
    std::string server_id = !p.server_id.empty() && p.server_id.size() <= 12
                                ? p.server_id
                                : store::generate_session_id();

    auto existing = co_await self.store->get_identity_sessions_data(identity);
    if (!existing)
        co_return existing.error();
    for (auto const& r : *existing) {
        if (r.server_id().value_or("") != server_id && r.server_url().value_or("") != p.server_url)
            continue;
        std::string sid(r.session_id().value_or(""));
        if (!r.active().value_or(true)) {
            // Waiting for OAuth: connect again means resume it.
            if (self.destroyed)
                co_return fail(errc::not_connected, "the gateway is shutting down");
            auto restored = co_await restore_session(identity, sid, also);
            json::object out{{"sessionId", sid}, {"success", true}};
            if (!restored) {
                if (restored.error() != make_error_code(errc::auth_required))
                    co_return restored.error();
                auto l = self.find(identity, sid);
                std::optional<std::string> url;
                if (l && l->auth)
                    url = l->auth->authorization_url();
                out["requiresAuth"] = true;
                if (url)
                    out["authUrl"] = *url;
            }
            co_return out;
        }
        std::string name(r.server_name().value_or(""));
        co_return fail(errc::duplicate_connection, "Connection already exists for server: " +
                                                       std::string(r.server_url().value_or("")) +
                                                       " (" + name + ")");
    }
    if (existing->size() >= self.opts.max_sessions_per_identity)
        co_return fail(errc::limit_reached, "this identity already has " +
                                                std::to_string(existing->size()) +
                                                " sessions (gateway-max-sessions-per-identity)");
    auto by_url = key_of(identity, "url:" + p.server_url);
    auto by_id = key_of(identity, "id:" + server_id);
    if (self.connecting_servers.count(by_url) != 0 || self.connecting_servers.count(by_id) != 0)
        co_return fail(errc::duplicate_connection,
                       "A connection to " + p.server_url + " is already being made");
    self.connecting_servers.insert(by_url);
    self.connecting_servers.insert(by_id);
    struct unmark {
        impl& i;
        std::string a, b;
        ~unmark() {
            i.connecting_servers.erase(a);
            i.connecting_servers.erase(b);
        }
    } unmark_on_exit{self, by_url, by_id};

    auto l = std::make_shared<live_session>();
    l->identity = identity;
    l->ref.session_id = store::generate_session_id();
    l->ref.server_id = server_id;
    l->ref.server_name = p.server_name;
    l->ref.server_url = p.server_url;
    l->ref.created_at = unix_time_ms();
    l->callback_url = p.callback_url;
    l->headers = p.headers;
    l->transport = p.transport;

    json::object record;
    record["sessionId"] = l->ref.session_id;
    record["identity"] = identity;
    record["serverId"] = server_id;
    if (!p.server_name.empty())
        record["serverName"] = p.server_name;
    record["serverUrl"] = p.server_url;
    if (!p.callback_url.empty())
        record["callbackUrl"] = p.callback_url;
    record["transportType"] =
        client::to_string(p.transport.value_or(client::transport_kind::streamable_http));
    if (!p.headers.empty()) {
        json::object headers;
        for (auto const& [name, value] : p.headers)
            headers[name] = value;
        record["headers"] = std::move(headers);
    }
    record["createdAt"] = l->ref.created_at;
    record["active"] = false;
    // The record exists while connecting (OAuth keeps its verifier there), with a short TTL.
    auto created = co_await self.store->create_session(std::move(record), self.opts.pending_ttl);
    if (!created)
        co_return created.error();
    self.adopt(l);
    self.set_state(*l, connection_state::initializing, also);

    auto o = co_await self.attempt(l, also, error_kind::connection, true);
    json::object out{{"sessionId", l->ref.session_id}, {"success", true}};
    switch (o.kind) {
    case impl::outcome_kind::ready:
        co_return out;
    case impl::outcome_kind::auth_required:
        out["requiresAuth"] = true;
        out["authUrl"] = o.auth_url;
        co_return out;
    case impl::outcome_kind::failed:
        break;
    }
    // No ghost: a connect that failed leaves no record and no connection behind.
    l->removed = true;
    co_await self.close_session(*l);
    self.live.erase(key_of(identity, l->ref.session_id));
    auto removed = co_await self.store->remove_session(identity, l->ref.session_id);
    if (!removed)
        log::warn("gateway: the failed connection {}'s record could not be removed: {}",
                  l->ref.session_id, removed.error().message());
    co_return o.err;
}

manager::json_result manager::disconnect(std::string identity, std::string session_id,
                                         event_sink also) {
    auto keep = impl_; // the manager may go while this waits; its state must not
    auto& self = *keep;
    if (auto ok = valid_keys(identity, session_id); !ok)
        co_return fail(errc::invalid_params, ok.error().message());
    auto l = self.find(identity, session_id);
    session_ref ref;
    if (l) {
        l->removed = true;
        ref = l->ref;
        self.live.erase(key_of(identity, session_id));
        co_await self.close_session(*l);
    } else {
        auto record = co_await self.store->get_session(identity, session_id);
        if (!record)
            co_return record.error();
        if (*record)
            ref = self.from_record(identity, **record)->ref;
        else
            ref.session_id = session_id;
    }
    auto removed = co_await self.store->remove_session(identity, session_id);
    if (!removed)
        co_return removed.error();
    self.emit(identity, also, channel::connection, disconnected(ref, "disconnected by the user"));
    co_return json::object{{"success", true}};
}

manager::json_result manager::restore_session(std::string identity, std::string session_id,
                                              event_sink also) {
    auto keep = impl_; // the manager may go while this waits; its state must not
    auto& self = *keep;
    if (auto ok = valid_keys(identity, session_id); !ok)
        co_return fail(errc::invalid_params, ok.error().message());
    auto record = co_await self.store->get_session(identity, session_id);
    if (!record)
        co_return record.error();
    if (!*record)
        co_return fail(errc::session_not_found, "Session not found");
    auto l = self.find(identity, session_id);
    if (l && l->connecting)
        co_await self.wait_not_connecting(l);
    if (!l) {
        l = self.from_record(identity, **record);
        self.adopt(l);
    }
    // A connection that is open stays (whatever its state: another restore may be discovering
    // on it, a tool call may be in flight): only a closed or failed one is reopened.
    if (l->session && l->session->is_open()) {
        auto tools = co_await self.discover(l, also);
        if (tools)
            co_return json::object{{"success", true}, {"toolCount", tools->size()}};
        if (l->removed)
            co_return tools.error();
        if (l->session && l->session->is_open())
            co_return tools.error();
    }
    l->state = connection_state::disconnected;
    self.set_state(*l, connection_state::validating, also);
    auto o = co_await self.attempt(l, also, error_kind::validation, true);
    if (o.kind == impl::outcome_kind::ready)
        co_return json::object{{"success", true}, {"toolCount", o.tool_count}};
    co_return o.err;
}

manager::json_result manager::restore_all(std::string identity, event_sink also) {
    auto keep = impl_; // the manager may go while this waits; its state must not
    auto& self = *keep;
    if (auto ok = valid_identity(identity); !ok)
        co_return fail(errc::invalid_params, ok.error().message());
    auto records = co_await self.store->get_identity_sessions_data(identity);
    if (!records)
        co_return records.error();
    std::vector<std::string> ids;
    for (auto const& r : *records) {
        bool pending = !r.active().value_or(true);
        if (!pending && !r.server_url().value_or("").empty())
            ids.emplace_back(r.session_id().value_or(""));
    }
    std::vector<json::object> results(ids.size());
    auto batch = std::max<std::size_t>(1, self.opts.restore_batch);
    for (std::size_t start = 0; start < ids.size(); start += batch) {
        auto end = std::min(ids.size(), start + batch);
        auto left = std::make_shared<std::size_t>(end - start);
        auto done = std::make_shared<wakeup>(self.ex);
        for (auto i = start; i < end; ++i) {
            auto one = [this, keep, identity, id = ids[i], also, &results, i, left,
                        done]() -> asio::awaitable<void> {
                result<json::object> r = fail(errc::connect_failed, "not attempted");
                for (unsigned attempt = 0; attempt <= keep->opts.max_retries; ++attempt) {
                    if (keep->destroyed) {
                        r = fail(errc::not_connected, "the gateway is shutting down");
                        break;
                    }
                    r = co_await restore_session(identity, id, also);
                    if (r || r.error() == make_error_code(errc::auth_required) ||
                        r.error() == make_error_code(errc::session_not_found))
                        break;
                    if (attempt < keep->opts.max_retries) {
                        asio::steady_timer t(keep->ex, keep->opts.retry_delay);
                        boost::system::error_code ec;
                        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                    }
                }
                json::object entry{{"sessionId", id}, {"success", r.has_value()}};
                if (r)
                    entry["toolCount"] = r->at("toolCount");
                else
                    entry["error"] = describe(r.error());
                results[i] = std::move(entry);
                if (--*left == 0)
                    done->notify();
            };
            asio::co_spawn(self.ex, std::move(one), asio::detached);
        }
        co_await done->wait();
    }
    json::array out;
    for (auto& r : results)
        out.emplace_back(std::move(r));
    co_return json::object{{"sessions", std::move(out)}};
}

manager::json_result manager::finish_auth(std::string identity, std::string session_id_or_state,
                                          std::string code, std::string state, std::string iss,
                                          event_sink also) {
    auto keep = impl_; // the manager may go while this waits; its state must not
    auto& self = *keep;
    if (!self.opts.oauth.make)
        co_return fail(errc::auth_failed, "OAuth is not configured on this gateway");
    std::string sid = session_id_or_state;
    if (self.opts.oauth.session_of_state) {
        if (auto named = self.opts.oauth.session_of_state(session_id_or_state)) {
            sid = *named;
            if (state.empty())
                state = session_id_or_state;
        }
    }
    if (state.empty())
        co_return fail(errc::invalid_params,
                       "finishAuth needs the OAuth state: pass the callback's `state` as "
                       "sessionId, or as `state`");
    if (code.empty())
        co_return fail(errc::invalid_params, "code is required");
    if (auto ok = valid_keys(identity, sid); !ok)
        co_return fail(errc::invalid_params, ok.error().message());
    auto record = co_await self.store->get_session(identity, sid);
    if (!record)
        co_return record.error();
    if (!*record)
        co_return fail(errc::session_not_found, "Session not found");
    auto l = self.find(identity, sid);
    if (!l) {
        l = self.from_record(identity, **record);
        self.adopt(l);
    }
    if (!l->auth)
        l->auth = self.opts.oauth.make(identity, sid, l->callback_url);
    self.set_state(*l, connection_state::authenticating, also);
    self.emit_progress(*l, "Exchanging authorization code for tokens...", also);
    auto finished = co_await l->auth->finish(std::move(code), std::move(state), std::move(iss));
    if (!finished) {
        self.emit_error(*l, describe(finished.error()), error_kind::auth, also);
        self.set_state(*l, connection_state::failed, also);
        co_return fail(errc::auth_failed, describe(finished.error()));
    }
    self.set_state(*l, connection_state::authenticated, also);
    // The stored transport was a placeholder before the first connection: negotiate.
    l->transport.reset();
    auto o = co_await self.attempt(l, also, error_kind::auth, true);
    if (o.kind == impl::outcome_kind::ready)
        co_return json::object{{"success", true}, {"toolCount", o.tool_count}};
    co_return o.err;
}

manager::json_result manager::list_tools(std::string identity, std::string session_id,
                                         event_sink also) {
    auto keep = impl_;
    auto l = co_await keep->ensure(identity, session_id, also);
    if (!l)
        co_return l.error();
    auto tools = co_await keep->discover(*l, also);
    if (!tools)
        co_return tools.error();
    co_return json::object{{"tools", std::move(*tools)}};
}

manager::json_result manager::call_tool(std::string identity, std::string session_id,
                                        std::string tool, json::object args, event_sink also) {
    auto keep = impl_;
    auto s = co_await keep->ensure_open(identity, session_id, also);
    if (!s)
        co_return s.error();
    client::request_options ro;
    std::weak_ptr<impl> weak_self = keep;
    std::weak_ptr<live_session> weak_live = s->live;
    ro.on_progress = [weak_self, weak_live, also](client::progress const& p) {
        auto self = weak_self.lock();
        auto lv = weak_live.lock();
        if (!self || !lv)
            return;
        // "Reading files (3/10)", or "Progress 3/10" when the server gave no message.
        auto amount =
            p.total ? fmt::format("{}/{}", p.value, *p.total) : fmt::format("{}", p.value);
        auto message = p.message.empty() ? "Progress " + amount : p.message + " (" + amount + ")";
        self->emit_progress(*lv, message, also);
    };
    auto r = co_await s->client->call_tool(std::move(tool), std::move(args), std::move(ro));
    if (!r)
        co_return r.error();
    json::object meta;
    if (auto const* m = r->if_contains("_meta"); m != nullptr && m->is_object())
        meta = m->get_object();
    meta["sessionId"] = session_id;
    (*r)["_meta"] = std::move(meta);
    co_return std::move(*r);
}

manager::json_result manager::list_prompts(std::string identity, std::string session_id,
                                           event_sink also) {
    return impl::on_client(impl_, std::move(identity), std::move(session_id), std::move(also),
                           [](client::session& c) -> json_result {
                               co_return impl::listed(
                                   "prompts", co_await c.list(client::listing_kind::prompts));
                           });
}

manager::json_result manager::get_prompt(std::string identity, std::string session_id,
                                         std::string name, json::object args, event_sink also) {
    return impl::on_client(impl_, std::move(identity), std::move(session_id), std::move(also),
                           [name = std::move(name), args = std::move(args)](client::session& c) {
                               return c.get_prompt(name, args);
                           });
}

manager::json_result manager::list_resources(std::string identity, std::string session_id,
                                             event_sink also) {
    return impl::on_client(impl_, std::move(identity), std::move(session_id), std::move(also),
                           [](client::session& c) -> json_result {
                               co_return impl::listed(
                                   "resources", co_await c.list(client::listing_kind::resources));
                           });
}

manager::json_result manager::read_resource(std::string identity, std::string session_id,
                                            std::string uri, event_sink also) {
    return impl::on_client(
        impl_, std::move(identity), std::move(session_id), std::move(also),
        [uri = std::move(uri)](client::session& c) { return c.read_resource(uri); });
}

asio::awaitable<void> manager::forget(std::string identity, std::string session_id) {
    auto keep = impl_;
    auto l = keep->find(identity, session_id);
    if (!l)
        co_return;
    l->removed = true;
    keep->live.erase(key_of(identity, session_id));
    co_await keep->close_session(*l);
}

connection_state manager::state_of(std::string const& identity,
                                   std::string const& session_id) const {
    auto it = impl_->live.find(key_of(identity, session_id));
    return it == impl_->live.end() ? connection_state::disconnected : it->second->state;
}

asio::awaitable<void> manager::sweep() {
    auto keep = impl_;
    co_await keep->sweep_once();
}

std::size_t manager::live_count() const noexcept {
    return static_cast<std::size_t>(
        std::count_if(impl_->live.begin(), impl_->live.end(),
                      [](auto const& kv) { return kv.second->session.has_value(); }));
}

asio::awaitable<void> manager::close() {
    auto keep = impl_;
    keep->stop_sweeper();
    auto held = std::move(keep->live);
    keep->live.clear();
    for (auto& [key, l] : held)
        l->removed = true;
    for (auto& [key, l] : held)
        co_await keep->close_session(*l);
}

} // namespace mcpd::gateway
