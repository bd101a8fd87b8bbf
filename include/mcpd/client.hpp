// mcpd/client.hpp — public entry point for connecting to MCP servers with mcpd: the client
// session (client/session.hpp: connect, tools, resources, prompts, callbacks), its transports
// and the authorization hook (client/transport.hpp), OAuth 2.1 on that hook (client/oauth.hpp),
// its errors (client/error.hpp), and the HTTP client underneath (http/client.hpp: TLS trust,
// timeouts, limits).
#pragma once

#include "client/error.hpp"
#include "client/oauth.hpp"
#include "client/session.hpp"
#include "client/transport.hpp"
#include "http/client.hpp"
