// tests/integration/gateway_manager_test.cpp — the gateway's multi-session manager
// (src/gateway/manager.hpp) against real MCP servers: a `mcpd serve --conformance` per test
// (mcpd_process.hpp) and the official TypeScript SDK's server (ts_mcp_server.mjs) over
// Streamable HTTP and HTTP+SSE, with its records in a real store (memory, and SQLite for the
// restart: a second manager on the same file restores what the first one left).
#include "async_test.hpp"
#include "mcp_client_util.hpp"
#include "mcpd_process.hpp"
#include "ts_mcp_server.hpp"

#include "http/address.hpp"
#include "mcpd/gateway/manager.hpp"
#include "mcpd/gateway/rpc.hpp"
#include "mcpd/gateway/token.hpp"
#include "mcpd/http/policy.hpp"
#include "mcpd/store/memory_store.hpp"
#include "store/sqlite_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using mcpd::test::eventually;
using mcpd::test::mcpd_process;
using mcpd::test::run_async;
using mcpd::test::text_of;
using mcpd::test::ts_mcp_server;
namespace gw = mcpd::gateway;

// Every event the manager emitted, in order.
struct recorder {
    std::vector<gw::event> events;
    gw::event_sink sink() {
        return [this](gw::event const& e) { events.push_back(e); };
    }
    // The `type` of the connection events for one session, in order ("state_changed:READY").
    [[nodiscard]] std::vector<std::string> connection_events(std::string const& sid) const {
        std::vector<std::string> out;
        for (auto const& e : events) {
            if (e.channel != gw::channel::connection)
                continue;
            auto const* s = e.data.if_contains("sessionId");
            if (s == nullptr || s->as_string() != sid)
                continue;
            std::string t(e.data.at("type").as_string());
            if (t == "state_changed")
                t += ":" + std::string(e.data.at("state").as_string());
            out.push_back(t);
        }
        return out;
    }
    [[nodiscard]] std::size_t count(std::string const& sid, std::string const& what) const {
        auto all = connection_events(sid);
        return static_cast<std::size_t>(std::count(all.begin(), all.end(), what));
    }
};

gw::manager_options fast_options() {
    gw::manager_options o;
    o.client = mcpd::test::client_test_options("gateway-test");
    o.connect_timeout = 10s;
    o.retry_delay = 50ms;
    o.allow_private_servers = true; // every server here is on 127.0.0.1
    return o;
}

gw::connect_params params_for(std::string url, std::string name = "server") {
    gw::connect_params p;
    p.server_name = std::move(name);
    p.server_url = std::move(url);
    p.callback_url = "http://127.0.0.1/callback";
    return p;
}

// A loopback port nothing listens on (bound, then released).
std::uint16_t unused_port() {
    asio::io_context io;
    asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

std::string mcp_url(mcpd_process const& m) {
    return "http://127.0.0.1:" + std::to_string(m.port()) + "/mcp";
}

TEST(GatewayManager, ConnectsListsCallsAndDisconnects) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto store = std::make_shared<mcpd::store::memory_store>();
        recorder rec;
        gw::manager m(ex, store, fast_options(), rec.sink());

        auto connected = co_await m.connect("alice", params_for(mcp_url(server), "conformance"));
        CO_ASSERT(connected.has_value());
        EXPECT_EQ(connected->at("success").as_bool(), true);
        std::string sid(connected->at("sessionId").as_string());
        EXPECT_EQ(m.state_of("alice", sid), gw::connection_state::ready);
        // The reference's sequence, each state announced.
        auto seq = rec.connection_events(sid);
        std::vector<std::string> want{"state_changed:INITIALIZING", "state_changed:CONNECTING",
                                      "state_changed:CONNECTED",    "progress",
                                      "state_changed:DISCOVERING",  "tools_discovered",
                                      "state_changed:READY",        "progress"};
        EXPECT_EQ(seq, want);

        // The record: active, with the transport that worked.
        auto record = co_await store->get_session("alice", sid);
        CO_ASSERT(record && *record);
        EXPECT_EQ((**record).at("active").as_bool(), true);
        EXPECT_EQ((**record).at("transportType").as_string(), "streamable_http");
        EXPECT_EQ((**record).at("serverName").as_string(), "conformance");

        auto sessions = co_await m.get_sessions("alice");
        CO_ASSERT(sessions.has_value());
        auto const& list = sessions->at("sessions").as_array();
        CO_ASSERT(list.size() == 1);
        EXPECT_EQ(list[0].at("transport").as_string(), "streamable_http");
        EXPECT_EQ(list[0].at("active").as_bool(), true);

        auto tools = co_await m.list_tools("alice", sid);
        CO_ASSERT(tools.has_value());
        EXPECT_GE(tools->at("tools").as_array().size(), 4u);

        json::object args{{"text", "hello gateway"}};
        auto called = co_await m.call_tool("alice", sid, "echo", args);
        CO_ASSERT(called.has_value());
        EXPECT_EQ(text_of(*called), "hello gateway");
        EXPECT_EQ(called->at("_meta").at("sessionId").as_string(), sid);

        auto prompts = co_await m.list_prompts("alice", sid);
        CO_ASSERT(prompts.has_value());
        EXPECT_FALSE(prompts->at("prompts").as_array().empty());
        json::object prompt_args{{"arg1", "a"}, {"arg2", "b"}};
        auto prompt =
            co_await m.get_prompt("alice", sid, "test_prompt_with_arguments", prompt_args);
        CO_ASSERT(prompt.has_value());
        EXPECT_FALSE(prompt->at("messages").as_array().empty());
        auto resources = co_await m.list_resources("alice", sid);
        CO_ASSERT(resources.has_value());
        EXPECT_FALSE(resources->at("resources").as_array().empty());
        auto read = co_await m.read_resource("alice", sid, "test://static-text");
        CO_ASSERT(read.has_value());
        EXPECT_FALSE(read->at("contents").as_array().empty());

        // Another identity sees nothing of alice's.
        auto bobs = co_await m.get_sessions("bob");
        CO_ASSERT(bobs.has_value());
        EXPECT_TRUE(bobs->at("sessions").as_array().empty());
        auto stolen = co_await m.call_tool("bob", sid, "echo", args);
        EXPECT_FALSE(stolen.has_value());

        auto gone = co_await m.disconnect("alice", sid);
        CO_ASSERT(gone.has_value());
        EXPECT_EQ(rec.count(sid, "disconnected"), 1u);
        auto after = co_await store->get_session("alice", sid);
        CO_ASSERT(after.has_value());
        EXPECT_FALSE(after->has_value());
        EXPECT_EQ(m.live_count(), 0u);
        co_await m.close();
    });
}

