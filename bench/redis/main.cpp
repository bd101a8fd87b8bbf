// bench/redis/main.cpp — mcpd_bench_redis: request throughput of mcpd::redis::client measured
// against redis-benchmark (the reference), in the same run, on the same private redis-server.
//
// For each workload (GET of a 32-byte value; EVALSHA of `return 1` with 0 keys) and each depth
// D (requests in flight: 1, 16, 256):
//   reference: `redis-benchmark -c 1 -P D -n N -q --csv <command>`: one connection, D commands
//              per write (explicit pipelining); its requests/second is read from the CSV;
//   mcpd:      one client on one io_context thread, D coroutines each looping
//              `co_await client.exec(command(...))` until N requests are done (one connection,
//              automatic pipelining), timed with steady_clock; every reply is checked.
// Both sides send the same command bytes. Each side runs R times (default 3), interleaved
// (reference first on even runs, mcpd first on odd ones), and the median rate is reported with
// the ratio mcpd / redis-benchmark, and each client's CPU time per request (getrusage/wait4).
// The target is ratio >= 0.8 at 16 and 256 in flight.
//
// Placement: by default redis-server is pinned to one CPU and the client being measured to
// another (--no-pin to let the scheduler decide). Unpinned on 2 cores, the scheduler sometimes
// stacks client and server on one core, and GET at depth 256 swung between ratios 0.2 and 0.6
// from one run to the next.
//
// A benchmark, not a test: the exit code is 0 whatever the ratios, non-zero only when
// something failed (a wrong or error reply, a server error, a program that did not start).
//
// Client settings: config_from_url() defaults (RESP3 via HELLO 3, 10 s command timeout, key
// prefix none) except health_check_interval = 0: no idle PINGs. A run never leaves the
// connection idle, so this changes nothing measured; it keeps the connection quiet between
// runs. Each mcpd run uses a fresh client and connects (one PING) before the clock starts, as
// redis-benchmark creates its connection before starting its clock.
//
// --cluster: the same against a private Redis Cluster of M masters (--masters, default 3; no
// replicas) on loopback ephemeral ports: M `redis-server --cluster-enabled yes
// --cluster-config-file nodes.conf --cluster-port <free> --port <free> --save '' --appendonly no`
// joined by `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes`, used once every
// node says cluster_state:ok, and stopped by PID at the end. Default depths 16 and 256.
//   mcpd:      one client on the redis+cluster:// URL of the masters (so M connections, one per
//              master), D' coroutines, each request on a random key of K preloaded
//              `key:<12 digits>` (--keys, default 100000), spread over all 16384 slots;
//   reference: `redis-benchmark --cluster --threads 1 -c M -P D/M -r K/M`: one connection per
//              master, all on one thread as mcpd's client is. Its key is `key:{tag}:__rand_int__`
//              — redis-benchmark 7.0 sends a command-line command to the connection's node only
//              when the key holds {tag}, which it fills with a tag of that node's first slot —
//              so its K/M keys per master lie in one slot each; they are preloaded too (the tags
//              are learnt from a first short run), and INFO's keyspace_misses proves every GET
//              hit. EVALSHA is `EVALSHA <sha> 1 <key>` with the same script (SCRIPT LOAD on every
//              node) on both sides.
// Depth D becomes M connections × P = round(D / M) per connection: D' = M × P in flight on both
// sides (15 and 255 for 16 and 256 on 3 masters). redis-benchmark keeps exactly P on each
// connection; mcpd's D' random keys put about D'/M on each, varying. Pinning: every server on
// one CPU, the client under test on the other.
#include "process.hpp"

#include "core/log.hpp"
#include "mcpd/redis.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace mcpd;
using bench_clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view get_key = "mcpd:bench:get";
constexpr std::string_view get_value = "0123456789abcdef0123456789abcdef"; // 32 bytes
constexpr std::string_view script_body = "return 1";

struct workload {
    std::string name;
    std::vector<std::string> args;                  // the command, for redis-benchmark
    std::function<redis::command()> make;           // the same command, as a caller writes it
    std::function<bool(redis::value const&)> right; // is this the expected reply?
    std::size_t key_arg = 0; // cluster: the key, which differs between the sides (0: none)
};

