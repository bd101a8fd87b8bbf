// tests/integration/fleet_run.cpp — mcpd_fleet_run: starts a fleet (docs/fleet.md) for a test
// program, runs that program, and stops the fleet. The one way the fleet tests (the conformance
// suites through a load balancer, fleet_client.mjs) get their servers.
//
// Usage: mcpd_fleet_run [--instances N] [--ts-sdk <node_tools dir>] [--timeout SECONDS]
//                       -- <command> [args…]
//
// Starts a redis-server (redis_server.hpp), N `mcpd serve --conformance` (mcpd_process.hpp) with
// their sessions on it (MCP_TS_STORAGE_TYPE=redis, REDIS_URL), each checked to have joined the
// fleet, and a round-robin nginx with no stickiness in front (nginx_server.hpp). With --ts-sdk,
// N servers on the official TypeScript SDK (ts_mcp_server.mjs, run by the pinned Node of that
// node_tools dir) instead, each with its sessions in its own memory, and no Redis: the
// comparison. Then runs the command (inheriting stdin, stdout and stderr) with, in its
// environment:
//   FLEET_URL          http://127.0.0.1:<nginx port>/mcp
//   FLEET_PIDS         <pid1>,<pid2>,…   the servers' processes, in instance order
//   FLEET_UPSTREAMS    <port1>,<port2>,… their ports on 127.0.0.1, in the same order
//   FLEET_NUMBERS      <n1>,<n2>,…       each mcpd's fleet instance number (its stream ids carry
//                                        it, docs/fleet.md); empty with --ts-sdk
//   FLEET_ACCESS_LOG   nginx's access log: the upstream ("127.0.0.1:port") of each request,
//                      one line per request, written when the request ends
//   FLEET_KIND         mcpd or ts-sdk
// When it exits, prints how many requests each instance served (from nginx's log) and which
// instances died during the run (and, if the command failed, the end of each server's log), then
// stops everything. Its exit code is the command's (128 + the signal if a signal ended it; 124
// if it outran --timeout, default 150 s, and was killed with its whole process group).
#include "mcpd_process.hpp"
#include "nginx_server.hpp"
#include "node_process.hpp"
#include "redis_server.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace mcpd::test;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct run_options {
    int instances = 3;
    std::string ts_sdk_tools; // set: TypeScript SDK servers instead of mcpd
    std::chrono::seconds timeout{150};
    std::vector<std::string> command;
};

[[noreturn]] void usage(std::string const& why) {
    std::cerr << "mcpd_fleet_run: " << why
              << "\nusage: mcpd_fleet_run [--instances N] [--ts-sdk <node_tools dir>] "
                 "[--timeout SECONDS] -- <command> [args...]\n";
    std::exit(2);
}

run_options parse(int argc, char** argv) {
    run_options o;
    int i = 1;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                usage(a + " needs a value");
            return argv[++i];
        };
        if (a == "--") {
            ++i;
            break;
        }
        if (a == "--instances")
            o.instances = std::atoi(value().c_str());
        else if (a == "--ts-sdk")
            o.ts_sdk_tools = std::filesystem::absolute(value()).string(); // it runs elsewhere
        else if (a == "--timeout")
            o.timeout = std::chrono::seconds(std::atoi(value().c_str()));
        else
            usage("unknown option " + a);
    }
    for (; i < argc; ++i)
        o.command.emplace_back(argv[i]);
    if (o.instances < 1 || o.instances > 16)
        usage("--instances must be 1 to 16");
    if (o.timeout.count() <= 0)
        usage("--timeout must be positive");
    if (o.command.empty())
        usage("no command after --");
    return o;
}

std::string last_lines(std::string const& text, std::size_t n) {
    std::size_t at = text.size();
    for (std::size_t seen = 0; at > 0 && seen <= n;)
        if (text[--at] == '\n')
            ++seen;
    return at == 0 ? text : text.substr(at + 1);
}

