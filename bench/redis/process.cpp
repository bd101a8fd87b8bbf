// bench/redis/process.cpp — child processes for mcpd_bench_redis (mcpd::redis::client measured
// against redis-benchmark): the private redis-server and captured runs (see process.hpp).
#include "process.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace mcpd::bench {

namespace {

// The children a signal must not leave behind: the server, and the program being run.
std::atomic<pid_t> g_server{0};
std::atomic<pid_t> g_helper{0};
static_assert(std::atomic<pid_t>::is_always_lock_free);
// The server's log and directory, removed by the handler too (set before g_server).
char g_log_path[4096];
char g_dir_path[4096];

void stop_children_and_reraise(int sig) {
    // Only async-signal-safe calls here.
    for (auto* slot : {&g_helper, &g_server}) {
        pid_t pid = slot->exchange(0);
        if (pid > 0) {
            ::kill(pid, SIGTERM);
            while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
            }
        }
    }
    if (g_log_path[0] != '\0')
        ::unlink(g_log_path);
    if (g_dir_path[0] != '\0')
        ::rmdir(g_dir_path);
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

void install_signal_handlers() {
    static bool installed = false;
    if (installed)
        return;
    installed = true;
    struct sigaction sa {};
    sa.sa_handler = stop_children_and_reraise;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP})
        ::sigaction(sig, &sa, nullptr);
}

[[noreturn]] void fail(std::string what) {
    throw std::runtime_error(std::move(what));
}
[[noreturn]] void fail_errno(std::string what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

pid_t wait_for(pid_t pid, int* status) {
    pid_t r;
    while ((r = ::waitpid(pid, status, 0)) < 0 && errno == EINTR) {
    }
    return r;
}

int exit_code_of(int status) {
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

// posix_spawnp with stdin from /dev/null and stdout+stderr to `out_fd`.
pid_t spawn(std::vector<std::string> const& argv, int out_fd) {
    std::vector<char*> args;
    for (auto const& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        fail("cannot start " + argv[0] + ": " + std::strerror(rc));
    return pid;
}

// Sends PING on a fresh connection; true when the answer is +PONG.
bool answers_ping(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail_errno("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        timeval tv{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        static constexpr char ping[] = "*1\r\n$4\r\nPING\r\n";
        if (::send(fd, ping, sizeof ping - 1, MSG_NOSIGNAL) == sizeof ping - 1) {
            std::string got;
            char buf[64];
            while (got.find("\r\n") == std::string::npos) {
                auto n = ::recv(fd, buf, sizeof buf, 0);
                if (n <= 0)
                    break;
                got.append(buf, static_cast<std::size_t>(n));
            }
            ok = got.starts_with("+PONG\r\n");
        }
    }
    ::close(fd);
    return ok;
}

} // namespace

cpu_time cpu_of(rusage const& u) {
    auto s = [](timeval t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return {s(u.ru_utime), s(u.ru_stime)};
}

cpu_time self_cpu() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return cpu_of(u);
}

cpu_time process_cpu(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    std::getline(in, stat);
    // pid (comm) state ppid …: the fields after the command, which may hold spaces, from ')'.
    auto close = stat.rfind(')');
    if (close == std::string::npos)
        fail("cannot read /proc/" + std::to_string(pid) + "/stat");
    std::istringstream fields(stat.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; fields >> field; ++i) { // field 3 is the state
        if (i == 14)
            utime = std::stod(field);
        if (i == 15) {
            stime = std::stod(field);
            break;
        }
    }
    auto tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    return {utime / tick, stime / tick};
}

std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0)
        fail_errno("sched_getaffinity");
    std::vector<int> cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &set))
            cpus.push_back(cpu);
    return cpus;
}

void pin_to_cpu(pid_t pid, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (::sched_setaffinity(pid, sizeof set, &set) != 0)
        fail_errno("sched_setaffinity to CPU " + std::to_string(cpu));
}

std::uint16_t free_loopback_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail_errno("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        int e = errno;
        ::close(fd);
        errno = e;
        fail_errno("bind 127.0.0.1:0");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

// --- redis_server ---------------------------------------------------------------------------

redis_server::redis_server(std::string program) {
    auto base = std::filesystem::temp_directory_path() / "mcpd-bench-redis.XXXXXX";
    std::string templ = base.string();
    if (::mkdtemp(templ.data()) == nullptr)
        fail_errno("mkdtemp " + templ);
    dir_ = templ;
    std::string log = dir_ + "/redis.log";
    if (log.size() < sizeof g_log_path) {
        std::memcpy(g_dir_path, dir_.c_str(), dir_.size() + 1);
        std::memcpy(g_log_path, log.c_str(), log.size() + 1);
    }
    install_signal_handlers();
    try {
        for (int attempt = 0; attempt < 5; ++attempt)
            if (try_start(program))
                return;
        fail("redis-server did not start after 5 attempts; its log:\n" + log_tail());
    } catch (...) {
        stop();
        g_log_path[0] = g_dir_path[0] = '\0';
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
        throw;
    }
}

redis_server::~redis_server() {
    stop();
    g_log_path[0] = g_dir_path[0] = '\0';
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

bool redis_server::try_start(std::string const& program) {
    port_ = free_loopback_port();
    std::string log = dir_ + "/redis.log";
    int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log_fd < 0)
        fail_errno("open " + log);
    try {
        pid_ = spawn({program, "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
                      "--appendonly", "no", "--dir", dir_},
                     log_fd);
    } catch (...) {
        ::close(log_fd);
        throw;
    }
    ::close(log_fd);
    g_server = pid_;

    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1; // gone: most likely the port was taken between our probe and its bind
            g_server = 0;
            return false;
        }
        if (answers_ping(port_))
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    fail("redis-server on port " + std::to_string(port_) +
         " did not answer PING within 10 s; its log:\n" + log_tail());
}

void redis_server::stop() noexcept {
    if (pid_ <= 0)
        return;
    g_server = 0;
    ::kill(pid_, SIGTERM);
    int status = 0;
    wait_for(pid_, &status);
    pid_ = -1;
}

std::string redis_server::url() const {
    return "redis://127.0.0.1:" + std::to_string(port_);
}

std::string redis_server::log_tail() const {
    std::ifstream in(dir_ + "/redis.log");
    std::stringstream s;
    s << in.rdbuf();
    std::string text = s.str();
    return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
}

// --- run_captured --------------------------------------------------------------------------

run_output run_captured(std::vector<std::string> const& argv) {
    install_signal_handlers();
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        fail_errno("pipe");
    pid_t pid;
    try {
        pid = spawn(argv, fds[1]);
    } catch (...) {
        ::close(fds[0]);
        ::close(fds[1]);
        throw;
    }
    g_helper = pid;
    ::close(fds[1]);
    run_output out;
    char buf[4096];
    for (;;) {
        auto n = ::read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        out.text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    rusage usage{};
    while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
    }
    g_helper = 0;
    out.exit_code = exit_code_of(status);
    out.cpu = cpu_of(usage);
    return out;
}

} // namespace mcpd::bench