// --- one-off commands (set-up, server stats) -------------------------------------------------

redis::config client_config(std::string const& url) {
    auto cfg = redis::config_from_url(url).value();
    cfg.health_check_interval = duration::zero();
    return cfg;
}

asio::awaitable<void> exec_once(redis::client& c, redis::command cmd,
                                std::optional<result<redis::value>>& out) {
    out = co_await c.exec(std::move(cmd));
    co_await c.quit();
}

redis::value query(std::string const& url, redis::command cmd) {
    std::string what(cmd.name());
    asio::io_context io(1);
    redis::client c(io.get_executor(), client_config(url));
    std::optional<result<redis::value>> out;
    asio::co_spawn(io, exec_once(c, std::move(cmd), out), asio::detached);
    io.run();
    if (!out)
        throw std::runtime_error(what + ": no reply");
    if (!*out)
        throw std::runtime_error(what + ": " + out->error().message());
    return std::move(**out);
}

// A counter of INFO stats, summed over the servers: total_error_replies (error replies sent
// since the server started), keyspace_misses (reads of a key that did not exist).
std::uint64_t server_stat(std::vector<std::string> const& urls, std::string const& name) {
    std::uint64_t sum = 0;
    for (auto const& url : urls) {
        auto info = query(url, redis::command("INFO", "stats"));
        std::string field = name + ":";
        auto pos = info.str.find(field);
        if (pos == std::string::npos)
            throw std::runtime_error("INFO stats has no " + name);
        sum += std::strtoull(info.str.c_str() + pos + field.size(), nullptr, 10);
    }
    return sum;
}

// key:000000000042 — the form of redis-benchmark's __rand_int__ (12 digits).
std::string numbered_key(std::string_view prefix, std::uint64_t n) {
    std::string key(prefix);
    char digits[12];
    for (int i = 11; i >= 0; --i, n /= 10)
        digits[i] = static_cast<char>('0' + n % 10);
    key.append(digits, sizeof digits);
    return key;
}

asio::awaitable<void> set_all(redis::client& c, std::vector<std::string> const& keys,
                              std::string_view value) {
    constexpr std::size_t batch = 1000;
    for (std::size_t i = 0; i < keys.size(); i += batch) {
        redis::request req;
        for (std::size_t j = i; j < std::min(keys.size(), i + batch); ++j)
            req.push(redis::command("SET", keys[j], value));
        auto replies = co_await c.exec(std::move(req));
        if (!replies)
            throw std::runtime_error("preload: " + replies.error().message());
        for (auto const& r : *replies)
            if (r.is_error())
                throw std::runtime_error("preload: " + redis::to_debug_string(r));
    }
    co_await c.quit();
}

