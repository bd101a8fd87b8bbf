// tests/integration/node_process.cpp — see node_process.hpp.
#include "node_process.hpp"

#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace mcpd::test {

node_process::node_process(std::string what, std::string const& script,
                           std::vector<std::string> args)
    : what_(std::move(what)) {
    char tmpl[] = "/tmp/mcpd-node-server-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
        throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    std::string tools = MCPD_NODE_TOOLS;
    std::vector<std::string> argv_text = {tools + "/node_modules/.bin/node", script, tools};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
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
        for (auto& a : argv_text)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    pid_ = pid;
}

node_process::~node_process() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

namespace {

// The rest of the first whole line of `text` that starts with `prefix`, if there is one.
std::optional<std::string> whole_line_after(std::string const& text, std::string const& prefix) {
    for (std::size_t at = 0; at < text.size();) {
        auto end = text.find('\n', at);
        if (end == std::string::npos)
            return std::nullopt; // the last line is not whole yet
        if (text.compare(at, prefix.size(), prefix) == 0)
            return text.substr(at + prefix.size(), end - at - prefix.size());
        at = end + 1;
    }
    return std::nullopt;
}

} // namespace

std::string node_process::wait_for_line(std::string const& prefix, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error(what_ + " exited at start (is " + MCPD_NODE_TOOLS +
                                     " installed? run scripts/node-tools):\n" + output());
        }
        if (auto rest = whole_line_after(output(), prefix))
            return *rest;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop();
    throw std::runtime_error(what_ + " did not start:\n" + output());
}

std::string node_process::output() const {
    std::ifstream in(dir_ + "/server.out");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool node_process::running() {
    if (pid_ <= 0)
        return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
    }
    return true;
}

void node_process::stop() {
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
