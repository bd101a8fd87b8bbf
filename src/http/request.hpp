// http/request.hpp — a request as the HTTP server received it, and the parser that fills it.
//
// What the parser finds is kept in one flat block per request (not Beast's fields container: a
// node and a tree insert per field, a tree walk per lookup), and a connection reuses its
// request object, so once its buffers have grown to the size of the requests it sees, reading
// one allocates nothing. Beast's own parser cost ~5k instructions for a typical MCP POST; this
// one a fraction of that (callgrind on bench/http's request).
//
//   server_request req;
//   request_parser p(req, {.max_header_bytes = 16384, .max_body_bytes = 4 << 20});
//   auto used = p.put(bytes, ec); // drop `used` bytes; on need_more, call again with more
//   if (p.is_done()) … req.method(), req.target(), req[bhttp::field::accept], req.body() …
#pragma once

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::http {

namespace bhttp = boost::beast::http;

class server_request {
public:
    [[nodiscard]] bhttp::verb method() const noexcept { return method_; }
    [[nodiscard]] std::string_view method_string() const noexcept { return slice(method_text_); }
    [[nodiscard]] std::string_view target() const noexcept { return slice(target_); }
    [[nodiscard]] unsigned version() const noexcept { return version_; } // 10 or 11
    // Whether the client lets the connection stay open after the answer (HTTP/1.1 by default,
    // HTTP/1.0 with `Connection: keep-alive`).
    [[nodiscard]] bool keep_alive() const noexcept { return keep_alive_; }

    // The value of the first field with this name (names compare ignoring case), or "" when
    // there is none.
    [[nodiscard]] std::string_view operator[](bhttp::field name) const noexcept;
    [[nodiscard]] std::string_view operator[](std::string_view name) const noexcept;
    [[nodiscard]] bool has(bhttp::field name) const noexcept;
    [[nodiscard]] bool has(std::string_view name) const noexcept;

    [[nodiscard]] std::string const& body() const noexcept { return body_; }
    [[nodiscard]] std::string& body() noexcept { return body_; }

    // Empties it for the next request, keeping its buffers.
    void clear() noexcept;

private:
    friend class request_parser;
    struct piece {
        std::uint32_t at = 0, size = 0; // in text_
    };
    struct field_entry {
        bhttp::field known; // field::unknown for names Beast does not know
        piece name, value;
    };
    [[nodiscard]] std::string_view slice(piece p) const noexcept {
        return std::string_view(text_).substr(p.at, p.size);
    }
    piece keep(std::string_view s);
    [[nodiscard]] field_entry const* find(bhttp::field name) const noexcept;
    [[nodiscard]] field_entry const* find(std::string_view name) const noexcept;

    std::string text_; // the method, target, names and values, back to back
    std::vector<field_entry> fields_;
    std::string body_;
    piece method_text_, target_;
    bhttp::verb method_ = bhttp::verb::unknown;
    unsigned version_ = 11;
    bool keep_alive_ = true;
};

// Fills a server_request from bytes: an HTTP/1.1 request tokenizer that does no I/O (the
// connection reads, this consumes). The head is parsed once it has all arrived (its end is
// searched for only in bytes not yet searched); the body follows Content-Length or the chunked
// coding, and nothing else (RFC 9112 6.3: a request without either has no body). Errors are
// Beast's codes, so that a caller tells them apart as it did with Beast's parser:
// header_limit and body_limit (the limits), need_more (feed more bytes), partial_message (the
// input ended inside a request), and bad_* for malformed input. A request that carries both
// Transfer-Encoding and Content-Length, or a Transfer-Encoding other than chunked, is refused
// (request smuggling); so are obs-fold lines and bare LF line ends.
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
