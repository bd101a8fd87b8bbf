// Unit tests for src/core: duration parsing and formatting, the random identifiers and numbers,
// and mcpd::error / result<T> / mcpd::exception.
#include "core/ascii.hpp"
#include "core/boolean.hpp"
#include "core/hex.hpp"
#include "core/random.hpp"
#include "core/redact.hpp"
#include "mcpd/core/client_tally.hpp"
#include "mcpd/core/duration.hpp"
#include "mcpd/core/error.hpp"

#include <boost/system/errc.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using mcpd::duration;
using mcpd::format_duration;
using mcpd::parse_duration;

bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_letter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

TEST(core_duration, parse_accepts_a_number_with_a_unit) {
    std::vector<std::pair<std::string, duration>> const cases{
        {"250ms", 250ms}, {"0ms", 0ms},     {"5s", 5s},       {"1.5s", 1500ms},
        {"0.25s", 250ms}, {"1min", 1min},   {"1m", 1min},     {"90m", 90min},
        {"12h", 12h},     {"1.5h", 90min},  {"10000ms", 10s}, {"007s", 7s},
        {"0s", 0ms},      {"2.5min", 150s}, {"86400s", 24h},  {"1000000h", 1000000h},
    };
    for (auto const& [text, want] : cases) {
        auto got = parse_duration(text);
        ASSERT_TRUE(got.has_value()) << text << ": " << got.error().message();
        EXPECT_EQ(*got, want) << text;
    }
}

TEST(core_duration, parse_rejects_what_it_does_not_know) {
    for (std::string text :
         {"",    "30",   "s",     "ms",    "5 s",   " 5s",           "5s ", "-5s",
          "+5s", "5sec", "5S",    "5MS",   "1e3ms", "1.2.3s",        ".",   ".s",
          "5d",  "5us",  "1h30m", "inf s", "nans",  "1000000000000h"}) {
        auto got = parse_duration(text);
        ASSERT_FALSE(got.has_value()) << "'" << text << "' was accepted";
        EXPECT_EQ(got.error().code, make_error_code(boost::system::errc::invalid_argument));
        EXPECT_NE(got.error().detail.find("'" + text + "'"), std::string::npos)
            << got.error().detail;
    }
}

TEST(core_duration, parse_error_says_a_unit_is_needed) {
    auto got = parse_duration("30");
    ASSERT_FALSE(got.has_value());
    EXPECT_NE(got.error().detail.find("unit"), std::string::npos) << got.error().detail;
}

TEST(core_duration, format_picks_the_largest_exact_unit) {
    EXPECT_EQ(format_duration(1500ms), "1500ms");
    EXPECT_EQ(format_duration(5s), "5s");
    EXPECT_EQ(format_duration(90s), "90s");
    EXPECT_EQ(format_duration(1min), "1min");
    EXPECT_EQ(format_duration(150s), "150s");
    EXPECT_EQ(format_duration(1h), "1h");
    EXPECT_EQ(format_duration(2h), "2h");
    EXPECT_EQ(format_duration(0ms), "0ms");
    EXPECT_EQ(format_duration(1ms), "1ms");
}

TEST(core_duration, format_then_parse_round_trips) {
    for (auto d : {0ms, 1ms, 999ms, 1000ms, 1001ms, 59999ms, 60000ms, 3599999ms, 3600000ms,
                   duration(86'400'000), duration(123'456'789)}) {
        auto back = parse_duration(format_duration(d));
        ASSERT_TRUE(back.has_value()) << format_duration(d);
        EXPECT_EQ(*back, d);
    }
}

TEST(core_boolean, parse_bool_takes_every_spelling_in_any_case) {
    for (auto t : {"1", "true", "TRUE", "True", "yes", "Yes", "on", "ON"})
        EXPECT_EQ(mcpd::parse_bool(t), std::optional<bool>(true)) << t;
    for (auto f : {"0", "false", "False", "no", "NO", "off", "Off"})
        EXPECT_EQ(mcpd::parse_bool(f), std::optional<bool>(false)) << f;
    for (auto bad : {"", " on", "on ", "2", "y", "n", "truee", "of", "enabled"})
        EXPECT_EQ(mcpd::parse_bool(bad), std::nullopt) << '"' << bad << '"';
}

