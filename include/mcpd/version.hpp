// mcpd/version.hpp — the version of this build (set by CMake from project(VERSION)).
#pragma once

namespace mcpd {
inline constexpr char const* version = MCPD_VERSION;
}
