// server/dispatch_metrics.hpp — what the dispatcher counts and times, per MCP method and per
// tool, for /metrics.
//
//   mcpd_mcp_requests_total{method,outcome}         outcome: ok | error | cancelled
//   mcpd_mcp_request_duration_seconds{method}
//   mcpd_tool_calls_total{tool,outcome}             outcome: ok | tool_error | error | cancelled
//   mcpd_tool_call_duration_seconds{tool}
//
// Method labels are the methods MCP defines ("other" for the rest) and tool labels the tools
// registered when the call arrived: a client cannot add label values.
#pragma once

#include "mcpd/core/metrics.hpp"

#include <boost/json/object.hpp>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace mcpd::server {

// ok | error | cancelled, and for tools/call tool_error (a result with isError).
std::string_view request_outcome(std::optional<boost::json::object> const& response,
                                 bool tool_call);
// The method's label: itself when MCP defines it, else "other".
std::string_view method_label(std::string_view method);

class dispatch_metrics {
public:
    explicit dispatch_metrics(metrics::registry& reg);

    // `tool`: the tool's name for a tools/call of a registered tool, else empty.
    void observe(std::string_view method, std::string_view tool, std::string_view outcome,
                 double seconds);

private:
    // The children one (method, tool, outcome) updates, resolved on its first request: later
    // ones skip building label vectors and four family lookups.
    struct children {
        metrics::counter* requests;
        metrics::histogram* request_seconds;
        metrics::counter* tool_calls; // null without a tool
        metrics::histogram* tool_seconds;
    };
    children const& children_for(std::string_view method, std::string_view tool,
                                 std::string_view outcome);

    metrics::counter_family& requests_;
    metrics::histogram_family& request_seconds_;
    metrics::counter_family& tool_calls_;
    metrics::histogram_family& tool_seconds_;
    std::mutex mu_;
    std::map<std::string, children, std::less<>> resolved_; // key: method \0 tool \0 outcome
    std::string key_; // reused for lookups (under mu_): a lookup allocates nothing
};

} // namespace mcpd::server
