// tests/integration/mcpd_stdio_test.cpp — bad input against a real `mcpd serve --stdio`.
//
// Over stdio one bad line must get its JSON-RPC error on stdout and the next line must be
// served as if nothing happened: malformed JSON, JSON that is not JSON-RPC, unknown methods,
// parameters of the wrong type, a line over the size limit, batches where the revision forbids
// them. stdout carries protocol messages only (logs go to stderr), and end of input ends the
// process cleanly.
#include "mcpd_process.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

using namespace mcpd::test;
namespace json = boost::json;

namespace {

constexpr std::size_t max_line = 64 * 1024;

class mcpd_stdio : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = std::make_unique<mcpd_process>(
            mcpd_process::options{.args = {"--max-body", std::to_string(max_line)}, .stdio = true});
    }
    void TearDown() override {
        // End of input: mcpd finishes and exits 0 on its own.
        server_->close_stdin();
        auto rest = server_->read_line(std::chrono::seconds(5));
        EXPECT_FALSE(rest.has_value()) << "unexpected output: " << *rest;
        auto code = server_->wait_exit(std::chrono::seconds(5));
        EXPECT_TRUE(code.has_value()) << "mcpd still runs after the end of its input";
        if (!code)
            code = server_->stop();
        EXPECT_EQ(*code, 0) << server_->log();
    }

    // Sends one line; the next line on stdout, parsed (every stdout line must be JSON).
    json::value exchange(std::string const& line) {
        server_->write_stdin(line + "\n");
        return next();
    }
    json::value next() {
        auto out = server_->read_line(std::chrono::seconds(5));
        if (!out) {
            ADD_FAILURE() << "no answer on stdout; stderr:\n" << server_->log();
            return nullptr;
        }
        boost::system::error_code ec;
        auto v = json::parse(*out, ec);
        EXPECT_FALSE(ec) << "stdout line is not JSON: " << *out;
        return v;
    }
    static int error_code_of(json::value const& v) {
        boost::system::error_code ec;
        auto const* c = v.find_pointer("/error/code", ec);
        return c != nullptr && c->is_int64() ? static_cast<int>(c->get_int64()) : 0;
    }
    void initialize(std::string_view version) {
        json::object params{{"protocolVersion", version},
                            {"capabilities", json::object{}},
                            {"clientInfo", json::object{{"name", "stdio-test"}, {"version", "1"}}}};
        auto r = exchange(json::serialize(json::object{
            {"jsonrpc", "2.0"}, {"id", 0}, {"method", "initialize"}, {"params", params}}));
        boost::system::error_code ec;
        auto const* v = r.find_pointer("/result/protocolVersion", ec);
        ASSERT_TRUE(v != nullptr && *v == json::value(version)) << r;
        server_->write_stdin(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
                             "\n");
    }
    void expect_echo(int id, std::string const& text) {
        json::object call{{"jsonrpc", "2.0"},
                          {"id", id},
                          {"method", "tools/call"},
                          {"params", json::object{{"name", "echo"},
                                                  {"arguments", json::object{{"text", text}}}}}};
        auto r = exchange(json::serialize(call));
        EXPECT_EQ(r.at("id"), json::value(id)) << r;
        boost::system::error_code ec;
        auto const* t = r.find_pointer("/result/content/0/text", ec);
        EXPECT_TRUE(t != nullptr && *t == json::value(text)) << r;
    }

    std::unique_ptr<mcpd_process> server_;
};

TEST_F(mcpd_stdio, a_bad_line_gets_its_error_and_the_next_line_is_served) {
    initialize("2025-06-18");
    struct bad_case {
        std::string line;
        int code;
        json::value id;
    };
    std::vector<bad_case> cases = {
        {"this is not json", -32700, nullptr},
        {R"({"jsonrpc":"2.0","id":1,)", -32700, nullptr},
        {R"({"jsonrpc":"2.0","id":2,"method":"ping"} trailing)", -32700, nullptr},
        {"42", -32600, nullptr},
        {R"({"foo":"bar"})", -32600, nullptr},
        {R"({"jsonrpc":"1.0","id":3,"method":"ping"})", -32600, 3},
        {R"({"jsonrpc":"2.0","id":4,"method":"tools/list","params":[1]})", -32600, 4},
        {R"({"jsonrpc":"2.0","id":5,"method":"no/such/method"})", -32601, 5},
        {R"({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":6}})", -32602, 6},
        {R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"nope"}})", -32602, 7},
        {R"({"jsonrpc":"2.0","id":8,"method":"logging/setLevel","params":{"level":"x"}})", -32602,
         8},
        {R"([{"jsonrpc":"2.0","id":9,"method":"ping"}])", -32600, nullptr}, // no batches in 06-18
        {"[]", -32600, nullptr},
    };
    int id = 100;
    for (auto const& c : cases) {
        auto r = exchange(c.line);
        EXPECT_EQ(error_code_of(r), c.code) << c.line << " -> " << r;
        auto const* rid = r.is_object() ? r.get_object().if_contains("id") : nullptr;
        EXPECT_TRUE(rid != nullptr && *rid == c.id) << c.line << " -> " << r;
        expect_echo(++id, "after " + c.line);
    }
    // Blank lines and stray carriage returns are not messages: no answer, and no harm.
    server_->write_stdin("\n  \r\n\t\n");
    expect_echo(++id, "after blank lines");
    // Notifications and responses get no answer.
    server_->write_stdin(R"({"jsonrpc":"2.0","method":"notifications/no_such_thing"})"
                         "\n"
                         R"({"jsonrpc":"2.0","id":"s-1","result":{}})"
                         "\n");
    expect_echo(++id, "after notifications");
}

