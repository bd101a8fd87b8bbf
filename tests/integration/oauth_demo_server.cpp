// tests/integration/oauth_demo_server.cpp — starting and stopping the OAuth demo servers. See
// oauth_demo_server.hpp.
#include "oauth_demo_server.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace mcpd::test {

namespace {

std::string line_after(std::string const& text, std::string const& marker) {
    auto at = text.find(marker);
    if (at == std::string::npos)
        return {};
    auto end = text.find('\n', at);
    return text.substr(at + marker.size(), end - at - marker.size());
}

} // namespace

oauth_demo_server::oauth_demo_server(options opts) {
    char tmpl[] = "/tmp/mcpd-oauth-demo-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
        throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    std::string tools = MCPD_NODE_TOOLS;
    std::vector<std::string> args = {tools + "/node_modules/.bin/node", MCPD_OAUTH_DEMO_SCRIPT,
                                     tools};
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
    std::string out_path = dir_ + "/server.out";
    pid_t pid = ::fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::chdir(dir_.c_str()) != 0)
            ::_exit(126);
        int devnull = ::open("/dev/null", O_RDONLY);
        int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(devnull, STDIN_FILENO);
        ::dup2(out, STDOUT_FILENO);
        ::dup2(out, STDERR_FILENO);
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    pid_ = pid;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("the OAuth demo server exited at start (is " + tools +
                                     " installed? run scripts/node-tools):\n" + output());
        }
        auto text = output();
        if (text.find("\nready\n") != std::string::npos) {
            mcp_url_ = line_after(text, "mcp ");
            auth_url_ = line_after(text, "auth ");
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop();
    throw std::runtime_error("the OAuth demo server did not start:\n" + output());
}

oauth_demo_server::~oauth_demo_server() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

std::string oauth_demo_server::base_url() const {
    return mcp_url_.substr(0, mcp_url_.rfind('/'));
}

std::string oauth_demo_server::output() const {
    std::ifstream in(dir_ + "/server.out");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void oauth_demo_server::stop() {
    if (pid_ <= 0)
        return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
}

} // namespace mcpd::test
