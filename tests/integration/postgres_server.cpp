// tests/integration/postgres_server.cpp — child-process management for postgres_server.
#include "postgres_server.hpp"

#include "redis_server.hpp" // free_port()

#include <libpq-fe.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <grp.h>
#include <memory>
#include <pwd.h>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace mcpd::test {

namespace {

using namespace std::chrono_literals;

std::string find_bindir() {
    if (char const* env = std::getenv("MCPD_PG_BINDIR"); env && *env)
        return env;
    std::string best;
    int best_version = -1;
    std::error_code ec;
    for (auto const& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
        int version = std::atoi(entry.path().filename().c_str());
        if (version > best_version && std::filesystem::exists(entry.path() / "bin" / "postgres")) {
            best_version = version;
            best = (entry.path() / "bin").string();
        }
    }
    return best; // empty: from PATH
}

std::string program(std::string const& bindir, char const* name) {
    return bindir.empty() ? std::string(name) : bindir + "/" + name;
}

std::string read_file(std::string const& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Runs in the forked child: output to `log_path`, the unprivileged user when the test is root,
// death with the test process (set last: a change of user clears it), then exec.
[[noreturn]] void exec_child(std::vector<std::string> args, std::string const& log_path,
                             std::optional<std::pair<uid_t, gid_t>> run_as, pid_t parent,
                             bool own_group) {
    if (own_group)
        ::setsid();
    int devnull = ::open("/dev/null", O_RDONLY);
    int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (devnull < 0 || out < 0)
        ::_exit(126);
    ::dup2(devnull, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    if (run_as) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(run_as->second) != 0 ||
            ::setuid(run_as->first) != 0)
            ::_exit(125);
    }
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
        ::_exit(124);
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
}

// Whether any process of group `pgid` is still running (zombies do not count: they hold no
// shared memory, and their parent may never reap them).
bool group_running(pid_t pgid) {
    std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir("/proc"), ::closedir);
    if (!proc)
        return false;
    while (auto* e = ::readdir(proc.get())) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        auto stat = read_file(std::string("/proc/") + e->d_name + "/stat");
        auto close = stat.rfind(')');
        if (close == std::string::npos)
            continue;
        std::istringstream fields(stat.substr(close + 1));
        char state = 0;
        long ppid = 0, pgrp = 0;
        fields >> state >> ppid >> pgrp;
        if (pgrp == pgid && state != 'Z')
            return true;
    }
    return false;
}

} // namespace

postgres_server::postgres_server()
    : bindir_(find_bindir()) {
    char tmpl[] = "/tmp/mcpd-pg-XXXXXX";
    if (!::mkdtemp(tmpl))
        throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    if (::geteuid() == 0) {
        passwd const* nobody = ::getpwnam("nobody");
        if (!nobody)
            throw std::runtime_error("running as root and there is no user 'nobody' to run "
                                     "PostgreSQL as");
        run_as_ = std::pair{nobody->pw_uid, nobody->pw_gid};
        if (::chown(dir_.c_str(), nobody->pw_uid, nobody->pw_gid) != 0)
            throw std::runtime_error("chown " + dir_ + " failed");
    }
    initdb();
    for (int attempt = 0;; ++attempt) {
        port_ = free_port();
        try {
            start();
            return;
        } catch (std::exception const&) {
            if (attempt == 3)
                throw; // the port was taken between free_port() and the bind, four times
        }
    }
}

postgres_server::~postgres_server() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

void postgres_server::initdb() {
    std::vector<std::string> args = {program(bindir_, "initdb"),
                                     "-D",
                                     dir_ + "/data",
                                     "-U",
                                     "postgres",
                                     "-A",
                                     "trust",
                                     "-E",
                                     "UTF8",
                                     "--locale=C",
                                     "--no-sync"};
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0)
        exec_child(args, dir_ + "/initdb.log", run_as_, parent, false);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error("initdb failed (status " + std::to_string(status) + "):\n" +
                                 read_file(dir_ + "/initdb.log"));
}

std::string postgres_server::url(std::string const& database, std::string const& user) const {
    return "postgresql://" + user + "@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

std::string postgres_server::log() const {
    return read_file(dir_ + "/postgres.log");
}

void postgres_server::start() {
    if (pid_ > 0)
        return;
    std::vector<std::string> args = {program(bindir_, "postgres"),
                                     "-D",
                                     dir_ + "/data",
                                     "-p",
                                     std::to_string(port_),
                                     "-k",
                                     dir_,
                                     "-c",
                                     "listen_addresses=127.0.0.1",
                                     "-c",
                                     "fsync=off",
                                     "-c",
                                     "full_page_writes=off",
                                     "-c",
                                     "shared_buffers=16MB"};
    log_offset_ = log().size();
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0)
        exec_child(args, dir_ + "/postgres.log", run_as_, parent, true);
    pid_ = pid;
    wait_ready();
}

void postgres_server::wait_ready() {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("postgres exited at start:\n" + log());
        }
        if (log().find("database system is ready to accept connections", log_offset_) !=
            std::string::npos)
            return;
        std::this_thread::sleep_for(10ms);
    }
    kill();
    throw std::runtime_error("postgres did not become ready:\n" + log());
}

void postgres_server::stop() {
    if (pid_ <= 0)
        return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGINT); // fast shutdown
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
            pid_ = -1;
            return;
        }
        std::this_thread::sleep_for(10ms);
    }
    kill(); // it did not stop: bounded, like everything in a test
}

void postgres_server::kill() {
    if (pid_ <= 0)
        return;
    pid_t group = pid_;
    ::kill(-group, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    // Backends are the postmaster's children, not ours: wait until they are gone too, or a
    // restart finds its shared memory still attached.
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (group_running(group) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
}

postgres_server::rows postgres_server::exec(std::string const& sql, std::string const& database,
                                            std::string const& user) const {
    std::unique_ptr<PGconn, void (*)(PGconn*)> conn(PQconnectdb(url(database, user).c_str()),
                                                    PQfinish);
    if (PQstatus(conn.get()) != CONNECTION_OK)
        throw std::runtime_error("connect to " + url(database, user) + ": " +
                                 PQerrorMessage(conn.get()));
    std::unique_ptr<PGresult, void (*)(PGresult*)> r(PQexec(conn.get(), sql.c_str()), PQclear);
    auto status = PQresultStatus(r.get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
        throw std::runtime_error(sql + ": " + PQresultErrorMessage(r.get()));
    rows out;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
        auto& row = out.emplace_back();
        for (int j = 0; j < PQnfields(r.get()); ++j)
            row.push_back(PQgetisnull(r.get(), i, j)
                              ? std::nullopt
                              : std::optional<std::string>(PQgetvalue(r.get(), i, j)));
    }
    return out;
}

std::string postgres_server::create_database() {
    std::string name = "test" + std::to_string(++databases_);
    exec("CREATE DATABASE " + name);
    return name;
}

} // namespace mcpd::test
