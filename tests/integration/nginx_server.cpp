// tests/integration/nginx_server.cpp — the config and child-process management for nginx_server,
// a real nginx load balancer in front of an mcpd fleet. See nginx_server.hpp.
#include "nginx_server.hpp"

#include "redis_server.hpp" // free_port()

#include <arpa/inet.h>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace mcpd::test {

namespace {

std::string make_temp_dir() {
    char tmpl[] = "/tmp/mcpd-nginx-XXXXXX";
    if (!::mkdtemp(tmpl))
        throw std::runtime_error("mkdtemp failed");
    return tmpl;
}

std::string read_file(std::string const& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Debian installs nginx in /usr/sbin, which is not on an ordinary user's PATH.
std::string nginx_binary() {
    for (char const* p : {"/usr/sbin/nginx", "/usr/local/sbin/nginx"})
        if (::access(p, X_OK) == 0)
            return p;
    return "nginx"; // looked up on PATH
}

bool accepts_connections(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

std::string config(std::string const& dir, std::uint16_t port,
                   std::vector<std::uint16_t> const& upstreams) {
    std::ostringstream c;
    // As root the master would run its worker as `nobody`, who cannot enter the 0700 temp dir
    // where the worker keeps its temp files: the worker stays root. Anyone else's nginx cannot
    // switch users (and warns when asked to): its worker runs as the test does.
    if (::geteuid() == 0)
        c << "user root;\n";
    c << "daemon off;\n"
         "worker_processes 1;\n"
      << "pid " << dir << "/nginx.pid;\n"
      << "error_log " << dir
      << "/error.log notice;\n"
      // A graceful stop (SIGQUIT) waits for open requests, an SSE stream for an hour: it closes
      // them after this instead.
      << "worker_shutdown_timeout 1s;\n"
         "events {\n"
         "    worker_connections 1024;\n"
         "}\n"
         "http {\n"
      << "    client_body_temp_path " << dir << "/client_body_temp;\n"
      << "    proxy_temp_path " << dir << "/proxy_temp;\n"
      << "    fastcgi_temp_path " << dir << "/fastcgi_temp;\n"
      << "    uwsgi_temp_path " << dir << "/uwsgi_temp;\n"
      << "    scgi_temp_path " << dir << "/scgi_temp;\n"
      << "    log_format upstream_only '$upstream_addr';\n"
      << "    access_log " << dir << "/access.log upstream_only;\n"
      << "    client_max_body_size 16m;\n"
         "    upstream mcpd_fleet {\n";
    // Round-robin (the default), no stickiness. max_fails=0: a refused connection never takes
    // an instance out of the rotation, so a restarted one serves again at once.
    for (auto p : upstreams)
        c << "        server 127.0.0.1:" << p << " max_fails=0;\n";
    // Idle connections to the upstreams are kept, and closed before mcpd's own keep-alive idle
    // limit (60 s) closes them: a request written to a connection the upstream is closing is
    // not retried (see proxy_next_upstream) and would fail with 502.
    c << "        keepalive 32;\n"
         "        keepalive_timeout 30s;\n"
         "    }\n"
         "    server {\n"
      << "        listen 127.0.0.1:" << port << ";\n"
      << "        location / {\n"
         "            proxy_pass http://mcpd_fleet;\n"
         "            proxy_http_version 1.1;\n"
         "            proxy_set_header Connection \"\";\n"
         // As the client sent it: mcpd checks Host against DNS rebinding.
         "            proxy_set_header Host $http_host;\n"
         // Server-Sent Events reach the client as they are sent; bodies reach mcpd as they
         // arrive.
         "            proxy_buffering off;\n"
         "            proxy_request_buffering off;\n"
         "            proxy_cache off;\n"
         "            proxy_read_timeout 1h;\n"
         "            proxy_send_timeout 1h;\n"
         // A refused connection (a killed instance) goes to the next one. A request already
         // written to an upstream is never sent again, whatever its method: no non_idempotent,
         // and with proxy_request_buffering off nginx retries no request once it is sent.
         "            proxy_next_upstream error timeout;\n"
         "        }\n"
         "    }\n"
         "}\n";
    return c.str();
}

} // namespace

nginx_server::nginx_server(options opts)
    : opts_(std::move(opts))
    , dir_(make_temp_dir()) {
    if (opts_.upstreams.empty())
        throw std::invalid_argument("nginx_server needs at least one upstream port");
    for (int attempt = 0;; ++attempt) {
        port_ = free_port();
        try {
            start();
            return;
        } catch (std::exception const&) {
            // The port was taken between free_port() and nginx's bind: another one, three times.
            if (attempt == 3 || log().find("Address already in use") == std::string::npos) {
                std::system(("rm -rf " + dir_).c_str());
                throw;
            }
        }
    }
}

nginx_server::~nginx_server() {
    stop(std::chrono::seconds(5));
    std::system(("rm -rf " + dir_).c_str());
}

std::string nginx_server::url() const {
    return "http://127.0.0.1:" + std::to_string(port_);
}

std::string nginx_server::log() const {
    return read_file(dir_ + "/error.log");
}

std::vector<std::string> nginx_server::upstream_log() const {
    std::vector<std::string> out;
    std::istringstream in(read_file(dir_ + "/access.log"));
    std::string line;
    while (std::getline(in, line))
        if (!line.empty())
            out.push_back(line);
    return out;
}

std::vector<std::string> nginx_server::wait_upstream_log(std::size_t count,
                                                         std::chrono::milliseconds limit) const {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        auto entries = upstream_log();
        if (entries.size() >= count || std::chrono::steady_clock::now() >= deadline)
            return entries;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

void nginx_server::start() {
    std::string const conf = dir_ + "/nginx.conf";
    std::string const error_log = dir_ + "/error.log";
    ::unlink((dir_ + "/nginx.pid").c_str());
    ::unlink(error_log.c_str()); // a fresh log per attempt: it tells why this one failed
    std::ofstream(conf) << config(dir_, port_, opts_.upstreams);

    // -e: the error log before the config is read (Debian's default is stderr, also sent there).
    std::vector<std::string> args = {nginx_binary(), "-p", dir_, "-c", conf, "-e", error_log};
    pid_t pid = ::fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0) {
        // Its own process group (the master and its worker), so that a stop that has to kill
        // reaches the worker too. When the test process dies the master gets SIGTERM (a fast
        // shutdown that takes its worker along: SIGKILL would leave the worker listening).
        ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        // Keep the test's output pipes free (ctest waits on them).
        int devnull = ::open("/dev/null", O_RDWR);
        int err = ::open(error_log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        ::dup2(devnull, STDIN_FILENO);
        ::dup2(devnull, STDOUT_FILENO);
        ::dup2(err >= 0 ? err : devnull, STDERR_FILENO);
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        ::_exit(127);
    }
    ::setpgid(pid, pid); // also here: whichever of the two runs first
    pid_ = pid;
    wait_ready(std::chrono::seconds(10));
}

void nginx_server::wait_ready(std::chrono::milliseconds limit) {
    // nginx writes its pid file once its listening socket is bound (a port taken by someone
    // else fails the bind, after retries for 2.5 s): then the port that accepts is nginx's.
    std::string const pid_file = dir_ + "/nginx.pid";
    std::string const want = std::to_string(pid_);
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            std::string how = WIFEXITED(status) && WEXITSTATUS(status) == 127
                                  ? " (could not run " + nginx_binary() + ": is nginx installed?)"
                                  : "";
            throw std::runtime_error("nginx exited at start" + how + ":\n" + log());
        }
        auto pid_text = read_file(pid_file);
        if (pid_text == want + "\n" && accepts_connections(port_))
            return;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop(std::chrono::seconds(1));
    throw std::runtime_error(
        "nginx did not accept connections on 127.0.0.1:" + std::to_string(port_) + " within " +
        std::to_string(limit.count()) + " ms:\n" + log());
}

void nginx_server::stop(std::chrono::milliseconds limit) {
    if (pid_ <= 0)
        return;
    ::kill(pid_, SIGQUIT); // graceful: the master stops its worker and exits
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
            pid_ = -1;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(-pid_, SIGKILL); // the group: the master is still there, so it is still ours
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

} // namespace mcpd::test
