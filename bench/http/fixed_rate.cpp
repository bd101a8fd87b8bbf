// bench/http/fixed_rate.cpp — bench_fixed_rate: an open-loop HTTP load generator that sends
// requests at a constant rate and reports latency percentiles measured from when each request
// was due, not from when it went out (so a stalled server is charged for the requests that
// queued behind the stall: no coordinated omission). wrk (Debian's) only offers a closed loop,
// which measures latency at saturation; a latency target "at half the peak rate" needs this.
//
// Request k (k = 0, 1, …) is due at start + k / rate and is sent on keep-alive connection
// k mod C. A connection sends its next request when it is due, or at once when the previous
// answer came late. Every answer must be 2xx; anything else counts as an error, and so does a
// request still unanswered 10 s after the last one was due.
//
// The generator must keep up with the rates it measures, or it measures itself. So it does not
// sleep until each request is due: in a VM, arming a timer tens of microseconds ahead costs up
// to ~15 µs (the hardware timer is the hypervisor's), and the timer-driven generator this
// replaced was 98% busy at 34,000 requests/s, adding ~70 µs to every latency it reported.
// Instead one thread spins: it polls the sockets (epoll with no timeout) and sends whatever has
// come due, so it reacts to an answer or a due time within one poll, and uses its whole core.
// The request is serialized once; per request it costs one write and one parse of the answer.
//
//   bench_fixed_rate --url http://127.0.0.1:PORT/mcp --rate 10000 --seconds 5 --connections 32
//       --header "Mcp-Session-Id: …" --body '{"jsonrpc":"2.0","id":1,…}'
// prints one line:
//   RESULT sent=N seconds=S rps=R p50_us=A p99_us=B p999_us=C max_us=D errors=E
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <sstream>
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
    std::uint64_t dropped = 0; // due on a connection that failed: never answered
    std::uint64_t errors = 0;
    std::string first_error;
};

void note_error(totals& t, std::string what) {
    if (t.errors++ == 0)
        t.first_error = std::move(what);
}

// One keep-alive connection: at most one request on the wire; the requests that came due
// meanwhile wait in due_ (their due times, oldest first: the front is the one on the wire
// while busy_).
class connection {
public:
    connection(asio::io_context& io, std::string const& request, totals& t)
        : socket_(io)
        , request_(request)
        , totals_(t) {}

    void open(asio::ip::tcp::resolver::results_type const& where) {
        asio::async_connect(socket_, where, [this](boost::system::error_code ec, auto const&) {
            if (ec)
                return fail("connect: " + ec.message());
            socket_.set_option(asio::ip::tcp::no_delay(true));
            connected_ = true;
            if (!due_.empty())
                send();
        });
    }

    void release(clock_type::time_point due) {
        if (failed_) {
            ++totals_.dropped;
            return;
        }
        due_.push_back(due);
        if (connected_ && !busy_)
            send();
    }

private:
    void send() {
        busy_ = true;
        asio::async_write(socket_, asio::buffer(request_),
                          [this](boost::system::error_code ec, std::size_t) {
                              if (ec)
                                  return fail("write: " + ec.message());
                              receive();
                          });
    }

    void receive() {
        parser_.emplace();
        bhttp::async_read(socket_, buffer_, *parser_,
                          [this](boost::system::error_code ec, std::size_t) {
                              if (ec)
                                  return fail("read: " + ec.message());
                              auto took = std::chrono::duration_cast<std::chrono::microseconds>(
                                  clock_type::now() - due_.front());
                              due_.pop_front();
                              totals_.latencies_us.push_back(took.count());
                              auto status = parser_->get().result_int();
                              if (status / 100 != 2)
                                  note_error(totals_, "status " + std::to_string(status));
                              busy_ = false;
                              if (!due_.empty())
                                  send();
                          });
    }

    // The connection is gone: what it owed is never answered.
    void fail(std::string what) {
        note_error(totals_, std::move(what));
        failed_ = true;
        totals_.dropped += due_.size();
        due_.clear();
        boost::system::error_code ignored;
        socket_.close(ignored);
    }

    asio::ip::tcp::socket socket_;
    std::string const& request_;
    totals& totals_;
    beast::flat_buffer buffer_;
    std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
    std::deque<clock_type::time_point> due_;
    bool connected_ = false;
    bool busy_ = false;
    bool failed_ = false;
};

std::int64_t percentile(std::vector<std::int64_t> const& sorted, double p) {
    if (sorted.empty())
        return 0;
    auto i = static_cast<std::size_t>(std::lround(p * static_cast<double>(sorted.size() - 1)));
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

    std::ostringstream serialized;
    serialized << proto;
    auto const request = std::move(serialized).str();

    asio::io_context io(1);
    auto keep_polling = asio::make_work_guard(io); // poll() must not stop when nothing is owed
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
    std::vector<std::unique_ptr<connection>> connections;
    for (int i = 0; i < o.connections; ++i) {
        connections.push_back(std::make_unique<connection>(io, request, t));
        connections.back()->open(where);
    }

    auto start = clock_type::now() + std::chrono::milliseconds(100); // connections open first
    auto period = std::chrono::duration<double>(1.0 / o.rate);
    auto due = [&](std::uint64_t k) {
        return start + std::chrono::duration_cast<clock_type::duration>(period * double(k));
    };
    auto give_up = due(total) + std::chrono::seconds(10);
    std::uint64_t next = 0;
    for (;;) {
        io.poll();
        auto now = clock_type::now();
        for (; next < total; ++next) {
            auto when = due(next);
            if (when > now)
                break;
            connections[next % connections.size()]->release(when);
        }
        if (next == total && t.latencies_us.size() + t.dropped == total)
            break;
        if (now > give_up) {
            note_error(t, fmt::format("{} requests unanswered 10 s after the last was due",
                                      total - t.latencies_us.size() - t.dropped));
            break;
        }
    }
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
