// server/dispatch_metrics.cpp — see dispatch_metrics.hpp.
#include "server/dispatch_metrics.hpp"

#include <array>
#include <string>

namespace mcpd::server {

std::string_view request_outcome(std::optional<boost::json::object> const& response,
                                 bool tool_call) {
    if (!response)
        return "cancelled";
    if (response->contains("error"))
        return "error";
    if (tool_call)
        if (auto const* r = response->if_contains("result"); r != nullptr && r->is_object())
            if (auto const* e = r->get_object().if_contains("isError");
                e != nullptr && e->is_bool() && e->get_bool())
                return "tool_error";
    return "ok";
}

std::string_view method_label(std::string_view method) {
    static constexpr std::array<std::string_view, 14> known = {"initialize",
                                                               "ping",
                                                               "tools/list",
                                                               "tools/call",
                                                               "resources/list",
                                                               "resources/templates/list",
                                                               "resources/read",
                                                               "resources/subscribe",
                                                               "resources/unsubscribe",
                                                               "prompts/list",
                                                               "prompts/get",
                                                               "logging/setLevel",
                                                               "completion/complete",
                                                               "server/discover"};
    for (auto k : known)
        if (k == method)
            return k;
    return "other";
}

dispatch_metrics::dispatch_metrics(metrics::registry& reg)
    : requests_(reg.counter("mcpd_mcp_requests_total",
                            "MCP requests answered, by method and outcome", {"method", "outcome"}))
    , request_seconds_(reg.histogram("mcpd_mcp_request_duration_seconds",
                                     "Time to answer an MCP request, by method", {"method"}))
    , tool_calls_(reg.counter("mcpd_tool_calls_total", "Tool calls, by tool and outcome",
                              {"tool", "outcome"}))
    , tool_seconds_(reg.histogram("mcpd_tool_call_duration_seconds",
                                  "Time to answer a tool call, by tool", {"tool"})) {}

dispatch_metrics::children const& dispatch_metrics::children_for(std::string_view method,
                                                                 std::string_view tool,
                                                                 std::string_view outcome) {
    auto label = method_label(method);
    std::lock_guard lock(mu_);
    key_.assign(label).append(1, '\0').append(tool).append(1, '\0').append(outcome);
    if (auto it = resolved_.find(key_); it != resolved_.end())
        return it->second;
    children c{};
    std::vector<std::string> labels{std::string(label), std::string(outcome)};
    c.requests = &requests_.with(labels);
    labels.pop_back();
    c.request_seconds = &request_seconds_.with(labels);
    if (!tool.empty()) {
        labels = {std::string(tool), std::string(outcome)};
        c.tool_calls = &tool_calls_.with(labels);
        labels.pop_back();
        c.tool_seconds = &tool_seconds_.with(labels);
    }
    return resolved_.emplace(key_, c).first->second;
}

void dispatch_metrics::observe(std::string_view method, std::string_view tool,
                               std::string_view outcome, double seconds) {
    auto const& c = children_for(method, tool, outcome);
    c.requests->inc();
    c.request_seconds->observe(seconds);
    if (c.tool_calls != nullptr) {
        c.tool_calls->inc();
        c.tool_seconds->observe(seconds);
    }
}

} // namespace mcpd::server
