// core/json_finite.hpp — the check every JSON read from outside passes before it is kept.
//
// Boost.JSON 1.81 reads a number too large for a double (1e400, 0e400) as an infinity or a NaN
// and writes it back as `Infinity` or `NaN`, which is not JSON: a document holding one is
// refused where it is read (a JSON-RPC body, a stored record, the gateway's RPC), so that
// nothing read from it can reach a peer, or storage, as invalid JSON.
#pragma once

#include <boost/json/fwd.hpp>

#include <string_view>

namespace mcpd {

// What an error says of such a document.
inline constexpr std::string_view number_out_of_range = "a number is too large for a double";

// Whether every number in `v` is finite. Recursion is bounded by the parser's max_depth.
[[nodiscard]] bool all_numbers_finite(boost::json::value const& v) noexcept;

} // namespace mcpd
