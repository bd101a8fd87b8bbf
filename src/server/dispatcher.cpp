// server/dispatcher.cpp — every MCP method the server answers. See dispatcher.hpp.
//
// Layout: handle_request() routes by method to the `methods` functions below; user handlers run
// in run_user(), which binds them to the request's cancellation signal and turns exceptions into
// the answer the spec asks for (a tool error, a JSON-RPC error, or an input_required result).
// Stateless (2026-07-28) requests get the same methods plus the 2026 result decorations
// (resultType, serverInfo in _meta, caching hints), minus the session-only methods.
#include "mcpd/server/dispatcher.hpp"
#include "mcpd/server/fleet.hpp"
#include "server/outgoing_request.hpp"

#include "core/log.hpp"
#include "mcpd/protocol/version.hpp"
#include "mcpd/server/context.hpp"
#include "server/dispatch_metrics.hpp"
#include "server/registry.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <array>
#include <charconv>
#include <set>

namespace mcpd::server {

// An open subscriptions/listen request (2026-07-28): the notification types it asked for and
// the stream they go to, each stamped with its subscription id (the request's id).
struct dispatcher::listener {
    boost::json::value id;
    bool tools = false, prompts = false, resources = false;
    std::set<std::string, std::less<>> uris; // resourceSubscriptions
    message_sink sink;
    boost::asio::steady_timer* waiting = nullptr; // cancelled by end_listens()
    void notify(std::string_view method, boost::json::object params) const;
};

namespace json = boost::json;
namespace asio = boost::asio;
using protocol::make_error;
using protocol::make_result;
namespace code = protocol::code;

namespace {

// "_meta" keys of the 2026-07-28 revision.
constexpr std::string_view meta_version = "io.modelcontextprotocol/protocolVersion";
constexpr std::string_view meta_caps = "io.modelcontextprotocol/clientCapabilities";
constexpr std::string_view meta_info = "io.modelcontextprotocol/clientInfo";
constexpr std::string_view meta_log_level = "io.modelcontextprotocol/logLevel";
constexpr std::string_view meta_server_info = "io.modelcontextprotocol/serverInfo";
constexpr std::string_view meta_subscription_id = "io.modelcontextprotocol/subscriptionId";

std::string id_key(json::value const& id) {
    return json::serialize(id);
}

json::object const* object_at(json::object const& o, std::string_view key) {
    auto const* v = o.if_contains(key);
    return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
}

std::string_view string_at(json::object const& o, std::string_view key) {
    auto const* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view{};
}

// A page of `items` after `cursor` (an opaque decimal offset to the client).
struct page {
    std::size_t begin = 0, end = 0;
    std::string next;
};
std::optional<page> paginate(json::object const& params, std::size_t size, std::size_t page_size) {
    page p;
    if (auto const* c = params.if_contains("cursor"); c != nullptr && !c->is_null()) {
        if (!c->is_string())
            return std::nullopt;
        auto s = std::string_view(c->get_string());
        auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), p.begin);
        if (ec != std::errc{} || ptr != s.data() + s.size() || p.begin > size)
            return std::nullopt;
    }
    p.end = std::min(size, p.begin + page_size);
    if (p.end < size)
        p.next = std::to_string(p.end);
    return p;
}

void put_if(json::object& o, std::string_view key, std::string const& v) {
    if (!v.empty())
        o[key] = v;
}

json::object describe(tool const& t) {
    json::object o{{"name", t.name}};
    put_if(o, "title", t.title);
    put_if(o, "description", t.description);
    o["inputSchema"] = t.input_schema;
    if (!t.output_schema.empty())
        o["outputSchema"] = t.output_schema;
    if (!t.annotations.empty())
        o["annotations"] = t.annotations;
    if (!t.icons.empty())
        o["icons"] = t.icons;
    if (!t.meta.empty())
        o["_meta"] = t.meta;
    return o;
}

json::object describe(resource const& r) {
    json::object o{{"uri", r.uri}, {"name", r.name}};
    put_if(o, "title", r.title);
    put_if(o, "description", r.description);
    put_if(o, "mimeType", r.mime_type);
    if (r.size)
        o["size"] = *r.size;
    if (!r.annotations.empty())
        o["annotations"] = r.annotations;
    if (!r.icons.empty())
        o["icons"] = r.icons;
    return o;
}

json::object describe(resource_template const& t) {
    json::object o{{"uriTemplate", t.uri_template}, {"name", t.name}};
    put_if(o, "title", t.title);
    put_if(o, "description", t.description);
    put_if(o, "mimeType", t.mime_type);
    if (!t.icons.empty())
        o["icons"] = t.icons;
    return o;
}

