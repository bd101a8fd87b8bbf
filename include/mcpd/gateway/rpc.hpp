// gateway/rpc.hpp — the browser's RPC: `{id, method, params}` in, `{id, result}` or
// `{id, error: {code, message}}` out, as @mcp-ts/sdk's SSEConnectionManager.handleRequest answers
// (methods getSessions, connect, disconnect, listTools, callTool, restoreSession, finishAuth,
// listPrompts, getPrompt, listResources, readResource; plus restoreSessions, mcpd's, which
// restores every active session of the identity at once).
//
// Error codes are the reference's RpcErrorCodes: INVALID_PARAMS (a parameter missing or of the
// wrong type), UNKNOWN_METHOD, EXECUTION_ERROR (everything the call itself ran into); the
// message is what the user should read.
#pragma once

#include "mcpd/gateway/events.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <string>

namespace mcpd::gateway {

class manager;

// `request` as parsed from the POST body (anything: a non-object is an INVALID_PARAMS answer).
boost::asio::awaitable<boost::json::object> handle_rpc(manager& m, std::string identity,
                                                       boost::json::value const& request,
                                                       event_sink also = {});

} // namespace mcpd::gateway