TEST(core_ascii, case_is_ignored_for_a_to_z_only) {
    EXPECT_EQ(mcpd::ascii_lower("Text/Event-STREAM 09_@[`{"), "text/event-stream 09_@[`{");
    EXPECT_TRUE(mcpd::iequals("Application/JSON", "application/json"));
    EXPECT_TRUE(mcpd::iequals("", ""));
    EXPECT_FALSE(mcpd::iequals("application/json", "application/jso"));
    EXPECT_FALSE(mcpd::iequals("@", "`")); // 0x40 and 0x60: not letters
    EXPECT_FALSE(mcpd::iequals("[", "{"));
    // Bytes above ASCII are compared as they are (no locale).
    EXPECT_FALSE(mcpd::iequals("\xc3\x89", "\xc3\xa9"));
    EXPECT_TRUE(mcpd::istarts_with("Bearer abc", "bearer "));
    EXPECT_FALSE(mcpd::istarts_with("Bear", "bearer "));
    static_assert(mcpd::iequals("MCP", "mcp"));
}

TEST(core_random, alnum_id_has_the_requested_length) {
    for (std::size_t n : {0u, 1u, 2u, 8u, 32u, 100u, 1000u})
        EXPECT_EQ(mcpd::random_alnum_id(n).size(), n);
}

TEST(core_random, alnum_id_starts_with_a_letter_and_uses_only_alphanumerics) {
    for (int i = 0; i < 2000; ++i) {
        auto id = mcpd::random_alnum_id(24);
        ASSERT_TRUE(is_letter(id.front())) << id;
        ASSERT_TRUE(std::all_of(id.begin(), id.end(), is_alnum)) << id;
    }
    for (int i = 0; i < 500; ++i)
        ASSERT_TRUE(is_letter(mcpd::random_alnum_id(1).front()));
}

TEST(core_random, alnum_ids_are_unique) {
    std::set<std::string> seen;
    for (int i = 0; i < 10000; ++i)
        seen.insert(mcpd::random_alnum_id(16));
    EXPECT_EQ(seen.size(), 10000u);
}

TEST(core_random, alnum_id_characters_are_roughly_uniform) {
    // 4000 ids × 63 characters after the first ≈ 252k draws over 62 symbols: ≈ 4064 each, with
    // a standard deviation near 63. ±20% is more than 12 deviations: it fails only on bias.
    std::map<char, int> rest;
    std::map<char, int> first;
    int const ids = 4000;
    for (int i = 0; i < ids; ++i) {
        auto id = mcpd::random_alnum_id(64);
        ++first[id[0]];
        for (std::size_t j = 1; j < id.size(); ++j)
            ++rest[id[j]];
    }
    ASSERT_EQ(rest.size(), 62u);
    double const expected = ids * 63.0 / 62.0;
    for (auto [c, n] : rest) {
        EXPECT_GT(n, expected * 0.8) << c;
        EXPECT_LT(n, expected * 1.2) << c;
    }
    // First characters: 52 letters, ≈ 77 each; all should appear, none dominate.
    EXPECT_EQ(first.size(), 52u);
    for (auto [c, n] : first) {
        EXPECT_TRUE(is_letter(c)) << c;
        EXPECT_LT(n, 200) << c;
    }
}

TEST(core_random, hex_has_two_lowercase_digits_per_byte) {
    for (std::size_t bytes : {0u, 1u, 16u, 32u, 100u}) {
        auto h = mcpd::random_hex(bytes);
        EXPECT_EQ(h.size(), 2 * bytes);
        EXPECT_TRUE(std::all_of(h.begin(), h.end(), [](char c) {
            return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        })) << h;
    }
}

