// mcpd/client.hpp — public entry point for connecting to MCP servers with mcpd: the client
// session (client/session.hpp: connect, tools, resources, prompts, callbacks), its transports
// and the authorization hook (client/transport.hpp), OAuth 2.1 on that hook (client/oauth.hpp),
// its errors (client/error.hpp), and the settings of the HTTP client underneath
// (http/client_options.hpp: TLS trust, timeouts, limits).
#pragma once

#include "mcpd/client/error.hpp"
#include "mcpd/client/oauth.hpp"
#include "mcpd/client/session.hpp"
#include "mcpd/client/transport.hpp"
#include "mcpd/http/client_options.hpp"