TEST(GatewayManager, DuplicateConnectIsRefusedAndAFailedConnectLeavesNoRecord) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto store = std::make_shared<mcpd::store::memory_store>();
        recorder rec;
        gw::manager m(ex, store, fast_options(), rec.sink());

        auto first = co_await m.connect("alice", params_for(mcp_url(server)));
        CO_ASSERT(first.has_value());
        auto again = co_await m.connect("alice", params_for(mcp_url(server)));
        CO_ASSERT(!again.has_value());
        EXPECT_EQ(again.error(), make_error_code(gw::errc::duplicate_connection));
        EXPECT_NE(again.error().detail.find("Connection already exists"), std::string::npos);
        // The same server for another identity is fine.
        auto bob = co_await m.connect("bob", params_for(mcp_url(server)));
        EXPECT_TRUE(bob.has_value());

        // Nothing listens on that port any more: refused, announced, and no record left.
        auto port = unused_port();
        auto dead = co_await m.connect(
            "alice", params_for("http://127.0.0.1:" + std::to_string(port) + "/mcp", "dead"));
        CO_ASSERT(!dead.has_value());
        auto ids = co_await store->get_identity_session_ids("alice");
        CO_ASSERT(ids.has_value());
        EXPECT_EQ(ids->size(), 1u);
        bool failed_announced = false;
        for (auto const& e : rec.events)
            if (e.channel == gw::channel::connection && e.data.at("type").as_string() == "error" &&
                e.data.at("errorType").as_string() == "connection")
                failed_announced = true;
        EXPECT_TRUE(failed_announced);

        // Bad parameters are refused before anything is stored.
        auto no_url = co_await m.connect("alice", params_for(""));
        CO_ASSERT(!no_url.has_value());
        EXPECT_EQ(no_url.error(), make_error_code(gw::errc::invalid_params));
        auto not_url = co_await m.connect("alice", params_for("not a url"));
        EXPECT_FALSE(not_url.has_value());
        auto missing = co_await m.restore_session("alice", "nosuchsession");
        CO_ASSERT(!missing.has_value());
        EXPECT_EQ(missing.error(), make_error_code(gw::errc::session_not_found));
        co_await m.close();
    });
}

TEST(GatewayManager, AServerThatNeverAnswersTimesOutTheConnect) {
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        // Listens (the kernel completes the handshake) but never reads or answers.
        asio::ip::tcp::acceptor silent(ex, {asio::ip::make_address("127.0.0.1"), 0});
        auto url = "http://127.0.0.1:" + std::to_string(silent.local_endpoint().port()) + "/mcp";
        auto store = std::make_shared<mcpd::store::memory_store>();
        recorder rec;
        auto opts = fast_options();
        opts.connect_timeout = 300ms;
        gw::manager m(ex, store, opts, rec.sink());
        auto r = co_await m.connect("alice", params_for(url, "silent"));
        CO_ASSERT(!r.has_value());
        EXPECT_NE(r.error().detail.find("timed out"), std::string::npos) << r.error().message();
        auto ids = co_await store->get_identity_session_ids("alice");
        CO_ASSERT(ids.has_value());
        EXPECT_TRUE(ids->empty());
        co_await m.close();
    });
}

TEST(GatewayManager, AServerThatDisappearsFailsTheSessionNotAHang) {
    auto server = std::make_unique<mcpd_process>(mcpd_process::options{});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto store = std::make_shared<mcpd::store::memory_store>();
        recorder rec;
        auto opts = fast_options();
        opts.client.ping_interval = 200ms;
        gw::manager m(ex, store, opts, rec.sink());
        auto connected = co_await m.connect("alice", params_for(mcp_url(*server)));
        CO_ASSERT(connected.has_value());
        std::string sid(connected->at("sessionId").as_string());

        server->stop();
        // Failed, announced, not hung.
        CO_ASSERT(co_await eventually(
            [&] { return m.state_of("alice", sid) == gw::connection_state::failed; }));
        EXPECT_GE(rec.count(sid, "error"), 1u);
        json::object args{{"text", "x"}};
        auto call = co_await m.call_tool("alice", sid, "echo", args);
        EXPECT_FALSE(call.has_value());
        // The record stays: the session comes back with its server.
        auto record = co_await store->get_session("alice", sid);
        CO_ASSERT(record && *record);

        // Restoring tries again and says why it cannot, rather than hanging.
        auto restored = co_await m.restore_session("alice", sid);
        CO_ASSERT(!restored.has_value());
        EXPECT_NE(restored.error().message().find("refused"), std::string::npos)
            << restored.error().message();
        co_await m.close();
    });
}

