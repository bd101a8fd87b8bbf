// client/error.cpp — the client's error categories. See error.hpp.
#include "client/error.hpp"

#include "protocol/jsonrpc.hpp"

#include <boost/json/serialize.hpp>

namespace mcpd::client {

namespace {

// error_category's destructor is protected and non-virtual by design (as in store/).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

class client_category_impl final : public boost::system::error_category {
public:
    char const* name() const noexcept override { return "mcpd.client"; }
    std::string message(int ev) const override {
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
        return "unknown MCP client error";
    }
};

class rpc_category_impl final : public boost::system::error_category {
public:
    char const* name() const noexcept override { return "mcpd.jsonrpc"; }
    std::string message(int ev) const override {
        namespace code = protocol::code;
        switch (ev) {
        case code::parse_error:
            return "JSON-RPC parse error";
        case code::invalid_request:
            return "JSON-RPC invalid request";
        case code::method_not_found:
            return "method not found";
        case code::invalid_params:
            return "invalid params";
        case code::internal_error:
            return "internal error";
        case code::connection_closed:
            return "connection closed";
        case code::request_timeout:
            return "request timeout";
        case code::resource_not_found:
            return "resource not found";
        case code::url_elicitation_required:
            return "URL elicitation required";
        default:
            return "JSON-RPC error " + std::to_string(ev);
        }
    }
};

#pragma GCC diagnostic pop

} // namespace

boost::system::error_category const& client_category() noexcept {
    static client_category_impl const c;
    return c;
}

boost::system::error_category const& rpc_category() noexcept {
    static rpc_category_impl const c;
    return c;
}

error rpc_error(int code, std::string message, boost::json::value const& data) {
    if (code == 0) // an error code of 0 would read as success
        code = protocol::code::internal_error;
    if (!data.is_null())
        message += " (data: " + boost::json::serialize(data) + ")";
    return error{boost::system::error_code(code, rpc_category()), std::move(message)};
}

int rpc_code_of(error const& e) noexcept {
    return e.code.category() == rpc_category() ? e.code.value() : 0;
}

} // namespace mcpd::client
