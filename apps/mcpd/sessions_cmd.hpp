// apps/mcpd/sessions_cmd.hpp — `mcpd sessions …`: the session store the environment selects
// (as @mcp-ts/sdk selects it; SQLite ./sessions.db by default, as `mcpd serve` uses), for
// operators: list, get, rm, clear, cleanup. Secrets are masked unless asked for.
#pragma once

#include <string>

namespace mcpd::app {

struct sessions_args {
    std::string action; // list | get | rm | clear | cleanup
    std::string identity;
    std::string session_id;
    bool json = false;
    bool show_secrets = false;
    bool required = false;
};

// Exit codes: 0 done; 1 failed (the store's error, or no such session); 2 bad configuration.
int run_sessions(sessions_args const& a);

} // namespace mcpd::app
