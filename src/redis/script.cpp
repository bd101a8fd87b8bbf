// redis/script.cpp — script digests with OpenSSL's SHA1.
#include "mcpd/redis/script.hpp"

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

namespace mcpd::redis {

std::string sha1_hex(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &len, EVP_sha1(), nullptr) != 1)
        throw std::runtime_error("EVP_Digest(SHA1) failed");
    static constexpr char hex[] = "0123456789abcdef";
    std::string out(std::size_t{2} * len, '\0');
    for (std::size_t i = 0; i < len; ++i) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0xF];
    }
    return out;
}

script::script(std::string body)
    : body_(std::move(body))
    , sha1_(sha1_hex(body_)) {}

} // namespace mcpd::redis
