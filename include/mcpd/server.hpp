// mcpd/server.hpp — public entry point for writing an MCP server with mcpd: the registry
// (server/server.hpp), typed tools (server/typed_tool.hpp), the handler context, the
// dispatcher, the protocol sessions and the transports (Streamable HTTP + legacy SSE, stdio),
// with the HTTP server they run on and the operations endpoints (/health, /ready, /metrics).
#pragma once

#include "mcpd/http/server.hpp"
#include "mcpd/server/context.hpp"
#include "mcpd/server/dispatcher.hpp"
#include "mcpd/server/error.hpp"
#include "mcpd/server/http_transport.hpp"
#include "mcpd/server/operations.hpp"
#include "mcpd/server/server.hpp"
#include "mcpd/server/session.hpp"
#include "mcpd/server/stdio_transport.hpp"
#include "mcpd/server/typed_tool.hpp"
