// bench/store/main.cpp — mcpd_bench_store: session-store operations per second of mcpd's Redis
// backend measured against @mcp-ts/sdk's Redis backend (the reference: Node, ioredis), in the
// same run, on the same private redis-server.
//
// Operations, each with 64 calls in flight (--in-flight) on one connection per side:
//   create      create_session / createSession of a realistic record (OAuth tokens, client
//               information, headers: ~800 bytes of JSON), a new id each call, default TTL;
//   get         get_session / getSession of one of 1000 stored sessions;
//   list-of-50  get_identity_sessions_data / getIdentitySessionsData of an identity with 50,
//               reading each one's sessionId, serverUrl and active (what a lister shows).
// mcpd: one io_context thread, IN_FLIGHT coroutines looping `co_await store.op(...)` until the
// calls are done, timed with steady_clock, through the same wrapper open_store() puts around a
// backend (encrypting_store; no key, as the reference's Redis backend stores plain text).
// Reference: tests/node's pinned @mcp-ts/sdk, driven by bench/store/mcp_ts_bench.cjs with
// IN_FLIGHT async workers, timed inside node after its connection is up (start-up excluded).
// Both sides store the same record and read the same data set (written once by mcpd: the
// layout is shared). Each side runs R times (default 3), interleaved, and the median is
// reported with the ratio mcpd / reference. Targets: >= 3x for create and get, >= 10x for
// list-of-50.
//
// Placement as in bench/redis: redis-server pinned to one CPU, the client being measured (this
// process, or node, which inherits this thread's affinity) to another (--no-pin to let the
// scheduler decide).
//
// A benchmark, not a test: the exit code is 0 whatever the ratios, non-zero only when
// something failed (a failed or wrong call on either side, a program that did not start).
#include "process.hpp"

#include "mcpd/redis.hpp"
#include "store/backends.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace mcpd;
using bench_clock = std::chrono::steady_clock;

namespace {

constexpr int get_sessions = 1000;
constexpr int list_size = 50;

// The record both sides store (identity and sessionId are added per call).
json::object record_body() {
    return json::parse(R"({
        "serverId": "srv-1", "serverName": "Example MCP",
        "serverUrl": "https://mcp.example.com/mcp", "transportType": "streamable_http",
        "callbackUrl": "https://app.example.com/oauth/callback", "createdAt": 1732000000123,
        "headers": {"X-Org": "acme"},
        "clientInformation": {"client_id": "cid-0123456789", "client_secret": "cs-0123456789abcdef",
                              "redirect_uris": ["https://app.example.com/oauth/callback"],
                              "client_id_issued_at": 1732000000,
                              "token_endpoint_auth_method": "client_secret_post"},
        "tokens": {"access_token": "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJhdWQiOiJtY3AiLCJleHAiOjE3MzIwMDM2MDB9.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU",
                   "token_type": "Bearer", "expires_in": 3600,
                   "refresh_token": "rt-0123456789abcdef0123456789abcdef", "scope": "read write"},
        "codeVerifier": "verifier-0123456789abcdef0123456789abcdef0123", "clientId": "cid-0123456789",
        "active": true})")
        .as_object();
}

enum class operation { create, get, list };

std::string_view name_of(operation op) {
    switch (op) {
    case operation::create:
        return "create";
    case operation::get:
        return "get";
    case operation::list:
        return "list-of-50";
    }
    return "?";
}

struct side_result {
    double ops = 0;           // calls per second
    double client_cpu_us = 0; // the client's CPU time per call
    double server_cpu_us = 0; // redis-server's CPU time per call
    std::uint64_t errors = 0;
    std::string first_error;
};

redis::config client_config(std::string const& url) {
    auto cfg = redis::config_from_url(url).value();
    cfg.health_check_interval = duration::zero(); // no idle PINGs between runs
    return cfg;
}

