// bench/http/fixed_rate.cpp — bench_fixed_rate: an open-loop HTTP load generator that sends
// requests at a constant rate and reports latency percentiles measured from when each request
// was due, not from when it went out (so a stalled server is charged for the requests that
// queued behind the stall: no coordinated omission). wrk (Debian's) only offers a closed loop,
// which measures latency at saturation; a latency target "at half the peak rate" needs this.
//
// Request k (k = 0, 1, …) is due at start + k / rate and is sent on keep-alive connection
// k mod C. A connection sends its next request when it is due, or at once when the previous
// answer came late. Every answer must be 2xx; anything else counts as an error.
//
//   bench_fixed_rate --url http://127.0.0.1:PORT/mcp --rate 10000 --seconds 5 --connections 32
//       --header "Mcp-Session-Id: …" --body '{"jsonrpc":"2.0","id":1,…}'
// prints one line:
//   RESULT sent=N seconds=S rps=R p50_us=A p99_us=B p999_us=C max_us=D errors=E
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
    std::string url;
    double rate = 1000;
    double seconds = 5;
    int connections = 32;
    std::vector<std::string> headers;
    std::string body;
};

struct totals {
    std::vector<std::int64_t> latencies_us;
    std::uint64_t errors = 0;
    std::string first_error;
};

void note_error(totals& t, std::string what) {
    if (t.errors++ == 0)
        t.first_error = std::move(what);
}

asio::awaitable<void> connection(options const& o, asio::ip::tcp::resolver::results_type where,
                                 bhttp::request<bhttp::string_body> const& proto, int index,
                                 clock_type::time_point start, std::uint64_t total, totals& t) {
    auto ex = co_await asio::this_coro::executor;
    beast::tcp_stream stream(ex);
    try {
        co_await stream.async_connect(where, asio::use_awaitable);
    } catch (std::exception const& e) {
        note_error(t, std::string("connect: ") + e.what());
        co_return;
    }
    stream.socket().set_option(asio::ip::tcp::no_delay(true));
    asio::steady_timer timer(ex);
    beast::flat_buffer buffer;
    auto period = std::chrono::duration<double>(1.0 / o.rate);
    for (std::uint64_t k = static_cast<std::uint64_t>(index); k < total;
         k += static_cast<std::uint64_t>(o.connections)) {
        auto due = start + std::chrono::duration_cast<clock_type::duration>(period * double(k));
        if (clock_type::now() < due) {
            timer.expires_at(due);
            co_await timer.async_wait(asio::use_awaitable);
        }
        try {
            auto req = proto;
            co_await bhttp::async_write(stream, req, asio::use_awaitable);
            bhttp::response<bhttp::string_body> res;
            co_await bhttp::async_read(stream, buffer, res, asio::use_awaitable);
            auto took =
                std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - due);
            t.latencies_us.push_back(took.count());
            if (res.result_int() / 100 != 2)
                note_error(t, "status " + std::to_string(res.result_int()));
        } catch (std::exception const& e) {
            note_error(t, e.what());
            co_return; // this connection is gone; its remaining requests count as not sent
        }
    }
}

std::int64_t percentile(std::vector<std::int64_t> const& sorted, double p) {
    if (sorted.empty())
        return 0;
    auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(i, sorted.size() - 1)];
}

} // namespace

int main(int argc, char** argv) {
    options o;
    CLI::App app{"Constant-rate HTTP load generator (latency from each request's due time)"};
    app.add_option("--url", o.url, "http://host:port/path")->required();
    app.add_option("--rate", o.rate, "Requests per second")->required()->check(CLI::PositiveNumber);
    app.add_option("--seconds", o.seconds, "Duration")->capture_default_str();
    app.add_option("--connections", o.connections, "Keep-alive connections")
        ->capture_default_str()
        ->check(CLI::Range(1, 10000));
    app.add_option("--header", o.headers, "A request header, \"Name: value\" (repeatable)");
    app.add_option("--body", o.body, "POST body (without one: GET)");
    CLI11_PARSE(app, argc, argv);

    auto url = boost::urls::parse_uri(o.url);
    if (!url || url->scheme() != "http") {
        fmt::print(stderr, "bench_fixed_rate: --url must be an http:// URL\n");
        return 2;
    }
    bhttp::request<bhttp::string_body> proto;
    proto.version(11);
    proto.method(o.body.empty() ? bhttp::verb::get : bhttp::verb::post);
    proto.target(url->encoded_target().empty() ? std::string("/")
                                               : std::string(url->encoded_target()));
    proto.set(bhttp::field::host, std::string(url->encoded_host_and_port()));
    for (auto const& h : o.headers) {
        auto colon = h.find(':');
        if (colon == std::string::npos) {
            fmt::print(stderr, "bench_fixed_rate: bad --header {}\n", h);
            return 2;
        }
        auto value = h.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        proto.set(h.substr(0, colon), value);
    }
    if (!o.body.empty()) {
        proto.body() = o.body;
        proto.prepare_payload();
    }

    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    boost::system::error_code ec;
    auto where = resolver.resolve(std::string(url->host()),
                                  url->has_port() ? std::string(url->port()) : "80", ec);
    if (ec) {
        fmt::print(stderr, "bench_fixed_rate: {}: {}\n", url->host(), ec.message());
        return 2;
    }
    auto total = static_cast<std::uint64_t>(o.rate * o.seconds);
    totals t;
    t.latencies_us.reserve(total);
    auto start = clock_type::now() + std::chrono::milliseconds(100); // connections open first
    for (int i = 0; i < o.connections; ++i)
        asio::co_spawn(io, connection(o, where, proto, i, start, total, t), asio::detached);
    io.run();
    auto elapsed = std::chrono::duration<double>(clock_type::now() - start).count();

    std::sort(t.latencies_us.begin(), t.latencies_us.end());
    fmt::print("RESULT sent={} seconds={:.3f} rps={:.1f} p50_us={} p99_us={} p999_us={} max_us={} "
               "errors={}\n",
               t.latencies_us.size(), elapsed, double(t.latencies_us.size()) / elapsed,
               percentile(t.latencies_us, 0.50), percentile(t.latencies_us, 0.99),
               percentile(t.latencies_us, 0.999),
               t.latencies_us.empty() ? 0 : t.latencies_us.back(), t.errors);
    if (t.errors > 0)
        fmt::print(stderr, "bench_fixed_rate: {} errors; first: {}\n", t.errors, t.first_error);
    return t.errors > 0 || t.latencies_us.size() < total ? 1 : 0;
}
