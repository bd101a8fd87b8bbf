// store/secret_box.cpp — AES-256-GCM sealing with OpenSSL's EVP interface.
#include "mcpd/store/secret_box.hpp"

#include "core/hex.hpp"

#include "core/json_finite.hpp"
#include "core/random.hpp"
#include "mcpd/store/error.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/system/errc.hpp>

#include <openssl/evp.h>

#include <memory>

namespace mcpd::store {

namespace json = boost::json;

namespace {

constexpr std::string_view prefix = "enc:1:";

using cipher_ctx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

error decrypt_error(std::string why) {
    return error(store_errc::decrypt_failed, std::move(why));
}

} // namespace

result<secret_box> secret_box::from_key_text(std::string_view text) {
    key_bytes key{};
    if (text.size() == 64) {
        auto raw = from_hex(text);
        if (!raw)
            return error(make_error_code(boost::system::errc::invalid_argument),
                         "STORAGE_ENCRYPTION_KEY has 64 characters but is not hex");
        std::copy(raw->begin(), raw->end(), key.begin());
        return secret_box(key);
    }
    if (text.empty())
        return error(make_error_code(boost::system::errc::invalid_argument),
                     "STORAGE_ENCRYPTION_KEY is empty");
    // As @mcp-ts/sdk: the UTF-8 bytes, cut at 32 (never in the middle of a character) or
    // zero-padded.
    std::size_t n = std::min<std::size_t>(text.size(), key.size());
    while (n < text.size() && n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80)
        --n;
    std::copy_n(text.begin(), n, key.begin());
    return secret_box(key);
}

std::string secret_box::seal(json::value const& v) const {
    iv_bytes iv{};
    fill_random(std::as_writable_bytes(std::span(iv)));
    return seal(v, iv);
}

std::string secret_box::seal(json::value const& v, iv_bytes const& iv) const {
    std::string plain = json::serialize(v);
    cipher_ctx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
    std::string cipher(plain.size(), '\0');
    std::array<std::uint8_t, 16> tag{};
    int len = 0;
    int ok = ctx &&
             EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), iv.data()) == 1;
    ok = ok && EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(cipher.data()), &len,
                                 reinterpret_cast<unsigned char const*>(plain.data()),
                                 static_cast<int>(plain.size())) == 1;
    int tail = 0;
    ok = ok && EVP_EncryptFinal_ex(ctx.get(), nullptr, &tail) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, tag.data()) == 1;
    if (!ok)
        throw std::runtime_error("AES-256-GCM encryption failed"); // OpenSSL out of memory
    return std::string(prefix) + to_hex(iv) + ":" + to_hex(tag) + ":" + to_hex(cipher);
}

bool secret_box::is_sealed(json::value const& v) noexcept {
    return v.is_string() && is_sealed(std::string_view(v.get_string()));
}

bool secret_box::is_sealed(std::string_view text) noexcept {
    return text.starts_with(prefix);
}

result<json::value> secret_box::open(std::string_view sealed) const {
    if (!sealed.starts_with(prefix))
        return decrypt_error("not an enc:1 value");
    sealed.remove_prefix(prefix.size());
    auto c1 = sealed.find(':');
    auto c2 = c1 == std::string_view::npos ? c1 : sealed.find(':', c1 + 1);
    if (c2 == std::string_view::npos || sealed.find(':', c2 + 1) != std::string_view::npos)
        return decrypt_error("malformed enc:1 value");
    auto iv_raw = from_hex(sealed.substr(0, c1));
    auto tag_raw = from_hex(sealed.substr(c1 + 1, c2 - c1 - 1));
    auto cipher_raw = from_hex(sealed.substr(c2 + 1));
    if (!iv_raw || !tag_raw || !cipher_raw || iv_raw->size() != 12 || tag_raw->size() != 16)
        return decrypt_error("malformed enc:1 value");
    auto const& iv = *iv_raw;
    auto& tag = *tag_raw;
    auto const& cipher = *cipher_raw;
    cipher_ctx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
    std::string plain(cipher.size(), '\0');
    int len = 0;
    int tail = 0;
    bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(),
                                        reinterpret_cast<unsigned char const*>(iv.data())) == 1;
    ok = ok && EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                                 reinterpret_cast<unsigned char const*>(cipher.data()),
                                 static_cast<int>(cipher.size())) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag.data()) == 1;
    ok = ok && EVP_DecryptFinal_ex(ctx.get(), nullptr, &tail) == 1;
    if (!ok)
        return decrypt_error("does not decrypt with STORAGE_ENCRYPTION_KEY (another key, or "
                             "tampered with)");
    boost::system::error_code ec;
    auto v = json::parse(plain, ec);
    if (ec || !all_numbers_finite(v))
        return decrypt_error("decrypted text is not JSON");
    return v;
}

void seal_record(json::object& record, secret_box const& box,
                 std::span<std::string_view const> fields) {
    for (auto field : fields)
        if (auto* v = record.if_contains(field); v && !v->is_null() && !secret_box::is_sealed(*v))
            *v = box.seal(*v);
}

result<void> open_record(json::object& record, secret_box const* box) {
    for (auto field : secret_fields) {
        auto* v = record.if_contains(field);
        if (!v || !secret_box::is_sealed(*v))
            continue;
        if (!box)
            return error(store_errc::decrypt_failed,
                         "field '" + std::string(field) +
                             "' is encrypted and STORAGE_ENCRYPTION_KEY is not set");
        auto opened = box->open(v->get_string());
        if (!opened) {
            // result::error() is a copy: build the error with the field's name in it.
            auto e = opened.error();
            e.detail = "field '" + std::string(field) + "' " + e.detail;
            return e;
        }
        *v = std::move(*opened);
    }
    return {};
}

} // namespace mcpd::store