// Runs `body` on a fresh io_context to completion, rethrowing what it threw.
void run_on_io(std::function<asio::awaitable<void>()> body) {
    asio::io_context io(1);
    std::exception_ptr failure;
    asio::co_spawn(io, body(), [&](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure)
        std::rethrow_exception(failure);
}

// One Redis command, for set-up (FLUSHALL) between runs.
void redis_command(std::string const& url, redis::command cmd) {
    run_on_io([&]() -> asio::awaitable<void> {
        redis::client c(co_await asio::this_coro::executor, client_config(url));
        auto r = co_await c.exec(std::move(cmd));
        co_await c.quit();
        if (!r)
            throw std::runtime_error("redis: " + r.error().message());
    });
}

// mcpd's store as open_store() hands it out for this URL (without a key).
std::unique_ptr<store::session_store> mcpd_store(asio::any_io_executor ex, std::string const& url) {
    return std::make_unique<store::encrypting_store>(
        std::make_unique<store::redis_store>(ex, client_config(url)), std::nullopt);
}

// The data get and list-of-50 read: 1000 sessions of "bench-get", 50 of "bench-list".
void populate(std::string const& url, json::object const& body) {
    run_on_io([&]() -> asio::awaitable<void> {
        auto s = mcpd_store(co_await asio::this_coro::executor, url);
        std::optional<duration> default_ttl;
        for (int i = 0; i < get_sessions + list_size; ++i) {
            auto rec = body;
            bool for_get = i < get_sessions;
            rec["identity"] = for_get ? "bench-get" : "bench-list";
            rec["sessionId"] =
                for_get ? "get" + std::to_string(i) : "list" + std::to_string(i - get_sessions);
            auto r = co_await s->create_session(std::move(rec), default_ttl);
            if (!r)
                throw std::runtime_error("populate: " + r.error().message());
        }
        co_await s->close();
    });
}

// --- mcpd's side ------------------------------------------------------------------------------

struct mcpd_run {
    store::session_store* store = nullptr;
    operation op{};
    json::object const* body = nullptr;
    std::string prefix;
    std::uint64_t target = 0;
    std::uint64_t issued = 0; // one thread: no atomics
    std::uint64_t errors = 0;
    std::string first_error;
    int running = 0;
};

asio::awaitable<void> worker(mcpd_run& s) {
    std::optional<duration> default_ttl;
    while (s.issued < s.target) {
        auto i = s.issued++;
        std::string problem;
        if (s.op == operation::create) {
            auto rec = *s.body;
            rec["identity"] = s.prefix;
            rec["sessionId"] = s.prefix + std::to_string(i);
            auto r = co_await s.store->create_session(std::move(rec), default_ttl);
            if (!r)
                problem = r.error().message();
        } else if (s.op == operation::get) {
            std::string identity = "bench-get";
            std::string id = "get" + std::to_string(i % get_sessions);
            auto r = co_await s.store->get_session(identity, id);
            if (!r)
                problem = r.error().message();
            else if (!*r || store::record_session_id(**r) != id)
                problem = id + ": not found";
        } else {
            std::string identity = "bench-list";
            auto r = co_await s.store->get_identity_sessions_data(identity);
            // What a lister reads of each (as the gateway lists them): id, server, state.
            auto listed = !r ? 0 : std::count_if(r->begin(), r->end(), [](auto const& rec) {
                return !rec.session_id().value_or("").empty() &&
                       !rec.server_url().value_or("").empty() && rec.active() == true;
            });
            if (!r)
                problem = r.error().message();
            else if (listed != list_size)
                problem = "list: " + std::to_string(listed) + " sessions, expected 50";
        }
        if (!problem.empty() && s.errors++ == 0)
            s.first_error = problem;
    }
}

side_result run_mcpd(std::string const& url, operation op, json::object const& body,
                     std::string const& prefix, std::uint64_t n, int depth) {
    side_result out;
    bench_clock::time_point start, end;
    bench::cpu_time cpu_start, cpu_end;
    run_on_io([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto s = mcpd_store(ex, url);
        if (auto pong = co_await s->ping(); !pong) // connect before the clock
            throw std::runtime_error("mcpd store: ping: " + pong.error().message());
        mcpd_run run{s.get(), op, &body, prefix, n};
        asio::steady_timer all_done(ex, bench_clock::time_point::max());
        std::exception_ptr failure;
        run.running = depth;
        cpu_start = bench::self_cpu();
        start = bench_clock::now();
        for (int i = 0; i < depth; ++i)
            asio::co_spawn(ex, worker(run), [&](std::exception_ptr e) {
                if (e && !failure)
                    failure = e;
                if (--run.running == 0) {
                    end = bench_clock::now();
                    cpu_end = bench::self_cpu();
                    all_done.cancel();
                }
            });
        while (run.running > 0) {
            boost::system::error_code ec;
            co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        co_await s->close();
        if (failure)
            std::rethrow_exception(failure);
        out.errors = run.errors;
        out.first_error = run.first_error;
    });
    double seconds = std::chrono::duration<double>(end - start).count();
    out.ops = static_cast<double>(n) / seconds;
    out.client_cpu_us = (cpu_end.total() - cpu_start.total()) * 1e6 / static_cast<double>(n);
    return out;
}

// --- the reference's side ---------------------------------------------------------------------

struct reference_setup {
    std::string node = "node";
    std::string node_modules; // of scripts/node-tools
    std::string script;       // mcp_ts_bench.cjs
    std::string record_file;  // record_body(), for node
};

side_result run_reference(reference_setup const& ref, std::string const& url, operation op,
                          std::string const& prefix, std::uint64_t n, int depth) {
    std::string op_arg = op == operation::create ? "create" : op == operation::get ? "get" : "list";
    auto out = bench::run_captured(
        {"env", "-u", "STORAGE_ENCRYPTION_KEY", "NODE_PATH=" + ref.node_modules,
         "MCP_TS_STORAGE_TYPE=redis", "REDIS_URL=" + url, ref.node, ref.script, op_arg,
         std::to_string(n), std::to_string(depth), prefix, ref.record_file});
    if (out.exit_code != 0)
        throw std::runtime_error("node " + ref.script + " exited with " +
                                 std::to_string(out.exit_code) + ":\n" + out.text);
    auto pos = out.text.find("RESULT ");
    if (pos == std::string::npos)
        throw std::runtime_error("no RESULT line from " + ref.script + ":\n" + out.text);
    auto line = out.text.substr(pos + 7, out.text.find('\n', pos) - pos - 7);
    auto r = json::parse(line).as_object();
    side_result res;
    double seconds = r.at("seconds").to_number<double>();
    res.ops = static_cast<double>(n) / seconds;
    res.client_cpu_us = r.at("cpuSeconds").to_number<double>() * 1e6 / static_cast<double>(n);
    res.errors = r.at("errors").to_number<std::uint64_t>();
    res.first_error = std::string(r.at("firstError").as_string());
    return res;
}

// --- the report -------------------------------------------------------------------------------

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    auto mid = v.size() / 2;
    return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

side_result summarize(std::vector<side_result> const& runs) {
    auto med = [&](double side_result::*field) {
        std::vector<double> v;
        for (auto const& r : runs)
            v.push_back(r.*field);
        return median(std::move(v));
    };
    side_result s{med(&side_result::ops),
                  med(&side_result::client_cpu_us),
                  med(&side_result::server_cpu_us),
                  0,
                  {}};
    for (auto const& r : runs) {
        s.errors += r.errors;
        if (s.first_error.empty())
            s.first_error = r.first_error;
    }
    return s;
}

std::string first_line(std::string const& text) {
    auto s = text.substr(0, text.find('\n'));
    return s.empty() ? "?" : s;
}

struct options {
    int runs = 3;
    int in_flight = 64;
    bool quick = false;
    std::uint64_t creates = 20'000, gets = 50'000, lists = 5'000;
    bool pin = true;
    std::string redis_server = "redis-server";
    reference_setup ref;
};

int run(options o) {
    if (o.quick) {
        o.creates /= 10;
        o.gets /= 10;
        o.lists /= 10;
    }
    auto const& ref = o.ref;
    if (!std::filesystem::exists(ref.node_modules + "/@mcp-ts/sdk"))
        throw std::runtime_error("no @mcp-ts/sdk in " + ref.node_modules +
                                 ": run scripts/node-tools (bench/store/run does)");
    std::string sdk_version =
        json::parse(
            bench::run_captured({"cat", ref.node_modules + "/@mcp-ts/sdk/package.json"}).text)
            .at("version")
            .as_string()
            .c_str();
    fmt::print("mcpd_bench_store: mcpd's Redis session store vs @mcp-ts/sdk {} (Redis backend, "
               "ioredis; node {})\n",
               sdk_version, first_line(bench::run_captured({ref.node, "--version"}).text));
    fmt::print("server: {}\n", first_line(bench::run_captured({o.redis_server, "--version"}).text));

    bench::redis_server server(o.redis_server);
    std::string url = server.url();
    auto cpus = bench::allowed_cpus();
    if (o.pin && cpus.size() >= 2) {
        bench::pin_to_cpu(server.pid(), cpus[0]);
        bench::pin_to_cpu(0, cpus[1]);
        fmt::print("pinned: redis-server on CPU {}; the client under test (mcpd here, node as a "
                   "child) on CPU {}\n",
                   cpus[0], cpus[1]);
    } else {
        fmt::print("not pinned: the scheduler places redis-server and the clients\n");
    }
    fmt::print("redis-server on 127.0.0.1:{}; {} calls in flight; median of {} interleaved runs "
               "per side\n\n",
               server.port(), o.in_flight, o.runs);
    std::fflush(stdout);

    auto body = record_body();
    struct cell {
        operation op;
        std::uint64_t calls;
        double target;
        side_result reference, mcpd;
    };
    std::vector<cell> cells{{operation::create, o.creates, 3, {}, {}},
                            {operation::get, o.gets, 3, {}, {}},
                            {operation::list, o.lists, 10, {}, {}}};
    for (auto& c : cells) {
        if (c.op == operation::get) { // create's runs flushed as they went
            redis_command(url, redis::command("FLUSHALL"));
            populate(url, body);
        }
        std::vector<side_result> reference, ours;
        auto measure = [&](auto&& side, std::vector<side_result>& into, std::string prefix) {
            auto before = bench::process_cpu(server.pid());
            side_result r = side(prefix);
            auto after = bench::process_cpu(server.pid());
            r.server_cpu_us = (after.total() - before.total()) * 1e6 / static_cast<double>(c.calls);
            into.push_back(r);
            if (c.op == operation::create) // keep memory bounded: each run creates c.calls
                redis_command(url, redis::command("FLUSHALL"));
        };
        auto reference_run = [&](int i) {
            measure(
                [&](std::string const& p) {
                    return run_reference(ref, url, c.op, p, c.calls, o.in_flight);
                },
                reference, "bench-node-" + std::to_string(i) + "-");
        };
        auto mcpd_run = [&](int i) {
            measure(
                [&](std::string const& p) {
                    return run_mcpd(url, c.op, body, p, c.calls, o.in_flight);
                },
                ours, "bench-mcpd-" + std::to_string(i) + "-");
        };
        for (int i = 0; i < o.runs; ++i) {
            if (i % 2 == 0) {
                reference_run(i);
                mcpd_run(i);
            } else {
                mcpd_run(i);
                reference_run(i);
            }
            fmt::print(stderr, "  {} run {}/{}: @mcp-ts/sdk {:.0f} ops/s, mcpd {:.0f} ops/s\n",
                       name_of(c.op), i + 1, o.runs, reference.back().ops, ours.back().ops);
        }
        c.reference = summarize(reference);
        c.mcpd = summarize(ours);
    }
    server.stop();

    fmt::print("{:<11} {:>9} {:>7} {:>18} {:>11} {:>7} {:>7}  {}\n", "operation", "in flight",
               "calls", "@mcp-ts/sdk ops/s", "mcpd ops/s", "ratio", "target", "");
    std::uint64_t errors = 0;
    std::string first_error;
    for (auto const& c : cells) {
        double ratio = c.mcpd.ops / c.reference.ops;
        fmt::print("{:<11} {:>9} {:>7} {:>18.0f} {:>11.0f} {:>6.1f}x {:>6.0f}x  {}\n",
                   name_of(c.op), o.in_flight, c.calls, c.reference.ops, c.mcpd.ops, ratio,
                   c.target, ratio >= c.target ? "met" : "NOT met");
        for (auto const* side : {&c.reference, &c.mcpd})
            if (side->errors) {
                errors += side->errors;
                if (first_error.empty())
                    first_error = std::string(name_of(c.op)) + ": " + side->first_error;
            }
    }
    fmt::print("\nCPU us per call, user + system (client: the timed part; server: from /proc in "
               "10 ms ticks)\n");
    fmt::print("{:<11} {:>14} {:>11} {:>14} {:>11}\n", "operation", "client sdk", "mcpd",
               "server sdk", "mcpd");
    for (auto const& c : cells)
        fmt::print("{:<11} {:>14.1f} {:>11.1f} {:>14.1f} {:>11.1f}\n", name_of(c.op),
                   c.reference.client_cpu_us, c.mcpd.client_cpu_us, c.reference.server_cpu_us,
                   c.mcpd.server_cpu_us);
    if (errors > 0) {
        fmt::print(stderr, "mcpd_bench_store: {} failed or wrong calls; first: {}\n", errors,
                   first_error);
        return 1;
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"mcpd_bench_store: mcpd's Redis session store vs @mcp-ts/sdk's (ratio)"};
    options o;
    o.ref.node_modules = std::string(MCPD_INTEROP_DIR) + "/node_modules";
    o.ref.script = MCPD_BENCH_STORE_SCRIPT;
    app.add_option("--runs", o.runs, "Runs per side and operation; the median is reported")
        ->check(CLI::Range(1, 99))
        ->capture_default_str();
    app.add_option("--in-flight", o.in_flight, "Calls in flight on each side")
        ->check(CLI::Range(1, 4096))
        ->capture_default_str();
    app.add_option("--creates", o.creates, "create calls per run")->capture_default_str();
    app.add_option("--gets", o.gets, "get calls per run")->capture_default_str();
    app.add_option("--lists", o.lists, "list-of-50 calls per run")->capture_default_str();
    app.add_flag("--quick", o.quick, "A short run: 1/10 of the calls");
    bool no_pin = false;
    app.add_flag("--no-pin", no_pin, "Do not pin redis-server and the clients to separate CPUs");
    app.add_option("--node", o.ref.node, "node program")->capture_default_str();
    app.add_option("--node-modules", o.ref.node_modules,
                   "node_modules with @mcp-ts/sdk (scripts/node-tools installs it)")
        ->capture_default_str();
    app.add_option("--redis-server", o.redis_server, "redis-server program")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    o.pin = !no_pin;

    char tmpl[] = "/tmp/mcpd-bench-store-XXXXXX";
    char* dir = ::mkdtemp(tmpl);
    if (!dir) {
        std::perror("mcpd_bench_store: mkdtemp");
        return 2;
    }
    o.ref.record_file = std::string(dir) + "/record.json";
    std::ofstream(o.ref.record_file) << json::serialize(record_body());
    int rc = 2;
    try {
        rc = run(o);
    } catch (std::exception const& e) {
        std::fflush(stdout);
        fmt::print(stderr, "mcpd_bench_store: error: {}\n", e.what());
    }
    std::filesystem::remove_all(dir);
    return rc;
}
