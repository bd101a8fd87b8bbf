// Unit tests for the RESP2/RESP3 parser (src/redis/resp.hpp): every type, aggregates and
// attributes, incremental feeding, malformed input, limits, error persistence, value helpers.
#include "mcpd/redis/resp.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <set>
#include <string>
#include <string_view>
#include <vector>

// Counting allocator, used only by huge_declared_array_count_with_few_bytes_does_not_allocate_much:
// operator new is replaced for this test executable, but it only counts while a test asks.
namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::size_t> g_largest_allocation{0};
std::atomic<std::size_t> g_allocated_bytes{0};
} // namespace

void* operator new(std::size_t n) {
    if (g_counting.load(std::memory_order_relaxed)) {
        g_allocated_bytes.fetch_add(n, std::memory_order_relaxed);
        std::size_t prev = g_largest_allocation.load(std::memory_order_relaxed);
        while (n > prev && !g_largest_allocation.compare_exchange_weak(prev, n)) {
        }
    }
    if (void* p = std::malloc(n == 0 ? 1 : n))
        return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

namespace mcpd::redis {
namespace {

using namespace std::string_view_literals;

// What a caller sees after offering a whole stream: the values, in debug form, and how the last
// parse() ended.
struct outcome {
    std::vector<std::string> values;
    parse_status last = parse_status::need_more;
    std::string error;
};

// Feeds `stream` the way a connection does: bytes arrive `chunk` at a time into a buffer; the
// parser is offered everything not yet consumed; consumed bytes are dropped from the front.
outcome feed(std::string_view stream, std::size_t chunk, parser_limits limits = {}) {
    resp_parser p(limits);
    outcome out;
    std::string buffer;
    std::size_t offered = 0;
    while (offered < stream.size()) {
        std::size_t const n = std::min(chunk, stream.size() - offered);
        buffer.append(stream.substr(offered, n));
        offered += n;
        for (;;) {
            std::size_t consumed = 0;
            out.last = p.parse(buffer, consumed);
            EXPECT_LE(consumed, buffer.size());
            buffer.erase(0, consumed);
            if (out.last == parse_status::done) {
                out.values.push_back(to_debug_string(p.take()));
                continue;
            }
            if (out.last == parse_status::error) {
                out.error = std::string(p.error_message());
                return out;
            }
            break; // need_more
        }
    }
    return out;
}

outcome feed_whole(std::string_view stream, parser_limits limits = {}) {
    return feed(stream, stream.size() == 0 ? 1 : stream.size(), limits);
}

// Bytes as a quoted, escaped string for failure messages.
std::string printable(std::string_view bytes) {
    value v;
    v.type = resp_type::bulk_string;
    v.str = std::string(bytes);
    return to_debug_string(v);
}

// Parses one complete value that must use every byte of `bytes`.
value parse_one(std::string_view bytes, parser_limits limits = {}) {
    resp_parser p(limits);
    std::size_t consumed = 0;
    auto const st = p.parse(bytes, consumed);
    EXPECT_EQ(st, parse_status::done) << p.error_message();
    EXPECT_EQ(consumed, bytes.size());
    return p.take();
}

// The error message a malformed stream ends in (empty when it did not fail).
std::string parse_error(std::string_view bytes, parser_limits limits = {}) {
    return feed_whole(bytes, limits).error;
}

// ---- each type -------------------------------------------------------------------------------

TEST(resp_parser, simple_string_is_parsed) {
    value v = parse_one("+OK\r\n");
    EXPECT_EQ(v.type, resp_type::simple_string);
    EXPECT_EQ(v.str, "OK");
    EXPECT_FALSE(v.is_error());
}

TEST(resp_parser, empty_simple_string_is_parsed) {
    value v = parse_one("+\r\n");
    EXPECT_EQ(v.type, resp_type::simple_string);
    EXPECT_EQ(v.str, "");
}

TEST(resp_parser, simple_error_keeps_its_text_without_the_dash) {
    value v = parse_one("-ERR unknown command 'foo'\r\n");
    EXPECT_EQ(v.type, resp_type::simple_error);
    EXPECT_EQ(v.str, "ERR unknown command 'foo'");
    EXPECT_TRUE(v.is_error());
}

TEST(resp_parser, integers_with_and_without_sign_are_parsed) {
    EXPECT_EQ(parse_one(":0\r\n").integer, 0);
    EXPECT_EQ(parse_one(":42\r\n").integer, 42);
    EXPECT_EQ(parse_one(":-42\r\n").integer, -42);
    EXPECT_EQ(parse_one(":+7\r\n").integer, 7);
    EXPECT_EQ(parse_one(":1\r\n").type, resp_type::integer);
}

TEST(resp_parser, int64_extremes_are_parsed_exactly) {
    EXPECT_EQ(parse_one(":9223372036854775807\r\n").integer,
              std::numeric_limits<std::int64_t>::max());
    EXPECT_EQ(parse_one(":-9223372036854775808\r\n").integer,
              std::numeric_limits<std::int64_t>::min());
}

TEST(resp_parser, integer_overflow_is_an_error_not_undefined_behaviour) {
    EXPECT_NE(parse_error(":9223372036854775808\r\n"), "");
    EXPECT_NE(parse_error(":-9223372036854775809\r\n"), "");
    EXPECT_NE(parse_error(":99999999999999999999999999999\r\n"), "");
}

TEST(resp_parser, bulk_string_is_binary_safe) {
    std::string const payload("a\r\nb\0c", 6);
    value v = parse_one("$6\r\n" + payload + "\r\n");
    EXPECT_EQ(v.type, resp_type::bulk_string);
    EXPECT_EQ(v.str, payload);
}

TEST(resp_parser, empty_bulk_string_is_not_null) {
    value v = parse_one("$0\r\n\r\n");
    EXPECT_EQ(v.type, resp_type::bulk_string);
    EXPECT_EQ(v.str, "");
    EXPECT_FALSE(v.is_null());
}

TEST(resp_parser, resp2_null_bulk_and_null_array_become_null) {
    EXPECT_TRUE(parse_one("$-1\r\n").is_null());
    EXPECT_TRUE(parse_one("*-1\r\n").is_null());
}

TEST(resp_parser, resp3_null_is_parsed) {
    EXPECT_TRUE(parse_one("_\r\n").is_null());
}

TEST(resp_parser, doubles_keep_their_text_and_value) {
    value v = parse_one(",3.14\r\n");
    EXPECT_EQ(v.type, resp_type::double_type);
    EXPECT_DOUBLE_EQ(v.number, 3.14);
    EXPECT_EQ(v.str, "3.14");
    EXPECT_DOUBLE_EQ(parse_one(",-2\r\n").number, -2.0);
    EXPECT_DOUBLE_EQ(parse_one(",1.5e3\r\n").number, 1500.0);
    EXPECT_DOUBLE_EQ(parse_one(",+1.25E-2\r\n").number, 0.0125);
    EXPECT_DOUBLE_EQ(parse_one(",.5\r\n").number, 0.5);
}

TEST(resp_parser, double_infinities_and_nan_are_parsed) {
    EXPECT_EQ(parse_one(",inf\r\n").number, std::numeric_limits<double>::infinity());
    EXPECT_EQ(parse_one(",-inf\r\n").number, -std::numeric_limits<double>::infinity());
    value nan = parse_one(",nan\r\n");
    EXPECT_TRUE(std::isnan(nan.number));
    EXPECT_EQ(nan.str, "nan");
}

TEST(resp_parser, booleans_are_t_or_f) {
    value t = parse_one("#t\r\n");
    EXPECT_EQ(t.type, resp_type::boolean);
    EXPECT_EQ(t.integer, 1);
    value f = parse_one("#f\r\n");
    EXPECT_EQ(f.type, resp_type::boolean);
    EXPECT_EQ(f.integer, 0);
}

TEST(resp_parser, blob_error_is_an_error_with_binary_text) {
    value v = parse_one("!22\r\nSYNTAX invalid\r\nsyntax\r\n");
    EXPECT_EQ(v.type, resp_type::blob_error);
    EXPECT_EQ(v.str, "SYNTAX invalid\r\nsyntax");
    EXPECT_TRUE(v.is_error());
}

TEST(resp_parser, verbatim_string_splits_format_and_payload) {
    value v = parse_one("=15\r\ntxt:Some string\r\n");
    EXPECT_EQ(v.type, resp_type::verbatim_string);
    EXPECT_EQ(v.verbatim_format, "txt");
    EXPECT_EQ(v.str, "Some string");
    value empty = parse_one("=4\r\nmkd:\r\n");
    EXPECT_EQ(empty.verbatim_format, "mkd");
    EXPECT_EQ(empty.str, "");
}

TEST(resp_parser, big_numbers_keep_their_digits) {
    value v = parse_one("(3492890328409238509324850943850943825024385\r\n");
    EXPECT_EQ(v.type, resp_type::big_number);
    EXPECT_EQ(v.str, "3492890328409238509324850943850943825024385");
    EXPECT_EQ(parse_one("(-12\r\n").str, "-12");
    EXPECT_EQ(parse_one("(+12\r\n").str, "+12");
}

// ---- aggregates ------------------------------------------------------------------------------

TEST(resp_parser, array_of_mixed_types_is_parsed) {
    value v = parse_one("*4\r\n:1\r\n$3\r\nfoo\r\n+bar\r\n_\r\n");
    EXPECT_EQ(v.type, resp_type::array);
    ASSERT_EQ(v.elements.size(), 4u);
    EXPECT_EQ(v.elements[0].integer, 1);
    EXPECT_EQ(v.elements[1].str, "foo");
    EXPECT_EQ(v.elements[2].str, "bar");
    EXPECT_TRUE(v.elements[3].is_null());
    EXPECT_TRUE(v.is_aggregate());
}

TEST(resp_parser, nested_aggregates_are_parsed) {
    value v = parse_one("*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n*2\r\n+Hello\r\n-World\r\n");
    EXPECT_EQ(to_debug_string(v),
              "[[(integer) 1, (integer) 2, (integer) 3], [Hello, (error) World]]");
}

TEST(resp_parser, null_inside_array_is_an_element) {
    value v = parse_one("*3\r\n$3\r\nfoo\r\n$-1\r\n$3\r\nbar\r\n");
    ASSERT_EQ(v.elements.size(), 3u);
    EXPECT_TRUE(v.elements[1].is_null());
}

TEST(resp_parser, map_stores_keys_and_values_flat) {
    value v = parse_one("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n");
    EXPECT_EQ(v.type, resp_type::map);
    ASSERT_EQ(v.elements.size(), 4u);
    EXPECT_EQ(v.elements[0].str, "first");
    EXPECT_EQ(v.elements[1].integer, 1);
    EXPECT_EQ(v.elements[2].str, "second");
    EXPECT_EQ(v.elements[3].integer, 2);
    EXPECT_EQ(to_debug_string(v), "{first: (integer) 1, second: (integer) 2}");
}

TEST(resp_parser, map_values_may_be_aggregates) {
    value v = parse_one("%1\r\n$4\r\nkeys\r\n*2\r\n:1\r\n:2\r\n");
    EXPECT_EQ(to_debug_string(v), "{\"keys\": [(integer) 1, (integer) 2]}");
}

TEST(resp_parser, set_and_push_are_parsed) {
    value s = parse_one("~3\r\n+a\r\n+b\r\n+c\r\n");
    EXPECT_EQ(s.type, resp_type::set);
    EXPECT_EQ(s.elements.size(), 3u);
    value p = parse_one(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n");
    EXPECT_EQ(p.type, resp_type::push);
    EXPECT_EQ(to_debug_string(p), ">[\"message\", \"ch\", \"hello\"]");
}

TEST(resp_parser, empty_aggregates_are_complete_values) {
    EXPECT_EQ(parse_one("*0\r\n").type, resp_type::array);
    EXPECT_EQ(parse_one("%0\r\n").type, resp_type::map);
    EXPECT_EQ(parse_one("~0\r\n").type, resp_type::set);
    EXPECT_EQ(parse_one(">0\r\n").type, resp_type::push);
    EXPECT_TRUE(parse_one("*0\r\n").elements.empty());
    EXPECT_EQ(to_debug_string(parse_one("*2\r\n*0\r\n%0\r\n")), "[[], {}]");
}

// ---- attributes ------------------------------------------------------------------------------

TEST(resp_parser, attribute_attaches_to_the_next_top_level_value) {
    value v = parse_one("|1\r\n+ttl\r\n:3600\r\n$5\r\nvalue\r\n");
    EXPECT_EQ(v.type, resp_type::bulk_string);
    EXPECT_EQ(v.str, "value");
    ASSERT_EQ(v.attributes.size(), 2u);
    EXPECT_EQ(v.attributes[0].str, "ttl");
    EXPECT_EQ(v.attributes[1].integer, 3600);
    EXPECT_EQ(to_debug_string(v), "|{ttl: (integer) 3600}| \"value\"");
}

TEST(resp_parser, attribute_alone_is_consumed_but_never_returned) {
    resp_parser p;
    std::string_view const attr = "|1\r\n+a\r\n+b\r\n";
    std::size_t consumed = 0;
    EXPECT_EQ(p.parse(attr, consumed), parse_status::need_more);
    EXPECT_EQ(consumed, attr.size());
    EXPECT_EQ(p.parse(":1\r\n", consumed), parse_status::done);
    value v = p.take();
    EXPECT_EQ(v.integer, 1);
    EXPECT_EQ(to_debug_string(v), "|{a: b}| (integer) 1");
}

TEST(resp_parser, attribute_inside_array_annotates_the_next_element_and_is_not_counted) {
    // From the RESP3 specification: the attribute is not one of the array's two elements.
    value v = parse_one("*2\r\n|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,"
                        "0.0012\r\n:2039123\r\n:9543892\r\n");
    ASSERT_EQ(v.elements.size(), 2u);
    EXPECT_TRUE(v.attributes.empty());
    ASSERT_EQ(v.elements[0].attributes.size(), 2u);
    EXPECT_EQ(v.elements[0].attributes[0].str, "key-popularity");
    EXPECT_EQ(v.elements[0].attributes[1].type, resp_type::map);
    EXPECT_EQ(v.elements[0].integer, 2039123);
    EXPECT_TRUE(v.elements[1].attributes.empty());
}

TEST(resp_parser, attribute_before_an_aggregate_annotates_the_aggregate) {
    value v = parse_one("|1\r\n+a\r\n+b\r\n*2\r\n:1\r\n:2\r\n");
    EXPECT_EQ(v.type, resp_type::array);
    ASSERT_EQ(v.attributes.size(), 2u);
    EXPECT_TRUE(v.elements[0].attributes.empty());
    EXPECT_TRUE(v.elements[1].attributes.empty());
}

TEST(resp_parser, consecutive_attributes_are_merged) {
    value v = parse_one("|1\r\n+a\r\n:1\r\n|1\r\n+b\r\n:2\r\n+x\r\n");
    EXPECT_EQ(to_debug_string(v), "|{a: (integer) 1, b: (integer) 2}| x");
}

TEST(resp_parser, attributes_do_not_leak_into_the_following_value) {
    outcome out = feed_whole("|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n");
    ASSERT_EQ(out.values.size(), 2u);
    EXPECT_EQ(out.values[0], "|{a: b}| (integer) 1");
    EXPECT_EQ(out.values[1], "(integer) 2");
}

TEST(resp_parser, empty_attribute_attaches_nothing) {
    value v = parse_one("|0\r\n:5\r\n");
    EXPECT_TRUE(v.attributes.empty());
    EXPECT_EQ(v.integer, 5);
}

// ---- incremental parsing ---------------------------------------------------------------------

TEST(resp_parser, empty_input_needs_more) {
    resp_parser p;
    std::size_t consumed = 7;
    EXPECT_EQ(p.parse("", consumed), parse_status::need_more);
    EXPECT_EQ(consumed, 0u);
}

TEST(resp_parser, bulk_string_split_across_reads_is_parsed_once_complete) {
    resp_parser p;
    std::size_t consumed = 0;
    // Header and part of the payload: nothing is consumed, the element is not complete.
    EXPECT_EQ(p.parse("$11\r\nhello", consumed), parse_status::need_more);
    EXPECT_EQ(consumed, 0u);
    // Payload complete but its CRLF has not arrived.
    EXPECT_EQ(p.parse("$11\r\nhello world", consumed), parse_status::need_more);
    EXPECT_EQ(consumed, 0u);
    EXPECT_EQ(p.parse("$11\r\nhello world\r", consumed), parse_status::need_more);
    EXPECT_EQ(consumed, 0u);
    EXPECT_EQ(p.parse("$11\r\nhello world\r\n", consumed), parse_status::done);
    EXPECT_EQ(consumed, 18u);
    EXPECT_EQ(p.take().str, "hello world");
}

TEST(resp_parser, header_split_between_cr_and_lf_waits_for_lf) {
    resp_parser p;
    std::size_t consumed = 0;
    EXPECT_EQ(p.parse(":12\r", consumed), parse_status::need_more);
    EXPECT_EQ(consumed, 0u);
    EXPECT_EQ(p.parse(":12\r\n", consumed), parse_status::done);
    EXPECT_EQ(p.take().integer, 12);
}

TEST(resp_parser, complete_elements_of_a_partial_aggregate_are_consumed_and_not_reparsed) {
    resp_parser p;
    std::size_t consumed = 0;
    // The array header and first element are complete; the second element is not.
    EXPECT_EQ(p.parse("*3\r\n$3\r\nfoo\r\n$3\r\nba", consumed), parse_status::need_more);
    EXPECT_EQ(consumed, 13u);
    // The caller offers only what was not consumed, plus the new bytes.
    EXPECT_EQ(p.parse("$3\r\nbar\r\n:7", consumed), parse_status::need_more);
    EXPECT_EQ(consumed, 9u);
    EXPECT_EQ(p.parse(":7\r\n", consumed), parse_status::done);
    EXPECT_EQ(consumed, 4u);
    EXPECT_EQ(to_debug_string(p.take()), "[\"foo\", \"bar\", (integer) 7]");
}

TEST(resp_parser, several_values_in_one_buffer_are_returned_one_at_a_time) {
    resp_parser p;
    std::string_view const bytes = "+OK\r\n:1\r\n*1\r\n$1\r\nx\r\n";
    std::size_t consumed = 0;
    ASSERT_EQ(p.parse(bytes, consumed), parse_status::done);
    EXPECT_EQ(consumed, 5u); // stops right after the first value
    EXPECT_EQ(p.take().str, "OK");
    std::size_t offset = consumed;
    ASSERT_EQ(p.parse(bytes.substr(offset), consumed), parse_status::done);
    EXPECT_EQ(consumed, 4u);
    EXPECT_EQ(p.take().integer, 1);
    offset += consumed;
    ASSERT_EQ(p.parse(bytes.substr(offset), consumed), parse_status::done);
    EXPECT_EQ(offset + consumed, bytes.size());
    EXPECT_EQ(to_debug_string(p.take()), "[\"x\"]");
    EXPECT_EQ(p.parse("", consumed), parse_status::need_more);
}

TEST(resp_parser, parse_before_take_returns_done_again_and_consumes_nothing) {
    resp_parser p;
    std::size_t consumed = 0;
    ASSERT_EQ(p.parse(":1\r\n:2\r\n", consumed), parse_status::done);
    ASSERT_EQ(p.parse(":2\r\n", consumed), parse_status::done);
    EXPECT_EQ(consumed, 0u);
    EXPECT_EQ(p.take().integer, 1);
}

TEST(resp_parser, take_moves_the_value_out) {
    resp_parser p;
    std::size_t consumed = 0;
    ASSERT_EQ(p.parse("$3\r\nabc\r\n", consumed), parse_status::done);
    EXPECT_EQ(p.take().str, "abc");
    EXPECT_TRUE(p.take().is_null()); // nothing left: precondition broken, but no crash
}

// A stream with every type, nesting, attributes, pushes and RESP2 nulls.
std::string long_stream() {
    std::string s;
    for (int i = 0; i < 20; ++i) {
        s += "+OK\r\n-ERR oops\r\n:" + std::to_string(i * 1000 - 7) + "\r\n";
        s += "$" + std::to_string(3 + i) + "\r\n" +
             std::string(3 + i, static_cast<char>('a' + i % 26)) + "\r\n";
        s += "$-1\r\n*-1\r\n_\r\n,1.5\r\n,-inf\r\n,nan\r\n#t\r\n#f\r\n";
        s += "!10\r\nERR blob\r\n\r\n=8\r\ntxt:x\r\ny\r\n(-123456789012345678901234567890\r\n";
        s += "*3\r\n:1\r\n*2\r\n+a\r\n$0\r\n\r\n%1\r\n+k\r\n~2\r\n:1\r\n:2\r\n";
        s += "|1\r\n+meta\r\n:1\r\n>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$4\r\nbody\r\n";
        s += "*2\r\n|1\r\n+a\r\n+b\r\n*0\r\n%0\r\n";
    }
    return s;
}

TEST(resp_parser, byte_by_byte_feeding_gives_the_same_values_as_whole_buffer_parsing) {
    std::string const stream = long_stream();
    outcome const whole = feed_whole(stream);
    ASSERT_EQ(whole.last, parse_status::need_more) << whole.error;
    EXPECT_EQ(whole.values.size(), 20u * 18u);
    outcome const bytewise = feed(stream, 1);
    EXPECT_EQ(bytewise.values, whole.values);
    EXPECT_EQ(bytewise.last, parse_status::need_more);
}

TEST(resp_parser, every_chunk_size_gives_the_same_values) {
    std::string const stream = long_stream();
    outcome const whole = feed_whole(stream);
    for (std::size_t chunk : {2u, 3u, 5u, 7u, 13u, 64u, 1000u}) {
        outcome const out = feed(stream, chunk);
        EXPECT_EQ(out.values, whole.values) << "chunk " << chunk;
        EXPECT_EQ(out.last, parse_status::need_more) << "chunk " << chunk;
    }
}

TEST(resp_parser, large_bulk_string_in_many_reads_is_assembled_once) {
    std::string const payload(100000, 'z');
    std::string const stream = "$100000\r\n" + payload + "\r\n";
    outcome const out = feed(stream, 4096);
    ASSERT_EQ(out.values.size(), 1u);
    EXPECT_EQ(out.values[0], "\"" + payload + "\"");
}

// ---- malformed input -------------------------------------------------------------------------

struct malformed_case {
    std::string_view bytes;
    std::string_view message_part; // a piece of the expected error_message()
};

TEST(resp_parser, malformed_input_is_an_error_with_a_clear_message) {
    malformed_case const cases[] = {
        {"x\r\n"sv, "unexpected type byte"},
        {"\0\r\n"sv, "unexpected type byte"},
        {"*1\r\n?\r\n"sv, "unexpected type byte"},
        {";3\r\n"sv, "unexpected type byte"},
        {".\r\n"sv, "unexpected type byte"},
        {"+OK\rX"sv, "CR not followed by LF"},
        {"+a\nb\r\n"sv, "line feed"},
        {":\r\n"sv, "invalid integer"},
        {":12a\r\n"sv, "invalid integer"},
        {": 1\r\n"sv, "invalid integer"},
        {":+\r\n"sv, "invalid integer"},
        {":+-1\r\n"sv, "invalid integer"},
        {":1.0\r\n"sv, "invalid integer"},
        {"$\r\n"sv, "not a decimal number"},
        {"$abc\r\n"sv, "not a decimal number"},
        {"$ 3\r\n"sv, "not a decimal number"},
        {"$+3\r\n"sv, "not a decimal number"},
        {"$-2\r\n"sv, "negative"},
        {"$-\r\n"sv, "not a decimal number"},
        {"!-1\r\n"sv, "negative"},
        {"=-1\r\n"sv, "negative"},
        {"*-2\r\n"sv, "negative"},
        {"%-1\r\n"sv, "negative"},
        {"~-1\r\n"sv, "negative"},
        {">-1\r\n"sv, "negative"},
        {"|-1\r\n"sv, "negative"},
        {"*1x\r\n"sv, "not a decimal number"},
        {"$3\r\nabcd\r\n"sv, "not followed by CRLF"},
        {"$3\r\nab\r\n\r\n"sv, "not followed by CRLF"},
        {"$?\r\n;4\r\nHell\r\n;0\r\n"sv, "streamed strings"},
        {"*?\r\n:1\r\n.\r\n"sv, "streamed aggregates"},
        {"%?\r\n"sv, "streamed aggregates"},
        {"_x\r\n"sv, "null with a payload"},
        {",\r\n"sv, "invalid double"},
        {",1.5x\r\n"sv, "invalid double"},
        {",infinity\r\n"sv, "invalid double"},
        {",0x10\r\n"sv, "invalid double"},
        {", 1\r\n"sv, "invalid double"},
        {",+-1\r\n"sv, "invalid double"},
        {",1e999999\r\n"sv, "invalid double"},
        {"#\r\n"sv, "invalid boolean"},
        {"#true\r\n"sv, "invalid boolean"},
        {"#T\r\n"sv, "invalid boolean"},
        {"(\r\n"sv, "invalid big number"},
        {"(-\r\n"sv, "invalid big number"},
        {"(12a\r\n"sv, "invalid big number"},
        {"(1.5\r\n"sv, "invalid big number"},
        {"=3\r\ntxt\r\n"sv, "verbatim"},
        {"=5\r\ntxtx:\r\n"sv, "verbatim"},
        {"=5\r\ntx:ab\r\n"sv, "verbatim"},
        {"*2\r\n:1\r\n*1\r\nx"sv, "unexpected type byte"},
    };
    for (auto const& c : cases) {
        SCOPED_TRACE(testing::Message() << "input: " << printable(c.bytes));
        outcome const whole = feed_whole(c.bytes);
        EXPECT_EQ(whole.last, parse_status::error);
        EXPECT_NE(whole.error.find(c.message_part), std::string::npos) << whole.error;
        EXPECT_NE(whole.error.find("RESP protocol error"), std::string::npos);
        // Fed a byte at a time, the same stream fails the same way.
        outcome const bytewise = feed(c.bytes, 1);
        EXPECT_EQ(bytewise.last, parse_status::error);
        EXPECT_EQ(bytewise.error, whole.error);
    }
}

TEST(resp_parser, unknown_type_byte_fails_without_waiting_for_a_line_end) {
    resp_parser p;
    std::size_t consumed = 0;
    EXPECT_EQ(p.parse("@", consumed), parse_status::error);
    EXPECT_NE(p.error_message().find("0x40 ('@')"), std::string_view::npos);
}

TEST(resp_parser, values_before_a_malformed_one_are_still_returned) {
    outcome const out = feed_whole("+OK\r\n:1\r\n?garbage\r\n");
    EXPECT_EQ(out.values, (std::vector<std::string>{"OK", "(integer) 1"}));
    EXPECT_EQ(out.last, parse_status::error);
}

// ---- limits ----------------------------------------------------------------------------------

TEST(resp_parser, bulk_longer_than_the_limit_is_rejected_before_its_payload_arrives) {
    parser_limits limits;
    limits.max_bulk_length = 10;
    EXPECT_EQ(parse_one("$10\r\n0123456789\r\n", limits).str, "0123456789");
    resp_parser p(limits);
    std::size_t consumed = 0;
    EXPECT_EQ(p.parse("$11\r\n", consumed), parse_status::error);
    EXPECT_NE(p.error_message().find("exceeds the parser limit"), std::string_view::npos);
}

TEST(resp_parser, default_bulk_limit_is_512_megabytes) {
    resp_parser p;
    std::size_t consumed = 0;
    EXPECT_EQ(p.parse("$536870912\r\n", consumed), parse_status::need_more);
    resp_parser q;
    EXPECT_EQ(q.parse("$536870913\r\n", consumed), parse_status::error);
}

TEST(resp_parser, length_that_overflows_64_bits_is_an_error) {
    EXPECT_NE(parse_error("$99999999999999999999999999\r\n"), "");
    EXPECT_NE(parse_error("*18446744073709551616\r\n"), "");
    EXPECT_NE(parse_error("%9223372036854775807\r\n"), "");
}

TEST(resp_parser, line_without_crlf_longer_than_the_limit_is_an_error) {
    parser_limits limits;
    limits.max_line_length = 8;
    EXPECT_EQ(parse_one("+12345678\r\n", limits).str, "12345678");
    // Nine bytes and no CR yet: no longer a valid line, whatever follows.
    resp_parser p(limits);
    std::size_t consumed = 0;
    EXPECT_EQ(p.parse("+12345678", consumed), parse_status::need_more);
    EXPECT_EQ(p.parse("+123456789", consumed), parse_status::error);
    EXPECT_NE(p.error_message().find("line longer than 8 bytes"), std::string_view::npos);
    EXPECT_NE(parse_error("+123456789\r\n", limits), "");
    EXPECT_NE(parse_error(":1234567890\r\n", limits), "");
}

TEST(resp_parser, default_line_limit_stops_an_endless_line) {
    std::string const line = "+" + std::string(64 * 1024 + 1, 'a');
    EXPECT_NE(feed(line, 4096).error.find("line longer"), std::string::npos);
}

TEST(resp_parser, nesting_up_to_max_depth_is_accepted_and_deeper_is_an_error) {
    parser_limits limits;
    limits.max_depth = 3;
    value v = parse_one("*1\r\n*1\r\n*1\r\n:1\r\n", limits);
    EXPECT_EQ(to_debug_string(v), "[[[(integer) 1]]]");
    EXPECT_EQ(to_debug_string(parse_one("*1\r\n*1\r\n%0\r\n", limits)), "[[{}]]");
    EXPECT_NE(parse_error("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", limits).find("nested deeper"),
              std::string::npos);
    EXPECT_NE(parse_error("*1\r\n%1\r\n+k\r\n*1\r\n*0\r\n", limits), "");
    EXPECT_NE(parse_error("*1\r\n*1\r\n*1\r\n|0\r\n", limits), ""); // attributes nest too
}

TEST(resp_parser, default_depth_limit_stops_deep_nesting) {
    std::string deep;
    for (int i = 0; i < 129; ++i)
        deep += "*1\r\n";
    deep += ":1\r\n";
    EXPECT_NE(parse_error(deep).find("nested deeper than 128"), std::string::npos);
    EXPECT_EQ(parse_error(deep.substr(4)), "");
}

TEST(resp_parser, aggregate_count_over_the_limit_is_an_error) {
    parser_limits limits;
    limits.max_aggregate_size = 4;
    EXPECT_EQ(parse_one("*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n", limits).elements.size(), 4u);
    EXPECT_NE(parse_error("*5\r\n", limits).find("exceeds the parser limit"), std::string::npos);
    EXPECT_NE(parse_error("%5\r\n", limits), "");
    EXPECT_NE(parse_error("~5\r\n", limits), "");
    EXPECT_NE(parse_error(">5\r\n", limits), "");
    EXPECT_NE(parse_error("|5\r\n", limits), "");
}

TEST(resp_parser, huge_declared_array_count_with_few_bytes_does_not_allocate_much) {
    // 2^26 elements declared (the default limit) at every level of a 100-deep nest, with no
    // element behind them: only a small reservation per level may be made.
    std::string stream;
    for (int i = 0; i < 100; ++i)
        stream += "*67108864\r\n";
    resp_parser p;
    std::size_t consumed = 0;
    g_allocated_bytes = 0;
    g_largest_allocation = 0;
    g_counting = true;
    auto const st = p.parse(stream, consumed);
    p.reset();
    g_counting = false;
    EXPECT_EQ(st, parse_status::need_more);
    EXPECT_EQ(consumed, stream.size());
    EXPECT_LE(g_largest_allocation.load(), 1024 * sizeof(value));
    EXPECT_LE(g_allocated_bytes.load(), 100 * 1024 * sizeof(value) + 64 * 1024);
}

TEST(resp_parser, attributes_piling_up_before_one_value_are_bounded) {
    parser_limits limits;
    limits.max_aggregate_size = 2; // attributes waiting for one value: at most 2 pairs' worth x2
    std::string const attr = "|1\r\n+a\r\n+b\r\n";
    EXPECT_EQ(parse_one(attr + attr + ":1\r\n", limits).attributes.size(), 4u);
    EXPECT_NE(parse_error(attr + attr + attr + ":1\r\n", limits).find("too many attributes"),
              std::string::npos);
}

TEST(resp_parser, declared_count_is_honoured_beyond_the_initial_reservation) {
    std::string stream = "*3000\r\n";
    for (int i = 0; i < 3000; ++i)
        stream += ":" + std::to_string(i) + "\r\n";
    value v = parse_one(stream);
    ASSERT_EQ(v.elements.size(), 3000u);
    EXPECT_EQ(v.elements[2999].integer, 2999);
}

// ---- error persistence and reset -------------------------------------------------------------

TEST(resp_parser, after_an_error_parse_keeps_failing_until_reset) {
    resp_parser p;
    std::size_t consumed = 0;
    ASSERT_EQ(p.parse("?\r\n", consumed), parse_status::error);
    std::string const message(p.error_message());
    EXPECT_FALSE(message.empty());
    EXPECT_EQ(p.parse("+OK\r\n", consumed), parse_status::error);
    EXPECT_EQ(consumed, 0u);
    EXPECT_EQ(p.error_message(), message);
    p.reset();
    EXPECT_TRUE(p.error_message().empty());
    EXPECT_EQ(p.parse("+OK\r\n", consumed), parse_status::done);
    EXPECT_EQ(p.take().str, "OK");
}

TEST(resp_parser, reset_forgets_a_partial_value_and_pending_attributes) {
    resp_parser p;
    std::size_t consumed = 0;
    ASSERT_EQ(p.parse("|1\r\n+a\r\n+b\r\n*2\r\n:1\r\n", consumed), parse_status::need_more);
    p.reset();
    ASSERT_EQ(p.parse(":5\r\n", consumed), parse_status::done);
    value v = p.take();
    EXPECT_EQ(to_debug_string(v), "(integer) 5");
}

TEST(resp_parser, error_in_a_nested_element_discards_the_partial_aggregate) {
    resp_parser p;
    std::size_t consumed = 0;
    ASSERT_EQ(p.parse("*2\r\n:1\r\n", consumed), parse_status::need_more);
    ASSERT_EQ(p.parse(":x\r\n", consumed), parse_status::error);
    p.reset();
    ASSERT_EQ(p.parse(":2\r\n", consumed), parse_status::done);
    EXPECT_EQ(to_debug_string(p.take()), "(integer) 2");
}

// ---- value helpers ---------------------------------------------------------------------------

TEST(resp_value, as_string_gives_the_text_of_string_like_kinds) {
    EXPECT_EQ(parse_one("+OK\r\n").as_string(), "OK");
    EXPECT_EQ(parse_one("$3\r\nabc\r\n").as_string(), "abc");
    EXPECT_EQ(parse_one("=7\r\ntxt:abc\r\n").as_string(), "abc");
    EXPECT_EQ(parse_one("(123\r\n").as_string(), "123");
    EXPECT_EQ(parse_one("-ERR x\r\n").as_string(), "ERR x");
    EXPECT_EQ(parse_one("!5\r\nERR y\r\n").as_string(), "ERR y");
    EXPECT_EQ(parse_one(":1\r\n").as_string(), std::nullopt);
    EXPECT_EQ(parse_one("_\r\n").as_string(), std::nullopt);
    EXPECT_EQ(parse_one("*0\r\n").as_string(), std::nullopt);
    EXPECT_EQ(parse_one(",1.5\r\n").as_string(), std::nullopt);
}

TEST(resp_value, as_integer_accepts_integers_and_decimal_strings) {
    EXPECT_EQ(parse_one(":-5\r\n").as_integer(), -5);
    EXPECT_EQ(parse_one("$2\r\n42\r\n").as_integer(), 42);
    EXPECT_EQ(parse_one("+-7\r\n").as_integer(), -7);
    EXPECT_EQ(parse_one("$20\r\n-9223372036854775808\r\n").as_integer(),
              std::numeric_limits<std::int64_t>::min());
}

TEST(resp_value, as_integer_rejects_what_is_not_a_base_10_int64) {
    EXPECT_EQ(parse_one("$0\r\n\r\n").as_integer(), std::nullopt);
    EXPECT_EQ(parse_one("$3\r\nabc\r\n").as_integer(), std::nullopt);
    EXPECT_EQ(parse_one("$2\r\n+1\r\n").as_integer(), std::nullopt);
    EXPECT_EQ(parse_one("$3\r\n 12\r\n").as_integer(), std::nullopt);
    EXPECT_EQ(parse_one("$3\r\n12 \r\n").as_integer(), std::nullopt);
    EXPECT_EQ(parse_one("$19\r\n9223372036854775808\r\n").as_integer(), std::nullopt);
    EXPECT_EQ(parse_one(",1\r\n").as_integer(), std::nullopt);
    EXPECT_EQ(parse_one("_\r\n").as_integer(), std::nullopt);
    EXPECT_EQ(parse_one("-1\r\n").as_integer(), std::nullopt); // an error is not a number
}

TEST(resp_value, debug_string_renders_each_kind) {
    EXPECT_EQ(to_debug_string(parse_one("$4\r\nbulk\r\n")), "\"bulk\"");
    EXPECT_EQ(to_debug_string(parse_one(":3\r\n")), "(integer) 3");
    EXPECT_EQ(to_debug_string(parse_one("*2\r\n+1\r\n+2\r\n")), "[1, 2]");
    EXPECT_EQ(to_debug_string(parse_one("%1\r\n+k\r\n+v\r\n")), "{k: v}");
    EXPECT_EQ(to_debug_string(parse_one("-ERR bad\r\n")), "(error) ERR bad");
    EXPECT_EQ(to_debug_string(parse_one("$-1\r\n")), "(nil)");
    EXPECT_EQ(to_debug_string(parse_one(",-inf\r\n")), "(double) -inf");
    EXPECT_EQ(to_debug_string(parse_one("#t\r\n")), "(true)");
    EXPECT_EQ(to_debug_string(parse_one("#f\r\n")), "(false)");
    EXPECT_EQ(to_debug_string(parse_one("!3\r\nERR\r\n")), "(blob error) ERR");
    EXPECT_EQ(to_debug_string(parse_one("=6\r\ntxt:ab\r\n")), "(verbatim txt) \"ab\"");
    EXPECT_EQ(to_debug_string(parse_one("(12\r\n")), "(big number) 12");
    EXPECT_EQ(to_debug_string(parse_one("~1\r\n+a\r\n")), "~[a]");
    EXPECT_EQ(to_debug_string(parse_one(">1\r\n+a\r\n")), ">[a]");
}

TEST(resp_value, debug_string_escapes_binary_bytes) {
    std::string const payload("a\"\\\r\n\t\0\x7f", 8);
    EXPECT_EQ(to_debug_string(parse_one("$8\r\n" + payload + "\r\n")),
              "\"a\\\"\\\\\\r\\n\\t\\x00\\x7f\"");
}

TEST(resp_value, debug_string_of_hand_built_values_does_not_need_the_sent_text) {
    value d;
    d.type = resp_type::double_type;
    d.number = 2.5;
    EXPECT_EQ(to_debug_string(d), "(double) 2.5");
    value m;
    m.type = resp_type::map;
    m.elements.resize(1); // an unpaired key
    EXPECT_EQ(to_debug_string(m), "{(nil)}");
}

TEST(resp_value, debug_string_of_a_hand_built_attribute_shows_its_pairs) {
    value a;
    a.type = resp_type::attribute;
    a.elements.resize(2);
    a.elements[0].type = resp_type::simple_string;
    a.elements[0].str = "k";
    EXPECT_EQ(to_debug_string(a), "|{k: (nil)}|");
}

TEST(resp_value, every_type_has_a_distinct_name) {
    std::set<std::string_view> names;
    for (int t = static_cast<int>(resp_type::simple_string); t <= static_cast<int>(resp_type::push);
         ++t)
        EXPECT_TRUE(names.insert(to_string(static_cast<resp_type>(t))).second);
    EXPECT_EQ(names.count("unknown"), 0u);
}

TEST(resp_value, type_names_are_readable) {
    EXPECT_EQ(to_string(resp_type::bulk_string), "bulk_string");
    EXPECT_EQ(to_string(resp_type::double_type), "double");
    EXPECT_EQ(to_string(resp_type::attribute), "attribute");
    EXPECT_EQ(to_string(resp_type::push), "push");
}

TEST(resp_value, equality_compares_the_whole_tree) {
    EXPECT_EQ(parse_one("*2\r\n:1\r\n+a\r\n"), parse_one("*2\r\n:1\r\n+a\r\n"));
    EXPECT_NE(parse_one("*2\r\n:1\r\n+a\r\n"), parse_one("*2\r\n:1\r\n$1\r\na\r\n"));
    EXPECT_NE(parse_one("|1\r\n+a\r\n+b\r\n:1\r\n"), parse_one(":1\r\n"));
}

} // namespace
} // namespace mcpd::redis
