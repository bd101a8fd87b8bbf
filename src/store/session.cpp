// store/session.cpp — validation, ids and merging of session records.
#include "mcpd/store/session.hpp"

#include "core/json_finite.hpp"
#include "core/random.hpp"
#include "mcpd/store/error.hpp"
#include "mcpd/store/session_store.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>

#include <array>

namespace mcpd::store {

namespace json = boost::json;

namespace {

bool has_control_character(std::string_view s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7F)
            return true;
    return false;
}

result<void> check_text(std::string_view value, std::size_t max, store_errc code,
                        std::string_view what) {
    if (value.empty())
        return error(code, std::string(what) + " is empty");
    if (value.size() > max)
        return error(code, std::string(what) + " is longer than " + std::to_string(max) + " bytes");
    if (has_control_character(value))
        return error(code, std::string(what) + " contains a control character");
    return {};
}

} // namespace

std::string generate_session_id() {
    return random_alnum_id(12);
}

result<void> validate_identity(std::string_view identity) {
    return check_text(identity, max_identity_length, store_errc::invalid_identity, "identity");
}

result<void> validate_session_id(std::string_view id) {
    if (auto r =
            check_text(id, max_session_id_length, store_errc::invalid_session_id, "session id");
        !r)
        return r;
    if (id.find(':') != std::string_view::npos)
        return error(store_errc::invalid_session_id, "session id contains ':'");
    return {};
}

result<void> validate_keys(std::string_view identity, std::string_view session_id) {
    if (auto r = validate_identity(identity); !r)
        return r;
    return validate_session_id(session_id);
}

std::string_view record_identity(json::object const& record) {
    auto const* v = record.if_contains("identity");
    return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

std::string_view record_session_id(json::object const& record) {
    auto const* v = record.if_contains("sessionId");
    return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

namespace {

// The JSON kinds a known field may hold (null always allowed for the optional ones).
result<void> check_field_types(json::object const& record) {
    static constexpr std::array<std::string_view, 8> strings = {
        "serverId",     "serverName", "serverUrl", "callbackUrl",
        "codeVerifier", "clientId",   "identity",  "sessionId"};
    static constexpr std::array<std::string_view, 3> objects = {"headers", "clientInformation",
                                                                "tokens"};
    for (auto const& [key, value] : record) {
        std::string_view k = key; // clang 14 cannot capture a structured binding
        auto bad = [&](std::string_view want) {
            return error(store_errc::invalid_record,
                         "field '" + std::string(k) + "' must be " + std::string(want));
        };
        if (std::find(strings.begin(), strings.end(), k) != strings.end()) {
            if (!value.is_string() && !value.is_null())
                return bad("a string");
        } else if (std::find(objects.begin(), objects.end(), k) != objects.end()) {
            // Encrypted at rest these are "enc:1:…" strings.
            if (!value.is_object() && !value.is_string() && !value.is_null())
                return bad("an object");
        } else if (k == "createdAt") {
            if (!value.is_number() && !value.is_null())
                return bad("a number (milliseconds since the epoch)");
        } else if (k == "active") {
            if (!value.is_bool() && !value.is_null())
                return bad("a boolean");
        } else if (k == "transportType") {
            if (value.is_null())
                continue;
            if (!value.is_string() ||
                (value.get_string() != "sse" && value.get_string() != "streamable_http"))
                return bad("\"sse\" or \"streamable_http\"");
        }
    }
    return {};
}

} // namespace

result<void> validate_record(json::object const& record) {
    if (auto r = validate_identity(record_identity(record)); !r)
        return r;
    if (auto r = validate_session_id(record_session_id(record)); !r)
        return r;
    return check_field_types(record);
}

result<void> merge_into(json::object& record, json::object const& partial) {
    for (auto const& [key, value] : partial) {
        if (key == "identity" || key == "sessionId") {
            auto const* current = record.if_contains(key);
            if (!current || *current != value)
                return error(store_errc::invalid_record,
                             "'" + std::string(key) + "' of a session cannot change");
        }
    }
    for (auto const& [key, value] : partial) {
        if (value.is_null())
            record.erase(key);
        else
            record[key] = value;
    }
    return check_field_types(record);
}

result<json::object> parse_record(std::string_view text) {
    boost::system::error_code ec;
    // One arena per record, sized from the text: a record's ~30 strings and objects cost one
    // or two allocations instead of one each (listings parse many records per call).
    auto arena = json::make_shared_resource<json::monotonic_resource>(2 * text.size() + 256);
    json::value v = json::parse(text, ec, arena);
    if (ec || !v.is_object())
        return error(store_errc::corrupt_record, ec ? ec.message() : "not an object");
    if (!all_numbers_finite(v))
        return error(store_errc::corrupt_record, std::string(number_out_of_range));
    return std::move(v.get_object());
}

boost::asio::awaitable<result<std::vector<std::string>>>
session_store::get_identity_session_ids(std::string identity) {
    auto data = co_await get_identity_sessions_data(std::move(identity));
    if (!data)
        co_return data.error();
    std::vector<std::string> out;
    out.reserve(data->size());
    for (auto const& r : *data)
        out.emplace_back(r.session_id().value_or(""));
    co_return out;
}

} // namespace mcpd::store
