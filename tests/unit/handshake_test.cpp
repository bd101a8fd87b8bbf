// Unit tests for the Redis connection handshake (src/redis/handshake.hpp), sans-I/O: each test
// builds a config, asks start() for the first action, checks the exact commands the glue would
// write, feeds scripted server replies to on_replies() and checks the next action, protocol(),
// failure() and warnings(). Covered: HELLO 3 with AUTH/SETNAME plus SELECT in automatic and
// RESP3 modes, the fall-back to the RESP2 commands when HELLO is unknown or refused with
// NOPROTO (automatic only), failures that carry the server's text and never the password, a
// CLIENT SETNAME refusal that is only a warning, nothing to send in RESP2, and wrong reply counts.
#include "redis/handshake.hpp"

#include "mcpd/redis/error.hpp"
#include "mcpd/redis/resp.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::redis {

// Action printer, so a failed EXPECT_EQ says "send" or "fail" rather than a byte dump.
inline void PrintTo(handshake::action a, std::ostream* os) {
    switch (a) {
    case handshake::action::send:
        *os << "send";
        return;
    case handshake::action::done:
        *os << "done";
        return;
    case handshake::action::fail:
        *os << "fail";
        return;
    }
    *os << "action(" << static_cast<int>(a) << ")";
}

namespace {

using action = handshake::action;
using labels = std::vector<std::string>;

// The commands the glue would write now, each as "NAME arg arg…".
labels sent(handshake const& hs) {
    labels out;
    for (auto const& c : hs.commands()) {
        std::string line;
        for (auto const& a : c.args())
            line += (line.empty() ? "" : " ") + a;
        out.push_back(line);
    }
    return out;
}

// Server replies, parsed from RESP bytes as the connection would receive them.
value reply(std::string_view bytes) {
    resp_parser p;
    std::size_t used = 0;
    EXPECT_EQ(p.parse(bytes, used), parse_status::done) << bytes;
    EXPECT_EQ(used, bytes.size()) << bytes;
    return p.take();
}
value ok() {
    return reply("+OK\r\n");
}
value error_reply(std::string_view text) {
    return reply("-" + std::string(text) + "\r\n");
}
// What Redis 7 answers to HELLO 3: a map describing the server.
value hello_map() {
    return reply("%3\r\n+server\r\n+redis\r\n+version\r\n+7.2.4\r\n+proto\r\n:3\r\n");
}

// A config with every optional step on: ACL user, password, client name, db.
config full_config(protocol_version protocol = protocol_version::automatic) {
    config cfg;
    cfg.username = "app";
    cfg.password = "s3cret-pw";
    cfg.client_name = "worker-1";
    cfg.db = 2;
    cfg.protocol = protocol;
    return cfg;
}

std::string const unknown_hello = "ERR unknown command 'HELLO', with args beginning with: '3' ";
std::string const noproto = "NOPROTO sorry, this protocol version is not supported";
std::string const wrongpass = "WRONGPASS invalid username-password pair or user is disabled.";

// ------------------------------------------------------------------------------------------
// RESP3: HELLO 3

TEST(handshake, resp3_automatic_sends_hello_with_auth_and_setname_then_select) {
    config const cfg = full_config();
    handshake hs(cfg);
    // One HELLO carries AUTH and SETNAME; SELECT follows in the same write.
    EXPECT_EQ(hs.start(), action::send);
    EXPECT_EQ(sent(hs), (labels{"HELLO 3 AUTH app s3cret-pw SETNAME worker-1", "SELECT 2"}));
    // Both succeed: ready, speaking RESP3.
    EXPECT_EQ(hs.on_replies({hello_map(), ok()}), action::done);
    EXPECT_EQ(hs.protocol(), 3);
    EXPECT_TRUE(hs.warnings().empty());
}

TEST(handshake, explicit_resp3_sends_the_same_hello) {
    config const cfg = full_config(protocol_version::resp3);
    handshake hs(cfg);
    EXPECT_EQ(hs.start(), action::send);
    EXPECT_EQ(sent(hs), (labels{"HELLO 3 AUTH app s3cret-pw SETNAME worker-1", "SELECT 2"}));
    EXPECT_EQ(hs.on_replies({hello_map(), ok()}), action::done);
    EXPECT_EQ(hs.protocol(), 3);
}

TEST(handshake, hello_authenticates_as_the_default_user_when_only_a_password_is_set) {
    config cfg;
    cfg.password = "pw";
    handshake hs(cfg);
    // No username: AUTH needs one in HELLO, so "default"; db 0: no SELECT.
    EXPECT_EQ(hs.start(), action::send);
    EXPECT_EQ(sent(hs), labels{"HELLO 3 AUTH default pw SETNAME mcpd"});
    EXPECT_EQ(hs.on_replies({hello_map()}), action::done);
    EXPECT_EQ(hs.protocol(), 3);
}

TEST(handshake, hello_with_nothing_to_set_is_just_hello_3) {
    config cfg;
    cfg.client_name = "";
    handshake hs(cfg);
    EXPECT_EQ(hs.start(), action::send);
    EXPECT_EQ(sent(hs), labels{"HELLO 3"});
    EXPECT_EQ(hs.on_replies({hello_map()}), action::done);
    EXPECT_EQ(hs.protocol(), 3);
}

// ------------------------------------------------------------------------------------------
// Falling back to RESP2 (automatic mode only)

TEST(handshake, unknown_hello_in_automatic_mode_falls_back_to_resp2_commands) {
    // Redis 6+ quotes with '…', Redis 5 and older with `…`.
    for (std::string const& text :
         {unknown_hello,
          std::string("ERR unknown command `HELLO`, with args beginning with: `3`, "),
          std::string("ERR unknown command 'HELLO'")}) {
        SCOPED_TRACE(text);
        config const cfg = full_config();
        handshake hs(cfg);
        ASSERT_EQ(hs.start(), action::send);
        // HELLO is unknown (SELECT ran unauthenticated and was refused too).
        EXPECT_EQ(
            hs.on_replies({error_reply(text), error_reply("NOAUTH Authentication required.")}),
            action::send);
        // The RESP2 path: AUTH user pass, CLIENT SETNAME, SELECT.
        EXPECT_EQ(sent(hs), (labels{"AUTH app s3cret-pw", "CLIENT SETNAME worker-1", "SELECT 2"}));
        EXPECT_EQ(hs.protocol(), 2);
        // All succeed: ready, speaking RESP2.
        EXPECT_EQ(hs.on_replies({ok(), ok(), ok()}), action::done);
        EXPECT_EQ(hs.protocol(), 2);
        EXPECT_TRUE(hs.warnings().empty());
    }
}

TEST(handshake, resp2_fallback_authenticates_with_the_password_alone_without_a_username) {
    config cfg;
    cfg.password = "pw";
    handshake hs(cfg);
    ASSERT_EQ(hs.start(), action::send);
    EXPECT_EQ(sent(hs), labels{"HELLO 3 AUTH default pw SETNAME mcpd"});
    // Old server: legacy AUTH with the password only.
    EXPECT_EQ(hs.on_replies({error_reply(unknown_hello)}), action::send);
    EXPECT_EQ(sent(hs), (labels{"AUTH pw", "CLIENT SETNAME mcpd"}));
    EXPECT_EQ(hs.on_replies({ok(), ok()}), action::done);
    EXPECT_EQ(hs.protocol(), 2);
}

TEST(handshake, noproto_in_automatic_mode_falls_back_to_resp2) {
    config const cfg = full_config();
    handshake hs(cfg);
    ASSERT_EQ(hs.start(), action::send);
    // The server knows HELLO but refuses protocol 3.
    EXPECT_EQ(hs.on_replies({error_reply(noproto), ok()}), action::send);
    EXPECT_EQ(sent(hs), (labels{"AUTH app s3cret-pw", "CLIENT SETNAME worker-1", "SELECT 2"}));
    EXPECT_EQ(hs.on_replies({ok(), ok(), ok()}), action::done);
    EXPECT_EQ(hs.protocol(), 2);
}

TEST(handshake, fallback_with_nothing_to_set_is_done_at_once) {
    config cfg;
    cfg.client_name = "";
    handshake hs(cfg);
    ASSERT_EQ(hs.start(), action::send);
    EXPECT_EQ(sent(hs), labels{"HELLO 3"});
    // HELLO unknown and no AUTH, name or db: RESP2 needs no command at all.
    EXPECT_EQ(hs.on_replies({error_reply(unknown_hello)}), action::done);
    EXPECT_TRUE(hs.commands().empty());
    EXPECT_EQ(hs.protocol(), 2);
}

TEST(handshake, unknown_hello_or_noproto_with_resp3_required_fails) {
    for (std::string const& text : {unknown_hello, noproto}) {
        SCOPED_TRACE(text);
        config const cfg = full_config(protocol_version::resp3);
        handshake hs(cfg);
        ASSERT_EQ(hs.start(), action::send);
        // RESP3 was demanded: no fallback.
        EXPECT_EQ(hs.on_replies({error_reply(text), ok()}), action::fail);
        EXPECT_EQ(hs.failure().code, make_error_code(client_errc::handshake_failed));
        EXPECT_NE(hs.failure().detail.find(text), std::string::npos) << hs.failure().detail;
    }
}

// ------------------------------------------------------------------------------------------
// Failures

TEST(handshake, wrongpass_on_hello_fails_with_the_server_text_but_never_the_password) {
    config const cfg = full_config();
    handshake hs(cfg);
    ASSERT_EQ(hs.start(), action::send);
    EXPECT_EQ(
        hs.on_replies({error_reply(wrongpass), error_reply("NOAUTH Authentication required.")}),
        action::fail);
    EXPECT_EQ(hs.failure().code, make_error_code(client_errc::handshake_failed));
    // The server's words are there for the operator; the password is not.
    EXPECT_NE(hs.failure().detail.find(wrongpass), std::string::npos) << hs.failure().detail;
    EXPECT_EQ(hs.failure().message().find(cfg.password), std::string::npos)
        << hs.failure().message();
}

TEST(handshake, any_other_hello_error_fails_even_in_automatic_mode) {
    config cfg;
    cfg.client_name = "";
    handshake hs(cfg);
    ASSERT_EQ(hs.start(), action::send);
    // No password configured but the server requires one: a RESP2 retry would not help.
    std::string const noauth = "NOAUTH HELLO must be called with the client already authenticated";
    EXPECT_EQ(hs.on_replies({error_reply(noauth)}), action::fail);
    EXPECT_EQ(hs.failure().code, make_error_code(client_errc::handshake_failed));
    EXPECT_NE(hs.failure().detail.find(noauth), std::string::npos) << hs.failure().detail;
}

TEST(handshake, select_error_after_hello_fails_the_handshake) {
    config const cfg = full_config();
    handshake hs(cfg);
    ASSERT_EQ(hs.start(), action::send);
    // HELLO succeeds, SELECT 2 is refused (cluster mode, or databases < 3).
    EXPECT_EQ(hs.on_replies({hello_map(), error_reply("ERR DB index is out of range")}),
              action::fail);
    EXPECT_EQ(hs.failure().code, make_error_code(client_errc::handshake_failed));
    EXPECT_NE(hs.failure().detail.find("SELECT 2"), std::string::npos) << hs.failure().detail;
    EXPECT_NE(hs.failure().detail.find("ERR DB index is out of range"), std::string::npos);
}

// ------------------------------------------------------------------------------------------
// RESP2 requested

TEST(handshake, resp2_sends_auth_setname_and_select_without_hello) {
    config const cfg = full_config(protocol_version::resp2);
    handshake hs(cfg);
    EXPECT_EQ(hs.start(), action::send);
    EXPECT_EQ(sent(hs), (labels{"AUTH app s3cret-pw", "CLIENT SETNAME worker-1", "SELECT 2"}));
    EXPECT_EQ(hs.protocol(), 2);
    EXPECT_EQ(hs.on_replies({ok(), ok(), ok()}), action::done);
    EXPECT_EQ(hs.protocol(), 2);
}

TEST(handshake, resp2_auth_error_fails_without_revealing_the_password) {
    config const cfg = full_config(protocol_version::resp2);
    handshake hs(cfg);
    ASSERT_EQ(hs.start(), action::send);
    EXPECT_EQ(hs.on_replies({error_reply(wrongpass), error_reply("NOAUTH Authentication required."),
                             error_reply("NOAUTH Authentication required.")}),
              action::fail);
    EXPECT_EQ(hs.failure().code, make_error_code(client_errc::handshake_failed));
    EXPECT_NE(hs.failure().detail.find(wrongpass), std::string::npos) << hs.failure().detail;
    EXPECT_EQ(hs.failure().message().find(cfg.password), std::string::npos)
        << hs.failure().message();
}

TEST(handshake, resp2_select_error_fails) {
    config const cfg = full_config(protocol_version::resp2);
    handshake hs(cfg);
    ASSERT_EQ(hs.start(), action::send);
    EXPECT_EQ(hs.on_replies({ok(), ok(), error_reply("ERR DB index is out of range")}),
              action::fail);
    EXPECT_EQ(hs.failure().code, make_error_code(client_errc::handshake_failed));
    EXPECT_NE(hs.failure().detail.find("SELECT"), std::string::npos) << hs.failure().detail;
    EXPECT_NE(hs.failure().detail.find("ERR DB index is out of range"), std::string::npos);
}

TEST(handshake, client_setname_error_in_resp2_is_only_a_warning) {
    config const cfg = full_config(protocol_version::resp2);
    handshake hs(cfg);
    ASSERT_EQ(hs.start(), action::send);
    // A restricted ACL user may not run CLIENT: the connection is still usable.
    std::string const noperm =
        "NOPERM User app has no permissions to run the 'client|setname' command";
    EXPECT_EQ(hs.on_replies({ok(), error_reply(noperm), ok()}), action::done);
    ASSERT_EQ(hs.warnings().size(), 1u);
    EXPECT_NE(hs.warnings()[0].find(noperm), std::string::npos) << hs.warnings()[0];
    EXPECT_EQ(hs.protocol(), 2);
}

TEST(handshake, client_setname_error_after_a_fallback_is_only_a_warning) {
    config const cfg = full_config();
    handshake hs(cfg);
    ASSERT_EQ(hs.start(), action::send);
    ASSERT_EQ(hs.on_replies({error_reply(unknown_hello), ok()}), action::send);
    EXPECT_EQ(hs.on_replies({ok(), error_reply("ERR unknown subcommand 'SETNAME'"), ok()}),
              action::done);
    EXPECT_EQ(hs.warnings().size(), 1u);
}

TEST(handshake, resp2_with_nothing_to_set_is_done_without_commands) {
    config cfg;
    cfg.protocol = protocol_version::resp2;
    cfg.client_name = "";
    handshake hs(cfg);
    // No AUTH, no name, db 0: the connection is ready at once.
    EXPECT_EQ(hs.start(), action::done);
    EXPECT_TRUE(hs.commands().empty());
    EXPECT_EQ(hs.protocol(), 2);
}

TEST(handshake, a_wrong_number_of_replies_fails) {
    {
        SCOPED_TRACE("HELLO + SELECT answered with one reply");
        config const cfg = full_config();
        handshake hs(cfg);
        ASSERT_EQ(hs.start(), action::send);
        EXPECT_EQ(hs.on_replies({hello_map()}), action::fail);
        EXPECT_EQ(hs.failure().code, make_error_code(client_errc::handshake_failed));
    }
    {
        SCOPED_TRACE("three RESP2 commands answered with four replies");
        config const cfg = full_config(protocol_version::resp2);
        handshake hs(cfg);
        ASSERT_EQ(hs.start(), action::send);
        EXPECT_EQ(hs.on_replies({ok(), ok(), ok(), ok()}), action::fail);
        EXPECT_EQ(hs.failure().code, make_error_code(client_errc::handshake_failed));
    }
    {
        SCOPED_TRACE("no reply at all");
        config const cfg = full_config();
        handshake hs(cfg);
        ASSERT_EQ(hs.start(), action::send);
        EXPECT_EQ(hs.on_replies({}), action::fail);
        EXPECT_EQ(hs.failure().code, make_error_code(client_errc::handshake_failed));
    }
}

// ------------------------------------------------------------------------------------------
// Sentinel: the node the sentinels named must say it is the master

config sentinel_config(protocol_version protocol = protocol_version::automatic, int db = 0) {
    config cfg;
    cfg.client_name.clear();
    cfg.db = db;
    cfg.protocol = protocol;
    cfg.sentinel.sentinels = {{"s1", 26379}};
    cfg.sentinel.master_name = "mymaster";
    return cfg;
}
value role_master() {
    return reply("*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n");
}
value role_slave() {
    return reply("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6380\r\n$9\r\nconnected\r\n:1\r\n");
}

TEST(handshake, through_sentinel_role_is_asked_last_in_the_same_write) {
    struct row {
        protocol_version protocol;
        int db;
        labels first;
    };
    std::vector<row> const rows{
        {protocol_version::automatic, 0, {"HELLO 3", "ROLE"}},
        {protocol_version::automatic, 2, {"HELLO 3", "SELECT 2", "ROLE"}},
        {protocol_version::resp2, 0, {"ROLE"}},
        {protocol_version::resp2, 5, {"SELECT 5", "ROLE"}},
    };
    for (auto const& r : rows) {
        auto cfg = sentinel_config(r.protocol, r.db);
        handshake hs(cfg);
        EXPECT_EQ(hs.start(), action::send);
        EXPECT_EQ(sent(hs), r.first);
        std::vector<value> replies;
        for (auto const& c : r.first)
            replies.push_back(c == "HELLO 3" ? hello_map() : c == "ROLE" ? role_master() : ok());
        EXPECT_EQ(hs.on_replies(replies), action::done) << hs.failure().message();
    }
}

TEST(handshake, through_sentinel_a_node_that_is_not_the_master_is_refused) {
    auto cfg = sentinel_config();
    handshake hs(cfg);
    hs.start();
    EXPECT_EQ(hs.on_replies({hello_map(), role_slave()}), action::fail);
    EXPECT_NE(hs.failure().message().find("says its role is slave"), std::string::npos)
        << hs.failure().message();
    EXPECT_NE(hs.failure().message().find("'mymaster'"), std::string::npos);
}

TEST(handshake, through_sentinel_role_refused_or_strange_fails) {
    for (auto const& role : {error_reply("NOPERM this user has no permissions to run 'role'"),
                             reply(":1\r\n"), reply("*0\r\n")}) {
        auto cfg = sentinel_config();
        handshake hs(cfg);
        hs.start();
        EXPECT_EQ(hs.on_replies({hello_map(), role}), action::fail);
        EXPECT_NE(hs.failure().message().find("ROLE"), std::string::npos) << hs.failure().message();
    }
}

TEST(handshake, through_sentinel_the_resp2_fallback_asks_role_too) {
    auto cfg = sentinel_config();
    handshake hs(cfg);
    hs.start();
    EXPECT_EQ(hs.on_replies({error_reply(unknown_hello), role_master()}), action::send);
    EXPECT_EQ(sent(hs), (labels{"ROLE"}));
    EXPECT_EQ(hs.on_replies({role_slave()}), action::fail);
}
} // namespace
} // namespace mcpd::redis