TEST(GatewayManager, SessionsSurviveARestartInSqliteAndAreRestoredInBatches) {
    mcpd_process server_a({});
    mcpd_process server_b({});
    auto dir = std::filesystem::temp_directory_path() /
               ("mcpd-gateway-" + std::to_string(::getpid()) + "-" +
                std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::filesystem::create_directories(dir);
    auto path = (dir / "sessions.db").string();
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        std::string sid_a, sid_b;
        {
            auto opened = co_await mcpd::store::sqlite_store::open(path);
            CO_ASSERT(opened.has_value());
            std::shared_ptr<mcpd::store::session_store> store = std::move(*opened);
            recorder rec;
            gw::manager m(ex, store, fast_options(), rec.sink());
            auto a = co_await m.connect("alice", params_for(mcp_url(server_a), "a"));
            CO_ASSERT(a.has_value());
            auto b = co_await m.connect("alice", params_for(mcp_url(server_b), "b"));
            CO_ASSERT(b.has_value());
            sid_a = std::string(a->at("sessionId").as_string());
            sid_b = std::string(b->at("sessionId").as_string());
            co_await m.close();
            co_await store->close();
        }
        // "Restart": a new manager on the same file.
        auto opened = co_await mcpd::store::sqlite_store::open(path);
        CO_ASSERT(opened.has_value());
        std::shared_ptr<mcpd::store::session_store> store = std::move(*opened);
        recorder rec;
        auto opts = fast_options();
        opts.restore_batch = 1; // one at a time: batches of one still restore everything
        gw::manager m(ex, store, opts, rec.sink());
        auto listed = co_await m.get_sessions("alice");
        CO_ASSERT(listed.has_value());
        EXPECT_EQ(listed->at("sessions").as_array().size(), 2u);
        auto all = co_await m.restore_all("alice");
        CO_ASSERT(all.has_value());
        auto const& results = all->at("sessions").as_array();
        CO_ASSERT(results.size() == 2);
        for (auto const& r : results)
            EXPECT_TRUE(r.at("success").as_bool()) << json::serialize(r);
        EXPECT_EQ(m.live_count(), 2u);
        EXPECT_EQ(rec.count(sid_a, "state_changed:VALIDATING"), 1u);
        EXPECT_EQ(rec.count(sid_b, "state_changed:READY"), 1u);
        json::object args{{"text", "after restart"}};
        auto called = co_await m.call_tool("alice", sid_b, "echo", args);
        CO_ASSERT(called.has_value());
        EXPECT_EQ(text_of(*called), "after restart");
        co_await m.close();
        co_await store->close();
    });
    std::filesystem::remove_all(dir);
}

// A temporary directory, removed with the object.
struct temp_dir {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() /
        ("mcpd-gateway-" + std::to_string(::getpid()) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    temp_dir() { std::filesystem::create_directories(path); }
    ~temp_dir() { std::filesystem::remove_all(path); }
    temp_dir(temp_dir const&) = delete;
    temp_dir& operator=(temp_dir const&) = delete;
};

TEST(GatewayManager, CallsThatArriveTogetherShareOneConnection) {
    mcpd_process server({});
    temp_dir dir;
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        // SQLite answers on its blocking pool: the calls really interleave.
        auto opened = co_await mcpd::store::sqlite_store::open((dir.path / "s.db").string());
        CO_ASSERT(opened.has_value());
        std::shared_ptr<mcpd::store::session_store> store = std::move(*opened);
        std::string sid;
        {
            gw::manager first(ex, store, fast_options(), {});
            auto connected = co_await first.connect("alice", params_for(mcp_url(server)));
            CO_ASSERT(connected.has_value());
            sid = std::string(connected->at("sessionId").as_string());
            co_await first.close();
        }
        // A new manager (a restart): two tabs restore the session while a third calls a tool.
        recorder rec;
        gw::manager m(ex, store, fast_options(), rec.sink());
        int finished = 0, succeeded = 0;
        for (int i = 0; i < 2; ++i) {
            auto restore = [&]() -> asio::awaitable<void> {
                auto r = co_await m.restore_session("alice", sid);
                ++finished;
                if (r)
                    ++succeeded;
            };
            asio::co_spawn(ex, restore, asio::detached);
        }
        json::object args{{"text", "together"}};
        auto called = co_await m.call_tool("alice", sid, "echo", args);
        CO_ASSERT(called.has_value());
        EXPECT_EQ(text_of(*called), "together");
        CO_ASSERT(co_await eventually([&] { return finished == 2; }));
        EXPECT_EQ(succeeded, 2);
        EXPECT_EQ(rec.count(sid, "state_changed:CONNECTING"), 1u);
        EXPECT_EQ(m.live_count(), 1u);
        co_await m.close();
        co_await store->close();
    });
}

// A store whose update_session holds while `hold` is set: a disconnect, forget or close can
// then run while a connection attempt waits on the store, as it may with a slow backend.
class held_store final : public mcpd::store::session_store {
public:
    explicit held_store(std::shared_ptr<mcpd::store::session_store> inner)
        : inner_(std::move(inner)) {}
    bool hold = false;
    int waiting = 0; // update_session calls held right now

