// core/random.hpp — randomness, in two strengths.
//
// Secret or guessable-by-attackers values (session ids, lock tokens, OAuth state, PKCE) come
// from the kernel CSPRNG (getrandom). Jitter and sampling use a fast per-thread generator that
// is seeded from the CSPRNG but must never be used for anything an attacker could exploit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace mcpd {

// Fills `out` from the kernel CSPRNG. Aborts the process if the kernel refuses (it does not
// on Linux ≥ 3.17 once the pool is initialised): running on without entropy is never right.
void fill_random(std::span<std::byte> out);

// `bytes` random bytes as lowercase hex (2 × bytes characters). Lock tokens, request ids.
std::string random_hex(std::size_t bytes);

// An identifier of `length` characters: a letter first, then [A-Za-z0-9], uniform, from the
// CSPRNG (rejection sampling, no modulo bias).
std::string random_alnum_id(std::size_t length);

// Fast, non-cryptographic: uniform in [0, 1). Per thread; for jitter and sampling only.
double fast_uniform01() noexcept;

} // namespace mcpd
