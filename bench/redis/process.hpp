// bench/redis/process.hpp — child processes for mcpd_bench_redis, which measures
// mcpd::redis::client against redis-benchmark (the reference): a private redis-server on an
// ephemeral loopback port, a private Redis Cluster of such servers, and running a program with
// its output captured.
//
// Every failure throws std::runtime_error with what went wrong (and the server's log).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <sys/types.h>
#include <vector>

namespace mcpd::bench {

// CPU time, of a finished child (wait4) or of this process (all its threads).
struct cpu_time {
    double user = 0, system = 0; // seconds
    [[nodiscard]] double total() const noexcept { return user + system; }
};
cpu_time cpu_of(rusage const& u);
cpu_time self_cpu();
// Of another running process, from /proc/<pid>/stat (clock-tick resolution: 10 ms).
cpu_time process_cpu(pid_t pid);

// The CPUs this thread may run on (sched_getaffinity), in increasing order.
std::vector<int> allowed_cpus();
// Restricts a process (0: this thread, and the children it starts from now on) to one CPU.
void pin_to_cpu(pid_t pid, int cpu);

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read, released).
std::uint16_t free_loopback_port();

enum class server_mode {
    standalone,
    // --cluster-enabled yes, its nodes.conf in its directory and its cluster bus on a second
    // free port: a node that knows no other yet (redis_cluster joins them).
    cluster_node,
};

// redis-server on 127.0.0.1 only, no persistence, in its own temporary directory. The
// constructor returns once it answers PING (retrying on other ports if one picked was taken
// meanwhile); the destructor stops it by PID (SIGTERM, then waitpid) and removes the
// directory. While it runs, SIGINT/SIGTERM/SIGHUP to this process stop it too.
class redis_server {
public:
    explicit redis_server(std::string program = "redis-server",
                          server_mode mode = server_mode::standalone);
    ~redis_server();
    redis_server(redis_server const&) = delete;
    redis_server& operator=(redis_server const&) = delete;

    void stop() noexcept;
    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] std::uint16_t cluster_port() const noexcept { return cluster_port_; } // 0: none
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    [[nodiscard]] std::string url() const; // redis://127.0.0.1:port
    [[nodiscard]] std::string log_tail() const;

private:
    bool try_start(std::string const& program); // false: exited early (port taken?)

    server_mode mode_;
    int slot_ = -1; // in the table the signal handler stops
    std::string dir_;
    std::uint16_t port_ = 0;
    std::uint16_t cluster_port_ = 0;
    pid_t pid_ = -1;
};

// A Redis Cluster of `masters` cluster_node servers and no replicas, every slot assigned:
// `redis-cli --cluster create 127.0.0.1:p1 … --cluster-replicas 0 --cluster-yes`. The
// constructor returns once every node answers CLUSTER INFO with cluster_state:ok (waiting 30 s
// at most); the destructor stops the servers by PID as redis_server does.
class redis_cluster {
public:
    explicit redis_cluster(std::size_t masters, std::string const& server_program = "redis-server",
                           std::string const& cli_program = "redis-cli");
    ~redis_cluster();
    redis_cluster(redis_cluster const&) = delete;
    redis_cluster& operator=(redis_cluster const&) = delete;

    void stop() noexcept;
    [[nodiscard]] std::vector<redis_server*> nodes() const;
    [[nodiscard]] std::string url() const; // redis+cluster://127.0.0.1:p1,127.0.0.1:p2,…

private:
    std::vector<std::unique_ptr<redis_server>> nodes_;
};

// One command (RESP, as sent) on a fresh connection to 127.0.0.1:port; the reply as received
// (a simple reply, or a bulk string whole), or "" when there is none within a second.
std::string raw_query(std::uint16_t port, std::string_view request);

struct run_output {
    int exit_code = -1; // the exit status, or 128 + signal
    std::string text;   // stdout and stderr, interleaved
    cpu_time cpu;       // the child's
};

// Runs `argv` (argv[0] looked up in PATH) to completion, capturing its output. A signal that
// stops this process stops the child too.
run_output run_captured(std::vector<std::string> const& argv);

} // namespace mcpd::bench