// SET of every key to `value` through one client (a cluster's routes each to its master).
void preload(std::string const& url, std::vector<std::string> const& keys, std::string_view value) {
    asio::io_context io(1);
    redis::client c(io.get_executor(), client_config(url));
    std::exception_ptr failure;
    asio::co_spawn(io, set_all(c, keys, value), [&](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure)
        std::rethrow_exception(failure);
}

// --- mcpd's side ------------------------------------------------------------------------------

struct mcpd_run {
    redis::client* client = nullptr;
    workload const* w = nullptr;
    std::uint64_t target = 0; // requests to make
    std::uint64_t issued = 0; // shared by the workers: one thread, no atomics needed
    std::uint64_t errors = 0;
    std::string first_error;
    int running = 0; // workers not finished
    bench_clock::time_point start, end;
    bench::cpu_time cpu_start, cpu_end; // this process's
    std::exception_ptr failure;
};

asio::awaitable<void> worker(mcpd_run& s) {
    while (s.issued < s.target) {
        ++s.issued;
        auto r = co_await s.client->exec(s.w->make());
        if (!r || !s.w->right(*r)) {
            if (s.errors++ == 0)
                s.first_error =
                    r ? "unexpected reply " + redis::to_debug_string(*r) : r.error().message();
        }
    }
}

asio::awaitable<void> drive(mcpd_run& s, int depth) {
    auto ex = co_await asio::this_coro::executor;
    auto pong = co_await s.client->exec(redis::command("PING")); // connect before the clock
    if (!pong)
        throw std::runtime_error("mcpd client: PING: " + pong.error().message());
    // A cluster's PING connected one master (and the slot map all of them): the others too.
    for (auto give_up = bench_clock::now() + std::chrono::seconds(10);
         s.client->state() != redis::connection_state::ready;) {
        if (bench_clock::now() >= give_up)
            throw std::runtime_error("mcpd client: not connected to every node within 10 s");
        asio::steady_timer t(ex, std::chrono::milliseconds(1));
        co_await t.async_wait(asio::use_awaitable);
    }
    asio::steady_timer all_done(ex, bench_clock::time_point::max());
    s.running = depth;
    s.cpu_start = bench::self_cpu();
    s.start = bench_clock::now();
    for (int i = 0; i < depth; ++i)
        asio::co_spawn(ex, worker(s), [&s, &all_done](std::exception_ptr e) {
            if (e && !s.failure)
                s.failure = e;
            if (--s.running == 0) {
                s.end = bench_clock::now();
                s.cpu_end = bench::self_cpu();
                all_done.cancel();
            }
        });
    while (s.running > 0) {
        boost::system::error_code ec;
        co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (auto q = co_await s.client->quit(); !q)
        throw std::runtime_error("mcpd client: quit: " + q.error().message());
}

struct side_result {
    double rps = 0;
    double cpu_us = 0;        // the client's CPU time per request, microseconds
    double user_share = 0;    // of that CPU time, the part in user space (not the kernel)
    double server_cpu_us = 0; // redis-server's CPU time per request during the run
    std::uint64_t errors = 0;
    std::string first_error;
};

side_result run_mcpd(std::string const& url, workload const& w, int depth, std::uint64_t n) {
    asio::io_context io(1);
    redis::client client(io.get_executor(), client_config(url));
    mcpd_run s;
    s.client = &client;
    s.w = &w;
    s.target = n;
    std::exception_ptr drive_failure;
    asio::co_spawn(io, drive(s, depth), [&](std::exception_ptr e) { drive_failure = e; });
    io.run();
    if (drive_failure)
        std::rethrow_exception(drive_failure);
    if (s.failure)
        std::rethrow_exception(s.failure);
    double seconds = std::chrono::duration<double>(s.end - s.start).count();
    double user = s.cpu_end.user - s.cpu_start.user;
    double cpu = s.cpu_end.total() - s.cpu_start.total();
    return {static_cast<double>(n) / seconds,
            cpu * 1e6 / static_cast<double>(n),
            cpu > 0 ? user / cpu : 0,
            0,
            s.errors,
            s.first_error};
}

// --- redis-benchmark's side -------------------------------------------------------------------

// The requests/second of the one test in redis-benchmark's --csv output:
//   "test","rps","avg_latency_ms",...
//   "GET mcpd:bench:get","584795.31","0.021",...
double parse_benchmark_csv(std::string const& text) {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (!line.starts_with('"') || line.starts_with("\"test\""))
            continue;
        auto sep = line.find("\",\"");
        if (sep == std::string::npos)
            continue;
        auto begin = sep + 3;
        auto end = line.find('"', begin);
        if (end == std::string::npos)
            continue;
        std::string field = line.substr(begin, end - begin);
        char* stop = nullptr;
        double rps = std::strtod(field.c_str(), &stop);
        if (stop != field.c_str() && *stop == '\0' && rps > 0)
            return rps;
    }
    throw std::runtime_error("no requests/second in redis-benchmark's output:\n" + text);
}

// `flags` go between the common options and the command (--cluster …).
side_result run_reference(std::string const& program, std::uint16_t port,
                          std::vector<std::string> const& flags, workload const& w, int connections,
                          int pipeline, std::uint64_t n) {
    std::vector<std::string> argv{program,
                                  "-h",
                                  "127.0.0.1",
                                  "-p",
                                  std::to_string(port),
                                  "-c",
                                  std::to_string(connections),
                                  "-P",
                                  std::to_string(pipeline),
                                  "-n",
                                  std::to_string(n),
                                  "-q",
                                  "--csv"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.insert(argv.end(), w.args.begin(), w.args.end());
    auto out = bench::run_captured(argv);
    if (out.exit_code != 0)
        throw std::runtime_error(program + " exited with " + std::to_string(out.exit_code) + ":\n" +
                                 out.text);
    if (out.text.find("rror") != std::string::npos) // "Error from server: …"
        throw std::runtime_error(program + " reported an error:\n" + out.text);
    // Its CPU time covers its whole life (start-up included: about a millisecond).
    double cpu = out.cpu.total();
    return {parse_benchmark_csv(out.text),
            cpu * 1e6 / static_cast<double>(n),
            cpu > 0 ? out.cpu.user / cpu : 0,
            0,
            0,
            {}};
}

// --- the report -------------------------------------------------------------------------------

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    auto mid = v.size() / 2;
    return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

std::string first_line(std::string const& text) {
    auto s = text.substr(0, text.find('\n'));
    return s.empty() ? "?" : s;
}

// Each field's median over the runs of one side.
side_result summarize(std::vector<side_result> const& runs) {
    auto med = [&](double side_result::*field) {
        std::vector<double> v;
        for (auto const& r : runs)
            v.push_back(r.*field);
        return median(std::move(v));
    };
    side_result s{med(&side_result::rps),
                  med(&side_result::cpu_us),
                  med(&side_result::user_share),
                  med(&side_result::server_cpu_us),
                  0,
                  {}};
    for (auto const& r : runs)
        s.errors += r.errors;
    return s;
}

struct row {
    std::string workload;
    int depth = 0;     // as asked for
    int in_flight = 0; // on each side: depth, or on a cluster masters × round(depth / masters)
    std::uint64_t requests = 0;
    side_result reference, mcpd; // medians
    [[nodiscard]] double ratio() const { return mcpd.rps / reference.rps; }
};

struct options {
    std::uint64_t requests = 0; // 0: by depth
    bool quick = false;
    int runs = 3;
    std::vector<int> depths{1, 16, 256};
    std::vector<std::string> workloads{"GET", "EVALSHA"};
    bool pin = true;
    bool cluster = false;
    int masters = 3;
    std::uint64_t keys = 100'000; // cluster: keys per side
    std::string redis_server = "redis-server";
    std::string redis_benchmark = "redis-benchmark";
    std::string redis_cli = "redis-cli";
};

// What is measured against: one redis-server, or a Redis Cluster's masters.
struct deployment {
    std::string url;                          // mcpd's client's
    std::uint16_t seed_port = 0;              // redis-benchmark's -p
    std::vector<std::string> node_urls;       // each server alone: INFO, SCRIPT LOAD
    std::vector<pid_t> pids;                  // each server's: its CPU time
    std::vector<std::string> reference_flags; // redis-benchmark's, before the command
    int connections = 1;                      // on each side (mcpd: one per server)
};

double servers_cpu(std::vector<pid_t> const& pids) {
    double sum = 0;
    for (pid_t pid : pids)
        sum += bench::process_cpu(pid).total();
    return sum;
}

// A random number below `bound` (xorshift64*; one thread: mcpd's io_context).
std::function<std::uint64_t()> random_below(std::uint64_t bound) {
    return [state = std::uint64_t{0x9e3779b97f4a7c15}, bound]() mutable {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return (state * 0x2545f4914f6cdd1dULL) % bound;
    };
}

// Set-up of a cluster run: the script on every node, the keys of both sides preloaded; the
// workloads, and redis-benchmark's flags in `d`.
std::vector<workload> prepare_cluster(options const& o, deployment& d) {
    std::string sha = redis::sha1_hex(script_body);
    for (auto const& url : d.node_urls) {
        auto loaded = query(url, redis::command("SCRIPT", "LOAD", script_body)).str;
        if (loaded != sha)
            throw std::runtime_error("SCRIPT LOAD on " + url + " returned " + loaded +
                                     ", expected " + sha);
    }
    // redis-benchmark's keys: key:{tag}:<12 digits>, {tag} filled with a tag of the first slot
    // of the connection's node. A first short run without -r leaves `key:{…}:__rand_int__` on
    // each node, which gives the tags.
    constexpr std::string_view placeholder = "key:{tag}:__rand_int__";
    constexpr std::string_view rand_suffix = ":__rand_int__";
    auto tag_run = bench::run_captured(
        {o.redis_benchmark, "-h", "127.0.0.1", "-p", std::to_string(d.seed_port), "-c",
         std::to_string(d.connections), "-n", std::to_string(100 * d.connections), "-q", "--csv",
         "--cluster", "--threads", "1", "SET", std::string(placeholder), std::string(get_value)});
    if (tag_run.exit_code != 0)
        throw std::runtime_error(o.redis_benchmark + " (learning its cluster keys) exited with " +
                                 std::to_string(tag_run.exit_code) + ":\n" + tag_run.text);
    std::uint64_t per_node = (o.keys + d.node_urls.size() - 1) / d.node_urls.size();
    std::vector<std::string> keys;
    keys.reserve(o.keys + per_node * d.node_urls.size());
    for (auto const& url : d.node_urls) {
        auto found = query(url, redis::command("KEYS", "key:{*"));
        if (found.elements.size() != 1 || !found.elements[0].str.ends_with(rand_suffix))
            throw std::runtime_error("cannot tell redis-benchmark's key on " + url +
                                     ": KEYS says " + redis::to_debug_string(found));
        std::string const& key = found.elements[0].str;
        query(url, redis::command("DEL", key));
        std::string prefix = key.substr(0, key.size() - rand_suffix.size() + 1); // key:{…}:
        for (std::uint64_t n = 0; n < per_node; ++n)
            keys.push_back(numbered_key(prefix, n));
    }
    for (std::uint64_t n = 0; n < o.keys; ++n)
        keys.push_back(numbered_key("key:", n));
    preload(d.url, keys, get_value);
    std::uint64_t total = 0;
    for (auto const& url : d.node_urls)
        total += static_cast<std::uint64_t>(query(url, redis::command("DBSIZE")).integer);
    if (total != keys.size())
        throw std::runtime_error("preloaded " + std::to_string(keys.size()) +
                                 " keys, the nodes hold " + std::to_string(total));
    fmt::print("keys: {} key:<12 digits> for mcpd over all slots; {} key:{{tag}}:<12 digits> per "
               "master for redis-benchmark (-r {}), in one slot of each; all preloaded ({} "
               "bytes)\n",
               o.keys, per_node, per_node, get_value.size());
    d.reference_flags = {"--cluster", "--threads", "1", "-r", std::to_string(per_node)};

    auto next_key = std::make_shared<std::function<std::uint64_t()>>(random_below(o.keys));
    auto random_key = [next_key] { return numbered_key("key:", (*next_key)()); };
    std::vector<workload> workloads;
    workloads.push_back({"GET",
                         {"GET", std::string(placeholder)},
                         [random_key] { return redis::command("GET", random_key()); },
                         [](redis::value const& v) {
                             return v.type == redis::resp_type::bulk_string && v.str == get_value;
                         },
                         1});
    workloads.push_back(
        {"EVALSHA",
         {"EVALSHA", sha, "1", std::string(placeholder)},
         [sha, random_key] { return redis::command("EVALSHA", sha, 1, random_key()); },
         [](redis::value const& v) {
             return v.type == redis::resp_type::integer && v.integer == 1;
         },
         3});
    return workloads;
}

std::vector<workload> prepare_single(deployment const& d) {
    std::string const& url = d.url;
    // Set-up: the GET key, and the script in the server's cache.
    query(url, redis::command("SET", get_key, get_value));
    std::string sha = query(url, redis::command("SCRIPT", "LOAD", script_body)).str;
    if (sha != redis::sha1_hex(script_body))
        throw std::runtime_error("SCRIPT LOAD returned " + sha + ", expected " +
                                 redis::sha1_hex(script_body));

    std::vector<workload> workloads;
    workloads.push_back({"GET",
                         {"GET", std::string(get_key)},
                         [] { return redis::command("GET", get_key); },
                         [](redis::value const& v) {
                             return v.type == redis::resp_type::bulk_string && v.str == get_value;
                         }});
    workloads.push_back({"EVALSHA",
                         {"EVALSHA", sha, "0"},
                         [sha] { return redis::command("EVALSHA", sha, 0); },
                         [](redis::value const& v) {
                             return v.type == redis::resp_type::integer && v.integer == 1;
                         }});
    return workloads;
}

// Both sides send the same command bytes; on a cluster, except the key (each side its own).
void check_same_commands(std::vector<workload> const& workloads) {
    for (auto const& w : workloads) {
        auto made = w.make();
        bool same = made.args().size() == w.args.size();
        for (std::size_t i = 0; same && i < w.args.size(); ++i)
            same = (w.key_arg != 0 && i == w.key_arg) || made.args()[i] == w.args[i];
        if (!same)
            throw std::runtime_error(w.name + ": the two sides would not send the same command");
    }
}

std::uint64_t requests_for(options const& o, int depth) {
    if (o.requests > 0)
        return o.requests;
    std::uint64_t n = depth == 1 ? 100'000 : 1'000'000;
    return o.quick ? n / 20 : n;
}

int run(options const& o) {
    unsigned cores = std::thread::hardware_concurrency();
    fmt::print("mcpd_bench_redis: mcpd::redis::client vs {} (reference)\n",
               first_line(bench::run_captured({o.redis_benchmark, "--version"}).text));
    fmt::print("server: {}\n", first_line(bench::run_captured({o.redis_server, "--version"}).text));
    auto cpus = bench::allowed_cpus();
    fmt::print("machine: {} cores ({} usable here); redis-server, the client under test and "
               "redis-benchmark share them\n",
               cores, cpus.size());

    std::optional<bench::redis_server> server;
    std::optional<bench::redis_cluster> cluster;
    deployment d;
    if (o.cluster) {
        cluster.emplace(static_cast<std::size_t>(o.masters), o.redis_server, o.redis_cli);
        d.url = cluster->url();
        for (auto* n : cluster->nodes()) {
            d.node_urls.push_back(n->url());
            d.pids.push_back(n->pid());
        }
        d.seed_port = cluster->nodes().front()->port();
        d.connections = o.masters;
    } else {
        server.emplace(o.redis_server);
        d.url = server->url();
        d.node_urls = {d.url};
        d.pids = {server->pid()};
        d.seed_port = server->port();
    }
    if (o.pin && cpus.size() >= 2) {
        // One core for the server, the other for whichever client is measuring (redis-benchmark
        // inherits this thread's affinity): the scheduler cannot stack client and server on
        // one core in some runs and not in others.
        for (pid_t pid : d.pids)
            bench::pin_to_cpu(pid, cpus[0]);
        bench::pin_to_cpu(0, cpus[1]);
        if (o.cluster)
            fmt::print("pinned: the {} redis-servers on CPU {}; the client under test and "
                       "redis-benchmark on CPU {} (--no-pin: let the scheduler place them)\n",
                       d.pids.size(), cpus[0], cpus[1]);
        else
            fmt::print("pinned: redis-server on CPU {}; the client under test and redis-benchmark "
                       "on CPU {} (--no-pin: let the scheduler place them)\n",
                       cpus[0], cpus[1]);
    } else {
        fmt::print("not pinned: the scheduler places redis-server and the clients\n");
    }
    if (o.cluster)
        fmt::print("Redis Cluster of {} masters, no replicas: {}; median of {} interleaved runs "
                   "per side\n",
                   o.masters, d.url, o.runs);
    else
        fmt::print("redis-server on 127.0.0.1:{}; median of {} interleaved runs per side\n\n",
                   d.seed_port, o.runs);
    std::fflush(stdout);

    std::vector<workload> workloads = o.cluster ? prepare_cluster(o, d) : prepare_single(d);
    check_same_commands(workloads);
    if (o.cluster) {
        fmt::print("each side: {} connections (one per master) x round(depth / {}) in flight on "
                   "each; redis-benchmark {} <command>\n\n",
                   d.connections, d.connections, fmt::join(d.reference_flags, " "));
        std::fflush(stdout);
    }

    std::uint64_t server_errors = server_stat(d.node_urls, "total_error_replies");
    std::uint64_t server_misses = server_stat(d.node_urls, "keyspace_misses");
    std::vector<row> rows;
    std::string first_error;
    for (auto const& w : workloads) {
        if (std::ranges::find(o.workloads, w.name) == o.workloads.end())
            continue;
        for (int depth : o.depths) {
            // Per connection: all of it on one; spread evenly over a cluster's masters.
            int pipeline = std::max(1, (depth + d.connections / 2) / d.connections);
            int in_flight = o.cluster ? pipeline * d.connections : depth;
            row r{w.name, depth, in_flight, requests_for(o, depth), {}, {}};
            std::vector<side_result> reference, ours;
            // Runs one side, adding the servers' CPU time per request to its result.
            auto measure = [&](auto&& run_side, std::vector<side_result>& into) {
                auto before = servers_cpu(d.pids);
                side_result res = run_side();
                auto after = servers_cpu(d.pids);
                res.server_cpu_us = (after - before) * 1e6 / static_cast<double>(r.requests);
                into.push_back(res);
                if (res.errors && first_error.empty())
                    first_error =
                        w.name + " at depth " + std::to_string(depth) + ": " + res.first_error;
            };
            auto reference_run = [&] {
                measure(
                    [&] {
                        return run_reference(o.redis_benchmark, d.seed_port, d.reference_flags, w,
                                             d.connections, pipeline, r.requests);
                    },
                    reference);
            };
            auto mcpd_run = [&] {
                measure([&] { return run_mcpd(d.url, w, in_flight, r.requests); }, ours);
            };
            for (int i = 0; i < o.runs; ++i) {
                if (i % 2 == 0) {
                    reference_run();
                    mcpd_run();
                } else {
                    mcpd_run();
                    reference_run();
                }
                auto const& b = reference.back();
                auto const& m = ours.back();
                fmt::print(stderr,
                           "  {} depth {} run {}/{}: redis-benchmark {:.0f} rps, mcpd {:.0f} rps; "
                           "CPU us/req client {:.2f} / {:.2f}, server {:.2f} / {:.2f}\n",
                           w.name, depth, i + 1, o.runs, b.rps, m.rps, b.cpu_us, m.cpu_us,
                           b.server_cpu_us, m.server_cpu_us);
            }
            r.reference = summarize(reference);
            r.mcpd = summarize(ours);
            rows.push_back(r);
        }
    }
    std::uint64_t new_server_errors =
        server_stat(d.node_urls, "total_error_replies") - server_errors;
    std::uint64_t new_misses =
        o.cluster ? server_stat(d.node_urls, "keyspace_misses") - server_misses : 0;
    if (cluster)
        cluster->stop();
    if (server)
        server->stop();

    if (o.cluster)
        fmt::print("{:<8} {:>5} {:>9} {:>8} {:>20} {:>10} {:>6} {:>7}\n", "workload", "depth",
                   "in flight", "requests", "redis-benchmark rps", "mcpd rps", "ratio", "errors");
    else
        fmt::print("{:<8} {:>5} {:>8} {:>20} {:>10} {:>6} {:>7}\n", "workload", "depth", "requests",
                   "redis-benchmark rps", "mcpd rps", "ratio", "errors");
    std::uint64_t errors = 0;
    std::vector<std::string> misses;
    bool evaluated = false;
    for (auto const& r : rows) {
        if (o.cluster)
            fmt::print("{:<8} {:>5} {:>9} {:>8} {:>20.0f} {:>10.0f} {:>6.2f} {:>7}\n", r.workload,
                       r.depth, r.in_flight, r.requests, r.reference.rps, r.mcpd.rps, r.ratio(),
                       r.mcpd.errors);
        else
            fmt::print("{:<8} {:>5} {:>8} {:>20.0f} {:>10.0f} {:>6.2f} {:>7}\n", r.workload,
                       r.depth, r.requests, r.reference.rps, r.mcpd.rps, r.ratio(), r.mcpd.errors);
        errors += r.mcpd.errors;
        if (r.depth == 16 || r.depth == 256) {
            evaluated = true;
            if (r.ratio() < 0.8)
                misses.push_back(fmt::format("{} at {}: {:.2f}", r.workload, r.depth, r.ratio()));
        }
    }
    // Where the time goes: CPU time (user + system) per request, medians. A client at ~100% of
    // its core (rps x CPU/req ~ 1 s/s) is the bottleneck; otherwise it waits for the server.
    fmt::print("\nCPU us per request, user + system (rb: redis-benchmark; mcpd core: its share of "
               "one core; server: from /proc in 10 ms ticks{})\n",
               o.cluster ? ", all masters" : "");
    fmt::print("{:<8} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n", "workload", "depth",
               "client rb", "mcpd", "mcpd user", "mcpd core", "server rb", "mcpd");
    for (auto const& r : rows)
        fmt::print("{:<8} {:>5} {:>10.2f} {:>10.2f} {:>9.0f}% {:>9.0f}% {:>10.2f} {:>10.2f}\n",
                   r.workload, r.depth, r.reference.cpu_us, r.mcpd.cpu_us, r.mcpd.user_share * 100,
                   r.mcpd.rps * r.mcpd.cpu_us / 1e4, r.reference.server_cpu_us,
                   r.mcpd.server_cpu_us);

    std::string verdict = !evaluated       ? "not evaluated (no run at 16 or 256)"
                          : misses.empty() ? "met"
                                           : "NOT met (";
    for (std::size_t i = 0; i < misses.size(); ++i)
        verdict += misses[i] + (i + 1 < misses.size() ? "; " : ")");
    fmt::print("\ntarget (at 16 and 256 in flight, ratio >= 0.8): {}\n", verdict);

    if (errors > 0) {
        fmt::print(stderr, "mcpd_bench_redis: {} wrong or failed replies; first: {}\n", errors,
                   first_error);
        return 1;
    }
    if (new_server_errors > 0) {
        fmt::print(stderr, "mcpd_bench_redis: the server sent {} error replies during the runs\n",
                   new_server_errors);
        return 1;
    }
    if (new_misses > 0) {
        fmt::print(stderr,
                   "mcpd_bench_redis: {} GETs of a key that was not preloaded (redis-benchmark's "
                   "keys are not the ones learnt)\n",
                   new_misses);
        return 1;
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"mcpd_bench_redis: mcpd::redis::client throughput vs redis-benchmark (ratio), "
                 "on one redis-server or (--cluster) a Redis Cluster"};
    options o;
    app.add_option("--requests", o.requests,
                   "Requests per measurement at every depth (default: 100000 at depth 1, "
                   "1000000 deeper)")
        ->check(CLI::PositiveNumber);
    app.add_flag("--quick", o.quick, "A short run: 1/20 of the default requests");
    app.add_option("--runs", o.runs, "Runs per side and cell; the median is reported")
        ->check(CLI::Range(1, 99))
        ->capture_default_str();
    app.add_option("--depths", o.depths, "Requests in flight")
        ->delimiter(',')
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    app.add_option("--workloads", o.workloads, "Workloads to run")
        ->delimiter(',')
        ->check(CLI::IsMember({"GET", "EVALSHA"}))
        ->capture_default_str();
    bool no_pin = false;
    app.add_flag("--no-pin", no_pin,
                 "Do not pin redis-server and the clients to separate CPUs (the default when two "
                 "or more are usable)");
    app.add_flag("--cluster", o.cluster,
                 "Against a private Redis Cluster (no replicas), redis-benchmark --cluster the "
                 "reference; depths 16,256 unless --depths");
    app.add_option("--masters", o.masters, "--cluster: masters")
        ->check(CLI::Range(3, 8))
        ->capture_default_str();
    app.add_option("--keys", o.keys, "--cluster: keys each side reads, preloaded")
        ->check(CLI::Range(1, 10'000'000))
        ->capture_default_str();
    app.add_option("--redis-server", o.redis_server, "redis-server program")->capture_default_str();
    app.add_option("--redis-benchmark", o.redis_benchmark, "redis-benchmark program")
        ->capture_default_str();
    app.add_option("--redis-cli", o.redis_cli, "redis-cli program (--cluster create)")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    o.pin = !no_pin;
    if (o.cluster && app.count("--depths") == 0)
        o.depths = {16, 256};
    if (o.cluster) // not the cluster's topology at every client's start (an info line)
        log::set_level(log::level::warn);

    try {
        return run(o);
    } catch (std::exception const& e) {
        std::fflush(stdout);
        fmt::print(stderr, "mcpd_bench_redis: error: {}\n", e.what());
        return 2;
    }
}