// The servers of the fleet, whichever kind, behind one interface.
struct instance {
    std::unique_ptr<mcpd_process> mcpd;
    std::unique_ptr<node_process> ts;
    pid_t pid = -1;
    std::uint16_t port = 0;
    std::string number; // the fleet instance number (mcpd only)

    bool running() { return mcpd ? mcpd->running() : ts->running(); }
    [[nodiscard]] std::string log() const { return mcpd ? mcpd->log() : ts->output(); }
};

// The fleet number an mcpd logged when it joined; it must have joined (else this is no fleet).
std::string joined_number(mcpd_process& p) {
    static std::regex const joined("fleet: joined as instance [^ ]+ \\(number ([0-9]+)\\)");
    auto deadline = clock_type::now() + 10s;
    for (;;) {
        std::smatch m;
        auto text = p.log();
        if (std::regex_search(text, m, joined))
            return m[1].str();
        if (clock_type::now() >= deadline || !p.running())
            throw std::runtime_error("mcpd did not join the fleet:\n" + text);
        std::this_thread::sleep_for(10ms);
    }
}

template <typename T>
std::string joined(std::vector<T> const& items, std::string const& sep = ",") {
    std::ostringstream s;
    for (std::size_t i = 0; i < items.size(); ++i)
        s << (i ? sep : "") << items[i];
    return s.str();
}

// The command's process group while it runs: SIGINT and SIGTERM sent to this program go to it
// too (it is not in the terminal's foreground group), then the fleet stops as usual.
volatile sig_atomic_t command_group = 0;
void forward_signal(int sig) {
    if (command_group > 0)
        ::kill(-static_cast<pid_t>(command_group), sig);
}

// Runs the command in its own process group; its exit code (see the top of this file).
int run_command(std::vector<std::string> command, std::chrono::seconds limit) {
    pid_t pid = ::fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        std::vector<char*> argv;
        for (auto& a : command)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        std::fprintf(stderr, "mcpd_fleet_run: cannot run %s: %s\n", argv[0], std::strerror(errno));
        ::_exit(127);
    }
    ::setpgid(pid, pid);
    command_group = pid;
    ::signal(SIGINT, forward_signal);
    ::signal(SIGTERM, forward_signal);
    auto deadline = clock_type::now() + limit;
    int status = 0;
    for (;;) {
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            throw std::runtime_error("waitpid failed");
        if (clock_type::now() >= deadline) {
            std::cerr << "mcpd_fleet_run: the command ran longer than " << limit.count()
                      << " s: killing its process group\n";
            ::kill(-pid, SIGTERM);
            std::this_thread::sleep_for(1s);
            ::kill(-pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            command_group = 0;
            return 124;
        }
        std::this_thread::sleep_for(20ms);
    }
    // Whatever it left behind in its group goes too (a Node peer of a killed shell).
    ::kill(-pid, SIGKILL);
    command_group = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// How many requests each instance served, from nginx's access log.
void print_summary(nginx_server const& lb, std::vector<instance>& fleet, int rc) {
    std::this_thread::sleep_for(200ms); // nginx logs a request once its connection is done
    auto entries = lb.upstream_log();
    std::map<std::string, int> served; // upstream → requests it answered
    int retried = 0, unanswered = 0;
    for (auto const& e : entries) {
        auto last = e.substr(e.rfind(' ') == std::string::npos ? 0 : e.rfind(' ') + 1);
        if (e.find(',') != std::string::npos)
            ++retried;
        if (last == "-")
            ++unanswered;
        else
            ++served[last];
    }
    std::cout << "fleet: nginx served " << entries.size() << " requests:";
    for (std::size_t i = 0; i < fleet.size(); ++i) {
        auto key = "127.0.0.1:" + std::to_string(fleet[i].port);
        std::cout << " instance " << i + 1 << " (port " << fleet[i].port << ", pid " << fleet[i].pid
                  << (fleet[i].number.empty() ? "" : ", number " + fleet[i].number) << ") "
                  << served[key] << ";";
    }
    std::cout << " tried more than one upstream " << retried << "; no upstream " << unanswered
              << "\n";
    for (std::size_t i = 0; i < fleet.size(); ++i)
        if (!fleet[i].running())
            std::cout << "fleet: instance " << i + 1 << " (pid " << fleet[i].pid
                      << ") was not running at the end\n";
    if (rc != 0)
        for (std::size_t i = 0; i < fleet.size(); ++i)
            std::cout << "--- instance " << i + 1 << " log (end) ---\n"
                      << last_lines(fleet[i].log(), 30);
}

} // namespace