json::object describe(prompt const& p) {
    json::object o{{"name", p.name}};
    put_if(o, "title", p.title);
    put_if(o, "description", p.description);
    if (!p.arguments.empty()) {
        json::array args;
        for (auto const& a : p.arguments) {
            json::object ao{{"name", a.name}};
            put_if(ao, "title", a.title);
            put_if(ao, "description", a.description);
            ao["required"] = a.required;
            args.push_back(std::move(ao));
        }
        o["arguments"] = std::move(args);
    }
    if (!p.icons.empty())
        o["icons"] = p.icons;
    return o;
}

// Consumes the result: its parts move into the answer.
json::object to_json(tool_result&& r) {
    json::object o;
    o.emplace("content", std::move(r.content));
    if (r.structured_content)
        o.emplace("structuredContent", std::move(*r.structured_content));
    if (r.is_error)
        o.emplace("isError", true);
    if (!r.meta.empty())
        o.emplace("_meta", std::move(r.meta));
    return o;
}

json::object to_json(resource_contents const& c) {
    json::object o{{"uri", c.uri}};
    put_if(o, "mimeType", c.mime_type);
    if (c.text)
        o["text"] = *c.text;
    if (c.blob)
        o["blob"] = *c.blob;
    if (!c.meta.empty())
        o["_meta"] = c.meta;
    return o;
}

// The same for sessions and stateless requests: list changes and resource updates reach a
// session on its streams, and a stateless client through subscriptions/listen.
json::object server_capabilities() {
    return json::object{{"logging", json::object{}},
                        {"completions", json::object{}},
                        {"tools", json::object{{"listChanged", true}}},
                        {"resources", json::object{{"subscribe", true}, {"listChanged", true}}},
                        {"prompts", json::object{{"listChanged", true}}}};
}

json::object server_info(server_options const& o) {
    json::object info{{"name", o.info.name}, {"version", o.info.version}};
    put_if(info, "title", o.info.title);
    put_if(info, "description", o.info.description);
    put_if(info, "websiteUrl", o.info.website_url);
    return info;
}

// Methods that only exist with sessions (removed in 2026-07-28).
bool session_only(std::string_view m) {
    return m == "initialize" || m == "ping" || m == "logging/setLevel" ||
           m == "resources/subscribe" || m == "resources/unsubscribe";
}

bool cacheable(std::string_view m) {
    return m == "tools/list" || m == "prompts/list" || m == "resources/list" ||
           m == "resources/templates/list" || m == "resources/read" || m == "server/discover";
}

} // namespace

// The method implementations; each returns the full response message.
struct dispatcher::methods {
    dispatcher& d;
    std::shared_ptr<session> s;
    protocol::request& req;
    message_sink& related;
    // The caller's coroutine is bound to this request's cancellation (handle_request's `flight`).
    std::shared_ptr<in_flight_request> bound;

    server::registry& reg() { return d.srv_.reg(); }
    json::object ok(json::value result) { return make_result(req.id, std::move(result)); }
    json::object fail(int c, std::string_view msg, json::value data = nullptr) {
        return make_error(req.id, c, msg, std::move(data));
    }

    json::object initialize() {
        if (s->state.initialized || !s->state.protocol_version.empty())
            return fail(code::invalid_request, "Session already initialized");
        auto requested = string_at(req.params, "protocolVersion");
        if (requested.empty())
            return fail(code::invalid_params, "initialize: \"protocolVersion\" must be a string");
        // What the session keeps of the client is bounded: a client could otherwise park
        // megabytes of "capabilities" in every session for its whole life.
        auto const& limits = reg().opts.limits;
        auto const* caps = object_at(req.params, "capabilities");
        auto const* info = object_at(req.params, "clientInfo");
        std::size_t kept = 0;
        for (auto const* part : {caps, info})
            if (part != nullptr)
                kept += protocol::serialized_size(*part, limits.max_client_state_bytes);
        if (kept > limits.max_client_state_bytes) {
            d.limit_hit("max-client-state");
            return fail(code::invalid_params,
                        "initialize: clientInfo and capabilities are over the limit of " +
                            std::to_string(limits.max_client_state_bytes) +
                            " bytes of JSON (max-client-state)");
        }
        s->state.protocol_version = std::string(protocol::negotiate(requested));
        if (caps != nullptr)
            s->state.client_capabilities = *caps;
        if (info != nullptr)
            s->state.client_info = *info;
        auto const& opts = reg().opts;
        json::object result{{"protocolVersion", s->state.protocol_version},
                            {"capabilities", server_capabilities()},
                            {"serverInfo", server_info(opts)}};
        if (!opts.instructions.empty())
            result["instructions"] = opts.instructions;
        return ok(std::move(result));
    }

