// tests/integration/ts_mcp_server.cpp — starting and stopping the TypeScript SDK test server.
#include "ts_mcp_server.hpp"

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace mcpd::test {

namespace {

std::string make_temp_dir() {
    char tmpl[] = "/tmp/mcpd-ts-server-XXXXXX";
    if (!::mkdtemp(tmpl))
        throw std::runtime_error("mkdtemp failed");
    return tmpl;
}

void run_or_throw(std::string const& command) {
    if (std::system(command.c_str()) != 0)
        throw std::runtime_error("failed: " + command);
}

} // namespace

ts_mcp_server::ts_mcp_server(options opts)
    : dir_(make_temp_dir()) {
    std::string tools = MCPD_NODE_TOOLS;
    std::vector<std::string> args = {tools + "/node_modules/.bin/node",
                                     opts.script.empty() ? MCPD_TS_SERVER_SCRIPT : opts.script,
                                     tools};
    args.insert(args.end(), opts.args.begin(), opts.args.end());
    if (opts.json_response)
        args.emplace_back("--json");
    if (!opts.tls_cert.empty())
        args.insert(args.end(), {"--tls", opts.tls_cert, opts.tls_key});
    if (!opts.require_token.empty())
        args.insert(args.end(), {"--require-token", opts.require_token});
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
    constexpr std::string_view marker = "listening on ";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("the TypeScript SDK server exited at start (is " + tools +
                                     " installed? run scripts/node-tools):\n" + output());
        }
        auto text = output();
        if (auto at = text.find(marker); at != std::string::npos) {
            auto end = text.find('\n', at);
            if (end != std::string::npos) {
                url_ = text.substr(at + marker.size(), end - at - marker.size());
                port_ = static_cast<std::uint16_t>(
                    std::strtoul(url_.substr(url_.rfind(':') + 1).c_str(), nullptr, 10));
                return;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop();
    throw std::runtime_error("the TypeScript SDK server did not start:\n" + output());
}

ts_mcp_server::~ts_mcp_server() {
    stop();
    std::system(("rm -rf " + dir_).c_str());
}

std::string ts_mcp_server::output() const {
    std::ifstream in(dir_ + "/server.out");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void ts_mcp_server::stop() {
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

namespace {
std::string& certificate_dir() {
    static std::string dir;
    return dir;
}
void remove_certificate_dir() {
    if (!certificate_dir().empty())
        std::system(("rm -rf " + certificate_dir()).c_str());
}
} // namespace

localhost_certificate const& localhost_certificate_files() {
    static localhost_certificate const files = [] {
        auto dir = make_temp_dir();
        certificate_dir() = dir;
        std::atexit(remove_certificate_dir);
        localhost_certificate f{dir + "/ca.crt", dir + "/server.crt", dir + "/server.key"};
        std::string q = " >/dev/null 2>&1";
        run_or_throw(
            "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mcpd-client-test-ca"
            " -keyout " +
            dir + "/ca.key -out " + f.ca_cert + q);
        std::ofstream(dir + "/server.ext") << "subjectAltName=DNS:localhost\n";
        run_or_throw("openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout " +
                     f.server_key + " -out " + dir + "/server.csr" + q);
        run_or_throw("openssl x509 -req -in " + dir + "/server.csr -CA " + f.ca_cert + " -CAkey " +
                     dir + "/ca.key -CAcreateserial -days 2 -extfile " + dir + "/server.ext -out " +
                     f.server_cert + q);
        return f;
    }();
    return files;
}

} // namespace mcpd::test
