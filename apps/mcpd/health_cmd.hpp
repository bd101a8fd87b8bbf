// apps/mcpd/health_cmd.hpp — `mcpd health`: asks a running mcpd's /ready and prints the answer
// for a person (or as JSON), for scripts, Docker HEALTHCHECK and systemd.
//
// Exit codes: 0 ok; 1 degraded (serving, an optional dependency is down); 2 not ready (a
// required dependency fails, or draining); 3 no usable answer (not reachable, timeout, not
// mcpd's JSON).
#pragma once

#include "mcpd/core/duration.hpp"

#include <string>

namespace mcpd::app {

struct health_args {
    std::string url; // http://host:port (the /ready path is added) or a full …/ready URL
    duration timeout = std::chrono::seconds(3);
    bool json = false;
};

int run_health(health_args const& a);

} // namespace mcpd::app
