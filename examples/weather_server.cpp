// examples/weather_server.cpp — one typed tool served over Streamable HTTP on port 3000 (or $PORT).
#include <boost/asio/io_context.hpp>
#include <boost/describe/class.hpp>
#include <cstdio>
#include <cstdlib>
#include <mcpd/server.hpp>
using namespace mcpd;

struct weather_args {
    std::string city;
    int days = 3;
};
BOOST_DESCRIBE_STRUCT(weather_args, (), (city, days))
constexpr auto mcpd_schema_doc(protocol::type_tag<weather_args>) {
    using protocol::field;
    return protocol::document("", "", field("city", "City name"),
                              field("days", "Days ahead").range(1, 16).defaulted());
}
struct forecast {
    std::string city;
    double high = 0;
};
BOOST_DESCRIBE_STRUCT(forecast, (), (city, high))

int main() {
    boost::asio::io_context io;
    server::server srv({.info = {.name = "weather", .version = "1.0.0"}});
    server::add_tool<weather_args>(
        srv, {.name = "forecast", .description = "Daily high"},
        [](server::context& ctx, weather_args a) -> boost::asio::awaitable<forecast> {
            ctx.progress(1, 2, "asking the sky");  // notifications/progress
            ctx.log("info", "forecast requested"); // notifications/message
            co_return forecast{a.city, 21.5};
        });
    server::session_manager sessions(std::make_shared<server::memory_session_records>(), 1000);
    server::dispatcher disp(srv, sessions, io.get_executor());
    server::http_transport mcp(disp, {}, io.get_executor()); // /mcp, /sse, /messages; else 404
    http::server http(io.get_executor(), [&](http::exchange& x) { return mcp.handle(x); });
    char const* port = std::getenv("PORT");
    auto bound = http.listen("127.0.0.1", port ? std::atoi(port) : 3000).value();
    std::printf("serving on %s/mcp\n", bound.url().c_str());
    std::fflush(stdout);
    http.start();
    io.run();
}
