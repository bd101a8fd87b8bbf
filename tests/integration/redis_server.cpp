// tests/integration/redis_server.cpp — child-process management for redis_server.
#include "redis_server.hpp"

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
    char tmpl[] = "/tmp/mcpd-redis-XXXXXX";
    if (!::mkdtemp(tmpl))
        throw std::runtime_error("mkdtemp failed");
    return tmpl;
}

void run_or_throw(std::string const& cmd) {
    if (std::system(cmd.c_str()) != 0)
        throw std::runtime_error("command failed: " + cmd);
}

} // namespace

std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        throw std::runtime_error("bind to an ephemeral port failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

tls_files const& test_certificates() {
    static tls_files files = [] {
        std::string dir = make_temp_dir();
        tls_files f{dir + "/ca.crt", dir + "/server.crt", dir + "/server.key", dir + "/client.crt",
                    dir + "/client.key"};
        std::string q = " >/dev/null 2>&1";
        run_or_throw("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mcpd-test-ca"
                     " -keyout " +
                     dir + "/ca.key -out " + f.ca_cert + q);
        for (auto const& [name, cert, key] :
             {std::tuple{std::string("server"), f.server_cert, f.server_key},
              std::tuple{std::string("client"), f.client_cert, f.client_key}}) {
            std::string ext = dir + "/" + name + ".ext";
            std::ofstream(ext) << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
            run_or_throw("openssl req -newkey rsa:2048 -nodes -subj /CN=" + name + " -keyout " +
                         key + " -out " + dir + "/" + name + ".csr" + q);
            run_or_throw("openssl x509 -req -in " + dir + "/" + name + ".csr -CA " + f.ca_cert +
                         " -CAkey " + dir + "/ca.key -CAcreateserial -days 2 -extfile " + ext +
                         " -out " + cert + q);
        }
        return f;
    }();
    return files;
}

redis_server::redis_server()
    : redis_server(options{}) {}

redis_server::redis_server(options opts)
    : opts_(std::move(opts))
    , dir_(make_temp_dir()) {
    if (opts_.unix_socket)
        socket_ = dir_ + "/redis.sock";
    for (int attempt = 0;; ++attempt) {
        port_ = opts_.unix_socket ? 0 : free_port();
        try {
            start();
            return;
        } catch (std::exception const&) {
            if (attempt == 3)
                throw; // the port was taken between free_port() and the bind, three times
        }
    }
}

redis_server::~redis_server() {
    stop();
    std::system(("rm -rf " + dir_).c_str());
}

std::string redis_server::url() const {
    if (opts_.unix_socket)
        return "unix://" + socket_;
    return std::string(opts_.tls ? "rediss" : "redis") + "://127.0.0.1:" + std::to_string(port_);
}

std::string redis_server::log() const {
    std::ifstream in(dir_ + "/redis.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void redis_server::start() {
    if (pid_ > 0)
        return;
    std::vector<std::string> args = {
        "redis-server",      "--bind",      "127.0.0.1", "--save", "",
        "--appendonly",      "no",          "--dir",     dir_,     "--logfile",
        dir_ + "/redis.log", "--daemonize", "no"};
    std::string port = std::to_string(port_);
    bool const sentinel = !opts_.sentinel_config.empty();
    if (sentinel) {
        // A sentinel rewrites its config file: written once, kept across restarts.
        std::string conf = dir_ + "/sentinel.conf";
        if (!std::ifstream(conf)) {
            std::ofstream out(conf);
            if (opts_.tls) { // TLS only, to the clients and to the nodes it watches
                auto const& c = test_certificates();
                out << "port 0\ntls-port " << port << "\ntls-cert-file " << c.server_cert
                    << "\ntls-key-file " << c.server_key << "\ntls-ca-cert-file " << c.ca_cert
                    << "\ntls-auth-clients no\ntls-replication yes\n";
            } else {
                out << "port " << port << "\n";
            }
            out << "bind 127.0.0.1\n";
            for (auto const& line : opts_.sentinel_config)
                out << line << "\n";
        }
        args = {"redis-server",      conf,          "--sentinel", "--dir", dir_, "--logfile",
                dir_ + "/redis.log", "--daemonize", "no"};
    } else if (opts_.unix_socket) {
        args.insert(args.end(),
                    {"--port", "0", "--unixsocket", socket_, "--unixsocketperm", "700"});
    } else if (opts_.tls) {
        auto const& c = test_certificates();
        args.insert(args.end(),
                    {"--port", "0", "--tls-port", port, "--tls-cert-file", c.server_cert,
                     "--tls-key-file", c.server_key, "--tls-ca-cert-file", c.ca_cert,
                     "--tls-auth-clients", opts_.tls_client_certs ? "yes" : "no"});
    } else {
        args.insert(args.end(), {"--port", port});
    }
    args.insert(args.end(), opts_.args.begin(), opts_.args.end());
    log_offset_ = log().size();
    ready_text_ = sentinel ? "Sentinel ID is" : "eady to accept connections";

    pid_t pid = ::fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0) {
        // Die with the test process, and keep its output pipes free (ctest waits on them).
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = ::open("/dev/null", O_RDWR);
        ::dup2(devnull, STDIN_FILENO);
        ::dup2(devnull, STDOUT_FILENO);
        ::dup2(devnull, STDERR_FILENO);
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execvp("redis-server", argv.data());
        ::_exit(127);
    }
    pid_ = pid;
    wait_ready(std::chrono::seconds(10));
}

void redis_server::wait_ready(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("redis-server exited at start:\n" + log());
        }
        // "Ready to accept connections" (TCP) or "…now ready to accept connections at <path>".
        if (log().find(ready_text_, log_offset_) != std::string::npos)
            return;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
    throw std::runtime_error("redis-server did not become ready:\n" + log());
}

void redis_server::stop() {
    if (pid_ <= 0)
        return;
    ::kill(pid_, SIGCONT); // a frozen server cannot act on SIGTERM
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

void redis_server::kill() {
    if (pid_ <= 0)
        return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

void redis_server::freeze() {
    if (pid_ > 0)
        ::kill(pid_, SIGSTOP);
}

void redis_server::thaw() {
    if (pid_ > 0)
        ::kill(pid_, SIGCONT);
}

} // namespace mcpd::test
