// guard/error.cpp — the guard layer's error category. See error.hpp.
#include "mcpd/guard/error.hpp"

#include "core/error_category.hpp"

#include <string>

namespace mcpd::guard {

namespace {

std::string guard_message(int ev) {
    switch (static_cast<errc>(ev)) {
    case errc::invalid_spec:
        return "invalid guard specification";
    }
    return {};
}

} // namespace

boost::system::error_category const& guard_category() noexcept {
    static auto const& c = declare_category("mcpd.guard", guard_message);
    return c;
}

} // namespace mcpd::guard
