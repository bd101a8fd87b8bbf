// http/error.hpp — the HTTP layer's errors: requests the server refuses, its client's own
// failures, and HTTP statuses as error codes.
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

// What the server's request tokenizer refuses besides Beast's own codes (which it also uses:
// header_limit, body_limit, bad_field, …): each a 400 that names it.
enum class request_errc {
    missing_host = 1,            // an HTTP/1.1 request without a Host field
    duplicate_host,              // more than one Host field
    transfer_encoding_in_http10, // Transfer-Encoding on an HTTP/1.0 request
    bad_chunk_size,              // a chunk size that is not hex digits from its first byte
};
boost::system::error_category const& request_category() noexcept;
inline boost::system::error_code make_error_code(request_errc e) noexcept {
    return {static_cast<int>(e), request_category()};
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
template <>
struct boost::system::is_error_code_enum<mcpd::http::request_errc> : std::true_type {};