    json::object discover() {
        json::array versions;
        versions.emplace_back(protocol::v2026_07_28);
        json::object result{{"supportedVersions", std::move(versions)},
                            {"capabilities", server_capabilities()}};
        if (!reg().opts.instructions.empty())
            result["instructions"] = reg().opts.instructions;
        return ok(std::move(result));
    }

    template <class Table, class F>
    json::object list(Table& table, std::string_view key, F&& describe_entry) {
        auto p = paginate(req.params, table.items.size(), reg().opts.page_size);
        if (!p)
            return fail(code::invalid_params, "Invalid cursor");
        json::array items;
        items.reserve(p->end - p->begin);
        for (std::size_t i = p->begin; i < p->end; ++i)
            items.push_back(describe_entry(table.items[i].second));
        json::object result{{key, std::move(items)}};
        if (!p->next.empty())
            result["nextCursor"] = p->next;
        return ok(std::move(result));
    }

    json::object set_level() {
        auto level = string_at(req.params, "level");
        if (log_level_rank(level) < 0)
            return fail(code::invalid_params,
                        "logging/setLevel: \"level\" must be one of debug, info, notice, warning, "
                        "error, critical, alert, emergency");
        s->state.log_level = std::string(level);
        return ok(json::object{});
    }

    json::object subscribe(bool on) {
        auto uri = string_at(req.params, "uri");
        if (uri.empty())
            return fail(code::invalid_params, "\"uri\" must be a non-empty string");
        auto const& limits = reg().opts.limits;
        if (on && uri.size() > limits.max_uri_bytes) {
            d.limit_hit("max-uri");
            return fail(code::invalid_params, "resources/subscribe: the URI is over the limit of " +
                                                  std::to_string(limits.max_uri_bytes) +
                                                  " bytes (max-uri)");
        }
        if (on && s->state.subscriptions.size() >= limits.max_subscriptions &&
            !s->state.subscriptions.contains(std::string(uri))) {
            d.limit_hit("max-subscriptions");
            return fail(code::invalid_params,
                        "resources/subscribe: this session has " +
                            std::to_string(s->state.subscriptions.size()) +
                            " subscriptions, the limit (max-subscriptions); unsubscribe first");
        }
        if (on)
            s->state.subscriptions.emplace(uri);
        else
            s->state.subscriptions.erase(std::string(uri));
        return ok(json::object{});
    }

    // subscriptions/listen (2026-07-28): acknowledges the notification types asked for, then
    // holds the request open, the listener getting the matching notifications, until the client
    // cancels it (closing the stream does) or the server ends it (end_listens: a result).
    asio::awaitable<json::object> listen(std::shared_ptr<in_flight_request> flight) {
        auto const* filter = object_at(req.params, "notifications");
        if (filter == nullptr)
            co_return fail(code::invalid_params,
                           "subscriptions/listen: \"notifications\" must be an object");
        auto l = std::make_shared<listener>();
        l->id = req.id;
        json::object honored;
        // Named, not a braced list in the loop header: docs/rough_edges.md (GCC 12 coroutines).
        std::array<std::pair<char const*, bool*>, 3> const flags{
            {{"toolsListChanged", &l->tools},
             {"promptsListChanged", &l->prompts},
             {"resourcesListChanged", &l->resources}}};
        for (auto [key, flag] : flags) {
            auto const* v = filter->if_contains(key);
            if (v == nullptr)
                continue;
            if (!v->is_bool())
                co_return fail(code::invalid_params, std::string("subscriptions/listen: \"") + key +
                                                         "\" must be a boolean");
            if (v->get_bool())
                honored[key] = *flag = true;
        }
        if (auto const* v = filter->if_contains("resourceSubscriptions")) {
            if (!v->is_array())
                co_return fail(code::invalid_params, "subscriptions/listen: "
                                                     "\"resourceSubscriptions\" must be an array "
                                                     "of resource URIs");
            for (auto const& uri : v->get_array()) {
                if (!uri.is_string() || uri.get_string().empty())
                    co_return fail(code::invalid_params,
                                   "subscriptions/listen: \"resourceSubscriptions\" must be an "
                                   "array of resource URIs");
                l->uris.emplace(uri.get_string());
            }
            json::array uris;
            for (auto const& u : l->uris)
                uris.emplace_back(u);
            honored["resourceSubscriptions"] = std::move(uris);
        }
        json::object ended_meta{{meta_subscription_id, req.id}};
        if (d.listens_ended_) // shutting down: nothing will come, say so at once
            co_return ok(json::object{{"_meta", std::move(ended_meta)}});
        json::object ack_params{{"_meta", json::object{{meta_subscription_id, req.id}}},
                                {"notifications", std::move(honored)}};
        auto ack = protocol::make_notification("notifications/subscriptions/acknowledged",
                                               std::move(ack_params));
        if (!related(ack)) { // nowhere to listen on: the stream is already gone
            flight->cancelled = true;
            co_return json::object{};
        }
        l->sink = related;
        d.listeners_.push_back(l);
        asio::steady_timer until_ended(d.ex_, asio::steady_timer::time_point::max());
        l->waiting = &until_ended;
        boost::system::error_code ec;
        co_await until_ended.async_wait(asio::bind_cancellation_slot(
            flight->signal.slot(), asio::redirect_error(asio::use_awaitable, ec)));
        l->waiting = nullptr;
        d.listeners_.remove(l);
        co_return ok(json::object{{"_meta", std::move(ended_meta)}});
    }