int main(int argc, char** argv) {
    auto opts = parse(argc, argv);
    ::signal(SIGPIPE, SIG_IGN);
    try {
        std::unique_ptr<redis_server> redis;
        std::vector<instance> fleet;
        fleet.reserve(static_cast<std::size_t>(opts.instances));
        bool const ts = !opts.ts_sdk_tools.empty();
        if (!ts)
            redis = std::make_unique<redis_server>();
        for (int i = 0; i < opts.instances; ++i) {
            instance inst;
            if (ts) {
                inst.ts = std::make_unique<node_process>(
                    "a TypeScript SDK server", MCPD_TS_SERVER_SCRIPT, std::vector<std::string>{});
                auto url = inst.ts->wait_for_line("listening on ", std::chrono::seconds(20));
                inst.pid = inst.ts->pid();
                inst.port = static_cast<std::uint16_t>(std::stoul(url.substr(url.rfind(':') + 1)));
            } else {
                inst.mcpd = std::make_unique<mcpd_process>(mcpd_process::options{
                    .env = {{"MCP_TS_STORAGE_TYPE", "redis"}, {"REDIS_URL", redis->url()}}});
                inst.pid = inst.mcpd->pid();
                inst.port = inst.mcpd->port();
                inst.number = joined_number(*inst.mcpd);
            }
            fleet.push_back(std::move(inst));
        }
        std::vector<std::uint16_t> ports;
        std::vector<pid_t> pids;
        std::vector<std::string> numbers;
        for (auto const& inst : fleet) {
            ports.push_back(inst.port);
            pids.push_back(inst.pid);
            if (!inst.number.empty())
                numbers.push_back(inst.number);
        }
        nginx_server lb(nginx_server::options{.upstreams = ports});

        auto url = lb.url() + "/mcp";
        ::setenv("FLEET_URL", url.c_str(), 1);
        ::setenv("FLEET_PIDS", joined(pids).c_str(), 1);
        ::setenv("FLEET_UPSTREAMS", joined(ports).c_str(), 1);
        ::setenv("FLEET_NUMBERS", joined(numbers).c_str(), 1);
        ::setenv("FLEET_ACCESS_LOG", (lb.dir() + "/access.log").c_str(), 1);
        ::setenv("FLEET_KIND", ts ? "ts-sdk" : "mcpd", 1);
        std::cout << "fleet: " << fleet.size() << (ts ? " TypeScript SDK servers" : " mcpd")
                  << " (ports " << joined(ports) << ", pids " << joined(pids)
                  << (ts ? "" : ", fleet numbers " + joined(numbers) + ", Redis " + redis->url())
                  << ") behind nginx at " << url << std::endl;

        auto t0 = clock_type::now();
        int rc = run_command(opts.command, opts.timeout);
        std::cout
            << "fleet: the command exited with " << rc << " after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0).count()
            << " ms" << std::endl;
        print_summary(lb, fleet, rc);
        std::cout.flush();
        return rc; // nginx, the servers, then Redis stop as they go out of scope
    } catch (std::exception const& e) {
        std::cerr << "mcpd_fleet_run: " << e.what() << "\n";
        return 1;
    }
}
