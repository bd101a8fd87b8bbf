// gateway/token.cpp — per-identity gateway tokens and the fan-out's seal. See token.hpp.
#include "mcpd/gateway/token.hpp"

#include "core/hex.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>

namespace mcpd::gateway {

namespace {

std::string hmac_sha256_hex(std::string_view key, std::string_view text) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<unsigned char const*>(text.data()), text.size(), mac, &len);
    return to_hex(std::span<std::uint8_t const>(mac, len));
}

} // namespace

bool same_secret(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
    return diff == 0 && !b.empty();
}

std::string mint_identity_token(std::string_view secret, std::string_view identity,
                                std::int64_t expiry_unix) {
    auto expiry = std::to_string(expiry_unix);
    std::string signed_text(identity);
    signed_text += '.';
    signed_text += expiry;
    return "v1." + expiry + "." + hmac_sha256_hex(secret, signed_text);
}

bool verify_identity_token(std::string_view secret, std::string_view identity,
                           std::string_view token, std::int64_t now_unix) {
    if (secret.empty() || !token.starts_with("v1."))
        return false;
    auto rest = token.substr(3);
    auto dot = rest.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot > 19)
        return false;
    auto expiry_text = rest.substr(0, dot);
    std::int64_t expiry = 0;
    auto [end, ec] = std::from_chars(expiry_text.data(), expiry_text.data() + dot, expiry);
    if (ec != std::errc() || end != expiry_text.data() + dot || expiry <= now_unix)
        return false;
    // Recomputed from the parsed expiry: "0042" and "42" are not the same token.
    auto expected = mint_identity_token(secret, identity, expiry);
    return same_secret(token, expected);
}

std::string fanout_seal(std::string_view secret, std::string_view message) {
    // Its own key: a fan-out seal is never a valid identity token, nor the other way round.
    auto key = hmac_sha256_hex(secret, "mcpd gateway fan-out v1");
    return hmac_sha256_hex(key, message);
}

} // namespace mcpd::gateway
