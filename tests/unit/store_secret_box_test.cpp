// tests/unit/store_secret_box_test.cpp — secrets at rest: @mcp-ts/sdk's test vector, its key
// rules, and our strictness (wrong key, tampering, missing key and bad hex are errors).
#include "mcpd/store/error.hpp"
#include "mcpd/store/secret_box.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

using namespace mcpd;
using namespace mcpd::store;
namespace json = boost::json;

namespace {

constexpr char const* hex_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

secret_box box_of(std::string_view key) {
    return secret_box::from_key_text(key).value();
}

} // namespace

TEST(secret_box, matches_the_reference_test_vector) {
    // From docs/mcp-ts-compat.md: computed with Node's crypto and @mcp-ts/sdk's own code.
    secret_box::iv_bytes iv{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    auto tokens = json::parse(R"({"access_token":"abc","token_type":"Bearer"})");
    EXPECT_EQ(box_of(hex_key).seal(tokens, iv),
              "enc:1:000102030405060708090a0b:622e4119e1cab5f73e19569c5ea82ad2:"
              "6d3ad455232cbec5964f009754bb46154c54c51dd92859eb564924a27b96534787e68f48a08ab055ff2"
              "4c4fc");
    auto opened = box_of(hex_key).open(
        "enc:1:000102030405060708090a0b:622e4119e1cab5f73e19569c5ea82ad2:"
        "6d3ad455232cbec5964f009754bb46154c54c51dd92859eb564924a27b96534787e68f48a08ab055ff24c4fc");
    ASSERT_TRUE(opened) << opened.error().message();
    EXPECT_EQ(*opened, tokens);
}

TEST(secret_box, a_passphrase_is_its_utf8_bytes_zero_padded_like_the_reference) {
    // "correct horse" → 636f727265637420686f727365 then 19 zero bytes.
    auto padded = std::string("636f727265637420686f727365") + std::string(38, '0');
    auto value = json::parse(R"({"x":1})");
    secret_box::iv_bytes iv{};
    EXPECT_EQ(box_of("correct horse").seal(value, iv), box_of(padded).seal(value, iv));
    // Longer than 32 bytes: cut at 32.
    EXPECT_EQ(box_of(std::string(40, 'k')).seal(value, iv),
              box_of(std::string(32, 'k')).seal(value, iv));
}

TEST(secret_box, sealing_uses_a_fresh_iv_and_round_trips) {
    auto box = box_of(hex_key);
    auto v = json::parse(R"({"client_id":"c","client_secret":"s"})");
    auto a = box.seal(v);
    auto b = box.seal(v);
    EXPECT_NE(a, b);
    EXPECT_EQ(box.open(a).value(), v);
    EXPECT_EQ(box.open(b).value(), v);
}

TEST(secret_box, wrong_keys_tampering_and_bad_input_are_errors) {
    auto sealed = box_of(hex_key).seal(json::parse(R"({"t":1})"));
    auto other = box_of(std::string(64, 'a'));
    EXPECT_EQ(other.open(sealed).error().code, store_errc::decrypt_failed);
    auto tampered = sealed;
    tampered.back() = tampered.back() == '0' ? '1' : '0';
    EXPECT_EQ(box_of(hex_key).open(tampered).error().code, store_errc::decrypt_failed);
    EXPECT_FALSE(box_of(hex_key).open("enc:1:zz:yy:xx"));
    EXPECT_FALSE(box_of(hex_key).open("enc:1:00:11"));
    EXPECT_FALSE(box_of(hex_key).open("plain"));
    EXPECT_FALSE(secret_box::from_key_text(std::string(64, 'g'))); // 64 characters, not hex
    EXPECT_FALSE(secret_box::from_key_text(""));
}

TEST(secret_box, records_seal_their_secret_fields_and_open_back) {
    auto box = box_of(hex_key);
    auto record = json::parse(R"({"sessionId":"s","identity":"u","headers":{"A":"b"},
        "tokens":{"access_token":"t"},"clientInformation":{"client_id":"c"},"serverUrl":"x",
        "codeVerifier":"v"})")
                      .as_object();
    auto original = record;
    seal_record(record, box);
    for (auto field : secret_fields)
        EXPECT_TRUE(secret_box::is_sealed(record.at(field))) << field;
    EXPECT_EQ(record.at("serverUrl"), "x");
    seal_record(record, box); // sealing twice does not double-seal
    ASSERT_TRUE(open_record(record, &box));
    EXPECT_EQ(record, original);

    // Plain records (written without a key) open as they are.
    auto plain = original;
    ASSERT_TRUE(open_record(plain, nullptr));
    EXPECT_EQ(plain, original);

    // A sealed record without a key: an error, not a ciphertext where an object belongs.
    seal_record(record, box);
    auto no_key = open_record(record, nullptr);
    ASSERT_FALSE(no_key);
    EXPECT_EQ(no_key.error().code, store_errc::decrypt_failed);
}