TEST(core_random, hex_values_differ_and_use_every_digit) {
    std::set<std::string> seen;
    std::set<char> digits;
    for (int i = 0; i < 1000; ++i) {
        auto h = mcpd::random_hex(16);
        seen.insert(h);
        digits.insert(h.begin(), h.end());
    }
    EXPECT_EQ(seen.size(), 1000u);
    EXPECT_EQ(digits.size(), 16u);
}

TEST(core_random, fill_random_fills_the_buffer) {
    std::array<std::byte, 64> a{};
    std::array<std::byte, 64> b{};
    mcpd::fill_random(a);
    mcpd::fill_random(b);
    EXPECT_NE(a, b);
    EXPECT_TRUE(std::any_of(a.begin(), a.end(), [](std::byte x) { return x != std::byte{0}; }));
}

TEST(core_random, fast_uniform01_is_in_the_half_open_unit_interval) {
    double lo = 1;
    double hi = 0;
    double sum = 0;
    int const n = 200000;
    int low_tail = 0;
    int high_tail = 0;
    for (int i = 0; i < n; ++i) {
        double u = mcpd::fast_uniform01();
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
        lo = std::min(lo, u);
        hi = std::max(hi, u);
        sum += u;
        low_tail += u < 0.01;
        high_tail += u >= 0.99;
    }
    EXPECT_LT(lo, 0.001);
    EXPECT_GT(hi, 0.999);
    EXPECT_NEAR(sum / n, 0.5, 0.005);
    // About 1% of the draws in each tail: 2000 ± 45 (one standard deviation).
    EXPECT_GT(low_tail, 1500);
    EXPECT_LT(low_tail, 2500);
    EXPECT_GT(high_tail, 1500);
    EXPECT_LT(high_tail, 2500);
}

TEST(core_error, message_joins_detail_and_code_message) {
    auto code = make_error_code(boost::system::errc::invalid_argument);
    mcpd::error with_detail(code, "bad port '0'");
    EXPECT_EQ(with_detail.message(), "bad port '0': " + code.message());
    mcpd::error code_only(code);
    EXPECT_EQ(code_only.message(), code.message());
    mcpd::error detail_only({}, "just text");
    EXPECT_EQ(detail_only.message(), "just text");
}

TEST(core_error, error_compares_equal_to_its_code) {
    auto code = make_error_code(boost::system::errc::timed_out);
    mcpd::error e(code, "x");
    EXPECT_TRUE(e == code);
    EXPECT_FALSE(e == make_error_code(boost::system::errc::invalid_argument));
}

TEST(core_error, result_value_returns_the_value_on_success) {
    mcpd::result<int> r = 42;
    EXPECT_EQ(r.value(), 42);
}

TEST(core_error, result_value_throws_mcpd_exception_on_error) {
    auto code = make_error_code(boost::system::errc::permission_denied);
    mcpd::result<std::string> r = mcpd::error(code, "reading /etc/secret");
    try {
        (void)r.value();
        FAIL() << "value() did not throw";
    } catch (mcpd::exception const& ex) {
        EXPECT_EQ(ex.err().code, code);
        EXPECT_EQ(ex.err().detail, "reading /etc/secret");
        EXPECT_EQ(std::string(ex.what()), ex.err().message());
    }
}

TEST(core_error, exception_is_a_runtime_error) {
    mcpd::result<void> r = mcpd::error(make_error_code(boost::system::errc::io_error), "disk");
    EXPECT_THROW(r.value(), std::runtime_error);
}

} // namespace

TEST(Hex, RoundTripsAndRejectsWhatIsNotHex) {
    std::string bytes("\x00\x01\xab\xff", 4);
    EXPECT_EQ(mcpd::to_hex(bytes), "0001abff");
    EXPECT_EQ(mcpd::from_hex("0001ABff"), bytes);
    EXPECT_EQ(mcpd::from_hex(""), std::string());
    EXPECT_FALSE(mcpd::from_hex("abc"));
    EXPECT_FALSE(mcpd::from_hex("zz"));
    EXPECT_EQ(mcpd::random_hex(8).size(), 16u);
}

