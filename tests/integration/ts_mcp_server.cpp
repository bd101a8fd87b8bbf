// tests/integration/ts_mcp_server.cpp — starting and stopping the TypeScript SDK test server.
#include "ts_mcp_server.hpp"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

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

ts_mcp_server::ts_mcp_server(options opts) {
    std::vector<std::string> args = opts.args;
    if (opts.json_response)
        args.emplace_back("--json");
    if (!opts.tls_cert.empty())
        args.insert(args.end(), {"--tls", opts.tls_cert, opts.tls_key});
    if (!opts.require_token.empty())
        args.insert(args.end(), {"--require-token", opts.require_token});
    process_.emplace("the TypeScript SDK server",
                     opts.script.empty() ? MCPD_TS_SERVER_SCRIPT : opts.script, std::move(args));
    url_ = process_->wait_for_line("listening on ", std::chrono::seconds(20));
    port_ = static_cast<std::uint16_t>(
        std::strtoul(url_.substr(url_.rfind(':') + 1).c_str(), nullptr, 10));
}

ts_mcp_server::~ts_mcp_server() = default;

std::string ts_mcp_server::output() const {
    return process_->output();
}

void ts_mcp_server::stop() {
    process_->stop();
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
