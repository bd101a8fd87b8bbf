// tests/integration/mcpd_http_test.cpp — bad input against a real `mcpd serve` over HTTP.
//
// Each test starts mcpd (JSON answers, a 64 KiB body limit, a 1 s request timeout) on an
// ephemeral port and sends it what a broken or hostile client sends: malformed JSON, JSON that
// is not JSON-RPC, parameters of the wrong type, unknown methods, bodies and headers over the
// limits, requests that arrive too slowly, unknown or ended sessions, wrong headers, batches
// where the revision forbids them, many connections at once. Each must get its status and
// JSON-RPC error, and after each test the server must still serve a new client and then stop
// cleanly (exit code 0: no crash, no hang).
#include "async_test.hpp"
#include "mcp_wire.hpp"
#include "mcpd_process.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace mcpd::test;
namespace asio = boost::asio;
namespace json = boost::json;
using bhttp::verb;

namespace {

constexpr std::size_t max_body = 64 * 1024;
constexpr char const* v2025_06_18 = "2025-06-18";
constexpr char const* v2025_03_26 = "2025-03-26";

std::string call_body(int id, std::string_view method, json::object params) {
    return json::serialize(
        json::object{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
}

std::string echo_body(int id, std::string_view text) {
    return call_body(id, "tools/call",
                     json::object{{"name", "echo"}, {"arguments", json::object{{"text", text}}}});
}

// The text of the first content item of a tools/call result in a JSON answer ("" if none).
std::string result_text(http_response const& res) {
    boost::system::error_code ec;
    auto v = body_json(res);
    auto const* t = v.find_pointer("/result/content/0/text", ec);
    return t != nullptr && t->is_string() ? std::string(t->get_string()) : std::string();
}

std::string error_message(http_response const& res) {
    boost::system::error_code ec;
    auto v = body_json(res);
    auto const* m = v.find_pointer("/error/message", ec);
    return m != nullptr && m->is_string() ? std::string(m->get_string()) : std::string();
}

class mcpd_http : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = std::make_unique<mcpd_process>(
            mcpd_process::options{.args = {"--json-response", "--max-body",
                                           std::to_string(max_body), "--request-timeout", "1s"}});
        port_ = server_->port();
    }

    // After every test: a new client is still served, and the server stops cleanly.
    void TearDown() override {
        if (server_->running())
            run([this]() -> asio::awaitable<void> {
                co_await expect_echo_works("after the test");
            });
        EXPECT_TRUE(server_->running()) << "mcpd died during the test:\n" << server_->log();
        EXPECT_EQ(server_->stop(), 0) << server_->log();
    }

    static void run(std::function<asio::awaitable<void>()> body) {
        run_async(std::move(body), std::chrono::seconds(30));
    }

    // One request on a new connection.
    asio::awaitable<http_response> send(http_request req) {
        http_client c(co_await asio::this_coro::executor);
        co_await c.connect(port_);
        co_return co_await c.send(std::move(req));
    }
    asio::awaitable<http_response> post(std::string body, std::string const& session = {},
                                        std::string const& version = {}) {
        auto req = mcp_post(port_, std::move(body), session, version);
        co_return co_await send(std::move(req));
    }

    // A new session on a new connection answers an echo call.
    asio::awaitable<void> expect_echo_works(std::string const& text) {
        auto sid = co_await open_session(port_, v2025_06_18);
        auto res = co_await post(echo_body(7, text), sid, v2025_06_18);
        EXPECT_EQ(res.result_int(), 200u) << res.body();
        EXPECT_EQ(result_text(res), text) << res.body();
    }

    std::unique_ptr<mcpd_process> server_;
    std::uint16_t port_ = 0;
};

// --- JSON and JSON-RPC -----------------------------------------------------------------------

TEST_F(mcpd_http, malformed_json_is_400_with_a_parse_error_and_the_connection_goes_on) {
    run([this]() -> asio::awaitable<void> {
        auto sid = co_await open_session(port_, v2025_06_18);
        std::vector<std::string> bad = {R"({"jsonrpc":"2.0","id":1,)",
                                        "not json at all",
                                        "{'a':1}",
                                        R"({"jsonrpc":"2.0","id":1,"method":"ping"} trailing)",
                                        std::string(200, '[') + std::string(200, ']'),
                                        ""};
        http_client c(co_await asio::this_coro::executor);
        co_await c.connect(port_);
        for (auto const& body : bad) {
            std::vector<char const*> const sessions = {"", sid.c_str()};
            for (auto const* session : sessions) {
                auto req = mcp_post(port_, body, session, *session ? v2025_06_18 : "");
                auto res = co_await c.send(std::move(req));
                EXPECT_EQ(res.result_int(), 400u) << body << " -> " << res.body();
                EXPECT_EQ(rpc_error_code(res), -32700) << body << " -> " << res.body();
                EXPECT_TRUE(body_json(res).at("id").is_null()) << res.body();
                EXPECT_EQ(res[bhttp::field::content_type], "application/json");
            }
        }
        // The same keep-alive connection still serves a good request.
        auto good = mcp_post(port_, echo_body(2, "after bad json"), sid, v2025_06_18);
        auto res = co_await c.send(std::move(good));
        EXPECT_EQ(result_text(res), "after bad json") << res.body();
    });
}

TEST_F(mcpd_http, json_that_is_not_json_rpc_is_an_invalid_request) {
    run([this]() -> asio::awaitable<void> {
        auto sid = co_await open_session(port_, v2025_06_18);
        struct bad_case {
            std::string body;
            json::value id; // echoed when it could be read
        };
        std::vector<bad_case> cases = {
            {"42", nullptr},
            {R"("a string")", nullptr},
            {"null", nullptr},
            {R"({"foo":"bar"})", nullptr},
            {R"({"jsonrpc":"1.0","id":3,"method":"ping"})", 3},
            {R"({"id":4,"method":"ping"})", 4},
            {R"({"jsonrpc":"2.0","id":5,"method":42})", 5},
            {R"({"jsonrpc":"2.0","id":{"x":1},"method":"ping"})", nullptr},
            {R"({"jsonrpc":"2.0","id":true,"method":"ping"})", nullptr},
            {R"({"jsonrpc":"2.0","id":6,"method":"tools/list","params":[1,2]})", 6},
            {R"({"jsonrpc":"2.0","id":7,"method":"tools/list","params":"x"})", 7},
            {R"({"jsonrpc":"2.0","id":8})", 8},
        };
        for (auto const& c : cases) {
            std::vector<char const*> const sessions = {"", sid.c_str()};
            for (auto const* session : sessions) {
                auto res = co_await post(c.body, session, *session ? v2025_06_18 : "");
                EXPECT_EQ(res.result_int(), 400u) << c.body << " -> " << res.body();
                EXPECT_EQ(rpc_error_code(res), -32600) << c.body << " -> " << res.body();
                EXPECT_EQ(json::serialize(body_json(res).at("id")), json::serialize(c.id))
                    << c.body << " -> " << res.body();
            }
        }
        // An empty batch is invalid too (in a revision that has batches).
        auto old = co_await open_session(port_, v2025_03_26);
        auto res = co_await post("[]", old, v2025_03_26);
        EXPECT_EQ(res.result_int(), 400u) << res.body();
        EXPECT_EQ(rpc_error_code(res), -32600) << res.body();
    });
}

TEST_F(mcpd_http, parameters_of_the_wrong_type_are_invalid_params) {
    run([this]() -> asio::awaitable<void> {
        auto sid = co_await open_session(port_, v2025_06_18);
        struct bad_case {
            std::string method;
            json::object params;
            std::string says; // in the error message
        };
        std::vector<bad_case> cases = {
            {"tools/call", json::object{{"name", 5}}, "name"},
            {"tools/call", json::object{}, "name"},
            {"tools/call", json::object{{"name", "echo"}, {"arguments", "text"}}, "arguments"},
            {"tools/call", json::object{{"name", "echo"}, {"arguments", json::array{1}}},
             "arguments"},
            {"tools/call", json::object{{"name", "no_such_tool"}}, "no_such_tool"},
            {"resources/read", json::object{{"uri", 7}}, "uri"},
            {"resources/read", json::object{}, "uri"},
            {"prompts/get", json::object{{"name", json::array{}}}, "name"},
            {"prompts/get",
             json::object{{"name", "test_prompt_with_arguments"},
                          {"arguments", json::object{{"arg1", 1}, {"arg2", "x"}}}},
             "arg1"},
            {"logging/setLevel", json::object{{"level", "loud"}}, "level"},
            {"logging/setLevel", json::object{{"level", 3}}, "level"},
            {"resources/subscribe", json::object{{"uri", false}}, "uri"},
            {"completion/complete", json::object{{"ref", "x"}}, "ref"},
            {"tools/list", json::object{{"cursor", "not-a-cursor"}}, "cursor"},
        };
        int id = 100;
        for (auto const& c : cases) {
            auto body = call_body(++id, c.method, c.params);
            auto res = co_await post(body, sid, v2025_06_18);
            EXPECT_EQ(res.result_int(), 200u) << body << " -> " << res.body();
            EXPECT_EQ(rpc_error_code(res), -32602) << body << " -> " << res.body();
            EXPECT_EQ(body_json(res).at("id"), json::value(id)) << res.body();
            EXPECT_NE(error_message(res).find(c.says), std::string::npos)
                << body << " -> " << res.body();
        }
        // A tool's own argument of the wrong type is a tool error that names the field.
        auto body = call_body(
            200, "tools/call",
            json::object{{"name", "add"}, {"arguments", json::object{{"a", "one"}, {"b", 2}}}});
        auto res = co_await post(body, sid, v2025_06_18);
        EXPECT_EQ(res.result_int(), 200u) << res.body();
        EXPECT_EQ(body_json(res).at_pointer("/result/isError"), json::value(true)) << res.body();
        EXPECT_NE(result_text(res).find("\"a\""), std::string::npos) << res.body();
    });
}

TEST_F(mcpd_http, unknown_methods_are_method_not_found_and_unknown_notifications_are_ignored) {
    run([this]() -> asio::awaitable<void> {
        auto sid = co_await open_session(port_, v2025_06_18);
        std::vector<char const*> const methods = {"no/such/method", "tools/cal", "", "initialized"};
        for (auto const* method : methods) {
            auto body = call_body(9, method, json::object{});
            auto res = co_await post(body, sid, v2025_06_18);
            EXPECT_EQ(res.result_int(), 200u) << body << " -> " << res.body();
            EXPECT_EQ(rpc_error_code(res), -32601) << body << " -> " << res.body();
            EXPECT_EQ(body_json(res).at("id"), json::value(9)) << res.body();
        }
        auto res = co_await post(R"({"jsonrpc":"2.0","method":"notifications/no_such_thing"})", sid,
                                 v2025_06_18);
        EXPECT_EQ(res.result_int(), 202u) << res.body();
        EXPECT_TRUE(res.body().empty()) << res.body();
    });
}

// --- HTTP limits -----------------------------------------------------------------------------

TEST_F(mcpd_http, a_body_over_max_body_is_413_and_one_at_the_limit_is_served) {
    run([this]() -> asio::awaitable<void> {
        auto sid = co_await open_session(port_, v2025_06_18);
        // Exactly at the limit: JSON padded with spaces to max_body bytes.
        auto at_limit = echo_body(3, "at the limit");
        at_limit.append(max_body - at_limit.size(), ' ');
        auto ok = co_await post(at_limit, sid, v2025_06_18);
        EXPECT_EQ(ok.result_int(), 200u) << ok.body();
        EXPECT_EQ(result_text(ok), "at the limit") << ok.body();

        auto over = echo_body(4, std::string(max_body, 'x'));
        auto res = co_await post(over, sid, v2025_06_18);
        EXPECT_EQ(res.result_int(), 413u) << res.body();
        EXPECT_EQ(rpc_error_code(res), -32000) << res.body();
        EXPECT_FALSE(res.keep_alive());

        // A huge declared length is refused from the header alone, before any body arrives.
        http_client c(co_await asio::this_coro::executor);
        co_await c.connect(port_);
        co_await c.write_raw("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Content-Type: application/json\r\n"
                             "Accept: application/json, text/event-stream\r\n"
                             "Content-Length: 1099511627776\r\n\r\n");
        auto huge = co_await c.read_response();
        EXPECT_EQ(huge.result_int(), 413u) << huge.body();
        bool closed = co_await c.closed_by_server();
        EXPECT_TRUE(closed);
    });
}

TEST_F(mcpd_http, a_header_over_16_kib_is_431_and_one_under_it_is_served) {
    run([this]() -> asio::awaitable<void> {
        auto sid = co_await open_session(port_, v2025_06_18);
        auto under = mcp_post(port_, echo_body(3, "big header"), sid, v2025_06_18);
        under.set("X-Filler", std::string(12 * 1024, 'a'));
        auto ok = co_await send(std::move(under));
        EXPECT_EQ(ok.result_int(), 200u) << ok.body();
        EXPECT_EQ(result_text(ok), "big header") << ok.body();

        auto over = mcp_post(port_, echo_body(4, "huge header"), sid, v2025_06_18);
        over.set("X-Filler", std::string(17 * 1024, 'a'));
        auto res = co_await send(std::move(over));
        EXPECT_EQ(res.result_int(), 431u) << res.body();
        EXPECT_EQ(rpc_error_code(res), -32000) << res.body();

        // Many small header fields add up the same way.
        auto many = mcp_post(port_, echo_body(5, "many headers"), sid, v2025_06_18);
        for (int i = 0; i < 1000; ++i)
            many.insert("X-F" + std::to_string(i), "0123456789");
        auto res2 = co_await send(std::move(many));
        EXPECT_EQ(res2.result_int(), 431u) << res2.body();
    });
}

TEST_F(mcpd_http, malformed_http_is_400_and_the_connection_closes) {
    run([this]() -> asio::awaitable<void> {
        std::vector<std::string> garbage = {
            "GARBAGE\r\n\r\n",
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Length: "
            "6\r\n\r\n",
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"};
        for (auto const& bytes : garbage) {
            http_client c(co_await asio::this_coro::executor);
            co_await c.connect(port_);
            co_await c.write_raw(bytes);
            auto res = co_await c.read_response();
            EXPECT_EQ(res.result_int(), 400u) << bytes << " -> " << res.body();
            bool closed = co_await c.closed_by_server();
            EXPECT_TRUE(closed) << bytes;
        }
    });
}

TEST_F(mcpd_http, slow_senders_get_408_while_other_clients_are_served) {
    run([this]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        // Half a header, then nothing.
        http_client half_header(ex);
        co_await half_header.connect(port_);
        co_await half_header.write_raw("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty");
        // A whole header and half the body it announces.
        http_client half_body(ex);
        co_await half_body.connect(port_);
        co_await half_body.write_raw("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                     "Content-Type: application/json\r\n"
                                     "Accept: application/json, text/event-stream\r\n"
                                     "Content-Length: 100\r\n\r\n{\"jsonrpc\":");

        // Meanwhile a normal client is served, more than once.
        for (int i = 0; i < 3; ++i)
            co_await expect_echo_works("served meanwhile " + std::to_string(i));

        // The slow ones are cut off once the request timeout (1 s) has passed.
        std::vector<http_client*> const slow_ones = {&half_header, &half_body};
        for (auto* slow : slow_ones) {
            auto res = co_await slow->read_response();
            EXPECT_EQ(res.result_int(), 408u) << res.body();
            EXPECT_EQ(rpc_error_code(res), -32000) << res.body();
            bool closed = co_await slow->closed_by_server();
            EXPECT_TRUE(closed);
        }

        // A trickle (one byte every 100 ms, slowloris style) does not keep a connection alive
        // either: the 408 comes while it is still trickling.
        http_client trickle(ex);
        co_await trickle.connect(port_);
        bool stop_trickling = false, trickle_done = false;
        auto trickler = [&]() -> asio::awaitable<void> {
            std::string request =
                "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + std::string(100, 'z');
            try {
                for (std::size_t i = 0; i < request.size() && !stop_trickling; ++i) {
                    co_await trickle.write_raw(std::string(1, request[i]));
                    co_await sleep_for(std::chrono::milliseconds(100));
                }
            } catch (boost::system::system_error const&) {
                // the server closed the connection after its 408
            }
            trickle_done = true;
        };
        asio::co_spawn(ex, trickler, asio::detached);
        auto cut = co_await trickle.read_response();
        stop_trickling = true;
        EXPECT_EQ(cut.result_int(), 408u) << cut.body();
        while (!trickle_done)
            co_await sleep_for(std::chrono::milliseconds(20));
    });
}

// --- sessions --------------------------------------------------------------------------------

TEST_F(mcpd_http, an_unknown_session_is_404_and_a_missing_one_400) {
    run([this]() -> asio::awaitable<void> {
        std::string unknown = "0123456789abcdef0123456789abcdef";
        auto res = co_await post(echo_body(1, "x"), unknown, v2025_06_18);
        EXPECT_EQ(res.result_int(), 404u) << res.body();
        EXPECT_EQ(rpc_error_code(res), -32001) << res.body();
        std::vector<verb> const verbs = {verb::get, verb::delete_};
        for (auto v : verbs) {
            auto req = mcp_request(v, port_, unknown, v2025_06_18);
            auto r = co_await send(std::move(req));
            EXPECT_EQ(r.result_int(), 404u) << r.body();
            EXPECT_EQ(rpc_error_code(r), -32001) << r.body();
        }
        // Legacy HTTP+SSE: an unknown or missing sessionId.
        std::vector<char const*> const targets = {"/messages?sessionId=nope", "/messages"};
        for (auto const* target : targets) {
            auto req = mcp_post(port_, echo_body(1, "x"));
            req.target(target);
            auto r = co_await send(std::move(req));
            EXPECT_EQ(r.result_int(), 404u) << target << " -> " << r.body();
        }

        auto missing = co_await post(echo_body(2, "x"), "", v2025_06_18);
        EXPECT_EQ(missing.result_int(), 400u) << missing.body();
        EXPECT_EQ(rpc_error_code(missing), -32000) << missing.body();
        EXPECT_NE(error_message(missing).find("Mcp-Session-Id"), std::string::npos);
        auto del = mcp_request(verb::delete_, port_);
        auto r = co_await send(std::move(del));
        EXPECT_EQ(r.result_int(), 400u) << r.body();
    });
}

TEST_F(mcpd_http, a_deleted_session_is_404_afterwards) {
    run([this]() -> asio::awaitable<void> {
        auto sid = co_await open_session(port_, v2025_06_18);
        auto del = mcp_request(verb::delete_, port_, sid, v2025_06_18);
        auto res = co_await send(std::move(del));
        EXPECT_EQ(res.result_int(), 200u) << res.body();

        auto again = co_await post(echo_body(2, "x"), sid, v2025_06_18);
        EXPECT_EQ(again.result_int(), 404u) << again.body();
        EXPECT_EQ(rpc_error_code(again), -32001) << again.body();
        std::vector<verb> const verbs = {verb::get, verb::delete_};
        for (auto v : verbs) {
            auto req = mcp_request(v, port_, sid, v2025_06_18);
            auto r = co_await send(std::move(req));
            EXPECT_EQ(r.result_int(), 404u) << r.body();
        }
    });
}

TEST_F(mcpd_http, a_bad_protocol_version_header_is_400) {
    run([this]() -> asio::awaitable<void> {
        auto sid = co_await open_session(port_, v2025_06_18);
        std::vector<char const*> const versions = {"1999-01-01", "2025-06-18x", "latest",
                                                   "2026-07-28"};
        for (auto const* version : versions) {
            auto res = co_await post(echo_body(2, "x"), sid, version);
            EXPECT_EQ(res.result_int(), 400u) << version << " -> " << res.body();
            EXPECT_NE(rpc_error_code(res), 0) << res.body();
        }
        // Without the header a session keeps its negotiated revision.
        auto res = co_await post(echo_body(3, "no header"), sid);
        EXPECT_EQ(result_text(res), "no header") << res.body();
    });
}

// --- headers ---------------------------------------------------------------------------------

TEST_F(mcpd_http, a_wrong_accept_is_406) {
    run([this]() -> asio::awaitable<void> {
        auto sid = co_await open_session(port_, v2025_06_18);
        std::vector<char const*> const accepts = {"text/html", "application/json",
                                                  "text/event-stream", ""};
        for (auto const* accept : accepts) {
            auto req = mcp_post(port_, echo_body(2, "x"), sid, v2025_06_18);
            req.set(bhttp::field::accept, accept);
            auto res = co_await send(std::move(req));
            EXPECT_EQ(res.result_int(), 406u) << accept << " -> " << res.body();
        }
        auto get = mcp_request(verb::get, port_, sid, v2025_06_18);
        get.set(bhttp::field::accept, "application/json");
        auto res = co_await send(std::move(get));
        EXPECT_EQ(res.result_int(), 406u) << res.body();
        // Wildcards cover both.
        auto star = mcp_post(port_, echo_body(3, "star"), sid, v2025_06_18);
        star.set(bhttp::field::accept, "*/*");
        auto ok = co_await send(std::move(star));
        EXPECT_EQ(result_text(ok), "star") << ok.body();
    });
}

TEST_F(mcpd_http, a_wrong_content_type_is_415) {
    run([this]() -> asio::awaitable<void> {
        auto sid = co_await open_session(port_, v2025_06_18);
        std::vector<char const*> const types = {"text/plain", "application/x-www-form-urlencoded",
                                                "*/*", ""};
        for (auto const* type : types) {
            auto req = mcp_post(port_, echo_body(2, "x"), sid, v2025_06_18);
            if (*type)
                req.set(bhttp::field::content_type, type);
            else
                req.erase(bhttp::field::content_type);
            auto res = co_await send(std::move(req));
            EXPECT_EQ(res.result_int(), 415u) << type << " -> " << res.body();
        }
        auto req = mcp_post(port_, echo_body(3, "charset"), sid, v2025_06_18);
        req.set(bhttp::field::content_type, "application/json; charset=utf-8");
        auto ok = co_await send(std::move(req));
        EXPECT_EQ(result_text(ok), "charset") << ok.body();
    });
}

TEST_F(mcpd_http, foreign_hosts_and_origins_are_403) {
    run([this]() -> asio::awaitable<void> {
        std::vector<char const*> const hosts = {"evil.example", "localhost.evil.example",
                                                "127.0.0.1.nip.io:80", "", "[::2]:80"};
        for (auto const* host : hosts) {
            auto req = mcp_post(port_, initialize_body(v2025_06_18));
            req.set(bhttp::field::host, host);
            auto res = co_await send(std::move(req));
            EXPECT_EQ(res.result_int(), 403u) << host << " -> " << res.body();
            EXPECT_FALSE(res.count("Mcp-Session-Id")) << host;
        }
        std::vector<char const*> const origins = {"http://evil.example",
                                                  "http://127.0.0.1.evil.example", "null",
                                                  "file://", "ftp://localhost"};
        for (auto const* origin : origins) {
            auto req = mcp_post(port_, initialize_body(v2025_06_18));
            req.set(bhttp::field::origin, origin);
            auto res = co_await send(std::move(req));
            EXPECT_EQ(res.result_int(), 403u) << origin << " -> " << res.body();
            EXPECT_FALSE(res.count(bhttp::field::access_control_allow_origin)) << origin;
        }
        // A loopback page is a legitimate origin (a local inspector), with CORS headers.
        auto req = mcp_post(port_, initialize_body(v2025_06_18));
        req.set(bhttp::field::origin, "http://localhost:6274");
        auto ok = co_await send(std::move(req));
        EXPECT_EQ(ok.result_int(), 200u) << ok.body();
        EXPECT_EQ(ok[bhttp::field::access_control_allow_origin], "http://localhost:6274");
    });
}

TEST_F(mcpd_http, get_without_a_session_is_405_and_other_methods_too) {
    run([this]() -> asio::awaitable<void> {
        auto get = mcp_request(verb::get, port_);
        get.set(bhttp::field::accept, "text/event-stream");
        auto res = co_await send(std::move(get));
        EXPECT_EQ(res.result_int(), 405u) << res.body();
        EXPECT_NE(res[bhttp::field::allow].find("POST"), std::string::npos);
        std::vector<verb> const verbs = {verb::put, verb::patch};
        for (auto v : verbs) {
            auto req = mcp_post(port_, "{}");
            req.method(v);
            auto r = co_await send(std::move(req));
            EXPECT_EQ(r.result_int(), 405u) << r.body();
        }
        auto elsewhere = mcp_post(port_, initialize_body(v2025_06_18));
        elsewhere.target("/not-mcp");
        auto r = co_await send(std::move(elsewhere));
        EXPECT_EQ(r.result_int(), 404u) << r.body();
    });
}

// --- batches, notifications, responses -------------------------------------------------------

TEST_F(mcpd_http, batches_are_refused_in_2025_06_18_and_answered_in_2025_03_26) {
    run([this]() -> asio::awaitable<void> {
        std::string batch = "[" + echo_body(1, "one") + "," + echo_body(2, "two") +
                            R"(,{"jsonrpc":"2.0","method":"notifications/progress","params":{}})" +
                            R"(,{"jsonrpc":"2.0","id":3,"method":"no/such"})" +
                            R"(,{"jsonrpc":"2.0","id":4,"method":"ping"}, 17])";

        auto modern = co_await open_session(port_, v2025_06_18);
        auto refused = co_await post(batch, modern, v2025_06_18);
        EXPECT_EQ(refused.result_int(), 400u) << refused.body();
        EXPECT_EQ(rpc_error_code(refused), -32600) << refused.body();

        auto old = co_await open_session(port_, v2025_03_26);
        auto res = co_await post(batch, old, v2025_03_26);
        EXPECT_EQ(res.result_int(), 200u) << res.body();
        auto v = body_json(res);
        if (!v.is_array()) {
            ADD_FAILURE() << "a batch must be answered with an array: " << res.body();
            co_return;
        }
        // One answer per request, plus one for the entry that is not a message; none for the
        // notification. Answers may come in any order: match them by id.
        std::map<std::string, json::value> by_id;
        int null_ids = 0;
        for (auto const& a : v.get_array()) {
            auto const& id = a.at("id");
            if (id.is_null())
                ++null_ids;
            else
                by_id[json::serialize(id)] = a;
        }
        EXPECT_EQ(v.get_array().size(), 5u) << res.body();
        EXPECT_EQ(null_ids, 1) << res.body();
        EXPECT_EQ(by_id["1"].at_pointer("/result/content/0/text"), json::value("one"));
        EXPECT_EQ(by_id["2"].at_pointer("/result/content/0/text"), json::value("two"));
        EXPECT_EQ(by_id["3"].at_pointer("/error/code"), json::value(-32601));
        EXPECT_EQ(by_id["4"].at("result"), json::value(json::object{}));

        // A batch of notifications only is accepted without a body.
        auto notes = co_await post(R"([{"jsonrpc":"2.0","method":"notifications/initialized"},
                                       {"jsonrpc":"2.0","method":"notifications/roots/list_changed"}])",
                                   old, v2025_03_26);
        EXPECT_EQ(notes.result_int(), 202u) << notes.body();
    });
}

