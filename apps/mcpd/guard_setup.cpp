// apps/mcpd/guard_setup.cpp — MCPD_GUARDS / --guard for `mcpd serve`. See guard_setup.hpp.
#include "guard_setup.hpp"

#include "core/log.hpp"
#include "server/registry.hpp"

#include <boost/system/errc.hpp>

#include <cstdlib>

namespace mcpd::app {

result<std::shared_ptr<guard::guard_set>>
setup_guards(server::server& srv, std::vector<std::string> const& assignments_text,
             boost::asio::any_io_executor const& ex, std::function<char const*(char const*)> getenv,
             std::shared_ptr<guard::guard_set> shared) {
    result<std::shared_ptr<guard::guard_set>> gs =
        shared ? std::move(shared) : guard::guard_set_from_env(ex, getenv);
    if (!gs)
        return gs.error();
    srv.set_guards(*gs);

    std::vector<std::pair<std::string, guard::tool_guards>> assignments;
    auto add = [&](std::string const& text, std::string const& origin) -> result<void> {
        auto parsed = guard::parse_guard_assignments(text);
        if (!parsed)
            return error(parsed.error().code, origin + ": " + parsed.error().detail);
        for (auto& a : *parsed)
            assignments.push_back(std::move(a));
        return {};
    };
    for (auto const& f : assignments_text)
        if (auto r = add(f, "guard setting (--guard / MCPD_GUARDS) " + f); !r)
            return r.error();

    for (auto& [tool, g] : assignments) {
        auto described = guard::describe(g);
        try {
            if (!srv.set_tool_guards(tool, g)) {
                std::string known;
                for (auto const& [name, entry] : srv.reg().tools.items)
                    known += (known.empty() ? "" : ", ") + name;
                return error(make_error_code(boost::system::errc::invalid_argument),
                             "guards for " + tool +
                                 ": there is no tool of that name (tools: " + known + ")");
            }
        } catch (std::invalid_argument const& e) {
            return error(make_error_code(boost::system::errc::invalid_argument), e.what());
        }
        log::info("mcpd: guards of {}: {}", tool, described);
    }
    log::info("mcpd: guard backends: {} (key prefix \"{}\")", (*gs)->backend_name(),
              (*gs)->keys().prefix());
    return *gs;
}

} // namespace mcpd::app
