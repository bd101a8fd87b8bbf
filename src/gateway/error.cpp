// gateway/error.cpp — the gateway's error category. See error.hpp.
#include "mcpd/gateway/error.hpp"

#include "core/error_category.hpp"

#include <string>

namespace mcpd::gateway {

namespace {

std::string gateway_message(int ev) {
    switch (static_cast<errc>(ev)) {
    case errc::invalid_params:
        return "invalid parameters";
    case errc::session_not_found:
        return "session not found";
    case errc::duplicate_connection:
        return "connection already exists";
    case errc::auth_required:
        return "OAuth authorization required";
    case errc::auth_failed:
        return "OAuth failed";
    case errc::connect_failed:
        return "connection failed";
    case errc::not_connected:
        return "not connected";
    case errc::limit_reached:
        return "limit reached";
    }
    return {};
}

} // namespace

boost::system::error_category const& gateway_category() noexcept {
    static auto const& c = declare_category("mcpd.gateway", gateway_message);
    return c;
}

} // namespace mcpd::gateway
