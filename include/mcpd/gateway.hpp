// mcpd/gateway.hpp — public entry point for embedding the MCP client gateway: the multi-session
// manager per identity (gateway/manager.hpp: connect, restore, OAuth callback, tools, prompts,
// resources, with records in a session store), the browser RPC on it (gateway/rpc.hpp), the
// /gateway HTTP endpoints with their access check and Redis fan-out (gateway/endpoint.hpp), the
// events and their shapes (gateway/events.hpp) and the OAuth seam (gateway/authorizer.hpp).
// `mcpd serve` puts them together; docs/gateway.md describes the wire.
#pragma once

#include "mcpd/gateway/authorizer.hpp"
#include "mcpd/gateway/endpoint.hpp"
#include "mcpd/gateway/error.hpp"
#include "mcpd/gateway/events.hpp"
#include "mcpd/gateway/manager.hpp"
#include "mcpd/gateway/rpc.hpp"
#include "mcpd/gateway/token.hpp"
