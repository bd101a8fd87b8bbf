// bench/redis/process.hpp — child processes for mcpd_bench_redis, which measures
// mcpd::redis::client against redis-benchmark (the reference): a private redis-server on an
// ephemeral loopback port, and running a program with its output captured.
//
// Every failure throws std::runtime_error with what went wrong (and the server's log).
#pragma once

#include <cstdint>
#include <string>
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

// redis-server on 127.0.0.1 only, no persistence, in its own temporary directory. The
// constructor returns once it answers PING (retrying on another port if the one picked was
// taken meanwhile); the destructor stops it by PID (SIGTERM, then waitpid) and removes the
// directory. While it runs, SIGINT/SIGTERM/SIGHUP to this process stop it too.
class redis_server {
public:
    explicit redis_server(std::string program = "redis-server");
    ~redis_server();
    redis_server(redis_server const&) = delete;
    redis_server& operator=(redis_server const&) = delete;

    void stop() noexcept;
    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    [[nodiscard]] std::string url() const; // redis://127.0.0.1:port

private:
    bool try_start(std::string const& program); // false: exited early (port taken?)
    [[nodiscard]] std::string log_tail() const;

    std::string dir_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

struct run_output {
    int exit_code = -1; // the exit status, or 128 + signal
    std::string text;   // stdout and stderr, interleaved
    cpu_time cpu;       // the child's
};

// Runs `argv` (argv[0] looked up in PATH) to completion, capturing its output. A signal that
// stops this process stops the child too.
run_output run_captured(std::vector<std::string> const& argv);

} // namespace mcpd::bench