    std::string_view backend_name() const noexcept override { return "held"; }
    asio::awaitable<mcpd::result<void>> create_session(json::object record,
                                                       std::optional<mcpd::duration> ttl) override {
        co_return co_await inner_->create_session(std::move(record), ttl);
    }
    asio::awaitable<mcpd::result<void>> update_session(std::string identity, std::string sid,
                                                       json::object partial,
                                                       std::optional<mcpd::duration> ttl) override {
        ++waiting;
        while (hold)
            co_await mcpd::test::sleep_for(5ms);
        --waiting;
        co_return co_await inner_->update_session(std::move(identity), std::move(sid),
                                                  std::move(partial), ttl);
    }
    asio::awaitable<mcpd::result<std::optional<json::object>>>
    get_session(std::string identity, std::string sid) override {
        co_return co_await inner_->get_session(std::move(identity), std::move(sid));
    }
    asio::awaitable<mcpd::result<std::vector<mcpd::store::session_record>>>
    get_identity_sessions_data(std::string identity) override {
        co_return co_await inner_->get_identity_sessions_data(std::move(identity));
    }
    asio::awaitable<mcpd::result<void>> remove_session(std::string identity,
                                                       std::string sid) override {
        co_return co_await inner_->remove_session(std::move(identity), std::move(sid));
    }
    asio::awaitable<mcpd::result<std::vector<std::string>>> get_all_session_ids() override {
        co_return co_await inner_->get_all_session_ids();
    }
    asio::awaitable<mcpd::result<void>> clear_all() override {
        co_return co_await inner_->clear_all();
    }
    asio::awaitable<mcpd::result<std::size_t>> cleanup_expired_sessions() override {
        co_return co_await inner_->cleanup_expired_sessions();
    }
    asio::awaitable<mcpd::result<void>> ping() override { co_return co_await inner_->ping(); }
    asio::awaitable<void> close() override { co_await inner_->close(); }

private:
    std::shared_ptr<mcpd::store::session_store> inner_;
};

// Review finding: a session closed (disconnect, fan-out forget, close) while a restore or a
// call waits for its connection attempt's record update: each waiter gets not_connected, nobody
// touches the emptied connection.
TEST(GatewayManager, ASessionClosedWhileItConnectsFailsCleanlyNotACrash) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto inner = std::make_shared<mcpd::store::memory_store>();
        auto store = std::make_shared<held_store>(inner);
        for (std::string how : {"disconnect", "forget", "close"}) {
            std::string sid;
            {
                gw::manager first(ex, store, fast_options(), {});
                auto connected = co_await first.connect("alice", params_for(mcp_url(server)));
                CO_ASSERT(connected.has_value());
                sid = std::string(connected->at("sessionId").as_string());
                co_await first.close();
            }
            gw::manager m(ex, store, fast_options(), {});
            store->hold = true;
            std::optional<mcpd::result<json::object>> restored, listed;
            auto restore = [&]() -> asio::awaitable<void> {
                restored = co_await m.restore_session("alice", sid);
            };
            auto list = [&]() -> asio::awaitable<void> {
                listed = co_await m.list_tools("alice", sid);
            };
            asio::co_spawn(ex, restore, asio::detached);
            asio::co_spawn(ex, list, asio::detached);
            CO_ASSERT(co_await eventually([&] { return store->waiting == 1; }));
            if (how == "disconnect") {
                auto gone = co_await m.disconnect("alice", sid);
                EXPECT_TRUE(gone.has_value());
            } else if (how == "forget") {
                co_await m.forget("alice", sid);
            } else {
                co_await m.close();
            }
            store->hold = false;
            CO_ASSERT(co_await eventually([&] { return restored && listed; }));
            CO_ASSERT(!restored->has_value());
            EXPECT_EQ(restored->error(), make_error_code(gw::errc::not_connected)) << how;
            EXPECT_NE(restored->error().detail.find("disconnected meanwhile"), std::string::npos)
                << how << ": " << restored->error().detail;
            // The waiting call: after a disconnect, the session is gone; after a forget or a
            // close its record is still there, so the call may reconnect it (a later call
            // would). Either way an answer, never a crash.
            if (how == "disconnect") {
                CO_ASSERT(!listed->has_value());
                EXPECT_EQ(listed->error(), make_error_code(gw::errc::session_not_found)) << how;
                EXPECT_EQ(m.live_count(), 0u) << how;
            } else if (!listed->has_value()) {
                EXPECT_EQ(listed->error(), make_error_code(gw::errc::not_connected)) << how;
            }
            co_await m.close();
            EXPECT_EQ(m.live_count(), 0u) << how;
            auto cleared = co_await store->remove_session("alice", sid);
            EXPECT_TRUE(cleared.has_value());
        }
    });
}

// Review finding: a restore while another one discovers tore the working connection down,
// failing the tool call in flight on it. Now an open connection is kept.
TEST(GatewayManager, ConcurrentRestoresDoNotBreakACallInFlight) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto store = std::make_shared<mcpd::store::memory_store>();
        recorder rec;
        gw::manager m(ex, store, fast_options(), rec.sink());
        auto connected = co_await m.connect("alice", params_for(mcp_url(server)));
        CO_ASSERT(connected.has_value());
        std::string sid(connected->at("sessionId").as_string());
        std::optional<mcpd::result<json::object>> called;
        auto call = [&]() -> asio::awaitable<void> {
            json::object none;
            called = co_await m.call_tool("alice", sid, "test_tool_with_progress", none);
        };
        asio::co_spawn(ex, call, asio::detached);
        int restored = 0, restore_ok = 0;
        for (int i = 0; i < 2; ++i) {
            auto restore = [&]() -> asio::awaitable<void> {
                auto r = co_await m.restore_session("alice", sid);
                ++restored;
                if (r)
                    ++restore_ok;
            };
            asio::co_spawn(ex, restore, asio::detached);
        }
        CO_ASSERT(co_await eventually([&] { return called.has_value() && restored == 2; }));
        if (!called->has_value())
            ADD_FAILURE() << called->error().message();
        CO_ASSERT(called->has_value());
        EXPECT_EQ(restore_ok, 2);
        // One connection all along.
        EXPECT_EQ(rec.count(sid, "state_changed:CONNECTING"), 1u);
        EXPECT_EQ(m.live_count(), 1u);
        co_await m.close();
    });
}