    // Runs a user handler, cancellable by flight->signal (in the caller's coroutine when that
    // is bound to it, else in one of its own), and builds the response.
    template <class Body>
    asio::awaitable<json::object> run_user(std::shared_ptr<in_flight_request> flight, Body body) {
        // The request's params and channel move into the context: nothing uses them after the
        // handler.
        context ctx(d.srv_, s, req.id, std::move(req.params), std::move(related), flight, d.ex_);
        // Named, not a temporary inside co_await: see docs/rough_edges.md (GCC 12).
        auto task = [&ctx, &body]() -> asio::awaitable<json::value> {
            co_return co_await body(ctx);
        };
        try {
            json::value v;
            if (flight == bound)
                v = co_await body(ctx);
            else
                v = co_await asio::co_spawn(
                    d.ex_, std::move(task),
                    asio::bind_cancellation_slot(flight->signal.slot(), asio::use_awaitable));
            co_return ok(std::move(v));
        } catch (protocol_error const& e) {
            co_return fail(e.code(), e.what(), e.data());
        } catch (input_required const& ir) {
            if (!s->ephemeral)
                co_return fail(code::internal_error,
                               "the handler asked for input, which only stateless requests do");
            json::object result{{"resultType", "input_required"}, {"inputRequests", ir.requests()}};
            if (!ir.state().empty())
                result["requestState"] = ir.state();
            co_return ok(std::move(result));
        } catch (std::exception const& e) {
            co_return fail(code::internal_error, e.what());
        }
    }

    asio::awaitable<json::object> call_tool(std::shared_ptr<in_flight_request> flight) {
        auto name = string_at(req.params, "name");
        if (name.empty())
            co_return fail(code::invalid_params, "tools/call: \"name\" must be a non-empty string");
        auto* entry = reg().tools.find(name);
        if (entry == nullptr)
            co_return fail(code::invalid_params, "Unknown tool: " + std::string(name));
        json::object args;
        if (auto const* a = req.params.if_contains("arguments"); a != nullptr && !a->is_null()) {
            if (!a->is_object())
                co_return fail(code::invalid_params, "tools/call: \"arguments\" must be an object");
            args = a->get_object();
        }
        // Copied: a handler may replace or remove the tool while it runs.
        auto handler = entry->handler;
        auto guards = entry->def.guards;
        auto tool_name = std::string(name);
        // The handler, its exceptions made tool errors; what the guards wrap.
        auto call = [&](context& ctx,
                        guard::lock_lease const& lease) -> asio::awaitable<json::object> {
            ctx.set_lock_lease(lease);
            try {
                auto r = co_await handler(ctx, std::move(args));
                co_return to_json(std::move(r));
            } catch (protocol_error const&) {
                throw;
            } catch (input_required const&) {
                throw;
            } catch (boost::system::system_error const& e) {
                if (e.code() == asio::error::operation_aborted && ctx.cancelled())
                    throw;
                co_return to_json(tool_result::error(e.what()));
            } catch (std::exception const& e) {
                // A failing tool is a result the model can read, not a protocol error.
                co_return to_json(tool_result::error(e.what()));
            }
        };
        if (guards.empty()) {
            // Not a coroutine: the handler's call is what run_user awaits (a frame less).
            guard::lock_lease const none;
            co_return co_await run_user(std::move(flight),
                                        [&](context& ctx) { return call(ctx, none); });
        }
        auto body = [&](context& ctx) -> asio::awaitable<json::value> {
            guard::tool_call tc{tool_name, ctx.session_id(), args, ctx.client()};
            guard::guard_set::tool_body guarded = [&](guard::lock_lease const& lease) {
                return call(ctx, lease);
            };
            co_return co_await d.srv_.guards().run_tool(tc, guards, std::move(guarded));
        };
        co_return co_await run_user(std::move(flight), std::move(body));
    }

