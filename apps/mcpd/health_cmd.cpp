// apps/mcpd/health_cmd.cpp — `mcpd health`. See health_cmd.hpp.
#include "health_cmd.hpp"

#include "core/url_text.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include <cstdio>

namespace mcpd::app {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace json = boost::json;

namespace {

struct answer {
    unsigned status = 0;
    std::string body;
};

asio::awaitable<answer> get(std::string host, std::string port, std::string target,
                            duration timeout) {
    auto ex = co_await asio::this_coro::executor;
    asio::ip::tcp::resolver resolver(ex);
    beast::tcp_stream stream(ex);
    stream.expires_after(timeout); // one budget for resolve, connect, write and read
    auto endpoints = co_await resolver.async_resolve(host, port, asio::use_awaitable);
    co_await stream.async_connect(endpoints, asio::use_awaitable);
    bhttp::request<bhttp::string_body> req{bhttp::verb::get, target, 11};
    req.set(bhttp::field::host, host + ":" + port);
    req.set(bhttp::field::accept, "application/json");
    req.set(bhttp::field::user_agent, "mcpd-health");
    co_await bhttp::async_write(stream, req, asio::use_awaitable);
    beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    co_await bhttp::async_read(stream, buf, res, asio::use_awaitable);
    co_return answer{res.result_int(), std::move(res.body())};
}

void print_human(json::object const& r, std::string const& url) {
    auto text = [](json::value const* v) {
        return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string("?");
    };
    std::printf("%s: %s\n", url.c_str(), text(r.if_contains("status")).c_str());
    auto const* checks = r.if_contains("checks");
    if (checks == nullptr || !checks->is_object())
        return;
    for (auto const& [name, v] : checks->get_object()) {
        if (!v.is_object())
            continue;
        auto const& c = v.get_object();
        double latency = 0;
        if (auto const* l = c.if_contains("latency_ms"); l != nullptr && l->is_number())
            latency = l->to_number<double>();
        bool required =
            c.contains("required") && c.at("required").is_bool() && c.at("required").get_bool();
        std::printf("  %-16s %-5s %8.2f ms  %s", std::string(name).c_str(),
                    text(c.if_contains("status")).c_str(), latency,
                    required ? "required" : "optional");
        for (char const* k : {"backend", "url", "state"})
            if (auto const* d = c.if_contains(k); d != nullptr && d->is_string())
                std::printf("  %s=%s", k, std::string(d->get_string()).c_str());
        std::printf("\n");
        if (auto const* e = c.if_contains("error"); e != nullptr && e->is_string())
            std::printf("  %-16s error: %s\n", "", std::string(e->get_string()).c_str());
        if (auto const* e = c.if_contains("effect"); e != nullptr && e->is_string())
            std::printf("  %-16s meanwhile: %s\n", "", std::string(e->get_string()).c_str());
    }
}

} // namespace

int run_health(health_args const& a) {
    // A text Boost.URL cannot take safely is parsed as "", which fails (core/url_text.hpp).
    auto parsed = boost::urls::parse_uri(url_text_parsable(a.url) ? a.url : std::string());
    if (!parsed || parsed->scheme() != "http" || parsed->host().empty()) {
        std::fprintf(stderr, "mcpd health: --url %s: expected http://host:port[/ready]\n",
                     a.url.c_str());
        return 3;
    }
    std::string host = parsed->host();
    std::string port = parsed->has_port() ? std::string(parsed->port()) : "80";
    std::string target = parsed->encoded_path().empty() || parsed->encoded_path() == "/"
                             ? std::string("/ready")
                             : std::string(parsed->encoded_path());
    std::string shown = "http://" + host + ":" + port + target;

    asio::io_context io;
    answer got;
    std::string failure;
    asio::co_spawn(
        io, get(host, port, target, a.timeout), [&](std::exception_ptr const& e, answer r) {
            if (!e) {
                got = std::move(r);
                return;
            }
            try {
                std::rethrow_exception(e);
            } catch (boost::system::system_error const& se) {
                failure = se.code() == beast::error::timeout ? "no answer within the timeout"
                                                             : se.code().message();
            } catch (std::exception const& ex) {
                failure = ex.what();
            }
        });
    io.run();
    if (!failure.empty()) {
        std::fprintf(stderr, "mcpd health: %s: %s\n", shown.c_str(), failure.c_str());
        return 3;
    }
    boost::system::error_code ec;
    auto body = json::parse(got.body, ec);
    auto const* obj = !ec && body.is_object() ? &body.get_object() : nullptr;
    auto const* status = obj != nullptr ? obj->if_contains("status") : nullptr;
    if (status == nullptr || !status->is_string()) {
        std::fprintf(stderr, "mcpd health: %s: HTTP %u without a readiness report\n", shown.c_str(),
                     got.status);
        return 3;
    }
    if (a.json)
        std::printf("%s\n", json::serialize(*obj).c_str());
    else
        print_human(*obj, shown);
    std::string_view st = status->get_string();
    if (st == "ok")
        return 0;
    if (st == "degraded")
        return 1;
    return 2;
}

} // namespace mcpd::app
