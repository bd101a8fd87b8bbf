// tests/fuzz/session_record_fuzz.cpp — libFuzzer target for the session record reader: the
// stored text of a session (written by mcpd or by @mcp-ts/sdk, or damaged on disk or in Redis)
// read back by store::session_record::parse (a streaming reader of the top-level fields) and by
// store::parse_record (the whole object), and its sealed fields opened by store::open_record.
//
// The whole input is one record text. What must hold beyond "no crash, no sanitizer report":
//   - the two readers agree on whether the text is a record (one JSON object, else
//     corrupt_record) and, when it is, on every top-level field the listing reads (the last of
//     duplicate keys wins in both), and object() is the parsed object;
//   - a record made from that object reads the same fields; has_sealed_secret() of the streaming
//     reader is set whenever the object holds a sealed secret field (it may only err on the side
//     of opening);
//   - validate_record accepts only records with a valid identity and sessionId;
//   - open_record with a key never crashes on what is in the sealed fields; without a key it
//     refuses a record with a sealed field; seal_record then open_record gives back the record.
//
// Built by run_fuzz.sh (see README.md) with clang++ -fsanitize=fuzzer,address,undefined, or
// without libFuzzer together with fuzz_driver.cpp.
#include "fuzz_check.hpp"
#include "mcpd/store/error.hpp"
#include "mcpd/store/secret_box.hpp"
#include "mcpd/store/session.hpp"
#include "mcpd/store/session_record.hpp"

#include <boost/json/serialize.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace {

namespace json = boost::json;
namespace store = mcpd::store;

using mcpd::fuzz::check;
using mcpd::fuzz::fail;

std::optional<std::string_view> string_of(json::object const& o, std::string_view key) {
    auto const* v = o.if_contains(key);
    if (v == nullptr || !v->is_string())
        return std::nullopt;
    return std::string_view(v->get_string());
}

// The record's accessors against the object's fields.
void same_fields(store::session_record const& r, json::object const& o) {
    check(r.identity() == string_of(o, "identity"), "identity differs");
    check(r.session_id() == string_of(o, "sessionId"), "sessionId differs");
    check(r.server_id() == string_of(o, "serverId"), "serverId differs");
    check(r.server_name() == string_of(o, "serverName"), "serverName differs");
    check(r.server_url() == string_of(o, "serverUrl"), "serverUrl differs");
    check(r.transport_type() == string_of(o, "transportType"), "transportType differs");
    check(r.callback_url() == string_of(o, "callbackUrl"), "callbackUrl differs");
    auto const* created = o.if_contains("createdAt");
    if (created != nullptr && created->is_number())
        check(r.created_at() == *created, "createdAt differs");
    else
        check(r.created_at().is_null(), "createdAt read from a non-number");
    auto const* active = o.if_contains("active");
    if (active != nullptr && active->is_bool())
        check(r.active() == active->get_bool(), "active differs");
    else
        check(!r.active().has_value(), "active read from a non-boolean");
}

bool holds_sealed_secret(json::object const& o) {
    for (auto name : store::secret_fields)
        if (auto const* v = o.if_contains(name); v && store::secret_box::is_sealed(*v))
            return true;
    return false;
}

bool holds_double(json::value const& v) {
    if (v.is_double())
        return true;
    if (auto const* a = v.if_array())
        for (auto const& e : *a)
            if (holds_double(e))
                return true;
    if (auto const* o = v.if_object())
        for (auto const& kv : *o)
            if (holds_double(kv.value()))
                return true;
    return false;
}

store::secret_box const& test_box() {
    static store::secret_box const box(store::secret_box::key_bytes{
        1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
        17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32});
    return box;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    std::string_view text(reinterpret_cast<char const*>(data), size);
    auto streamed = store::session_record::parse(text);
    auto whole = store::parse_record(text);
    check(streamed.has_value() == whole.has_value(), "the two readers disagree on the text");
    if (!whole) {
        check(whole.error().code == store::store_errc::corrupt_record &&
                  streamed.error().code == store::store_errc::corrupt_record,
              "a text that is not a record is not corrupt_record");
        return 0;
    }
    json::object const& o = *whole;
    same_fields(*streamed, o);
    check(streamed->object() == o, "object() is not the parsed record");
    bool const sealed = holds_sealed_secret(o);
    if (sealed)
        check(streamed->has_sealed_secret(), "a sealed secret field went unnoticed");

    store::session_record made(o);
    same_fields(made, o);
    check(made.has_sealed_secret() == sealed, "a record from an object misreads sealed fields");

    if (store::validate_record(o)) {
        check(!store::record_identity(o).empty() && !store::record_session_id(o).empty(),
              "a record without identity or sessionId validated");
        check(store::validate_keys(store::record_identity(o), store::record_session_id(o))
                  .has_value(),
              "a validated record has invalid keys");
    }

    json::object without_key = o;
    auto refused = store::open_record(without_key, nullptr);
    check(!sealed || !refused, "a sealed record opened without a key");
    json::object opened = o;
    if (store::open_record(opened, &test_box())) {
        check(!holds_sealed_secret(opened), "an opened record still holds a sealed field");
        json::object resealed = opened;
        store::seal_record(resealed, test_box());
        auto again = store::open_record(resealed, &test_box());
        check(again.has_value(), "a record sealed with the key does not open with it");
        // Boost.JSON 1.81 reads numbers back with a fast, not correctly rounded, algorithm.
        if (!holds_double(json::value(opened)))
            check(resealed == opened, "seal then open does not give back the record");
    }
    return 0;
}