// --- redact ---------------------------------------------------------------------------------

TEST(core_redact, every_connection_string_form_loses_its_secrets_and_keeps_the_rest) {
    struct row {
        std::string_view in, out;
    };
    for (auto const& [in, out] : std::initializer_list<row>{
             {"redis://app:s3cret@cache:6379/2", "redis://app:***@cache:6379/2"},
             {"redis://:s3cret@cache", "redis://:***@cache"},
             {"rediss://cache?password=s3cret&db=2", "rediss://cache?password=***&db=2"},
             {"redis://cache?PASSWORD=s3cret", "redis://cache?PASSWORD=***"},
             {"unix:///run/redis.sock?username=u&password=s3cret",
              "unix:///run/redis.sock?username=u&password=***"},
             {"postgresql://u:s3cret@db:5432/app?sslmode=require&sslpassword=k3y",
              "postgresql://u:***@db:5432/app?sslmode=require&sslpassword=***"},
             {"https://api.example/mcp?api_key=abc&x=1#frag",
              "https://api.example/mcp?api_key=***&x=1#frag"},
             {"https://h/cb?client_secret=abc;access_token=def",
              "https://h/cb?client_secret=***;access_token=***"},
             {"host=db user=u password=s3cret dbname=app",
              "host=db user=u password=*** dbname=app"},
             {"host=db password='s3 cr\\'et' dbname=app", "host=db password=*** dbname=app"},
             {"password=s3cret", "password=***"},
             {"host = db  password = x port=5", "host = db  password = *** port=5"},
             {"redis://cache:6379", "redis://cache:6379"},
             {"postgresql://u@db/app", "postgresql://u@db/app"},
             {"", ""},
         }) {
        EXPECT_EQ(mcpd::redact(in), out) << in;
    }
}

TEST(core_redact, secret_names_include_suffixes_but_not_look_alikes) {
    for (auto name : {"password", "Passwd", "pwd", "secret", "client_secret", "access_token",
                      "api_key", "X-Api-Key", "apikey", "sslpassword", "token", "credential"})
        EXPECT_TRUE(mcpd::is_secret_name(name)) << name;
    for (auto name : {"user", "host", "db", "sslmode", "bypass", "oauth", "authority", "tokens_"})
        EXPECT_FALSE(mcpd::is_secret_name(name)) << name;
}

// --- client_tally -------------------------------------------------------------------------------

TEST(core_client_tally, counts_each_kind_per_client_up_to_its_limit) {
    using kind = mcpd::client_tally::kind;
    mcpd::client_tally t;
    EXPECT_TRUE(t.try_add("10.0.0.1", kind::connections, 2));
    EXPECT_TRUE(t.try_add("10.0.0.1", kind::connections, 2));
    EXPECT_FALSE(t.try_add("10.0.0.1", kind::connections, 2)) << "at its limit";
    EXPECT_TRUE(t.try_add("10.0.0.2", kind::connections, 2)) << "another client has its own";
    t.add("10.0.0.1", kind::sessions);
    EXPECT_EQ(t.held("10.0.0.1").connections, 2u);
    EXPECT_EQ(t.held("10.0.0.1").sessions, 1u);
    EXPECT_EQ(t.held("10.0.0.1").streams, 0u);
    EXPECT_EQ(t.total(kind::connections), 3u);
    t.remove("10.0.0.1", kind::connections);
    EXPECT_TRUE(t.try_add("10.0.0.1", kind::connections, 2)) << "room again after a remove";
    // Removing what is not held changes nothing.
    t.remove("10.0.0.3", kind::streams);
    t.remove("10.0.0.1", kind::streams);
    EXPECT_EQ(t.total(kind::streams), 0u);
    EXPECT_EQ(t.held("10.0.0.1").sessions, 1u);
    // A refusal counts nothing.
    EXPECT_FALSE(t.try_add("10.0.0.4", kind::streams, 0));
    EXPECT_EQ(t.held("10.0.0.4").streams, 0u);
    EXPECT_EQ(t.total(kind::streams), 0u);
}