// Review finding: headers given to connect are written verbatim on every request: a CR/LF, a
// non-token name or a framing header is refused up front.
TEST(GatewayManager, HeadersThatCouldRewriteTheRequestAreRefused) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto store = std::make_shared<mcpd::store::memory_store>();
        gw::manager m(ex, store, fast_options(), {});
        std::vector<std::pair<std::string, std::string>> bad{
            {"X-Ok", "a\r\nX-Injected: 1"}, {"Bad Name", "v"},
            {"Host", "evil.example"},       {"Content-Length", "0"},
            {"Mcp-Session-Id", "x"},        {"X-Nul", std::string("a\0b", 3)}};
        for (auto const& h : bad) {
            auto p = params_for(mcp_url(server));
            p.headers = {h};
            auto r = co_await m.connect("alice", p);
            CO_ASSERT(!r.has_value());
            EXPECT_EQ(r.error(), make_error_code(gw::errc::invalid_params)) << h.first;
        }
        // Through the RPC: INVALID_PARAMS with the reason.
        auto body = json::parse(R"({"id":"1","method":"connect","params":{"serverUrl":")" +
                                mcp_url(server) + R"(","headers":{"X-Evil":"a\r\nHost: evil"}}})");
        gw::event_sink no_sink;
        std::string identity = "alice";
        auto answer = co_await gw::handle_rpc(m, identity, body, no_sink);
        CO_ASSERT(answer.contains("error"));
        EXPECT_EQ(answer.at("error").at("code").as_string(), "INVALID_PARAMS");
        // Authorization (a static API key) and ordinary headers still go through.
        auto p = params_for(mcp_url(server));
        p.headers = {{"X-Api-Key", "k"}};
        auto ok = co_await m.connect("alice", p);
        EXPECT_TRUE(ok.has_value());
        auto ids = co_await store->get_identity_session_ids("alice");
        CO_ASSERT(ids.has_value());
        EXPECT_EQ(ids->size(), 1u);
        co_await m.close();
    });
}

// Review finding (SSRF): by default the gateway reaches public addresses only, judged on the
// address the name resolved to; gateway-allowed-servers narrows it further.
TEST(GatewayManager, PrivateAddressesAndUnlistedServersAreRefusedByDefault) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto store = std::make_shared<mcpd::store::memory_store>();
        auto opts = fast_options();
        opts.allow_private_servers = false;
        gw::manager m(ex, store, opts, {});
        auto r = co_await m.connect("alice", params_for(mcp_url(server)));
        CO_ASSERT(!r.has_value());
        EXPECT_EQ(r.error(), make_error_code(gw::errc::connect_failed));
        EXPECT_NE(r.error().detail.find("127.0.0.1 (loopback)"), std::string::npos)
            << r.error().detail;
        EXPECT_NE(r.error().detail.find("gateway-allow-private-servers"), std::string::npos)
            << r.error().detail;
        // "localhost" resolves to loopback too: refused on the resolved address.
        auto by_name = co_await m.connect(
            "alice", params_for("http://localhost:" + std::to_string(server.port()) + "/mcp"));
        CO_ASSERT(!by_name.has_value());
        EXPECT_NE(by_name.error().detail.find("loopback"), std::string::npos)
            << by_name.error().detail;
        auto ids = co_await store->get_identity_session_ids("alice");
        CO_ASSERT(ids.has_value());
        EXPECT_TRUE(ids->empty());
        co_await m.close();

        // The allow list: hosts, *.subdomains and URL prefixes at a boundary.
        std::vector<std::string> allowed{"mcp.example.com", "*.tools.example",
                                         "https://api.example.org/mcp"};
        EXPECT_EQ(gw::server_not_allowed(allowed, "https://MCP.example.com/x"), "");
        EXPECT_EQ(gw::server_not_allowed(allowed, "https://a.tools.example/mcp"), "");
        EXPECT_NE(gw::server_not_allowed(allowed, "https://tools.example/mcp"), "");
        EXPECT_EQ(gw::server_not_allowed(allowed, "https://api.example.org/mcp/v1"), "");
        EXPECT_NE(gw::server_not_allowed(allowed, "https://api.example.org/mcpx"), "");
        EXPECT_NE(gw::server_not_allowed(allowed, "https://api.example.org.evil.example/mcp"), "");
        EXPECT_NE(gw::server_not_allowed(allowed, "http://127.0.0.1/mcp"), "");
        auto listed = fast_options();
        listed.allowed_servers = {"mcp.example.com"};
        gw::manager narrow(ex, store, listed, {});
        auto unlisted = co_await narrow.connect("alice", params_for(mcp_url(server)));
        CO_ASSERT(!unlisted.has_value());
        EXPECT_EQ(unlisted.error(), make_error_code(gw::errc::invalid_params));
        EXPECT_NE(unlisted.error().detail.find("gateway-allowed-servers"), std::string::npos);
        co_await narrow.close();
    });
}

