// tests/integration/oauth_demo_server.cpp — starting and stopping the OAuth demo servers. See
// oauth_demo_server.hpp.
#include "oauth_demo_server.hpp"

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace mcpd::test {

oauth_demo_server::oauth_demo_server(options opts) {
    std::vector<std::string> args;
    if (opts.no_s256)
        args.emplace_back("--no-s256");
    if (opts.dcr_fails)
        args.emplace_back("--dcr-fails");
    if (opts.unreachable_as)
        args.emplace_back("--unreachable-as");
    if (opts.token_hangs)
        args.emplace_back("--token-hangs");
    if (opts.insecure_as)
        args.emplace_back("--insecure-as");
    if (opts.iss_supported)
        args.emplace_back("--iss-supported");
    if (opts.scopeless)
        args.emplace_back("--scopeless");
    if (opts.no_issuer)
        args.emplace_back("--no-issuer");
    if (opts.prm_no_resource)
        args.emplace_back("--prm-no-resource");
    if (opts.no_prm)
        args.emplace_back("--no-prm");
    if (opts.metadata_hangs)
        args.emplace_back("--metadata-hangs");
    if (opts.huge_metadata)
        args.emplace_back("--huge-metadata");
    process_.emplace("the OAuth demo server", MCPD_OAUTH_DEMO_SCRIPT, std::move(args));
    mcp_url_ = process_->wait_for_line("mcp ", std::chrono::seconds(30));
    auth_url_ = process_->wait_for_line("auth ", std::chrono::seconds(30));
    process_->wait_for_line("ready", std::chrono::seconds(30));
}

oauth_demo_server::~oauth_demo_server() = default;

std::string oauth_demo_server::base_url() const {
    return mcp_url_.substr(0, mcp_url_.rfind('/'));
}

std::string oauth_demo_server::output() const {
    return process_->output();
}

void oauth_demo_server::stop() {
    process_->stop();
}

} // namespace mcpd::test
