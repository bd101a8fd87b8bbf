// tests/fuzz/jsonrpc_fuzz.cpp — libFuzzer target for the JSON-RPC parser
// (protocol::parse_body in src/protocol/jsonrpc.hpp), which reads every HTTP body and stdio line.
//
// The whole input is one body. parse_body must return, never throw, and its result must be
// consistent:
//   - exactly one of `fatal` and `messages` is set (a fatal error is answered alone);
//   - a fatal error is a parse error or an invalid request, with a null id and a message;
//   - a non-batch body gives one message; an `invalid` entry carries an invalid-request reply
//     whose id is null, a string or an integer;
//   - every message written back with to_json() and serialized parses again into the same
//     message (same alternative, id, method, params, result, error fields), and a batch of all
//     of them gives the same messages in the same order;
//   - parsing with a small nesting limit either fails with a parse error or agrees with the
//     default limit (the limit only ever rejects, it never changes what is read).
// Any violation aborts, which libFuzzer reports as a crash.
//
// Built by run_fuzz.sh (see README.md) with clang++ -fsanitize=fuzzer,address,undefined, or
// without libFuzzer together with fuzz_driver.cpp.
#include "fuzz_check.hpp"
#include "mcpd/protocol/jsonrpc.hpp"
#include "mcpd/protocol/version.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

namespace json = boost::json;
namespace protocol = mcpd::protocol;

using mcpd::fuzz::check;
using mcpd::fuzz::fail;

bool valid_id(json::value const& id) {
    return id.is_string() || id.is_int64() || id.is_uint64();
}

// JSON equality, except that doubles may differ in their last bits: Boost.JSON 1.81 writes the
// shortest exact form but reads numbers with a fast, not correctly rounded, algorithm.
bool same_json(json::value const& a, json::value const& b) {
    if (a.is_double() && b.is_double()) {
        double const x = a.get_double(), y = b.get_double();
        return x == y || std::fabs(x - y) <= std::max(std::fabs(x) * 1e-15, 1e-300);
    }
    if (a.kind() != b.kind())
        return a == b; // int64 and uint64 holding the same number compare equal
    if (auto const* x = a.if_array()) {
        auto const& y = b.get_array();
        if (x->size() != y.size())
            return false;
        for (std::size_t i = 0; i < x->size(); ++i)
            if (!same_json((*x)[i], y[i]))
                return false;
        return true;
    }
    if (auto const* x = a.if_object()) {
        auto const& y = b.get_object();
        if (x->size() != y.size())
            return false;
        for (auto const& kv : *x) {
            auto const* other = y.if_contains(kv.key());
            if (other == nullptr || !same_json(kv.value(), *other))
                return false;
        }
        return true;
    }
    return a == b;
}

bool same_json(json::object const& a, json::object const& b) {
    return same_json(json::value(a), json::value(b));
}

bool same_error(protocol::error_response const& a, protocol::error_response const& b) {
    return a.id == b.id && a.code == b.code && a.message == b.message && same_json(a.data, b.data);
}

// Whether two parsed messages say the same thing.
bool same_message(protocol::message const& a, protocol::message const& b) {
    if (a.index() != b.index())
        return false;
    if (auto const* r = std::get_if<protocol::request>(&a)) {
        auto const& o = std::get<protocol::request>(b);
        return r->id == o.id && r->method == o.method && same_json(r->params, o.params);
    }
    if (auto const* n = std::get_if<protocol::notification>(&a)) {
        auto const& o = std::get<protocol::notification>(b);
        return n->method == o.method && same_json(n->params, o.params);
    }
    if (auto const* r = std::get_if<protocol::response>(&a)) {
        auto const& o = std::get<protocol::response>(b);
        return r->id == o.id && same_json(r->result, o.result);
    }
    if (auto const* e = std::get_if<protocol::error_response>(&a))
        return same_error(*e, std::get<protocol::error_response>(b));
    return same_error(std::get<protocol::invalid>(a).reply, std::get<protocol::invalid>(b).reply);
}

bool same_body(protocol::parsed_body const& a, protocol::parsed_body const& b) {
    if (a.batch != b.batch || a.fatal.has_value() != b.fatal.has_value() ||
        a.messages.size() != b.messages.size())
        return false;
    if (a.fatal && !same_error(*a.fatal, *b.fatal))
        return false;
    for (std::size_t i = 0; i < a.messages.size(); ++i)
        if (!same_message(a.messages[i], b.messages[i]))
            return false;
    return true;
}