TEST_F(mcpd_http, notifications_and_responses_alone_are_202) {
    run([this]() -> asio::awaitable<void> {
        auto sid = co_await open_session(port_, v2025_06_18);
        for (auto const* body :
             {R"({"jsonrpc":"2.0","method":"notifications/initialized"})",
              R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":999}})",
              R"({"jsonrpc":"2.0","method":"notifications/roots/list_changed"})",
              R"({"jsonrpc":"2.0","id":"s-1","result":{}})",
              R"({"jsonrpc":"2.0","id":12,"error":{"code":-32601,"message":"no"}})"}) {
            auto res = co_await post(body, sid, v2025_06_18);
            EXPECT_EQ(res.result_int(), 202u) << body << " -> " << res.body();
            EXPECT_TRUE(res.body().empty()) << res.body();
        }
    });
}

// --- load ------------------------------------------------------------------------------------

TEST_F(mcpd_http, a_hundred_concurrent_connections_are_all_served) {
    run([this]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto sid = co_await open_session(port_, v2025_06_18);
        auto set_level = call_body(1, "logging/setLevel", json::object{{"level", "error"}});
        auto quiet = co_await post(set_level, sid, v2025_06_18);
        EXPECT_EQ(quiet.result_int(), 200u) << quiet.body();

        constexpr int n = 100;
        std::vector<std::unique_ptr<http_client>> clients;
        for (int i = 0; i < n; ++i) {
            clients.push_back(std::make_unique<http_client>(ex));
            co_await clients.back()->connect(port_);
        }
        // Every connection has a request in flight at the same time (each takes 300 ms).
        for (int i = 0; i < n; ++i) {
            auto req =
                mcp_post(port_,
                         call_body(i, "tools/call",
                                   json::object{{"name", "countdown"},
                                                {"arguments",
                                                 json::object{{"n", 1}, {"interval_ms", 300}}}}),
                         sid, v2025_06_18);
            co_await clients[i]->write_request(std::move(req));
        }
        // Meanwhile another client is served.
        co_await expect_echo_works("while a hundred wait");
        for (int i = 0; i < n; ++i) {
            auto res = co_await clients[i]->read_response();
            EXPECT_EQ(res.result_int(), 200u) << res.body();
            EXPECT_EQ(body_json(res).at("id"), json::value(i)) << res.body();
            EXPECT_EQ(result_text(res), "Liftoff after 1 steps") << res.body();
        }
        // The connections stay usable (keep-alive).
        for (int i = 0; i < n; ++i) {
            auto req = mcp_post(port_, echo_body(1000 + i, std::to_string(i)), sid, v2025_06_18);
            auto res = co_await clients[i]->send(std::move(req));
            EXPECT_EQ(result_text(res), std::to_string(i)) << res.body();
        }
        clients.clear();
    });
}

} // namespace
