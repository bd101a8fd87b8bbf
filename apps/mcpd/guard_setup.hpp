// apps/mcpd/guard_setup.hpp — the guards of `mcpd serve`: backends from the environment and
// each tool's guards from MCPD_GUARDS and --guard flags.
#pragma once

#include "mcpd/core/error.hpp"
#include "mcpd/guard/guards.hpp"
#include "mcpd/server/server.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mcpd::app {

// Picks the backends (guard::guard_set_from_env: Redis when REDIS_URL or REDIS_HOST is set,
// else in process), gives them to `srv`, and applies the "<tool>=<guards>" assignments (the
// `guard` setting: --guard flags, MCPD_GUARDS, the config file; a later one replaces an earlier
// one for the same tool) to the registered tools. An unknown tool or a bad specification is an
// error that says which. `shared`: the in-process backends of another event loop's guards,
// used instead of choosing (guard_set::share_in_process).
result<std::shared_ptr<guard::guard_set>>
setup_guards(server::server& srv, std::vector<std::string> const& assignments_text,
             boost::asio::any_io_executor const& ex,
             std::function<char const*(char const*)> getenv = nullptr,
             std::shared_ptr<guard::guard_set> shared = nullptr);

} // namespace mcpd::app
