// apps/mcpd/sessions_cmd.cpp — `mcpd sessions …`. See sessions_cmd.hpp.
#include "sessions_cmd.hpp"

#include "store/backends.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/serialize.hpp>

#include <cstdio>

namespace mcpd::app {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

int fail(error const& e) {
    std::fprintf(stderr, "mcpd: %s\n", e.message().c_str());
    return 1;
}

int done_or_fail(result<void> const& r) {
    return r ? 0 : fail(r.error());
}

// Secrets stay out of terminals and logs unless asked for.
json::object shown(json::object record, bool show_secrets) {
    if (show_secrets)
        return record;
    for (char const* field : {"tokens", "headers", "clientInformation", "codeVerifier"})
        if (auto* v = record.if_contains(field); v && !v->is_null())
            *v = "***";
    return record;
}

asio::awaitable<int> list_all(store::session_store& s, sessions_args const& a) {
    auto ids = co_await s.get_all_session_ids();
    if (!ids)
        co_return fail(ids.error());
    if (a.json) {
        json::array out(ids->begin(), ids->end());
        std::printf("%s\n", json::serialize(out).c_str());
    } else {
        for (auto const& id : *ids)
            std::printf("%s\n", id.c_str());
    }
    co_return 0;
}

asio::awaitable<int> list_identity(store::session_store& s, sessions_args const& a) {
    auto data = co_await s.get_identity_sessions_data(a.identity);
    if (!data)
        co_return fail(data.error());
    if (a.json) {
        json::array out;
        for (auto const& r : *data)
            out.push_back(shown(r.object(), a.show_secrets));
        std::printf("%s\n", json::serialize(out).c_str());
        co_return 0;
    }
    auto text = [](std::optional<std::string_view> v) { return std::string(v.value_or("-")); };
    for (auto const& r : *data)
        std::printf("%s  %s  %s  %s\n", text(r.session_id()).c_str(), text(r.server_url()).c_str(),
                    text(r.transport_type()).c_str(),
                    r.active().value_or(true) ? "active" : "inactive");
    co_return 0;
}

asio::awaitable<int> get_one(store::session_store& s, sessions_args const& a) {
    auto got = co_await s.get_session(a.identity, a.session_id);
    if (!got)
        co_return fail(got.error());
    if (!*got) {
        std::fprintf(stderr, "mcpd: no session %s for identity %s\n", a.session_id.c_str(),
                     a.identity.c_str());
        co_return 1;
    }
    std::printf("%s\n", json::serialize(shown(std::move(**got), a.show_secrets)).c_str());
    co_return 0;
}

asio::awaitable<int> cleanup(store::session_store& s, sessions_args const& a) {
    auto r = co_await s.cleanup_expired_sessions();
    if (!r)
        co_return fail(r.error());
    if (a.json)
        std::printf("{\"removed\":%zu}\n", *r);
    else
        std::printf("removed %zu expired sessions\n", *r);
    co_return 0;
}

asio::awaitable<int> run(sessions_args a) {
    auto choice = store::choose_store(nullptr, store::store_type::sqlite);
    if (!choice) {
        std::fprintf(stderr, "mcpd: %s\n", choice.error().message().c_str());
        co_return 2;
    }
    auto opened = co_await store::open_store(co_await asio::this_coro::executor, *choice,
                                             {.required = a.required}, nullptr);
    if (!opened)
        co_return fail(opened.error());
    auto& s = *opened->store;
    int rc = 0;
    if (a.action == "list")
        rc = a.identity.empty() ? co_await list_all(s, a) : co_await list_identity(s, a);
    else if (a.action == "get")
        rc = co_await get_one(s, a);
    else if (a.action == "rm")
        rc = done_or_fail(co_await s.remove_session(a.identity, a.session_id));
    else if (a.action == "clear")
        rc = done_or_fail(co_await s.clear_all());
    else if (a.action == "cleanup")
        rc = co_await cleanup(s, a);
    co_await s.close();
    co_return rc;
}

} // namespace

int run_sessions(sessions_args const& a) {
    asio::io_context io;
    int rc = 1;
    asio::co_spawn(io, run(a), [&](std::exception_ptr const& e, int r) { rc = e ? 1 : r; });
    io.run();
    return rc;
}

} // namespace mcpd::app
