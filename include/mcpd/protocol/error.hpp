// protocol/error.hpp — JSON-RPC error codes as error_codes.
//
// A peer's JSON-RPC error (`{"code": -32602, "message": …}`) travels as an mcpd::error whose
// code is in rpc_category() with the JSON-RPC code as its value, and whose detail is the peer's
// message: callers branch on rpc_code_of(e) and people read e.message(). The codes a server
// sends are in jsonrpc.hpp (protocol::code).
#pragma once

#include "mcpd/core/error.hpp"

#include <boost/json/fwd.hpp>
#include <boost/system/error_code.hpp>

#include <string>

namespace mcpd::protocol {

boost::system::error_category const& rpc_category() noexcept;
// A peer's JSON-RPC error as an mcpd::error (`data`, when given and not null, is appended to the
// detail as JSON so that nothing the peer said is lost).
error rpc_error(int rpc_code, std::string text, boost::json::value const* data = nullptr);
// The JSON-RPC code an error carries, or 0 when it is not a JSON-RPC error.
int rpc_code_of(error const& e) noexcept;

} // namespace mcpd::protocol
