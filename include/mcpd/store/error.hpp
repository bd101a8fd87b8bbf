// store/error.hpp — errors of the session storage layer.
//
// A backend failure (Redis down, disk full, SQL error) keeps its own code (client_errc, errno,
// …) and travels as such: callers must never mistake it for "no such session".
#pragma once

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace mcpd::store {

enum class store_errc {
    session_exists = 1, // create_session: a record with that identity and id exists already
    session_not_found,  // update_session: no such (live) record
    invalid_identity,   // empty, over-long, or with control characters
    invalid_session_id, // empty, over-long, or with control characters or ':'
    invalid_record,     // not a JSON object, or a field of the wrong type
    corrupt_record,     // stored data that is not a JSON object
    conflict,           // update_session lost too many races in a row
    decrypt_failed,     // a sealed secret that does not open (another key, tampered, no key)
};

boost::system::error_category const& store_category() noexcept;

inline boost::system::error_code make_error_code(store_errc e) noexcept {
    return {static_cast<int>(e), store_category()};
}

// SQLite's result codes (SQLITE_BUSY, SQLITE_FULL, …) from the SQLite backend, with SQLite's
// own message for each. PostgreSQL's are in postgres_client.hpp.
boost::system::error_category const& sqlite_category() noexcept;

} // namespace mcpd::store

template <>
struct boost::system::is_error_code_enum<mcpd::store::store_errc> : std::true_type {};
