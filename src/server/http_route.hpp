// server/http_route.hpp — sans-I/O: what a request to the MCP endpoints asks for, and every
// refusal, decided from the request and from what the transport reports back.
//
// The transport (http_transport.cpp) does the I/O; this decides. A request is taken in steps:
//
//   http_route r(settings, req);
//   switch (r.start()) {                 // the head (and a POST's body) alone
//   case route_step::find_session:       // the answer depends on the session:
//       … look up r.session_id() …
//       step = r.session_found(facts);   // found, unknown, or the store failed
//   case route_step::create_session:
//       … create one …
//       step = r.session_created(error_or_nothing);
//   case route_step::respond:            // r.refused(): status, JSON-RPC error, Allow
//   case route_step::serve_post: …       // the work, with r.messages(), r.version() …
//   }
//
// Every refusal of the Streamable HTTP transport (all revisions) and of the legacy HTTP+SSE one
// is made here, once: Host/Origin, methods, Content-Type and Accept, the session header, a
// session that is unknown (404) or that the store could not look up (503, never 404), protocol
// revision headers, initialize rules, batches, the stateless (2026-07-28) header checks, and
// Last-Event-ID. tests/unit/http_route_test.cpp walks them as a table.
#pragma once

#include "mcpd/http/message.hpp"
#include "mcpd/http/policy.hpp"
#include "mcpd/http/request.hpp"
#include "mcpd/protocol/jsonrpc.hpp"

#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mcpd::server {

// What one client address holds now, and may hold (max-sessions-per-client,
// max-streams-per-client): no client may take every session or stream of the server.
struct client_budget {
    std::size_t sessions = 0, max_sessions = SIZE_MAX; // sessions it created, live here
    std::size_t streams = 0, max_streams = SIZE_MAX;   // its open GET /mcp and GET /sse streams
};

// What the transport tells the route about itself.
struct route_settings {
    std::string_view endpoint = "/mcp";
    bool legacy_sse = true; // GET /sse + POST /messages
    http::origin_policy const* origins = nullptr;
    bool draining = false; // new sessions and streams are refused
    protocol::body_limits body;
    // A body larger than this is parsed off the event loop (parse_body, then body_parsed()):
    // a 4 MB body takes tens of milliseconds to read, which every other client would wait.
    std::size_t parse_on_loop_bytes = 256 * 1024;
    client_budget client;
};

// What the route asks for next.
enum class route_step : std::uint8_t {
    respond,            // answer refused() (a refusal, or 202 Accepted) and stop
    preflight,          // answer a CORS preflight (204, the methods and headers allowed)
    parse_body,         // parse the body off the loop (protocol::parse_body), then body_parsed()
    find_session,       // look up session_id() (live, else in the store), then session_found()
    create_session,     // make a new session, then session_created()
    serve_stateless,    // serve the one request without a session (2026-07-28)
    serve_post,         // serve messages() in the session (POST /mcp)
    open_stream,        // GET /mcp: the standalone stream, or a replay from resume_from()
    end_session,        // DELETE /mcp: end the session, answer 200
    open_legacy_stream, // GET /sse: the new session's stream
    serve_legacy_post,  // POST /messages: 202, then messages() on the session's stream
};

// An answer that ends the request: an HTTP status and a JSON-RPC error body (code != 0), a
// plain text body (code == 0), or nothing (202, 204).
struct refusal {
    http::status status = http::status::ok;
    int code = 0;
    std::string message;
    boost::json::value id = nullptr; // the request it answers, when it could be read
    boost::json::value data = nullptr;
    std::string_view allow;      // the Allow field of a 405
    bool cors = true;            // false: no CORS fields (a refused Host or Origin)
    char const* limit = nullptr; // the budget's setting, when a budget refused it
};

// What the transport found for session_id().
struct session_facts {
    enum class outcome : std::uint8_t { found, unknown, store_failed } what = outcome::unknown;
    std::string_view store_error;      // store_failed: why
    std::string_view protocol_version; // found: the session's negotiated revision
    bool legacy = false;               // found: an HTTP+SSE session of this process
    bool stream_open = false;          // found: its standalone GET stream is attached
};

// A position in a session's streams (Last-Event-ID "<session>.<stream>.<seq>").
struct stream_position {
    std::uint64_t stream = 0; // 0: the standalone stream
    std::uint64_t seq = 0;
};

class http_route {
public:
    http_route(route_settings const& settings, http::server_request const& req);

    route_step start();
    route_step body_parsed(protocol::parsed_body parsed);
    route_step session_found(session_facts const& facts);
    // `failure`: why no session could be made (empty: made).
    route_step session_created(std::string_view failure);

    [[nodiscard]] refusal const& refused() const noexcept { return refused_; }
    // The budget (its setting's name) behind the refusal, or nullptr.
    [[nodiscard]] char const* refused_by_budget() const noexcept { return refused_.limit; }
    // The session the request names (Mcp-Session-Id, or /messages' sessionId).
    [[nodiscard]] std::string const& session_id() const noexcept { return session_id_; }
    // POST: the messages (take them with take_messages()), whether they came as a batch, the
    // initialize request among them, and the revision the request is served in.
    [[nodiscard]] bool batch() const noexcept { return parsed_.batch; }
    std::vector<protocol::message> take_messages() { return std::move(parsed_.messages); }
    [[nodiscard]] protocol::request const* initialize() const noexcept { return init_; }
    [[nodiscard]] protocol::request const* stateless_request() const noexcept;
    [[nodiscard]] std::string const& version() const noexcept { return version_; }
    // GET: where to resume (nullopt: a new standalone stream).
    [[nodiscard]] std::optional<stream_position> const& resume_from() const noexcept {
        return resume_;
    }
    [[nodiscard]] protocol::body_limits const& body_limits() const noexcept {
        return settings_.body;
    }

private:
    enum class endpoint : std::uint8_t { mcp, sse, messages };

    route_step refuse(http::status s, int code, std::string message);
    // create_session, or a 429 when the client holds its sessions (or, for GET /sse, streams).
    route_step create_within_budget();
    route_step start_post();
    // The body, parsed here or off the loop: what follows from it.
    route_step read_body();
    route_step post_body();
    route_step post_with_session();
    route_step get_with_session();

    route_settings const& settings_;
    http::server_request const& req_;
    endpoint endpoint_ = endpoint::mcp;
    refusal refused_;
    std::string session_id_;
    protocol::parsed_body parsed_;
    protocol::request const* init_ = nullptr;
    std::string version_;
    std::optional<stream_position> resume_;
};

// The stateless (2026-07-28) checks of one request against its headers: the error to answer
// with, or nullopt.
std::optional<protocol::error_response> check_stateless(http::server_request const& req,
                                                        protocol::request const& r);
// The HTTP status of a stateless request's answer (its JSON-RPC error decides it).
http::status stateless_status(boost::json::object const& response);
// Whether an Accept (or Content-Type) value lists a media type, or a wildcard covering it.
bool accepts(std::string_view accept, std::string_view type);
// A header value as quoted in an error message: bytes outside printable ASCII become '?'.
std::string printable(std::string_view header_value);
// A request field's value without surrounding blanks.
std::string_view trimmed(std::string_view v);

} // namespace mcpd::server
