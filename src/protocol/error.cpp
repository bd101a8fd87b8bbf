// protocol/error.cpp — the JSON-RPC error category. See error.hpp.
#include "mcpd/protocol/error.hpp"

#include "core/error_category.hpp"
#include "mcpd/protocol/jsonrpc.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace mcpd::protocol {

namespace {

std::string rpc_message(int ev) {
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

} // namespace

boost::system::error_category const& rpc_category() noexcept {
    static auto const& c = declare_category("mcpd.jsonrpc", rpc_message);
    return c;
}

error rpc_error(int rpc_code, std::string text, boost::json::value const* data) {
    if (rpc_code == 0) // an error code of 0 would read as success
        rpc_code = code::internal_error;
    if (data != nullptr && !data->is_null())
        text += " (data: " + boost::json::serialize(*data) + ")";
    return error{boost::system::error_code(rpc_code, rpc_category()), std::move(text)};
}

int rpc_code_of(error const& e) noexcept {
    return e.code.category() == rpc_category() ? e.code.value() : 0;
}

} // namespace mcpd::protocol
