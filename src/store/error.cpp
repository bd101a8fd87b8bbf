// store/error.cpp — the storage layer's error category. See error.hpp.
#include "mcpd/store/error.hpp"

#include "core/error_category.hpp"

#include <string>

namespace mcpd::store {

namespace {

std::string store_message(int ev) {
    switch (static_cast<store_errc>(ev)) {
    case store_errc::session_exists:
        return "a session with this identity and id exists already";
    case store_errc::session_not_found:
        return "no such session";
    case store_errc::invalid_identity:
        return "invalid identity";
    case store_errc::invalid_session_id:
        return "invalid session id";
    case store_errc::invalid_record:
        return "invalid session record";
    case store_errc::corrupt_record:
        return "a stored session record is not a JSON object";
    case store_errc::conflict:
        return "the session kept changing under the update; try again";
    case store_errc::decrypt_failed:
        return "an encrypted session field cannot be decrypted";
    }
    return {};
}

} // namespace

boost::system::error_category const& store_category() noexcept {
    static auto const& c = declare_category("mcpd.store", store_message);
    return c;
}

} // namespace mcpd::store
