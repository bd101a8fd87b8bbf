// bench/redis/process.cpp — child processes for mcpd_bench_redis (mcpd::redis::client measured
// against redis-benchmark): the private redis-server or Redis Cluster, and captured runs (see
// process.hpp).
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

// The children a signal must not leave behind: the servers, and the program being run.
std::atomic<pid_t> g_helper{0};
static_assert(std::atomic<pid_t>::is_always_lock_free);
// One entry per running server: its PID, and the files and directory the handler removes too
// (the paths are set before the PID).
constexpr std::size_t max_servers = 8;
struct server_entry {
    std::atomic<bool> taken{false}; // claimed by a redis_server
    std::atomic<bool> ready{false}; // its paths are written
    std::atomic<pid_t> pid{0};
    char log_path[4096];
    char conf_path[4096]; // nodes.conf of a cluster node ("": none)
    char dir_path[4096];
};
server_entry g_servers[max_servers];

void stop_children_and_reraise(int sig) {
    // Only async-signal-safe calls here.
    auto stop = [](std::atomic<pid_t>& slot) {
        pid_t pid = slot.exchange(0);
        if (pid > 0) {
            ::kill(pid, SIGTERM);
            while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
            }
        }
    };
    stop(g_helper);
    for (auto& s : g_servers) {
        if (!s.ready.load())
            continue;
        stop(s.pid);
        if (s.log_path[0] != '\0')
            ::unlink(s.log_path);
        if (s.conf_path[0] != '\0')
            ::unlink(s.conf_path);
        if (s.dir_path[0] != '\0')
            ::rmdir(s.dir_path);
    }
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

// A free entry of g_servers with the paths of a server in `dir` (-1: the table is full; the
// server then runs unprotected from signals, as it would have before the table).
int claim_server_entry(std::string const& dir, bool cluster_node) {
    std::string log = dir + "/redis.log", conf = dir + "/nodes.conf";
    if (conf.size() >= sizeof g_servers[0].conf_path)
        return -1;
    for (std::size_t i = 0; i < max_servers; ++i) {
        bool expected = false;
        auto& s = g_servers[i];
        if (!s.taken.compare_exchange_strong(expected, true))
            continue;
        s.pid = 0;
        std::memcpy(s.log_path, log.c_str(), log.size() + 1);
        s.conf_path[0] = '\0';
        if (cluster_node)
            std::memcpy(s.conf_path, conf.c_str(), conf.size() + 1);
        std::memcpy(s.dir_path, dir.c_str(), dir.size() + 1);
        s.ready = true;
        return static_cast<int>(i);
    }
    return -1;
}

void set_server_pid(int entry, pid_t pid) {
    if (entry >= 0)
        g_servers[entry].pid = pid;
}

void release_server_entry(int entry) {
    if (entry < 0)
        return;
    auto& s = g_servers[entry];
    s.ready = false;
    s.pid = 0;
    s.log_path[0] = s.conf_path[0] = s.dir_path[0] = '\0';
    s.taken = false;
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

// The length of the first whole reply in `got` (a simple reply, or a bulk string with its
// data), 0 while it is incomplete.
std::size_t complete_reply(std::string const& got) {
    auto eol = got.find("\r\n");
    if (eol == std::string::npos)
        return 0;
    if (got[0] != '$')
        return eol + 2;
    long len = std::strtol(got.c_str() + 1, nullptr, 10);
    if (len < 0)
        return eol + 2;
    std::size_t whole = eol + 2 + static_cast<std::size_t>(len) + 2;
    return got.size() >= whole ? whole : 0;
}

bool answers_ping(std::uint16_t port) {
    return raw_query(port, "*1\r\n$4\r\nPING\r\n").starts_with("+PONG\r\n");
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

std::string raw_query(std::uint16_t port, std::string_view request) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail_errno("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string got;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        timeval tv{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size())) {
            char buf[4096];
            while (complete_reply(got) == 0) {
                auto n = ::recv(fd, buf, sizeof buf, 0);
                if (n <= 0)
                    break;
                got.append(buf, static_cast<std::size_t>(n));
            }
            got.resize(complete_reply(got));
        }
    }
    ::close(fd);
    return got;
}

