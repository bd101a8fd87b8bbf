// examples/oauth_client.cpp — lists the tools of an OAuth-protected MCP server. Its OAuth state
// (client registration, tokens) lives in ./oauth-sessions.json, so only the first run asks you
// to log in; later runs reuse or refresh the tokens. The session's record is kept by mcpd's file
// store, and the gateway's adapter lets the client's OAuth read and update it.
//   oauth_client http://127.0.0.1:3000/mcp
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/url/parse.hpp>
#include <iostream>
#include <mcpd/client.hpp>
#include <mcpd/gateway.hpp>
#include <mcpd/store.hpp>
using namespace mcpd;
namespace asio = boost::asio;

asio::awaitable<void> run(asio::any_io_executor ex, std::string url) {
    store::store_choice file{.type = store::store_type::file, .location = "oauth-sessions.json"};
    std::shared_ptr<store::session_store> st =
        std::move((co_await store::open_store(ex, file, {}, nullptr)).value().store);
    boost::json::object rec{{"identity", "me"}, {"sessionId", "example"}, {"serverUrl", url}};
    co_await st->create_session(rec); // fails harmlessly when it exists from an earlier run
    auto auth = std::make_shared<client::oauth::session_auth>(
        ex, gateway::stored_oauth_record(st, "me", "example"), "me", "example",
        client::oauth::session_auth_options{
            .client = {.redirect_url = "http://127.0.0.1:8976/callback"}});
    client::session_options opts;
    opts.auth = auth;
    auto s = co_await client::session::connect(url, opts);
    if (!s && auth->authorization_url()) {
        std::cout << "Open in a browser:\n  " << *auth->authorization_url()
                  << "\nthen paste the address it redirected to (…/callback?code=…):\n";
        std::string back;
        std::getline(std::cin, back);
        std::string code, state, iss;
        for (auto p : boost::urls::parse_uri(back).value().params()) {
            if (p.key == "code")
                code = p.value;
            else if (p.key == "state")
                state = p.value;
            else if (p.key == "iss")
                iss = p.value;
        }
        auto done = co_await auth->finish(code, state, iss);
        if (!done) {
            std::cerr << "authorization failed: " << done.error().message() << "\n";
            co_return;
        }
        s = co_await client::session::connect(url, opts);
    }
    if (!s) {
        std::cerr << "connect: " << s.error().message() << "\n";
        if (auto const& e = auth->last_error())
            std::cerr << "oauth: " << e->message() << "\n";
        co_return;
    }
    auto tools = (co_await s->list(client::listing_kind::tools)).value();
    for (auto const& tool : tools)
        std::cout << std::string_view(tool.at("name").as_string()) << "\n";
    co_await s->close();
    co_await st->close();
}

int main(int argc, char** argv) {
    if (argc != 2)
        return std::cerr << "usage: oauth_client <MCP server URL>\n", 2;
    asio::io_context io;
    asio::co_spawn(io, run(io.get_executor(), argv[1]), asio::detached);
    io.run();
}
