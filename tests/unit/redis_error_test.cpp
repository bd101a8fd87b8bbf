// Unit tests for src/redis/error.hpp: classifying server error replies by their first word, and
// the names and messages of the client and server error categories.
#include "mcpd/redis/error.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>

namespace mcpd::redis {
namespace {

struct prefix_case {
    std::string_view text;
    server_errc expected;
};

TEST(redis_error, each_redis_error_prefix_is_classified) {
    prefix_case const cases[] = {
        {"ERR syntax error", server_errc::err},
        {"WRONGTYPE Operation against a key holding the wrong kind of value",
         server_errc::wrongtype},
        {"MOVED 3999 127.0.0.1:6381", server_errc::moved},
        {"ASK 3999 127.0.0.1:6381", server_errc::ask},
        {"NOSCRIPT No matching script. Please use EVAL.", server_errc::noscript},
        {"NOAUTH Authentication required.", server_errc::noauth},
        {"WRONGPASS invalid username-password pair or user is disabled.", server_errc::wrongpass},
        {"NOPERM User default has no permissions to run the 'get' command", server_errc::noperm},
        {"LOADING Redis is loading the dataset in memory", server_errc::loading},
        {"BUSY Redis is busy running a script.", server_errc::busy},
        {"BUSYKEY Target key name already exists.", server_errc::busykey},
        {"READONLY You can't write against a read only replica.", server_errc::readonly},
        {"OOM command not allowed when used memory > 'maxmemory'.", server_errc::oom},
        {"EXECABORT Transaction discarded because of previous errors.", server_errc::execabort},
        {"CROSSSLOT Keys in request don't hash to the same slot", server_errc::crossslot},
        {"CLUSTERDOWN The cluster is down", server_errc::clusterdown},
        {"TRYAGAIN Multiple keys request during rehashing of slot", server_errc::tryagain},
        {"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
         server_errc::masterdown},
        {"NOPROTO unsupported protocol version", server_errc::noproto},
        {"NOREPLICAS Not enough good replicas to write.", server_errc::noreplicas},
        {"MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist",
         server_errc::misconf},
        {"UNBLOCKED client unblocked via CLIENT UNBLOCK", server_errc::unblocked},
    };
    for (auto const& c : cases)
        EXPECT_EQ(classify_server_error(c.text), c.expected) << c.text;
}

TEST(redis_error, a_prefix_alone_is_classified) {
    EXPECT_EQ(classify_server_error("ERR"), server_errc::err);
    EXPECT_EQ(classify_server_error("LOADING"), server_errc::loading);
}

TEST(redis_error, unknown_command_is_told_apart_from_other_err_replies) {
    EXPECT_EQ(classify_server_error("ERR unknown command 'FOO', with args beginning with: "),
              server_errc::unknown_command);
    EXPECT_EQ(classify_server_error("ERR unknown command"), server_errc::unknown_command);
    EXPECT_EQ(classify_server_error("ERR unknown subcommand 'X'. Try CLIENT HELP."),
              server_errc::err);
    EXPECT_EQ(classify_server_error("ERR wrong number of arguments for 'get' command"),
              server_errc::err);
}

TEST(redis_error, prefixes_match_whole_words_only) {
    EXPECT_EQ(classify_server_error("BUSYKEY x"), server_errc::busykey);
    EXPECT_EQ(classify_server_error("BUSY x"), server_errc::busy);
    EXPECT_EQ(classify_server_error("ERRX something"), server_errc::other);
    EXPECT_EQ(classify_server_error("ASKING"), server_errc::other);
}

TEST(redis_error, classification_is_case_sensitive_as_redis_sends_it) {
    EXPECT_EQ(classify_server_error("err syntax error"), server_errc::other);
    EXPECT_EQ(classify_server_error("Moved 1 h:1"), server_errc::other);
}

TEST(redis_error, unrecognised_or_empty_text_is_other) {
    EXPECT_EQ(classify_server_error(""), server_errc::other);
    EXPECT_EQ(classify_server_error(" ERR leading space"), server_errc::other);
    EXPECT_EQ(classify_server_error("SOMEMODULE custom failure"), server_errc::other);
}

TEST(redis_error, categories_have_their_names) {
    EXPECT_STREQ(client_category().name(), "mcpd.redis.client");
    EXPECT_STREQ(server_category().name(), "mcpd.redis.server");
    EXPECT_NE(&client_category(), &server_category());
}

TEST(redis_error, every_client_error_has_its_own_message) {
    // Enumerators are contiguous from 1: walk until the category stops knowing the value.
    std::set<std::string> seen;
    int e = static_cast<int>(client_errc::not_connected);
    for (;; ++e) {
        std::string const m = client_category().message(e);
        if (m.starts_with("unknown mcpd.redis.client error"))
            break;
        EXPECT_TRUE(seen.insert(m).second) << "duplicate message: " << m;
    }
    EXPECT_GT(e, static_cast<int>(client_errc::unexpected_reply));
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(e - 1));
}

TEST(redis_error, every_server_error_has_its_own_message) {
    std::set<std::string> seen;
    for (int e = static_cast<int>(server_errc::err); e <= static_cast<int>(server_errc::other);
         ++e) {
        std::string const m = server_category().message(e);
        EXPECT_FALSE(m.empty());
        EXPECT_TRUE(seen.insert(m).second) << "duplicate message: " << m;
    }
    EXPECT_EQ(seen.size(), 24u);
    EXPECT_NE(server_category().message(static_cast<int>(server_errc::wrongtype)).find("WRONGTYPE"),
              std::string::npos);
}

TEST(redis_error, out_of_range_values_get_a_generic_message) {
    EXPECT_EQ(client_category().message(999), "unknown mcpd.redis.client error 999");
    EXPECT_EQ(server_category().message(0), "unknown mcpd.redis.server error 0");
}

TEST(redis_error, enums_convert_to_error_codes_of_their_category) {
    boost::system::error_code const ec = client_errc::timeout;
    EXPECT_EQ(&ec.category(), &client_category());
    EXPECT_EQ(ec, client_errc::timeout);
    EXPECT_NE(ec, client_errc::connect_timeout);
    EXPECT_EQ(ec.message(), "the Redis command timed out");
    boost::system::error_code const server = make_error_code(server_errc::moved);
    EXPECT_EQ(&server.category(), &server_category());
    EXPECT_EQ(server, server_errc::moved);
    EXPECT_TRUE(static_cast<bool>(server));
}

} // namespace
} // namespace mcpd::redis