// The wire form the server would send or forward for a parsed message; null for `invalid`
// (what goes back for it is its reply, checked separately).
json::value wire_form(protocol::message const& m) {
    return std::visit(
        [](auto const& v) -> json::value {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, protocol::invalid>)
                return nullptr;
            else
                return protocol::to_json(v);
        },
        m);
}

void check_message(protocol::message const& m) {
    if (auto const* bad = std::get_if<protocol::invalid>(&m)) {
        auto const& reply = bad->reply;
        check(reply.code == protocol::code::invalid_request, "invalid entry with another code");
        check(!reply.message.empty(), "invalid entry without a message");
        check(reply.id.is_null() || valid_id(reply.id), "invalid entry with a bad id");
        // Its reply must be a well-formed error response on the wire.
        json::object const wire = protocol::to_json(reply);
        check(wire.at("jsonrpc") == "2.0" && wire.contains("id") && wire.contains("error"),
              "reply of an invalid entry is malformed");
        return;
    }
    if (auto const* r = std::get_if<protocol::request>(&m))
        check(valid_id(r->id), "request with a bad id");
    if (auto const* r = std::get_if<protocol::response>(&m))
        check(valid_id(r->id), "response with a bad id");
    if (auto const* e = std::get_if<protocol::error_response>(&m))
        check(valid_id(e->id), "error response with a bad id");

    // Written back and read again, it is the same message.
    std::string const text = json::serialize(wire_form(m));
    protocol::parsed_body const again = protocol::parse_body(text);
    check(!again.fatal && !again.batch && again.messages.size() == 1,
          "serialized message did not parse back as one message");
    check(same_message(m, again.messages.front()), "message changed in the round trip");

    // The replies a server builds for it are well-formed too.
    if (auto const* r = std::get_if<protocol::request>(&m)) {
        json::object const ok = protocol::make_result(r->id, json::object{});
        json::object const err =
            protocol::make_error(r->id, protocol::code::method_not_found, r->method);
        check(ok.at("id") == r->id && err.at("id") == r->id, "reply lost the request id");
        // Whatever a client asks for, negotiation answers a revision we speak with sessions.
        std::string_view const v = protocol::negotiate(r->method);
        check(protocol::is_supported(v) && !protocol::is_stateless(v),
              "negotiated an unsupported revision");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    std::string_view const text(reinterpret_cast<char const*>(data), size);
    protocol::parsed_body const body = protocol::parse_body(text);

    check(body.fatal.has_value() != !body.messages.empty(), "fatal and messages both or neither");
    if (body.fatal) {
        check(body.fatal->code == protocol::code::parse_error ||
                  body.fatal->code == protocol::code::invalid_request,
              "fatal error with an unexpected code");
        check(body.fatal->id.is_null(), "fatal error with an id");
        check(!body.fatal->message.empty(), "fatal error without a message");
        check(!body.batch, "fatal error marked as a batch");
    } else if (!body.batch) {
        check(body.messages.size() == 1, "a single body gave several messages");
    }

    json::array batch;
    for (auto const& m : body.messages) {
        check_message(m);
        if (!std::holds_alternative<protocol::invalid>(m))
            batch.push_back(wire_form(m));
    }
    // All of them sent together as a batch come back in order.
    if (batch.size() > 1) {
        protocol::parsed_body const again = protocol::parse_body(json::serialize(batch));
        check(!again.fatal && again.batch && again.messages.size() == batch.size(),
              "serialized batch did not parse back");
        std::size_t j = 0;
        for (auto const& m : body.messages)
            if (!std::holds_alternative<protocol::invalid>(m))
                check(same_message(m, again.messages[j++]),
                      "batch entry changed in the round trip");
    }

    // A tighter nesting limit may only turn the body into a parse error.
    protocol::parsed_body const shallow = protocol::parse_body(text, {.max_depth = 4});
    if (!(shallow.fatal && shallow.fatal->code == protocol::code::parse_error))
        check(same_body(body, shallow), "the nesting limit changed what was parsed");
    return 0;
}
