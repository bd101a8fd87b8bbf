// http/error.cpp — the HTTP layer's error categories. See error.hpp.
#include "mcpd/http/error.hpp"

#include "core/error_category.hpp"

#include <boost/beast/http/status.hpp>

namespace mcpd::http {

namespace {

std::string client_message(int ev) {
    switch (static_cast<client_errc>(ev)) {
    case client_errc::invalid_url:
        return "not an absolute http(s) URL";
    case client_errc::unsupported_scheme:
        return "unsupported URL scheme (http and https only)";
    case client_errc::body_too_large:
        return "response body too large";
    case client_errc::aborted:
        return "request aborted";
    case client_errc::connection_closed:
        return "the server closed the connection before the response was complete";
    case client_errc::address_refused:
        return "the server's address is not allowed";
    }
    return {};
}

std::string request_message(int ev) {
    switch (static_cast<request_errc>(ev)) {
    case request_errc::missing_host:
        return "an HTTP/1.1 request needs a Host field";
    case request_errc::duplicate_host:
        return "more than one Host field";
    case request_errc::transfer_encoding_in_http10:
        return "Transfer-Encoding on an HTTP/1.0 request";
    case request_errc::bad_chunk_size:
        return "a chunk size must be hex digits from the start of its line";
    }
    return {};
}

std::string status_message(int ev) {
    auto reason = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(ev));
    return std::to_string(ev) + (reason.empty() ? "" : " " + std::string(reason));
}

} // namespace

boost::system::error_category const& client_category() noexcept {
    static auto const& c = declare_category("mcpd.http.client", client_message);
    return c;
}

boost::system::error_category const& request_category() noexcept {
    static auto const& c = declare_category("mcpd.http.request", request_message);
    return c;
}

boost::system::error_category const& status_category() noexcept {
    static auto const& c = declare_category("mcpd.http.status", status_message);
    return c;
}

boost::system::error_code status_error(unsigned status) noexcept {
    return {static_cast<int>(status), status_category()};
}

unsigned status_of(error const& e) noexcept {
    return e.code.category() == status_category() ? static_cast<unsigned>(e.code.value()) : 0;
}

} // namespace mcpd::http