    asio::awaitable<json::object> read_resource(std::shared_ptr<in_flight_request> flight) {
        auto uri = std::string(string_at(req.params, "uri"));
        if (uri.empty())
            co_return fail(code::invalid_params,
                           "resources/read: \"uri\" must be a non-empty string");
        std::function<asio::awaitable<std::vector<resource_contents>>(context&)> call;
        if (auto* e = reg().resources.find(uri)) {
            auto h = e->handler;
            call = [h, uri](context& ctx) { return h(ctx, uri); };
        } else {
            for (auto& [key, t] : reg().templates.items) {
                if (auto vars = match_uri_template(t.def.uri_template, uri)) {
                    auto h = t.handler;
                    call = [h, uri, v = std::move(*vars)](context& ctx) { return h(ctx, uri, v); };
                    break;
                }
            }
        }
        json::object data{{"uri", uri}};
        // 2026-07-28 moved "not found" to invalid params.
        int not_found = s->ephemeral ? code::invalid_params : code::resource_not_found;
        if (!call)
            co_return fail(not_found, "Resource not found: " + uri, std::move(data));
        auto body = [&call](context& ctx) -> asio::awaitable<json::value> {
            auto contents = co_await call(ctx);
            json::array arr;
            for (auto const& c : contents)
                arr.push_back(to_json(c));
            co_return json::object{{"contents", std::move(arr)}};
        };
        auto res = co_await run_user(std::move(flight), std::move(body));
        // A handler with nothing to return means the resource is not there.
        if (auto const* r = res.if_contains("result"); r != nullptr && r->is_object()) {
            auto const* c = r->get_object().if_contains("contents");
            if (c != nullptr && c->is_array() && c->get_array().empty())
                co_return fail(not_found, "Resource not found: " + uri, std::move(data));
        }
        co_return res;
    }

    asio::awaitable<json::object> get_prompt(std::shared_ptr<in_flight_request> flight) {
        auto name = string_at(req.params, "name");
        if (name.empty())
            co_return fail(code::invalid_params,
                           "prompts/get: \"name\" must be a non-empty string");
        auto* entry = reg().prompts.find(name);
        if (entry == nullptr)
            co_return fail(code::invalid_params, "Unknown prompt: " + std::string(name));
        std::map<std::string, std::string> args;
        if (auto const* a = req.params.if_contains("arguments"); a != nullptr && !a->is_null()) {
            if (!a->is_object())
                co_return fail(code::invalid_params,
                               "prompts/get: \"arguments\" must be an object");
            for (auto const& [k, v] : a->get_object()) {
                if (!v.is_string())
                    co_return fail(code::invalid_params, "prompts/get: argument \"" +
                                                             std::string(k) +
                                                             "\" must be a string");
                args.emplace(k, v.get_string());
            }
        }
        for (auto const& a : entry->def.arguments)
            if (a.required && !args.contains(a.name))
                co_return fail(code::invalid_params,
                               "prompts/get: missing required argument \"" + a.name + "\"");
        auto handler = entry->handler;
        auto body = [&handler, &args](context& ctx) -> asio::awaitable<json::value> {
            auto r = co_await handler(ctx, std::move(args));
            json::object o{{"messages", std::move(r.messages)}};
            if (!r.description.empty())
                o["description"] = r.description;
            co_return o;
        };
        co_return co_await run_user(std::move(flight), std::move(body));
    }

    asio::awaitable<json::object> complete(std::shared_ptr<in_flight_request> flight) {
        auto const* ref = object_at(req.params, "ref");
        auto const* arg = object_at(req.params, "argument");
        if (ref == nullptr || arg == nullptr)
            co_return fail(code::invalid_params,
                           "completion/complete: \"ref\" and \"argument\" must be objects");
        completion_request cr;
        cr.ref_type = string_at(*ref, "type");
        cr.ref = cr.ref_type == "ref/resource" ? string_at(*ref, "uri") : string_at(*ref, "name");
        cr.argument = string_at(*arg, "name");
        cr.value = string_at(*arg, "value");
        if (cr.ref_type != "ref/prompt" && cr.ref_type != "ref/resource")
            co_return fail(code::invalid_params,
                           "completion/complete: ref.type must be ref/prompt or ref/resource");
        if (auto const* c = object_at(req.params, "context"))
            if (auto const* a = object_at(*c, "arguments"))
                for (auto const& [k, v] : *a)
                    if (v.is_string())
                        cr.context_arguments.emplace(k, v.get_string());
        auto handler = reg().complete;
        auto body = [&handler, &cr](context& ctx) -> asio::awaitable<json::value> {
            completion_result r;
            if (handler)
                r = co_await handler(ctx, std::move(cr));
            json::array values;
            for (std::size_t i = 0; i < r.values.size() && i < 100; ++i)
                values.emplace_back(r.values[i]);
            json::object completion{{"values", std::move(values)},
                                    {"hasMore", r.has_more || r.values.size() > 100}};
            completion["total"] = r.total ? *r.total : static_cast<std::int64_t>(r.values.size());
            co_return json::object{{"completion", std::move(completion)}};
        };
        co_return co_await run_user(std::move(flight), std::move(body));
    }
};

