// core/error.cpp — formatting and throwing mcpd::error.
#include "mcpd/core/error.hpp"

namespace mcpd {

std::string error::message() const {
    if (detail.empty())
        return code.message();
    if (!code)
        return detail;
    return detail + ": " + code.message();
}

exception::exception(error e)
    : std::runtime_error(e.message())
    , err_(std::move(e)) {}

void throw_exception_from_error(error const& e, boost::source_location const&) {
    throw exception(e);
}

} // namespace mcpd
