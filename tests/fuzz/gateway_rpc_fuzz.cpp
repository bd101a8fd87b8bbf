// tests/fuzz/gateway_rpc_fuzz.cpp — libFuzzer target for the gateway's RPC input: what a
// browser posts to the gateway endpoint ({id, method, params}), handed to gateway::handle_rpc
// over a real gateway::manager on the memory store, on one io_context for the whole process.
//
// The input is up to eight requests, one per line. Before a line is parsed, "@SID@" becomes the
// last sessionId a result named, so inputs reach the methods that act on a session. The only
// server a request may make the gateway reach is http://127.0.0.1:1/ (allowed_servers; nothing
// listens on port 1, so a connect fails at once): no input opens a connection anywhere else.
//
// What must hold beyond "no crash, no sanitizer report" (a violation aborts):
//   - every request is answered within 5 s (no hang) with {id, result} or {id, error: {code,
//     message}}: the request's id (null when it has none), a code of INVALID_PARAMS,
//     UNKNOWN_METHOD or EXECUTION_ERROR and a non-empty message that is not an escaped
//     exception ("internal error");
//   - getSessions succeeds after every request, and after the input's sessions are
//     disconnected the identity has none left and the manager holds no connection.
//
// Built by run_fuzz.sh (see README.md) with clang++ -fsanitize=fuzzer,address,undefined, or
// without libFuzzer together with fuzz_driver.cpp.
#include "fuzz_check.hpp"
#include "mcpd/gateway/manager.hpp"
#include "mcpd/gateway/rpc.hpp"
#include "mcpd/store/memory_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
namespace gateway = mcpd::gateway;
using namespace std::chrono_literals;

constexpr std::string_view identity = "fuzz-user";
constexpr std::size_t max_requests = 8;

using mcpd::fuzz::check;
using mcpd::fuzz::fail;

struct gateway_under_test {
    asio::io_context io;
    std::shared_ptr<mcpd::store::memory_store> store =
        std::make_shared<mcpd::store::memory_store>();
    gateway::manager manager{io.get_executor(), store, options(), [](gateway::event const&) {}};

    // Short timeouts: a connect to the closed port lasts until connect_timeout (the client tries
    // again meanwhile), and an input may connect several times.
    static gateway::manager_options options() {
        gateway::manager_options o;
        o.client.client_info.name = "gateway-rpc-fuzz";
        o.client.request_timeout = 250ms;
        o.client.reconnect.initial_delay = 10ms;
        o.client.reconnect.max_delay = 20ms;
        o.connect_timeout = 250ms;
        o.max_retries = 0;
        o.retry_delay = 10ms;
        o.discovery_timeout = 250ms;
        o.allowed_servers = {"http://127.0.0.1:1/"};
        o.allow_private_servers = true; // 127.0.0.1:1 is the one server allowed
        return o;
    }

    // Runs one RPC to its answer, failing if it takes longer than 5 s.
    json::object call(json::value const& request) {
        std::optional<json::object> answer;
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                answer = co_await gateway::handle_rpc(manager, std::string(identity), request);
            },
            [](std::exception_ptr e) {
                if (e)
                    fail("handle_rpc threw");
            });
        io.restart();
        auto const deadline = std::chrono::steady_clock::now() + 5s;
        while (!answer && std::chrono::steady_clock::now() < deadline)
            io.run_for(50ms);
        check(answer.has_value(), "an RPC was not answered within 5 s");
        return std::move(*answer);
    }
};

gateway_under_test& gateway_instance() {
    static auto* g = new gateway_under_test; // lives as long as the process, as a server's does
    return *g;
}

void check_answer(json::value const& request, json::object const& answer) {
    json::value id = nullptr;
    if (auto const* o = request.if_object())
        if (auto const* v = o->if_contains("id"))
            id = *v;
    auto const* got = answer.if_contains("id");
    check(got != nullptr && *got == id, "the answer does not carry the request's id");
    bool const has_result = answer.contains("result");
    auto const* error = answer.if_contains("error");
    check(has_result != (error != nullptr), "the answer has not exactly one of result and error");
    if (has_result) {
        check(answer.at("result").is_object(), "a result is not an object");
        return;
    }
    check(error->is_object(), "an error is not an object");
    auto const* code = error->get_object().if_contains("code");
    check(code && code->is_string() &&
              (code->get_string() == "INVALID_PARAMS" || code->get_string() == "UNKNOWN_METHOD" ||
               code->get_string() == "EXECUTION_ERROR"),
          "an error code is not one of the RPC's");
    auto const* message = error->get_object().if_contains("message");
    check(message && message->is_string() && !message->get_string().empty(),
          "an error has no message");
    check(!message->get_string().starts_with("internal error"),
          "an exception escaped: " + std::string(message->get_string()));
}

// The sessionIds a result names (connect's, getSessions' list).
void remember_session(json::object const& answer, std::string& sid) {
    auto const* result = answer.if_contains("result");
    if (result == nullptr || !result->is_object())
        return;
    if (auto const* s = result->get_object().if_contains("sessionId"); s && s->is_string())
        sid = std::string(s->get_string());
}

json::array sessions(gateway_under_test& g) {
    auto answer = g.call(json::object{{"id", "list"}, {"method", "getSessions"}});
    check_answer(json::object{{"id", "list"}}, answer);
    check(answer.contains("result"), "getSessions failed: " + json::serialize(answer));
    auto const* list = answer.at("result").get_object().if_contains("sessions");
    check(list && list->is_array(), "getSessions has no sessions array");
    return list->get_array();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    auto& g = gateway_instance();
    std::string_view input(reinterpret_cast<char const*>(data), size);
    std::string sid;
    for (std::size_t n = 0; n < max_requests && !input.empty(); ++n) {
        auto end = input.find('\n');
        std::string line(input.substr(0, end));
        input = end == std::string_view::npos ? std::string_view() : input.substr(end + 1);
        for (auto at = line.find("@SID@"); at != std::string::npos; at = line.find("@SID@", at))
            line.replace(at, 5, sid);
        boost::system::error_code ec;
        auto request = json::parse(line, ec);
        if (ec)
            continue; // the endpoint answers 400 before the RPC
        auto answer = g.call(request);
        check_answer(request, answer);
        remember_session(answer, sid);
        sessions(g);
    }
    // Leave nothing for the next input: every session of the identity disconnected.
    for (auto const& s : sessions(g)) {
        auto const* id = s.is_object() ? s.get_object().if_contains("sessionId") : nullptr;
        check(id && id->is_string(), "a listed session has no sessionId");
        json::value request =
            json::object{{"id", 1},
                         {"method", "disconnect"},
                         {"params", json::object{{"sessionId", id->get_string()}}}};
        auto answer = g.call(request);
        check_answer(request, answer);
    }
    check(sessions(g).empty(), "sessions are left after every one was disconnected");
    check(g.manager.live_count() == 0, "connections are left after every session was disconnected");
    return 0;
}