dispatcher::dispatcher(server& srv, session_manager& sessions, asio::any_io_executor ex)
    : srv_(srv)
    , sessions_(sessions)
    , ex_(std::move(ex)) {
    auto& reg = srv_.reg();
    reg.on_list_changed = [this](std::string_view method) {
        list_changed_here(method);
        if (fleet_)
            fleet_->publish({}, json::object{{"k", "changed"}, {"m", method}});
    };
    reg.on_resource_updated = [this](std::string_view uri) {
        resource_updated_here(uri);
        if (fleet_)
            fleet_->publish({}, json::object{{"k", "updated"}, {"uri", uri}});
    };
}

void dispatcher::list_changed_here(std::string_view method) {
    auto msg = protocol::make_notification(method);
    sessions_.for_each([&](session& s) {
        if (s.state.initialized)
            s.send_local(msg);
    });
    for (auto const& l : listeners_)
        if ((method == "notifications/tools/list_changed" && l->tools) ||
            (method == "notifications/prompts/list_changed" && l->prompts) ||
            (method == "notifications/resources/list_changed" && l->resources))
            l->notify(method, json::object{});
}

void dispatcher::resource_updated_here(std::string_view uri) {
    json::object params{{"uri", uri}};
    auto msg = protocol::make_notification("notifications/resources/updated", params);
    sessions_.for_each([&](session& s) {
        if (s.state.subscriptions.contains(std::string(uri)))
            s.send_local(msg);
    });
    for (auto const& l : listeners_)
        if (l->uris.contains(uri))
            l->notify("notifications/resources/updated", params);
}

void dispatcher::listener::notify(std::string_view method, json::object params) const {
    params["_meta"] = json::object{{meta_subscription_id, id}};
    sink(protocol::make_notification(method, std::move(params)));
}

void dispatcher::end_listens() {
    listens_ended_ = true;
    for (auto const& l : listeners_)
        if (l->waiting != nullptr)
            l->waiting->cancel();
}

dispatcher::~dispatcher() {
    auto& reg = srv_.reg();
    reg.on_list_changed = nullptr;
    reg.on_resource_updated = nullptr;
}

std::shared_ptr<session> dispatcher::stateless_session(protocol::request const& req) {
    auto const* meta = object_at(req.params, "_meta");
    if (meta == nullptr)
        return nullptr;
    auto version = string_at(*meta, meta_version);
    if (version.empty())
        return nullptr;
    session_state st;
    st.protocol_version = std::string(version);
    if (auto const* caps = object_at(*meta, meta_caps))
        st.client_capabilities = *caps;
    if (auto const* info = object_at(*meta, meta_info))
        st.client_info = *info;
    auto level = string_at(*meta, meta_log_level);
    st.log_level = level.empty() ? std::string("off") : std::string(level);
    st.initialized = true;
    auto s = std::make_shared<session>(std::move(st));
    s->ephemeral = true;
    return s;
}

void dispatcher::set_metrics(metrics::registry& reg) {
    metrics_ = std::make_unique<dispatch_metrics>(reg);
    srv_.reg().limit_hits.attach(reg);
}

void dispatcher::limit_hit(std::string_view limit) {
    srv_.reg().limit_hits.hit(limit);
}

asio::awaitable<std::optional<json::object>>
dispatcher::handle_request(std::shared_ptr<session> s, protocol::request req, message_sink related,
                           std::string request_id, std::shared_ptr<in_flight_request> flight) {
    if (request_id.empty())
        request_id = log::new_request_id();
    // The tool, when it is a registered one: its name is a label and goes to the logs.
    std::string tool;
    bool const tool_call = std::string_view(req.method) == "tools/call";
    if (tool_call)
        if (auto name = string_at(req.params, "name"); srv_.reg().tools.find(name) != nullptr)
            tool = name;
    std::string method = req.method;
    log::for_request(log::level::debug, request_id, "mcp: {}{}{} (session {})", method,
                     tool.empty() ? "" : " ", tool,
                     s->ephemeral ? std::string_view("stateless") : s->state.id);
    metrics::stopwatch watch;
    auto response =
        co_await serve(std::move(s), std::move(req), std::move(related), std::move(flight));
    auto outcome = request_outcome(response, tool_call);
    auto seconds = watch.seconds();
    if (metrics_)
        metrics_->observe(method, tool, outcome, seconds);
    log::for_request(log::level::debug, request_id, "mcp: {}{}{}: {} in {:.2f} ms", method,
                     tool.empty() ? "" : " ", tool, outcome, seconds * 1000);
    co_return response;
}