// Review finding: a remote server's tool list is bounded (count and bytes) for the gateway.
TEST(GatewayManager, ToolDiscoveryIsBounded) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto store = std::make_shared<mcpd::store::memory_store>();
        auto few = fast_options();
        few.max_tools = 2;
        gw::manager m(ex, store, few, {});
        auto r = co_await m.connect("alice", params_for(mcp_url(server)));
        CO_ASSERT(!r.has_value());
        EXPECT_NE(r.error().detail.find("more than 2 tools"), std::string::npos)
            << r.error().detail;
        co_await m.close();
        auto small = fast_options();
        small.max_tools_bytes = 200;
        gw::manager n(ex, store, small, {});
        auto s = co_await n.connect("alice", params_for(mcp_url(server)));
        CO_ASSERT(!s.has_value());
        EXPECT_NE(s.error().detail.find("over 200 bytes"), std::string::npos) << s.error().detail;
        co_await n.close();
        auto ids = co_await store->get_identity_session_ids("alice");
        CO_ASSERT(ids.has_value());
        EXPECT_TRUE(ids->empty());
    });
}

// Review finding: per-identity and global caps, and the sweeper (idle connections of an identity
// with no stream, connections whose record is gone).
TEST(GatewayManager, CapsAndTheSweeper) {
    mcpd_process server_a({});
    mcpd_process server_b({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto store = std::make_shared<mcpd::store::memory_store>();
        {
            auto one = fast_options();
            one.max_sessions_per_identity = 1;
            gw::manager m(ex, store, one, {});
            auto first = co_await m.connect("alice", params_for(mcp_url(server_a)));
            CO_ASSERT(first.has_value());
            auto second = co_await m.connect("alice", params_for(mcp_url(server_b)));
            CO_ASSERT(!second.has_value());
            EXPECT_EQ(second.error(), make_error_code(gw::errc::limit_reached));
            EXPECT_NE(second.error().detail.find("gateway-max-sessions-per-identity"),
                      std::string::npos);
            auto bob = co_await m.connect("bob", params_for(mcp_url(server_b)));
            EXPECT_TRUE(bob.has_value());
            co_await m.close();
            auto cleared = co_await store->clear_all();
            CO_ASSERT(cleared.has_value());
        }
        {
            auto one_live = fast_options();
            one_live.max_live_per_identity = 1;
            gw::manager m(ex, store, one_live, {});
            auto first = co_await m.connect("alice", params_for(mcp_url(server_a)));
            CO_ASSERT(first.has_value());
            auto second = co_await m.connect("alice", params_for(mcp_url(server_b)));
            CO_ASSERT(!second.has_value());
            EXPECT_EQ(second.error(), make_error_code(gw::errc::limit_reached));
            EXPECT_NE(second.error().detail.find("gateway-max-connections-per-identity"),
                      std::string::npos)
                << second.error().detail;
            co_await m.close();
            auto cleared = co_await store->clear_all();
            CO_ASSERT(cleared.has_value());
        }
        {
            auto sweeping = fast_options();
            sweeping.idle_timeout = 1ms;
            bool alice_has_stream = true;
            sweeping.has_streams = [&](std::string const& who) {
                return who == "alice" && alice_has_stream;
            };
            gw::manager m(ex, store, sweeping, {});
            auto a = co_await m.connect("alice", params_for(mcp_url(server_a)));
            CO_ASSERT(a.has_value());
            auto b = co_await m.connect("bob", params_for(mcp_url(server_a)));
            CO_ASSERT(b.has_value());
            co_await mcpd::test::sleep_for(5ms);
            co_await m.sweep();
            // bob has no stream: his idle connection is closed, the record stays.
            EXPECT_EQ(m.live_count(), 1u);
            std::string bob_sid(b->at("sessionId").as_string());
            auto bob_record = co_await store->get_session("bob", bob_sid);
            CO_ASSERT(bob_record && *bob_record);
            // A later call reconnects it.
            json::object args{{"text", "back"}};
            auto back = co_await m.call_tool("bob", bob_sid, "echo", args);
            CO_ASSERT(back.has_value());
            EXPECT_EQ(text_of(*back), "back");
            // alice's record goes (expired, or removed by another writer): her connection too.
            std::string alice_sid(a->at("sessionId").as_string());
            auto removed = co_await store->remove_session("alice", alice_sid);
            CO_ASSERT(removed.has_value());
            alice_has_stream = true;
            co_await m.sweep();
            EXPECT_EQ(m.state_of("alice", alice_sid), gw::connection_state::disconnected);
            co_await m.close();
        }
    });
}

