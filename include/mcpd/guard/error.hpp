// guard/error.hpp — the guard layer's errors. A guard's refusal at call time (rate limited, lock
// busy) is a tool error the client reads, not one of these; these are for the code that sets
// guards up.
#pragma once

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace mcpd::guard {

enum class errc {
    invalid_spec = 1, // a guard specification that cannot work (the detail names it and why)
};
boost::system::error_category const& guard_category() noexcept;
inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), guard_category()};
}

} // namespace mcpd::guard

template <>
struct boost::system::is_error_code_enum<mcpd::guard::errc> : std::true_type {};
