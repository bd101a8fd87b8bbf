// http/request_parser.hpp — the HTTP/1.1 request tokenizer behind the server (sans I/O).
//
//   server_request req;
//   request_parser p(req, {.max_header_bytes = 16384, .max_body_bytes = 4 << 20});
//   auto used = p.put(bytes, ec); // drop `used` bytes; on need_more, call again with more
//   if (p.is_done()) … req.method(), req.target(), req[http::field::accept], req.body() …
#pragma once

#include "mcpd/http/request.hpp"

#include <boost/system/error_code.hpp>

#include <cstdint>
#include <string_view>

namespace mcpd::http {

// Fills a server_request from bytes: an HTTP/1.1 request tokenizer that does no I/O (the
// connection reads, this consumes). The head is parsed once it has all arrived (its end is
// searched for only in bytes not yet searched); the body follows Content-Length or the chunked
// coding, and nothing else (RFC 9112 6.3: a request without either has no body). Errors are
// Beast's codes (boost/beast/http/error.hpp), so that a caller tells them apart as it did with
// Beast's parser: header_limit and body_limit (the limits), need_more (feed more bytes),
// partial_message (the input ended inside a request), and bad_* for malformed input. A request that
// carries both Transfer-Encoding and Content-Length, or a Transfer-Encoding other than chunked, is
// refused (request smuggling); so are obs-fold lines and bare LF line ends.
class request_parser {
public:
    struct limits {
        std::uint32_t max_header_bytes;
        std::uint64_t max_body_bytes;
    };
    // Clears `into` (keeping its buffers) and fills it as bytes come.
    request_parser(server_request& into, limits l);

    // Consumes what it can of `bytes` and returns how many it used; `ec` is need_more when it
    // needs more bytes than these, another error when the request is malformed.
    std::size_t put(std::string_view bytes, boost::system::error_code& ec);
    // The input ended: partial_message unless the request was complete.
    void put_eof(boost::system::error_code& ec);
    [[nodiscard]] bool is_done() const noexcept { return state_ == state::done; }

private:
    enum class state { head, body, chunk_size, chunk_data, chunk_end, trailers, done };
    // Parses a complete head (ending with the blank line); the error, if any.
    boost::system::error_code parse_head(std::string_view head);
    // Moves what `in` holds of the body (or of the current chunk) into the request; how much.
    std::size_t take_body(std::string_view in);

    server_request& req_;
    limits limits_;
    state state_ = state::head;
    std::size_t searched_ = 0;    // bytes of the head already searched for its end
    std::uint64_t remaining_ = 0; // of the body, or of the current chunk
};

} // namespace mcpd::http
