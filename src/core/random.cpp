// core/random.cpp — getrandom-backed secrets and a xoshiro256** generator for jitter.
#include "core/random.hpp"

#include "core/hex.hpp"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sys/random.h>

namespace mcpd {

void fill_random(std::span<std::byte> out) {
    std::size_t done = 0;
    while (done < out.size()) {
        ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            std::perror("mcpd: getrandom");
            std::abort();
        }
        done += static_cast<std::size_t>(n);
    }
}

std::string random_hex(std::size_t bytes) {
    std::string raw(bytes, '\0');
    fill_random(std::as_writable_bytes(std::span(raw)));
    return to_hex(raw);
}

std::string random_alnum_id(std::size_t length) {
    static constexpr std::string_view alnum =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::string out;
    out.reserve(length);
    std::array<unsigned char, 64> pool{};
    std::size_t used = pool.size();
    while (out.size() < length) {
        if (used == pool.size()) {
            fill_random(std::as_writable_bytes(std::span(pool)));
            used = 0;
        }
        unsigned char b = pool[used++];
        // First character: one of 52 letters; the rest: one of 62. Reject bytes past the
        // largest multiple of the alphabet size so every character is equally likely.
        std::size_t range = out.empty() ? 52 : 62;
        std::size_t limit = 256 - (256 % range);
        if (b >= limit)
            continue;
        out.push_back(alnum[b % range]);
    }
    return out;
}

namespace {

struct xoshiro256ss {
    std::array<std::uint64_t, 4> s{};
    xoshiro256ss() {
        do {
            fill_random(std::as_writable_bytes(std::span(s)));
        } while (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0);
    }
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::uint64_t next() {
        std::uint64_t result = rotl(s[1] * 5, 7) * 9;
        std::uint64_t t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
    }
};

} // namespace

double fast_uniform01() noexcept {
    thread_local xoshiro256ss gen;
    return static_cast<double>(gen.next() >> 11) * 0x1.0p-53;
}

} // namespace mcpd
