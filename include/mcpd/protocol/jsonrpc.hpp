// protocol/jsonrpc.hpp — JSON-RPC 2.0 messages as MCP uses them (layer: protocol; includes core).
//
// parse_body() turns the untrusted bytes of an HTTP body or a stdio line into messages; it never
// throws and never trusts a field's type. A message that is not valid JSON-RPC becomes an
// `invalid` entry carrying the error response to send back (with the request's id when one could
// be read, null otherwise), so a batch with one bad entry still answers the good ones.
//
// Ids are kept as the JSON value the peer sent (a string or an integer) and echoed verbatim.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace mcpd::protocol {

// The JSON-RPC and MCP error codes a server sends.
namespace code {
inline constexpr int parse_error = -32700;
inline constexpr int invalid_request = -32600;
inline constexpr int method_not_found = -32601;
inline constexpr int invalid_params = -32602;
inline constexpr int internal_error = -32603;
inline constexpr int connection_closed = -32000; // also the TS SDK's "bad request" for HTTP errors
inline constexpr int request_timeout = -32001;
inline constexpr int resource_not_found = -32002;
inline constexpr int url_elicitation_required = -32042;
} // namespace code

struct request {
    boost::json::value id; // string or integer
    std::string method;
    boost::json::object params; // empty when the peer sent none
};
struct notification {
    std::string method;
    boost::json::object params;
};
struct response {
    boost::json::value id;
    boost::json::value result;
};
struct error_response {
    boost::json::value id; // null when the request's id could not be read
    int code = code::internal_error;
    std::string message;
    boost::json::value data; // null: omitted
};
// A message that could not be understood; `reply` says why, to the sender.
struct invalid {
    error_response reply;
};

using message = std::variant<request, notification, response, error_response, invalid>;

struct parsed_body {
    std::vector<message> messages; // one, or a batch's entries in order
    bool batch = false;            // the body was a JSON array
    // Set when the body as a whole was unusable (not JSON, empty batch, not an object/array):
    // answer this alone.
    std::optional<error_response> fatal;
    char const* refused_by = nullptr; // the limit behind `fatal`, when one was ("max-batch")
};

// What a body may hold. Over max_depth nesting is a parse error (stack safety); a batch of more
// than max_batch messages is refused as a whole (fatal, invalid_request), before any is read:
// each would cost an answer, and a 4 MB body of "[0,0,…]" is two million of them.
struct body_limits {
    std::size_t max_depth = 64;
    std::size_t max_batch = 1000;
};
parsed_body parse_body(std::string_view text, body_limits limits = {});
message parse_message(boost::json::value const& v);

// The length of `v` as compact JSON text, counted without building the text, and stopping as
// soon as it passes `stop_after` (then the count is some value over it).
std::size_t serialized_size(boost::json::value const& v, std::size_t stop_after = SIZE_MAX);
// The same of an object, without copying it into a value first (a client's megabytes of
// capabilities would be copied on the event loop only to be refused).
std::size_t serialized_size(boost::json::object const& o, std::size_t stop_after = SIZE_MAX);

// Wire forms.
boost::json::object to_json(request const& r);
boost::json::object to_json(notification const& n);
boost::json::object to_json(response const& r);
boost::json::object to_json(error_response const& e);

// Shorthands for the common replies.
boost::json::object make_result(boost::json::value const& id, boost::json::value result);
boost::json::object make_error(boost::json::value const& id, int code, std::string_view text,
                               boost::json::value data = nullptr);
boost::json::object make_notification(std::string_view method, boost::json::object params = {});

inline bool is_request(message const& m) {
    return std::holds_alternative<request>(m);
}

} // namespace mcpd::protocol
