// store/secret_box.hpp — secrets at rest in @mcp-ts/sdk's format.
//
// A sealed value is the string "enc:1:<iv>:<tag>:<ciphertext>" (lowercase hex): AES-256-GCM, a
// 12-byte random IV, a 16-byte tag, no associated data, over the value's JSON text. The key comes
// from STORAGE_ENCRYPTION_KEY as the reference reads it: exactly 64 characters are hex; anything
// else is taken as UTF-8 bytes, cut or zero-padded to 32 (no key stretching: prefer 64 hex
// characters). Where the reference is lenient we are strict: a 64-character key that is not hex,
// and a value that does not decrypt (wrong key, tampered), are errors, never plaintext or the raw
// sealed string handed back as if it were the value.
#pragma once

#include "mcpd/core/error.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace mcpd::store {

class secret_box {
public:
    using key_bytes = std::array<std::uint8_t, 32>;
    using iv_bytes = std::array<std::uint8_t, 12>;

    static result<secret_box> from_key_text(std::string_view text);
    explicit secret_box(key_bytes key)
        : key_(key) {}

    // The sealed form of `v`'s JSON text, with a random IV (or the given one, for tests).
    [[nodiscard]] std::string seal(boost::json::value const& v) const;
    [[nodiscard]] std::string seal(boost::json::value const& v, iv_bytes const& iv) const;
    // The value inside a sealed string. Errors: not the enc:1 format, or it does not decrypt.
    [[nodiscard]] result<boost::json::value> open(std::string_view sealed) const;

    static bool is_sealed(boost::json::value const& v) noexcept;
    static bool is_sealed(std::string_view text) noexcept;

private:
    key_bytes key_;
};

// The record fields sealed at rest: headers, tokens, clientInformation.
inline constexpr std::array<std::string_view, 3> secret_fields = {"headers", "tokens",
                                                                  "clientInformation"};

// The fields @mcp-ts/sdk's Supabase backend seals (it leaves client_information plain): what
// mcpd seals on PostgreSQL, so a Node app on the same table reads every record mcpd writes.
inline constexpr std::array<std::string_view, 2> supabase_secret_fields = {"headers", "tokens"};

// Seals each non-null field of `fields` (default: secret_fields) in `record` that is not sealed
// already.
void seal_record(boost::json::object& record, secret_box const& box,
                 std::span<std::string_view const> fields = secret_fields);
// Opens each sealed secret field. With no box (no key configured), a sealed field is an error:
// the record must not be handed out with a ciphertext where an object belongs.
result<void> open_record(boost::json::object& record, secret_box const* box);

} // namespace mcpd::store