TEST_F(mcpd_stdio, a_line_over_the_limit_is_a_parse_error_and_the_next_line_is_served) {
    initialize("2025-06-18");
    // Well over the limit, written in pieces the way a pipe delivers a long line.
    std::string huge = R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":")" +
                       std::string(3 * max_line, 'x') + "\"}}";
    auto r = exchange(huge);
    EXPECT_EQ(error_code_of(r), -32700) << r;
    expect_echo(2, "after a huge line");

    // Just over the limit, arriving in one piece with its newline.
    std::string over = R"({"jsonrpc":"2.0","id":3,"method":"ping","params":{"pad":")";
    over += std::string(max_line + 10 - over.size() - 3, 'y') + "\"}}";
    ASSERT_GT(over.size(), max_line);
    r = exchange(over);
    EXPECT_EQ(error_code_of(r), -32700) << r;
    expect_echo(4, "after a line just over");

    // At the limit: served.
    std::string at = R"({"jsonrpc":"2.0","id":5,"method":"ping","params":{"pad":")";
    at += std::string(max_line - at.size() - 3, 'z') + "\"}}";
    ASSERT_EQ(at.size(), max_line);
    r = exchange(at);
    EXPECT_EQ(r.at("id"), json::value(5)) << r;
    EXPECT_TRUE(r.get_object().contains("result")) << r;
}

TEST_F(mcpd_stdio, batches_are_answered_as_arrays_in_2025_03_26) {
    initialize("2025-03-26");
    auto r = exchange(R"([{"jsonrpc":"2.0","id":1,"method":"ping"},)"
                      R"({"jsonrpc":"2.0","method":"notifications/progress","params":{}},)"
                      R"({"jsonrpc":"2.0","id":2,"method":"no/such"}])");
    // JSON-RPC 2.0: one array with an answer per request (none for the notification), in any
    // order.
    ASSERT_TRUE(r.is_array()) << r;
    std::map<std::int64_t, json::value> by_id;
    for (auto const& a : r.get_array())
        if (a.is_object() && a.get_object().contains("id") && a.at("id").is_int64())
            by_id[a.at("id").get_int64()] = a;
    EXPECT_EQ(r.get_array().size(), 2u) << r;
    EXPECT_EQ(by_id[1].at("result"), json::value(json::object{})) << r;
    EXPECT_EQ(error_code_of(by_id[2]), -32601) << r;
    expect_echo(3, "after a batch");
}

} // namespace

// End of input with a call still running: it gets up to the drain timeout, then mcpd exits 0.
TEST(mcpd_stdio_drain, end_of_input_waits_for_calls_in_flight_only_up_to_the_drain_timeout) {
    mcpd_process server({.args = {"--drain-timeout", "500ms"}, .stdio = true});
    server.write_stdin(
        R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}})"
        "\n");
    ASSERT_TRUE(server.read_line(std::chrono::seconds(5)).has_value()) << server.log();
    server.write_stdin(
        R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"countdown","arguments":{"n":100,"interval_ms":10000}}})"
        "\n");
    server.close_stdin();
    auto code = server.wait_exit(std::chrono::seconds(10)); // the countdown alone takes 1000 s
    ASSERT_TRUE(code.has_value()) << "mcpd still runs after its drain timeout";
    EXPECT_EQ(*code, 0) << server.log();
    EXPECT_NE(server.log().find("drain timeout"), std::string::npos) << server.log();
}

// A stateless (2026-07-28) subscriptions/listen on stdio: acknowledged; notifications/cancelled
// for its id ends it without an answer (the ephemeral request is found, not the stdio session's
// requests); one left open at end of input gets its result at once, not at the drain timeout.
TEST(mcpd_stdio_listen, cancelled_by_the_client_or_ended_with_its_result_at_end_of_input) {
    mcpd_process server({.args = {"--drain-timeout", "60s"}, .stdio = true});
    auto listen = [](int id) {
        return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
               R"(,"method":"subscriptions/listen","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}},"notifications":{"promptsListChanged":true}}})"
               "\n";
    };
    auto next = [&]() {
        auto line = server.read_line(std::chrono::seconds(5));
        EXPECT_TRUE(line.has_value()) << server.log();
        return line ? json::parse(*line) : json::value();
    };
    server.write_stdin(listen(1));
    auto ack = next();
    EXPECT_EQ(ack.at("method"), "notifications/subscriptions/acknowledged");
    EXPECT_EQ(ack.at("params").at("_meta").at("io.modelcontextprotocol/subscriptionId"), 1);
    server.write_stdin(
        R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}})"
        "\n");
    // The next line is the acknowledgement of listen 2: listen 1 got no answer.
    server.write_stdin(listen(2));
    auto ack2 = next();
    EXPECT_EQ(ack2.at("method"), "notifications/subscriptions/acknowledged") << ack2;
    EXPECT_EQ(ack2.at("params").at("_meta").at("io.modelcontextprotocol/subscriptionId"), 2);
    server.close_stdin();
    auto ended = next();
    EXPECT_EQ(ended.at("id"), 2) << ended;
    EXPECT_EQ(ended.at("result").at("resultType"), "complete") << ended;
    EXPECT_FALSE(server.read_line(std::chrono::seconds(2)).has_value());
    auto code = server.wait_exit(std::chrono::seconds(10));
    ASSERT_TRUE(code.has_value()) << "the open listen held mcpd until the drain timeout";
    EXPECT_EQ(*code, 0) << server.log();
}
