// tests/integration/mcpd_process.cpp — child-process management for mcpd_process.
#include "mcpd_process.hpp"

#include "test_output.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace mcpd::test {

namespace {

std::string make_temp_dir() {
    char tmpl[] = "/tmp/mcpd-serve-XXXXXX";
    if (!::mkdtemp(tmpl))
        throw std::runtime_error("mkdtemp failed");
    return tmpl;
}

} // namespace

mcpd_process::mcpd_process(options opts)
    : dir_(make_temp_dir()) {
    std::vector<std::string> args = {MCPD_BINARY, "serve", "--conformance"};
    if (opts.stdio)
        args.emplace_back("--stdio");
    else
        args.insert(args.end(), {"--port", "0", "--drain-timeout", opts.drain_timeout});
    args.insert(args.end(), opts.args.begin(), opts.args.end());

    int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1};
    if (opts.stdio && (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0))
        throw std::runtime_error("pipe failed");
    std::string err_path = dir_ + "/mcpd.err";

    pid_t pid = ::fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0) {
        // Die with the test process; keep the test's output pipes free (ctest waits on them).
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::chdir(dir_.c_str()) != 0)
            ::_exit(126);
        ::setenv("MCP_TS_STORAGE_TYPE", "memory", 1);
        // One event loop unless a test asks for more (--threads or MCPD_THREADS): what a test
        // asserts of per-loop budgets and gauges holds then whatever the machine's cores.
        ::setenv("MCPD_THREADS", "1", 1);
        for (auto const& [name, value] : opts.env)
            ::setenv(name.c_str(), value.c_str(), 1);
        int devnull = ::open("/dev/null", O_RDWR);
        int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(opts.stdio ? in_pipe[0] : devnull, STDIN_FILENO);
        ::dup2(opts.stdio ? out_pipe[1] : devnull, STDOUT_FILENO);
        ::dup2(err, STDERR_FILENO);
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    pid_ = pid;
    if (opts.stdio) {
        ::close(in_pipe[0]);
        ::close(out_pipe[1]);
        stdin_fd_ = in_pipe[1];
        stdout_fd_ = out_pipe[0];
        return;
    }
    wait_listening(std::chrono::seconds(10));
}

mcpd_process::~mcpd_process() {
    stop();
    keep_test_output("mcpd", log());
    if (stdin_fd_ >= 0)
        ::close(stdin_fd_);
    if (stdout_fd_ >= 0)
        ::close(stdout_fd_);
    std::system(("rm -rf " + dir_).c_str());
}

std::string mcpd_process::log() const {
    std::ifstream in(dir_ + "/mcpd.err");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

int mcpd_process::reap(int status) {
    pid_ = -1;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return *exit_code_;
}

bool mcpd_process::running() {
    if (pid_ <= 0)
        return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reap(status);
        return false;
    }
    return true;
}

void mcpd_process::wait_listening(std::chrono::milliseconds limit) {
    constexpr std::string_view marker = "mcpd: serving MCP on http://127.0.0.1:";
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!running())
            throw std::runtime_error("mcpd exited at start:\n" + log());
        auto text = log();
        if (auto at = text.find(marker); at != std::string::npos) {
            port_ =
                static_cast<std::uint16_t>(std::strtoul(&text[at + marker.size()], nullptr, 10));
            if (port_ != 0)
                return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
    throw std::runtime_error("mcpd did not start listening:\n" + log());
}

std::optional<int> mcpd_process::wait_exit(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (running()) {
        if (std::chrono::steady_clock::now() >= deadline)
            return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return exit_code_;
}

void mcpd_process::signal(int sig) {
    if (pid_ > 0)
        ::kill(pid_, sig);
}

int mcpd_process::stop(std::chrono::milliseconds limit) {
    if (pid_ <= 0)
        return exit_code_.value_or(-1);
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_)
            return reap(status);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    return reap(status);
}

void mcpd_process::write_stdin(std::string_view bytes) {
    while (!bytes.empty()) {
        auto n = ::write(stdin_fd_, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw std::runtime_error("writing to mcpd's stdin failed");
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

void mcpd_process::close_stdin() {
    if (stdin_fd_ >= 0)
        ::close(stdin_fd_);
    stdin_fd_ = -1;
}

std::optional<std::string> mcpd_process::read_line(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        if (auto nl = stdout_buf_.find('\n'); nl != std::string::npos) {
            auto line = stdout_buf_.substr(0, nl);
            stdout_buf_.erase(0, nl + 1);
            return line;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return std::nullopt;
        pollfd p{stdout_fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
            continue; // timeout (checked above) or EINTR
        char buf[4096];
        auto n = ::read(stdout_fd_, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return std::nullopt; // stdout closed
        stdout_buf_.append(buf, static_cast<std::size_t>(n));
    }
}

} // namespace mcpd::test