// The address policy's classification (what server_address_policy refuses).
TEST(GatewayAddressPolicy, NonPublicAddressesAreNamed) {
    auto kind = [](char const* a) {
        return mcpd::http::non_public_address_kind(asio::ip::make_address(a));
    };
    EXPECT_EQ(kind("127.0.0.1"), "loopback");
    EXPECT_EQ(kind("10.1.2.3"), "private (RFC 1918)");
    EXPECT_EQ(kind("172.16.0.1"), "private (RFC 1918)");
    EXPECT_EQ(kind("172.32.0.1"), "");
    EXPECT_EQ(kind("192.168.1.1"), "private (RFC 1918)");
    EXPECT_EQ(kind("169.254.169.254"), "link-local");
    EXPECT_EQ(kind("100.64.0.1"), "carrier-grade NAT (100.64.0.0/10)");
    EXPECT_EQ(kind("100.128.0.1"), "");
    EXPECT_EQ(kind("0.0.0.0"), "unspecified");
    EXPECT_EQ(kind("0.1.2.3"), "this network (0.0.0.0/8)");
    EXPECT_EQ(kind("224.0.0.1"), "multicast");
    EXPECT_EQ(kind("255.255.255.255"), "broadcast");
    EXPECT_EQ(kind("8.8.8.8"), "");
    EXPECT_EQ(kind("::1"), "loopback");
    EXPECT_EQ(kind("::"), "unspecified");
    EXPECT_EQ(kind("fe80::1"), "link-local");
    EXPECT_EQ(kind("fd00::1"), "unique local (fc00::/7)");
    EXPECT_EQ(kind("ff02::1"), "multicast");
    EXPECT_EQ(kind("::ffff:127.0.0.1"), "loopback"); // IPv4-mapped: judged as IPv4
    EXPECT_EQ(kind("::ffff:10.0.0.1"), "private (RFC 1918)");
    EXPECT_EQ(kind("2001:4860:4860::8888"), "");
    // Ranges that are no one's public servers, and their neighbours that are.
    EXPECT_EQ(kind("198.18.0.1"), "benchmarking (198.18.0.0/15)");
    EXPECT_EQ(kind("198.19.255.254"), "benchmarking (198.18.0.0/15)");
    EXPECT_EQ(kind("198.17.255.255"), "");
    EXPECT_EQ(kind("198.20.0.0"), "");
    EXPECT_EQ(kind("192.0.2.10"), "documentation (TEST-NET)");
    EXPECT_EQ(kind("198.51.100.7"), "documentation (TEST-NET)");
    EXPECT_EQ(kind("203.0.113.9"), "documentation (TEST-NET)");
    EXPECT_EQ(kind("192.88.99.1"), "reserved");
    EXPECT_EQ(kind("240.0.0.1"), "reserved");
    // IPv6 that carries IPv4: judged by what it reaches.
    EXPECT_EQ(kind("64:ff9b::7f00:1"), "NAT64 to loopback");
    EXPECT_EQ(kind("64:ff9b::a00:1"), "NAT64 to private (RFC 1918)");
    EXPECT_EQ(kind("64:ff9b::808:808"), ""); // NAT64 to 8.8.8.8
    EXPECT_EQ(kind("64:ff9b:1::1"), "local-use NAT64 (64:ff9b:1::/48)");
    EXPECT_EQ(kind("::7f00:1"), "IPv4-compatible (::/96)");
    EXPECT_EQ(kind("::808:808"), "IPv4-compatible (::/96)");
    EXPECT_EQ(kind("2002:7f00:1::1"), "6to4 to loopback");
    EXPECT_EQ(kind("2002:808:808::1"), "");
    EXPECT_EQ(kind("2001:0:4136:e378::1"), "Teredo (2001::/32)");
    EXPECT_EQ(kind("2001:db8::1"), "documentation (2001:db8::/32)");
    EXPECT_EQ(kind("100::1"), "discard-only (100::/64)");
    auto policy = gw::server_address_policy(false);
    ASSERT_TRUE(static_cast<bool>(policy));
    EXPECT_NE(policy(asio::ip::make_address("127.0.0.1")).find("gateway-allow-private-servers"),
              std::string::npos);
    EXPECT_EQ(policy(asio::ip::make_address("8.8.8.8")), "");
    EXPECT_FALSE(static_cast<bool>(gw::server_address_policy(true)));
}

// Per-identity tokens: for one identity, until their expiry, under one secret.
TEST(GatewayToken, IdentityTokensAreBoundToTheIdentityTheSecretAndTheExpiry) {
    std::string secret = "0123456789abcdef0123456789abcdef";
    auto t = gw::mint_identity_token(secret, "alice", 2000);
    EXPECT_TRUE(t.starts_with("v1.2000."));
    EXPECT_TRUE(gw::verify_identity_token(secret, "alice", t, 1999));
    EXPECT_FALSE(gw::verify_identity_token(secret, "alice", t, 2000)); // expired
    EXPECT_FALSE(gw::verify_identity_token(secret, "bob", t, 1000));
    EXPECT_FALSE(gw::verify_identity_token(secret + "x", "alice", t, 1000));
    EXPECT_FALSE(gw::verify_identity_token("", "alice", t, 1000));
    EXPECT_FALSE(gw::verify_identity_token(secret, "alice", "v1.02000." + t.substr(8), 1000));
    EXPECT_FALSE(gw::verify_identity_token(secret, "alice", "v1.3000." + t.substr(8), 1000));
    EXPECT_FALSE(gw::verify_identity_token(secret, "alice", "v1..", 1000));
    EXPECT_FALSE(gw::verify_identity_token(secret, "alice", "garbage", 1000));
    // "identity.expiry" is the signed text: the formula any backend can compute.
    EXPECT_EQ(t.size(), std::string("v1.2000.").size() + 64);
}

