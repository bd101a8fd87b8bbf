// The one translation unit that compiles Boost.JSON.
#include <boost/json/src.hpp>

#include "core/json_finite.hpp"

#include <cmath>

namespace mcpd {

bool all_numbers_finite(boost::json::value const& v) noexcept {
    switch (v.kind()) {
    case boost::json::kind::double_:
        return std::isfinite(v.get_double());
    case boost::json::kind::array:
        for (auto const& e : v.get_array())
            if (!all_numbers_finite(e))
                return false;
        return true;
    case boost::json::kind::object:
        for (auto const& kv : v.get_object())
            if (!all_numbers_finite(kv.value()))
                return false;
        return true;
    default:
        return true;
    }
}

} // namespace mcpd
