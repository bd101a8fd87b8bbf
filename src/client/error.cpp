// client/error.cpp — the client's error categories (core/error_category.hpp). See error.hpp.
#include "mcpd/client/error.hpp"

#include "core/error_category.hpp"

namespace mcpd::client {

namespace {

std::string client_message(int ev) {
    switch (static_cast<errc>(ev)) {
    case errc::not_connected:
        return "the MCP session is not open";
    case errc::closed:
        return "the MCP session was closed";
    case errc::connection_lost:
        return "the connection to the MCP server was lost";
    case errc::session_expired:
        return "the MCP server no longer knows this session";
    case errc::timeout:
        return "the MCP server did not answer in time";
    case errc::cancelled:
        return "the request was cancelled";
    case errc::unsupported_protocol_version:
        return "the MCP server speaks a protocol revision this client does not support";
    case errc::invalid_response:
        return "the MCP server sent an invalid answer";
    case errc::transport_unavailable:
        return "no MCP transport works at this URL";
    }
    return {};
}

std::string oauth_message(int ev) {
    switch (static_cast<oauth::errc>(ev)) {
    case oauth::errc::discovery_failed:
        return "OAuth discovery failed";
    case oauth::errc::pkce_unsupported:
        return "authorization server does not support PKCE S256";
    case oauth::errc::resource_mismatch:
        return "protected resource metadata names another resource";
    case oauth::errc::registration_failed:
        return "OAuth client registration failed";
    case oauth::errc::authorization_required:
        return "user authorization required";
    case oauth::errc::invalid_state:
        return "invalid OAuth state";
    case oauth::errc::token_request_failed:
        return "token request failed";
    case oauth::errc::invalid_grant:
        return "authorization grant no longer valid";
    case oauth::errc::invalid_token_response:
        return "invalid token response";
    case oauth::errc::invalid_record:
        return "session record unusable for OAuth";
    }
    return {};
}

} // namespace

boost::system::error_category const& client_category() noexcept {
    static auto const& c = declare_category("mcpd.client", client_message);
    return c;
}

boost::system::error_category const& oauth::oauth_category() noexcept {
    static auto const& c = declare_category("mcpd.client.oauth", oauth_message);
    return c;
}

} // namespace mcpd::client