TEST(GatewayManager, RestoreAllRetriesAndReportsAServerThatStaysDown) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto store = std::make_shared<mcpd::store::memory_store>();
        recorder rec;
        auto opts = fast_options();
        opts.max_retries = 2;
        gw::manager m(ex, store, opts, rec.sink());
        auto ok = co_await m.connect("alice", params_for(mcp_url(server), "up"));
        CO_ASSERT(ok.has_value());
        // A stored session whose server is gone (as another instance might have left it).
        auto port = unused_port();
        json::object record{{"sessionId", "deadsession1"},
                            {"identity", "alice"},
                            {"serverId", "deadserver"},
                            {"serverName", "down"},
                            {"serverUrl", "http://127.0.0.1:" + std::to_string(port) + "/mcp"},
                            {"callbackUrl", "http://127.0.0.1/callback"},
                            {"transportType", "streamable_http"},
                            {"createdAt", 1},
                            {"active", true}};
        std::optional<mcpd::duration> no_ttl;
        auto created = co_await store->create_session(record, no_ttl);
        CO_ASSERT(created.has_value());
        auto all = co_await m.restore_all("alice");
        CO_ASSERT(all.has_value());
        int succeeded = 0, failed = 0;
        for (auto const& r : all->at("sessions").as_array())
            (r.at("success").as_bool() ? succeeded : failed)++;
        EXPECT_EQ(succeeded, 1);
        EXPECT_EQ(failed, 1);
        // Three attempts (the first and two retries), each announced.
        EXPECT_EQ(rec.count("deadsession1", "state_changed:VALIDATING"), 3u);
        EXPECT_EQ(m.state_of("alice", "deadsession1"), gw::connection_state::failed);
        co_await m.close();
    });
}

// The browser's RPC shapes on top of the manager.
TEST(GatewayManager, RpcAnswersInTheReferenceShapes) {
    mcpd_process server({});
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto store = std::make_shared<mcpd::store::memory_store>();
        gw::manager m(ex, store, fast_options(), {});
        auto req = json::parse(R"({"id":"rpc_1","method":"connect","params":{"serverName":"s",)"
                               R"("serverUrl":")" +
                               mcp_url(server) + R"(","callbackUrl":"http://x/cb"}})");
        auto answer = co_await gw::handle_rpc(m, "alice", req);
        CO_ASSERT(answer.contains("result"));
        EXPECT_EQ(answer.at("id").as_string(), "rpc_1");
        std::string sid(answer.at("result").at("sessionId").as_string());

        auto call = json::parse(R"({"id":"rpc_2","method":"callTool","params":{"sessionId":")" +
                                sid + R"(","toolName":"add","toolArgs":{"a":2,"b":3}}})");
        auto called = co_await gw::handle_rpc(m, "alice", call);
        CO_ASSERT(called.contains("result"));
        EXPECT_EQ(called.at("result").at("structuredContent").at("sum").to_number<double>(), 5);

        auto unknown = json::parse(R"({"id":"rpc_3","method":"frobnicate"})");
        auto refused = co_await gw::handle_rpc(m, "alice", unknown);
        CO_ASSERT(refused.contains("error"));
        EXPECT_EQ(refused.at("error").at("code").as_string(), "UNKNOWN_METHOD");
        auto bad = json::parse(R"({"id":"rpc_4","method":"callTool","params":{"toolName":"x"}})");
        auto invalid = co_await gw::handle_rpc(m, "alice", bad);
        CO_ASSERT(invalid.contains("error"));
        EXPECT_EQ(invalid.at("error").at("code").as_string(), "INVALID_PARAMS");
        auto missing = json::parse(
            R"({"id":"rpc_5","method":"restoreSession","params":{"sessionId":"nope"}})");
        auto not_found = co_await gw::handle_rpc(m, "alice", missing);
        CO_ASSERT(not_found.contains("error"));
        EXPECT_EQ(not_found.at("error").at("code").as_string(), "EXECUTION_ERROR");
        EXPECT_EQ(not_found.at("error").at("message").as_string(), "Session not found");
        co_await m.close();
    });
}

// The official TypeScript SDK's server, over both transports: the transport that worked is
// what the record keeps.
class GatewayManagerTs : public ::testing::TestWithParam<std::string> {};

TEST_P(GatewayManagerTs, ConnectsToTheTypeScriptServerAndStoresTheTransport) {
    ts_mcp_server server({});
    auto transport = GetParam();
    run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto store = std::make_shared<mcpd::store::memory_store>();
        recorder rec;
        gw::manager m(ex, store, fast_options(), rec.sink());
        // The SSE endpoint is /sse; automatic negotiation on it falls back from Streamable HTTP
        // (its POST answers 404) to HTTP+SSE.
        auto url = server.base_url() + (transport == "sse" ? "/sse" : "/mcp");
        auto connected = co_await m.connect("alice", params_for(url, "ts"));
        CO_ASSERT(connected.has_value());
        std::string sid(connected->at("sessionId").as_string());
        auto record = co_await store->get_session("alice", sid);
        CO_ASSERT(record && *record);
        EXPECT_EQ((**record).at("transportType").as_string(), transport);
        json::object args{{"text", "from the gateway"}};
        auto called = co_await m.call_tool("alice", sid, "echo", args);
        CO_ASSERT(called.has_value());
        EXPECT_EQ(text_of(*called), "from the gateway");
        auto tools = co_await m.list_tools("alice", sid);
        CO_ASSERT(tools.has_value());
        EXPECT_GE(tools->at("tools").as_array().size(), 9u); // every page walked
        // Restore uses the stored transport.
        co_await m.close();
        gw::manager m2(ex, store, fast_options(), rec.sink());
        auto restored = co_await m2.restore_session("alice", sid);
        CO_ASSERT(restored.has_value());
        co_await m2.close();
    });
}

INSTANTIATE_TEST_SUITE_P(Transports, GatewayManagerTs, ::testing::Values("streamable_http", "sse"),
                         [](auto const& p) { return p.param; });

} // namespace