asio::awaitable<std::optional<json::object>>
dispatcher::serve(std::shared_ptr<session> s, protocol::request req, message_sink related,
                  std::shared_ptr<in_flight_request> bound) {
    // A view: comparing it to each method name checks the size first (std::string's == with a
    // literal measures the literal and compares bytes, ~1k instructions per request in all).
    std::string_view const method = req.method;
    bool stateless = s->ephemeral;
    methods m{*this, s, req, related, bound};

    if (stateless && session_only(method))
        co_return m.fail(code::method_not_found, "Method not found: " + req.method +
                                                     " (not part of the stateless protocol)");
    if (!stateless && method != "initialize" && method != "ping" &&
        s->state.protocol_version.empty())
        co_return m.fail(code::invalid_request, "Session not initialized: send initialize first");

    std::optional<json::object> response;
    bool save = false;
    if (method == "initialize") {
        response = m.initialize();
        save = true;
    } else if (method == "ping") {
        response = m.ok(json::object{});
    } else if (method == "server/discover" && stateless) {
        response = m.discover();
    } else if (method == "tools/list") {
        response = m.list(srv_.reg().tools, "tools", [](auto const& e) { return describe(e.def); });
    } else if (method == "resources/list") {
        response = m.list(srv_.reg().resources, "resources",
                          [](auto const& e) { return describe(e.def); });
    } else if (method == "resources/templates/list") {
        response = m.list(srv_.reg().templates, "resourceTemplates",
                          [](auto const& e) { return describe(e.def); });
    } else if (method == "prompts/list") {
        response =
            m.list(srv_.reg().prompts, "prompts", [](auto const& e) { return describe(e.def); });
    } else if (method == "logging/setLevel") {
        co_await fresh_state(*s);
        response = m.set_level();
        save = true;
    } else if (method == "resources/subscribe" || method == "resources/unsubscribe") {
        co_await fresh_state(*s);
        response = m.subscribe(method == "resources/subscribe");
        save = true;
    } else if (method == "subscriptions/listen" && stateless) {
        // Its own signal even when the caller's coroutine is bound: the wait below binds the
        // signal's one slot itself.
        auto flight = std::make_shared<in_flight_request>();
        auto key = id_key(req.id);
        s->in_flight[key] = flight;
        response = co_await m.listen(flight);
        if (auto it = s->in_flight.find(key); it != s->in_flight.end() && it->second == flight)
            s->in_flight.erase(it);
        if (flight->cancelled)
            co_return std::nullopt;
    } else if (method == "tools/call" || method == "resources/read" || method == "prompts/get" ||
               method == "completion/complete") {
        auto flight = bound ? bound : std::make_shared<in_flight_request>();
        auto key = id_key(req.id);
        s->in_flight[key] = flight;
        if (method == "tools/call")
            response = co_await m.call_tool(flight);
        else if (method == "resources/read")
            response = co_await m.read_resource(flight);
        else if (method == "prompts/get")
            response = co_await m.get_prompt(flight);
        else
            response = co_await m.complete(flight);
        if (auto it = s->in_flight.find(key); it != s->in_flight.end() && it->second == flight)
            s->in_flight.erase(it);
        if (flight->cancelled)
            co_return std::nullopt; // the spec: no response to a cancelled request
        // A cancellation that came too late to stop the handler must not fail what follows in
        // the caller's coroutine (Asio makes every later co_await throw once it was cancelled).
        if (bound)
            co_await asio::this_coro::reset_cancellation_state();
    } else {
        response = m.fail(code::method_not_found, "Method not found: " + req.method);
    }

    result<void> saved;
    if ((save && !response->contains("error")) || sessions_.refresh_due(*s))
        saved = co_await sessions_.save(*s);
    if (!saved)
        log::warn("mcp: session {} not saved: {}", s->state.id, saved.error().message());
    if (stateless) {
        if (auto* r = response->if_contains("result"); r != nullptr && r->is_object()) {
            auto& obj = r->get_object();
            if (!obj.contains("resultType"))
                obj["resultType"] = "complete";
            json::object meta;
            if (auto* existing = obj.if_contains("_meta");
                existing != nullptr && existing->is_object())
                meta = existing->get_object();
            meta[meta_server_info] = server_info(srv_.reg().opts);
            obj["_meta"] = std::move(meta);
            if (cacheable(method) && !obj.contains("ttlMs")) {
                obj["ttlMs"] = 0;
                obj["cacheScope"] = "private";
            }
        }
    }
    co_return response;
}

