// http/request.hpp — a request as the HTTP server received it.
//
// What the parser (request_parser.hpp) finds is kept in one flat block per request (not a tree
// of fields: a node and a tree insert per field, a tree walk per lookup), and a connection
// reuses its request object, so once its buffers have grown to the size of the requests it
// sees, reading one allocates nothing. The fields mcpd reads are recognized as they are parsed
// (message.hpp's field), so finding one compares small numbers.
//
//   req.method() == http::verb::post, req.target(), req[http::field::accept], req.body() …
#pragma once

#include "mcpd/http/message.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::http {

class request_parser;

class server_request {
public:
    [[nodiscard]] verb method() const noexcept { return method_; }
    [[nodiscard]] std::string_view method_string() const noexcept { return slice(method_text_); }
    [[nodiscard]] std::string_view target() const noexcept { return slice(target_); }
    [[nodiscard]] unsigned version() const noexcept { return version_; } // 10 or 11
    // Whether the client lets the connection stay open after the answer (HTTP/1.1 by default,
    // HTTP/1.0 with `Connection: keep-alive`).
    [[nodiscard]] bool keep_alive() const noexcept { return keep_alive_; }

    // The value of the first field with this name (names compare ignoring case), or "" when
    // there is none.
    [[nodiscard]] std::string_view operator[](field name) const noexcept;
    [[nodiscard]] std::string_view operator[](std::string_view name) const noexcept;
    [[nodiscard]] bool has(field name) const noexcept;
    [[nodiscard]] bool has(std::string_view name) const noexcept;
    // How many fields have this name (a field mcpd reads once must be there once).
    [[nodiscard]] std::size_t count(field name) const noexcept;

    [[nodiscard]] std::string const& body() const noexcept { return body_; }
    [[nodiscard]] std::string& body() noexcept { return body_; }

    // Empties it for the next request, keeping its buffers.
    void clear() noexcept;
    // Frees the buffers that grew past `keep` bytes (a connection keeps what its usual requests
    // need, not what its largest one did).
    void release_buffers_over(std::size_t keep);

private:
    friend class request_parser;
    struct piece {
        std::uint32_t at = 0, size = 0; // in text_
    };
    struct field_entry {
        field known; // field::other for names mcpd does not read by number
        piece name, value;
    };
    [[nodiscard]] std::string_view slice(piece p) const noexcept {
        return std::string_view(text_).substr(p.at, p.size);
    }
    piece keep(std::string_view s);
    [[nodiscard]] field_entry const* find(field name) const noexcept;
    [[nodiscard]] field_entry const* find(std::string_view name) const noexcept;

    std::string text_; // the method, target, names and values, back to back
    std::vector<field_entry> fields_;
    std::string body_;
    piece method_text_, target_;
    verb method_ = verb::unknown;
    unsigned version_ = 11;
    bool keep_alive_ = true;
};

} // namespace mcpd::http
