// apps/mcpd/fixtures.hpp — what `mcpd serve` offers out of the box: demo tools, and the
// conformance suite's fixture set behind --conformance.
#pragma once

#include "mcpd/server/server.hpp"

namespace mcpd::app {

// echo, add, countdown (progress + logging + cancellation), server_time.
void add_demo_tools(server::server& srv);
// The tools, resources and prompts the official MCP conformance suite calls.
void add_conformance_fixtures(server::server& srv);

} // namespace mcpd::app