asio::awaitable<void> dispatcher::handle_notification(std::shared_ptr<session> s,
                                                      protocol::notification n) {
    if (n.method == "notifications/initialized") {
        if (!s->state.initialized) {
            s->state.initialized = true;
            auto saved = co_await sessions_.save(*s);
            if (!saved)
                log::warn("mcp: session {} not saved: {}", s->state.id, saved.error().message());
        }
    } else if (n.method == "notifications/cancelled") {
        if (auto const* id = n.params.if_contains("requestId"))
            if (!cancel_here(*s, *id) && fleet_)
                fleet_->publish(s->state.id, json::object{{"k", "cancel"}, {"id", *id}});
    } else {
        // roots/list_changed, progress, unknown: nothing to do (the spec: ignore unknown ones).
        log::debug("mcp: notification {} ignored", n.method);
    }
}

asio::awaitable<std::optional<json::object>>
dispatcher::handle_non_request(std::shared_ptr<session> s, protocol::message m) {
    if (auto* n = std::get_if<protocol::notification>(&m)) {
        if (!s->ephemeral)
            co_await handle_notification(s, std::move(*n));
    } else if (auto* resp = std::get_if<protocol::response>(&m)) {
        handle_response(*s, resp->id, to_json(*resp));
    } else if (auto* er = std::get_if<protocol::error_response>(&m)) {
        handle_response(*s, er->id, to_json(*er));
    } else if (auto* bad = std::get_if<protocol::invalid>(&m)) {
        co_return to_json(bad->reply);
    }
    co_return std::nullopt;
}

void dispatcher::handle_response(session& s, json::value const& id, json::object message) {
    if (reply_here(s, id, message))
        return;
    if (fleet_ && !s.ephemeral) {
        // Its handler may wait on another instance (ids are unique to the instance).
        fleet_->publish(s.state.id, json::object{{"k", "reply"}, {"m", std::move(message)}});
        return;
    }
    log::debug("mcp: reply to unknown request {} ignored", id_key(id));
}

asio::awaitable<void> dispatcher::fresh_state(session& s) {
    // In a fleet another instance may have changed the record since this copy was made (its
    // `state` message can be lost with a pub/sub reconnect): a change starts from the stored one.
    if (!fleet_ || s.ephemeral)
        co_return;
    auto stored = co_await sessions_.reload(s);
    if (!stored)
        log::warn("mcp: session {}: the stored record could not be read before a change ({}); "
                  "the change starts from this instance's copy",
                  s.state.id, stored.error().message());
}

bool dispatcher::reply_here(session& s, json::value const& id, json::object& message) {
    auto it = s.outgoing.find(id_key(id));
    if (it == s.outgoing.end())
        return false;
    it->second->reply = std::move(message);
    it->second->done.notify();
    return true;
}

bool dispatcher::cancel_here(session& s, json::value const& id) {
    auto it = s.in_flight.find(id_key(id));
    if (it == s.in_flight.end())
        return false;
    it->second->cancelled = true;
    it->second->signal.emit(asio::cancellation_type::terminal);
    return true;
}

bool dispatcher::from_fleet(std::string const& session_id, json::object const& msg) {
    auto const* kind = msg.if_contains("k");
    if (kind == nullptr || !kind->is_string())
        return false;
    auto const& k = kind->get_string();
    if (session_id.empty()) {
        auto text = [&msg](std::string_view field) -> std::string_view {
            auto const* v = msg.if_contains(field);
            return v != nullptr && v->is_string() ? std::string_view(v->get_string())
                                                  : std::string_view();
        };
        if (k == "changed" && !text("m").empty())
            list_changed_here(text("m"));
        else if (k == "updated" && !text("uri").empty())
            resource_updated_here(text("uri"));
        else
            return false;
        return true;
    }
    if (k != "reply" && k != "cancel" && k != "state")
        return false;
    auto s = sessions_.peek_live(session_id);
    if (!s)
        return true; // not held here any more
    if (k == "reply") {
        auto const* m = msg.if_contains("m");
        if (m != nullptr && m->is_object()) {
            auto message = m->get_object();
            if (auto const* id = message.if_contains("id")) {
                auto key = *id;
                reply_here(*s, key, message);
            }
        }
    } else if (k == "cancel") {
        if (auto const* id = msg.if_contains("id"))
            cancel_here(*s, *id);
    } else if (auto const* st = msg.if_contains("s"); st != nullptr && st->is_object()) {
        // Another instance saved the session (subscribed, set its log level): our copy follows.
        if (auto state = session_state_from_json(st->get_object());
            state && state->id == s->state.id)
            s->state = std::move(*state);
    }
    return true;
}

} // namespace mcpd::server
