// mcpd/server.hpp — public entry point for writing an MCP server with mcpd: the registry
// (server/server.hpp), typed tools (server/typed_tool.hpp), the handler context, the
// dispatcher and the transports (Streamable HTTP + legacy SSE, stdio).
#pragma once

#include "http/server.hpp"
#include "server/context.hpp"
#include "server/dispatcher.hpp"
#include "server/http_transport.hpp"
#include "server/server.hpp"
#include "server/stdio_transport.hpp"
#include "server/typed_tool.hpp"
