// Unit tests for encode_command (src/redis/resp.hpp): exact bytes on the wire, binary and empty
// arguments, appending to a buffer that already holds commands, and a round trip through the
// parser.
#include "mcpd/redis/resp.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mcpd::redis {
namespace {

std::string encode(std::vector<std::string> const& args) {
    std::string out;
    encode_command(out, args);
    return out;
}

TEST(resp_encode, single_argument_command_is_an_array_of_one_bulk_string) {
    EXPECT_EQ(encode({"PING"}), "*1\r\n$4\r\nPING\r\n");
}

TEST(resp_encode, arguments_are_encoded_in_order_as_bulk_strings) {
    EXPECT_EQ(encode({"SET", "key", "value"}), "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
}

TEST(resp_encode, empty_argument_is_a_zero_length_bulk_string) {
    EXPECT_EQ(encode({"SET", "k", ""}), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
}

TEST(resp_encode, binary_arguments_are_sent_byte_for_byte) {
    std::string const binary("a\r\n\0\xff", 5);
    EXPECT_EQ(encode({"SET", "k", binary}),
              std::string("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\r\n\0\xff\r\n", 31));
}

TEST(resp_encode, no_arguments_is_an_empty_array) {
    EXPECT_EQ(encode({}), "*0\r\n");
}

TEST(resp_encode, multi_digit_lengths_are_written_in_decimal) {
    std::string const big(12345, 'x');
    std::string const out = encode({"SET", "k", big});
    EXPECT_EQ(out.substr(0, 30), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$12345\r\nxx");
    EXPECT_EQ(out.size(), 4u + 9u + 7u + 8u + 12345u + 2u);
}

TEST(resp_encode, commands_are_appended_to_what_the_buffer_holds) {
    std::string out = "*1\r\n$4\r\nPING\r\n";
    std::vector<std::string> const get{"GET", "k"};
    encode_command(out, get);
    encode_command(out, get);
    EXPECT_EQ(out,
              "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
}

TEST(resp_encode, many_appended_commands_round_trip_through_the_parser) {
    std::vector<std::vector<std::string>> commands;
    for (int i = 0; i < 300; ++i)
        commands.push_back({"SET", "key:" + std::to_string(i), std::string(i % 7, '\r')});
    std::string wire;
    for (auto const& c : commands)
        encode_command(wire, c);

    resp_parser p;
    std::string_view rest = wire;
    for (auto const& c : commands) {
        std::size_t consumed = 0;
        ASSERT_EQ(p.parse(rest, consumed), parse_status::done) << p.error_message();
        rest.remove_prefix(consumed);
        value v = p.take();
        ASSERT_EQ(v.type, resp_type::array);
        ASSERT_EQ(v.elements.size(), c.size());
        for (std::size_t i = 0; i < c.size(); ++i) {
            EXPECT_EQ(v.elements[i].type, resp_type::bulk_string);
            EXPECT_EQ(v.elements[i].str, c[i]);
        }
    }
    EXPECT_TRUE(rest.empty());
}

} // namespace
} // namespace mcpd::redis
