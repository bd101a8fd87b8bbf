// client/http_exchange.cpp — authorized HTTP requests and status errors. See http_exchange.hpp.
#include "client/http_exchange.hpp"

#include "mcpd/http/policy.hpp"

#include <boost/json/parse.hpp>

namespace mcpd::client::detail {

namespace asio = boost::asio;
namespace json = boost::json;

asio::awaitable<result<http::client_response>>
send_authorized(http::client& http, transport_options const& opts, http::url const& to,
                http::beast_request req, http::exchange_options xo) {
    for (auto const& [name, value] : opts.headers) {
        // session::connect refuses these; checked again here, as every request's last gate.
        if (auto why = http::refused_extra_header(name, value); !why.empty())
            co_return error(
                boost::system::errc::make_error_code(boost::system::errc::invalid_argument), why);
        if (req[name].empty())
            req.set(name, value);
    }
    for (int attempt = 0;; ++attempt) {
        http::beast_request attempt_req = req;
        if (opts.auth) {
            http::header_list credentials;
            auto authorized = co_await opts.auth->authorize(credentials);
            if (!authorized)
                co_return authorized.error();
            for (auto const& [name, value] : credentials)
                attempt_req.set(name, value);
        }
        std::string sent_authorization(attempt_req[http::bhttp::field::authorization]);
        auto opened = co_await http.open(to, std::move(attempt_req), xo);
        if (!opened)
            co_return opened.error();
        auto status = opened->status();
        if ((status == 401 || status == 403) && opts.auth && attempt == 0) {
            auth_challenge challenge;
            challenge.status = status;
            challenge.www_authenticate = std::string(opened->header("WWW-Authenticate"));
            challenge.url = to;
            challenge.method = std::string(req.method_string());
            challenge.authorization = std::move(sent_authorization);
            if (co_await opts.auth->unauthorized(challenge)) {
                opened->abort(); // its body does not matter; the retry takes a fresh connection
                continue;
            }
        }
        co_return std::move(opened);
    }
}

asio::awaitable<error> status_failure(http::client_response& res, std::string what) {
    auto status = res.status();
    std::string detail = std::move(what);
    auto body = co_await res.read_body();
    if (body && !body->empty()) {
        boost::system::error_code ec;
        auto v = json::parse(*body, ec);
        json::value const* msg = ec ? nullptr : v.find_pointer("/error/message", ec);
        if (msg != nullptr && msg->is_string()) {
            detail += " (server: " + std::string(msg->get_string()) + ")";
        } else {
            std::string text = body->substr(0, 200);
            for (auto& c : text)
                if (static_cast<unsigned char>(c) < 0x20)
                    c = ' ';
            detail += " (server: " + text + (body->size() > 200 ? "…" : "") + ")";
        }
    }
    if (status == 401 || status == 403) {
        auto challenge = res.header("WWW-Authenticate");
        if (!challenge.empty())
            detail += " WWW-Authenticate: " + std::string(challenge);
    }
    co_return error{http::status_error(status), std::move(detail)};
}

} // namespace mcpd::client::detail
