// http/error.hpp — the HTTP layer's errors: its client's own failures, and HTTP statuses as
// error codes (core/error_category.hpp declares both categories).
#pragma once

#include "mcpd/core/error.hpp"

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace mcpd::http {

enum class client_errc {
    invalid_url = 1,    // not an absolute http(s) URL
    unsupported_scheme, // a scheme other than http and https
    body_too_large,     // the body went over max_body_bytes
    aborted,            // abort_handle::abort() or client_response::abort()
    connection_closed,  // the server closed the connection before the response was complete
    address_refused,    // every address the host resolved to was refused (refuse_address)
};
boost::system::error_category const& client_category() noexcept;
inline boost::system::error_code make_error_code(client_errc e) noexcept {
    return {static_cast<int>(e), client_category()};
}

// An HTTP status as an error code: its value is the status, its message the status line
// ("404 Not Found"), so callers branch on status_of(e) and humans read e.message().
boost::system::error_category const& status_category() noexcept;
boost::system::error_code status_error(unsigned status) noexcept;
// The status an error carries, or 0 when it is not an HTTP status.
unsigned status_of(error const& e) noexcept;

} // namespace mcpd::http

template <>
struct boost::system::is_error_code_enum<mcpd::http::client_errc> : std::true_type {};