// --- redis_server ---------------------------------------------------------------------------

redis_server::redis_server(std::string program, server_mode mode)
    : mode_(mode) {
    auto base = std::filesystem::temp_directory_path() / "mcpd-bench-redis.XXXXXX";
    std::string templ = base.string();
    if (::mkdtemp(templ.data()) == nullptr)
        fail_errno("mkdtemp " + templ);
    dir_ = templ;
    slot_ = claim_server_entry(dir_, mode_ == server_mode::cluster_node);
    install_signal_handlers();
    try {
        for (int attempt = 0; attempt < 5; ++attempt)
            if (try_start(program))
                return;
        fail("redis-server did not start after 5 attempts; its log:\n" + log_tail());
    } catch (...) {
        stop();
        release_server_entry(slot_);
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
        throw;
    }
}

redis_server::~redis_server() {
    stop();
    release_server_entry(slot_);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

bool redis_server::try_start(std::string const& program) {
    port_ = free_loopback_port();
    std::vector<std::string> argv{program,  "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                  "--save", "",       "--appendonly",        "no",     "--dir",
                                  dir_};
    if (mode_ == server_mode::cluster_node) {
        do
            cluster_port_ = free_loopback_port();
        while (cluster_port_ == port_);
        // A node that failed to start may have written its nodes.conf: start afresh.
        std::error_code ignored;
        std::filesystem::remove(dir_ + "/nodes.conf", ignored);
        for (std::string a :
             {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port"})
            argv.push_back(std::move(a));
        argv.push_back(std::to_string(cluster_port_));
    }
    std::string log = dir_ + "/redis.log";
    int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log_fd < 0)
        fail_errno("open " + log);
    try {
        pid_ = spawn(argv, log_fd);
    } catch (...) {
        ::close(log_fd);
        throw;
    }
    ::close(log_fd);
    set_server_pid(slot_, pid_);

    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1; // gone: most likely a port was taken between our probe and its bind
            set_server_pid(slot_, 0);
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
    set_server_pid(slot_, 0);
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

// --- redis_cluster ----------------------------------------------------------------------------

redis_cluster::redis_cluster(std::size_t masters, std::string const& server_program,
                             std::string const& cli_program) {
    if (masters < 3)
        fail("a Redis Cluster needs 3 masters at least");
    for (std::size_t i = 0; i < masters; ++i)
        nodes_.push_back(std::make_unique<redis_server>(server_program, server_mode::cluster_node));
    std::vector<std::string> argv{cli_program, "--cluster", "create"};
    for (auto const& n : nodes_)
        argv.push_back("127.0.0.1:" + std::to_string(n->port()));
    for (std::string a : {"--cluster-replicas", "0", "--cluster-yes"})
        argv.push_back(std::move(a));
    auto created = run_captured(argv);
    if (created.exit_code != 0 ||
        created.text.find("[OK] All 16384 slots covered") == std::string::npos)
        fail(cli_program + " --cluster create exited with " + std::to_string(created.exit_code) +
             ":\n" + created.text);

    // Every node must have heard of every slot's owner: cluster_state:ok everywhere.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    static constexpr std::string_view cluster_info = "*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n";
    for (auto const& n : nodes_) {
        for (;;) {
            auto info = raw_query(n->port(), cluster_info);
            if (info.find("cluster_state:ok") != std::string::npos)
                break;
            if (std::chrono::steady_clock::now() >= deadline)
                fail("cluster node 127.0.0.1:" + std::to_string(n->port()) +
                     " did not reach cluster_state:ok within 30 s; CLUSTER INFO:\n" + info +
                     "\nits log:\n" + n->log_tail());
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
}

redis_cluster::~redis_cluster() {
    stop();
}

void redis_cluster::stop() noexcept {
    for (auto& n : nodes_)
        n->stop();
}

std::vector<redis_server*> redis_cluster::nodes() const {
    std::vector<redis_server*> out;
    for (auto const& n : nodes_)
        out.push_back(n.get());
    return out;
}

std::string redis_cluster::url() const {
    std::string url = "redis+cluster://";
    for (std::size_t i = 0; i < nodes_.size(); ++i)
        url += (i ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(nodes_[i]->port());
    return url;
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
