// protocol/version.hpp — the MCP specification revisions mcpd speaks, and what differs between
// them that a server must act on.
//
// Revisions are date strings and compare as such. Negotiation (initialize) answers the client's
// revision when we know it, else our latest session-based one. From 2026-07-28 the protocol is
// stateless: no initialize; every request names its revision in `_meta`.
#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace mcpd::protocol {

inline constexpr std::string_view v2024_11_05 = "2024-11-05";
inline constexpr std::string_view v2025_03_26 = "2025-03-26";
inline constexpr std::string_view v2025_06_18 = "2025-06-18";
inline constexpr std::string_view v2025_11_25 = "2025-11-25";
inline constexpr std::string_view v2026_07_28 = "2026-07-28";

// Oldest first.
inline constexpr std::array<std::string_view, 5> supported_versions = {
    v2024_11_05, v2025_03_26, v2025_06_18, v2025_11_25, v2026_07_28};
// The newest revision that uses initialize and sessions.
inline constexpr std::string_view latest_session_version = v2025_11_25;
inline constexpr std::string_view latest_version = v2026_07_28;

inline bool is_supported(std::string_view v) {
    for (auto s : supported_versions)
        if (s == v)
            return true;
    return false;
}

// The revision an initialize request for `requested` gets.
inline std::string_view negotiate(std::string_view requested) {
    if (is_supported(requested) && requested < v2026_07_28)
        return requested;
    return latest_session_version;
}

// Feature gates, by revision.
// JSON-RPC 2.0 has batches; 2025-03-26 spelled them out and 2025-06-18 removed them.
inline bool allows_batches(std::string_view v) {
    return v <= v2025_03_26;
}
inline bool has_structured_content(std::string_view v) {
    return v >= v2025_06_18;
}
inline bool has_elicitation(std::string_view v) {
    return v >= v2025_06_18;
}
inline bool is_stateless(std::string_view v) {
    return v >= v2026_07_28;
}

} // namespace mcpd::protocol
