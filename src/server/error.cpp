// server/error.cpp — the server layer's error category. See error.hpp.
#include "mcpd/server/error.hpp"

#include "core/error_category.hpp"

#include <string>

namespace mcpd::server {

namespace {

std::string client_request_message(int ev) {
    switch (static_cast<client_errc>(ev)) {
    case client_errc::capability_missing:
        return "the client did not declare the capability this request needs";
    case client_errc::timeout:
        return "the client did not answer in time";
    case client_errc::peer_error:
        return "the client answered with an error";
    case client_errc::channel_closed:
        return "the request's channel to the client closed";
    case client_errc::stateless:
        return "a stateless request cannot send requests to the client";
    case client_errc::limit_reached:
        return "too many requests to the client await answers";
    }
    return {};
}

} // namespace

boost::system::error_category const& client_category() noexcept {
    static auto const& c = declare_category("mcpd.server.client_request", client_request_message);
    return c;
}

} // namespace mcpd::server
